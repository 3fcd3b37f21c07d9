"""An index whose model re-ranks: lexical rows stored next to the vectors, hybrid search."""

from __future__ import annotations

import numpy as np
import pytest

import qdup
from qdup import Index
from qdup.errors import DataError

# The default recipe (re-ranking scorer) at toy size: three small encoders, a few seconds.
TINY_RERANK = qdup.TrainConfig.from_recipe("default", epochs=2, batch_size=32, dim=16, hidden=16,
                                           ngram_buckets=500, negatives_per_batch=32, seed=3)
QUESTIONS = [
    "How do I learn Python?", "What is the best way to learn Python?", "How do I cook rice?",
    "Why is the sky blue?", "What is the best iPhone 6 case?", "What is the best iPhone 7 case?",
    "How can I lose weight fast?", "What is machine learning?", "How do I learn Java?",
    "Is Python good for beginners?",
]


@pytest.fixture(scope="module")
def model(toy_split) -> qdup.QdupModel:
    trained = qdup.train(toy_split, TINY_RERANK)
    assert trained.scorer.name == "rerank"
    return trained


@pytest.fixture()
def index(model, tmp_path) -> Index:
    return Index.build(model, None, QUESTIONS, tmp_path / "idx", backend="exact")


def search_scores(model, query: str, questions: list[str]) -> np.ndarray:
    """The search score by its definition: the scorer's ranking re-ranker on the pair."""
    cosine = model.similarity([query] * len(questions), questions)
    rows = model.scorer.lexical.rows([query] + list(questions))
    n = np.arange(1, len(questions) + 1)
    features = model.scorer.features(cosine, rows, rows.take(n), np.zeros(len(n), dtype=np.int64))
    return model.scorer.rank_features(features)


def test_scores_are_the_scorers_search_scores(model, index):
    queries = ["how to learn python", "best case for an iphone 6", "rice cooking"]
    for query, result in zip(queries, index.search(model, queries, k=4)):
        assert len(result.ids) == 4 and result.scores == sorted(result.scores, reverse=True)
        expected = search_scores(model, query, result.questions)
        np.testing.assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-6)


def test_every_candidate_is_ranked_when_the_index_is_small(model, index):
    # Fewer rows than either candidate list: the search must score every stored question.
    [result] = index.search(model, ["How do I learn Python?"], k=len(QUESTIONS))
    assert sorted(result.ids, key=int) == [str(n) for n in range(1, len(QUESTIONS) + 1)]
    all_scores = search_scores(model, "How do I learn Python?", QUESTIONS)
    assert result.ids[0] == "1"  # its own text (below), then the scorer's order
    assert result.ids[1] == str(int(np.argmax(all_scores[1:])) + 2)


def test_a_stored_copy_of_the_query_comes_first_whatever_the_scorer_says(model, index):
    """Identical text (case and spacing aside) is the best match there is; a re-ranker that never
    saw a question paired with itself can put a close paraphrase above it."""
    from qdup.search.hybrid import SAME_TEXT_SCORE

    asked = ["  " + q.upper().replace(" ", "  ") for q in QUESTIONS]
    for n, result in enumerate(index.search(model, asked, k=3), start=1):
        assert result.ids[0] == str(n) and result.scores[0] == SAME_TEXT_SCORE
        assert all(s < SAME_TEXT_SCORE for s in result.scores[1:])
    [near] = index.search(model, ["How do I learn Python fast?"], k=3)  # one word more: not the same text
    assert all(s < SAME_TEXT_SCORE for s in near.scores)


def test_lexical_side_survives_reload_add_and_remove(model, index):
    [before] = index.search(model, ["best iphone case"], k=3)
    reloaded = Index.load(index.path)
    [again] = reloaded.search(model, ["best iphone case"], k=3)
    assert again.ids == before.ids
    np.testing.assert_allclose(again.scores, before.scores, rtol=1e-5)

    [new_id] = reloaded.add(model, ["Which case fits the iPhone 6 best?"])
    [found] = Index.load(index.path).search(model, ["Which case fits the iPhone 6 best?"], k=1)
    assert found.ids == [new_id]
    reloaded.remove([new_id, "5"])
    [after] = Index.load(index.path).search(model, ["Which case fits the iPhone 6 best?"], k=len(QUESTIONS))
    assert new_id not in after.ids and "5" not in after.ids and len(after.ids) == len(QUESTIONS) - 1


def test_index_files_hold_no_pickles(model, index):
    names = sorted(p.name for p in index.path.iterdir() if not p.name.startswith("."))
    assert any(n.endswith(".lexical.npz") for n in names)
    for name in names:
        if name.endswith((".npy", ".npz")):
            loaded = np.load(index.path / name, allow_pickle=False)  # raises on any object array
            assert all(loaded[k].dtype != object for k in getattr(loaded, "files", []))


def test_a_missing_lexical_file_is_one_line(model, index):
    next(index.path.glob("*.lexical.npz")).unlink()
    with pytest.raises(DataError, match=r"is damaged: seg-\d+\.lexical\.npz is missing"):
        Index.load(index.path)


