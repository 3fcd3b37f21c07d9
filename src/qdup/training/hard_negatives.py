"""Extra negatives for the encoder's ranking loss, made again before each epoch.

In-batch negatives are mostly easy: 1,024 random questions rarely include the ones a search
will confuse with the query. Two sources give harder ones:

- **the pool's nearest questions** (:class:`PoolNegatives`): before each epoch the training
  pool is encoded by the encoder as it is now, and each training pair's first question gets
  one of its ``depth`` nearest pool questions that no label ties to the pair (labelled
  duplicates, transitively, are never negatives; the pool's unlabelled duplicates sometimes
  are, so the negative is drawn among several rather than always the nearest);
- **look-alikes** (:meth:`~qdup.training.lookalikes.Lookalikes.swap_firsts`): the first
  question with a name or number it shares with its duplicate swapped, which must rank
  below the duplicate and is a labelled non-duplicate of the first question.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.pairs import Pairs
from ..evaluation.search_calibration import duplicate_classes
from ..search.topk import exact_topk
from .lookalikes import Lookalikes

if TYPE_CHECKING:
    from ..encoders.base import TextEncoder

EVAL_CHUNK = 512


class PoolNegatives:
    """Mines, for each pair of ``train``, one of the ``depth`` pool questions nearest to its
    first question that are not labelled duplicates of it (:meth:`mine`)."""

    def __init__(self, encoder: TextEncoder, train: Pairs, pool: list[str], depth: int) -> None:
        self.pool = pool
        self.depth = depth
        self.rows = encoder.rows(pool)  # prepared once; encoded again each epoch
        row_of = {q: n for n, q in enumerate(pool)}
        self.first = np.array([row_of.get(q.strip(), -1) for q in train.question1], dtype=np.int64)
        self.second = np.array([row_of.get(q.strip(), -1) for q in train.question2], dtype=np.int64)
        self.same = duplicate_classes(train)

    @torch.no_grad()
    def mine(self, encoder: TextEncoder, rng: np.random.Generator) -> np.ndarray:
        """Per training pair, the pool row of its negative (-1: none found)."""
        from .steps import encode  # steps imports this module for its batches

        encoder.network.eval()
        vectors = encode(encoder, self.rows, EVAL_CHUNK).cpu().numpy()
        known = self.first >= 0
        _, near = exact_topk(vectors[self.first[known]], vectors, self.depth + 4)  # + the pair's own rows
        out = np.full(len(self.first), -1, dtype=np.int64)
        for n, row in zip(np.flatnonzero(known), near):
            query = self.pool[self.first[n]]
            allowed = [r for r in row if r >= 0 and r not in (self.first[n], self.second[n])
                       and not self.same(query, self.pool[r])][: self.depth]
            if allowed:
                out[n] = allowed[rng.integers(len(allowed))]
        return out


class EpochNegatives:
    """The extra negatives of a training run, drawn again before each epoch
    (:meth:`for_epoch`): ``hard`` pool questions nearest each pair's first question when
    ``depth``, look-alikes of the first question for ``lookalike_share`` of the pairs (names
    of up to ``lookalike_words`` words swapped)."""

    def __init__(self, encoder: TextEncoder, train: Pairs, pool: list[str], depth: int,
                 lookalike_share: float, lookalike_words: int = 1) -> None:
        self.train = train
        self.pool_negatives = PoolNegatives(encoder, train, pool, depth) if depth else None
        self.maker = Lookalikes.from_pool(pool, max_words=lookalike_words) if lookalike_share else None
        self.lookalike_share = lookalike_share

    def for_epoch(self, encoder: TextEncoder, rng: np.random.Generator):
        """``for_batch(batch) -> (rows, anchors, texts)``: the prepared rows of the extra
        negatives of the training pairs ``batch``, for each the position in ``batch`` of the
        question it is a labelled non-duplicate of (-1: a negative for the ranking loss only),
        and its text when it is a pool question (None: a look-alike, in no duplicate class)."""
        hard = self.pool_negatives.mine(encoder, rng) if self.pool_negatives else None
        look_of: dict[int, object] = {}
        if self.maker is not None:
            indices, texts = self.maker.swap_firsts(self.train, self.lookalike_share, rng)
            look_of = dict(zip(indices.tolist(), encoder.rows(texts)))

        def for_batch(batch: np.ndarray) -> tuple[list, np.ndarray, list]:
            rows, anchors, texts = [], [], []
            for position, pair in enumerate(batch.tolist()):
                if hard is not None and hard[pair] >= 0:
                    rows.append(self.pool_negatives.rows[hard[pair]])
                    anchors.append(-1)
                    texts.append(self.pool_negatives.pool[hard[pair]])
                if pair in look_of:
                    rows.append(look_of[pair])
                    anchors.append(position)
                    texts.append(None)
            return rows, np.array(anchors, dtype=np.int64), texts

        return for_batch
