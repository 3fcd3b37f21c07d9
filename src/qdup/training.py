"""Training a Siamese encoder with the triplet loss (SPEC §5)."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import ConfigError
from .loss import triplet_loss
from .model import QdupModel
from .network import ModelConfig, SiameseEncoder
from .split import Split
from .vocabulary import Vocabulary, pad


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run. Recipes are named presets of these values."""

    recipe: str = "reference"
    epochs: int = 2
    batch_size: int = 256
    learning_rate: float = 0.01
    margin: float = 0.25
    seed: int = 0
    dim: int = 128
    max_length: int = 256

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {self.recipe!r} (choose from {', '.join(RECIPES)})")
        for name in ("epochs", "dim", "max_length"):
            _check_positive_int(name, getattr(self, name))
        _check_positive_int("batch_size", self.batch_size)
        if self.batch_size < 2:
            raise ConfigError(f"batch_size must be at least 2 (in-batch negatives), got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0 <= self.margin <= 2:
            raise ConfigError(f"margin must be in [0, 2], got {self.margin!r}")

    @classmethod
    def from_recipe(cls, recipe: str = "reference", **overrides) -> "TrainConfig":
        """The recipe's preset with ``overrides`` (None values are ignored)."""
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


# The reference recipe is the faithful reproduction of SPEC §5; keep it unchanged forever.
RECIPES: dict[str, dict] = {
    "reference": {},
}


def train(split: Split, config: TrainConfig | None = None, progress: bool = False) -> QdupModel:
    """Train an encoder on ``split.train``; keep the epoch with the lowest validation loss.

    >>> split = qdup.reference_split(qdup.read_pairs("pairs.tsv"))   # doctest: +SKIP
    >>> model = qdup.train(split, qdup.TrainConfig(epochs=2))         # doctest: +SKIP
    >>> model.save("models/reference")                                # doctest: +SKIP
    """
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    validation = split.validation_duplicates
    if len(validation) < 2:
        raise ConfigError("the validation split needs at least 2 duplicate pairs")
    vocabulary = Vocabulary.build(
        split.train.question1 + split.train.question2 + validation.question1 + validation.question2
    )
    encoder = SiameseEncoder(ModelConfig(len(vocabulary), config.dim, config.max_length))
    optimizer = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad],
                                 lr=config.learning_rate, eps=1e-7)  # Keras' epsilon
    train_ids = _tokenize_pairs(vocabulary, split.train, config.max_length)
    valid_ids = _tokenize_pairs(vocabulary, validation, config.max_length)

    history, best_loss, best_state, best_epoch = [], float("inf"), None, 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        order = rng.permutation(len(train_ids[0]))
        train_loss = _run_epoch(encoder, train_ids, order, config, optimizer,
                                desc=f"epoch {epoch}/{config.epochs}", progress=progress)
        with torch.no_grad():
            valid_loss = _run_epoch(encoder, valid_ids, np.arange(len(valid_ids[0])), config)
        seconds = time.perf_counter() - started
        history.append({"epoch": epoch, "train_loss": train_loss,
                        "validation_loss": valid_loss, "seconds": round(seconds, 2)})
        if progress:
            tqdm.write(f"epoch {epoch}: train loss {train_loss:.4f}, validation loss {valid_loss:.4f} "
                       f"({seconds:.1f} s)")
        if valid_loss < best_loss:
            best_loss, best_epoch = valid_loss, epoch
            best_state = copy.deepcopy(encoder.state_dict())
    encoder.load_state_dict(best_state)
    info = {"training": config.to_dict(), "history": history, "best_epoch": best_epoch,
            "data": split.summary()}
    return QdupModel(vocabulary, encoder, info=info)


def _tokenize_pairs(vocabulary: Vocabulary, pairs, max_length: int) -> tuple[list, list]:
    return ([vocabulary.token_ids(q, max_length) for q in pairs.question1],
            [vocabulary.token_ids(q, max_length) for q in pairs.question2])


def _run_epoch(encoder, ids, order, config: TrainConfig, optimizer=None,
               desc: str = "", progress: bool = False) -> float:
    """One pass over ``order``; trains when an optimizer is given. Returns the mean batch loss."""
    encoder.train(optimizer is not None)
    starts = [s for s in range(0, len(order), config.batch_size)
              if len(order[s : s + config.batch_size]) >= 2]  # a 1-pair batch has no negatives
    bar = tqdm(starts, desc=desc, unit="batch", disable=not progress, leave=False)
    total = 0.0
    for n, start in enumerate(bar, start=1):
        batch = order[start : start + config.batch_size]
        v1 = encoder(*map(torch.from_numpy, pad([ids[0][i] for i in batch])))
        v2 = encoder(*map(torch.from_numpy, pad([ids[1][i] for i in batch])))
        loss = triplet_loss(v1, v2, config.margin)
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        total += loss.item()
        bar.set_postfix(loss=f"{total / n:.4f}")
    encoder.eval()
    return total / max(len(starts), 1)


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
