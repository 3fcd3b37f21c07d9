"""Vector files: float32 rows in NumPy's ``.npy`` format, written atomically.

``np.save`` without pickles: ``np.load(path, allow_pickle=False)`` reads them back, and
loading runs no code. ``qdup encode`` writes one; so does each segment of a local index.
"""

from __future__ import annotations

import os

import numpy as np

from ..util import atomic


def write_vectors(path: str | os.PathLike, vectors: np.ndarray) -> None:
    """Write ``vectors`` as float32 to ``path`` (a ``.npy`` file) through an atomic rename."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    atomic.write_with(path, lambda f: np.save(f, vectors, allow_pickle=False))


class VectorFile:
    """The rows of a float32 ``.npy`` file, read part by part with plain reads.

    A memory map would do the same reads, but every page it touched would count in the
    process's resident memory until unmapped: building a graph over a million questions'
    vectors from a map holds them twice (the map's pages and the graph's copy).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        header = np.load(path, mmap_mode="r", allow_pickle=False)  # parses the header; its map is dropped below
        if header.dtype != np.float32 or header.ndim != 2 or not header.flags.c_contiguous:
            raise ValueError(f"{path} does not hold float32 rows")
        self.shape, self._offset = header.shape, header.offset
        del header

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise ValueError("a vector file is read in runs of rows")
        count = max(stop - start, 0) * self.shape[1]
        return np.fromfile(self.path, np.float32, count, offset=self._offset + 4 * start * self.shape[1]).reshape(
            -1, self.shape[1])
