"""Refitting the scorer on moderator decisions: reproducible, leak-free thresholds, the same indexes."""

import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

import qdup
from fake_model import FakeModel
from helpers import SMALL_DEFAULT
from qdup.model import QdupModel
from qdup.errors import ConfigError, DataError, OutputError
from qdup.search.decisions import latest
from qdup.search.index import Index
from qdup.training import refit as refit_module
from qdup.training.refit import decisions_from_pairs, held_out, refit, refittable
from qdup.training.trainer import train_encoder

@pytest.fixture(scope="module")
def base(rerank_model):
    return rerank_model


@pytest.fixture(scope="module")
def decisions(toy_split):
    """Verdicts on validation and test pairs: pairs the encoder never trained on."""
    return decisions_from_pairs(toy_split.validation) + decisions_from_pairs(toy_split.test)


@pytest.fixture(scope="module")
def refitted(base, fixture_pairs, decisions, tmp_path_factory):
    cache = tmp_path_factory.mktemp("folds")
    return refit(base, fixture_pairs, decisions, cache=cache), cache


def test_a_refit_is_reproducible_with_or_without_the_cache(base, fixture_pairs, decisions, refitted):
    first, cache = refitted
    assert any(cache.iterdir())  # the out-of-fold vectors were kept
    again = refit(base, fixture_pairs, decisions, cache=cache)  # vectors from the cache
    fresh = refit(base, fixture_pairs, decisions, cache=None)  # out-of-fold encoders trained again
    for other in (again, fresh):
        assert other.fingerprint == first.fingerprint
        assert other.threshold == first.threshold
        assert other.info["search_threshold"] == first.info["search_threshold"]


def test_each_out_of_fold_encoder_is_trained_once(base, fixture_pairs, decisions, monkeypatch):
    # The look-alikes' vectors (texts not in the pool: not among the pool's cached vectors)
    # trained each fold's encoder a second time: four trainings where the model's recipe has two.
    trained = []
    monkeypatch.setattr(refit_module, "train_encoder", lambda *a, **k: trained.append(1) or train_encoder(*a, **k))
    assert base.info["training"]["lookalikes"] > 0
    refit(base, fixture_pairs, decisions, cache=None)
    assert len(trained) == base.info["training"]["scorer_folds"]


def test_cached_fold_vectors_serve_a_model_that_differs_in_scorer_settings_only(
        base, fixture_pairs, decisions, refitted, monkeypatch, tmp_path):
    # Built-in v5 and v6 differ in search_unmatched_monotone alone: the same fold encoders.
    first, cache = refitted
    trained = []
    monkeypatch.setattr(refit_module, "train_encoder", lambda *a, **k: trained.append(1) or train_encoder(*a, **k))
    shared = tmp_path / "folds"
    shutil.copytree(cache, shared)
    recipe = base.info["training"]
    # (Another share of look-alikes would ask for vectors of other look-alike texts.)
    for setting, value in (("search_unmatched_monotone", not recipe["search_unmatched_monotone"]),
                           ("calibrate", False)):
        other = QdupModel(base.encoder, base.threshold, {**base.info, "training": {**recipe, setting: value}},
                          base.scorer)
        refit(other, fixture_pairs, decisions, cache=shared)
        assert trained == [] and sorted(p.name for p in shared.iterdir()) == sorted(p.name for p in cache.iterdir())
    longer = QdupModel(base.encoder, base.threshold, {**base.info, "training": {**recipe, "epochs": 1}}, base.scorer)
    refit(longer, fixture_pairs, decisions, cache=shared)  # an encoder setting: folds trained again
    assert len(trained) == recipe["scorer_folds"] and len(list(shared.iterdir())) == 2 * len(list(cache.iterdir()))


def test_a_cache_that_cannot_be_written_is_refused_before_any_training(base, fixture_pairs, decisions, tmp_path,
                                                                        monkeypatch):
    # It failed once the first fold's encoder had trained (minutes), naming no cache: "...: Not a directory".
    monkeypatch.setattr(refit_module, "train_encoder", lambda *a, **k: pytest.fail("trained before the check"))
    (tmp_path / "file").write_text("")
    cache = tmp_path / "file" / "cache"
    with pytest.raises(OutputError, match=f"^{re.escape(str(cache / 'fold.npy'))}: cannot write there \\(Not a direct"):
        refit(base, fixture_pairs, decisions, cache=cache)


