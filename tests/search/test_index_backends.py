"""The index behaves the same on every backend: exact, HNSW, Milvus Lite file, Milvus Lite server.

Each test builds the same index on the backend under test and on the exact backend (the
reference) and compares: ids and order exactly, scores to 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

from fake_model import FakeModel
from qdup import Index
from qdup.errors import DataError, UnknownIdError
from qdup.mining.pairs import mine_index

WORDS = "python rice learn cook fast weight java guitar sky blue case phone lose best way".split()
# Seeded word salad: distinct scores, so that ties cannot order results differently per backend.
_rng = np.random.default_rng(7)
QUESTIONS = [" ".join(_rng.choice(WORDS, 4)) + f" {n}?" for n in range(40)] + [
    "How do I learn Python?", "What is the best way to learn Python?", "How do I cook rice?",
    "Is Python good for beginners?", "What is an LSTM network?",
]
QUERIES = ["how to learn python", "best guitar case", "cook rice", QUESTIONS[12]]


def assert_same_results(got, expected) -> None:
    """Ids and order exact, scores to 1e-5; rows tied in score (within 1e-6) may come in any
    order, and the last group may hold any rows tied with it (some may lie beyond k)."""
    got, expected = list(got), list(expected)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)
        assert len(a.ids) == len(b.ids)
        groups = np.cumsum(np.r_[0, np.diff(b.scores) < -1e-6])  # same number: tied rows
        for g in np.unique(groups)[:-1]:
            where = np.flatnonzero(groups == g)
            assert {(a.ids[i], a.questions[i]) for i in where} == {(b.ids[i], b.questions[i]) for i in where}


def build(tmp_path, model, backend, questions=QUESTIONS, name="idx", **kw) -> Index:
    kind, options = backend
    return Index.build(model, None, questions, tmp_path / name, backend=kind, options=options, **kw)


def test_same_answers_as_exact(tmp_path, fake_model, backend):
    index = build(tmp_path, fake_model, backend)
    exact = Index.build(fake_model, None, QUESTIONS, tmp_path / "exact", backend="exact")
    for k in (1, 5, len(QUESTIONS) + 3):
        assert_same_results(index.search(fake_model, QUERIES, k=k), exact.search(fake_model, QUERIES, k=k))
    assert_same_results(index.search(fake_model, QUERIES, k=5, threshold=0.5),
                        exact.search(fake_model, QUERIES, k=5, threshold=0.5))
    assert_same_results(Index.load(index.path).search(fake_model, QUERIES, k=5), exact.search(fake_model, QUERIES, k=5))
    assert index.backend["backend"] == backend[0]


def test_add_remove_get_live_match_exact(tmp_path, fake_model, backend):
    index = build(tmp_path, fake_model, backend, metadata=[{"n": n} for n in range(len(QUESTIONS))])
    exact = Index.build(fake_model, None, QUESTIONS, tmp_path / "exact", backend="exact",
                        metadata=[{"n": n} for n in range(len(QUESTIONS))])
    for target in (index, exact):
        target.add(fake_model, ["A late question about learning java?"], ids=[str(len(QUESTIONS) + 2)])  # an auto id, taken
        assert target.add(fake_model, ["Two late?", "Three late?"], metadata=[{"url": "u"}, {}]) == ["46", "48"]
        target.remove(["5", "46"])
        target.add(fake_model, ["question 5 again?"], ids=["5"])  # a removed id may come back
    reloaded = Index.load(index.path)
    assert_same_results(reloaded.search(fake_model, QUERIES + ["two late"], k=6),
                        exact.search(fake_model, QUERIES + ["two late"], k=6))
    assert len(reloaded) == len(exact) == len(QUESTIONS) + 2
    assert reloaded.get("5").question == "question 5 again?" and reloaded.get("48").metadata == {}
    assert reloaded.get("7").metadata == {"n": 6}  # ids count from 1
    with pytest.raises(UnknownIdError):
        reloaded.get("46")
    vectors, ids, questions = reloaded.live()
    e_vectors, e_ids, e_questions = exact.live()
    assert (ids, questions) == (e_ids, e_questions) and reloaded.live_metadata() == exact.live_metadata()
    np.testing.assert_allclose(vectors, e_vectors, rtol=1e-6)


def test_refused_writes_change_nothing(tmp_path, fake_model, backend):
    index = build(tmp_path, fake_model, backend)
    with pytest.raises(DataError, match="already in the index"):
        index.add(fake_model, ["new?", "newer?"], ids=["x", "3"])
    with pytest.raises(UnknownIdError):
        index.remove(["1", "nope"])
    assert len(Index.load(index.path)) == len(QUESTIONS)
    with pytest.raises(UnknownIdError):
        index.get("x")
    assert index.get("1").question == QUESTIONS[0]


def test_another_model_is_refused(tmp_path, fake_model, backend):
    index = build(tmp_path, fake_model, backend)
    with pytest.raises(DataError, match="was built with model"):
        Index.load(index.path).search(FakeModel(salt="b"), ["how to learn python"])


def test_mining_matches_exact(tmp_path, fake_model, backend):
    index = build(tmp_path, fake_model, backend)
    exact = Index.build(fake_model, None, QUESTIONS, tmp_path / "exact", backend="exact")
    got, expected = mine_index(index, threshold=0.8), mine_index(exact, threshold=0.8)
    assert [(p.id1, p.id2) for p in got] == [(p.id1, p.id2) for p in expected] and got
    np.testing.assert_allclose([p.score for p in got], [p.score for p in expected], rtol=1e-5)
