"""Reading labelled question pairs (SPEC §1).

Two layouts load:
- the original Quora TSV / Kaggle ``train.csv`` / course ``questions.csv``: a header with
  ``id, qid1, qid2, question1, question2, is_duplicate`` (TSV or CSV; quoted fields may
  hold newlines; a question may be empty);
- the 4-column paper split files: ``is_duplicate, question1, question2, id``, TSV, no header.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from .textfiles import csv_problem, csv_reader, read_text

REQUIRED_COLUMNS = ("question1", "question2", "is_duplicate")
PAPER_COLUMNS = ("is_duplicate", "question1", "question2", "id")


@dataclass(frozen=True)
class Pairs:
    """Aligned labelled pairs: ``question1[i]``, ``question2[i]``, ``is_duplicate[i]``, ``ids[i]``."""

    ids: np.ndarray  # (n,) int64: the pair id, or the row position when the file has none
    question1: list[str]
    question2: list[str]
    is_duplicate: np.ndarray  # (n,) int8 in {0, 1}

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> "Pairs":
        """The pairs at ``index`` (positions or a boolean mask), in that order."""
        index = np.asarray(index, dtype=None if len(index) else np.int64)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return Pairs(
            ids=self.ids[index],
            question1=[self.question1[i] for i in index],
            question2=[self.question2[i] for i in index],
            is_duplicate=self.is_duplicate[index],
        )

    def duplicates(self) -> "Pairs":
        return self.subset(self.is_duplicate == 1)


def pairs_from_lists(
    question1: Sequence[str], question2: Sequence[str], is_duplicate: Sequence[int]
) -> Pairs:
    """Build :class:`Pairs` from Python lists; ids are the positions.

    >>> pairs_from_lists(["How do I cook rice?"], ["How to cook rice?"], [1]).is_duplicate
    array([1], dtype=int8)
    """
    if not len(question1) == len(question2) == len(is_duplicate):
        raise DataError("question1, question2 and is_duplicate must have the same length")
    try:  # as floats, so that 0.5 is refused rather than truncated to 0
        labels = np.asarray(is_duplicate, dtype=np.float64)
    except (TypeError, ValueError):
        labels = np.full(len(is_duplicate), np.nan)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise DataError("is_duplicate must be 0 or 1")
    return Pairs(np.arange(len(labels), dtype=np.int64), list(question1), list(question2),
                 labels.astype(np.int8))


def read_pairs(path: str | os.PathLike) -> Pairs:
    """Read a file of labelled question pairs in either Quora layout.

    >>> pairs = read_pairs("quora_duplicate_questions.tsv")  # doctest: +SKIP
    >>> len(pairs), pairs.question1[0]                        # doctest: +SKIP
    (404290, 'What is the step by step guide to invest in share market in india?')
    """
    path = Path(path)
    text = read_text(path, "file of question pairs")
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line else ","
    rows = _parse_rows(text, delimiter, path)
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header = [name.strip().strip('"').lower() for name in rows[0][0]]
    if "question1" in header or "question2" in header or "is_duplicate" in header:
        return _from_header_rows(rows, header, path)
    if len(rows[0][0]) == 4 and rows[0][0][0].strip() in ("0", "1"):
        return _from_columns(rows, dict(zip(PAPER_COLUMNS, range(4))), path, first_line_no=1)
    raise DataError(
        f"{path}: unrecognised layout: expected a header with columns "
        f"{', '.join(REQUIRED_COLUMNS)} or 4 unnamed columns {', '.join(PAPER_COLUMNS)}"
    )


def _parse_rows(text: str, delimiter: str, path: Path) -> list[tuple[list[str], int]]:
    """Rows as (fields, first line number).

    Quoted CSV is tried first (strict, so a stray quote is an error rather than a silent
    merge); a TSV that is not valid quoted CSV is read as plain tab-separated lines, which
    is how the partial Quora copies are written (fields may start with a literal quote).
    """
    try:
        reader = csv_reader(text, delimiter=delimiter, strict=True)
        rows, line = [], 1
        for fields in reader:
            rows.append((fields, line))
            line = reader.line_num + 1
        return [r for r in rows if r[0]]
    except csv.Error as error:
        if delimiter != "\t":
            raise DataError(f"{path}: line {line}: malformed CSV ({csv_problem(error)})") from None
    lines = text.split("\n")
    return [(line.rstrip("\r").split("\t"), number)
            for number, line in enumerate(lines, start=1) if line.strip("\r")]


def _from_header_rows(rows, header: list[str], path: Path) -> Pairs:
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(header)})"
        )
    columns = {name: header.index(name) for name in REQUIRED_COLUMNS}
    if "id" in header:
        columns["id"] = header.index("id")
    return _from_columns(rows[1:], columns, path, first_line_no=rows[0][1] + 1)


def _from_columns(rows, columns: dict[str, int], path: Path, first_line_no: int) -> Pairs:
    width = max(columns.values()) + 1
    n = len(rows)
    ids = np.empty(n, dtype=np.int64)
    labels = np.empty(n, dtype=np.int8)
    q1: list[str] = []
    q2: list[str] = []
    c1, c2, cl, cid = columns["question1"], columns["question2"], columns["is_duplicate"], columns.get("id")
    for i, (fields, line) in enumerate(rows):
        if len(fields) < width:
            raise DataError(f"{path}: line {line}: expected at least {width} fields, found {len(fields)}")
        label = fields[cl].strip()
        if label not in ("0", "1"):
            raise DataError(f"{path}: line {line}: is_duplicate must be 0 or 1, got {label!r}")
        labels[i] = label == "1"
        if cid is None:
            ids[i] = i
        else:
            try:
                ids[i] = int(fields[cid])
            except ValueError:
                raise DataError(f"{path}: line {line}: id must be an integer, got {fields[cid]!r}") from None
            except OverflowError:  # an integer past int64
                raise DataError(f"{path}: line {line}: id {fields[cid].strip()} is out of range "
                                f"(at most {np.iinfo(np.int64).max})") from None
        q1.append(fields[c1])
        q2.append(fields[c2])
    return Pairs(ids, q1, q2, labels)
