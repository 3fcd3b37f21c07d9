import math

import pytest
import torch

import qdup

V1 = [[0.26726124, 0.53452248, 0.80178373], [0.5178918, 0.57543534, 0.63297887]]
V2 = [[0.26726124, 0.53452248, 0.80178373], [-0.5178918, -0.57543534, -0.63297887]]


def test_worked_example():
    loss = qdup.triplet_loss(torch.tensor(V1, dtype=torch.float64), torch.tensor(V2, dtype=torch.float64))
    assert loss.item() == pytest.approx(0.703507682515891, abs=1e-9)


def reference_loop(v1, v2, margin):
    """The formula of SPEC §4 written out one row at a time."""
    scores = v2 @ v1.T
    total = 0.0
    for i in range(len(v1)):
        positive = scores[i, i].item()
        others = [scores[i, j].item() for j in range(len(v1)) if j != i]
        mean_negative = sum(others) / len(others)
        closer = [s if s <= positive else s - 2.0 for s in others]
        total += max(0.0, margin - positive + max(closer)) + max(0.0, margin - positive + mean_negative)
    return total


@pytest.mark.parametrize("batch, margin", [(2, 0.25), (5, 0.25), (17, 0.5)])
def test_matches_row_by_row_formula(batch, margin):
    generator = torch.Generator().manual_seed(batch)
    v1 = torch.nn.functional.normalize(torch.randn(batch, 8, generator=generator, dtype=torch.float64), dim=1)
    v2 = torch.nn.functional.normalize(v1 + 0.7 * torch.randn(batch, 8, generator=generator, dtype=torch.float64), dim=1)
    assert qdup.triplet_loss(v1, v2, margin).item() == pytest.approx(reference_loop(v1, v2, margin), abs=1e-9)


def test_identical_well_separated_pairs_cost_nothing():
    v = torch.eye(4)
    assert qdup.triplet_loss(v, v).item() == 0.0


def test_gradient_pulls_duplicates_together():
    v1 = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    v2 = v1.flip(0).clone().requires_grad_(True)
    qdup.triplet_loss(v1, v2).backward()
    assert v2.grad is not None and v2.grad.abs().sum() > 0


def test_needs_two_pairs():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        qdup.triplet_loss(torch.ones(1, 3), torch.ones(1, 3))


def test_ranking_loss_by_hand():
    """Two pairs and one extra negative, scale 1: each row's softmax written out."""
    from qdup.training.losses import ranking_loss

    v1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    v2 = torch.tensor([[0.6, 0.8], [0.0, 1.0]], dtype=torch.float64)
    extra = torch.tensor([[-1.0, 0.0]], dtype=torch.float64)

    def nll(positive, others):
        return -math.log(math.exp(positive) / (math.exp(positive) + sum(math.exp(o) for o in others)))

    forward = nll(0.6, [0.0, -1.0]) + nll(1.0, [0.8, 0.0])   # v1[i] against v2 and extra
    backward = nll(0.6, [0.8, -0.6]) + nll(1.0, [0.0, 0.0])  # v2[i] against v1 and extra
    assert ranking_loss(v1, v2, extra, scale=1.0).item() == pytest.approx((forward + backward) / 2, abs=1e-12)


def test_ranking_loss_pulls_duplicates_closer():
    from qdup.training.losses import ranking_loss

    v1 = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)), dim=1)
    v2 = torch.nn.functional.normalize(v1 + 0.5 * torch.randn(6, 4, generator=torch.Generator().manual_seed(2)), dim=1)
    v2.requires_grad_(True)
    before = ranking_loss(v1, v2)
    before.backward()
    with torch.no_grad():
        stepped = torch.nn.functional.normalize(v2 - 0.01 * v2.grad, dim=1)
        assert ranking_loss(v1, stepped).item() < before.item()
        assert (stepped * v1).sum(1).mean() > (v2 * v1).sum(1).mean()


# The distillation losses (qdup.training.distill): a student's vectors against its teacher's.

def test_similarity_loss_on_a_hand_worked_case():
    from qdup.training.losses import similarity_loss

    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # off-diagonal cosines 0 and 0.6
    assert similarity_loss(a, a).item() == 0
    assert similarity_loss(a, b).item() == pytest.approx(2 * 0.36 / 4)


def test_regression_loss_is_the_mean_cosine_distance_whatever_the_lengths():
    from qdup.training.losses import regression_loss

    projected = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # the same direction, then a right angle
    assert regression_loss(projected, teacher).item() == pytest.approx(0.5)


def test_ranking_kl_by_hand():
    """Three questions, temperature 1: each question's two-way softmax written out."""
    from qdup.training.losses import ranking_kl

    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], dtype=torch.float64)

    def kl(p_logits, q_logits):
        p = [math.exp(x) / sum(math.exp(y) for y in p_logits) for x in p_logits]
        q = [math.exp(x) / sum(math.exp(y) for y in q_logits) for x in q_logits]
        return sum(a * math.log(a / b) for a, b in zip(p, q))

    # Each question's cosines to the two others, by the teacher then by the student.
    expected = (kl([0.0, 0.6], [0.0, 0.8]) + kl([0.0, 0.8], [0.0, 0.6]) + kl([0.6, 0.8], [0.8, 0.6])) / 3
    assert ranking_kl(student, teacher, 1.0).item() == pytest.approx(expected, abs=1e-12)


def test_ranking_kl_is_zero_for_the_same_order_and_positive_for_a_swapped_one():
    from qdup.training.losses import ranking_kl

    teacher = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]), dim=1)
    assert ranking_kl(teacher, teacher, 0.05).item() < 1e-6
    swapped = teacher[[0, 2, 1, 3]]  # question 0's nearest is now 2, not 1
    assert ranking_kl(swapped, teacher, 0.05).item() > 1.0
