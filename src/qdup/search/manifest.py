"""An index folder's one commit point, ``manifest.json``, and the lock its writers take.

The manifest names the model, the backend and its settings, and the files that make up
the index now: a local index's segment files (:mod:`qdup.search.local.files`); a Milvus
index folder holds only the manifest, which names the server and collection.

Data files are immutable and named by the generation that wrote them. A write creates
its new files first, then replaces ``manifest.json`` in one atomic rename; files no
manifest names any more are deleted after that. A crash at any moment therefore leaves
either the old manifest (and all its files) or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from ..errors import ConfigError, DataError
from ..util import atomic

FORMAT = "qdup-index"
VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
DECISIONS = "decisions.jsonl"  # moderator decisions (qdup.search.decisions): folder data no manifest names


def _before_commit() -> None:
    """Called after the data files are written and before the manifest is replaced.

    Does nothing; tests replace it to kill or interrupt a write at its most fragile point.
    """


def new_manifest(model, backend: str, model_path: str | None) -> dict:
    """The manifest of a new, empty index of ``model``'s vectors (generation 0)."""
    _check_is_model(model)
    return {
        "format": FORMAT, "version": VERSION, "uid": uuid.uuid4().hex,
        "fingerprint": model.fingerprint, "dim": int(model.dim), "threshold": float(model.threshold),
        "data_fingerprint": getattr(model, "data_fingerprint", None),
        "backend": backend, "generation": 0,
        "model_path": None if model_path is None else os.path.abspath(model_path), "count": 0, "segments": [],
        "next_auto_id": 1,
    }


def check_model(folder: Path, manifest: dict, model) -> None:
    """Refuse a model other than the one that built the index. A model refit on moderator
    decisions (:mod:`qdup.training.refit`) keeps the vectors and lexical rows an index
    stores (its ``data_fingerprint``; indexes older than that field know its ``lineage``,
    the models it was refit from), so it searches and writes the index too."""
    _check_is_model(model)
    data = manifest.get("data_fingerprint")
    refit_from = ((getattr(model, "info", None) or {}).get("refit") or {}).get("lineage") or ()
    if model.fingerprint == manifest["fingerprint"] or manifest["fingerprint"] in refit_from or (
            data is not None and data == getattr(model, "data_fingerprint", None)):
        return
    built_with = manifest.get("model_path")  # None: the built-in model, or a library caller's unsaved one
    raise DataError(f"index {folder} was built with model {manifest['fingerprint'][:12]}"
                    + (f" (saved in {built_with}, which may hold another model now)" if built_with else "")
                    + f", not {model.fingerprint[:12]}; use the model that built it, or rebuild the index"
                    + ("" if built_with else " (an index of an older qdup's built-in model must be rebuilt)"))


def _check_is_model(model) -> None:
    """What an index stores and searches with must be a model (``index.search(None, ...)`` was an
    AttributeError): anything with the encoder's surface, as the tests' fakes have."""
    if not all(hasattr(model, name) for name in ("fingerprint", "encode", "dim", "scorer")):
        raise ConfigError(f"model must be a qdup model (say qdup.load()), got {type(model).__name__}")


def identity(manifest: dict) -> tuple:
    """Which index and which version of it: a rebuilt folder restarts its generations, but
    gets a new random ``uid`` (indexes written before it existed have none)."""
    return manifest.get("uid"), manifest["generation"]


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DataError(f"{folder} is a file, not an index folder" if folder.exists() else
                        f"{folder}: no such index folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{folder} is not a qdup index (no {MANIFEST})") from None
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: also a number of 4,300+ digits
        raise DataError(f"{path} is corrupt (not JSON)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{folder} is not a qdup index (unknown format)")
    if manifest.get("version") != VERSION:
        raise DataError(f"{folder}: index format version {manifest.get('version')} is not supported (expected {VERSION})")
    bad = [key for key, ok in FIELDS.items() if not ok(manifest.get(key))]
    if bad:
        raise DataError(f"{folder} is damaged: its manifest's {bad[0]!r} is missing or wrong")
    return manifest


def _whole(value, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


# What every manifest holds, whatever the backend (a backend checks its own entries).
FIELDS = {
    "fingerprint": lambda v: isinstance(v, str) and bool(v), "backend": lambda v: isinstance(v, str),
    "dim": lambda v: _whole(v, 1), "generation": lambda v: _whole(v, 0), "count": lambda v: _whole(v, 0),
    "next_auto_id": lambda v: _whole(v, 1),
    "threshold": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and -1 <= v <= 1,
}


def manifest_stamp(folder: Path) -> tuple | None:
    """What changes whenever a writer commits: the manifest's inode, size and mtime.

    Each commit renames a new file over ``manifest.json``, so its inode changes; one
    ``stat`` per search tells a reader whether to re-read the index.
    """
    try:
        st = os.stat(folder / MANIFEST)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def commit(folder: Path, manifest: dict, files: set[str]) -> None:
    """Replace the manifest atomically, then :func:`sweep` the files it does not name."""
    _before_commit()
    atomic.write_text(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    atomic.fsync_path(folder)  # the rename itself durable across a power cut
    sweep(folder, files)


def sweep(folder: Path, files: set[str]) -> None:
    """Delete the files other than the manifest, the decisions journal and ``files`` (the
    backend's files for the committed manifest, see :meth:`qdup.search.backends.Store.files`):
    a killed writer's new files, temporary files. Only under the write lock: a writer's files
    are unnamed until it commits."""
    keep = {MANIFEST, LOCK, DECISIONS} | files
    for entry in folder.iterdir():
        if entry.name not in keep and entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()


@contextlib.contextmanager
def write_lock(folder: Path) -> Iterator[None]:
    """Serialise writers (a CLI `index add` next to a running service) with a file lock.

    ``filelock`` uses flock on POSIX and msvcrt locking on Windows, so ``import qdup``
    needs no ``fcntl``. ``index build --force`` takes it too, so the folder is re-checked
    after the lock is granted: if it was replaced meanwhile (another inode), the lock of
    the new folder is taken instead. A failed write (disk full, read-only folder) becomes
    one-line :class:`DataError`; the manifest was not replaced, so the index is unchanged.
    """
    with io_errors(folder):
        while True:
            before = os.stat(folder).st_ino  # a missing folder: one-line error, not a new folder
            lock = FileLock(str(folder / LOCK))
            lock.acquire()
            try:
                same = os.stat(folder).st_ino == before
            except FileNotFoundError:
                same = False
            if same:
                break
            lock.release()  # the lock we got belongs to a folder moved away by build --force; retry
        try:
            yield
        finally:
            lock.release()


@contextlib.contextmanager
def unless_locked(folder: Path) -> Iterator[bool]:
    """The write lock if no writer holds it now (True), else nothing (False), never waiting;
    False too where it cannot be taken (a read-only copy of the folder)."""
    lock = FileLock(str(folder / LOCK))
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextlib.contextmanager
def io_errors(folder: Path) -> Iterator[None]:
    """Turn an OSError while writing into one line naming the folder."""
    try:
        yield
    except OSError as error:
        raise DataError(f"{folder}: cannot write the index ({error.strerror or error})") from None
