"""The Siamese branch (SPEC §3): embedding → LSTM → mean over real tokens → L2-normalise.

Unlike the reference, padding is packed away from the LSTM and excluded from the mean,
so a question's vector never depends on the other questions in its batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """The shape of the encoder. Everything needed to rebuild it from ``config.json``."""

    vocab_size: int
    dim: int = 128  # embedding size = LSTM units = vector size (per direction)
    max_length: int = 256  # tokens kept per question; longer ones are truncated
    lowercase: bool = False  # the reference keeps case

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"model {name} must be a positive integer, got {value!r}")
        if self.vocab_size < 2:
            raise ConfigError(f"model vocab_size must be at least 2, got {self.vocab_size}")

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
    """One branch shared by both questions: ``(ids, lengths) -> (B, dim)`` unit vectors."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.dim)
        self.lstm = nn.LSTM(config.dim, config.dim, batch_first=True)
        self._keras_init()

    def _keras_init(self) -> None:
        """Initialise as the Keras reference does, with a single bias vector per gate."""
        d = self.config.dim
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        limit = math.sqrt(6.0 / (d + 4 * d))  # glorot_uniform over the (d, 4d) kernel
        nn.init.uniform_(self.lstm.weight_ih_l0, -limit, limit)
        nn.init.orthogonal_(self.lstm.weight_hh_l0)
        nn.init.zeros_(self.lstm.bias_ih_l0)
        nn.init.zeros_(self.lstm.bias_hh_l0)
        self.lstm.bias_ih_l0.data[d : 2 * d] = 1.0  # unit forget bias; gate order i, f, g, o
        # PyTorch keeps a second bias; Keras has one. Frozen at zero, it changes nothing.
        self.lstm.bias_hh_l0.requires_grad_(False)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # ids: (B, T) int64 padded with 0; lengths: (B,) int64, every length >= 1
        embedded = self.embedding(ids)  # (B, T, d)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        hidden, _ = pad_packed_sequence(output, batch_first=True)  # (B, T', d), zeros past each length
        mean = hidden.sum(dim=1) / lengths.to(hidden.dtype)[:, None]  # (B, d) over real tokens
        return F.normalize(mean, dim=1)
