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

import codecs
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import DataError
from .textfiles import FIELD_LIMIT


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
    return next(iter_questions(path, None))


def iter_questions(path: str | os.PathLike, chunk_rows: int | None) -> Iterator[Corpus]:
    """:func:`read_questions` in pieces of at most ``chunk_rows`` questions (None: one piece),
    reading the file as it goes: a file of ten million questions never sits in memory whole.
    Every check of :func:`read_questions` holds across pieces (a duplicate id in piece 9 of
    an id of piece 1 is refused); an error stops the iteration where it is found.
    """
    path = Path(path)
    lines = _lines(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = _csv_rows(lines, path, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(lines, path)
    else:
        rows = _text_rows(lines)
    checker, chunk = _Checker(path), []
    for row in rows:
        chunk.append(row)
        if chunk_rows is not None and len(chunk) >= chunk_rows:
            yield checker.corpus(chunk)
            chunk = []
    if chunk or not checker.rows:
        yield checker.corpus(chunk)


def _lines(path: Path) -> Iterator[str]:
    """The file's lines, line endings kept, a UTF-8 BOM from spreadsheet exports removed."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path} is a folder, expected a file of questions")
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    yield (raw[3:] if number == 1 and raw.startswith(codecs.BOM_UTF8) else raw).decode("utf-8")
                except UnicodeDecodeError as error:
                    raise DataError(f"{path}: line {number} is not valid UTF-8 (byte 0x{raw[error.start]:02x}); "
                                    "re-save the file as UTF-8") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


# A row: (line number, id or None, question, metadata)
Row = tuple[int, "str | None", str, dict]


def _csv_rows(lines: Iterator[str], path: Path, delimiter: str) -> Iterator[Row]:
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(FIELD_LIMIT)  # process-wide, so set where it is needed, not at import
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{path} is empty") from None
    if "question" not in header:
        raise DataError(f"{path}: no 'question' column in the header (found: {', '.join(header)})")
    q_col = header.index("question")
    id_col = header.index("id") if "id" in header else None
    line = reader.line_num + 1
    try:
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
        raise DataError(f"{path}, line {reader.line_num}: {error}") from None


def _jsonl_rows(lines: Iterator[str], path: Path) -> Iterator[Row]:
    for line, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}, line {line}: invalid JSON ({error.msg})") from None
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
    """The checks of a whole file, applied piece by piece (ids seen so far carried along)."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, 0
        self.seen: dict[str, int] = {}
        self.first_row: Row | None = None

    def corpus(self, rows: list[Row]) -> Corpus:
        path = self.path
        if not rows and not self.rows:
            raise DataError(f"{path} contains no questions")
        if self.first_row is None and rows:
            self.first_row = rows[0]
        with_ids = self.first_row is not None and self.first_row[1] is not None
        for row in rows:
            if (row[1] is not None) != with_ids:
                line = row[0] if with_ids else self.first_row[0]
                raise DataError(f"{path}, line {line}: missing id (other rows have one)")
        questions: list[str] = []
        for line, row_id, question, _ in rows:
            question = question.strip()
            if not question:
                # An index of empty strings matches nothing useful; refuse rather than guess.
                raise DataError(f"{path}, line {line}: empty question")
            if row_id is not None:
                row_id = row_id.strip()
                if not row_id:
                    raise DataError(f"{path}, line {line}: empty id")
                if row_id in self.seen:
                    raise DataError(f"{path}, line {line}: duplicate id {row_id!r} (first on line {self.seen[row_id]})")
                self.seen[row_id] = line
            questions.append(question)
        self.rows += len(rows)
        ids = [row[1].strip() for row in rows] if with_ids else None
        metadata = [row[3] for row in rows]
        return Corpus(questions=questions, ids=ids, metadata=metadata if any(metadata) else None)
