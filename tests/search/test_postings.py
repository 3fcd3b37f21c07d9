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


def assert_brute_force(rows, queries, max_rows, k, dead, scores, found):
    """``(scores, found)`` are the top-``k`` rows by the dot product over the rare n-grams."""
    stored, asked = rows.chars.to_scipy(), queries.chars.to_scipy()
    rare = np.diff(stored.tocsc().indptr) <= max_rows  # per bucket: in at most max_rows rows
    brute = (asked.multiply(rare[None, :]) @ stored.T).toarray()
    touched = ((asked.multiply(rare[None, :]) != 0).astype(np.float32) @ (stored != 0).T).toarray() > 0
    brute[~touched | dead[None, :]] = -np.inf  # rows sharing no rare n-gram are no candidates
    for q in range(len(queries)):
        order = [r for r in np.lexsort((np.arange(len(rows)), -brute[q])) if np.isfinite(brute[q, r])][:k]
        assert found[q, : len(order)].tolist() == order and (found[q, len(order):] == -1).all()
        np.testing.assert_allclose(scores[q, : len(order)], brute[q, order], rtol=1e-5)


@pytest.mark.parametrize("max_rows", [1, 2, 3, 1000])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_rare_postings_equal_brute_force_over_the_rare_ngrams(stats, max_rows, k):
    rows, queries = stats.rows(POOL), stats.rows(QUERIES)
    dead = np.zeros(len(POOL), bool)
    dead[2] = True
    scores, found = RarePostings.of(rows.chars, max_rows).topk(queries, k, dead)
    assert_brute_force(rows, queries, max_rows, k, dead, scores, found)
    assert 2 not in found
    assert (found[3] == -1).all()  # "zzz" shares no n-gram with any row


@pytest.mark.parametrize("max_rows", [2, 1000])
def test_queries_touching_more_entries_than_int32_positions_score_the_same(stats, monkeypatch, max_rows):
    from qdup.search import postings

    rows, queries = stats.rows(POOL), stats.rows(QUERIES)
    made = RarePostings.of(rows.chars, max_rows)
    narrow = made.topk(queries, 50, None)
    monkeypatch.setattr(postings, "MAX_INT32_POSITIONS", 1)  # every query keys its rows with int64 positions
    wide = made.topk(queries, 50, None)
    assert_brute_force(rows, queries, max_rows, 50, np.zeros(len(POOL), bool), *wide)
    assert wide[1].tolist() == narrow[1].tolist()
    np.testing.assert_allclose(wide[0], narrow[0], rtol=1e-6)
    assert postings._LAST_AT_WIDE.row.dtype == np.int64


def test_segments_of_any_size_on_any_thread_score_right(stats):
    """Each thread's scratch row is reused from query to query and segment to segment, stale
    where another query wrote it: only what a query wrote itself may be read."""
    from concurrent.futures import ThreadPoolExecutor

    segments = [stats.rows(POOL), stats.rows(POOL[::-3]), stats.rows(POOL[:4])]
    postings = [RarePostings.of(rows.chars, 3) for rows in segments]
    queries = stats.rows(QUERIES * 2)
    dead = [np.arange(len(rows)) % 5 == 1 for rows in segments]  # a few removed rows in each

    def searched(n: int):
        return n % 3, *postings[n % 3].topk(queries, 5, dead[n % 3])

    with ThreadPoolExecutor(3) as pool:
        for s, scores, found in pool.map(searched, range(60)):
            assert_brute_force(segments[s], queries, 3, 5, dead[s], scores, found)


def test_common_ngrams_make_no_candidates(stats):
    rows = stats.rows(["aaa bbb", "aaa ccc", "aaa ddd"])
    postings = RarePostings.of(rows.chars, max_rows=2)  # every n-gram of "aaa" is in 3 rows: skipped
    _, found = postings.topk(stats.rows(["aaa"]), 3, None)
    assert (found == -1).all()
    _, found = postings.topk(stats.rows(["aaa ccc"]), 3, None)
    assert found[0].tolist() == [1, -1, -1]


