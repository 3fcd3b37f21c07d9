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

A collection's own manifest (``collections/NAME/manifest.json``: its Parquet files) is
another matter: Lite replaces it atomically, so a torn, emptied or ``{}`` one is outside
damage, and Lite would read it as its previous version or as no files at all and, on
opening the collection, delete the Parquet files it no longer lists: the rows. So
:func:`repair` first refuses, in one line and before Lite runs, a folder with such a
manifest; nothing in it is changed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import json
from typing import Iterator

from ...errors import DataError

MARKER = "qdup-opened"  # in the .db folder: touched each time qdup opens it
LOCK = "LOCK"           # Milvus Lite's own lock file (flock-ed by the process that has it open)
VECTOR_INDEX, SCALAR_INDEX = ".idx", ".sidx"
MANIFEST, SCHEMA, ROWS = "manifest.json", "schema.json", ".parquet"  # per collection: its files, its fields, rows
MANIFEST_KEYS = ("version", "partitions")  # what every manifest Lite writes holds


def repair(path: str) -> list[Path]:
    """Delete index files of the Lite folder ``path`` that a killed writer left unreadable;
    the deleted paths. Nothing is done while another process has the folder open."""
    folder = Path(path)
    if not folder.is_dir():
        return []  # a new file: nothing to repair
    with _unused(folder) as free:
        if not free:
            return []  # open elsewhere: Lite refuses to open it, with its own error
        check_manifests(folder)
        marker = folder / MARKER
        since = marker.stat().st_mtime_ns if marker.exists() else 0
        damaged = [p for p in _index_files(folder) if p.stat().st_mtime_ns >= since and not _readable(p)]
        for p in damaged:
            with contextlib.suppress(OSError):
                p.unlink()
        marker.touch()  # a new time: the files Lite writes from now on are newer
    return damaged


def check_manifests(folder: Path) -> None:
    """Refuse (:class:`DataError`) a Lite folder holding a collection whose manifest Lite
    would misread, losing rows: one not JSON, without its keys, or missing next to rows."""
    for schema in sorted([*folder.glob(f"collections/*/{SCHEMA}"), *folder.glob(f"databases/*/collections/*/{SCHEMA}")]):
        collection = schema.parent
        problem = manifest_problem(collection)
        if problem:
            raise DataError(f"Milvus Lite file {folder}: collection {collection.name!r} has a damaged manifest "
                            f"({collection.relative_to(folder) / MANIFEST} {problem}), and opening it would delete "
                            "its rows; it was left unopened: restore the file from a backup, or rebuild the index "
                            "into another --uri")


def manifest_problem(collection: Path) -> str | None:
    """What is wrong with a collection folder's manifest (None: nothing Lite would misread)."""
    try:
        payload = json.loads((collection / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:  # Lite takes it for a new, empty collection
        return "is missing" if any(collection.glob(f"partitions/*/**/*{ROWS}")) else None
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "is not JSON"
    if not isinstance(payload, dict) or any(key not in payload for key in MANIFEST_KEYS):
        return f"lacks {' and '.join(MANIFEST_KEYS)}"
    if not isinstance(payload["partitions"], dict):
        return "names no partitions"
    return None


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
