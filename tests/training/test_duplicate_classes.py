"""What training takes from the classes of the duplicate labels (qdup.data.duplicate_classes):
in-batch negatives that are duplicates after all, left out of the triplet and ranking losses
(``mask_duplicates``), and the duplicate pairs the labels imply (``implied_duplicates``)."""

import math

import numpy as np
import pytest
import torch

import qdup
from qdup.data.duplicate_classes import DuplicateClasses, implied_duplicates
from qdup.encoders.lstm.encoder import LstmEncoder
from qdup.encoders.lstm.network import SiameseEncoder
from qdup.training import steps
from qdup.training.losses import ranking_loss, triplet_loss

# Pairs 0 and 1 share a class ("How do I learn Python?" links them); pair 2 is alone.
TRAIN = qdup.pairs_from_lists(
    ["How do I learn Python?", "What is the best way to learn Python?", "Is a visa for Nepal expensive?"],
    ["What is the best way to learn Python?", "Where should a beginner start with Python?",
     "How much is a visa for Nepal?"],
    [1, 1, 1])
NEGATIVES = qdup.pairs_from_lists(["Where should a beginner start with Python?", "How do I cook rice?"],
                                  ["How do I learn Java?", "Is rice healthy?"], [0, 0])


def unit(rows, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(rows, 5, generator=generator, dtype=torch.float64), dim=1)


def test_triplet_loss_leaves_excluded_pairings_out_row_by_row():
    v1 = unit(4, 0)
    v1[2] = torch.nn.functional.normalize(v1[0] + 0.2 * unit(1, 5)[0], dim=0)  # pairs 0 and 2: one class
    v2 = torch.nn.functional.normalize(v1 + 0.4 * unit(4, 1), dim=1)
    exclude = torch.zeros(4, 4, dtype=torch.bool)
    exclude[0, 2] = exclude[2, 0] = True
    scores, margin, total = v2 @ v1.T, 0.25, 0.0
    for i in range(4):
        positive = scores[i, i].item()
        others = [scores[i, j].item() for j in range(4) if j != i and not exclude[i, j]]
        closer = [s if s <= positive else s - 2.0 for s in others]
        total += max(0.0, margin - positive + max(closer)) + max(0.0, margin - positive + sum(others) / len(others))
    assert triplet_loss(v1, v2, margin, exclude).item() == pytest.approx(total, abs=1e-9)
    assert triplet_loss(v1, v2, margin, exclude).item() != pytest.approx(triplet_loss(v1, v2, margin).item(), abs=1e-6)
    nothing = torch.zeros(4, 4, dtype=torch.bool)
    assert triplet_loss(v1, v2, margin, nothing).item() == pytest.approx(triplet_loss(v1, v2, margin).item(), abs=1e-9)


def test_a_row_left_without_negatives_adds_nothing():
    v1, v2 = unit(2, 2), unit(2, 3)
    assert triplet_loss(v1, v2, 0.25, torch.tensor([[False, True], [True, False]])).item() == 0.0


def test_ranking_loss_without_the_excluded_candidates_by_hand():
    v1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    v2 = torch.tensor([[0.6, 0.8], [0.0, 1.0]], dtype=torch.float64)
    extra = torch.tensor([[-1.0, 0.0], [0.8, 0.6]], dtype=torch.float64)
    exclude_negatives = torch.tensor([[False, True], [False, False]])  # extra 1 is a duplicate of pair 0

    def nll(positive, others):
        return -math.log(math.exp(positive) / (math.exp(positive) + sum(math.exp(o) for o in others)))

    forward = nll(0.6, [0.0, -1.0]) + nll(1.0, [0.8, 0.0, 0.6])
    backward = nll(0.6, [0.8, -0.6]) + nll(1.0, [0.0, 0.0, 0.6])
    got = ranking_loss(v1, v2, extra, scale=1.0, exclude_negatives=exclude_negatives)
    assert got.item() == pytest.approx((forward + backward) / 2, abs=1e-12)
    both = torch.tensor([[False, True], [True, False]])  # and the two pairs are one class
    got = ranking_loss(v1, v2, extra, scale=1.0, exclude=both, exclude_negatives=exclude_negatives)
    forward = nll(0.6, [-1.0]) + nll(1.0, [0.0, 0.6])
    backward = nll(0.6, [-0.6]) + nll(1.0, [0.0, 0.6])
    assert got.item() == pytest.approx((forward + backward) / 2, abs=1e-12)


def test_same_class_marks_the_duplicates_in_a_batch_and_among_its_negatives():
    classes = DuplicateClasses(TRAIN)
    data = {"classes": (classes.ids(TRAIN.question1), classes.ids(NEGATIVES.question1),
                        classes.ids(NEGATIVES.question2), classes)}
    within, across = steps._same_class(data, np.array([2, 0, 1]), np.array([0, 1]), [None])
    assert within.tolist() == [[False, False, False], [False, False, True], [False, True, False]]
    # The negatives' questions in batch order: firsts (0, 1), then seconds (0, 1), then the extra.
    assert across.tolist() == [[False, False, False, False, False],
                               [True, False, False, False, False],
                               [True, False, False, False, False]]
    assert steps._same_class({}, np.array([0, 1]), np.array([0]), []) == (None, None)


