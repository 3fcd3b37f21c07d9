"""The encoder's shape (:class:`ModelConfig`), apart from the network so that reading or
validating settings (``qdup --help``, ``TrainConfig``) never imports torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ...errors import ConfigError

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


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"model {name} must be {kind}, got {value!r}")