@pytest.mark.parametrize("pool", [1, 4, 50])
def test_a_pool_by_the_rare_ngrams_is_rescored_on_every_ngram(stats, monkeypatch, pool):
    from qdup.search import postings

    monkeypatch.setattr(postings, "RESCORE_POOL", pool)
    rows, queries = stats.rows(POOL), stats.rows(QUERIES)
    dead = np.zeros(len(POOL), bool)
    dead[2] = True
    rare = RarePostings.of(rows.chars, max_rows=2)
    scores, found = rare.topk(queries, 3, dead, rows.chars)
    _, by_rare = rare.topk(queries, max(3, pool), dead)  # the pool: the best by the rare n-grams alone
    exact = (queries.chars.to_scipy() @ rows.chars.to_scipy().T).toarray()  # every n-gram
    for q in range(len(QUERIES)):
        candidates = by_rare[q][by_rare[q] >= 0]
        order = candidates[np.lexsort((candidates, -exact[q, candidates]))][:3]
        assert found[q, : len(order)].tolist() == order.tolist() and (found[q, len(order):] == -1).all()
        np.testing.assert_allclose(scores[q, : len(order)], exact[q, order], rtol=1e-5)
    assert (found[3] == -1).all()  # no rare n-gram shared: nothing to rescore
    if pool == 50:  # every candidate in the pool: some query's order differs from the rare n-grams' alone
        _, rare_only = rare.topk(queries, 3, dead)
        assert (rare_only != found).any()


def test_exact_scores_are_dot_products_on_every_thread(stats):
    from concurrent.futures import ThreadPoolExecutor

    from qdup.search.postings import exact_scores

    rows, queries = stats.rows(POOL), stats.rows(QUERIES)
    expected = (queries.chars.to_scipy() @ rows.chars.to_scipy().T).toarray()
    picked = np.array([5, 0, 3, 3, len(POOL) - 1])

    def scored(q: int) -> np.ndarray:
        span = slice(queries.chars.indptr[q], queries.chars.indptr[q + 1])
        return exact_scores(rows.chars, picked, queries.chars.indices[span], queries.chars.data[span])

    asked = [q % len(QUERIES) for q in range(400)]
    with ThreadPoolExecutor(4) as pool:  # each thread's dense query row is its own, and left clean
        for q, got in zip(asked, pool.map(scored, asked)):
            np.testing.assert_allclose(got, expected[q, picked], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("picked", [[0, 1, 2, 3], [3], [1, 3], [3, 1, 0, 1], []])
def test_exact_scores_of_rows_without_entries_are_zero(picked):
    from qdup.search.postings import exact_scores
    from qdup.text.sparse import SparseRows

    stored = SparseRows(np.array([0.5, 0.25, 2.0], np.float32), np.array([1, 4, 4], np.int32),
                        np.array([0, 2, 2, 3, 3], np.int32), 6)  # rows 1 and 3 (the last) are empty
    query_columns, query_weights = np.array([1, 4], np.int32), np.array([2.0, 4.0], np.float32)
    expected = np.array([0.5 * 2 + 0.25 * 4, 0.0, 2.0 * 4, 0.0], np.float32)[picked]
    got = exact_scores(stored, np.array(picked, np.int64), query_columns, query_weights)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)  # an empty row's sum is exactly 0


def write_arrays(folder, arrays):
    np.savez(folder / "seg-000001.lexical.npz", **arrays)


def test_postings_are_stored_with_the_rows_and_read_back(stats, tmp_path):
    from qdup.search import postings
    from qdup.search.local.files import read_lexical, write_lexical

    rows = stats.rows(POOL)
    write_lexical(tmp_path, "seg-000001", rows)
    back = read_lexical(tmp_path, "seg-000001", len(POOL), {})
    stored, made = postings._MADE.get(back), RarePostings.of(back.chars)
    assert stored is not None  # read from the file: no search has made them yet
    for name in ("indptr", "rows", "weights"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(made, name))
    assert postings.rare_postings(back) is stored


@pytest.mark.parametrize("written_with", [None, 2])  # before postings were stored; with another max_rows
def test_stored_postings_are_used_as_written_and_missing_ones_made(stats, tmp_path, written_with):
    """Postings of another max_rows than today's rule are not made again (a million
    questions' cost every process that opens them ~4 s): a merge or a rebuild renews them."""
    from qdup.search import postings
    from qdup.search.local.files import read_lexical

    rows = stats.rows(POOL)
    extra = RarePostings.of(rows.chars, max_rows=written_with).to_arrays() if written_with else {}
    write_arrays(tmp_path, {**rows.to_arrays(), **extra})
    back = read_lexical(tmp_path, "seg-000001", len(POOL), {})
    assert (postings._MADE.get(back) is None) == (written_with is None)
    queries = stats.rows(QUERIES)
    expected = RarePostings.of(rows.chars, written_with).topk(queries, 5, None)
    got = postings.rare_postings(back).topk(queries, 5, None)
    assert postings.rare_postings(back).max_rows == (written_with or postings.MAX_POSTINGS)
    assert got[1].tolist() == expected[1].tolist()
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)


