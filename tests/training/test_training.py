from dataclasses import replace

import pytest
import torch

import qdup
from qdup.errors import ConfigError, DataError

from helpers import TINY, TOY_PAIRS, run
from qdup.training import trainer


def weights(model):
    return {k: v.clone() for k, v in model.encoder.network.state_dict().items()}


def test_same_seed_same_model(toy_split, tiny_model):
    again = qdup.train(toy_split, TINY)
    first, second = weights(tiny_model), weights(again)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_other_seed_other_model(toy_split, tiny_model):
    other = qdup.train(toy_split, qdup.TrainConfig.from_recipe("reference", epochs=1, batch_size=32, dim=32, seed=2))
    assert not torch.equal(weights(tiny_model)["embedding.weight"], weights(other)["embedding.weight"])


def test_history_and_best_epoch(tiny_model):
    history = tiny_model.info["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    losses = [h["validation_loss"] for h in history]
    assert tiny_model.info["best_epoch"] == losses.index(min(losses)) + 1
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_trained_model_separates_duplicates(tiny_model, toy_split):
    report = qdup.evaluate(tiny_model, toy_split.test)
    assert report.roc_auc > 0.75


def test_keeps_best_epoch_weights(toy_split):
    # With a huge learning rate later epochs get worse; the saved weights must be the best epoch's.
    config = qdup.TrainConfig.from_recipe("reference", epochs=3, batch_size=32, dim=16, learning_rate=0.5, seed=3)
    model = qdup.train(toy_split, config)
    best = model.info["best_epoch"]
    replay = qdup.train(toy_split, qdup.TrainConfig.from_recipe(
        "reference", epochs=best, batch_size=32, dim=16, learning_rate=0.5, seed=3))
    assert replay.info["best_epoch"] == best  # same seed: the same first `best` epochs
    assert torch.equal(weights(model)["embedding.weight"], weights(replay)["embedding.weight"])


@pytest.mark.parametrize("bad, message", [
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"batch_size": 1}, "batch_size must be at least 2"),
    ({"learning_rate": -1.0}, "learning_rate must be positive, got -1.0"),
    ({"margin": 3.0}, "margin must be in [0, 2], got 3.0"),
])
def test_config_names_the_bad_value(bad, message):
    with pytest.raises(ConfigError) as error:
        qdup.TrainConfig.from_recipe("reference", **bad)
    assert message in str(error.value)


def test_unknown_recipe():
    with pytest.raises(ConfigError, match="unknown recipe 'fancy'"):
        qdup.TrainConfig.from_recipe("fancy")


def test_reference_defaults():
    config = qdup.TrainConfig.from_recipe("reference")
    assert (config.batch_size, config.learning_rate, config.margin, config.model.dim) == (256, 0.01, 0.25, 128)
    assert qdup.TrainConfig.from_dict(config.to_dict()) == config


def test_one_epoch_on_qqp_partial(qqp_partial):
    split = qdup.reference_split(qdup.read_pairs(qqp_partial))
    model = qdup.train(split, qdup.TrainConfig.from_recipe("reference", epochs=1))
    assert len(model.encoder.vocabulary) == 12_836
    report = qdup.evaluate(model, split.test, threshold=0.7)
    assert report.pairs == 2713
    assert report.roc_auc > 0.6  # the masked reproduction learns; the Keras original does not


@pytest.mark.parametrize("bad, message", [
    ({"seed": -1}, "seed must be an integer in [0, 2**32), got -1"),
    ({"learning_rate": float("inf")}, "learning_rate must be a finite number, got inf"),
    ({"pair_weight": float("nan")}, "pair_weight must be a finite number, got nan"),
])
def test_unbounded_settings_are_refused(bad, message):
    with pytest.raises(ConfigError) as error:
        qdup.TrainConfig.from_recipe("reference", **bad)
    assert message in str(error.value)


def test_one_default_recipe_everywhere():
    import inspect

    from qdup.cli import cli

    assert qdup.TrainConfig() == qdup.TrainConfig.from_recipe() == qdup.TrainConfig.from_recipe("default")
    assert qdup.TrainConfig().recipe == "default"
    assert [p.default for p in cli.commands["train"].params if p.name == "recipe"] == ["default"]
    assert "config or TrainConfig()" in inspect.getsource(qdup.train)


def test_recipe_name_follows_the_values():
    assert qdup.TrainConfig.from_recipe("reference").recipe == "reference"
    assert qdup.TrainConfig.from_recipe("reference", epochs=5).recipe == "reference + epochs=5"
    with pytest.raises(TypeError):
        qdup.TrainConfig(recipe="default")  # a label that could disagree with the values is gone


