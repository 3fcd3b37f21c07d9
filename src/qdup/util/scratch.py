"""Per-thread scratch arrays kept from call to call, so a search allocates and zeroes nothing.

A search thread marks a query's few entries in a row as wide as the hashed features (a
million slots), reads them, and clears only what it marked: cheaper than allocating and
zeroing that row for each query. Each thread has its own, so the service's threads never
read each other's marks.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np


def scratch_row(slot: threading.local, length: int, make: Callable[[int], np.ndarray]) -> np.ndarray:
    """The calling thread's scratch row of ``slot``, at least ``length`` long (``make(n)``
    makes one of ``n``, in the state its callers leave it in)."""
    row = getattr(slot, "row", None)
    if row is None or len(row) < length:
        row = slot.row = make(length)
    return row
