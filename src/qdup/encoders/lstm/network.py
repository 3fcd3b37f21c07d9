"""The Siamese branch (SPEC §3): embedding → LSTM → mean over real tokens → L2-normalise.

Unlike the reference, padding never reaches a real token's state and is excluded from the
pooling, so a question's vector never depends on the other questions in its batch. The LSTM
reads right-padded batches (its state at a real token has not yet seen the padding); the
backward direction reads each question reversed in place. Packed sequences would do the
same, but their CPU backward pass zero-fills the whole packed batch at every time step. Options beyond
the reference (all off in ``--recipe reference``): lower-casing, hashed character
n-grams added to each word's embedding, a bidirectional LSTM, mean+max pooling, dropout.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import POOLINGS, ModelConfig  # noqa: F401  (re-exported: qdup.encoders.lstm.network.ModelConfig)
from .inputs import Batch

# Encodes that met words not in the fused table yet before it is filled whole: a command
# fills only its own words (0.25 CPU-s less per `qdup predict`), a server or an index
# build stops paying word by word after a few dozen calls.
FILL_ALL_AFTER = 32


class SiameseEncoder(nn.Module):
    """One branch shared by both questions: ``Batch -> (B, output_dim)`` unit vectors."""

    def __init__(self, config: ModelConfig, initialise: bool = True):
        """``initialise=False``: no random weights, for a network built on the meta device to
        be loaded (drawing them there imports torch._dynamo: +1.5 CPU-s per command)."""
        super().__init__()
        self.config = config
        self.embedding = _embedding(nn.Embedding, config.vocab_size, config.dim, initialise)
        if config.ngram_buckets:
            # Bucket 0 is never produced by hashing; empty (padding) slots pool to zero.
            self.ngrams = _embedding(nn.EmbeddingBag, config.ngram_buckets + 1, config.dim, initialise, mode="mean")
        self._fused: torch.Tensor | None = None  # word + n-gram table for inference; see fuse()
        self._fused_words: np.ndarray | None = None  # (vocab,) bool: the rows of it filled so far
        self._both: tuple[nn.LSTM, ...] = ()  # both directions as one LSTM, for inference; see fuse()
        self.lstm = nn.LSTM(config.dim, config.units, batch_first=True)
        if config.bidirectional:
            self.lstm_reverse = nn.LSTM(config.dim, config.units, batch_first=True)
        if initialise:
            self._keras_init()

    def _keras_init(self) -> None:
        """Initialise as the Keras reference does, with a single bias vector per gate."""
        d, u = self.config.dim, self.config.units
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        if self.config.ngram_buckets:
            nn.init.uniform_(self.ngrams.weight, -0.05, 0.05)
        limit = math.sqrt(6.0 / (d + 4 * u))  # glorot_uniform over the (d, 4u) kernel
        for lstm in [self.lstm] + ([self.lstm_reverse] if self.config.bidirectional else []):
            nn.init.uniform_(lstm.weight_ih_l0, -limit, limit)
            nn.init.orthogonal_(lstm.weight_hh_l0)
            bias_ih, bias_hh = lstm.bias_ih_l0, lstm.bias_hh_l0
            nn.init.zeros_(bias_ih)
            nn.init.zeros_(bias_hh)
            bias_ih.data[u : 2 * u] = 1.0  # unit forget bias; gate order i, f, g, o
            # PyTorch keeps a second bias; Keras has one. Frozen at zero, it changes nothing.
            bias_hh.requires_grad_(False)

    @torch.no_grad()
    def fuse(self) -> None:
        """Precompute inference-only shortcuts from the current weights; training ignores them.

        With n-grams: a table of each known word's embedding plus its n-grams' mean (the
        featurizer must then send n-grams for unknown words only), whose rows are filled as
        words are met (:meth:`fuse_words`): one command's few words, not the whole vocabulary.
        Bidirectional: both directions' weights in one ``nn.LSTM(bidirectional=True)``, exact
        for batches without padding (its backward direction reads each row from its last
        step), and one call instead of two.
        """
        if self.config.ngram_buckets:
            self._fused = self.embedding.weight.detach().clone()  # padding and [UNK] have no n-grams
            self._fused_words = np.zeros(self.config.vocab_size, dtype=bool)
            self._fused_words[:2] = True
            self._fills = 0
        if self.config.bidirectional:
            with torch.random.fork_rng(devices=[]):  # its throwaway initialisation leaves the seed alone
                both = nn.LSTM(self.config.dim, self.config.units, batch_first=True, bidirectional=True,
                               device=self.embedding.weight.device)
            for name, value in self.lstm.named_parameters():
                getattr(both, name).copy_(value)
            for name, value in self.lstm_reverse.named_parameters():
                getattr(both, f"{name}_reverse").copy_(value)
            self._both = (both.eval(),)  # in a tuple: not a submodule, not in the state dict

    @torch.no_grad()
    def fuse_words(self, ids: np.ndarray, ngrams_of: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Fill the fused rows of those word ``ids`` not filled yet (see :meth:`fuse`);
        ``ngrams_of(ids)`` gives their n-grams as (flat buckets, offsets)."""
        if self._fused is None:
            return
        new = ids[~self._fused_words[ids]]
        if len(new):
            new = np.flatnonzero(np.bincount(new, minlength=len(self._fused_words)))  # distinct, sorted
            self._fills += 1
            if self._fills >= FILL_ALL_AFTER:  # a long-running process: the rest at once, then never again
                new = np.flatnonzero(~self._fused_words)
            rows = torch.from_numpy(new).to(self._fused.device)
            self._fused[rows] = self.embedding.weight[rows] + self.ngrams(*ngrams_of(new))
            self._fused_words[new] = True

    def forward(self, batch: Batch) -> torch.Tensor:
        lengths = batch.lengths  # (B,), each >= 1
        fused = self._fused is not None and not self.training
        embedded = F.embedding(batch.ids, self._fused if fused else self.embedding.weight)  # (B, T, d)
        steps = torch.arange(embedded.shape[1], device=lengths.device)[None, :]  # (1, T)
        real = steps < lengths[:, None]  # (B, T)
        if batch.ngrams is not None:
            slots = (batch.ids == 1) if batch.unknown_only else real  # (B, T): tokens with n-grams
            grams = torch.zeros_like(embedded)
            grams[slots] = self.ngrams(batch.ngrams, batch.offsets)  # (tokens, d), row-major order
            embedded = embedded + grams
        if self.config.dropout and self.training:
            embedded = F.dropout(embedded, self.config.dropout)
        if self._both and not self.training and bool((lengths == embedded.shape[1]).all()):
            # No padding: one call runs both directions exactly. The backward outputs come in
            # reversed order, which the pooling ignores.
            hidden, _ = self._both[0](embedded)  # (B, T, 2u)
        else:
            hidden, _ = self.lstm(embedded)  # (B, T, u)
        if self.config.bidirectional and hidden.shape[2] == self.config.units:
            # Reverse each question's real tokens in place; padding stays at the end. Pooling
            # ignores order, so the outputs need not be put back in order.
            flip = torch.where(real, lengths[:, None] - 1 - steps, steps)  # (B, T)
            backward, _ = self.lstm_reverse(_take(embedded, flip))
            hidden = torch.cat([hidden, backward], dim=2)  # (B, T, 2u)
        # Sum over real tokens only, as one batched product: (B, 1, T) @ (B, T, 2u).
        pooled = torch.bmm(real[:, None, :].to(hidden.dtype), hidden)[:, 0]
        pooled = pooled / lengths.to(hidden.dtype)[:, None]  # mean over real tokens
        if self.config.pooling == "mean_skip":  # the words themselves, next to their context
            skip = torch.bmm(real[:, None, :].to(embedded.dtype), embedded)[:, 0]
            pooled = torch.cat([pooled, skip / lengths.to(embedded.dtype)[:, None]], dim=1)
        if self.config.pooling == "mean_max":
            peak = hidden.masked_fill(~real[:, :, None], float("-inf")).max(dim=1).values  # (B, 2u)
            pooled = torch.cat([pooled, peak], dim=1)
        return F.normalize(pooled, dim=1)


def _embedding(kind, rows: int, dim: int, initialise: bool, **options) -> nn.Module:
    """An ``nn.Embedding``/``EmbeddingBag``; given a weight, it draws no normal ones of its own."""
    return kind(rows, dim, **options, _weight=None if initialise else torch.empty(rows, dim))


def _take(sequence: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``sequence[b, index[b, t]]`` for a (B, T, d) sequence and a (B, T) index."""
    return sequence.gather(1, index[:, :, None].expand(-1, -1, sequence.shape[2]))
