"""Hybrid search: candidates by cosine and by words, their union, and the re-ranking."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import POOL
from qdup.search import hybrid
from qdup.search.local.segments import Segment
from qdup.search.local.store import GRAPH_RULES, LocalStore
from qdup.search.topk import exact_topk
from qdup.text.lexical import LexicalStats


@pytest.fixture(scope="module")
def stats() -> LexicalStats:
    return LexicalStats.fit(POOL)


def test_lexical_topk_equals_brute_force(stats):
    rows = stats.rows(POOL)
    queries = stats.rows(["how to learn python", "best case for iphone 6", "rice", "zzz"])
    dead = np.zeros(len(POOL), bool)
    dead[1] = True
    scores, found = hybrid.lexical_topk(queries, rows.chars.to_scipy().T.tocsr(), 3, dead)
    brute = (queries.chars.to_scipy() @ rows.chars.to_scipy().T).toarray()
    brute[:, dead] = -np.inf
    for q in range(len(queries)):
        order = [r for r in np.lexsort((np.arange(len(POOL)), -brute[q])) if brute[q, r] > 0][:3]
        assert found[q, : len(order)].tolist() == order and (found[q, len(order):] == -1).all()
        np.testing.assert_allclose(scores[q, : len(order)], brute[q, order], rtol=1e-5)
    assert 1 not in found
    assert (found[3] == -1).all()  # shares no n-gram with any row: no lexical candidate


def test_candidate_union_keeps_dense_order_and_drops_padding():
    dense = np.array([[3, 1, -1]])
    lexical = np.array([[1, 4, 3]])
    [union] = hybrid.candidate_union(dense, lexical)
    assert union.tolist() == [3, 1, 4]


def test_rerank_returns_the_best_k_by_score():
    class ByCosine:
        def features(self, cosine, queries, candidates, query_of):
            assert len(query_of) == len(cosine) == len(candidates)  # one query's row, not copies
            return cosine[:, None]

        def rank_features(self, features, sizes=None, keep=None):
            return features[:, 0]

    vectors = np.eye(4, dtype=np.float32)
    query = np.array([[0.1, 0.9, 0.3, 0.0]], np.float32)
    rows = LexicalStats.fit(POOL).rows(["a", "b", "c", "d"])
    gather = lambda picked: (vectors[picked], rows.take(picked))  # noqa: E731
    scores, found, features, at = hybrid.rerank(query, rows.take(np.array([0])), [np.array([0, 1, 2, 3])],
                                                gather, ByCosine(), k=2)
    assert found.tolist() == [[1, 2]]
    np.testing.assert_allclose(scores, [[0.9, 0.3]], rtol=1e-6)
    assert at.tolist() == [[1, 2]]  # where each best match's features are: candidates 1 and 2
    np.testing.assert_allclose(features[at[0], 0], [0.9, 0.3], rtol=1e-6)
    padded = hybrid.rerank(query, rows.take(np.array([0])), [np.array([2])], gather, ByCosine(), k=3)
    assert padded.rows.tolist() == [[2, -1, -1]] and padded.at.tolist() == [[0, -1, -1]]


class KeepBest:
    """A shortlisting scorer: each query's best ``keep`` by ``sign`` x cosine, ties by place
    (as Reranker.predict_shortlist breaks them); the others score -inf. Records what it is asked."""

    def __init__(self, sign: float = 1.0) -> None:
        self.sign, self.asked = sign, []

    def features(self, cosine, queries, candidates, query_of):
        return self.sign * cosine[:, None]

    def rank_features(self, features, sizes=None, keep=None):
        self.asked.append((sizes.tolist(), keep))
        scores, start = np.full(len(features), -np.inf, np.float32), 0
        for size in sizes:
            best = start + np.argsort(-features[start : start + size, 0], kind="stable")[:keep]
            scores[best], start = features[best, 0], start + size
        return scores


def test_a_shortlisting_scorer_is_asked_for_at_least_the_results_and_its_left_out_rows_never_show():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = LexicalStats.fit(POOL).rows([POOL[n % len(POOL)] for n in range(60)])
    gather = lambda picked: (vectors[picked], rows.take(picked))  # noqa: E731
    found, queries, query_rows = [np.arange(50), np.arange(50, 60)], vectors[[7, 55]], rows.take(np.array([0, 1]))
    scorer = KeepBest()
    ranked = hybrid.rerank(queries, query_rows, found, gather, scorer, k=5)
    assert scorer.asked == [([50, 10], hybrid.SHORTLIST)]
    assert np.isfinite(ranked.scores).all() and ranked.rows[:, 0].tolist() == [7, 55]
    hybrid.rerank(queries, query_rows, found, gather, scorer, k=hybrid.SHORTLIST + 5)
    assert scorer.asked[-1][1] == hybrid.SHORTLIST + 5  # never fewer than the results asked for

    # Row 7 holds query 0's text but is the least similar by this scorer, so it is left out:
    # a stored copy of the query still comes first, and no left-out row shows.
    ranked = hybrid.rerank(queries, query_rows, found, gather, KeepBest(-1), k=5, same_text=lambda q, r: r == 7)
    assert ranked.rows[0, 0] == 7 and ranked.scores[0, 0] == hybrid.SAME_TEXT_SCORE
    assert np.isfinite(ranked.scores).all()


def test_a_shortlist_keeps_the_lower_row_of_two_equal_candidates_as_the_ranking_does(monkeypatch):
    monkeypatch.setattr(hybrid, "SHORTLIST", 1)
    vectors = np.eye(4, dtype=np.float32)[[0, 1, 1, 2]]  # rows 1 and 2: the same vector
    rows = LexicalStats.fit(POOL).rows(POOL[:4])
    gather = lambda picked: (vectors[picked], rows.take(picked))  # noqa: E731
    query = np.array([[0.1, 0.9, 0.0, 0.3]], np.float32)
    for order in ([2, 1, 0, 3], [1, 2, 3, 0]):  # the lists come dense first, in any row order
        ranked = hybrid.rerank(query, rows.take(np.array([0])), [np.array(order)], gather, KeepBest(), k=1)
        assert ranked.rows.tolist() == [[1]]  # ties by row, as without a shortlist


def test_exact_candidates_feed_the_union():
    v = np.eye(3, dtype=np.float32)
    _, rows = exact_topk(v[:1], v, 2)
    assert rows[0, 0] == 0


@pytest.mark.parametrize("rescore_from", [None, 0])  # 0: every store rescores its lexical candidates
@pytest.mark.parametrize("depth", [3, 20])  # 20: more than the stored rows
def test_the_training_pool_and_an_index_make_the_same_candidates(stats, depth, rescore_from, monkeypatch):
    """The re-ranker trains on the candidates a search over its pool would show it."""
    from qdup.search import postings

    rows = stats.rows(POOL)
    postings.remember(rows, postings.RarePostings.of(rows.chars, max_rows=3))  # some n-grams not rare
    if rescore_from is not None:
        lists = lambda: hybrid.InMemoryRows(np.zeros((len(POOL), 1)), rows).lexical_topk(rows, 3)  # noqa: E731
        before = lists()
        monkeypatch.setattr(postings, "RESCORE_FROM_ROWS", rescore_from)
        monkeypatch.setattr(postings, "RESCORE_POOL", len(POOL))
        assert (lists() != before).any()  # rescored lists are other lists: the comparison below means something
    vectors = np.random.default_rng(0).normal(size=(len(POOL), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    segment = Segment("seg-000001", vectors, [str(n) for n in range(len(POOL))], POOL, np.zeros(len(POOL), bool),
                      lexical=rows)
    store = LocalStore((segment,), GRAPH_RULES["exact"])
    queries = np.array([0, 2, 5])
    pool = hybrid.candidates(hybrid.InMemoryRows(vectors, rows), vectors[queries], rows.take(queries), depth)
    index = hybrid.candidates(store, vectors[queries], rows.take(queries), depth)
    assert [c.tolist() for c in pool] == [c.tolist() for c in index]
    assert all(len(c) >= min(depth, len(POOL)) and c[0] == q for c, q in zip(pool, queries))  # itself first


def test_dense_candidates_walk_the_graph_with_the_candidate_breadth(stats, monkeypatch):
    """Search asks the HNSW graph for its candidates with CANDIDATE_EF_SEARCH, not the default breadth."""
    from qdup.search import topk

    asked = []
    walk = topk.hnsw_topk
    monkeypatch.setattr(topk, "hnsw_topk", lambda *args: asked.append(args[4]) or walk(*args))
    rows = stats.rows(POOL)
    vectors = np.random.default_rng(0).normal(size=(len(POOL), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    segment = Segment("seg-000001", vectors, [str(n) for n in range(len(POOL))], POOL, np.zeros(len(POOL), bool),
                      ann=topk.HnswSearch.build(vectors), lexical=rows)
    store = LocalStore((segment,), GRAPH_RULES["hnsw"])
    [found] = hybrid.candidates(store, vectors[:1], rows.take(np.array([0])), 3)
    assert asked == [hybrid.CANDIDATE_EF_SEARCH] and found[0] == 0
    store.dense_topk(vectors[:1], 3)  # a plain vector search keeps the default breadth
    assert asked[-1] is None



def test_a_fresh_build_stores_its_arrays_without_copying_them(stats, tmp_path):
    """A million questions' vectors and lexical rows are GBs: the merge of a fresh build keeps them as they are."""
    from qdup.search.local.segments import compacted

    rows = stats.rows(POOL)
    vectors = np.random.default_rng(0).normal(size=(len(POOL), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    fresh = Segment("", vectors, [str(n) for n in range(len(POOL))], POOL, np.zeros(len(POOL), bool), lexical=rows)
    manifest, [stored] = compacted(tmp_path, {"generation": 0, "dim": 16}, [fresh], GRAPH_RULES["hnsw"])
    assert stored.vectors is vectors and stored.lexical is rows and stored.ann is not None
    assert stored.name == "seg-000001" and manifest["count"] == len(POOL)
    assert (tmp_path / "seg-000001.lexical.npz").is_file() and set(stored.files) == set(
        p.name for p in tmp_path.iterdir())


def test_find_gives_the_live_rows_of_stored_ids_across_segments():
    """The service looks ids up on every search (canonical links, GET): one table per generation."""
    vectors = np.eye(4, dtype=np.float32)
    first = Segment("seg-000001", vectors[:2], ["a", "b"], ["qa", "qb"], np.array([False, True]))
    second = Segment("seg-000002", vectors[2:], ["b", "c"], ["qb2", "qc"], np.zeros(2, bool))
    store = LocalStore((first, second), GRAPH_RULES["exact"])
    assert store.find(["c", "b", "a", "zz"]) == {"a": 0, "b": 2, "c": 3}  # "b" removed in the first, re-added
    assert store.find(["b"]) == {"b": 2} and store.find([]) == {}
    assert [store.records(np.array([r]))[0][1] for r in store.find(["b", "c"]).values()] == ["qb2", "qc"]
