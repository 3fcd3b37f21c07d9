"""How training makes each scorer of :mod:`qdup.scoring`, once the encoder is trained.

The names are those of :data:`qdup.scoring.base.SCORERS` (which loads a scorer); scoring
sits below training, so how each one is *fitted* is registered here. A fitter is called as
``fit(split, folds, train_encoder, log, lookalikes) -> Scorer``: ``train_encoder(part)`` trains an
encoder with the run's recipe on ``part`` (a :class:`~qdup.data.split.Split`), for
out-of-fold cosines; ``log`` reports progress. Callers ask :func:`fit_scorer`, never the name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..errors import ConfigError
from ..scoring.base import SCORERS
from ..util.progress import log as log_progress
from ..util.registry import Registry

if TYPE_CHECKING:
    from ..data.split import Split
    from ..scoring.base import Scorer
    from ..scoring.cosine import CosineScorer
    from .recipes import TrainConfig

FITTERS = Registry("scorer", {
    "cosine": "qdup.training.scorers:fit_cosine",
    "rerank": "qdup.training.scorer_fit:train_rerank_scorer",
}, ConfigError)


def fit_cosine(split: Split, folds: int, train_encoder: Callable[[Split], object],
               log: Callable[[str], None], lookalikes: float = 0.0) -> CosineScorer:
    """The cosine scorer learns nothing: no pairs, no out-of-fold encoders, no look-alikes."""
    from ..scoring.cosine import CosineScorer  # numpy: not for `qdup --help`, which reads the recipes

    return CosineScorer()


def fitted_on_pairs(name: str) -> bool:
    """Whether scorer ``name`` learns from labelled pairs (with out-of-fold encoders)."""
    return SCORERS.get(name).fitted_on_pairs


def fit_scorer(config: TrainConfig, split: Split, train_encoder: Callable[[Split], object],
               progress: bool) -> Scorer:
    """``config.scorer`` fitted on ``split``'s training pool (progress lines when ``progress``)."""
    fit = FITTERS.get(config.scorer)
    return fit(split, config.scorer_folds, train_encoder, log=log_progress if progress else lambda line: None,
               lookalikes=config.lookalikes)
