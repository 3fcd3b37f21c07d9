"""The calibrated search threshold: the library function, and storing it in a model folder."""

import json
import shutil

import numpy as np
import pytest

import qdup
from qdup.cli import main
from qdup.errors import ConfigError, DataError
from qdup.evaluation.search_calibration import calibrate_search_threshold


def brute_force(scores, hits, precision):
    # Try every candidate threshold (each score, and below the lowest), keep the lowest that works.
    best = None
    for t in sorted(set(scores) | {min(scores) - 1e-6}):
        flagged = [h for s, h in zip(scores, hits) if s > t]
        if flagged and np.mean(flagged) >= precision and (best is None or t < best):
            best = t
    return best


@pytest.mark.parametrize("seed", range(20))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.uniform(0.3, 1.0, 40), 2)  # rounded: ties happen
    hits = rng.uniform(size=40) < scores  # higher scores are more often right
    precision = float(rng.choice([0.6, 0.75, 0.9]))
    expected = brute_force(scores.tolist(), hits.tolist(), precision)
    if expected is None:
        with pytest.raises(DataError, match="no threshold reaches precision"):
            calibrate_search_threshold(scores, hits, precision)
        return
    got = calibrate_search_threshold(scores, hits, precision)
    assert got.threshold == pytest.approx(expected, abs=1e-9)
    flagged = hits[scores > got.threshold]
    assert got.precision == pytest.approx(flagged.mean()) and got.precision >= precision
    assert got.flagged_share == pytest.approx(len(flagged) / 40)


def test_hand_worked_and_bad_input():
    c = calibrate_search_threshold([0.9, 0.8, 0.8, 0.7], [True, True, False, False], precision=0.9)
    assert (c.threshold, c.flagged_share) == (0.8, 0.25)  # the tie at 0.8 cannot be split
    with pytest.raises(ConfigError, match="precision must be in"):
        calibrate_search_threshold([0.5], [True], precision=0)
    with pytest.raises(DataError, match="one score and one label per query"):
        calibrate_search_threshold([0.5, 0.4], [True], precision=0.9)


def test_cli_stores_it_in_the_model_folder(tmp_path, tiny_model_dir, toy_path, capsys):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    before = qdup.load(folder)
    assert before.search_threshold is None
    assert main(["calibrate-search", str(toy_path), "--model", str(folder), "--precision", "0.5"]) == 0
    stored = json.loads(capsys.readouterr().out.splitlines()[0])
    after = qdup.load(folder)
    assert after.search_threshold == pytest.approx(stored["threshold"]) and stored["precision"] >= 0.5
    assert after.fingerprint == before.fingerprint and after.threshold == before.threshold
    assert json.loads((folder / "config.json").read_text())["search_threshold"] == stored


def test_true_duplicates_are_transitive_or_same_text():
    from qdup.evaluation.search_calibration import duplicate_classes

    pairs = qdup.pairs_from_lists(["A one?", "B two?", "X?"], ["B two?", "C three?", "Y?"], [1, 1, 0])
    same = duplicate_classes(pairs)
    assert same("A one?", "C three?") and same("How do I lose weight?", "how do i lose  weight ?")
    assert not same("A one?", "X?") and not same("X?", "Y?")


@pytest.mark.parametrize("key", ["scorer", "checksums", "model"])
def test_entries_describing_saved_files_are_not_writable(tmp_path, tiny_model_dir, key):
    from qdup.errors import ConfigError
    from qdup.model import write_config_entries

    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    before = (folder / "config.json").read_bytes()
    with pytest.raises(ConfigError, match=f"{key!r} is not writable"):
        write_config_entries(folder, **{key: {"name": "cosine"}})
    assert (folder / "config.json").read_bytes() == before


def test_a_top_match_the_pair_scorer_rejects_is_never_flagged_so_the_cut_goes_lower():
    scores, hits = [0.95, 0.9, 0.8, 0.7, 0.6], [False, True, True, False, True]
    alone = calibrate_search_threshold(scores, hits, precision=0.66)
    asked = calibrate_search_threshold(scores, hits, precision=0.66, agree=[False, True, True, True, True])
    assert (alone.threshold, alone.flagged_share) == (0.7, 0.6)  # 2 of the 3 best are duplicates
    # 0.95 is never flagged: the 4 others are, 3 of them duplicates
    assert asked.threshold == pytest.approx(0.6 - 1e-6) and (asked.flagged_share, asked.precision) == (0.8, 0.75)
    assert asked.floor == min(alone.floor, asked.threshold)  # from every true duplicate, agreed with or not
    rejected = calibrate_search_threshold(scores, hits, precision=0.5, agree=[True, True, False, True, True])
    assert rejected.threshold == pytest.approx(0.6 - 1e-6) and rejected.flagged_share == 0.8


def test_the_floor_keeps_its_share_of_the_true_duplicates_whatever_their_order():
    rng = np.random.default_rng(4)
    scores, hits = rng.random(400), rng.random(400) < 0.6
    got = calibrate_search_threshold(scores, hits, precision=0.5, agree=rng.random(400) < 0.8)
    assert got.floor_recall == pytest.approx(np.mean(scores[hits] >= got.floor)) and got.floor_recall >= 0.95


def test_queries_searched_in_chunks_find_the_same_top_matches(rerank_model, fixture_pairs, monkeypatch):
    from qdup.evaluation import search_calibration

    corpus = sorted({q.strip() for q in fixture_pairs.question1 + fixture_pairs.question2})
    queries = corpus[::7]
    whole = search_calibration.top_matches(rerank_model, corpus, queries)
    monkeypatch.setattr(search_calibration, "QUERY_CHUNK", 3)  # several chunks, the last one short
    assert len(queries) % 3 and len(queries) > 6
    chunked = search_calibration.top_matches(rerank_model, corpus, queries)
    assert chunked[1] == whole[1]  # the same match for every query
    np.testing.assert_allclose(chunked[0], whole[0], atol=1e-6)
