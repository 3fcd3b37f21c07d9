"""Hybrid search: candidates from the vectors and from the words, then one scorer ranks them.

Each query takes its ``depth`` nearest stored questions by cosine and its ``depth`` nearest
by character n-gram TF-IDF; the union (at most ``2 * depth``) is scored by the model's
scorer, which sees both questions' words, and the best ``k`` are returned. On the Quora
validation queries the union holds the known duplicate for 96% of queries at depth 30,
where either side alone holds it for 89-91% (docs/benchmarks.md).

:func:`candidates` is the one way candidates are made: over an index's store by
:func:`hybrid_topk`, and over the training pool (:class:`InMemoryRows`) when the
re-ranker learns from what a search would show it (:mod:`qdup.training.scorer_fit`).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, Sequence

import numpy as np

from ..text.lexical import LexicalRows
from .backends import Store
from .postings import best_alive, rare_postings, rescores
from .topk import empty_topk, exact_topk

DEPTH = 30  # candidates per side; chosen on validation queries (docs/benchmarks.md)
# The HNSW walk's breadth for the dense candidates: the re-ranker and the word candidates
# make up for a missed neighbour. Validation recall@1/@10/MRR are the same at 40 to 256;
# the walk costs a third of 256's (docs/benchmarks.md).
CANDIDATE_EF_SEARCH = 64
# A stored question whose text is the query's (case and spacing aside) is its best match,
# whatever the re-ranker says: on validation queries searched for themselves the re-ranker
# put a close paraphrase first for 13% (docs/benchmarks.md). Only candidates this close by
# cosine can be the same text (it encodes to the same vector), so few texts are compared.
SAME_TEXT_COSINE = 0.999
SAME_TEXT_SCORE = 1.0
# Re-ranker scores are a float32 logistic, which rounds to 1.0 for a raw score above ~17:
# capped just below, only a stored copy of the query scores SAME_TEXT_SCORE.
BELOW_SAME_TEXT = np.nextafter(np.float32(SAME_TEXT_SCORE), np.float32(0))
# Candidates per query that the scorer ranks fully; the rest are left out after a first,
# cheaper look (a re-ranker's first trees, qdup.scoring.booster.SHORTLIST_TREES): the same
# validation recall at 0.6 of the trees' cost (docs/benchmarks.md). Never fewer than the
# results asked for.
SHORTLIST = 20
QUERY_CHUNK = 64  # bounds the (queries x rows) lexical score block of the exact scan


def lexical_topk(queries: LexicalRows, postings, k: int, dead: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` rows by char TF-IDF cosine; ``postings`` is the (buckets, rows) scipy
    matrix ``rows.chars.to_scipy().T.tocsr()``. Searches use the rare n-gram postings instead
    (:func:`~qdup.search.postings.rare_postings`), whose cost does not grow with the corpus;
    this scan is the reference they are measured against (benchmarks, tests).

    Multiplying by the inverted (term -> rows) matrix touches only the posting lists of
    the query's own n-grams, and the top ``k`` is taken among the rows that share one with
    the query (a few thousand of 51k): rows sharing none are no candidates.
    """
    scores, rows = empty_topk(len(queries), k)
    chars = queries.chars.to_scipy()
    for start in range(0, len(queries), QUERY_CHUNK):
        block = (chars[start : start + QUERY_CHUNK] @ postings).tocsr()  # (q, rows), sparse
        for n in range(block.shape[0]):
            span = slice(block.indptr[n], block.indptr[n + 1])
            value, found = best_alive(block.indices[span], block.data[span], k, dead)
            scores[start + n, : len(found)], rows[start + n, : len(found)] = value, found
    return scores, rows


class CandidateSource(Protocol):
    """Where candidates come from: an index's :class:`~qdup.search.backends.Store`, or :class:`InMemoryRows`."""

    def dense_topk(self, queries: np.ndarray, k: int, where=None, ef=None) -> tuple[np.ndarray, np.ndarray]: ...

    def lexical_topk(self, queries: LexicalRows, k: int, where=None) -> np.ndarray: ...


