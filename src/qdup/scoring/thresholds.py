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


class CheckedThreshold:
    """An attribute holding a threshold checked by :func:`check_threshold` on every set, not only
    at load: ``model.threshold = 5`` was kept, and every prediction after it was "not a duplicate"."""

    def __set_name__(self, owner, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj, self.slot)

    def __set__(self, obj, value) -> None:
        setattr(obj, self.slot, check_threshold(value))


def check_search_threshold(entry) -> None:
    """A model's calibrated ``search_threshold`` entry: an object with a ``threshold`` and, when
    calibrated with one, a ``floor`` (``null``: none). A bad one would fail every search later,
    so loading a model refuses it.

    >>> check_search_threshold({"threshold": "abc"})
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: search_threshold: threshold must be a number in [-1, 1], got 'abc'
    """
    if not isinstance(entry, dict) or "threshold" not in entry:
        raise ConfigError(f"search_threshold must be an object with a threshold, got {entry!r}")
    try:
        check_threshold(entry["threshold"])
        if entry.get("floor") is not None:
            check_threshold(entry["floor"])
    except ConfigError as error:
        raise ConfigError(f"search_threshold: {error}") from None


def likely_duplicates(model, scores: Sequence[float], agree: Sequence[bool] | None = None) -> list[bool]:
    """Which matches of one search to flag: above the model's search threshold and, where
    the search asked (``agree``), judged a duplicate of the query by the model's pair scorer.

    The pair scorer learnt look-alikes ("Divorce in Nepal?" / "Divorce in Armenia?"), the
    search scorer did not: the second opinion cuts the flags that fall on such a sibling from
    6.6% to 1.1% of swapped test queries at the same flag precision (docs/benchmarks.md).
    A model without a search threshold (not calibrated, see
    :mod:`qdup.evaluation.search_calibration`) flags at most its top match, and only above
    the pair threshold and with the pair scorer's verdict: never a whole page of flags, nor a
    look-alike (without the verdict, the one command's uncalibrated model flagged the swapped
    sibling for 58% of swapped test queries).
    """
    threshold = getattr(model, "search_threshold", None)
    if threshold is None:
        return [n == 0 and s > model.threshold and (agree is None or bool(agree[0])) for n, s in enumerate(scores)]
    return [s > threshold and (agree is None or bool(agree[n])) for n, s in enumerate(scores)]
