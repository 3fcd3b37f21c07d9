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

from .errors import DataError
from .textfiles import csv_reader, read_text


@dataclass(frozen=True)
class Corpus:
    """Questions read from a file; ``ids`` / ``metadata`` are ``None`` when the file carries none."""

    questions: list[str]
    ids: list[str] | None = None
    metadata: list[dict] | None = None  # per question: the other columns / fields

    def __len__(self) -> int:
        return len(self.questions)


def read_questions(path: str | os.PathLike) -> Corpus:
    """Read questions (and ids when present) from ``path``.

    Example::

        >>> corpus = read_questions("questions.csv")   # doctest: +SKIP
        >>> corpus.ids[:2], corpus.questions[:2]       # doctest: +SKIP
        (['17', '18'], ['How do I learn Python?', 'What is a LSTM?'])
    """
    path = Path(path)
    text = read_text(path, "file of questions")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = _csv_rows(text, path, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(text, path)
    else:
        rows = _text_rows(text)
    return _to_corpus(rows, path)


# A row: (line number, id or None, question, metadata)
Row = tuple[int, "str | None", str, dict]


def _csv_rows(text: str, path: Path, delimiter: str) -> list[Row]:
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv_reader(text, delimiter=delimiter, quoting=quoting)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{path} is empty") from None
    if "question" not in header:
        raise DataError(f"{path}: no 'question' column in the header (found: {', '.join(header)})")
    q_col = header.index("question")
    id_col = header.index("id") if "id" in header else None
    rows: list[Row] = []
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
                rows.append((line, None if id_col is None else record[id_col], record[q_col], meta))
            line = reader.line_num + 1
    except csv.Error as error:
        raise DataError(f"{path}, line {reader.line_num}: {error}") from None
    return rows


def _jsonl_rows(text: str, path: Path) -> list[Row]:
    rows: list[Row] = []
    for line, raw in enumerate(text.splitlines(), start=1):
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
        rows.append((line, None if raw_id is None else str(raw_id), obj["question"], meta))
    return rows


def _text_rows(text: str) -> list[Row]:
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # trailing blank lines are not questions
        lines.pop()
    return [(n, None, raw.rstrip("\r"), {}) for n, raw in enumerate(lines, start=1)]


def _to_corpus(rows: list[Row], path: Path) -> Corpus:
    if not rows:
        raise DataError(f"{path} contains no questions")
    has_ids = [row[1] is not None for row in rows]
    if any(has_ids) and not all(has_ids):
        line = rows[has_ids.index(False)][0]
        raise DataError(f"{path}, line {line}: missing id (other rows have one)")
    questions: list[str] = []
    seen: dict[str, int] = {}
    for line, row_id, question, _ in rows:
        question = question.strip()
        if not question:
            # An index of empty strings matches nothing useful; refuse rather than guess.
            raise DataError(f"{path}, line {line}: empty question")
        if row_id is not None:
            row_id = row_id.strip()
            if not row_id:
                raise DataError(f"{path}, line {line}: empty id")
            if row_id in seen:
                raise DataError(f"{path}, line {line}: duplicate id {row_id!r} (first on line {seen[row_id]})")
            seen[row_id] = line
        questions.append(question)
    ids = [row[1].strip() for row in rows] if all(has_ids) else None
    metadata = [row[3] for row in rows]
    return Corpus(questions=questions, ids=ids, metadata=metadata if any(metadata) else None)
