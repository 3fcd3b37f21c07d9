"""Folders that loading reads: one must be named (an empty path is not the current folder),
and one read whole (a model folder) must hold plain files only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ConfigError, ModelLoadError


def given_folder(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; an empty one is refused, as ``Path("")`` would be the current folder.

    >>> given_folder("", "model")
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: the model folder path is empty
    """
    if not os.fspath(path):
        raise ConfigError(f"the {what} folder path is empty")
    return Path(path)


def refuse_special_files(folder: Path) -> None:
    """Refuse a folder holding anything but regular files and folders (a FIFO would hang a
    reader, a device such as ``/dev/zero`` never ends) or a link that leads out of it
    (``vocab.txt -> /dev/zero``): one line naming it, before any file is read."""
    root = folder.resolve()
    for parent, dirs, files in os.walk(folder):  # links are not followed: each one is checked here
        for name in dirs + files:
            path = Path(parent) / name
            target = path.resolve() if path.is_symlink() else path
            if path.is_symlink() and not target.is_relative_to(root):
                raise ModelLoadError(f"{folder}: refusing {path.relative_to(folder)}: a link that leads out of the "
                                     "model folder; copy the file into it")
            mode = os.stat(target).st_mode if target.exists() else 0
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ModelLoadError(f"{folder}: refusing {path.relative_to(folder)}: not a regular file")
