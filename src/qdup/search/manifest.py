"""On-disk layout of an index folder, and its one commit point.

An index folder holds::

    manifest.json          the commit point: which files make up the index now
    seg-000003.npy         float32 vectors of one segment (np.save, no pickles)
    seg-000003.jsonl       {"id": ..., "question": ..., "metadata": {...}} per row, same order
                           ("metadata" only on rows that have some: url, title, ...)
    seg-000003.faiss       optional HNSW graph over that segment (FAISS binary format)
    seg-000003.lexical.npz optional sparse lexical rows (plain arrays, np.load without pickles)

(the segment files are those of the local backends; a Milvus index folder holds only the
manifest, which names the server and collection).

Data files are immutable and named by the generation that wrote them. A write creates
its new files first, then replaces ``manifest.json`` in one atomic rename; files no
manifest names any more are deleted after that. A crash at any moment therefore leaves
either the old manifest (and all its files) or the new one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np
from filelock import FileLock

from ..util import atomic
from ..errors import DataError
from ..text.lexical import LexicalRows

FORMAT = "qdup-index"
VERSION = 1
MANIFEST = "manifest.json"
LEXICAL = ".lexical.npz"  # a segment's lexical rows, when the model's scorer uses them


def _before_commit() -> None:
    """Called after the data files are written and before the manifest is replaced.

    Does nothing; tests replace it to kill or interrupt a write at its most fragile point.
    """


def identity(manifest: dict) -> tuple:
    """Which index and which version of it: a rebuilt folder restarts its generations, but
    gets a new random ``uid`` (indexes written before it existed have none)."""
    return manifest.get("uid"), manifest["generation"]


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DataError(f"{folder}: no such index folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{folder} is not a qdup index (no {MANIFEST})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise DataError(f"{path} is corrupt (not JSON)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{folder} is not a qdup index (unknown format)")
    if manifest.get("version") != VERSION:
        raise DataError(f"{folder}: index format version {manifest.get('version')} is not supported (expected {VERSION})")
    return manifest


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
    """Replace the manifest atomically, then delete files other than it and ``files``
    (the backend's files for this manifest, see :meth:`qdup.search.backends.Store.files`)."""
    _before_commit()
    atomic.write_text(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    _fsync_dir(folder)
    keep = {MANIFEST, ".lock"} | files
    for entry in folder.iterdir():
        if entry.name not in keep and entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable across a power cut, not just a process crash.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            lock = FileLock(str(folder / ".lock"))
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
def io_errors(folder: Path) -> Iterator[None]:
    """Turn an OSError while writing into one line naming the folder."""
    try:
        yield
    except OSError as error:
        raise DataError(f"{folder}: cannot write the index ({error.strerror or error})") from None


def write_segment(folder: Path, name: str, vectors: np.ndarray, ids: list[str], questions: list[str],
                  metadata: list[dict] | None = None) -> None:
    buf = npy_bytes(vectors)
    atomic.write_bytes(folder / f"{name}.npy", buf)
    metadata = metadata or [{}] * len(ids)
    lines = "".join(json.dumps({"id": i, "question": q, **({"metadata": m} if m else {})}, ensure_ascii=False) + "\n"
                    for i, q, m in zip(ids, questions, metadata))
    atomic.write_text(folder / f"{name}.jsonl", lines)


def npy_bytes(vectors: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def read_segment(folder: Path, name: str, rows: int, dim: int) -> tuple[np.ndarray, list[str], list[str], list | None]:
    try:
        # Memory-mapped: segment files are immutable (a replaced one stays readable while
        # mapped), and rows an HNSW graph already holds are then never paged in twice.
        vectors = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        records = [json.loads(line) for line in (folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError as error:
        raise DataError(f"{folder} is damaged: {Path(error.filename).name} is missing") from None
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{folder} is damaged: segment {name} cannot be read") from None
    if vectors.dtype != np.float32 or vectors.shape != (rows, dim) or len(records) != rows:
        raise DataError(f"{folder} is damaged: segment {name} does not match the manifest")
    metadata = [r.get("metadata") or {} for r in records] if any("metadata" in r for r in records) else None
    return vectors, [r["id"] for r in records], [r["question"] for r in records], metadata


def write_lexical(folder: Path, name: str, rows: LexicalRows) -> None:
    buf = io.BytesIO()
    np.savez(buf, **rows.to_arrays())  # plain arrays; np.load(allow_pickle=False) reads them
    atomic.write_bytes(folder / f"{name}{LEXICAL}", buf.getvalue())


def read_lexical(folder: Path, name: str, rows: int) -> LexicalRows:
    try:
        with np.load(folder / f"{name}{LEXICAL}", allow_pickle=False) as arrays:
            lexical = LexicalRows.from_arrays({key: arrays[key] for key in arrays.files})
    except FileNotFoundError:
        raise DataError(f"{folder} is damaged: {name}{LEXICAL} is missing") from None
    except (ValueError, KeyError, OSError):
        raise DataError(f"{folder} is damaged: {name}{LEXICAL} cannot be read") from None
    if len(lexical) != rows:
        raise DataError(f"{folder} is damaged: {name}{LEXICAL} does not match the manifest")
    return lexical
