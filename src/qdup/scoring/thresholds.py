"""Thresholds on the model's score: the one check of a threshold, with one message, for every
caller (model folders, evaluate, predict, search, mining, the service), and the rule that
flags a search's matches as likely duplicates."""

from __future__ import annotations

import numbers
from typing import Sequence

from ..errors import ConfigError

# Default for `qdup mine` when the model has no calibrated search threshold: on the 51k
# QQP corpus with the built-in model it keeps the output reviewable (docs/forum.md).
DEFAULT_MINE_THRESHOLD = 0.9


def check_threshold(threshold) -> float:
    """A cosine threshold is a number in [-1, 1] (``True`` is not a number here).

    >>> check_threshold(0.7)
    0.7
    >>> check_threshold(True)
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: threshold must be a number in [-1, 1], got True
    """
    # numbers.Real: Python and numpy numbers alike, without importing numpy (the CLI checks first)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ConfigError(f"threshold must be a number in [-1, 1], got {threshold!r}")
    value = float(threshold)
    if not -1.0 <= value <= 1.0:
        raise ConfigError(f"threshold must be in [-1, 1], got {threshold!r}")
    return value


def likely_duplicates(model, scores: Sequence[float]) -> list[bool]:
    """Which matches of one search to flag: above the model's search threshold.

    A model without one (not calibrated, see :mod:`qdup.evaluation.search_calibration`)
    flags at most its top match, and only above the pair threshold: never a whole page of flags.
    """
    threshold = getattr(model, "search_threshold", None)
    if threshold is None:
        return [n == 0 and s > model.threshold for n, s in enumerate(scores)]
    return [s > threshold for s in scores]
