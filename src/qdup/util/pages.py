"""Reading memory-mapped arrays into memory before a search needs them.

An index maps its files (vectors, graph, lexical rows) instead of reading them, so it opens
in seconds at a million questions. The price falls on the first searches: each page they
touch first costs a page fault, and a disk read if the page cache does not hold the file
(after a reboot, or once other work evicted it). ``qdup serve`` therefore warms its index
in the background (:meth:`qdup.Index.warm`): the reads are asked for all at once
(``madvise(MADV_WILLNEED)``, which the kernel serves as large read-ahead) and then one
byte of every page is read, which maps it into this process.
"""

from __future__ import annotations

import mmap

import numpy as np

PAGE = mmap.PAGESIZE


def will_need(arrays: list[np.ndarray]) -> None:
    """Ask the kernel to start reading the files behind those of ``arrays`` that are
    memory-mapped (the others are in memory already)."""
    mappings = {id(m): m for m in map(_mapping_of, arrays) if m is not None}  # a file's arrays share one
    for mapping in mappings.values():
        if hasattr(mapping, "madvise"):
            mapping.madvise(mmap.MADV_WILLNEED)  # the whole file: views cover most of it anyway


def touch(arrays: list[np.ndarray]) -> int:
    """Read one byte of every page of each array (C-contiguous); the bytes they span."""
    total, seen = 0, 0
    for array in arrays:
        flat = np.asarray(array).reshape(-1).view(np.uint8)  # a view: reshape of a contiguous array
        if flat.size:  # the values do not matter, reading them does; flat[-1]: a last page begun
            seen ^= int(flat[::PAGE].sum()) ^ int(flat[-1])
        total += flat.size
    return total


def _mapping_of(array: np.ndarray):
    """The ``mmap.mmap`` an array is a view of (through its chain of bases), or None."""
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        mapping = getattr(base, "_mmap", None)  # np.memmap keeps its map there
        base = mapping if mapping is not None else getattr(base, "base", None)
    return base
