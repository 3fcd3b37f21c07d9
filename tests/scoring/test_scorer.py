"""The scorer seam: lexical rows, pair features and the re-ranker (hybrid candidates: tests/search/test_hybrid.py)."""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.numpy

from helpers import POOL
from qdup.errors import ModelLoadError
from qdup.scoring.base import SCORERS, load_scorer
from qdup.scoring.booster import UNMATCHED_MONOTONE, BoosterSettings, Reranker
from qdup.scoring.cosine import CosineScorer
from qdup.scoring.pair_features import FEATURES, FEATURES_V4, pair_features
from qdup.scoring.rerank import RerankScorer
from qdup.text.lexical import LexicalRows, LexicalStats
from qdup.text.names import NameStats


@pytest.fixture(scope="module")
def stats() -> LexicalStats:
    return LexicalStats.fit(POOL)


def features_of(stats, a: list[str], b: list[str], cosine=None) -> np.ndarray:
    cosine = np.zeros(len(a), np.float32) if cosine is None else cosine
    return pair_features(cosine, stats.rows(a), stats.rows(b), stats)


def column(name: str) -> int:
    return FEATURES.index(name)


def test_word_features_by_hand(stats):
    [row] = features_of(stats, ["How do I learn Python?"], ["How can I learn Python fast?"])
    # shared {how, i, learn, python}; all {how, do, i, learn, python, can, fast}
    assert row[column("word_jaccard")] == pytest.approx(4 / 7)
    assert row[column("min_words")] == 5 and row[column("max_words")] == 6
    assert row[column("same_first_word")] == 1
    assert row[column("number_mismatch")] == 0 and row[column("has_numbers")] == 0
    idf = {w: stats.word_idf[stats.rows([w]).words.indices[0]] for w in ("how", "do", "i", "learn", "python", "can", "fast")}
    shared = idf["how"] + idf["i"] + idf["learn"] + idf["python"]
    assert row[column("idf_jaccard")] == pytest.approx(shared / sum(idf.values()), rel=1e-5)
    # "fast" and "can" were seen once, "do" twice in POOL: the rarest missing word is on the longer side
    assert row[column("max_missing_idf")] == pytest.approx(max(idf["can"], idf["fast"]), rel=1e-6)
    assert row[column("min_missing_idf")] == pytest.approx(idf["do"], rel=1e-6)


def test_numbers_and_first_word(stats):
    [row] = features_of(stats, ["What is the best iPhone 6 case?"], ["Which is the best iPhone 7 case?"])
    assert row[column("number_mismatch")] == 2 and row[column("has_numbers")] == 1
    assert row[column("same_first_word")] == 0


def test_features_are_symmetric(stats):
    a, b = POOL[:4], POOL[4:]
    cosine = np.array([0.1, 0.5, 0.9, -0.2], np.float32)
    np.testing.assert_allclose(features_of(stats, a, b, cosine), features_of(stats, b, a, cosine), rtol=1e-6)


def test_char_tfidf_is_a_cosine(stats):
    rows = stats.rows(POOL)
    norms = np.bincount(rows.chars.owners, rows.chars.data.astype(np.float64) ** 2, minlength=len(rows))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    [same] = features_of(stats, [POOL[0]], [POOL[0]])
    assert same[column("char_tfidf")] == pytest.approx(1.0, rel=1e-5)
    assert same[column("word_tfidf")] == pytest.approx(1.0, rel=1e-5)


def test_unseen_words_get_the_largest_idf(stats):
    seen, unseen = stats.rows(["python"]).words.indices[0], stats.rows(["zyzzyva"]).words.indices[0]
    assert stats.word_idf[unseen] > stats.word_idf[seen]


def test_stats_and_rows_survive_save_and_load(stats):
    again = LexicalStats.from_tensors(stats.to_tensors())
    np.testing.assert_array_equal(again.char_idf, stats.char_idf)
    np.testing.assert_array_equal(again.word_idf, stats.word_idf)
    rows = stats.rows(POOL)
    back = LexicalRows.from_arrays(rows.to_arrays())
    for name in ("chars", "words", "numbers"):
        for part in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(getattr(back, name), part), getattr(getattr(rows, name), part))
    np.testing.assert_array_equal(back.first, rows.first)


def test_corrupt_stats_are_one_line_errors(stats):
    tensors = stats.to_tensors()
    del tensors["word_idf.unseen"]
    with pytest.raises(ModelLoadError, match="lexical statistics are incomplete"):
        LexicalStats.from_tensors(tensors)


