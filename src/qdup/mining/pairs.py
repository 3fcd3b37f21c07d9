"""Mining: every pair of stored questions that scores above a threshold.

Scores are computed block by block (``chunk_size`` x ``chunk_size``), so memory stays
bounded however large the corpus is; only pairs above the threshold are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import numpy as np

from ..errors import ConfigError
from ..scoring.thresholds import check_threshold
from .groups import neighbours


@dataclass(frozen=True)
class Pair:
    id1: str
    id2: str
    score: float
    question1: str
    question2: str


MAX_PAIRS = 10_000_000  # ~200 MB of results; more means the threshold is too low to be useful


def mine_vectors(
    vectors: np.ndarray, threshold: float, chunk_size: int = 2048, max_pairs: int = MAX_PAIRS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pairs ``(i, j)`` with ``i < j`` and ``vectors[i] · vectors[j] > threshold``.

    Returns ``(rows_i, rows_j, scores)`` sorted by score, best first (ties by i, then j).
    Memory stays bounded: one ``chunk_size`` block of scores at a time, and more than
    ``max_pairs`` results is refused rather than exhausting memory.

    Example::

        >>> v = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
        >>> [a.tolist() for a in mine_vectors(v, 0.5)]
        [[0], [1], [1.0]]
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    threshold = check_threshold(threshold)
    found_i, found_j, found_s = [], [], []
    n, total = len(vectors), 0
    for a in range(0, n, chunk_size):
        for b in range(a, n, chunk_size):  # upper triangle of blocks only
            block = vectors[a : a + chunk_size] @ vectors[b : b + chunk_size].T  # (ca, cb)
            i, j = np.nonzero(block > threshold)
            i, j = i + a, j + b
            keep = i < j  # drops the diagonal and the lower half of diagonal blocks
            found_i.append(i[keep])
            found_j.append(j[keep])
            found_s.append(block[i[keep] - a, j[keep] - b])
            total += int(keep.sum())
            if total > max_pairs:
                raise ConfigError(f"more than {max_pairs:,} pairs score above {threshold}; use a higher threshold")
    rows_i = np.concatenate(found_i) if found_i else np.zeros(0, np.int64)
    rows_j = np.concatenate(found_j) if found_j else np.zeros(0, np.int64)
    scores = np.concatenate(found_s) if found_s else np.zeros(0, np.float32)
    order = np.lexsort((rows_j, rows_i, -scores))
    return rows_i[order], rows_j[order], scores[order]


PAIR_NEIGHBOURS = 20  # with a re-ranking model: pairs come from each question's 20 best matches


def mine_index(index, threshold: float | None = None, chunk_size: int = 2048, model=None, where=None,
               queries: Collection[str] | None = None, verdict: bool = True) -> list[Pair]:
    """Every pair of live questions in ``index`` scoring above ``threshold``.

    The default threshold is the one of the model that built the index. With a ``model``
    whose scorer re-ranks, scores are its search scores (every pair of a large index cannot
    be re-ranked): the pairs are found among each question's :data:`PAIR_NEIGHBOURS` best
    matches, as ``qdup search`` finds them, and kept when its pair scorer judges them
    duplicates (unless not ``verdict``: :func:`~qdup.mining.groups.neighbours`); so are they
    with a filter ``where`` or with ``queries`` (the ids of the only questions whose pairs
    are looked for).

    Example::

        >>> pairs = mine_index(Index.load("my-index"), threshold=0.9)  # doctest: +SKIP
        >>> pairs[0].id1, pairs[0].id2, round(pairs[0].score, 2)      # doctest: +SKIP
        ('12', '845', 0.98)
    """
    threshold = index.threshold if threshold is None else threshold
    if model is not None and model.scorer.lexical is not None or where is not None or queries is not None:
        found = neighbours(index, PAIR_NEIGHBOURS, threshold, model=model, where=where, queries=queries,
                           verdict=verdict)
        best: dict[tuple[int, int], float] = {}
        for i, (rows, scores) in enumerate(zip(found.rows, found.scores)):
            for j, score in zip(rows.tolist(), scores.tolist()):
                key = (min(i, j), max(i, j))  # the search score is not symmetric: keep the higher
                best[key] = max(best.get(key, -np.inf), score)
        ordered = sorted(best.items(), key=lambda item: (-item[1], item[0]))
        ids, questions = found.ids, found.questions
        return [Pair(ids[i], ids[j], float(s), questions[i], questions[j]) for (i, j), s in ordered]
    vectors, ids, questions = index.live()
    rows_i, rows_j, scores = mine_vectors(vectors, threshold, chunk_size)
    return [Pair(ids[i], ids[j], float(s), questions[i], questions[j]) for i, j, s in zip(rows_i, rows_j, scores)]
