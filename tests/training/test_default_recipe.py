import pytest
import torch

import qdup
from qdup.errors import ConfigError

SMALL = dict(epochs=3, batch_size=32, negatives_per_batch=32, dim=16, hidden=8, ngram_buckets=500, seed=4)


@pytest.fixture(scope="module")
def default_model(toy_split):
    return qdup.train(toy_split, qdup.TrainConfig.from_recipe("default", **SMALL))


def test_same_seed_bit_identical_weights(toy_split, default_model):
    again = qdup.train(toy_split, qdup.TrainConfig.from_recipe("default", **SMALL))
    first, second = default_model.encoder.network.state_dict(), again.encoder.network.state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert default_model.threshold == again.threshold


def test_threshold_is_calibrated_on_validation_pairs(toy_split, default_model):
    calibration = default_model.info["calibration"]
    assert default_model.threshold == pytest.approx(calibration["accuracy_threshold"], abs=1e-4)
    report = qdup.evaluate(default_model, toy_split.validation)  # uses the model's threshold
    assert report.threshold == default_model.threshold
    assert report.accuracy == pytest.approx(calibration["validation_accuracy"], abs=0.01)
    assert report.best_f1_threshold == pytest.approx(calibration["f1_threshold"])


def test_reference_recipe_keeps_threshold_0_7(tiny_model):
    assert tiny_model.threshold == 0.7
    assert "accuracy_threshold" in tiny_model.info["calibration"]  # still measured, not applied


def test_default_model_round_trips(default_model, tmp_path):
    loaded = qdup.load(default_model.save(tmp_path / "m"))
    questions = ["How do I learn Python?", "", "what is the best way to learn pyhton"]
    assert torch.equal(torch.from_numpy(loaded.encode(questions)), torch.from_numpy(default_model.encode(questions)))
    assert loaded.threshold == default_model.threshold
    assert loaded.dim == 2 * 8 + 16  # both LSTM directions, then the skip of the 16-d input embedding


def test_lowercase_and_ngrams_in_use(default_model):
    assert default_model.encoder.featurizer.lowercase and default_model.encoder.config.ngram_buckets == 500
    upper, lower = default_model.encode(["HOW DO I LEARN PYTHON", "how do i learn python"])
    assert torch.allclose(torch.from_numpy(upper), torch.from_numpy(lower))


@pytest.mark.parametrize("bad, message", [
    ({"schedule": "linear"}, "schedule must be one of constant, cosine, got 'linear'"),
    ({"select": "f1"}, "select must be one of loss, auc, got 'f1'"),
    ({"pooling": "max"}, "pooling must be one of mean, mean_max, mean_skip, got 'max'"),
    ({"min_count": 0}, "min_count must be a positive integer, got 0"),
    ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
    ({"pair_weight": -1.0}, "must not be negative"),
    ({"lookalike_words": 0}, "lookalike_words must be an integer from 1 to 4, got 0"),
    ({"lookalike_words": 2.0}, "lookalike_words must be an integer from 1 to 4, got 2.0"),
])
def test_new_settings_are_validated(bad, message):
    with pytest.raises(ConfigError) as error:
        qdup.TrainConfig.from_recipe("default", **bad)
    assert message in str(error.value)