def small_reranker(stats, objective: str = "binary") -> Reranker:
    rng = np.random.default_rng(0)
    a = [POOL[i] for i in rng.integers(0, len(POOL), 200)]
    b = [POOL[i] for i in rng.integers(0, len(POOL), 200)]
    x = features_of(stats, a, b, rng.uniform(-1, 1, 200).astype(np.float32))
    y = (x[:, column("word_jaccard")] > 0.5).astype(np.float32)
    groups = np.full(20, 10) if objective == "lambdarank" else None  # 20 "queries" of 10 candidates
    return Reranker.fit(x, y, FEATURES, BoosterSettings(objective=objective, rounds=20, min_rows_per_leaf=5),
                        groups=groups)


def test_a_ranking_reranker_scores_in_the_unit_interval_and_orders_by_overlap(stats):
    ranker = small_reranker(stats, "lambdarank")
    x = features_of(stats, ["How do I learn Python?"] * 3,
                    ["How do I learn Python?", "How can I learn Python fast?", "Why is the sky blue?"])
    scores = ranker.predict(x)
    assert ((scores > 0) & (scores < 1)).all()
    assert scores[0] >= scores[1] >= scores[2]  # monotone in overlap: identical first, unrelated last
    again = Reranker.from_text(ranker.to_text(), FEATURES)
    np.testing.assert_allclose(again.predict(x), scores, rtol=1e-6)


def test_reranker_round_trips_through_its_text_format(stats):
    reranker = small_reranker(stats)
    x = features_of(stats, POOL, POOL[::-1])
    again = Reranker.from_text(reranker.to_text(), FEATURES)
    np.testing.assert_allclose(again.predict(x), reranker.predict(x), rtol=1e-6)
    assert reranker.predict(x[:0]).shape == (0,)
    with pytest.raises(ModelLoadError, match="a re-ranker file is corrupt"):
        Reranker.from_text("not a model", FEATURES)


def test_rerank_scorer_is_its_definition_and_saves_without_pickles(stats, tmp_path):
    scorer = RerankScorer(stats, small_reranker(stats), small_reranker(stats, "lambdarank"))
    a, b = stats.rows(POOL), stats.rows(POOL[::-1])
    cosine = np.linspace(-1, 1, len(POOL)).astype(np.float32)
    features = pair_features(cosine, a, b, stats)
    expected_pair, expected_search = scorer.pair.predict(features), scorer.search.predict(features)
    np.testing.assert_allclose(scorer.score(cosine, a, b), expected_pair, rtol=1e-6)
    np.testing.assert_allclose(scorer.rank_features(scorer.features(cosine, a, b)), expected_search, rtol=1e-6)
    section = scorer.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lexical.safetensors", "reranker-pairs.txt", "reranker-search.txt"]
    loaded = load_scorer(tmp_path, section)
    np.testing.assert_allclose(loaded.score(cosine, a, b), expected_pair, rtol=1e-6)
    np.testing.assert_allclose(loaded.rank_features(loaded.features(cosine, a, b)), expected_search, rtol=1e-6)
    assert loaded.digest() == scorer.digest()


def test_scorer_registry_refuses_unknown_names_and_missing_files(tmp_path):
    assert SCORERS.names == ("cosine", "rerank")
    assert isinstance(load_scorer(tmp_path, None), CosineScorer)  # saved before scorers: the cosine
    assert isinstance(load_scorer(tmp_path, {"name": "cosine"}), CosineScorer)
    with pytest.raises(ModelLoadError) as caught:
        load_scorer(tmp_path, {"name": "magic"})
    assert str(caught.value) == f"{tmp_path}: unknown scorer 'magic' (known: cosine, rerank)"
    with pytest.raises(ModelLoadError, match="unknown scorer 'rerank'"):
        load_scorer(tmp_path, "rerank")  # not a section
    with pytest.raises(ModelLoadError, match="lexical.safetensors is missing"):
        load_scorer(tmp_path, {"name": "rerank", "features": list(FEATURES)})
    with pytest.raises(ModelLoadError, match="other features"):
        load_scorer(tmp_path, {"name": "rerank", "features": ["cosine", "magic"]})
    for odd in (5, "cosine", {"cosine": 1}, [["cosine"]], [{"a": 1}], None):  # config.json may hold anything
        with pytest.raises(ModelLoadError, match="other features"):
            load_scorer(tmp_path, {"name": "rerank", "features": odd})


