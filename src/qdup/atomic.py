"""Atomic writes: a reader sees the old file or folder, or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries; a saved file should get the usual mode.
_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def check_replaceable(path: str | os.PathLike, force: bool, stamp: tuple[str, str] | None = None) -> None:
    """Refuse an existing ``path`` unless ``force``; even then, refuse a folder that is not
    empty and whose ``stamp`` file (name, format) does not name that format: ``--force``
    replaces a model with a model, never a source tree."""
    path = Path(path)
    if not path.exists():
        return
    if not force:
        raise OutputExistsError(f"{path} already exists (use --force to replace it)")
    if not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a folder")
    if stamp and any(path.iterdir()) and _format_of(path / stamp[0]) != stamp[1]:
        raise OutputExistsError(f"{path} exists and is not a {stamp[1]} folder; refusing to replace it")


def _format_of(stamp_file: Path) -> str | None:
    try:
        return json.loads(stamp_file.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None


@contextlib.contextmanager
def directory(path: str | os.PathLike, force: bool = False,
              stamp: tuple[str, str] | None = None) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path`` in one rename.

    On any error (or Ctrl-C) the temporary folder is removed and ``path`` is untouched.
    With ``force`` an existing ``path`` is replaced (see :func:`check_replaceable`);
    without it, it is refused up front.
    """
    path = Path(path)
    check_replaceable(path, force, stamp)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, _DIR_MODE)
        yield tmp
        if path.exists():
            # Two renames: the old folder is moved aside only once the new one is complete,
            # and moved back if the second rename fails.
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / "previous")
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old / "previous", path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
