"""The model shipped inside the package (src/qdup/builtin_model)."""

import json
import re

import pytest

import qdup
from qdup.cli import main
from qdup.model import BUILTIN_PATH


def test_loads_without_a_path_and_is_small():
    model = qdup.load()
    size = sum(f.stat().st_size for f in BUILTIN_PATH.iterdir())
    assert size <= 15 * 1024 * 1024  # encoder, lexical IDF tables and both re-rankers
    config = json.loads((BUILTIN_PATH / "config.json").read_text())
    assert config["training"]["recipe"] == "default" and model.scorer.name == "rerank"
    assert model.threshold == pytest.approx(config["calibration"]["accuracy_threshold"], abs=1e-4)


def test_predict_needs_no_model_path(capsys):
    assert main(["predict", "How do I learn Python?", "What is the best way to learn Python?"]) == 0
    similarity, verdict = capsys.readouterr().out.split(" ", 1)
    assert verdict.startswith("duplicate")
    assert main(["predict", "How do I learn Python?", "How do I cook rice without a rice cooker?"]) == 0
    assert capsys.readouterr().out.split(" ", 1)[1].startswith("not duplicate")


def test_separates_the_toy_pairs(toy_split):
    # Written by hand, never seen in training: a check that the shipped weights are sane.
    report = qdup.evaluate(qdup.load(), toy_split.test)
    assert report.roc_auc > 0.8


def test_the_forum_guide_shows_the_built_in_models_id():
    """docs/forum.md shows what `qdup serve` prints: the id must be the shipped model's."""
    from helpers import ROOT

    shown = re.findall(r"model built-in \(([0-9a-f]{12})\)", (ROOT / "docs" / "forum.md").read_text())
    assert shown == [qdup.load().fingerprint[:12]]