class InMemoryRows:
    """Rows held in memory (a training pool), every one live: exact cosine, char TF-IDF as an index searches it."""

    def __init__(self, vectors: np.ndarray, lexical: LexicalRows) -> None:
        self.vectors, self.lexical = vectors, lexical

    def dense_topk(self, queries: np.ndarray, k: int, ef=None) -> tuple[np.ndarray, np.ndarray]:
        return exact_topk(queries, self.vectors, k)

    def lexical_topk(self, queries: LexicalRows, k: int) -> np.ndarray:
        stored = self.lexical.chars if rescores(len(self.vectors)) else None
        return rare_postings(self.lexical).topk(queries, k, None, stored)[1]


def candidates(source: CandidateSource, query_vectors: np.ndarray, query_rows: LexicalRows,
               depth: int, where=None) -> list[np.ndarray]:
    """Per query, its ``depth`` nearest rows by cosine and its ``depth`` nearest by words
    (among rows passing the :class:`~qdup.search.filters.Filter` ``where``, if given):
    the distinct rows the scorer ranks, the cosine's first."""
    if where is None:  # sources without metadata (a training pool) take no filter
        _, dense = source.dense_topk(query_vectors, depth, ef=CANDIDATE_EF_SEARCH)
        return candidate_union(dense, source.lexical_topk(query_rows, depth))
    _, dense = source.dense_topk(query_vectors, depth, where, ef=CANDIDATE_EF_SEARCH)
    return candidate_union(dense, source.lexical_topk(query_rows, depth, where))


def candidate_union(dense_rows: np.ndarray, lexical_rows: np.ndarray) -> list[np.ndarray]:
    """Per query, the distinct candidate rows of both lists (dense first), without the -1 padding."""
    # dict.fromkeys keeps the first of each, in order: at ~60 rows, quicker than np.unique
    # (whose first call also imports numpy.ma, 17 ms of every `qdup search`)
    return [np.fromiter(dict.fromkeys(np.concatenate([a[a >= 0], b[b >= 0]]).tolist()), dtype=np.int64)
            for a, b in zip(dense_rows, lexical_rows)]


class Ranked(NamedTuple):
    """What :func:`rerank` returns: per query its best ``k`` (``scores``, ``rows``; -1
    padding), the scorer's ``features`` of every candidate pair (an empty array when there
    is none), and ``at``: the row of ``features`` each best match came from (-1 padding), so
    the best few can also be judged as pairs without computing their features again
    (:func:`pair_verdicts`)."""

    scores: np.ndarray
    rows: np.ndarray
    features: np.ndarray
    at: np.ndarray


def rerank(query_vectors: np.ndarray, query_rows: LexicalRows, candidates: Sequence[np.ndarray],
           gather, scorer, k: int, same_text=None) -> Ranked:
    """Score every (query, candidate) pair with ``scorer``; the best ``k`` per query, best first.

    ``gather(rows) -> (vectors, LexicalRows)`` looks up stored candidates by row number.
    ``same_text(queries, rows) -> bool array``: whether each stored row holds its query's
    text; such a row scores :data:`SAME_TEXT_SCORE`.
    """
    sizes = np.array([len(c) for c in candidates], dtype=np.int64)  # int even for no query
    # Each query's candidates by row: a scorer's shortlist then breaks ties as the ranking
    # below does (by row), so it never keeps one of two equal rows and shows the other.
    flat = np.concatenate([np.sort(c) for c in candidates]) if len(candidates) else np.zeros(0, np.int64)
    which = np.repeat(np.arange(len(candidates)), sizes)  # query of each pair
    scores, features = np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
    if len(flat):  # an index whose rows were all removed has none (and no segment to gather from)
        vectors, rows = gather(flat)
        cosine = np.einsum("nd,nd->n", query_vectors[which], vectors)
        features = scorer.features(cosine, query_rows, rows, which)
        scores = np.minimum(scorer.rank_features(features, sizes, max(k, SHORTLIST)), BELOW_SAME_TEXT)
        near = np.flatnonzero(cosine >= SAME_TEXT_COSINE) if same_text is not None else []
        if len(near):
            scores[near[same_text(which[near], flat[near])]] = SAME_TEXT_SCORE
    best_scores, best_rows = empty_topk(len(candidates), k)
    best_at = np.full(best_rows.shape, -1, np.int64)
    for n, start in enumerate(np.cumsum(sizes) - sizes):  # each query's first pair (none for no query)
        s, r = scores[start : start + sizes[n]], flat[start : start + sizes[n]]
        order = np.lexsort((r, -s))[:k]  # best first; ties by row, so results are deterministic
        best_scores[n, : len(order)], best_rows[n, : len(order)] = s[order], r[order]
        best_at[n, : len(order)] = start + order
    return Ranked(best_scores, best_rows, features, best_at)


