"""How training makes each scorer of :mod:`qdup.scoring`, once the encoder is trained.

The names are those of :data:`qdup.scoring.base.SCORERS` (which loads a scorer); scoring
sits below training, so how each one is *fitted* is registered here. A fitter is called as
``fit(split, folds, train_encoder, log, held_out=None, **settings) -> Scorer``:
``train_encoder(part)`` trains an encoder with the run's recipe on ``part`` (a
:class:`~qdup.data.split.Split`), for out-of-fold cosines, or, with ``held_out`` (a
:class:`~qdup.training.scorer_fit.HeldOut`), returns the one encoder trained without that
part; ``log`` reports progress; ``settings``: the recipe's scorer settings
(:func:`scorer_settings`: its share of look-alike rows, the most words of a name they swap,
and the search re-ranker's monotone unmatched words).
Callers ask :func:`fit_scorer` or :func:`fit_encoder_and_scorer`, never the name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

from ..errors import ConfigError
from ..scoring.base import SCORERS
from ..util.progress import log as log_progress
from ..util.registry import Registry

if TYPE_CHECKING:
    from ..data.split import Split
    from ..scoring.base import Scorer
    from ..scoring.cosine import CosineScorer
    from .recipes import TrainConfig

T = TypeVar("T")  # what train_encoder returns (a model, or a distilled student)

FITTERS = Registry("scorer", {
    "cosine": "qdup.training.scorers:fit_cosine",
    "rerank": "qdup.training.scorer_fit:train_rerank_scorer",
}, ConfigError)


def fit_cosine(split: Split, folds: int, train_encoder: Callable[[Split], object],
               log: Callable[[str], None], held_out=None, **settings) -> CosineScorer:
    """The cosine scorer learns nothing: no pairs, no out-of-fold encoders, no look-alikes."""
    from ..scoring.cosine import CosineScorer  # numpy: not for `qdup --help`, which reads the recipes

    return CosineScorer()


def scorer_settings(config: TrainConfig) -> dict:
    """The recipe's settings a scorer's fitter takes, by keyword."""
    return {"lookalikes": config.lookalikes, "lookalike_words": config.lookalike_words,
            "search_unmatched_monotone": config.search_unmatched_monotone}


def fitted_on_pairs(name: str) -> bool:
    """Whether scorer ``name`` learns from labelled pairs (with out-of-fold encoders)."""
    return SCORERS.get(name).fitted_on_pairs


def fit_scorer(config: TrainConfig, split: Split, train_encoder: Callable[[Split], object],
               progress: bool) -> Scorer:
    """``config.scorer`` fitted on ``split``'s training pool (progress lines when ``progress``)."""
    fit = FITTERS.get(config.scorer)
    return fit(split, config.scorer_folds, train_encoder, log=log_progress if progress else lambda line: None,
               **scorer_settings(config))


def fit_encoder_and_scorer(config: TrainConfig, split: Split, train_encoder: Callable[[Split], T],
                           progress: bool) -> tuple[T, Scorer, dict]:
    """The encoder a model keeps, its ``config.scorer`` and how that was fitted (for ``info``).

    Out-of-fold (``scorer_held_out`` 0): the encoder trains on the whole pool, and the
    scorer on the cosines of ``scorer_folds`` more encoders. Held out (``scorer_held_out``
    > 0, for encoders too dear to train several times): the encoder trains once, without a
    held-out part of the pool made of whole question groups, and the scorer learns from
    that part alone (:func:`qdup.training.scorer_fit.held_out_part`). A scorer that learns
    nothing from pairs has the encoder trained on everything either way.
    """
    log = log_progress if progress else lambda line: None
    if not (config.scorer_held_out and fitted_on_pairs(config.scorer)):
        encoder = train_encoder(split)
        method = "out-of-fold" if fitted_on_pairs(config.scorer) else "none"
        return encoder, fit_scorer(config, split, train_encoder, progress), {"method": method}
    from .scorer_fit import held_out_part  # (search and LightGBM code, only when fitting)

    held_out = held_out_part(split, config.scorer_held_out, config.seed)
    counts = held_out.summary()
    if counts["held_out_duplicates"] < 2:
        raise ConfigError(f"scorer_held_out={config.scorer_held_out} holds out {counts['held_out_duplicates']} "
                          "duplicate pairs: the re-ranker needs more (a larger share, or more pairs)")
    log(f"scorer: {counts['held_out_duplicates']} duplicate and {counts['held_out_negatives']} non-duplicate "
        "pairs held out from the encoder")
    encoder = train_encoder(held_out.rest(split))
    scorer = FITTERS.get(config.scorer)(split, config.scorer_folds, lambda part: encoder, log=log, held_out=held_out,
                                        **scorer_settings(config))
    return encoder, scorer, {"method": "held-out", **held_out.summary()}
