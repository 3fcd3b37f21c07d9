"""How training fits each scorer: one fitter per name of the scoring registry, looked up, never branched on."""

from __future__ import annotations

import numpy as np
import pytest

import qdup
from fake_model import FakeModel
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
    monkeypatch.setattr(scorers, "fit_cosine",
                        lambda *args, **kwargs: calls.append((args, kwargs["lookalikes"])) or CosineScorer())
    scorers.fit_scorer(qdup.TrainConfig(scorer="cosine", scorer_folds=3, lookalikes=0.3), toy_split, None,
                       progress=False)
    assert calls == [((toy_split, 3, None), 0.3)]  # the recipe's look-alike share reaches the fitter


def test_a_held_out_scorer_trains_one_encoder_on_the_rest(toy_split):
    trained = []

    def train_encoder(part):
        trained.append(part)
        return FakeModel()

    config = qdup.TrainConfig(scorer="rerank", scorer_held_out=0.3)
    encoder, scorer, fitted = scorers.fit_encoder_and_scorer(config, toy_split, train_encoder, progress=False)
    assert len(trained) == 1 and isinstance(encoder, FakeModel) and scorer.name == "rerank"
    held = held_out_part(toy_split, 0.3, config.seed)
    assert fitted == {"method": "held-out", **held.summary()} and fitted["held_out_duplicates"] > 0
    assert trained[0].train.ids.tolist() == held.rest(toy_split).train.ids.tolist()
    # Out of fold: one encoder on everything, then one per fold; the cosine scorer needs none of them.
    trained.clear()
    _, _, fitted = scorers.fit_encoder_and_scorer(qdup.TrainConfig(scorer="rerank"), toy_split, train_encoder, False)
    assert fitted == {"method": "out-of-fold"} and len(trained) == 3 and len(trained[0].train) == len(toy_split.train)
    trained.clear()
    _, _, fitted = scorers.fit_encoder_and_scorer(qdup.TrainConfig(scorer="cosine", scorer_held_out=0.3), toy_split,
                                                  train_encoder, False)
    assert fitted == {"method": "none"} and len(trained) == 1 and len(trained[0].train) == len(toy_split.train)


def test_the_search_reranker_alone_takes_the_recipes_monotone_unmatched_words(toy_split):
    """Chosen on validation queries (docs/benchmarks.md); the pairs' re-ranker keeps the shape that
    tells look-alikes apart. The reference recipe, and models saved before it, have it off."""
    def constraint(reranker, name: str) -> int:
        line = next(l for l in reranker.to_text().splitlines() if l.startswith("monotone_constraints="))
        return int(line.partition("=")[2].split()[reranker.feature_names.index(name)])

    for on in (True, False):
        config = qdup.TrainConfig(scorer="rerank", search_unmatched_monotone=on)
        _, scorer, _ = scorers.fit_encoder_and_scorer(config, toy_split, lambda part: FakeModel(), progress=False)
        assert constraint(scorer.search, "max_unmatched") == (-1 if on else 0)
        assert constraint(scorer.pair, "max_unmatched") == 0 and constraint(scorer.search, "cosine") == 1
    assert qdup.TrainConfig().search_unmatched_monotone
    assert qdup.TrainConfig.from_recipe("transformer").search_unmatched_monotone
    assert not qdup.TrainConfig.from_recipe("reference").search_unmatched_monotone
    saved = {k: v for k, v in qdup.TrainConfig().to_dict().items() if k != "search_unmatched_monotone"}
    assert not qdup.TrainConfig.from_dict(saved).search_unmatched_monotone


def test_a_held_out_part_without_duplicates_is_refused_before_any_training(toy_split):
    config = qdup.TrainConfig(scorer="rerank", scorer_held_out=0.001)
    with pytest.raises(qdup.ConfigError, match=r"^scorer_held_out=0.001 holds out 0 duplicate pairs: the re-ranker "
                                               r"needs more \(a larger share, or more pairs\)$"):
        scorers.fit_encoder_and_scorer(config, toy_split, lambda part: pytest.fail("trained"), progress=False)


def test_the_default_recipe_makes_lookalike_rows_for_the_pair_reranker():
    """Chosen on validation (docs/benchmarks.md): look-alike rows for the pairs' re-ranker only."""
    assert qdup.TrainConfig().lookalikes == 0.2 and qdup.TrainConfig.from_recipe("reference").lookalikes == 0
    assert qdup.TrainConfig().to_dict()["lookalikes"] == 0.2  # recorded in the model's config.json
    # The one command: a look-alike of every held-out duplicate pair, names of up to 3 words.
    transformer = qdup.TrainConfig.from_recipe("transformer")
    assert (transformer.lookalikes, transformer.lookalike_words) == (1.0, 3)
    assert qdup.TrainConfig().lookalike_words == 1


def test_lookalike_rows_by_hand():
    from fake_model import FakeModel
    from qdup.scoring.pair_features import FEATURES, pair_features
    from qdup.text.lexical import LexicalStats
    from qdup.text.names import NameStats
    from qdup.training.lookalikes import Lookalikes
    from qdup.training.scorer_fit import lookalike_rows

    pool = ["Do I need a visa for Nepal?", "Do I need a visa for Laos?", "Is a visa for Nepal costly?",
            "Is a visa for Laos costly?", "How do I cook rice?", "What is the best rice cooker?"]
    duplicates = qdup.pairs_from_lists(["Do I need a visa for Nepal?", "How do I cook rice?"],
                                       ["Is a visa for Nepal costly?", "What is the best rice cooker?"], [1, 1])
    stats, names, encoder = LexicalStats.fit(pool), NameStats.fit(pool), FakeModel()
    maker = Lookalikes.from_pool(pool)
    x, y = lookalike_rows(duplicates, encoder, maker, stats, names, share=1.0, seed=0)
    # The rice pair shares no name or number; the visa pair's shared Nepal becomes Laos, its one neighbour.
    swapped = ["Do I need a visa for Nepal?", "Do I need a visa for Laos?"]
    cosine = encoder.similarity(swapped[:1], swapped[1:])
    expected = pair_features(cosine, stats.rows(swapped[:1]), stats.rows(swapped[1:]), stats, names=names)
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert y.tolist() == [0.0] and x[0, FEATURES.index("min_missing_name")] > 0
    none, _ = lookalike_rows(duplicates, encoder, maker, stats, names, share=0.0, seed=0)
    assert none.shape == (0, len(FEATURES))
