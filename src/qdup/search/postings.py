"""Lexical candidates whose cost does not grow with the corpus: the postings of rare n-grams only.

Scoring a query against the whole inverted index touches every row that shares an n-gram
with it: with the n-grams of more than 10% of the rows dropped, still ~53% of a million
rows (1.6M postings, 21 ms a query; issue 20). Candidates only need to hold the rows the
scorer should see, and what singles a duplicate out is its rare n-grams. So candidate
generation reads only the postings of n-grams found in at most :data:`MAX_POSTINGS` rows
of a segment (an IDF floor that tightens as the segment grows): a query touches at most
``MAX_POSTINGS`` rows per n-gram, whatever the corpus size, and every row that shares a
rare n-gram with it is scored exactly on those. The scorer then ranks the candidates on
every n-gram. Chosen on validation queries (docs/benchmarks.md): at 51k questions recall@1
is unchanged and recall@10 within 0.001 of scoring on every n-gram under 10% of the rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .topk import empty_topk

MAX_POSTINGS = 1000  # rows an n-gram may be in and still make candidates (per segment)


def best_alive(found: np.ndarray, value: np.ndarray, k: int,
               dead: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(values, rows)`` of the best ``k`` of ``found`` not in ``dead``, best first; ties by
    row, so results are deterministic."""
    if dead is not None:
        alive = ~dead[found]
        found, value = found[alive], value[alive]
    if len(found) > k:
        part = np.argpartition(-value, k - 1)[:k]
        found, value = found[part], value[part]
    order = np.lexsort((found, -value))
    return value[order], found[order]


class RarePostings:
    """The (bucket -> rows, weights) postings of a segment's char n-grams found in at most ``max_rows`` rows."""

    def __init__(self, chars: sp.csr_matrix, max_rows: int = MAX_POSTINGS) -> None:
        inverted = chars.tocsc()  # per bucket, its rows in order
        lengths = np.diff(inverted.indptr)
        rare = lengths <= max_rows
        keep = np.repeat(rare, lengths)
        self.indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(np.where(rare, lengths, 0), out=self.indptr[1:])
        self.rows, self.weights = inverted.indices[keep], inverted.data[keep]
        self.size = chars.shape[0]

    def topk(self, queries, k: int, dead: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` (q, k), best first, by the TF-IDF dot product over the rare n-grams;
        rows in ``dead`` (a boolean mask) skipped; ties by row, so results are deterministic."""
        scores, rows = empty_topk(len(queries), k)
        chars = queries.chars
        for n in range(len(queries)):
            span = slice(chars.indptr[n], chars.indptr[n + 1])
            value, found = best_alive(*self._scored(chars.indices[span], chars.data[span]), k, dead)
            scores[n, : len(found)], rows[n, : len(found)] = value, found
        return scores, rows

    def _scored(self, columns: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct rows in the postings of ``columns`` and their ``sum(weight * row weight)``."""
        starts = self.indptr[columns]
        lengths = self.indptr[columns + 1] - starts
        ends = np.cumsum(lengths)
        if not len(ends) or not ends[-1]:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        entries = np.arange(ends[-1]) + np.repeat(starts - (ends - lengths), lengths)
        touched = self.rows[entries]
        totals = np.bincount(touched, self.weights[entries] * np.repeat(weights, lengths), minlength=self.size)
        # Each touched row once, without sorting: the first position at which it appears.
        first = np.empty(self.size, np.int64)
        position = np.arange(len(touched))
        first[touched[::-1]] = position[::-1]
        found = touched[first[touched] == position].astype(np.int64)
        return found, totals[found].astype(np.float32)
