"""A re-ranker's shortlist: each query's best rows by its first trees get every tree's score."""

import numpy as np
import pytest

from qdup.scoring.booster import SHORTLIST_TREES, BoosterSettings, Reranker

lightgbm = pytest.importorskip("lightgbm")
NAMES = ("a", "b", "c", "d")


def ranking_reranker(rounds: int, seed: int = 0) -> tuple[Reranker, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = np.array([40, 3, 25, 0, 31])  # a query with fewer rows than kept, one with none
    x = rng.random((sizes.sum(), len(NAMES))).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] + 0.3 * rng.random(len(x)) > 1.0).astype(np.float32)
    settings = BoosterSettings(objective="lambdarank", rounds=rounds, min_rows_per_leaf=3, leaves=7)
    return Reranker.fit(x, y, NAMES, settings, groups=sizes[sizes > 0]), x, sizes


def test_each_querys_best_rows_by_the_first_trees_get_the_full_score():
    reranker, x, sizes = ranking_reranker(SHORTLIST_TREES + 30)
    keep = 8
    full, short = reranker.predict(x), reranker.predict_shortlist(x, sizes, keep)
    first = lightgbm.Booster(model_str=reranker.to_text()).predict(x, raw_score=True, num_iteration=SHORTLIST_TREES)
    start = 0
    for size in sizes:
        rows = slice(start, start + size)
        start += size
        expected = np.argsort(-first[rows], kind="stable")[: min(keep, size)]
        kept = np.flatnonzero(np.isfinite(short[rows]))
        assert sorted(kept.tolist()) == sorted(expected.tolist())
        np.testing.assert_allclose(short[rows][kept], full[rows][kept], rtol=1e-6)
        assert (short[rows][~np.isin(np.arange(size), kept)] == -np.inf).all()
    assert np.isinf(short).sum() == sum(max(size - keep, 0) for size in sizes) > 0


def test_few_rows_or_few_trees_score_every_row_with_every_tree():
    reranker, x, sizes = ranking_reranker(SHORTLIST_TREES + 30)
    np.testing.assert_allclose(reranker.predict_shortlist(x, sizes, keep=40), reranker.predict(x), rtol=1e-6)
    small, x, sizes = ranking_reranker(SHORTLIST_TREES)  # no tree left after the first ones
    np.testing.assert_allclose(small.predict_shortlist(x, sizes, keep=2), small.predict(x), rtol=1e-6)
    assert small.predict_shortlist(x[:0], np.zeros(0, np.int64), keep=2).shape == (0,)


def test_threads_asking_for_other_ranges_of_trees_at_once_get_their_own_sums():
    """LightGBM sets the range of trees in the booster each call is given: one handle per range."""
    from concurrent.futures import ThreadPoolExecutor

    reranker, x, sizes = ranking_reranker(SHORTLIST_TREES + 60, seed=1)
    alone = {"short": reranker.predict_shortlist(x, sizes, 5), "full": reranker.predict(x)}

    def differs(kind: str) -> int:
        calls = {"short": lambda: reranker.predict_shortlist(x, sizes, 5), "full": lambda: reranker.predict(x)}
        return sum(not np.array_equal(calls[kind](), alone[kind]) for _ in range(300))

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(differs, ["short", "short", "full"])) == [0, 0, 0]


def test_a_binary_reranker_keeps_its_sigmoid_in_a_shortlist():
    rng = np.random.default_rng(2)
    x = rng.random((300, len(NAMES))).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.random(300) > 0.8).astype(np.float32)
    params = {"objective": "binary", "sigmoid": 2.5, "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    booster = lightgbm.train(params, lightgbm.Dataset(x, y), SHORTLIST_TREES + 20)
    reranker = Reranker.from_text(booster.model_to_string(), NAMES)
    sizes = np.array([150, 150])
    short, full = reranker.predict_shortlist(x, sizes, 10), reranker.predict(x)
    kept = np.isfinite(short)
    assert kept.sum() == 20
    np.testing.assert_allclose(short[kept], full[kept], rtol=1e-6)
    np.testing.assert_allclose(full, booster.predict(x, num_threads=1), rtol=1e-6)  # probabilities