def test_train_config_embeds_the_model_shape_and_round_trips():
    config = qdup.TrainConfig.from_recipe("default", dim=16, epochs=3)
    assert config.model.dim == 16 and config.model.lowercase and config.model_config(100).vocab_size == 100
    assert qdup.TrainConfig.from_dict(config.to_dict()) == config
    old_flat = {"recipe": "reference", "epochs": 2, "dim": 128, "hidden": 0, "lowercase": False, "ngram_buckets": 0,
                "bidirectional": False, "pooling": "mean", "max_length": 256, "dropout": 0.0, "batch_size": 256,
                "learning_rate": 0.01, "min_count": 1, "pair_weight": 0.0, "negatives_per_batch": 0, "select": "loss",
                "patience": 0, "calibrate": False, "margin": 0.25, "seed": 0, "symmetric": False, "schedule": "constant"}
    assert qdup.TrainConfig.from_dict(old_flat) == qdup.TrainConfig.from_recipe("reference")  # older model folders
    saved = {k: v for k, v in qdup.TrainConfig().to_dict().items() if k not in ("ranking_weight", "scorer")}
    before = qdup.TrainConfig.from_dict(saved)  # a folder saved before the ranking loss and scorers
    assert before.ranking_weight == 0.0 and before.scorer == "cosine" and qdup.TrainConfig().ranking_weight > 0
    issue_18 = ("hard_negatives", "lookalike_negatives", "lookalikes")
    v4 = qdup.TrainConfig.from_dict({k: v for k, v in qdup.TrainConfig().to_dict().items() if k not in issue_18})
    assert (v4.hard_negatives, v4.lookalike_negatives, v4.lookalikes) == (0, 0, 0)  # saved before issue 18: off


@pytest.mark.parametrize("settings, message", [
    ({"hard_negatives": -1}, "hard_negatives must be an integer >= 0, got -1"),
    ({"hard_negatives": 2.5}, "hard_negatives must be an integer >= 0, got 2.5"),
    ({"lookalike_negatives": 1.5}, "lookalike_negatives must be a share in [0, 1], got 1.5"),
    ({"lookalikes": True}, "lookalikes must be a share in [0, 1], got True"),
    ({"implied_duplicates": -1.0}, "pair_weight, ranking_weight, negatives_per_batch, patience and "
                                   "implied_duplicates must not be negative"),
    ({"implied_duplicates": float("nan")}, "implied_duplicates must be a finite number, got nan"),
    ({"implied_duplicates": True}, "implied_duplicates must be a finite number, got True"),
])
def test_issue_18_settings_are_validated(settings, message):
    with pytest.raises(ConfigError) as error:
        qdup.TrainConfig(**settings)
    assert str(error.value) == message


@pytest.mark.parametrize("data, message", [
    ({"epochs": 2, "colour": "red"}, "unknown training setting(s): colour"),
    ({"model": {"dim": 8, "shape": "round"}}, "unknown model setting(s): shape"),
    ({"model": "big"}, "model must be an object of shape settings, got 'big'"),
])
def test_train_config_from_dict_refuses_unknown_keys(data, message):
    with pytest.raises(ConfigError) as error:
        qdup.TrainConfig.from_dict(data)
    assert str(error.value) == message


def one_kind_of_validation_pairs(split: qdup.Split) -> qdup.Split:
    return replace(split, validation=split.validation.duplicates())


def test_validation_pairs_of_one_kind_give_no_nan_auc(toy_split, tmp_path):
    # Their AUC was NaN: in the log, in the best-epoch choice and as NaN (invalid JSON) in config.json.
    model = qdup.train(one_kind_of_validation_pairs(toy_split), replace(TINY, epochs=2))
    assert [record["validation_auc"] for record in model.info["history"]] == [None, None]
    assert model.info["calibration"]["validation_auc"] is None
    assert "NaN" not in (model.save(tmp_path / "m") / "config.json").read_text()


def test_a_threshold_is_not_calibrated_on_validation_pairs_of_one_kind(toy_split):
    # It was put at the highest score, so the model judged nothing a duplicate.
    config = replace(TINY, calibrate=True)
    message = (r"^the \d+ validation pairs are all duplicates: calibrating the threshold needs non-duplicates too "
               r"\(add some to the file, or --set calibrate=false\)$")
    with pytest.raises(DataError, match=message):
        qdup.train(one_kind_of_validation_pairs(toy_split), config)
    no_pairs = replace(toy_split, validation=toy_split.validation.subset([]))
    with pytest.raises(DataError, match=r"^there are no validation pairs to calibrate the threshold on"):
        qdup.train(no_pairs, config)


def test_qdup_train_names_the_file_of_validation_pairs_of_one_kind_before_training(capsys, tmp_path, monkeypatch):
    # The library's error named no file (`qdup calibrate` names it).
    lines = TOY_PAIRS.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "dup.tsv"
    data.write_text("\n".join(lines[:1] + [x for x in lines[1:] if x.endswith("\t1")]) + "\n", encoding="utf-8")
    validation = qdup.reference_split(qdup.read_pairs(data)).validation
    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("trained before the check"))
    code, out, err = run(capsys, "train", data, "--out", tmp_path / "m", "--epochs", "1")
    assert (code, out, err) == (1, "", f"Error: {data}: the {len(validation)} validation pairs are all duplicates: "
                                       "calibrating the threshold needs non-duplicates too (add some to the file, "
                                       "or --set calibrate=false)\n")
    assert not (tmp_path / "m").exists()