def hybrid_topk(store: Store, stored: int, query_vectors: np.ndarray, query_rows: LexicalRows, scorer,
                k: int, where=None, questions: Sequence[str] | None = None) -> Ranked:
    """The candidates of a store holding ``stored`` live rows (among those passing the
    filter ``where``), ranked by ``scorer`` (whose lexical rows it stores): the best
    ``min(k, stored)`` per query (:class:`Ranked`); a stored copy of a query's text among
    ``questions`` (the queries' texts) comes first."""
    stored = max(stored, 1)
    k = min(k, stored)  # never allocate (q, k) for a k beyond the stored rows
    found = candidates(store, query_vectors, query_rows, min(max(k, DEPTH), stored), where)

    def same_text(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        texts = [question for _, question, _ in store.records(rows)]
        return np.array([same_question(questions[q], t) for q, t in zip(queries, texts)], dtype=bool)

    return rerank(query_vectors, query_rows, found, lambda picked: store.gather(picked, scorer.lexical), scorer, k,
                  same_text if questions is not None else None)


def hybrid_search(store: Store, stored: int, model, questions: Sequence[str], k: int,
                  where=None, verdicts_above: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(scores, rows, verdicts)``: :func:`hybrid_topk` for ``model``'s queries, and for the
    matches above its search threshold (and above ``verdicts_above``, when lower: checked by
    the caller) the pair scorer's verdicts (:func:`pair_verdicts`; None: neither threshold).
    A model whose search threshold was never calibrated flags its top match above the pair
    threshold (:func:`~qdup.scoring.thresholds.likely_duplicates`): those are asked too."""
    ranked = hybrid_topk(store, stored, model.encode(questions), model.scorer.lexical.rows(questions), model.scorer,
                         k, where, questions)
    flag_above = model.threshold if model.search_threshold is None else model.search_threshold
    above = min((t for t in (flag_above, verdicts_above) if t is not None), default=None)
    if above is None:
        return ranked.scores, ranked.rows, None
    return ranked.scores, ranked.rows, pair_verdicts(model.scorer, ranked, above, model.threshold)


def pair_verdicts(scorer, ranked: Ranked, above: float, threshold: float) -> np.ndarray:
    """``(q, k)``: whether the pair scorer judges each match scoring above ``above`` a duplicate
    of its query (pair score above ``threshold``), a stored copy of the query always; False
    for the others, which are not asked (a few pairs per search, not the whole page). The
    matches' features are the ones the search ranked them by: none is computed again."""
    scores, rows = ranked.scores, ranked.rows
    copies = scores >= SAME_TEXT_SCORE
    verdicts = copies.copy()
    # float64 as likely_duplicates compares: a float32 compare would round ``above``
    # rows >= 0 also keeps the padding's at == -1 out: numpy would read it as the last row
    asked = (scores.astype(np.float64) > above) & (rows >= 0) & ~copies
    if asked.any():
        verdicts[asked] = scorer.score_features(ranked.features[ranked.at[asked]]) > threshold
    return verdicts


def same_question(a: str, b: str) -> bool:
    """The same text, case and spacing aside."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
