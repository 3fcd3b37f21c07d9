"""Training encodes length-sorted chunks: same vectors, loss and validation figures as one batch."""

import numpy as np
import pytest
import torch

import qdup
from qdup.encoders.lstm.encoder import LstmEncoder
from qdup.encoders.lstm.network import SiameseEncoder
from qdup.evaluation import metrics
from qdup.training import steps
from qdup.training.losses import triplet_loss


@pytest.fixture(scope="module")
def parts(toy_split):
    config = qdup.TrainConfig.from_recipe("default", dim=8, hidden=4, ngram_buckets=64, dropout=0.0)
    texts = toy_split.train.question1 + toy_split.train.question2
    vocabulary = qdup.Vocabulary.build(texts, lowercase=True)
    torch.manual_seed(0)
    lstm = LstmEncoder(vocabulary, SiameseEncoder(config.model_config(len(vocabulary))))
    return config, lstm, toy_split


@pytest.mark.parametrize("chunk", [1, 3, 7, 10_000])
def test_chunked_encoding_keeps_row_order_and_values(parts, chunk):
    _, lstm, split = parts
    encoder, featurizer = lstm.network, lstm._train_featurizer
    rows = lstm.rows(split.train.question1[:23] + split.train.question2[:23])
    encoder.train()  # dropout 0: training mode, gradients on, as in a training step
    whole = encoder(featurizer.collate(rows))
    chunked = steps.encode(lstm, rows, chunk)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
    loss_whole = triplet_loss(whole[:23], whole[23:])
    loss_chunked = triplet_loss(chunked[:23], chunked[23:])
    assert abs(loss_whole.item() - loss_chunked.item()) < 1e-4
    loss_chunked.backward()  # gradients flow back through the reordering
    assert encoder.lstm.weight_hh_l0.grad is not None and encoder.lstm.weight_hh_l0.grad.abs().sum() > 0
    encoder.zero_grad()


@torch.no_grad()
def test_validation_encodes_each_question_once_with_the_same_figures(parts):
    config, lstm, split = parts
    encoder, featurizer = lstm.network, lstm._train_featurizer
    encoder.eval()
    validation = split.validation
    rows = steps.pair_rows(lstm, validation)
    calls = []
    hook = encoder.register_forward_hook(lambda module, args, out: calls.append(len(out)))
    try:
        figures = steps.validate(lstm, rows, config)
    finally:
        hook.remove()
    assert sum(calls) == 2 * len(validation)  # every question once, duplicates included
    # The figures as computed before: duplicates in batches of batch_size, each pair's cosine.
    dups = validation.duplicates()
    v1 = encoder(featurizer.batch(dups.question1))
    v2 = encoder(featurizer.batch(dups.question2))
    losses = [triplet_loss(v1[s : s + config.batch_size], v2[s : s + config.batch_size], config.margin).item()
              for s in range(0, len(dups), config.batch_size) if len(dups) - s >= 2]
    scores = (encoder(featurizer.batch(validation.question1)) * encoder(featurizer.batch(validation.question2))).sum(1)
    assert figures["validation_loss"] == pytest.approx(float(np.mean(losses)), abs=1e-5)
    assert figures["validation_auc"] == pytest.approx(metrics.roc_auc(validation.is_duplicate, scores.numpy()), abs=1e-6)
