"""The cosine decision threshold: one check, with one message, for every caller
(model folders, evaluate, predict, search, mining, the service)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def check_threshold(threshold) -> float:
    """A cosine threshold is a number in [-1, 1] (``True`` is not a number here).

    >>> check_threshold(0.7)
    0.7
    >>> check_threshold(True)
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: threshold must be a number in [-1, 1], got True
    """
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.number)):
        raise ConfigError(f"threshold must be a number in [-1, 1], got {threshold!r}")
    value = float(threshold)
    if not -1.0 <= value <= 1.0:
        raise ConfigError(f"threshold must be in [-1, 1], got {threshold!r}")
    return value
