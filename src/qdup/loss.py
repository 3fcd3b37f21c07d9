"""Triplet loss with in-batch hard negative mining (SPEC §4)."""

from __future__ import annotations

import torch


def triplet_loss(v1: torch.Tensor, v2: torch.Tensor, margin: float = 0.25) -> torch.Tensor:
    """Triplet loss over a batch of aligned duplicate pairs, summed over the batch.

    ``v1`` and ``v2`` are (B, d) unit vectors where ``v1[i]`` and ``v2[i]`` are duplicates
    and every other pairing in the batch is treated as a negative. With
    ``scores = v2 @ v1.T`` and ``positive = diag(scores)``:

    - ``mean_negative[i]``: mean of row i without its diagonal (divided by B - 1);
    - ``closest_negative[i]``: max of row i after removing the diagonal and every entry
      larger than ``positive[i]`` (those are lowered by 2.0 before the max);
    - ``loss = Σ_i relu(margin - positive[i] + closest_negative[i])
                 + relu(margin - positive[i] + mean_negative[i])``.

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
    negatives = scores * off_diagonal  # diagonal zeroed
    mean_negative = negatives.sum(dim=1) / (batch - 1)
    # Keep only negatives scoring at most the positive (not closer than the duplicate);
    # the diagonal and the negatives closer than the duplicate are pushed 2.0 down so the
    # max ignores them.
    too_close = (~off_diagonal) | (negatives > positive[:, None])
    closest_negative = (negatives - 2.0 * too_close).max(dim=1).values
    loss_closest = torch.relu(margin - positive + closest_negative)
    loss_mean = torch.relu(margin - positive + mean_negative)
    return (loss_closest + loss_mean).sum()
