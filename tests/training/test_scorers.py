"""How training fits each scorer: one fitter per name of the scoring registry, looked up, never branched on."""

from __future__ import annotations

import pytest

import qdup
from qdup.scoring.base import SCORERS
from qdup.scoring.cosine import CosineScorer
from qdup.training import scorers
from qdup.training.scorer_fit import train_rerank_scorer


def test_every_scorer_has_a_fitter_and_the_recipes_take_those_names():
    assert scorers.FITTERS.names == SCORERS.names
    assert scorers.FITTERS.get("rerank") is train_rerank_scorer
    with pytest.raises(qdup.ConfigError, match="scorer must be one of cosine, rerank, got 'magic'"):
        qdup.TrainConfig(scorer="magic")


def test_the_cosine_scorer_is_fitted_without_pairs_or_encoders(toy_split):
    config = qdup.TrainConfig(scorer="cosine")
    scorer = scorers.fit_scorer(config, toy_split, lambda part: pytest.fail("trained an encoder"), progress=False)
    assert isinstance(scorer, CosineScorer)
    assert not scorers.fitted_on_pairs("cosine") and scorers.fitted_on_pairs("rerank")


def test_fitting_asks_the_registry(toy_split, monkeypatch):
    calls = []
    monkeypatch.setattr(scorers, "fit_cosine", lambda *args, **kwargs: calls.append(args) or CosineScorer())
    scorers.fit_scorer(qdup.TrainConfig(scorer="cosine", scorer_folds=3), toy_split, None, progress=False)
    assert calls == [(toy_split, 3, None)]
