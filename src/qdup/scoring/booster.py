"""A gradient-boosted re-ranker over pair features (LightGBM), saved as LightGBM's own text.

The text format holds split thresholds and leaf values only: loading it parses numbers and
never runs code (no pickles). Training is deterministic for a given seed (one thread).
Predictions go through LightGBM's C library directly (:mod:`qdup.scoring.lightgbm_library`):
the same trees and numbers, without the lightgbm package's 2 CPU-s import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ModelLoadError
from .lightgbm_library import LightGBMLibraryError, NativeBooster
from .pair_features import MONOTONE


@dataclass(frozen=True)
class BoosterSettings:
    """LightGBM settings (chosen on validation pairs and queries, docs/benchmarks.md)."""

    objective: str = "binary"  # "lambdarank": learn the order of each query's candidates
    rounds: int = 300
    learning_rate: float = 0.05
    leaves: int = 31
    min_rows_per_leaf: int = 40
    seed: int = 0
    monotone: tuple[tuple[str, int], ...] = ()  # (feature, sign) pairs that override MONOTONE's

    def params(self, feature_names: tuple[str, ...]) -> dict:
        signs = {**MONOTONE, **dict(self.monotone)}
        monotone = [signs.get(name, 0) for name in feature_names]
        return {"objective": self.objective, "learning_rate": self.learning_rate, "num_leaves": self.leaves,
                "monotone_constraints": monotone,
                "min_data_in_leaf": self.min_rows_per_leaf, "seed": self.seed, "deterministic": True,
                "force_col_wise": True, "num_threads": 1, "verbose": -1}


# Chosen on validation pairs (pairs) and validation queries (search), docs/benchmarks.md.
PAIR_SETTINGS = BoosterSettings()
SEARCH_SETTINGS = BoosterSettings(objective="lambdarank")  # MRR 0.662 vs 0.651 for binary
# More words that only one side has never rank a search candidate higher. The pairs' re-ranker
# needs the non-monotone shape ("1 and 1 unmatched": a swapped word) to keep look-alikes apart;
# the search re-ranker, whose flag asks the pairs' re-ranker too, ranks better without it
# (validation recall@1 0.5684 vs 0.5611, docs/benchmarks.md). TrainConfig.search_unmatched_monotone.
UNMATCHED_MONOTONE = (("min_unmatched", -1), ("max_unmatched", -1))
# A shortlist's first trees: they pick each query's rows that all trees score. With the
# built-in search re-ranker's 300 trees and 20 rows kept of ~50, chosen on validation queries
# (docs/benchmarks.md): 60 first trees hold every best match of the 51k protocol's queries,
# recall@1 / @10 +0.0004 / +0.0004 against 100 (and +0.0017 / +0.0043 among a million
# questions), the search threshold's calibration the same, at 0.85 of 100's tree evaluations
# (built-in v5; with v6's trees recall@1 equals all 300 trees' on validation and test queries).
SHORTLIST_TREES = 60


class Reranker:
    """``predict(features) -> (n,)`` scores in (0, 1): a duplicate probability for a binary
    objective, the logistic of the ranking score for a ranking one (same order)."""

    def __init__(self, booster: NativeBooster, feature_names: tuple[str, ...], text: str) -> None:
        if booster.num_features != len(feature_names):
            raise ModelLoadError(f"a re-ranker expects {booster.num_features} features, not {len(feature_names)}")
        self._booster = booster
        self.feature_names = feature_names
        self._text = text  # as LightGBM's model_to_string wrote it: part of the model's fingerprint
        header = self._text[: self._text.find("\nTree=")].splitlines()
        objective = next((line for line in header if line.startswith("objective=")), "objective=binary")
        self._squash = not objective.startswith("objective=binary")  # binary predicts probabilities already
        # A binary objective's probability is the logistic of sigmoid x the raw sum (the
        # shortlist sums raw scores itself); a ranking's scores are squashed with 1.
        sigmoid = [part[8:] for part in objective.split() if part.startswith("sigmoid:")]
        try:
            self._sigmoid = 1.0 if self._squash or not sigmoid else float(sigmoid[0])
        except ValueError:
            raise ModelLoadError("a re-ranker file is corrupt (its objective's sigmoid is not a number)") from None

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, feature_names: tuple[str, ...],
            settings: BoosterSettings = BoosterSettings(), groups: np.ndarray | None = None,
            progress: Callable[[int, int], None] | None = None) -> "Reranker":
        """``groups``: rows per query, for a ranking objective. ``progress(done, total)`` is
        called after each boosting round."""
        import lightgbm

        data = lightgbm.Dataset(features, labels.astype(np.float32), group=groups,
                                feature_name=list(feature_names), free_raw_data=True)
        callbacks = [] if progress is None else [lambda env: progress(env.iteration + 1, settings.rounds)]
        booster = lightgbm.train(settings.params(feature_names), data, settings.rounds, callbacks=callbacks)
        return cls.from_text(booster.model_to_string(), feature_names)

    def predict(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0, np.float32)
        # One thread: the pairs of a single search are few, and threads would only contend.
        raw = self._booster.predict(features)
        return (_logistic(raw) if self._squash else raw).astype(np.float32)

    def predict_shortlist(self, features: np.ndarray, sizes: np.ndarray, keep: int) -> np.ndarray:
        """:meth:`predict` for rows that hold ``len(sizes)`` queries' candidates in turn, where
        only the order within a query counts: each query's best ``keep`` rows by the first
        :data:`SHORTLIST_TREES` trees are scored by all of them, the others score -inf."""
        first = min(SHORTLIST_TREES, self._booster.trees)
        if not len(features) or np.max(sizes) <= keep or first == self._booster.trees:
            return self.predict(features)
        scores = self._booster.predict(features, (0, first), raw=True)
        # By query, best first; ties: the first row first.
        order = np.lexsort((-scores, np.repeat(np.arange(len(sizes)), sizes)))
        place = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        kept = order[place < keep]
        scores[kept] += self._booster.predict(features[kept], (first, -1), raw=True)
        out = np.full(len(features), -np.inf, np.float32)
        out[kept] = _logistic(self._sigmoid * scores[kept])  # as predict() gives them
        return out

    def to_text(self) -> str:
        return self._text

    @classmethod
    def from_text(cls, text: str, feature_names: tuple[str, ...]) -> "Reranker":
        try:
            booster = NativeBooster(text)
        except LightGBMLibraryError as error:
            raise ModelLoadError(f"a re-ranker file is corrupt ({str(error).splitlines()[0]})") from None
        return cls(booster, feature_names, text)


def _logistic(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-raw))
