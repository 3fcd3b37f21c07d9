"""How training fits each scorer: one fitter per name of the scoring registry, looked up, never branched on."""

from __future__ import annotations

import numpy as np
import pytest

import qdup
from qdup.scoring.base import SCORERS
from qdup.scoring.cosine import CosineScorer
from qdup.training import scorers
from qdup.training.scorer_fit import held_out_part, train_rerank_scorer


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


def _hand_split() -> qdup.Split:
    """Question groups {a b c x}, {d e y}, {f g}, {h i}, {j k}, {z w}: five of them hold duplicates."""
    dups = qdup.pairs_from_lists(["a?", "b?", "d?", "f?", "h?", "j?"], ["b?", "c?", "e?", "g?", "i?", "k?"], [1] * 6)
    negatives = qdup.pairs_from_lists(["a?", "e?", "z?"], ["x?", "y?", "w?"], [0] * 3)
    empty = dups.subset([])
    return qdup.Split(train=dups, validation=empty, negatives=negatives, test=empty, method="id")


@pytest.mark.parametrize("seed", range(6))
def test_the_held_out_part_is_made_of_whole_question_groups(seed):
    split = _hand_split()
    held = held_out_part(split, 0.5, seed)
    assert held.train.dtype == bool and held.train.shape == (6,) and held.negatives.shape == (3,)
    assert 1 <= held.train.sum() <= 3  # at most half the duplicate pairs; never none at this share
    group = {"a?": 0, "b?": 0, "c?": 0, "x?": 0, "d?": 1, "e?": 1, "y?": 1, "f?": 2, "g?": 2, "h?": 3, "i?": 3,
             "j?": 4, "k?": 4, "z?": 5, "w?": 5}
    held_groups = {group[q] for q in np.array(split.train.question1)[held.train]} | \
                  {group[q] for q in np.array(split.negatives.question1)[held.negatives]}
    rest = held.rest(split)
    rest_groups = {group[q] for p in (rest.train, rest.negatives) for q in p.question1 + p.question2}
    assert not held_groups & rest_groups  # no held-out question is in a pair the encoder trains on
    assert len(rest.train) == 6 - held.train.sum() and len(rest.negatives) == 3 - held.negatives.sum()
    assert held.summary() == {"held_out_duplicates": int(held.train.sum()),
                              "held_out_negatives": int(held.negatives.sum())}


def test_the_held_out_part_depends_on_the_seed_and_share_only():
    split = _hand_split()
    draws = {tuple(held_out_part(split, 0.5, seed).train) for seed in range(12)}
    assert len(draws) > 1  # groups are drawn at random...
    assert (held_out_part(split, 0.5, 4).train == held_out_part(split, 0.5, 4).train).all()  # ...seeded
    assert not held_out_part(split, 0.1, 0).train.any()  # less than one group's share: nothing held out


def test_a_held_out_scorer_trains_one_encoder_on_the_rest(toy_split):
    trained = []

    def train_encoder(part):
        trained.append(part)
        return FakeEncoder()

    config = qdup.TrainConfig(scorer="rerank", scorer_held_out=0.3)
    encoder, scorer, fitted = scorers.fit_encoder_and_scorer(config, toy_split, train_encoder, progress=False)
    assert len(trained) == 1 and isinstance(encoder, FakeEncoder) and scorer.name == "rerank"
    held = held_out_part(toy_split, 0.3, config.seed)
    assert fitted == {"method": "held-out", **held.summary()} and fitted["held_out_duplicates"] > 0
    assert trained[0].train.ids.tolist() == held.rest(toy_split).train.ids.tolist()
    # Out of fold: one encoder on everything, then one per fold; the cosine scorer needs none of them.
    trained.clear()
    _, _, fitted = scorers.fit_encoder_and_scorer(qdup.TrainConfig(scorer="rerank"), toy_split, train_encoder, False)
    assert fitted == {"method": "out-of-fold"} and len(trained) == 3 and len(trained[0].train) == len(toy_split.train)
    trained.clear()
    scorers.fit_encoder_and_scorer(qdup.TrainConfig(scorer="cosine", scorer_held_out=0.3), toy_split, train_encoder,
                                   False)
    assert len(trained) == 1 and len(trained[0].train) == len(toy_split.train)


class FakeEncoder:
    """Unit vectors from a hash of the words: no training, enough to fit a re-ranker on."""

    def encode(self, texts, batch_size=512, progress=False):
        vectors = np.stack([np.random.default_rng(sum(map(ord, t.lower()[:12]))).normal(size=8) for t in texts])
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("share", [-0.1, 1.0, float("nan")])
def test_the_held_out_share_is_checked(share):
    with pytest.raises(qdup.ConfigError, match="scorer_held_out must be"):
        qdup.TrainConfig(scorer_held_out=share)


def test_a_held_out_part_without_duplicates_is_refused_before_any_training(toy_split):
    config = qdup.TrainConfig(scorer="rerank", scorer_held_out=0.001)
    with pytest.raises(qdup.ConfigError, match=r"^scorer_held_out=0.001 holds out 0 duplicate pairs: the re-ranker "
                                               r"needs more \(a larger share, or more pairs\)$"):
        scorers.fit_encoder_and_scorer(config, toy_split, lambda part: pytest.fail("trained"), progress=False)
