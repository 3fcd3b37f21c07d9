"""Reading the text files qdup takes (pairs, questions): UTF-8 or a one-line error."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Iterator

from ..errors import DataError

# A real question is a few hundred characters; this bounds a single field (10 MB), not a
# question. Python's default (128 KiB) would refuse a long but legal one.
FIELD_LIMIT = 10_000_000


def read_text(path: Path, what: str) -> str:
    """The file's text (a UTF-8 BOM from spreadsheet exports removed); ``what`` names the
    expected content in the errors, e.g. "file of questions"."""
    _check_file(path, what)
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


# What the csv module's errors mean, said for a person who wrote or exported the file.
_CSV_ERRORS = {"unexpected end of data": "a quoted field starts on this line and is never closed (a stray '\"'?)",
                "',' expected after '\"'": "',' expected after '\"' (text after a quoted field's closing quote; "
                                            "write a quote inside a quoted field as \"\")"}


def csv_problem(error: csv.Error) -> str:
    """A csv module error as a person who wrote or exported the file can act on it."""
    return _CSV_ERRORS.get(str(error), str(error))


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path} is a folder, expected a {what}")


def csv_reader(text: str, **options):
    """``csv.reader`` over ``text`` that accepts fields up to :data:`FIELD_LIMIT`."""
    csv.field_size_limit(FIELD_LIMIT)  # process-wide, so set where it is needed, not at import
    return csv.reader(io.StringIO(text, newline=""), **options)


def text_lines(path: Path, what: str) -> Iterator[str]:
    """The file's lines, line endings kept, a UTF-8 BOM from spreadsheet exports removed (read
    as they are needed: a file of millions of questions is never held whole). A line
    ends at LF, CRLF or a lone CR (classic Mac OS, some exports): read as one line, a file of
    CR-ended lines was one question, or a CSV error."""
    _check_file(path, what)
    try:
        # newline="": universal line ends, kept as they are (a quoted CSV field keeps its own);
        # surrogateescape: a bad byte is found on its line below, not somewhere in a buffer.
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            for number, line in enumerate(_crcrlf_joined(f), start=1):
                bad = _UNDECODABLE.search(line)
                if bad:
                    raise DataError(f"{path}: line {number} is not valid UTF-8 (byte 0x{ord(bad[0]) - 0xDC00:02x}); "
                                    "re-save the file as UTF-8")
                yield line
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


_UNDECODABLE = re.compile("[\udc80-\udcff]")  # the bytes surrogateescape could not decode


def _crcrlf_joined(lines: Iterator[str]) -> Iterator[str]:
    """``lines`` with "\r\r\n" one line end, not a line and a blank one: a CRLF written through
    Windows' text mode (csv.writer without newline="", print("...\r")), read as one before."""
    held = None
    for line in lines:
        if held is not None:
            if line == "\r\n":
                line, held = held + line, None
                yield line
                continue
            yield held
            held = None
        if line.endswith("\r"):
            held = line
        else:
            yield line
    if held is not None:
        yield held
