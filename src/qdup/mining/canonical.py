"""Which question of a group of duplicates is the canonical one.

A forum keeps the thread that came first and gathered the answers, and closes the later
ones as its duplicates. So when questions carry forum fields (:mod:`qdup.data.forum`:
``created``, ``answers``), the oldest leads a group, then the most answered; without
them, the question with the most matches does (the rule before forum fields), ties going
to the one stored first. A question already closed as a duplicate of another
(``duplicate_of``) points at its canonical and never leads a group itself.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.forum import field


def leader_order(metadata: Sequence[dict] | None, degree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, can_lead)``: rows in the order they are offered the lead of a group, and
    whether each may lead (not closed as a duplicate of another).

    >>> meta = [{"created": "2024-02-01T00:00:00Z"}, {"created": "2023-01-01T00:00:00Z", "duplicate_of": "9"},
    ...         {"created": "2023-06-01T00:00:00Z", "answers": 2}, {}]
    >>> order, can_lead = leader_order(meta, np.array([1, 3, 1, 5]))
    >>> order.tolist(), can_lead.tolist()
    ([1, 2, 0, 3], [True, False, True, True])
    """
    n = len(degree)
    rows = np.arange(n)
    meta = list(metadata) if metadata is not None else [{}] * n
    can_lead = np.array([field(m, "duplicate_of") is None for m in meta], dtype=bool)
    created = [field(m, "created") for m in meta]
    answered = [m.get("answers") is not None for m in meta if m]
    if not any(c is not None for c in created) and not any(answered):
        return np.lexsort((rows, -degree)), can_lead  # no forum fields: the most matches first
    # ISO UTC strings sort as dates; a question without a date comes after every dated one.
    rank = {c: r for r, c in enumerate(sorted({str(c) for c in created if c is not None}))}
    age = np.array([rank[str(c)] if c is not None else len(rank) for c in created], dtype=np.int64)
    answers = np.array([a if isinstance(a, int) else 0 for a in (field(m, "answers") for m in meta)], dtype=np.int64)
    return np.lexsort((rows, -degree, -answers, age)), can_lead
