"""Extra negatives of the encoder's ranking loss (qdup.training.hard_negatives) and the batch
loss that takes them (qdup.training.steps.batch_loss)."""

import numpy as np
import pytest
import torch

import qdup
from qdup.encoders.lstm.encoder import LstmEncoder
from qdup.encoders.lstm.network import SiameseEncoder
from qdup.training import steps
from qdup.training.hard_negatives import EpochNegatives, PoolNegatives
from qdup.training.lookalikes import Lookalikes
from qdup.training.losses import ranking_loss, triplet_loss

TRAIN = qdup.pairs_from_lists(
    ["Is a visa for Nepal expensive?", "How do I learn Python?", "What is a visa?"],
    ["How much is a visa for Nepal?", "What is the best way to learn Python?", "What does a visa mean?"],
    [1, 1, 1])
POOL = sorted({*TRAIN.question1, *TRAIN.question2, "Is a visa for Laos expensive?", "How do I learn Java?",
               "Do I need a visa for Laos?", "What does visa mean?", "How do I learn Rust?"})


@pytest.fixture(scope="module")
def lstm():
    config = qdup.TrainConfig.from_recipe("default", dim=8, hidden=4, ngram_buckets=64, dropout=0.0)
    vocabulary = qdup.Vocabulary.build(POOL, lowercase=True)
    torch.manual_seed(0)
    return LstmEncoder(vocabulary, SiameseEncoder(config.model_config(len(vocabulary)))), config


def test_batch_loss_adds_the_extra_negatives_to_the_ranking_and_pair_losses(lstm):
    encoder, config = lstm
    data = {"train": steps.pair_rows(encoder, TRAIN),
            "negatives": steps.pair_rows(encoder, qdup.pairs_from_lists(POOL[:2], POOL[2:4], [0, 0]))}
    extra_texts = ["Is a visa for Laos expensive?", "How do I learn Rust?"]
    anchors = np.array([0, -1])  # a look-alike of pair 0's first question; a pool negative
    batch, negatives, head = np.array([0, 1, 2]), np.array([1]), torch.tensor([10.0, -7.0])
    encoder.network.train()
    got = steps.batch_loss(encoder, data, config, batch, negatives, head,
                           (encoder.rows(extra_texts), anchors, [None, extra_texts[1]]))
    v = steps.encode(encoder, [*encoder.rows(TRAIN.question1), *encoder.rows(TRAIN.question2),
                               *encoder.rows([POOL[1], POOL[3]]), *encoder.rows(extra_texts)])
    v1, v2, a, c, e = v[:3], v[3:6], v[6:7], v[7:8], v[8:]
    logits = head[0] * torch.cat([(v1 * v2).sum(1), (a * c).sum(1), (v1[:1] * e[:1]).sum(1)]) + head[1]
    pair = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([1.0, 1, 1, 0, 0]), reduction="sum")
    expected = triplet_loss(v1, v2, config.margin) + config.pair_weight * pair + \
        config.ranking_weight * ranking_loss(v1, v2, torch.cat([a, c, e]))
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    without = steps.batch_loss(encoder, data, config, batch, negatives, head)
    assert without.item() != pytest.approx(got.item(), rel=1e-3)


def test_pool_negatives_are_near_and_never_labelled_duplicates(lstm):
    encoder, _ = lstm
    chained = qdup.pairs_from_lists(TRAIN.question1 + ["What does a visa mean?"],
                                    TRAIN.question2 + ["What does visa mean?"], [1, 1, 1, 1])
    miner = PoolNegatives(encoder, chained, POOL, depth=2)
    vectors = steps.encode(encoder, encoder.rows(POOL), 64).detach().numpy()
    for seed in range(5):
        mined = miner.mine(encoder, np.random.default_rng(seed))
        assert (mined >= 0).all()
        for pair, row in enumerate(mined):
            first = POOL.index(chained.question1[pair])
            assert POOL[row] not in (chained.question1[pair], chained.question2[pair])
            if pair == 2:  # "What is a visa?" ~ "What does a visa mean?" ~ "What does visa mean?"
                assert POOL[row] != "What does visa mean?"
            others = [r for r in np.argsort(-(vectors @ vectors[first]), kind="stable") if r != first]
            assert row in others[:6]  # among the nearest (the 2 allowed after the pair's own and its class)


def test_lookalike_negatives_swap_a_shared_name():
    maker = Lookalikes(["Nepal", "Laos", "Python", "Java"], np.array([[1], [0], [3], [2]]))
    indices, texts = maker.swap_firsts(TRAIN, 1.0, np.random.default_rng(0))
    assert indices.tolist() == [0, 1]  # pair 2 shares no name
    assert texts == ["Is a visa for Laos expensive?", "How do I learn Java?"]
    assert maker.swap_firsts(TRAIN, 0.0, np.random.default_rng(0))[0].tolist() == []


def test_epoch_negatives_of_a_batch(lstm):
    encoder, _ = lstm
    extras = EpochNegatives(encoder, TRAIN, POOL, depth=2, lookalike_share=1.0)
    for_batch = extras.for_epoch(encoder, np.random.default_rng(0))
    rows, anchors, texts = for_batch(np.array([2, 0]))
    # pair 2: a pool negative only; pair 0: a pool negative, then its look-alike (position 1 in the batch)
    assert anchors.tolist() == [-1, -1, 1] and len(rows) == 3
    assert texts[0] in POOL and texts[1] in POOL and texts[2] is None  # the pool's texts, for the class mask
