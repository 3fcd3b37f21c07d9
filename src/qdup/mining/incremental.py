"""Incremental mining: duplicates of new questions among the whole archive, without mining it again.

New questions are those created on or after a date (the ``created`` forum field) or those
listed in a file of ids. Each is searched against every stored question (through the
same filters as a full mining), so the cost is one search per new question. Groups are
then made from the matches seen from both ends (:func:`symmetric`): an archive question
matched by two new ones can be their canonical (:mod:`qdup.mining.canonical`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.forum import check_created, field
from ..data.textfiles import text_lines
from ..errors import DataError, UnknownIdError
from .groups import Neighbours


def created_since(index, date: str) -> list[str]:
    """Ids of the live questions created on or after ``date`` (ISO 8601); a :class:`DataError`
    when no question has a ``created`` time (the answer would be none, whatever the date)."""
    since = check_created(date, "--new-since")
    _, ids, _ = index.live()
    created = [field(m, "created") for m in index.live_metadata()]
    if ids and not any(created):
        raise DataError("no stored question has a 'created' time, so none is new since a date: "
                        "add it to the questions (a forum field), or name the new ones with --ids")
    return [i for i, c in zip(ids, created) if (c or "") >= since]


def read_ids(index, path: str | Path) -> list[str]:
    """The ids of a file (one a line, blank lines skipped); every one must be stored."""
    path = Path(path)
    # By line, as question files are read: /dev/zero or an endless FIFO is refused, not read forever.
    lines = [(n, line.strip()) for n, line in enumerate(text_lines(path, "file of ids", whole=True), start=1)
             if line.strip()]
    if not lines:
        raise DataError(f"{path} lists no ids")
    stored = set(index.live()[1])
    for n, i in lines:
        if i not in stored:
            raise UnknownIdError(f"{path}, line {n}: id {i!r} is not in the index")
    return [i for _, i in lines]


def symmetric(found: Neighbours, k: int) -> Neighbours:
    """The matches of ``found`` seen from both ends (each pair once, its higher score),
    each question keeping its ``k`` best: so a question that was not searched gets the
    new questions that matched it."""
    best: list[dict[int, float]] = [{} for _ in found.ids]
    for n, (rows, scores) in enumerate(zip(found.rows, found.scores)):
        for r, s in zip(rows.tolist(), scores.tolist()):
            for a, b in ((n, r), (r, n)):
                best[a][b] = max(best[a].get(b, -np.inf), s)
    rows, scores = [], []
    for matches in best:
        top = sorted(matches.items(), key=lambda item: (-item[1], item[0]))[:k]
        rows.append(np.array([r for r, _ in top], dtype=np.int64))
        scores.append(np.array([s for _, s in top], dtype=np.float32))
    return Neighbours(found.ids, found.questions, rows, scores, found.metadata)