def test_a_pool_negative_in_another_pairs_class_is_masked_for_that_pair():
    classes = DuplicateClasses(TRAIN)
    data = {"classes": (classes.ids(TRAIN.question1), classes.ids(NEGATIVES.question1),
                        classes.ids(NEGATIVES.question2), classes)}
    # A pool negative drawn for pair 2 that is a duplicate of pair 0's question (by its class),
    # one in no class, and a made-up look-alike: only the first is masked, for pairs 0 and 1 only.
    extras = [TRAIN.question2[0], "A question no label mentions?", None]
    _, across = steps._same_class(data, np.array([2, 0, 1]), np.array([], dtype=np.int64), extras)
    assert across.tolist() == [[False, False, False], [True, False, False], [True, False, False]]


def test_mask_duplicates_changes_the_batch_loss_only_where_a_class_meets_itself():
    config = qdup.TrainConfig.from_recipe("default", dim=8, hidden=4, ngram_buckets=64, dropout=0.0)
    texts = [*TRAIN.question1, *TRAIN.question2, *NEGATIVES.question1, *NEGATIVES.question2]
    vocabulary = qdup.Vocabulary.build(texts, lowercase=True)
    torch.manual_seed(0)
    encoder = LstmEncoder(vocabulary, SiameseEncoder(config.model_config(len(vocabulary))))
    split = qdup.data.split.Split(train=TRAIN, validation=TRAIN, negatives=NEGATIVES, test=TRAIN, method="position")
    plain = steps.labelled_rows(encoder, split, config)
    masked = steps.labelled_rows(encoder, split, qdup.TrainConfig(**{**config.__dict__, "mask_duplicates": True}))
    assert "classes" not in plain and "classes" in masked
    head = torch.tensor([10.0, -7.0])
    encoder.network.eval()
    loss = lambda data, batch, negatives: steps.batch_loss(encoder, data, config, batch, negatives, head).item()
    # Pairs 0 and 2 (no class shared, negative 1 outside both): the same loss either way.
    assert loss(masked, np.array([0, 2]), np.array([1])) == pytest.approx(loss(plain, np.array([0, 2]), np.array([1])),
                                                                          rel=1e-6)
    # Pairs 0 and 1 are one class: masked, each has no in-batch negative left but the labelled ones.
    assert loss(masked, np.array([0, 1]), np.array([1])) != pytest.approx(loss(plain, np.array([0, 1]), np.array([1])),
                                                                          rel=1e-4)


def test_setting_is_recorded_and_read_back():
    config = qdup.TrainConfig(mask_duplicates=True)
    assert config.recipe == "default + mask_duplicates=True"
    assert qdup.TrainConfig.from_dict(config.to_dict()) == config
    older = {k: v for k, v in qdup.TrainConfig().to_dict().items() if k != "mask_duplicates"}
    assert qdup.TrainConfig.from_dict(older).mask_duplicates is False


def test_implied_duplicates_stay_within_each_class_and_its_budget():
    chain = qdup.pairs_from_lists(["a?", "b?", "c?", "x?", "p?"], ["b?", "c?", "d?", "y?", "q?"], [1, 1, 1, 1, 0])
    # Class {a, b, c, d}: 3 labelled pairs, 3 implied (a-c, a-d, b-d); {x, y} and the non-duplicate imply none.
    every = implied_duplicates(chain, 100.0, np.random.default_rng(0))
    assert len(every) == 8 and every.is_duplicate.tolist() == [1, 1, 1, 1, 0, 1, 1, 1]
    assert {frozenset(p) for p in zip(every.question1[5:], every.question2[5:])} == \
        {frozenset(("a?", "c?")), frozenset(("a?", "d?")), frozenset(("b?", "d?"))}
    assert len(implied_duplicates(chain, 0.5, np.random.default_rng(0))) == 5 + 1  # int(0.5 * 3)
    drawn = [implied_duplicates(chain, 0.5, np.random.default_rng(seed)).question1[5:] for seed in range(8)]
    assert len({tuple(d) for d in drawn}) > 1  # a seeded draw, not always the same pair


def test_implied_duplicates_train_on_more_pairs_with_the_same_vocabulary(toy_split, monkeypatch):
    from qdup.training import trainer

    seen = []
    labelled = trainer.labelled_rows
    monkeypatch.setattr(trainer, "labelled_rows", lambda enc, split, config: seen.append(len(split.train)) or
                        labelled(enc, split, config))
    config = qdup.TrainConfig.from_recipe("default", epochs=1, dim=8, hidden=4, ngram_buckets=64, scorer="cosine")
    plain = trainer.train_encoder(toy_split, config)
    more = trainer.train_encoder(toy_split, qdup.TrainConfig(**{**config.__dict__, "implied_duplicates": 100.0}))
    implied = len(implied_duplicates(toy_split.train, 100.0, np.random.default_rng(0))) - len(toy_split.train)
    assert implied > 0 and seen == [len(toy_split.train), len(toy_split.train) + implied]
    assert more.encoder.vocabulary.tokens == plain.encoder.vocabulary.tokens
    assert more.info["data"] == plain.info["data"]  # the labelled pairs, as the split holds them
