"""An append-only file of JSON lines whose every line is either committed whole or not at all.

The commit rule: a record is committed once its line, newline included, is on disk
(:func:`append` fsyncs the file, and the folder when it creates the file, before it
returns). A process killed in the middle of an append leaves at most one torn last line:
a line without its newline, or (after a power cut) one that does not parse. Readers skip
it, and the next append, made while the caller holds the folder's write lock, cuts it
off first, so records are never glued to a torn one. A line that does not parse anywhere
else is damage, not a torn write: :class:`DataError`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from ..errors import DataError
from . import atomic

BLOCK = 65_536  # bytes read at a time when looking for the last line


def read(path: Path) -> list[dict]:
    """The committed records of ``path`` (none when it does not exist), in the order written."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    lines = data.split(b"\n")
    torn = bool(lines.pop())  # bytes after the last newline: a partial line
    if not torn and lines and _parse(lines[-1]) is None:
        lines.pop()  # a whole last line that does not parse: torn by a power cut
    records = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        record = _parse(line)
        if record is None:
            raise DataError(f"{path}, line {number} is damaged (not a JSON object); restore it from a backup")
        records.append(record)
    return records


def append(path: Path, records: Sequence[dict]) -> int:
    """Append ``records`` as one JSON line each, durably; returns the number of records
    the file holds now. Hold the folder's write lock: appends must not interleave, and a
    torn last line is cut off first."""
    data = b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for r in records)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        end = _committed_end(fd, size)
        if end != size:
            os.ftruncate(fd, end)
        os.lseek(fd, end, os.SEEK_SET)
        write(fd, data)
        os.fsync(fd)
        count = _count_lines(fd, end + len(data))
    finally:
        os.close(fd)
    if created:  # the new name itself must survive a power cut
        atomic.fsync_path(path.parent)
    return count


def _count_lines(fd: int, size: int) -> int:
    count = 0
    for start in range(0, size, BLOCK):
        count += os.pread(fd, min(BLOCK, size - start), start).count(b"\n")
    return count


def write(fd: int, data: bytes) -> None:
    """Write all of ``data`` (os.write may write part of it). Tests replace it to kill an append half way."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _committed_end(fd: int, size: int) -> int:
    """Length of the file without a torn last line."""
    start, tail = size, b""
    while start > 0:  # read backwards until the start of the last line is in view
        step = min(BLOCK, start)
        start -= step
        tail = os.pread(fd, step, start) + tail
        if b"\n" in tail[:-1]:
            break
    ends = tail.endswith(b"\n")
    body = tail[:-1] if ends else tail
    cut = body.rfind(b"\n") + 1  # where the last line starts, within tail
    if not size or ends and _parse(body[cut:]) is not None:
        return size
    return start + cut  # cut off the torn line: a partial one, or one that does not parse


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None