def test_take_equals_scipy_row_indexing(stats):
    rows = stats.rows(POOL + ["", "42"])
    picked = np.array([3, 8, 3, 0, 9, 7])  # repeats, an empty row, a numbers-only row
    taken = rows.take(picked)
    for name in ("chars", "words", "numbers"):
        expected = getattr(rows, name).to_scipy()[picked]
        assert (getattr(taken, name).to_scipy() != expected).nnz == 0
    assert taken.first.tolist() == rows.first[picked].tolist()
    assert len(rows.take(np.array([], dtype=np.int64))) == 0


def test_pair_features_equal_their_definition(stats):
    """Every word feature recomputed with Python sets, the char one with scipy, over all pairs."""
    a_text, b_text = [p for p in POOL for _ in POOL], POOL * len(POOL)
    names = NameStats.fit(POOL)
    got = pair_features(np.zeros(len(a_text), np.float32), stats.rows(a_text), stats.rows(b_text), stats, names=names)
    idf, likeness = stats.word_idf, names.likeness
    words = lambda t: set(stats.rows([t]).words.indices)  # noqa: E731
    numbers = lambda t: set(stats.rows([t]).numbers.indices)  # noqa: E731
    for n, (x, y) in enumerate(zip(a_text, b_text)):
        wx, wy, nx, ny = words(x), words(y), numbers(x), numbers(y)
        both = wx & wy
        w = lambda s: float(sum(idf[i] for i in s))  # noqa: E731
        missing = [max((idf[i] for i in s - both), default=0.0) for s in (wx, wy)]
        name = [max((idf[i] * likeness[i] for i in s - both), default=0.0) for s in (wx, wy)]
        char_dot = (stats.rows([x]).chars.to_scipy() @ stats.rows([y]).chars.to_scipy().T).toarray()[0, 0]
        word_cos = sum(idf[i] ** 2 for i in both) / np.sqrt(
            sum(idf[i] ** 2 for i in wx) * sum(idf[i] ** 2 for i in wy))
        expected = [0.0, char_dot, word_cos, len(both) / len(wx | wy), w(both) / w(wx | wy),
                    max(missing), min(missing), min(len(wx), len(wy)), max(len(wx), len(wy)),
                    len(nx ^ ny), bool(nx | ny), x.split()[0].lower() == y.split()[0].lower(),
                    max(name), min(name), min(len(nx - ny), len(ny - nx)),
                    min(len(wx - wy), len(wy - wx)), max(len(wx - wy), len(wy - wx))]
        np.testing.assert_allclose(got[n], expected, rtol=1e-5, atol=1e-6, err_msg=f"{x!r} vs {y!r}")


def test_one_query_against_many_equals_copied_rows(stats, monkeypatch):
    from qdup.scoring import pair_features as module

    rows = stats.rows(POOL)
    query_of = np.array([2, 2, 0, 2, 5, 0, 0, 7])
    cosine = np.linspace(-1, 1, len(query_of)).astype(np.float32)
    copied = pair_features(cosine, rows.take(query_of), rows, stats)
    np.testing.assert_allclose(pair_features(cosine, rows, rows, stats, a_of=query_of), copied, rtol=1e-6)
    monkeypatch.setattr(module, "CHUNK_PAIRS", 3)  # the chunked path of a large training pool
    np.testing.assert_allclose(pair_features(cosine, rows, rows, stats, a_of=query_of), copied, rtol=1e-6)


def test_one_query_against_many_equals_its_pairs_scored_as_pairs(stats):
    """A search's path (one query row: its columns marked in a per-thread scratch row) gives
    the features of the general path, query after query (each leaves the scratch clean)."""
    names = NameStats.fit(POOL)
    texts = POOL + ["", "42"]  # an empty question, a numbers-only one
    candidates, zeros = stats.rows(texts), np.zeros(len(texts), np.float32)
    for query in texts:
        alone = pair_features(zeros, stats.rows([query]), candidates, stats,
                              a_of=np.zeros(len(texts), np.int64), names=names)
        as_pairs = pair_features(zeros, stats.rows([query] * len(texts)), candidates, stats, names=names)
        np.testing.assert_allclose(alone, as_pairs, rtol=1e-6, atol=1e-7, err_msg=query)