@pytest.mark.parametrize("rows, expected", [(1, 1000), (51_369, 1000), (100_000, 1000), (100_099, 1000),
                                            (100_100, 1001), (200_000, 2000), (1_000_000, 10_000)])
def test_segments_of_over_100_000_rows_keep_a_share_of_their_rows_per_ngram(rows, expected):
    from qdup.search.postings import max_postings

    assert max_postings(rows) == expected


def test_postings_made_without_max_rows_follow_the_segments_size(stats, monkeypatch):
    from qdup.search import postings

    rows = stats.rows(POOL)
    monkeypatch.setattr(postings, "POSTINGS_SHARE", 3 / len(POOL))  # 3 rows per n-gram for this pool
    monkeypatch.setattr(postings, "MAX_POSTINGS", 1)
    made = RarePostings.of(rows.chars)
    assert made.max_rows == 3
    queries = stats.rows(QUERIES)
    assert made.topk(queries, 5, None)[1].tolist() == RarePostings.of(rows.chars, 3).topk(queries, 5, None)[1].tolist()


@pytest.mark.parametrize("damage", ["row out of range", "bucket out of range", "lengths disagree", "negative row",
                                    "unsigned buckets out of order", "lengths whose sum overflows",
                                    "weights not numbers", "a bucket longer than kept"])
def test_damaged_stored_postings_are_one_line(stats, tmp_path, damage):
    from qdup.errors import DataError
    from qdup.search.local.files import read_lexical

    rows = stats.rows(POOL)
    arrays = {**rows.to_arrays(), **RarePostings.of(rows.chars).to_arrays()}
    if damage == "row out of range":
        arrays["postings_rows"][0] = len(POOL)
    elif damage == "negative row":
        arrays["postings_rows"][-1] = -1
    elif damage == "bucket out of range":
        arrays["postings_columns"][-1] = 2**20
    elif damage == "unsigned buckets out of order":
        arrays["postings_columns"] = arrays["postings_columns"][::-1].astype(np.uint32)
    elif damage == "lengths whose sum overflows":
        arrays["postings_lengths"] = arrays["postings_lengths"].astype(np.int64)
        arrays["postings_lengths"][:2] += [2**62, -(2**62)]  # the sum is still right
    elif damage == "weights not numbers":
        arrays["postings_weights"] = arrays["postings_weights"].astype(str)
    elif damage == "a bucket longer than kept":
        arrays["postings_kept"] = np.array([arrays["postings_lengths"].max() - 1])
    else:
        arrays["postings_lengths"][0] += 1
    write_arrays(tmp_path, arrays)
    with pytest.raises(DataError, match=r"is damaged: seg-000001.lexical.npz cannot be read$"):
        read_lexical(tmp_path, "seg-000001", len(POOL), {})


def test_postings_made_in_several_passes_equal_one_pass(stats, monkeypatch):
    from qdup.search import postings

    rows = stats.rows(POOL * 3)
    whole = RarePostings.of(rows.chars, max_rows=5)
    monkeypatch.setattr(postings, "ENTRIES_PER_PASS", 7)  # entries read 7 at a time, a pass per few buckets
    parts = RarePostings.of(rows.chars, max_rows=5)
    for name in ("indptr", "rows", "weights"):
        np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name))


def test_threads_asking_at_once_make_a_segments_postings_once(stats, monkeypatch):
    """The service's warm-up and its first searches ask for the postings together."""
    import threading
    import time
    import weakref

    from qdup.search import postings

    rows, made, second_asked = stats.rows(POOL), [], threading.Event()

    class Watched(weakref.WeakKeyDictionary):
        def get(self, key, default=None):
            if threading.current_thread().name == "second":
                second_asked.set()
            return super().get(key, default)

    make = RarePostings.of.__func__

    def slow(cls, chars, max_rows=None):
        made.append(threading.current_thread().name)
        if threading.current_thread().name == "first":
            assert second_asked.wait(timeout=60)  # the second asks while the first is making them
        return make(cls, chars, max_rows)

    monkeypatch.setattr(postings, "_MADE", Watched())
    monkeypatch.setattr(RarePostings, "of", classmethod(slow))
    threads = [threading.Thread(target=postings.rare_postings, args=(rows,), name=n) for n in ("first", "second")]
    threads[0].start()
    deadline = time.monotonic() + 60
    while not made and time.monotonic() < deadline:  # until the first is making them: a condition, not a sleep
        threads[0].join(timeout=0.01)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=60)
    assert made == ["first"] and postings.rare_postings(rows) is postings._MADE.get(rows)


