"""Sparse rows as three numpy arrays (compressed sparse rows): what the lexical rows need of a sparse matrix.

``scipy.sparse`` held them first. A search only takes rows, stacks them and reads their
stored entries, which plain arrays give directly, whereas importing ``scipy.sparse`` costs
every ``qdup predict`` or ``qdup search`` ~0.2 CPU-s (its array-API layer imports numpy's
testing and f2py modules) and building one of its matrices checks the arrays each time
(~25 µs, a dozen times a search). :meth:`SparseRows.to_scipy` hands the same arrays to
scipy where matrix algebra is wanted (training, benchmarks, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class SparseRows:
    """``(len(indptr) - 1, width)`` rows: row ``i`` holds ``data[indptr[i]:indptr[i + 1]]`` at
    columns ``indices[indptr[i]:indptr[i + 1]]``, sorted within the row, as scipy's CSR."""

    data: np.ndarray     # (nnz,) values
    indices: np.ndarray  # (nnz,) int32 columns
    indptr: np.ndarray   # (rows + 1,) start of each row's entries
    width: int           # columns

    @staticmethod
    def checked(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, rows: int, width: int) -> "SparseRows":
        """Rows read from a file, refused (``ValueError``) unless every entry lies inside the matrix."""
        data, indices, indptr = np.asarray(data), np.asarray(indices), np.asarray(indptr)
        if data.ndim != 1 or indices.ndim != 1 or indptr.shape != (rows + 1,) or len(data) != len(indices):
            raise ValueError("sparse rows of the wrong shape")
        # Signed positions only: an unsigned difference would wrap round and pass the order check.
        if not (np.issubdtype(indices.dtype, np.signedinteger) and np.issubdtype(indptr.dtype, np.signedinteger)):
            raise ValueError("sparse rows with positions that are not signed integers")
        if not np.issubdtype(data.dtype, np.number):
            raise ValueError("sparse rows whose values are not numbers")
        if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
            raise ValueError("sparse rows whose row starts are out of order")
        if len(indices) and (indices.min() < 0 or indices.max() >= width):
            raise ValueError("sparse rows with a column out of range")
        return SparseRows(data, indices, indptr, width)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.width

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def __len__(self) -> int:
        return len(self.indptr) - 1

    # Cached: computing a search's pair features reads each a dozen times (rows are immutable).
    @cached_property
    def row_lengths(self) -> np.ndarray:
        """Stored entries per row."""
        return np.diff(self.indptr)

    @cached_property
    def owners(self) -> np.ndarray:
        """The row of each stored entry."""
        return np.repeat(np.arange(len(self)), self.row_lengths)

    def take(self, rows: np.ndarray) -> "SparseRows":
        """Rows ``rows`` (any order, repeats allowed), as ``matrix[rows]``."""
        rows = np.asarray(rows, dtype=np.int64)
        entries, _, indptr = spans(self.indptr, rows)
        return SparseRows(self.data[entries], self.indices[entries], indptr, self.width)

    @staticmethod
    def stack(parts: list["SparseRows"], consume: bool = False,
              keep: list[np.ndarray | None] | None = None) -> "SparseRows":
        """The rows of ``parts``, one after another (all of one width). ``consume``: each part
        is dropped from ``parts`` once copied, so that a million questions' rows (~1 GB) are
        not held twice while they are joined. ``keep``: per part, a boolean mask of the rows
        to take (None: all), read in place: a merge of a million rows never makes the int64
        position of each entry that :meth:`take` makes (2 GB)."""
        widths = {p.width for p in parts}
        if len(widths) != 1:
            raise ValueError(f"cannot stack rows of widths {sorted(widths)}")
        keep = keep or [None] * len(parts)
        lengths = [p.row_lengths if k is None else p.row_lengths[k] for p, k in zip(parts, keep)]
        total = sum(int(n.sum()) for n in lengths)
        indptr = np.zeros(sum(len(n) for n in lengths) + 1, dtype=np.int32 if total < 2**31 else np.int64)
        np.cumsum(np.concatenate([np.zeros(0, np.int64), *lengths]), out=indptr[1:])
        data, indices = np.empty(total, parts[0].data.dtype), np.empty(total, parts[0].indices.dtype)
        offset = 0
        for n, (part, k, size) in enumerate(zip(parts, keep, lengths)):
            span, end = slice(part.indptr[0], part.indptr[-1]), offset + int(size.sum())
            if k is None:
                data[offset:end], indices[offset:end] = part.data[span], part.indices[span]
            else:
                entries = np.repeat(k, part.row_lengths)  # a bool per entry
                np.compress(entries, part.data[span], out=data[offset:end])
                np.compress(entries, part.indices[span], out=indices[offset:end])
            offset = end
            if consume:
                parts[n] = None
        return SparseRows(data, indices, indptr, widths.pop())

    def to_scipy(self):
        """The same rows as a ``scipy.sparse.csr_matrix`` (sharing the arrays), for matrix algebra."""
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def spans(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the stored entries of ``rows`` (rows of a CSR ``indptr``, any order, repeats
    allowed) are: their positions, one row after another; how many each row has; and the
    ``indptr`` of those rows taken together."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    taken = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=taken[1:])
    return np.arange(taken[-1]) - np.repeat(taken[:-1] - starts, lengths), lengths, taken