def test_predict_uses_the_scorer(model):
    is_duplicate, score = qdup.predict(model, "How do I learn Python?", "What is the best way to learn Python?")
    [expected] = model.score(["How do I learn Python?"], ["What is the best way to learn Python?"])
    assert score == pytest.approx(float(expected), abs=1e-6) and is_duplicate == (score > model.threshold)
    assert 0.0 <= score <= 1.0  # a re-ranker's score is a probability


def test_mining_uses_the_search_scores(model, index):
    from qdup.mining.pairs import mine_index

    pairs = mine_index(index, threshold=0.0, model=model)
    assert pairs and [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    assert len({(p.id1, p.id2) for p in pairs} | {(p.id2, p.id1) for p in pairs}) == 2 * len(pairs)
    by_id = dict(zip((str(n) for n in range(1, len(QUESTIONS) + 1)), QUESTIONS))
    for p in pairs[:5]:
        found = [r for q in (p.id1, p.id2) for r in index.search(model, [by_id[q]], k=len(QUESTIONS))]
        directional = [s for r, other in zip(found, (p.id2, p.id1)) for i, s in zip(r.ids, r.scores) if i == other]
        assert p.score == pytest.approx(max(directional), rel=1e-5)


def test_a_huge_k_is_clipped_to_the_stored_questions(model, index):
    [result] = index.search(model, ["learn python"], k=10**9)
    assert len(result.ids) == len(QUESTIONS)


def test_no_query_gives_no_result_not_a_numpy_error(model, index):
    """An empty list of queries is answered as the exact backend answers it: no result."""
    assert index.search(model, []) == []
    assert index.search(model, [], where="status!=deleted") == []


def test_a_flag_needs_the_search_threshold_and_the_pair_scorers_verdict(model, index, monkeypatch):
    """The search re-ranker never learnt look-alikes; the pair re-ranker did, so both must agree."""
    monkeypatch.setitem(model.info, "search_threshold", {"threshold": 0.0})  # every match passes the first test
    query = "How do I learn Python?"
    [result] = index.search(model, [query], k=len(QUESTIONS))
    pair = model.score([query] * len(result.questions), result.questions)
    expected = [p > model.threshold or q == query for p, q in zip(pair, result.questions)]
    flags = [m["likely_duplicate"] for m in result.matches(model)]
    assert flags == expected and any(flags) and not all(flags)
    monkeypatch.setitem(model.info, "search_threshold", {"threshold": 0.999})
    [result] = index.search(model, [query], k=3)  # only the stored copy passes: it is asked, and flagged
    assert [m["likely_duplicate"] for m in result.matches(model)] == [True, False, False]


def test_an_uncalibrated_models_top_match_is_flagged_only_when_the_pair_scorer_agrees(model, index, monkeypatch):
    """Without a search threshold the top match above the pair threshold is flagged; the pair
    scorer is asked too, or a look-alike top match is flagged (58% of swapped test queries for
    the one command's model before it was calibrated, docs/benchmarks.md)."""
    monkeypatch.delitem(model.info, "search_threshold", raising=False)
    query = "How can I learn Python?"  # not stored: its top match is another question
    [result] = index.search(model, [query], k=3)
    assert result.scores[0] > model.threshold and result.agree is not None
    flags = [m["likely_duplicate"] for m in result.matches(model)]
    assert flags == [bool(result.agree[0]), False, False]
    monkeypatch.setattr(model.scorer, "score_features", lambda features: np.zeros(len(features)))  # always "no"
    [result] = index.search(model, [query], k=3)
    assert [m["likely_duplicate"] for m in result.matches(model)] == [False, False, False]


def test_verdicts_are_the_pair_scorers_or_all_true_without_one(model, index, fake_model, tmp_path, monkeypatch):
    monkeypatch.setitem(model.info, "search_threshold", {"threshold": 0.0})  # every match is asked
    [judged] = index.search(model, ["How do I learn Python?"], k=len(QUESTIONS))
    assert judged.verdicts == judged.agree and any(judged.agree) and not all(judged.agree)
    cosine_index = Index.build(fake_model, None, QUESTIONS, tmp_path / "cosine", backend="exact")
    [plain] = cosine_index.search(fake_model, ["How do I learn Python?"], k=4)
    assert plain.agree is None and plain.verdicts == [True] * 4


def test_flags_stay_with_their_matches_when_a_threshold_drops_some(model, index, monkeypatch):
    monkeypatch.setitem(model.info, "search_threshold", {"threshold": 0.0})
    query = "How do I learn Python?"
    [whole] = index.search(model, [query], k=len(QUESTIONS))
    cut = sorted(whole.scores)[len(whole.scores) // 2]
    [part] = index.search(model, [query], k=len(QUESTIONS), threshold=cut)
    flags = dict(zip(whole.ids, (m["likely_duplicate"] for m in whole.matches(model))))
    assert 0 < len(part.ids) < len(whole.ids)
    assert [m["likely_duplicate"] for m in part.matches(model)] == [flags[i] for i in part.ids]


def test_an_index_whose_questions_were_all_removed_finds_nothing(model, tmp_path):
    emptied = Index.build(model, None, QUESTIONS, tmp_path / "emptied", backend="exact")
    emptied.remove([str(n) for n in range(1, len(QUESTIONS) + 1)])
    [result] = emptied.search(model, ["How do I learn Python?"], k=3, verdicts_above=-1.0)  # nothing to judge
    assert result.ids == [] and result.matches(model) == []


def test_each_querys_verdicts_judge_its_own_matches(model, index, monkeypatch):
    """Several queries, k below the candidates: every kept match is judged as its own pair."""
    monkeypatch.setitem(model.info, "search_threshold", {"threshold": 0.0})
    queries = ["How do I learn Python?", "rice cooking", "best case for an iphone 7", "zzzz qqqq"]
    results = index.search(model, queries, k=3)
    judged = 0
    for query, result in zip(queries, results):
        pair = model.score([query] * len(result.questions), result.questions)
        expected = [bool(p > model.threshold) or q == query for p, q, s in zip(pair, result.questions, result.scores)
                    if s > 0.0]
        assert [a for a, s in zip(result.agree, result.scores) if s > 0.0] == expected
        judged += len(expected)
    assert judged


def test_mining_keeps_the_matches_the_pair_scorer_judges_duplicates(model, index):
    """Mining asks the pair scorer as the search flag does: look-alikes stay out of groups and pairs."""
    from qdup.mining.groups import neighbours
    from qdup.mining.pairs import mine_index

    judged = neighbours(index, len(QUESTIONS) - 1, 0.0, model=model)
    every = neighbours(index, len(QUESTIONS) - 1, 0.0, model=model, verdict=False)
    kept = dropped = 0
    for n, (rows, all_rows) in enumerate(zip(judged.rows, every.rows)):
        others = [QUESTIONS[r] for r in all_rows]
        pair = model.score([QUESTIONS[n]] * len(others), others) if others else []
        expected = [r for r, p in zip(all_rows, pair) if p > model.threshold]
        assert rows.tolist() == expected  # the same order: the search scores'
        kept, dropped = kept + len(expected), dropped + len(others) - len(expected)
    assert kept and dropped  # the toy model judges some matches duplicates, and not others
    pairs, loose = mine_index(index, 0.0, model=model), mine_index(index, 0.0, model=model, verdict=False)
    assert {(p.id1, p.id2) for p in pairs} < {(p.id1, p.id2) for p in loose}



def test_a_match_turned_down_frees_its_place_for_the_next(model, index, monkeypatch):
    """Mining with k=1 must not come back empty because the best match was a look-alike."""
    from qdup.mining.groups import neighbours
    from qdup.search import hybrid

    def all_but_the_best(scorer, ranked, above, threshold):
        scores = ranked.scores
        verdicts = (scores > above) & (ranked.rows >= 0)
        for n in range(len(scores)):  # the best match that is not the query's own copy: a look-alike
            verdicts[n, np.flatnonzero(scores[n] < hybrid.SAME_TEXT_SCORE)[:1]] = False
        return verdicts

    monkeypatch.setattr(hybrid, "pair_verdicts", all_but_the_best)
    every = neighbours(index, len(QUESTIONS) - 1, -1.0, model=model, verdict=False)
    for k in (1, 2):
        few = neighbours(index, k, -1.0, model=model)
        assert [r.tolist() for r in few.rows] == [r[1 : k + 1].tolist() for r in every.rows]


def test_among_many_candidates_the_matches_shown_have_every_trees_score(model, fixture_pairs, tmp_path, monkeypatch):
    """With more candidates than the shortlist keeps, some are left out after the first trees,
    and every match a search returns scores what all trees give it."""
    from qdup.scoring.booster import Reranker

    corpus = sorted({q.strip() for q in fixture_pairs.question1 + fixture_pairs.question2})
    assert len(corpus) > 2 * 30  # more than both candidate lists: ~60 candidates a query
    index = Index.build(model, None, corpus, tmp_path / "many", backend="exact")
    left_out, shortlist = [], Reranker.predict_shortlist

    def counted(self, features, sizes, keep):
        scores = shortlist(self, features, sizes, keep)
        left_out.append(int(np.isinf(scores).sum()))
        return scores

    monkeypatch.setattr(Reranker, "predict_shortlist", counted)
    queries = [f"{question.rstrip('?')} today?" for question in corpus[:: len(corpus) // 6][:6]]  # none stored
    for query, result in zip(queries, index.search(model, queries, k=5)):
        assert len(result.ids) == 5 and result.scores == sorted(result.scores, reverse=True)
        np.testing.assert_allclose(result.scores, search_scores(model, query, result.questions), rtol=1e-5, atol=1e-6)
    assert sum(left_out) > 0  # the shortlist was at work
