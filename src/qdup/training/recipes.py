"""Training settings: one validated dataclass that embeds the encoder's shape, named
recipes that preset it (``TrainConfig()`` is the default recipe), and the settings of
distillation (:class:`DistillConfig`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..encoders.lstm.config import ModelConfig
from ..errors import ConfigError
from .scorers import FITTERS

SCHEDULES = ("constant", "cosine")
SELECTIONS = ("loss", "auc")
MAX_NAME_WORDS = 4  # lookalike_words: longer runs of capitalised words are titles, not names
DEFAULT_RECIPE = "default"
# The default recipe's encoder; vocab_size 0: set from the training vocabulary.
DEFAULT_SHAPE = ModelConfig(vocab_size=0, dim=64, hidden=64, bidirectional=True, pooling="mean_skip",
                            max_length=64, lowercase=True, ngram_buckets=20000, dropout=0.3)
SHAPE = tuple(f.name for f in fields(ModelConfig) if f.name != "vocab_size")  # settable shape fields


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run: the encoder's shape (``model``) and how to train it.

    The defaults are the default recipe (chosen on the validation pairs of the
    qqp-partial protocol, docs/benchmarks.md). :attr:`recipe` is derived from the values,
    so it cannot disagree with them.

    >>> TrainConfig().recipe, TrainConfig(epochs=3).recipe
    ('default', 'default + epochs=3')
    """

    model: ModelConfig = DEFAULT_SHAPE
    epochs: int = 20
    batch_size: int = 512
    learning_rate: float = 0.001
    margin: float = 0.25
    seed: int = 0
    min_count: int = 2  # words seen fewer times are [UNK] (their n-grams still carry meaning)
    symmetric: bool = False  # triplet loss in both directions (q1→q2 and q2→q1)
    pair_weight: float = 0.5  # weight of a logistic loss on labelled pairs, non-duplicates included
    # Weight of an in-batch softmax ranking loss (qdup.training.losses.ranking_loss). 0.3 lifts every validation
    # search figure at a small cost in pair AUC (1.0: more recall@10, twice the AUC cost; docs/benchmarks.md).
    ranking_weight: float = 0.3
    negatives_per_batch: int = 512  # labelled non-duplicate pairs mixed into each batch
    # Leave a pair's duplicate class out of its in-batch negatives (qdup.training.steps._same_class).
    # Off: the encoder's validation recall@1 +0.0005 on average over three seeds (issue 18).
    mask_duplicates: bool = False
    # Duplicate pairs the labels imply (A = B, B = C: A = C), at most this many times each class's
    # labelled duplicates (qdup.data.duplicate_classes; 0: none). Off: +0.001 to +0.006 validation
    # AUC, no gain in recall@1 (share 1 over three seeds: -0.004 on average, seed noise; issue 18).
    implied_duplicates: float = 0.0
    schedule: str = "constant"  # learning-rate schedule
    select: str = "auc"  # keep the epoch with the lowest validation loss or highest validation AUC
    patience: int = 5  # stop after this many epochs without improvement; 0 = never
    calibrate: bool = True  # store the validation accuracy-maximising threshold in the model
    scorer: str = "rerank"  # a re-ranker over the cosine and both questions' words; "cosine": the cosine alone
    scorer_folds: int = 2  # out-of-fold encoders that give the re-ranker honest cosines (qdup.training.scorer_fit)
    # Instead of the folds: the share of the pool (whole question groups) the encoder never trains
    # on and the re-ranker learns from; one training instead of scorer_folds + 1.
    scorer_held_out: float = 0.0
    # Extra negatives for the ranking loss, drawn again each epoch (qdup.training.hard_negatives). Off:
    # 5 pool neighbours gave the same validation AUC and cosine recall@1 0.466 vs 0.475, at twice the time.
    hard_negatives: int = 0  # one of this many nearest pool questions per training pair (0: none)
    lookalike_negatives: float = 0.0  # share of training pairs given a look-alike of their first question
    # Share of each fold's duplicate pairs made into look-alike non-duplicates for the pair re-ranker
    # (qdup.training.scorer_fit.lookalike_rows; 0: none). 0.2: validation look-alikes judged duplicate
    # 0.027 (0.106 without), accuracy 0.804 either way; the search re-ranker gets none (-0.013 recall@1).
    lookalikes: float = 0.2
    # The most words a swapped name may have, in those look-alikes and in lookalike_negatives
    # ("Donald Trump" → "Narendra Modi"; qdup.training.lookalikes). 1 here: 3 (with lookalikes 1.0)
    # judged no validation person swap duplicate (3.9% before), at validation accuracy 0.798, not 0.806.
    lookalike_words: int = 1
    # More words only one side has never raise a search re-ranker's score (the pairs' re-ranker
    # keeps its shape, which tells look-alikes apart): validation recall@1 0.5684 vs 0.5611 (issue 18).
    search_unmatched_monotone: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        for name in ("epochs", "batch_size", "min_count", "scorer_folds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size < 2:
            raise ConfigError(f"batch_size must be at least 2 (in-batch negatives), got {self.batch_size}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        for name in ("learning_rate", "margin", "pair_weight", "ranking_weight", "scorer_held_out",
                     "implied_duplicates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0 <= self.margin <= 2:
            raise ConfigError(f"margin must be in [0, 2], got {self.margin!r}")
        if min(self.pair_weight, self.ranking_weight, self.negatives_per_batch, self.patience,
               self.implied_duplicates) < 0:
            raise ConfigError("pair_weight, ranking_weight, negatives_per_batch, patience and implied_duplicates "
                              "must not be negative")
        if not isinstance(self.hard_negatives, int) or isinstance(self.hard_negatives, bool) or self.hard_negatives < 0:
            raise ConfigError(f"hard_negatives must be an integer >= 0, got {self.hard_negatives!r}")
        if type(self.lookalike_words) is not int or not 1 <= self.lookalike_words <= MAX_NAME_WORDS:
            raise ConfigError(f"lookalike_words must be an integer from 1 to {MAX_NAME_WORDS}, got {self.lookalike_words!r}")
        for name in ("lookalike_negatives", "lookalikes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be a share in [0, 1], got {value!r}")
        if self.scorer_folds < 2:
            raise ConfigError(f"scorer_folds must be at least 2, got {self.scorer_folds}")
        if not 0 <= self.scorer_held_out < 1:
            raise ConfigError(f"scorer_held_out must be in [0, 1), got {self.scorer_held_out!r}")
        for name, allowed in (("schedule", SCHEDULES), ("select", SELECTIONS), ("scorer", FITTERS.names)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The encoder's shape once the vocabulary is known."""
        return replace(self.model, vocab_size=vocab_size)

    def settings(self) -> dict:
        """Every setting by its flat name (``dim``, ``epochs``...), as ``--set`` names them."""
        shape = {name: getattr(self.model, name) for name in SHAPE}
        return {**shape, **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}}

    @property
    def recipe(self) -> str:
        """The recipe these values are, e.g. ``"reference"``, or the nearest recipe and what
        differs from it, e.g. ``"reference + epochs=5"``."""
        mine = self.settings()
        changes = {name: [f"{k}={v!r}" for k, v in mine.items() if v != preset[k]]
                   for name, preset in ((n, TrainConfig.from_recipe(n).settings()) for n in RECIPES)}
        name = min(RECIPES, key=lambda n: (len(changes[n]), n != DEFAULT_RECIPE))
        return " + ".join([name, ", ".join(changes[name])]) if changes[name] else name

    @classmethod
    def from_recipe(cls, recipe: str = DEFAULT_RECIPE, **overrides) -> "TrainConfig":
        """The recipe's preset with ``overrides`` by flat name (None values are ignored).

        >>> TrainConfig.from_recipe("reference", epochs=5).batch_size
        256
        """
        if recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {recipe!r} (choose from {', '.join(RECIPES)})")
        return cls.from_dict({**RECIPES[recipe], **{k: v for k, v in overrides.items() if v is not None}})

    def to_dict(self) -> dict:
        return {"recipe": self.recipe, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """From :meth:`to_dict` or flat settings (as ``training`` in older model folders).

        Unknown keys are refused; shape settings not given keep the default recipe's.
        """
        data = dict(data)
        if "recipe" in data:  # a saved section: settings that did not exist yet were off
            data.setdefault("scorer", "cosine")
            data.setdefault("ranking_weight", 0.0)
            for name in ("hard_negatives", "lookalike_negatives", "lookalikes"):  # issue 18
                data.setdefault(name, 0)
            data.setdefault("mask_duplicates", False)
            data.setdefault("implied_duplicates", 0.0)
            data.setdefault("lookalike_words", 1)  # one-word swaps only, before names of several words
            data.setdefault("search_unmatched_monotone", False)
        data.pop("recipe", None)  # derived from the values; older folders stored a label
        nested = data.pop("model", None) or {}
        if not isinstance(nested, dict):
            raise ConfigError(f"model must be an object of shape settings, got {nested!r}")
        shape = {name: data.pop(name) for name in SHAPE if name in data}
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        model = ModelConfig.from_dict({**DEFAULT_SHAPE.to_dict(), **nested, **shape})
        return cls(model=model, **data)


@dataclass(frozen=True)
class DistillConfig:
    """How a student learns from its teacher (:mod:`qdup.training.distill`); the student's
    shape and optimiser are a :class:`TrainConfig`'s. Recorded in the student's config.json
    (``distillation.settings``).

    The defaults are the settings measured in docs/benchmarks.md (distillation).

    >>> DistillConfig(temperature=0)
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: temperature must be a positive number, got 0
    """

    similarity_weight: float = 100.0  # the squared cosine errors (~0.01) on the scale of the pair losses
    ranking_kl_weight: float = 1.0  # the nearest-question order (losses.ranking_kl); 0: the similarity loss alone
    temperature: float = 0.05  # sharp: the softmax weight sits on each question's few nearest questions
    regression_weight: float = 10.0  # 1 - cos(projection(student), teacher): each question's own target (0: off)
    neighbours: int = 3  # the teacher's nearest questions brought into the batch with each anchor
    held_out_share: float = 0.05  # of the questions, kept for validation when no labelled pairs are given
    max_held_out: int = 2000  # its (n, n) cosine matrices stay small however many questions there are

    def __post_init__(self) -> None:
        for name in ("similarity_weight", "ranking_kl_weight", "temperature", "regression_weight", "held_out_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be a positive number, got {self.temperature!r}")
        if not 0 < self.held_out_share < 1:
            raise ConfigError(f"held_out_share must be between 0 and 1, got {self.held_out_share!r}")
        for name, least in (("neighbours", 1), ("max_held_out", 2)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"{name} must be an integer of at least {least}, got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DistillConfig":
        unknown = sorted(set(data) - set(DISTILL_SETTINGS))
        if unknown:
            raise ConfigError(f"unknown distillation setting(s): {', '.join(unknown)}")
        return cls(**data)


SETTINGS = tuple(TrainConfig().settings())  # what `qdup train --set` takes
DISTILL_SETTINGS = tuple(f.name for f in fields(DistillConfig))


def parse_settings(pairs: tuple[str, ...] | list[str], known: tuple[str, ...] = SETTINGS) -> dict:
    """``["dropout=0.2", "bidirectional=true"]`` → typed overrides of the settings ``known``
    (default: :class:`TrainConfig`'s, by flat name).

    >>> parse_settings(["dropout=0.2", "bidirectional=yes", "epochs=3"])
    {'dropout': 0.2, 'bidirectional': True, 'epochs': 3}
    """
    types = {f.name: f.type for f in (*fields(ModelConfig), *fields(TrainConfig), *fields(DistillConfig))}
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise ConfigError(f"--set takes KEY=VALUE with KEY one of {', '.join(known)}; got {pair!r}")
        parsed[key] = _convert(key, value.strip(), types[key])
    return parsed


def parse_distill_settings(pairs: tuple[str, ...] | list[str]) -> tuple[dict, DistillConfig]:
    """``qdup distill --set`` pairs → the student's training overrides and the distillation settings.

    >>> overrides, distillation = parse_distill_settings(["epochs=3", "temperature=0.1"])
    >>> overrides, distillation.temperature
    ({'epochs': 3}, 0.1)
    """
    parsed = parse_settings(pairs, SETTINGS + DISTILL_SETTINGS)
    distillation = {key: parsed.pop(key) for key in DISTILL_SETTINGS if key in parsed}
    return parsed, DistillConfig.from_dict(distillation)


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
    # The dataclass defaults above (docs/benchmarks.md).
    "default": {},
    # The faithful reproduction of SPEC §5 (with padding masked). Never change it.
    "reference": {
        "epochs": 2, "batch_size": 256, "learning_rate": 0.01, "min_count": 1, "pair_weight": 0.0,
        "ranking_weight": 0.0, "negatives_per_batch": 0, "select": "loss", "patience": 0, "calibrate": False,
        "dim": 128, "hidden": 0, "bidirectional": False, "pooling": "mean", "max_length": 256,
        "lowercase": False, "ngram_buckets": 0, "dropout": 0.0, "scorer": "cosine",
        "hard_negatives": 0, "lookalike_negatives": 0.0, "lookalikes": 0.0, "mask_duplicates": False,
        "implied_duplicates": 0.0, "search_unmatched_monotone": False,
    },
    # Fine-tuning a pretrained transformer (`qdup train --encoder PATH`): the default recipe's
    # losses at a fine-tuning rate, with batches a CPU can take; the shape settings do not apply
    # (the pretrained model has its own). The re-ranker learns from two out-of-fold fine-tunings'
    # cosines, as the default recipe's: validation accuracy 0.858, AUC 0.928, against 0.851, 0.915
    # for a held-out quarter and one fine-tuning (scorer_held_out=0.25); 31 min on 2 cores (issue 18).
    # No ranking loss: a held-out run with it took 80 min. A look-alike of every duplicate pair, names
    # of up to 3 words: validation look-alikes judged duplicate 1.9% (held out: 1.3%, 5.6% with 0.2, 1 word).
    # The search re-ranker's monotone unmatched words, as the default's: validation recall@1 0.6063 vs 0.6046.
    "transformer": {
        "epochs": 2, "batch_size": 32, "learning_rate": 2e-5, "negatives_per_batch": 32, "patience": 0,
        "scorer": "rerank", "ranking_weight": 0.0, "lookalikes": 1.0, "lookalike_words": 3,
    },
}
ENCODER_RECIPE = "transformer"  # the recipe `qdup train --encoder` uses unless told otherwise
