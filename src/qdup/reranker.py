"""A gradient-boosted re-ranker over pair features (LightGBM), saved as LightGBM's own text.

The text format holds split thresholds and leaf values only: loading it parses numbers and
never runs code (no pickles). Training is deterministic for a given seed (one thread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ModelLoadError
from .pair_features import MONOTONE

FILE = "reranker.txt"


@dataclass(frozen=True)
class BoosterSettings:
    """LightGBM settings of the default recipe (chosen on validation pairs, docs/benchmarks.md)."""

    rounds: int = 300
    learning_rate: float = 0.05
    leaves: int = 31
    min_rows_per_leaf: int = 40
    seed: int = 0

    def params(self, feature_names: tuple[str, ...]) -> dict:
        monotone = [MONOTONE.get(name, 0) for name in feature_names]
        return {"objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.leaves,
                "monotone_constraints": monotone,
                "min_data_in_leaf": self.min_rows_per_leaf, "seed": self.seed, "deterministic": True,
                "force_col_wise": True, "num_threads": 1, "verbose": -1}


class Reranker:
    """``predict(features) -> (n,)`` probability that each pair is a duplicate."""

    def __init__(self, booster, feature_names: tuple[str, ...]) -> None:
        if booster.num_feature() != len(feature_names):
            raise ModelLoadError(f"{FILE} expects {booster.num_feature()} features, not {len(feature_names)}")
        self._booster = booster
        self.feature_names = feature_names

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, feature_names: tuple[str, ...],
            settings: BoosterSettings = BoosterSettings()) -> "Reranker":
        import lightgbm

        data = lightgbm.Dataset(features, labels.astype(np.float32), feature_name=list(feature_names),
                                free_raw_data=True)
        return cls(lightgbm.train(settings.params(feature_names), data, settings.rounds), feature_names)

    def predict(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0, np.float32)
        # One thread: the pairs of a single search are few, and threads would only contend.
        return self._booster.predict(features, num_threads=1).astype(np.float32)

    def to_text(self) -> str:
        return self._booster.model_to_string()

    @classmethod
    def from_text(cls, text: str, feature_names: tuple[str, ...]) -> "Reranker":
        import lightgbm

        try:
            booster = lightgbm.Booster(model_str=text)
        except lightgbm.basic.LightGBMError as error:
            raise ModelLoadError(f"{FILE} is corrupt ({str(error).splitlines()[0]})") from None
        return cls(booster, feature_names)