def test_decisions_that_leave_no_validation_pairs_to_calibrate_on_are_refused_before_any_training(
        base, fixture_pairs, monkeypatch):
    # Verdicts on every pair of the file: the threshold's validation pairs (those no fitted decision
    # touches) were one, found once the encoders had trained, and the error offered
    # "--set calibrate=false", which refit does not have.
    monkeypatch.setattr(refit_module, "train_encoder", lambda *a, **k: pytest.fail("trained before the check"))
    with pytest.raises(DataError, match=r"^the fitted decisions touch questions of \d+ of the \d+ validation pairs, "
                                        r"leaving 1, not pairs of both kinds to choose the threshold on \(hold more "
                                        r"decisions out: a higher holdout\)$"):
        refit(base, fixture_pairs, decisions_from_pairs(fixture_pairs), cache=None)


def test_a_damaged_cache_entry_is_made_again(base, fixture_pairs, decisions, refitted, tmp_path):
    first, cache = refitted
    damaged = tmp_path / "folds"
    shutil.copytree(cache, damaged)
    entries = sorted(damaged.iterdir())
    entries[0].write_bytes(entries[0].read_bytes()[:50])  # cut inside its header
    entries[-1].write_bytes(entries[-1].read_bytes()[:-16])  # cut inside its vectors
    again = refit(base, fixture_pairs, decisions, cache=damaged)
    assert again.fingerprint == first.fingerprint
    assert all(np.load(e).shape == np.load(cache / e.name).shape for e in entries)  # replaced whole


def test_the_refit_learns_and_keeps_what_indexes_store(base, refitted):
    new, _ = refitted
    assert new.fingerprint != base.fingerprint  # new re-rankers...
    assert new.data_fingerprint == base.data_fingerprint  # ...same vectors and lexical rows
    assert new.encoder is base.encoder and new.scorer.lexical is base.scorer.lexical


def test_decisions_never_choose_the_thresholds_they_were_fitted_on(base, refitted, decisions, toy_split):
    new, _ = refitted
    done, decided = new.info["refit"], latest(decisions)
    kept = [d for d in decided if held_out(d.query, 0.2)]
    assert (done["fitted"], done["held_out"], done["holdout"]) == (len(decided) - len(kept), len(kept), 0.2)
    assert done["lineage"] == [base.fingerprint]
    fitted = {q for d in decided if not held_out(d.query) for q in (d.query, d.match)}
    untouched = [a for a, b in zip(toy_split.validation.question1, toy_split.validation.question2)
                 if a.strip() not in fitted and b.strip() not in fitted]
    assert 0 < new.info["calibration"]["pairs"] == len(untouched) < len(toy_split.validation)
    assert {"threshold", "precision", "flagged_share", "floor", "floor_recall"} <= set(new.info["search_threshold"])


def test_held_out_queries_stay_held_out():
    queries = [f"question {n}?" for n in range(2000)]
    share = sum(held_out(q, 0.2) for q in queries) / len(queries)
    assert 0.17 < share < 0.23
    assert [held_out(q, 0.2) for q in queries] == [held_out(f"  {q} ", 0.2) for q in queries]


def test_the_refit_model_serves_its_base_models_indexes(base, refitted, tmp_path):
    new, _ = refitted
    index = Index.build(base, None, ["How do I learn Python?", "What is an LSTM?"], tmp_path / "idx")
    [found] = index.search(new, ["learn python"], k=1)
    assert found.ids == ["1"]
    index.add(new, ["Added by the refit model?"])
    # An index written before data fingerprints existed: the refit's lineage names its base.
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    del manifest["data_fingerprint"]
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps(manifest))
    assert Index.load(tmp_path / "idx").search(new, ["learn python"], k=1)[0].ids == ["1"]
    other = Index.build(FakeModel(), None, ["How do I learn Python?"], tmp_path / "other")
    with pytest.raises(DataError, match="was built with model"):
        other.search(new, ["learn python"])


UNREACHABLE = "no threshold reaches precision 0.8 on these 6 queries (best: 0.500)"


def unreachable_precision(*args, **kwargs):
    raise DataError(f"{UNREACHABLE}; try a lower precision")


