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
# Bounds on reading, so that an endless stream (/dev/zero, a FIFO that never closes) is refused
# in one line, not read until memory runs out. Every line (a question, its id and metadata) has
# at most MAX_LINE characters; a stream that is not a regular file (which always ends), read
# whole (pairs, distill's questions, ids), is bounded in all too, far above any real one.
MAX_LINE = 2 * FIELD_LIMIT
MAX_TEXT = 2 << 30  # bytes of a stream read whole (characters, when read by line)
MAX_LINES = 20_000_000  # lines of a stream read whole by line: some 6 GB as rows of questions


def read_text(path: Path, what: str) -> str:
    """The file's text (a UTF-8 BOM from spreadsheet exports removed); ``what`` names the
    expected content in the errors, e.g. "file of questions"."""
    _check_file(path, what)
    try:
        if path.is_file():  # a regular file ends
            data = path.read_bytes()
        else:
            with open(path, "rb") as f:
                data = bytearray()  # grown a chunk at a time: read(MAX_TEXT + 1) would allocate it all
                while len(data) <= MAX_TEXT and (chunk := f.read(min(1 << 24, MAX_TEXT + 1 - len(data)))):
                    data += chunk
            if len(data) > MAX_TEXT:
                raise DataError(too_large(path, MAX_TEXT, "bytes"))
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


def too_large(path: Path, limit: int, unit: str) -> str:
    """The error of a stream read whole that is larger than ``limit`` ``unit`` ("lines")."""
    return f"{path}: more than {limit:,} {unit}, the most qdup reads whole (an endless stream?)"


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path} is a folder, expected a {what}")


def csv_reader(text: str, **options):
    """``csv.reader`` over ``text`` that accepts fields up to :data:`FIELD_LIMIT`."""
    csv.field_size_limit(FIELD_LIMIT)  # process-wide, so set where it is needed, not at import
    return csv.reader(io.StringIO(text, newline=""), **options)


def text_lines(path: Path, what: str, whole: bool = False) -> Iterator[str]:
    """The file's lines, line endings kept, a UTF-8 BOM from spreadsheet exports removed (read
    as they are needed: a file of millions of questions is never held whole). A line
    ends at LF, CRLF or a lone CR (classic Mac OS, some exports): read as one line, a file of
    CR-ended lines was one question, or a CSV error. A line may have :data:`MAX_LINE`
    characters; ``whole``: the caller keeps every line, so a stream that is not a regular file
    may have :data:`MAX_LINES` lines and :data:`MAX_TEXT` characters."""
    _check_file(path, what)
    total, whole = 0, whole and not path.is_file()
    try:
        # newline="": universal line ends, kept as they are (a quoted CSV field keeps its own);
        # surrogateescape: a bad byte is found on its line below, not somewhere in a buffer.
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            # readline's limit: a line longer than MAX_LINE is refused from its first MAX_LINE + 1 characters
            for number, line in enumerate(_crcrlf_joined(iter(lambda: f.readline(MAX_LINE + 1), "")), start=1):
                if len(line) > MAX_LINE:
                    raise DataError(f"{path}: line {number} is longer than {MAX_LINE:,} characters "
                                    f"(expected a {what})")
                total += len(line)
                if whole and number > MAX_LINES:
                    raise DataError(too_large(path, MAX_LINES, "lines"))
                if whole and total > MAX_TEXT:
                    raise DataError(too_large(path, MAX_TEXT, "characters"))
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
