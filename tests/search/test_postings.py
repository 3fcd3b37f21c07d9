"""Lexical candidates from the postings of rare n-grams equal a brute-force scan over those n-grams."""

import numpy as np
import pytest

from helpers import POOL
from qdup.search.postings import RarePostings
from qdup.text.lexical import LexicalStats

QUERIES = ["how to learn python", "best case for iphone 6", "rice", "zzz", "How do I learn Python?"]


@pytest.fixture(scope="module")
def stats() -> LexicalStats:
    return LexicalStats.fit(POOL)


@pytest.mark.parametrize("max_rows", [1, 2, 3, 1000])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_rare_postings_equal_brute_force_over_the_rare_ngrams(stats, max_rows, k):
    rows, queries = stats.rows(POOL), stats.rows(QUERIES)
    dead = np.zeros(len(POOL), bool)
    dead[2] = True
    scores, found = RarePostings(rows.chars, max_rows).topk(queries, k, dead)
    rare = np.diff(rows.chars.tocsc().indptr) <= max_rows  # per bucket: in at most max_rows rows
    brute = (queries.chars.multiply(rare[None, :]) @ rows.chars.T).toarray()
    touched = ((queries.chars.multiply(rare[None, :]) != 0).astype(np.float32) @ (rows.chars != 0).T).toarray() > 0
    brute[~touched | dead[None, :]] = -np.inf  # rows sharing no rare n-gram are no candidates
    for q in range(len(QUERIES)):
        order = [r for r in np.lexsort((np.arange(len(POOL)), -brute[q])) if np.isfinite(brute[q, r])][:k]
        assert found[q, : len(order)].tolist() == order and (found[q, len(order):] == -1).all()
        np.testing.assert_allclose(scores[q, : len(order)], brute[q, order], rtol=1e-5)
    assert 2 not in found
    assert (found[3] == -1).all()  # "zzz" shares no n-gram with any row


def test_common_ngrams_make_no_candidates(stats):
    rows = stats.rows(["aaa bbb", "aaa ccc", "aaa ddd"])
    postings = RarePostings(rows.chars, max_rows=2)  # every n-gram of "aaa" is in 3 rows: skipped
    _, found = postings.topk(stats.rows(["aaa"]), 3, None)
    assert (found == -1).all()
    _, found = postings.topk(stats.rows(["aaa ccc"]), 3, None)
    assert found[0].tolist() == [1, -1, -1]
