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
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError
from .features import Batch

POOLINGS = ("mean", "mean_max", "mean_skip")


@dataclass(frozen=True)
class ModelConfig:
    """The shape of the encoder. Everything needed to rebuild it from ``config.json``.

    The defaults are the reference's shape; :class:`qdup.TrainConfig` embeds one (the
    default recipe's) and sets ``vocab_size`` once the vocabulary is built.
    """

    vocab_size: int  # 0 in a TrainConfig: taken from the training vocabulary
    dim: int = 128  # embedding size (and LSTM units per direction unless `hidden` is set)
    hidden: int = 0  # LSTM units per direction; 0 means `dim`
    bidirectional: bool = False
    pooling: str = "mean"  # "mean", "mean_max" (concatenated) or "mean_skip" (+ mean input embedding)
    max_length: int = 256  # tokens kept per question; longer ones are truncated
    lowercase: bool = False  # the reference keeps case
    ngram_buckets: int = 0  # hashed character n-gram embeddings; 0 = words only
    ngram_min: int = 3
    ngram_max: int = 5
    dropout: float = 0.0  # on embeddings, during training only

    def __post_init__(self) -> None:
        for name in ("dim", "max_length", "ngram_min", "ngram_max"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("vocab_size", "hidden", "ngram_buckets"):
            _check_int(name, getattr(self, name), minimum=0)
        if self.vocab_size == 1:  # 0: not known yet (a training config, before the vocabulary is built)
            raise ConfigError(f"model vocab_size must be at least 2, got {self.vocab_size}")
        for name in ("bidirectional", "lowercase"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"model {name} must be true or false, got {getattr(self, name)!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"model pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model dropout must be in [0, 1), got {self.dropout!r}")
        if self.ngram_min > self.ngram_max:
            raise ConfigError(f"model ngram_min {self.ngram_min} exceeds ngram_max {self.ngram_max}")

    @property
    def units(self) -> int:
        return self.hidden or self.dim

    @property
    def output_dim(self) -> int:
        lstm = self.units * (2 if self.bidirectional else 1)
        return {"mean": lstm, "mean_max": 2 * lstm, "mean_skip": lstm + self.dim}[self.pooling]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model setting(s): {', '.join(unknown)}")
        return cls(**data)


class SiameseEncoder(nn.Module):
    """One branch shared by both questions: ``Batch -> (B, output_dim)`` unit vectors."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.dim)
        if config.ngram_buckets:
            # Bucket 0 is never produced by hashing; empty (padding) slots pool to zero.
            self.ngrams = nn.EmbeddingBag(config.ngram_buckets + 1, config.dim, mode="mean")
        self._fused: torch.Tensor | None = None  # word + n-gram table for inference; see fuse()
        self._both: tuple[nn.LSTM, ...] = ()  # both directions as one LSTM, for inference; see fuse()
        self.lstm = nn.LSTM(config.dim, config.units, batch_first=True)
        if config.bidirectional:
            self.lstm_reverse = nn.LSTM(config.dim, config.units, batch_first=True)
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
    def fuse(self, vocabulary_ngrams: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        """Precompute inference-only shortcuts from the current weights; training ignores them.

        With n-grams: each known word's embedding plus its n-grams' mean (the featurizer must
        then send n-grams for unknown words only). Bidirectional: both directions' weights in
        one ``nn.LSTM(bidirectional=True)``, exact for batches without padding (its backward
        direction reads each row from its last step), and one call instead of two.
        """
        if self.config.ngram_buckets:
            self._fused = self.embedding.weight + self.ngrams(*vocabulary_ngrams)
        if self.config.bidirectional:
            with torch.random.fork_rng(devices=[]):  # its throwaway initialisation leaves the seed alone
                both = nn.LSTM(self.config.dim, self.config.units, batch_first=True, bidirectional=True,
                               device=self.embedding.weight.device)
            for name, value in self.lstm.named_parameters():
                getattr(both, name).copy_(value)
            for name, value in self.lstm_reverse.named_parameters():
                getattr(both, f"{name}_reverse").copy_(value)
            self._both = (both.eval(),)  # in a tuple: not a submodule, not in the state dict

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


def _take(sequence: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``sequence[b, index[b, t]]`` for a (B, T, d) sequence and a (B, T) index."""
    return sequence.gather(1, index[:, :, None].expand(-1, -1, sequence.shape[2]))


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"model {name} must be {kind}, got {value!r}")
