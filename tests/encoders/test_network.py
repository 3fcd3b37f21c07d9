import numpy as np
import pytest
import torch

from qdup.encoders.lstm.network import ModelConfig, SiameseEncoder
from qdup.errors import ConfigError


def test_reference_parameter_count():
    encoder = SiameseEncoder(ModelConfig(vocab_size=36_224, dim=128))
    trainable = {n: p.numel() for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable["embedding.weight"] == 4_636_672
    assert sum(v for n, v in trainable.items() if n.startswith("lstm")) == 131_584
    assert sum(trainable.values()) == 4_768_256


def test_vector_does_not_depend_on_batch(tiny_model):
    question = "How do I learn Python?"
    long_question = " ".join(["why"] * 60)
    alone = tiny_model.encode([question])
    beside = tiny_model.encode([long_question, question], batch_size=2)
    assert torch.allclose(torch.from_numpy(alone[0]), torch.from_numpy(beside[1]), atol=1e-6)


def test_vectors_are_unit_length_and_order_preserved(tiny_model):
    questions = ["a b c d e f", "How do I cook rice?", "", "x"]
    vectors = tiny_model.encode(questions, batch_size=3)
    assert vectors.shape == (4, tiny_model.dim) and vectors.dtype.name == "float32"
    assert abs(vectors @ vectors.T).max() <= 1.0 + 1e-5
    assert torch.allclose(torch.from_numpy(vectors).norm(dim=1), torch.ones(4), atol=1e-5)
    for i, q in enumerate(questions):
        assert torch.allclose(torch.from_numpy(tiny_model.encode([q])[0]),
                              torch.from_numpy(vectors[i]), atol=1e-6)


def test_huge_question_is_truncated_not_fatal(tiny_model):
    # Only the first max_length tokens count: the vector is that of the truncated question.
    [huge, cut] = tiny_model.encode(["why how " * 20_000, "why how " * (tiny_model.encoder.config.max_length // 2)])
    assert torch.allclose(torch.from_numpy(huge), torch.from_numpy(cut), atol=1e-6)
    [other] = tiny_model.encode(["why how " * (tiny_model.encoder.config.max_length // 4)])
    assert not torch.allclose(torch.from_numpy(huge), torch.from_numpy(other), atol=1e-6)


def test_encode_one_string_gives_one_vector(tiny_model):
    one = tiny_model.encode("How?")
    assert one.shape == (tiny_model.dim,)
    np.testing.assert_allclose(one, tiny_model.encode(["How?"])[0], atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    ({"vocab_size": 1}, "model vocab_size must be at least 2, got 1"),
    ({"vocab_size": 10, "dim": 0}, "model dim must be a positive integer, got 0"),
    ({"vocab_size": 10, "dim": "8"}, "model dim must be a positive integer, got '8'"),
])
def test_model_config_validates(bad, message):
    with pytest.raises(ConfigError) as error:
        ModelConfig(**bad)
    assert str(error.value) == message


def test_model_config_round_trip():
    config = ModelConfig(vocab_size=100, dim=16)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown model setting"):
        ModelConfig.from_dict({"vocab_size": 10, "colour": "red"})
