"""The losses training and distillation minimise; each works on unit vectors, not on a model.

Training (:mod:`qdup.training.trainer`): the triplet loss with in-batch hard negative
mining (SPEC §4) and an in-batch softmax ranking loss. Distillation
(:mod:`qdup.training.distill`): a student's similarities, nearest-question order and own
vectors against its teacher's.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def triplet_loss(v1: torch.Tensor, v2: torch.Tensor, margin: float = 0.25,
                 exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Triplet loss over a batch of aligned duplicate pairs, summed over the batch.

    ``v1`` and ``v2`` are (B, d) unit vectors where ``v1[i]`` and ``v2[i]`` are duplicates
    and every other pairing in the batch is treated as a negative. With
    ``scores = v2 @ v1.T`` and ``positive = diag(scores)``:

    - ``mean_negative[i]``: mean of row i without its diagonal (divided by B - 1);
    - ``closest_negative[i]``: max of row i after removing the diagonal and every entry
      larger than ``positive[i]`` (those are lowered by 2.0 before the max);
    - ``loss = Σ_i relu(margin - positive[i] + closest_negative[i])
                 + relu(margin - positive[i] + mean_negative[i])``.

    ``exclude`` (B, B) bool, symmetric: pairings that are no negatives either (a duplicate of
    the pair in another row of the batch); left out of both the mean and the closest, like
    the diagonal. A row left with no negative adds nothing. None: SPEC §4 exactly.

    >>> v1 = torch.tensor([[0.26726124, 0.53452248, 0.80178373],
    ...                    [0.5178918, 0.57543534, 0.63297887]], dtype=torch.float64)
    >>> v2 = torch.tensor([[0.26726124, 0.53452248, 0.80178373],
    ...                    [-0.5178918, -0.57543534, -0.63297887]], dtype=torch.float64)
    >>> round(triplet_loss(v1, v2).item(), 9)
    0.703507683
    """
    batch = v1.shape[0]
    if batch < 2:
        raise ValueError(f"triplet loss needs at least 2 pairs per batch, got {batch}")
    scores = v2 @ v1.T  # (B, B): scores[i, j] = cos(v2[i], v1[j])
    positive = scores.diagonal()  # (B,)
    off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=scores.device)
    if exclude is not None:
        off_diagonal = off_diagonal & ~exclude
    negatives = scores * off_diagonal  # diagonal zeroed
    if exclude is None:
        mean_negative = negatives.sum(dim=1) / (batch - 1)
    else:
        counts = off_diagonal.sum(dim=1)
        mean_negative = negatives.sum(dim=1) / counts.clamp(min=1)
    # Keep only negatives scoring at most the positive (not closer than the duplicate);
    # the diagonal and the negatives closer than the duplicate are pushed 2.0 down so the
    # max ignores them.
    too_close = (~off_diagonal) | (negatives > positive[:, None])
    closest_negative = (negatives - 2.0 * too_close).max(dim=1).values
    loss_closest = torch.relu(margin - positive + closest_negative)
    loss_mean = torch.relu(margin - positive + mean_negative)
    if exclude is not None:
        return ((loss_closest + loss_mean) * (counts > 0)).sum()
    return (loss_closest + loss_mean).sum()


def ranking_loss(v1: torch.Tensor, v2: torch.Tensor, negatives: torch.Tensor | None = None,
                 scale: float = 20.0, exclude: torch.Tensor | None = None,
                 exclude_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """In-batch softmax ranking loss (multiple negatives ranking), summed over the batch and
    averaged over both directions.

    Each ``v1[i]`` must pick its duplicate ``v2[i]`` out of every ``v2`` of the batch and
    the extra ``negatives`` rows (e.g. questions of labelled non-duplicate pairs), by
    softmax over ``scale * cosine``; and each ``v2[i]`` must pick ``v1[i]`` the same way.
    Unlike the triplet loss it pushes against every negative at once, as a search ranks.
    ``exclude`` (B, B) and ``exclude_negatives`` (B, len(negatives)), bool: candidates that
    are duplicates of pair i after all (its class), left out of row i's softmax in both
    directions (``exclude`` must be symmetric and False on the diagonal).

    >>> v1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> round(ranking_loss(v1, v1, scale=1.0).item(), 6)  # 2 pairs * -log(e / (e + 1))
    0.626523
    """
    target = torch.arange(len(v1), device=v1.device)
    extra = negatives if negatives is not None else v1[:0]
    forward = scale * v1 @ torch.cat([v2, extra]).T
    backward = scale * v2 @ torch.cat([v1, extra]).T
    if exclude is not None or exclude_negatives is not None:
        mask = torch.zeros_like(forward, dtype=torch.bool)  # (B, B + len(negatives)), as the logits
        if exclude is not None:
            mask[:, : len(v1)] = exclude
        if exclude_negatives is not None:
            mask[:, len(v1) :] = exclude_negatives
        forward, backward = forward.masked_fill(mask, -torch.inf), backward.masked_fill(mask, -torch.inf)
    forward = F.cross_entropy(forward, target, reduction="sum")
    backward = F.cross_entropy(backward, target, reduction="sum")
    return (forward + backward) / 2


def similarity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the two ``(n, n)`` cosine matrices of unit vectors ``(n, d)``:
    ``mean_ij (s_i·s_j − t_i·t_j)²``, every similarity, near or far.

    >>> s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> t = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # off-diagonal cosines 0 and 0.6
    >>> round(similarity_loss(s, t).item(), 6)  # (0.6² + 0.6²) / 4
    0.18
    """
    return ((student @ student.T - teacher @ teacher.T) ** 2).mean()


def ranking_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over questions of KL(teacher ‖ student) between their softmaxes over the other
    questions' cosines / ``temperature`` (unit vectors ``(n, d)``, n >= 2): the order of each
    question's nearest questions, which a search returns.

    ``p_i(j) = softmax_{j≠i}(t_i·t_j / T)``, ``q_i(j)`` the same of the student's vectors,
    ``loss = (1/n) Σ_i Σ_{j≠i} p_i(j) log(p_i(j) / q_i(j))``.

    >>> t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)
    >>> float(ranking_kl(t, t, 0.05))  # the same vectors rank alike
    0.0
    >>> s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], dtype=torch.float64)
    >>> # Question 0's cosines (0, 0.6) by the teacher, (0, 0.8) by the student: KL 0.004481;
    >>> # question 1's 0.004382, question 2's 0.019934; their mean:
    >>> round(ranking_kl(s, t, 1.0).item(), 6)
    0.009599
    """
    # Each question's own cosine (1) is left out: a large negative, not -inf (0 * inf is nan).
    own = torch.eye(len(student), dtype=torch.bool, device=student.device) * 1e4
    s = F.log_softmax((student @ student.T) / temperature - own, dim=1)
    t = F.log_softmax((teacher @ teacher.T) / temperature - own, dim=1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean")


def regression_loss(projected: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance ``mean_i (1 − cos(p_i, t_i))`` between each question's projected
    student vector ``(n, d_teacher)`` (any length) and its teacher vector: a target per
    question, where the other distillation losses only compare questions in a batch.

    >>> projected = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    >>> teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # the same direction, then a right angle
    >>> round(regression_loss(projected, teacher).item(), 6)  # (0 + 1) / 2
    0.5
    """
    return (1 - F.cosine_similarity(projected, teacher)).mean()
