"""Predictions through LightGBM's C library are the lightgbm package's, and keep the model's text."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qdup
from qdup.errors import ModelLoadError
from qdup.scoring.booster import BoosterSettings, Reranker
from qdup.scoring.lightgbm_library import NativeBooster, checked_text
from qdup.scoring.pair_features import FEATURES

lightgbm = pytest.importorskip("lightgbm")
BUILTIN = Path(qdup.__file__).parent / "builtin_model"


def random_features(n: int, columns: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((n, columns)) * rng.choice([1, 10, 100], columns) - rng.random(columns)
    x[rng.random((n, columns)) < 0.05] = 0.0  # exact zeros: LightGBM's missing-as-zero rule
    return x.astype(np.float32)


@pytest.mark.parametrize("name", ["reranker-pairs.txt", "reranker-search.txt"])
def test_builtin_rerankers_predict_as_lightgbm_does(name):
    text = (BUILTIN / name).read_text(encoding="utf-8")
    features = tuple(json.loads((BUILTIN / "config.json").read_text())["scorer"]["features"])
    ours, theirs = Reranker.from_text(text, features), lightgbm.Booster(model_str=text)
    x = random_features(2000, len(features), seed=len(name))
    raw = theirs.predict(x, num_threads=1)
    expected = raw if "pairs" in name else 1.0 / (1.0 + np.exp(-raw))
    np.testing.assert_allclose(ours.predict(x), expected.astype(np.float32), rtol=1e-6, atol=1e-7)
    for n in (1, 2, 61):  # one pair, and a search's candidates
        np.testing.assert_allclose(ours.predict(x[:n]), expected[:n].astype(np.float32), rtol=1e-6, atol=1e-7)
    assert ours.to_text() == text == theirs.model_to_string()  # the fingerprint's bytes are unchanged


@pytest.mark.parametrize("objective", ["binary", "lambdarank", "regression"])
def test_any_feature_count_and_objective(objective):
    rng = np.random.default_rng(1)
    x = random_features(400, 7, seed=2).astype(np.float64)
    y = (x[:, 0] + rng.random(400) > 0.8).astype(float)
    params = {"objective": objective, "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    data = lightgbm.Dataset(x, y, group=[20] * 20 if objective == "lambdarank" else None)
    booster = lightgbm.train(params, data, 25)
    native = NativeBooster(booster.model_to_string())
    assert native.num_features == 7
    np.testing.assert_allclose(native.predict(x), booster.predict(x, num_threads=1), rtol=1e-9)
    np.testing.assert_allclose(native.predict(x.astype(np.float32)),
                               booster.predict(x.astype(np.float32), num_threads=1), rtol=1e-9)


@pytest.mark.parametrize("text", ["", "not a model", "tree\nversion=v4\nnum_class=1\n\nTree=0\nnum_leaves=x\n"])
def test_corrupt_text_is_a_one_line_error(text):
    with pytest.raises(ModelLoadError, match="a re-ranker file is corrupt"):
        Reranker.from_text(text, FEATURES)


def damaged(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


PAIRS_TEXT = (BUILTIN / "reranker-pairs.txt").read_text(encoding="utf-8")
# Taken from the text, so the cases hold for any version of the built-in model: tree 0's first
# leaf value, and its left children with its first leaf made the same leaf as its second.
FIRST_LEAF = re.search(r"leaf_value=\S+ ", PAIRS_TEXT)[0]
LEFT = re.search(r"left_child=.*", PAIRS_TEXT)[0]
LEAVES = re.findall(r" (-\d+)", LEFT)
SHARED_LEAF = re.sub(f" {LEAVES[0]}( |$)", f" {LEAVES[1]}\\1", LEFT, count=1)
# Damage a model folder without checksums can hold: the C library read past the text or the
# feature row on each (abort, segmentation fault or a loop), or wrote past its output.
DAMAGED = {
    "cut short": (PAIRS_TEXT[: PAIRS_TEXT.find("\nTree=150\n") + 40], "Tree=150: the model text ends inside it"),
    # Between two trees: the library read the trees before the cut as the whole model.
    "cut between trees": (PAIRS_TEXT[: PAIRS_TEXT.find("\nTree=150\n") + 1], "no 'end of trees' after Tree=149"),
    "cut inside the next tree's name": (PAIRS_TEXT[: PAIRS_TEXT.find("\nTree=150\n") + 4],
                                        "no 'end of trees' after Tree=149"),
    "a word for a number": (damaged(PAIRS_TEXT, "leaf_value=", "leaf_value=abc "), "leaf_value does not hold"),
    "NaN leaf": (damaged(PAIRS_TEXT, FIRST_LEAF, "leaf_value=nan "), "not a finite number"),
    "feature out of range": (damaged(PAIRS_TEXT, "split_feature=0 ", "split_feature=999 "), "a split on a feature"),
    "child out of range": (damaged(PAIRS_TEXT, "left_child=2 ", "left_child=500 "), "children do not make a tree"),
    "child loop": (damaged(PAIRS_TEXT, "left_child=2 ", "left_child=0 "), "children do not make a tree"),
    "a child of two parents": (damaged(PAIRS_TEXT, "left_child=2 3 ", "left_child=2 2 "), "Tree=0: its children do"),
    "a leaf of two parents": (damaged(PAIRS_TEXT, LEFT, SHARED_LEAF), "Tree=0: its children do"),
    "more leaves": (damaged(PAIRS_TEXT, "num_leaves=31", "num_leaves=9999"), "leaf_value does not hold 9999"),
    "cut after a tree's line": (PAIRS_TEXT[: PAIRS_TEXT.find("\n", PAIRS_TEXT.rfind("shrinkage=")) + 1],
                                "Tree=299: the model text ends inside it"),
    "cut inside a tree's line": (PAIRS_TEXT[: PAIRS_TEXT.rfind("shrinkage=") + 11], "Tree=299: the model text ends"),
    "no trees": (PAIRS_TEXT[: PAIRS_TEXT.find("\nTree=")], "holds no trees"),
    "a NUL": (PAIRS_TEXT[:5000] + "\0" + PAIRS_TEXT[5000:], "a NUL character"),
    "three classes": (damaged(PAIRS_TEXT, "num_class=1", "num_class=3"), "only models with one output"),
    "a line without =": (damaged(PAIRS_TEXT, "is_linear=0\n", "is_linear=0\nbroken\n"), "key=value lines"),
    # The library splits a header line at every '=' and drops the empty parts (SIGFPE, a write
    # past the output, a read past the row when the check read these lines otherwise).
    "a bare header key": (damaged(PAIRS_TEXT, "label_index=0\n", "label_index=0\nnum_tree_per_iteration\n"),
                          "only models with one output"),
    "a header key after =": (damaged(PAIRS_TEXT, "num_class=1\n", "num_class=1\n=num_class=3\n"),
                             "only models with one output"),
    "features after =": (damaged(damaged(PAIRS_TEXT, "split_feature=0 ", "split_feature=99999 "),
                                 "max_feature_idx=16\n", "max_feature_idx=999999\n=max_feature_idx=16\n"),
                         "a split on a feature"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_text_is_a_one_line_error_not_a_crash(case, tmp_path):
    # In a child: before the check, the C library aborted (or crashed) the whole process.
    text, message = DAMAGED[case]
    (tmp_path / "model.txt").write_bytes(text.encode("utf-8"))
    script = ("import sys; from qdup.errors import ModelLoadError; from qdup.scoring.booster import Reranker\n"
              "from qdup.scoring.pair_features import FEATURES\n"
              "try: Reranker.from_text(open(sys.argv[1], encoding='utf-8').read(), FEATURES)\n"
              "except ModelLoadError as error: print(error)\n")
    child = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.txt")], capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-500:]
    assert child.stdout.startswith("a re-ranker file is corrupt (") and message in child.stdout
    assert child.stdout.count("\n") == 1


def test_tree_sizes_the_library_would_read_are_dropped():
    # '=tree_sizes=...' is tree_sizes to the library, whose offsets it follows unchecked.
    text = checked_text(damaged(PAIRS_TEXT, "num_class=1\n", "num_class=1\n=tree_sizes=999999999 5\n"))
    assert b"tree_sizes" not in text


def test_fit_reports_every_boosting_round():
    rng = np.random.default_rng(3)
    x = random_features(300, len(FEATURES), seed=4)
    y = (rng.random(300) < 0.5).astype(np.float32)
    seen = []
    Reranker.fit(x, y, FEATURES, BoosterSettings(rounds=7, min_rows_per_leaf=5), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(n, 7) for n in range(1, 8)]


@pytest.mark.parametrize("objective", ["binary", "lambdarank"])
def test_raw_sums_over_tree_ranges_add_up_to_the_whole(objective):
    rng = np.random.default_rng(5)
    x = random_features(300, 6, seed=6)
    y = (x[:, 0] + rng.random(300) > 0.8).astype(float)
    params = {"objective": objective, "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    booster = lightgbm.train(params, lightgbm.Dataset(x, y, group=[30] * 10 if objective == "lambdarank" else None), 40)
    native = NativeBooster(booster.model_to_string())
    assert native.trees == 40
    whole = booster.predict(x, raw_score=True, num_threads=1)
    first = native.predict(x, (0, 15), raw=True)
    np.testing.assert_allclose(first, booster.predict(x, raw_score=True, num_iteration=15, num_threads=1), rtol=1e-9)
    np.testing.assert_allclose(first + native.predict(x, (15, -1), raw=True), whole, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(native.predict(x, raw=True), whole, rtol=1e-9)
    assert not np.allclose(first, whole)  # the range was honoured: 15 trees are not 40