def kept_by_hand(rows, max_rows: int, kept: int) -> tuple[list, list]:
    """Per bucket in at most ``max_rows`` rows: its ``kept`` heaviest rows (ties: the first),
    in row order, and their weights; from scipy's column view."""
    by_bucket = rows.chars.to_scipy().tocsc()
    found, weights = [], []
    for b in range(by_bucket.shape[1]):
        span = slice(by_bucket.indptr[b], by_bucket.indptr[b + 1])
        held, values = by_bucket.indices[span], by_bucket.data[span]
        if 0 < len(held) <= max_rows:
            best = sorted(sorted(range(len(held)), key=lambda i: (-values[i], held[i]))[:kept], key=lambda i: held[i])
            found.append(held[best].tolist())
            weights.append(values[best].tolist())
    return found, weights


@pytest.mark.parametrize("kept", [1, 2, 5])
def test_each_bucket_keeps_its_heaviest_rows(stats, monkeypatch, kept):
    from qdup.search import postings

    rows = stats.rows(POOL * 2 + ["python python python", "iphone"])  # repeated rows: ties of weight
    made = RarePostings.of(rows.chars, max_rows=9, kept=kept)
    lengths = np.diff(made.indptr)
    spans = [slice(a, b) for a, b in zip(made.indptr[:-1], made.indptr[1:]) if b > a]
    expected_rows, expected_weights = kept_by_hand(rows, 9, kept)
    assert [made.rows[s].tolist() for s in spans] == expected_rows
    np.testing.assert_array_equal(np.concatenate([made.weights[s] for s in spans]),
                                  np.concatenate(expected_weights).astype(np.float32))
    assert made.kept == kept and lengths.max() <= kept
    monkeypatch.setattr(postings, "HEAVIEST_PER_PASS", 5)  # the long buckets chosen a few at a time
    parts = RarePostings.of(rows.chars, max_rows=9, kept=kept)
    for name in ("indptr", "rows", "weights"):
        np.testing.assert_array_equal(getattr(parts, name), getattr(made, name))


def test_candidates_come_from_the_kept_postings_only(stats):
    import scipy.sparse as sp

    rows, queries = stats.rows(POOL * 2), stats.rows(QUERIES)
    made = RarePostings.of(rows.chars, max_rows=9, kept=2)
    kept = sp.csc_matrix((made.weights, made.rows, made.indptr), shape=(len(rows), rows.chars.width))
    brute = (queries.chars.to_scipy() @ kept.T).toarray()
    touched = ((queries.chars.to_scipy() != 0).astype(np.float32) @ (kept != 0).T).toarray() > 0
    scores, found = made.topk(queries, 4, None)
    for q in range(len(QUERIES)):
        order = [r for r in np.lexsort((np.arange(len(rows)), -brute[q])) if touched[q, r]][:4]
        assert found[q, : len(order)].tolist() == order and (found[q, len(order):] == -1).all()
        np.testing.assert_allclose(scores[q, : len(order)], brute[q, order], rtol=1e-5)


def test_postings_keep_what_they_kept_through_a_file_and_older_files_kept_all(stats, monkeypatch):
    from qdup.search import postings

    rows = stats.rows(POOL)
    made = RarePostings.of(rows.chars, max_rows=9, kept=2)
    back = RarePostings.from_arrays(made.to_arrays(), len(POOL), rows.chars.width)
    assert (back.max_rows, back.kept) == (9, 2)
    older = {k: v for k, v in RarePostings.of(rows.chars, max_rows=9).to_arrays().items() if k != "postings_kept"}
    assert RarePostings.from_arrays(older, len(POOL), rows.chars.width).kept == 9
    monkeypatch.setattr(postings, "MAX_POSTINGS", 9)  # today's cut for this pool: 9 rows, all of them kept...
    assert RarePostings.of(rows.chars).made_with_todays_cut()
    monkeypatch.setattr(postings, "MAX_KEPT", 2)  # ...and now 2 kept: postings kept whole are not today's
    assert not RarePostings.from_arrays(older, len(POOL), rows.chars.width).made_with_todays_cut()
    assert RarePostings.of(rows.chars).kept == 2 and RarePostings.of(rows.chars).made_with_todays_cut()
