"""Training the re-ranking scorer on the training pool, without letting it trust a memorised cosine.

The encoder has seen the training pairs, so its cosine on them is far better than on new
questions (ROC AUC 0.98 on training pairs, 0.85 on validation pairs for the built-in
encoder). A re-ranker fitted on those cosines learns to trust them blindly. So the cosine
features come from *out-of-fold* encoders: the training pairs are cut into ``folds``
parts, an encoder is trained on all parts but one with the same recipe, and it scores the
part it did not see (cross-fitting, as in stacking). The final encoder, trained on
everything, is the one the model keeps.

The re-ranker learns from two kinds of rows, both from the training pool only:
- every labelled pair (duplicates and non-duplicates), as ``predict`` sees pairs;
- for each training duplicate (q1, q2), the candidates a search for q1 returns over all
  pool questions (``hybrid_search.DEPTH`` by cosine, as many by words), labelled 1 when
  the candidate is a known duplicate of q1, as ``search`` sees them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from . import hybrid_search, search_backends
from .data import Pairs
from .lexical import LexicalRows, LexicalStats
from .pair_features import FEATURES, pair_features
from .reranker import BoosterSettings, Reranker
from .scorer import RerankScorer
from .split import Split


def train_rerank_scorer(split: Split, folds: int, train_encoder: Callable[[Split], object],
                        settings: BoosterSettings = BoosterSettings(), log: Callable[[str], None] = lambda s: None
                        ) -> RerankScorer:
    """Fit IDF on the pool questions and the re-ranker on out-of-fold features."""
    pool = _distinct([q for p in (split.train, split.negatives) for q in p.question1 + p.question2])
    row_of = {q: n for n, q in enumerate(pool)}
    stats = LexicalStats.fit(pool)
    rows = stats.rows(pool)
    postings = hybrid_search.inverted(rows)  # as a search over these questions would use them
    duplicates_of = _duplicate_sets(split.train, row_of)
    features, labels = [], []
    for fold in range(folds):
        held_train = np.arange(len(split.train)) % folds == fold
        held_negatives = np.arange(len(split.negatives)) % folds == fold
        log(f"scorer fold {fold + 1}/{folds}: training an encoder without this fold")
        encoder = train_encoder(replace(split, train=split.train.subset(~held_train),
                                        negatives=split.negatives.subset(~held_negatives)))
        vectors = encoder.encode(pool)
        queries = _query_rows(split.train.subset(held_train), row_of)
        x, y = _candidate_rows(queries, vectors, rows, postings, duplicates_of, stats)
        features.append(x)
        labels.append(y)
        for pairs, label in ((split.train.subset(held_train), 1.0), (split.negatives.subset(held_negatives), 0.0)):
            a, b = _pair_rows(pairs, row_of)
            cosine = np.einsum("nd,nd->n", vectors[a], vectors[b])
            features.append(pair_features(cosine, rows.take(a), rows.take(b), stats))
            labels.append(np.full(len(a), label, np.float32))
    log("scorer: fitting the re-ranker")
    reranker = Reranker.fit(np.concatenate(features), np.concatenate(labels), FEATURES, settings)
    return RerankScorer(stats, reranker)


def _distinct(questions: list[str]) -> list[str]:
    return sorted({q.strip() for q in questions if q.strip()})


def _query_rows(pairs: Pairs, row_of: dict[str, int]) -> np.ndarray:
    a, b = _pair_rows(pairs, row_of)
    return np.unique(a[a != b])


def _pair_rows(pairs: Pairs, row_of: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    keep = [(row_of[a.strip()], row_of[b.strip()]) for a, b in zip(pairs.question1, pairs.question2)
            if a.strip() and b.strip()]
    a, b = np.array(keep, dtype=np.int64).reshape(-1, 2).T
    return a, b


def _duplicate_sets(duplicates: Pairs, row_of: dict[str, int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    a, b = _pair_rows(duplicates, row_of)
    for x, y in zip(a, b):
        out.setdefault(int(x), set()).add(int(y))
        out.setdefault(int(y), set()).add(int(x))
    return out


def _candidate_rows(queries: np.ndarray, vectors: np.ndarray, rows: LexicalRows, postings,
                    duplicates_of: dict[int, set[int]], stats: LexicalStats) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every (query, candidate) pair a hybrid search would score."""
    depth = hybrid_search.DEPTH + 1  # +1: the query finds itself, dropped below
    query_rows = rows.take(queries)
    _, dense = search_backends.exact_topk(vectors[queries], vectors, depth)
    _, lexical = hybrid_search.lexical_topk(query_rows, postings, depth, None)
    candidates = [c[c != q] for q, c in zip(queries, hybrid_search.candidate_union(dense, lexical))]
    which = np.repeat(queries, [len(c) for c in candidates])
    flat = np.concatenate(candidates)
    cosine = np.einsum("nd,nd->n", vectors[which], vectors[flat])
    labels = np.array([c in duplicates_of.get(int(q), ()) for q, c in zip(which, flat)], dtype=np.float32)
    return pair_features(cosine, rows.take(which), rows.take(flat), stats), labels
