"""A Milvus Lite file that a killed process left with a half-written index file opens again.

Milvus Lite (a ``.db`` folder, the engine running inside the qdup process) writes its rows
atomically (Parquet files, then its manifest by rename, and a write-ahead log it replays),
but its per-segment index files (``indexes/*.idx``, ``*.sidx``) are written in place, in a
background thread, after the rows are stored. A process killed in that write leaves a
truncated file that Lite then fails to read on every open ("faiss::read ... read error").

Those files are derived data: Lite rebuilds a missing one from the stored rows. So before
qdup opens a Lite file, :func:`repair` reads back every index file written since the last
qdup process opened it (a marker file's time) and deletes those that do not read; Lite
rebuilds them on load. Files older than the marker were complete when that process
opened the file and are not read again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

MARKER = "qdup-opened"  # in the .db folder: touched each time qdup opens it
LOCK = "LOCK"           # Milvus Lite's own lock file (flock-ed by the process that has it open)
VECTOR_INDEX, SCALAR_INDEX = ".idx", ".sidx"


def repair(path: str) -> list[Path]:
    """Delete index files of the Lite folder ``path`` that a killed writer left unreadable;
    the deleted paths. Nothing is done while another process has the folder open."""
    folder = Path(path)
    if not folder.is_dir():
        return []  # a new file: nothing to repair
    with _unused(folder) as free:
        if not free:
            return []  # open elsewhere: Lite refuses to open it, with its own error
        marker = folder / MARKER
        since = marker.stat().st_mtime_ns if marker.exists() else 0
        damaged = [p for p in _index_files(folder) if p.stat().st_mtime_ns >= since and not _readable(p)]
        for p in damaged:
            with contextlib.suppress(OSError):
                p.unlink()
        marker.touch()  # a new time: the files Lite writes from now on are newer
    return damaged


def _index_files(folder: Path) -> Iterator[Path]:
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith((VECTOR_INDEX, SCALAR_INDEX)):
                yield Path(root) / name


def _readable(path: Path) -> bool:
    """Whether Lite's own readers would load the file: FAISS for vector indexes, Arrow IPC for scalar ones."""
    try:
        if path.suffix == VECTOR_INDEX:
            import faiss

            faiss.read_index(str(path))
        else:
            import pyarrow.ipc

            with pyarrow.memory_map(str(path), "r") as source:
                pyarrow.ipc.open_file(source).read_all()
    except Exception:  # FAISS raises RuntimeError, Arrow its own kinds: unreadable either way
        return False
    return True


@contextlib.contextmanager
def _unused(folder: Path) -> Iterator[bool]:
    """Hold Lite's lock for the check; yields False when another process has the folder open."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): never guess
        yield False
        return
    lock = folder / LOCK
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True  # released before Lite takes the lock itself (closing the fd releases it)
    finally:
        os.close(fd)
