"""Reading the text files qdup takes (pairs, questions): UTF-8 or a one-line error."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import DataError

# A real question is a few hundred characters; this bounds a single field (10 MB), not a
# question. Python's default (128 KiB) would refuse a long but legal one.
FIELD_LIMIT = 10_000_000


def read_text(path: Path, what: str) -> str:
    """The file's text (a UTF-8 BOM from spreadsheet exports removed); ``what`` names the
    expected content in the errors, e.g. "file of questions"."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path} is a folder, expected a {what}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} is not valid UTF-8 (byte 0x{data[error.start]:02x}); re-save the file as UTF-8"
        ) from None


def csv_reader(text: str, **options):
    """``csv.reader`` over ``text`` that accepts fields up to :data:`FIELD_LIMIT`."""
    csv.field_size_limit(FIELD_LIMIT)  # process-wide, so set where it is needed, not at import
    return csv.reader(io.StringIO(text, newline=""), **options)