def test_a_refit_whose_search_threshold_cannot_be_chosen_is_kept_without_one(
        base, fixture_pairs, decisions, refitted, monkeypatch, tmp_path):
    # Few validation queries: the refit's minutes of work ended in that error, whose
    # advice (a lower precision) refit has no option for.
    first, cache = refitted
    monkeypatch.setattr("qdup.evaluation.search_calibration.calibrate_on_pairs", unreachable_precision)
    model = refit(base, fixture_pairs, decisions, cache=cache)
    assert model.fingerprint == first.fingerprint and model.threshold == first.threshold
    assert "search_threshold" not in model.info and model.search_threshold is None
    assert model.info["refit"]["search_threshold"] == f"none: {UNREACHABLE}"
    assert qdup.load(model.save(tmp_path / "m")).search_threshold is None


def test_refit_refusals(base, tiny_model, fixture_pairs, decisions):
    with pytest.raises(ConfigError, match="refit needs a model whose scorer learns from pairs"):
        refit(tiny_model, fixture_pairs, decisions)
    with pytest.raises(DataError, match=r"^these pairs are not the ones the model was trained on \(test pairs: 160 "
                                        r"expected, 40 found\): refit on the pairs file the model was trained on$"):
        refit(base, fixture_pairs.subset(list(range(600))), decisions)
    with pytest.raises(DataError, match=r"\(training duplicates: 224 expected, 184 found; validation pairs: 103 "
                                        r"expected, 82 found; .*; first validation pair id: 457 expected, 478 found\)"):
        refit(base, fixture_pairs.subset(list(range(120, 720))), decisions)
    only_held_out = [d for d in latest(decisions) if held_out(d.query)]
    with pytest.raises(DataError, match=f"^no decisions to learn from: holdout 0.2 keeps all {len(only_held_out)} for "
                                        "the thresholds \\(more decisions, or a lower holdout\\)$"):
        refit(base, fixture_pairs, only_held_out)
    with pytest.raises(ConfigError, match="holdout must be in"):
        refit(base, fixture_pairs, decisions, holdout=1.0)


def test_refit_tells_apart_pairs_of_the_same_counts(base, fixture_pairs, decisions):
    # One test question edited: every count the same, so only the pairs' sha256 differs.
    edited = replace(fixture_pairs, question1=[*fixture_pairs.question1[:-1], "How do I edit this question?"])
    expected, found = base.info["data"]["pairs_sha256"], qdup.reference_split(edited).digest()
    with pytest.raises(DataError, match=f"^these pairs are not the ones the model was trained on \\(pairs' sha256: "
                                        f"{expected} expected, {found} found\\): refit on the pairs file"):
        refit(base, edited, decisions)


def test_a_model_saved_before_the_pairs_sha256_is_checked_by_its_counts(base, fixture_pairs, decisions):
    recorded = {k: v for k, v in base.info["data"].items() if k != "pairs_sha256"}
    older = QdupModel(base.encoder, base.threshold, {**base.info, "data": recorded}, base.scorer)
    split = qdup.reference_split(fixture_pairs)
    assert refittable(older, split) == refittable(base, split)  # no refusal: the counts agree
    with pytest.raises(DataError, match=r"\(test pairs: 160 expected, 40 found\)"):
        refit(older, fixture_pairs.subset(list(range(600))), decisions)


@pytest.mark.parametrize("info, fitted_on", [
    ({"base_encoder": "models/minilm"}, "a fine-tuned pretrained encoder"),
    ({"distillation": {"questions": 10}}, "a distilled student"),
    ({"scorer_fit": {"method": "held-out", "held_out_duplicates": 30}}, "a held-out part of the pool"),
])
def test_refit_refuses_a_scorer_fitted_another_way(base, fixture_pairs, decisions, info, fitted_on):
    """Its out-of-fold LSTMs would give the re-rankers cosines of encoders other than the model's."""
    other = QdupModel(base.encoder, base.threshold, {**base.info, **info}, base.scorer)
    with pytest.raises(ConfigError, match=f"this model's scorer was fitted on {fitted_on}: export the decisions"):
        refit(other, fixture_pairs, decisions)


def test_a_held_out_model_records_the_whole_split(toy_split):
    """Not the part its encoder trained on: the split is what refit and evaluate check against."""
    model = qdup.train(toy_split, qdup.TrainConfig.from_recipe("default", **SMALL_DEFAULT, scorer_held_out=0.3))
    assert model.info["scorer_fit"]["method"] == "held-out" and model.info["data"] == toy_split.summary()
