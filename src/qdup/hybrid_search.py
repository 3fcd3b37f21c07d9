"""Hybrid search: candidates from the vectors and from the words, then one scorer ranks them.

Each query takes its ``depth`` nearest stored questions by cosine and its ``depth`` nearest
by character n-gram TF-IDF; the union (at most ``2 * depth``) is scored by the model's
scorer, which sees both questions' words, and the best ``k`` are returned. On the Quora
validation queries the union holds the known duplicate for 96% of queries at depth 30,
where either side alone holds it for 89-91% (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from . import search_backends
from .lexical import LexicalRows

DEPTH = 30  # candidates per side; chosen on validation queries (docs/benchmarks.md)
QUERY_CHUNK = 64  # bounds the dense (queries x rows) lexical score block


def lexical_topk(queries: LexicalRows, inverted: sp.csr_matrix, k: int,
                 dead: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows by char TF-IDF cosine; ``inverted`` is the segment's (buckets, rows) matrix.

    Multiplying by the inverted (term -> rows) matrix touches only the posting lists of
    the query's own n-grams.
    """
    out_scores, out_rows = [], []
    for start in range(0, len(queries), QUERY_CHUNK):
        block = (queries.chars[start : start + QUERY_CHUNK] @ inverted).toarray()  # (q, rows)
        if dead is not None:
            block[:, dead] = -np.inf
        out_scores.append(block)
    block = np.concatenate(out_scores) if out_scores else np.zeros((0, inverted.shape[1]), np.float32)
    kk = min(k, block.shape[1])
    scores, rows = search_backends._empty(len(block), k)
    if kk:
        part = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
        scores, rows = search_backends.merge_topk(scores, rows, np.take_along_axis(block, part, 1), part, k)
    rows[~np.isfinite(scores)] = -1
    return scores, rows


def candidate_union(dense_rows: np.ndarray, lexical_rows: np.ndarray) -> list[np.ndarray]:
    """Per query, the distinct candidate rows of both lists (dense first), without the -1 padding."""
    out = []
    for a, b in zip(dense_rows, lexical_rows):
        both = np.concatenate([a[a >= 0], b[b >= 0]])
        _, first = np.unique(both, return_index=True)
        out.append(both[np.sort(first)])
    return out


def rerank(query_vectors: np.ndarray, query_rows: LexicalRows, candidates: Sequence[np.ndarray],
           gather, scorer, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Score every (query, candidate) pair with ``scorer``; the best ``k`` per query, best first.

    ``gather(rows) -> (vectors, LexicalRows)`` looks up stored candidates by row number.
    """
    sizes = np.array([len(c) for c in candidates])
    flat = np.concatenate(candidates) if len(candidates) else np.zeros(0, np.int64)
    which = np.repeat(np.arange(len(candidates)), sizes)  # query of each pair
    vectors, rows = gather(flat)
    cosine = np.einsum("nd,nd->n", query_vectors[which], vectors) if len(flat) else np.zeros(0, np.float32)
    scores = scorer.score(cosine, query_rows.take(which), rows) if len(flat) else np.zeros(0, np.float32)
    best_scores, best_rows = search_backends._empty(len(candidates), k)
    for n, start in enumerate(np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)):
        s, r = scores[start : start + sizes[n]], flat[start : start + sizes[n]]
        order = np.lexsort((r, -s))[:k]  # best first; ties by row, so results are deterministic
        best_scores[n, : len(order)], best_rows[n, : len(order)] = s[order], r[order]
    return best_scores, best_rows