def test_a_scorer_saved_before_the_look_alike_features_loads_and_scores_as_it_did(stats, tmp_path):
    rng = np.random.default_rng(0)
    x = features_of(stats, POOL * 25, POOL[::-1] * 25, rng.uniform(-1, 1, 200).astype(np.float32))[:, :len(FEATURES_V4)]
    y = (x[:, column("word_jaccard")] > 0.5).astype(np.float32)
    settings = BoosterSettings(rounds=10, min_rows_per_leaf=5)
    old = RerankScorer(stats, Reranker.fit(x, y, FEATURES_V4, settings), Reranker.fit(x, y, FEATURES_V4, settings))
    section = old.save(tmp_path)  # as issue 7's code saved it: 12 features, IDF only
    assert section["features"] == list(FEATURES_V4)
    assert not any(k.startswith("name.") for k in safetensors.numpy.load_file(str(tmp_path / "lexical.safetensors")))
    loaded = load_scorer(tmp_path, section)
    a, b = stats.rows(POOL), stats.rows(POOL[::-1])
    cosine = np.linspace(-1, 1, len(POOL)).astype(np.float32)
    expected = old.pair.predict(pair_features(cosine, a, b, stats)[:, :len(FEATURES_V4)])
    np.testing.assert_allclose(loaded.score(cosine, a, b), expected, rtol=1e-6)
    assert loaded.names is None and loaded.digest() == old.digest()


def test_look_alike_features_by_hand(stats):
    questions = POOL + ["Is Nepal safe to visit?", "Is Armenia safe to visit in 2017?", "Visit Nepal or Armenia?"]
    lexical, names = LexicalStats.fit(questions), NameStats.fit(questions)
    a, b = ["Is Nepal safe to visit?", "How do I learn Python?"], ["Is Armenia safe to visit in 2017?", "How do I learn Python?"]
    got = pair_features(np.zeros(2, np.float32), lexical.rows(a), lexical.rows(b), lexical, names=names)
    idf = {w: lexical.word_idf[lexical.rows([w]).words.indices[0]] for w in ("nepal", "armenia", "in", "2017")}
    nepal, armenia = (idf[w] * names.of([w])[0] for w in ("nepal", "armenia"))
    assert names.of(["nepal"])[0] == pytest.approx(2 / 3) and names.of(["in"])[0] == 0  # Nepal: 2 inner capitalised mentions
    # Armenia's side lacks "nepal"; Nepal's side lacks "armenia", "in" and "2017" (not names: 0).
    assert got[0, column("max_missing_name")] == pytest.approx(max(nepal, armenia), rel=1e-6)
    assert got[0, column("min_missing_name")] == pytest.approx(min(nepal, armenia), rel=1e-6)
    assert (got[0, column("min_unmatched")], got[0, column("max_unmatched")]) == (1, 3)
    assert got[0, column("number_swap")] == 0  # 2017 on one side only: no swap
    assert got[1, column("max_missing_name")] == 0 and got[1, column("max_unmatched")] == 0
    [swapped] = pair_features(np.zeros(1, np.float32), *(lexical.rows([q]) for q in ("Best of 2016?", "Best of 2017?")),
                              lexical, names=names)
    assert swapped[column("number_swap")] == 1 and swapped[column("number_mismatch")] == 2



def test_a_setting_overrides_a_features_monotone_sign():
    """UNMATCHED_MONOTONE (the default recipe's search re-ranker): more words only one side has
    never raise a score, though the labels reward exactly one such word on each side."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (600, len(FEATURES))).astype(np.float32)
    for name in ("min_unmatched", "max_unmatched"):
        x[:, column(name)] = rng.integers(0, 4, 600)
    y = (x[:, column("min_unmatched")] == 1).astype(np.float32)  # a swapped word, as look-alikes have
    probe = np.repeat(x[:1], 4, axis=0)
    probe[:, column("min_unmatched")] = probe[:, column("max_unmatched")] = np.arange(4)
    scores = {}
    for monotone in ((), UNMATCHED_MONOTONE):
        settings = BoosterSettings(rounds=30, min_rows_per_leaf=5, monotone=monotone)
        scores[monotone] = Reranker.fit(x, y, FEATURES, settings).predict(probe)
    assert scores[()][1] > scores[()][0] + 0.1  # free: it learns the "one unmatched word" bump
    assert (np.diff(scores[UNMATCHED_MONOTONE]) <= 1e-9).all()  # constrained: never up
