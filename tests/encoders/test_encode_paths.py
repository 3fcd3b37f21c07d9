"""Inference shortcuts (one-call bidirectional LSTM, length chunks) give the plain path's vectors."""

import numpy as np
import pytest
import torch

import qdup
from qdup.encoders.lstm.encoder import length_chunks


@pytest.fixture(scope="module")
def bidirectional_model(toy_split):
    config = qdup.TrainConfig.from_recipe("default", epochs=1, batch_size=32, negatives_per_batch=32,
                                          dim=8, hidden=4, ngram_buckets=64)
    return qdup.train(toy_split, config)


def test_one_call_bidirectional_equals_two_calls(bidirectional_model, toy_split):
    model = bidirectional_model
    questions = toy_split.test.question1 + toy_split.test.question2
    fast = model.encode(questions, batch_size=7)
    assert model.encoder.network._both  # the shortcut was built and (with equal-length chunks) used
    rows = model.encoder.featurizer.rows(questions)
    shortcut, model.encoder.network._both = model.encoder.network._both, ()
    try:
        with torch.inference_mode():  # one question per call: the plain two-call path
            plain = np.concatenate([model.encoder.network(model.encoder.featurizer.collate([row])).numpy() for row in rows])
    finally:
        model.encoder.network._both = shortcut
    np.testing.assert_allclose(fast, plain, atol=1e-5, rtol=0)


def test_shortcut_does_not_touch_the_random_seed(bidirectional_model):
    state = torch.get_rng_state()
    bidirectional_model.encoder.network.fuse()
    bidirectional_model.encode(["every word of a question is fused once"])
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("batch_size", [1, 3, 5, 100])
def test_length_chunks_cover_every_row_once(batch_size):
    lengths = [5] * 40 + [2] * 3 + [7] * 33 + [1] + [5] * 2
    chunks = length_chunks(lengths, batch_size)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(lengths)))
    assert all(1 <= len(chunk) <= batch_size for chunk in chunks)
    if batch_size >= 32:  # the 42 fives and 33 sevens each fill chunks of their own
        assert sum(len(c) for c in chunks if {lengths[i] for i in c} == {5}) == 42
        assert sum(len(c) for c in chunks if {lengths[i] for i in c} == {7}) == 33


def test_fused_rows_filled_as_words_are_met_give_the_unfused_vectors(bidirectional_model, toy_split):
    encoder = bidirectional_model.encoder
    questions = toy_split.test.question1[:40]
    encoder.network.fuse()  # an empty table: rows are filled by the encodes below
    first, second = encoder.encode(questions[:20]), encoder.encode(questions)
    assert 2 < encoder.network._fused_words.sum() < len(encoder.vocabulary)  # only the words met
    fused, encoder.network._fused = encoder.network._fused, None
    try:
        with torch.inference_mode():  # word embeddings + n-grams per token, no table
            plain = np.concatenate([encoder.network(encoder._train_featurizer.collate(encoder.rows([q]))).numpy()
                                    for q in questions])
    finally:
        encoder.network._fused = fused
    np.testing.assert_allclose(second, plain, atol=1e-5, rtol=0)
    np.testing.assert_allclose(first, second[:20], atol=1e-6, rtol=0)


def test_the_whole_table_is_filled_after_a_few_encodes(bidirectional_model, toy_split, monkeypatch):
    from qdup.encoders.lstm import network

    monkeypatch.setattr(network, "FILL_ALL_AFTER", 2)
    encoder = bidirectional_model.encoder
    encoder.network.fuse()
    one = encoder.encode(toy_split.test.question1[:1])
    assert not encoder.network._fused_words.all()  # one encode: its own words only
    encoder.encode(toy_split.test.question2[:1])
    assert encoder.network._fused_words.all()  # the second that met new words filled the rest
    np.testing.assert_allclose(encoder.encode(toy_split.test.question1[:1]), one, atol=1e-6, rtol=0)
