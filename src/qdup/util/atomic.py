"""Atomic writes: a reader sees the old file or folder, or the new one, never half of one.

A folder is replaced in two renames (old → ``.NAME.*.old/previous``, new ``.NAME.*.tmp`` →
NAME). Each hidden folder is flock-ed by the process using it, so a leftover whose lock
is free belongs to a killed process. The guarantee: after a kill at any moment, the next
:func:`recover` (run by every load and every folder write of NAME) finds NAME holding the
old folder or the new one, never neither, and removes the dead process's leftovers.
Where there is no flock (Windows), leftovers are kept rather than guessed dead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from ..errors import OutputError, OutputExistsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries; a saved file should get the usual mode.
_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    write_with(path, lambda f: f.write(data))


def write_with(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """:func:`write_bytes` for a writer that streams into the open file (``np.save``):
    a large array is not held twice in memory as a bytes copy. Missing parent folders are
    made, as a folder's :func:`directory` makes them."""
    path = Path(path)
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)  # exist_ok: another process may make it first
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:  # name the file asked for, not its hidden temporary sibling
        raise OSError(error.errno, error.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        try:
            os.replace(tmp, path)
        except OSError as error:  # say, a folder in the way: name it, not the hidden sibling
            raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file (one another library wrote) or a folder (so a rename or a new name in it
    survives a power cut, not just a process crash) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_new(path: str | os.PathLike, force: bool) -> None:
    """Refuse an existing output ``path`` unless ``force`` (the one "already exists" check)."""
    if os.path.lexists(path) and not force:
        raise OutputExistsError(f"{path} already exists (use --force to replace it)")


def check_new_file(path: str | os.PathLike, force: bool) -> None:
    """Before the work that makes it: refuse an existing output file unless ``force``
    (:func:`check_new`), and one that cannot be written (:func:`check_writable`)."""
    check_new(path, force)
    check_writable(path)


def check_replaceable(path: str | os.PathLike, force: bool, stamp: tuple[str, str] | None = None) -> None:
    """Refuse an existing ``path`` unless ``force``; even then, refuse a folder that is not
    empty and whose ``stamp`` file (name, format) does not name that format: ``--force``
    replaces a model with a model, never a source tree."""
    path = Path(path)
    check_new(path, force)
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a folder")
    if stamp and any(path.iterdir()) and _format_of(path / stamp[0]) != stamp[1]:
        raise OutputExistsError(f"{path} exists and is not a {stamp[1]} folder; refusing to replace it")


def _format_of(stamp_file: Path) -> str | None:
    try:
        return json.loads(stamp_file.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def check_writable(path: str | os.PathLike) -> None:
    """Fail now, not after hours of work, when ``path`` cannot be created (read-only
    folder, a file in the way): probe its nearest existing parent with a temporary folder."""
    path = Path(path).absolute()
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".probe"))
    except OSError as error:
        raise OutputError(f"{path}: cannot write there ({error.strerror or error})") from None


def _hidden(path: Path, suffix: str) -> list[Path]:
    with contextlib.suppress(OSError):
        return sorted(path.parent.glob(f".{path.name}.*{suffix}"))
    return []


@contextlib.contextmanager
def _held(folder: Path, blocking: bool = True) -> Iterator[bool]:
    """flock ``folder`` (released by the kernel if this process dies); yields False when
    ``blocking`` is off and another live process holds it.

    Without flock (Windows) it always yields False: no leftover can be told from a live
    writer's, so :func:`recover` leaves them all in place (nothing is lost, nothing swept).
    """
    try:
        import fcntl  # here, not at the top: `import qdup` must work where there is none
    except ImportError:
        yield False
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def recover(path: str | os.PathLike) -> None:
    """Finish or undo folder swaps of ``path`` that a killed process left half done.

    A missing ``path`` with an abandoned ``.NAME.*.old/previous`` gets the old folder back;
    abandoned ``.tmp`` and ``.old`` folders are removed. Folders a live process still
    holds are left alone. Errors (say, a read-only parent) are ignored: recovery is best effort.
    """
    path = Path(path)
    for old in _hidden(path, ".old"):
        with _held(old, blocking=False) as mine:
            if not mine:
                continue
            with contextlib.suppress(OSError):
                if not path.exists() and (old / "previous").is_dir():
                    os.replace(old / "previous", path)
                shutil.rmtree(old)
    for tmp in _hidden(path, ".tmp"):
        if tmp.is_dir():
            with _held(tmp, blocking=False) as mine:
                if mine:
                    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def directory(path: str | os.PathLike, force: bool = False,
              stamp: tuple[str, str] | None = None) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path`` in one rename.

    On any error (or Ctrl-C) the temporary folder is removed and ``path`` is untouched.
    With ``force`` an existing ``path`` is replaced (see :func:`check_replaceable`);
    without it, it is refused up front. A kill leaves leftovers that :func:`recover` repairs.
    """
    path = Path(path)
    recover(path)
    check_replaceable(path, force, stamp)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        with _held(tmp):
            os.chmod(tmp, _DIR_MODE)
            yield tmp
            if path.exists():
                _swap(tmp, path)
            else:
                os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(tmp: Path, path: Path) -> None:
    # Two renames: the old folder is moved aside only once the new one is complete, and
    # moved back if the second rename fails (or by recover() if this process is killed).
    old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
    try:
        with _held(old):
            os.replace(path, old / "previous")
            try:
                _between_renames()
                os.replace(tmp, path)
            except BaseException:
                os.replace(old / "previous", path)
                raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _between_renames() -> None:
    """Does nothing; tests replace it to kill a swap at its most fragile point."""
