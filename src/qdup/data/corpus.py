"""Read a file of questions to index: CSV/TSV with a header, JSONL, or plain text.

Formats (chosen by the file extension):

- ``.csv`` / ``.tsv``: a header row with a ``question`` column and optionally an ``id``
  column; any other column (``url``, ``title``...) is kept as metadata (empty cells
  dropped). CSV uses standard quoting (a quoted question may span lines); TSV has no
  quoting, as in the IANA format and the Quora dump (a question may start with ``"``).
- ``.jsonl`` / ``.ndjson``: one object per line, ``{"id": ..., "question": ...}``
  (``id`` optional); any other field, of any JSON type, is kept as metadata.
- anything else: plain text, one question per line.

Ids are strings. When a file has no ids, :class:`Corpus.ids` is ``None`` and the index
generates them. Every problem is a :class:`~qdup.errors.DataError` naming the line.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import DataError
from .forum import check_forum_fields
from .metadata import metadata_problem
from .questions import is_empty
from .textfiles import FIELD_LIMIT, csv_problem, text_lines


@dataclass(frozen=True)
class Corpus:
    """Questions read from a file; ``ids`` / ``metadata`` are ``None`` when the file carries none."""

    questions: list[str]
    ids: list[str] | None = None
    metadata: list[dict] | None = None  # per question: the other columns / fields

    def __len__(self) -> int:
        return len(self.questions)

    def skip(self, n: int) -> "Corpus":
        """The corpus without its first ``n`` questions (and their ids and metadata)."""
        if not n:
            return self
        return Corpus(self.questions[n:], None if self.ids is None else self.ids[n:],
                      None if self.metadata is None else self.metadata[n:])


def read_questions(path: str | os.PathLike) -> Corpus:
    """Read questions (and ids when present) from ``path``.

    Example::

        >>> corpus = read_questions("questions.csv")   # doctest: +SKIP
        >>> corpus.ids[:2], corpus.questions[:2]       # doctest: +SKIP
        (['17', '18'], ['How do I learn Python?', 'What is a LSTM?'])
    """
    return next(iter_questions(path, None, skippable=False))


def iter_questions(path: str | os.PathLike, chunk_rows: int | None,
                   skipped: list[tuple[int, str | None]] | None = None, skippable: bool = True) -> Iterator[Corpus]:
    """:func:`read_questions` in pieces of at most ``chunk_rows`` questions (None: one piece),
    reading the file as it goes: a file of ten million questions never sits in memory whole.
    Every check of :func:`read_questions` holds across pieces (a duplicate id in piece 9 of
    an id of piece 1 is refused). In pieces, the whole file is checked first, so a bad row
    anywhere stops the caller before it stores anything.

    An empty question (no words once punctuation is removed, say "." or "????") is refused
    with every such row's line and id; with ``skipped`` (a list), such rows are left out
    instead and listed there as ``(line, id)``. ``skippable``: whether the refusal may offer
    the caller's ``--skip-invalid`` (commands without it must not).
    """
    if chunk_rows is not None:
        for _ in _pieces(path, chunk_rows, skipped is not None, skippable):
            pass  # reading twice costs seconds; encoding, hours
    for piece, bad in _pieces(path, chunk_rows, skipped is not None, skippable):
        if skipped is not None:
            skipped += bad
        yield piece


def _pieces(path: str | os.PathLike, chunk_rows: int | None, skip: bool,
            skippable: bool = True) -> Iterator[tuple[Corpus, list]]:
    """The checked pieces of the file, each with its empty-question rows (left out with ``skip``)."""
    path = Path(path)
    lines = text_lines(path, "file of questions", whole=chunk_rows is None)  # one piece: held whole
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = _csv_rows(lines, path, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(lines, path)
    else:
        rows = _text_rows(lines)
    checker, chunk = _Checker(path, skip, skippable), []
    for row in rows:
        chunk.append(row)
        if chunk_rows is not None and len(chunk) >= chunk_rows:
            yield checker.corpus(chunk)
            chunk = []
    last = checker.corpus(chunk) if chunk or not checker.rows else None
    checker.finish()  # before the last piece: a caller taking only the first (read_questions) sees it too
    if last is not None:
        yield last


# A row: (line number, id or None, question, metadata)
Row = tuple[int, "str | None", str, dict]


def _csv_rows(lines: Iterator[str], path: Path, delimiter: str) -> Iterator[Row]:
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(FIELD_LIMIT)  # process-wide, so set where it is needed, not at import
    # strict: a quote never closed is an error; else it swallowed every later row into one question.
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)
    line = 1  # where the record being read starts
    try:
        first = next(reader, None)
        if first is None:
            raise DataError(f"{path} is empty")
        header = [name.strip().lower() for name in first]
        if "question" not in header:
            raise DataError(f"{path}: no 'question' column in the header (found: {', '.join(header)})")
        repeated = [name for n, name in enumerate(header) if name and name in header[:n]]
        if repeated:  # the second would be stored as metadata, or silently win
            raise DataError(f"{path}: column {repeated[0]!r} appears more than once in the header")
        q_col = header.index("question")
        id_col = header.index("id") if "id" in header else None
        line = reader.line_num + 1
        for record in reader:
            if record:  # csv yields [] for a blank line
                if len(record) != len(header):
                    raise DataError(
                        f"{path}, line {line}: {len(record)} fields, the header has {len(header)}"
                    )
                meta = {name: value for n, (name, value) in enumerate(zip(header, record))
                        if n not in (q_col, id_col) and value.strip()}
                yield (line, None if id_col is None else record[id_col], record[q_col], meta)
            line = reader.line_num + 1
    except csv.Error as error:
        raise DataError(f"{path}, line {line}: {csv_problem(error)}") from None


def _jsonl_rows(lines: Iterator[str], path: Path) -> Iterator[Row]:
    for line, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as error:  # JSONDecodeError, or a number of 4,300+ digits
            raise DataError(f"{path}, line {line}: invalid JSON ({getattr(error, 'msg', error)})") from None
        except RecursionError:
            raise DataError(f"{path}, line {line}: invalid JSON (nested too deeply)") from None
        if not isinstance(obj, dict) or "question" not in obj:
            raise DataError(f"{path}, line {line}: expected an object with a 'question' field")
        if not isinstance(obj["question"], str):
            raise DataError(f"{path}, line {line}: 'question' must be a string")
        raw_id = obj.get("id")
        if isinstance(raw_id, (dict, list, bool)):
            raise DataError(f"{path}, line {line}: 'id' must be a string or a number")
        meta = {k: v for k, v in obj.items() if k not in ("id", "question")}
        yield (line, None if raw_id is None else str(raw_id), obj["question"], meta)


def _text_rows(lines: Iterator[str]) -> Iterator[Row]:
    blank: list[Row] = []  # held back: trailing blank lines are not questions
    for n, raw in enumerate(lines, start=1):
        row = (n, None, raw.rstrip("\n").rstrip("\r"), {})
        if not row[2].strip():
            blank.append(row)
            continue
        yield from blank
        blank = []
        yield row


class _Checker:
    """The checks of a whole file, applied piece by piece (ids seen so far carried along).

    Empty questions are collected over the whole file and refused together at its end
    (:meth:`finish`), or, with ``skip``, left out of the pieces.
    """

    def __init__(self, path: Path, skip: bool, skippable: bool = True) -> None:
        self.path, self.skip, self.rows = path, skip, 0
        self.skippable = skippable  # offer --skip-invalid: only the commands that have it
        self.seen: dict[str, int] = {}
        self.first_row: Row | None = None
        self.empty: list[tuple[int, str | None]] = []  # (line, id) of empty questions

    def corpus(self, rows: list[Row]) -> tuple[Corpus, list[tuple[int, str | None]]]:
        """The piece without its empty questions, and those rows' (line, id)."""
        path = self.path
        if not rows and not self.rows:
            raise DataError(f"{path} contains no questions")
        if self.first_row is None and rows:
            self.first_row = rows[0]
        with_ids = self.first_row is not None and self.first_row[1] is not None
        kept, empty = [], []
        for line, row_id, question, meta in rows:
            if (row_id is not None) != with_ids:
                raise DataError(f"{path}, line {line if with_ids else self.first_row[0]}: missing id (other rows have one)")
            if row_id is not None:
                row_id = row_id.strip()
                if not row_id:
                    raise DataError(f"{path}, line {line}: empty id")
                if row_id in self.seen:
                    raise DataError(f"{path}, line {line}: duplicate id {row_id!r} (first on line {self.seen[row_id]})")
                self.seen[row_id] = line
            problem = metadata_problem(meta)
            if problem:
                raise DataError(f"{path}, line {line}: metadata {problem}")
            # Refused here, named by its line; normalised later (check_chunk), so that an update
            # still sees the nulls that remove fields.
            check_forum_fields(meta, f"{path}, line {line}: metadata")
            if is_empty(question):  # an index of empty strings matches nothing useful
                empty.append((line, row_id))
            else:
                kept.append((row_id, question.strip(), meta))
        self.rows += len(rows)
        self.empty += empty
        metadata = [m for _, _, m in kept]
        return Corpus([q for _, q, _ in kept], [i for i, _, _ in kept] if with_ids else None,
                      metadata if any(metadata) else None), empty

    def finish(self) -> None:
        """At the end of the file: refuse its empty questions, every one named."""
        if len(self.empty) == 1 and not self.skip:
            raise DataError(f"{self.path}, {_row(*self.empty[0])}: empty question ({EMPTY}); fix or remove it"
                            + (" (or skip such rows: --skip-invalid)" if self.skippable else ""))
        if self.empty and not self.skip:
            raise DataError(f"{self.path}: {empty_rows(self.empty)}; fix or remove them"
                            + (" (or skip them: --skip-invalid)" if self.skippable else ""))


EMPTY = "no words once punctuation is removed"


def empty_rows(rows: list[tuple[int, str | None]], shown: int = 5) -> str:
    """``rows`` (line, id) as one phrase: "2 empty questions (...): line 3 (id '17'), line 9 (id '40')"."""
    more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
    what = "empty question" if len(rows) == 1 else "empty questions"
    return f"{len(rows)} {what} ({EMPTY}): {', '.join(_row(*r) for r in rows[:shown])}{more}"


def _row(line: int, row_id: str | None) -> str:
    return f"line {line}" + ("" if row_id is None else f" (id {row_id!r})")
