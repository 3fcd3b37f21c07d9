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
