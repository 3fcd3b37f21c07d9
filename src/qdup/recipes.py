"""Training settings: one validated dataclass, and named recipes that preset it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .network import ModelConfig

SCHEDULES = ("constant", "cosine")
SELECTIONS = ("loss", "auc")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run. Recipes are named presets of these values."""

    recipe: str = "reference"
    epochs: int = 2
    batch_size: int = 256
    learning_rate: float = 0.01
    margin: float = 0.25
    seed: int = 0
    # Model shape (see ModelConfig).
    dim: int = 128
    hidden: int = 0
    bidirectional: bool = False
    pooling: str = "mean"
    max_length: int = 256
    lowercase: bool = False
    ngram_buckets: int = 0
    dropout: float = 0.0
    min_count: int = 1  # words seen fewer times are [UNK] (their n-grams still carry meaning)
    # Beyond the reference.
    symmetric: bool = False  # triplet loss in both directions (q1→q2 and q2→q1)
    pair_weight: float = 0.0  # weight of a logistic loss on labelled pairs, non-duplicates included
    negatives_per_batch: int = 0  # labelled non-duplicate pairs mixed into each batch
    schedule: str = "constant"  # learning-rate schedule
    select: str = "loss"  # keep the epoch with the lowest validation loss or highest validation AUC
    patience: int = 0  # stop after this many epochs without improvement; 0 = never
    calibrate: bool = False  # store the validation accuracy-maximising threshold in the model

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {self.recipe!r} (choose from {', '.join(RECIPES)})")
        for name in ("epochs", "batch_size", "min_count"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size < 2:
            raise ConfigError(f"batch_size must be at least 2 (in-batch negatives), got {self.batch_size}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        for name in ("learning_rate", "margin", "pair_weight", "dropout"):
            if not isinstance(getattr(self, name), (int, float)) or not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0 <= self.margin <= 2:
            raise ConfigError(f"margin must be in [0, 2], got {self.margin!r}")
        if self.pair_weight < 0 or self.negatives_per_batch < 0 or self.patience < 0:
            raise ConfigError("pair_weight, negatives_per_batch and patience must not be negative")
        from .network import POOLINGS  # here, not at the top: `qdup --help` must not import torch

        for name, allowed in (("schedule", SCHEDULES), ("select", SELECTIONS), ("pooling", POOLINGS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        self.model_config(vocab_size=2)  # validates the shape settings

    def model_config(self, vocab_size: int) -> "ModelConfig":
        from .network import ModelConfig

        return ModelConfig(vocab_size=vocab_size, dim=self.dim, hidden=self.hidden,
                           bidirectional=self.bidirectional, pooling=self.pooling,
                           max_length=self.max_length, lowercase=self.lowercase,
                           ngram_buckets=self.ngram_buckets, dropout=self.dropout)

    @classmethod
    def from_recipe(cls, recipe: str = "default", **overrides) -> "TrainConfig":
        """The recipe's preset with ``overrides`` (None values are ignored).

        >>> TrainConfig.from_recipe("reference", epochs=5).batch_size
        256
        """
        if recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {recipe!r} (choose from {', '.join(RECIPES)})")
        settings = {**RECIPES[recipe], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(recipe=recipe, **settings)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


SETTINGS = tuple(f.name for f in fields(TrainConfig) if f.name != "recipe")


def parse_settings(pairs: tuple[str, ...] | list[str]) -> dict:
    """``["dropout=0.2", "bidirectional=true"]`` → typed overrides for :class:`TrainConfig`.

    >>> parse_settings(["dropout=0.2", "bidirectional=yes", "epochs=3"])
    {'dropout': 0.2, 'bidirectional': True, 'epochs': 3}
    """
    types = {f.name: f.type for f in fields(TrainConfig)}
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in SETTINGS:
            raise ConfigError(f"--set takes KEY=VALUE with KEY one of {', '.join(SETTINGS)}; got {pair!r}")
        parsed[key] = _convert(key, value.strip(), types[key])
    return parsed


def _convert(key: str, value: str, kind: str):
    try:
        if kind == "bool":
            if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError
            return value.lower() in ("true", "yes", "1")
        return {"int": int, "float": float}.get(kind, str)(value)
    except ValueError:
        raise ConfigError(f"--set {key}: expected {kind}, got {value!r}") from None


RECIPES: dict[str, dict] = {
    # The faithful reproduction of SPEC §5 (with padding masked). Never change it.
    "reference": {},
    # Chosen on the validation pairs of the qqp-partial protocol (docs/benchmarks.md).
    "default": {
        "epochs": 20, "batch_size": 512, "learning_rate": 0.001, "dim": 64, "hidden": 64,
        "bidirectional": True, "lowercase": True, "ngram_buckets": 20000, "dropout": 0.3,
        "pooling": "mean_skip", "min_count": 2, "pair_weight": 0.5, "negatives_per_batch": 512,
        "select": "auc", "patience": 5, "calibrate": True, "max_length": 64,
    },
}
