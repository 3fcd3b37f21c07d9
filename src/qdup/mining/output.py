"""Mining an index into a file, as ``qdup mine`` does: pairs (CSV or JSON Lines), each
question's top matches, or groups of duplicates (JSON Lines). Every write is atomic.

Example::

    >>> mined = mine_to_file(Index.load("my-index"), "groups.jsonl", groups=True)  # doctest: +SKIP
    >>> mined.kind, mined.count, mined.grouped_questions                           # doctest: +SKIP
    ('groups', 120, 310)
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from typing import Collection

from ..scoring.thresholds import DEFAULT_MINE_THRESHOLD, check_threshold
from ..util import atomic
from .groups import group_records, neighbours, top_k_records
from .incremental import symmetric
from .pairs import Pair, mine_index

@dataclass(frozen=True)
class Mined:
    """What :func:`mine_to_file` wrote."""

    kind: str                  # "pairs", "top_k" or "groups"
    count: int                 # pairs, questions with matches, or groups
    threshold: float           # the score above which two questions matched
    grouped_questions: int = 0  # groups only: the questions they hold


def mine_to_file(index, out: str | os.PathLike, threshold: float | None = None, top_k: int | None = None,
                 groups: bool = False, max_group_size: int = 20, force: bool = False,
                 progress: bool = False, where=None, new: Collection[str] | None = None, model=None,
                 verdict: bool = True) -> Mined:
    """Mine ``index`` with the model that built it (or ``model``) and write ``out``: with ``top_k``, each
    question's ``top_k`` best matches; with ``groups``, groups of at most ``max_group_size``
    questions (:func:`qdup.mining.groups.group_records`); else every pair, as CSV when
    ``out`` ends in ``.csv``. ``threshold`` defaults to the model's search threshold, else
    :data:`DEFAULT_MINE_THRESHOLD`. ``where``: only questions passing this filter take
    part (:mod:`qdup.search.filters`). ``new``: ids of new questions, the only ones whose
    duplicates are looked for among all (:mod:`qdup.mining.incremental`). A re-ranking
    model's pair scorer must judge each match a duplicate too, unless not ``verdict``
    (:func:`qdup.mining.groups.neighbours`).
    """
    model = model or index.model()
    # The stored vectors are the building model's: another one (its threshold, its scores) would mine
    # them silently wrong, and a cosine model's mining never goes through search, which refuses it.
    index.check_model(model)
    if threshold is None:  # `is None`: a calibrated 0.0 is a threshold too, not "none stored"
        stored = getattr(model, "search_threshold", None)
        threshold = DEFAULT_MINE_THRESHOLD if stored is None else stored
    threshold = check_threshold(threshold)
    if top_k or groups:
        k = top_k or max_group_size - 1
        found = neighbours(index, k, threshold, progress=progress, model=model, where=where, queries=new,
                           verdict=verdict)
        if groups and new is not None:
            found = symmetric(found, k)
        records = group_records(found) if groups else top_k_records(found)
        write_jsonl(records, out)
        if groups:
            return Mined("groups", len(records), threshold, sum(g["size"] for g in records))
        return Mined("top_k", len(records), threshold)
    pairs = mine_index(index, threshold, model=model, where=where, queries=new, verdict=verdict)
    if str(out).lower().endswith(".csv"):
        write_pairs_csv(pairs, out, force)
    else:
        write_pairs_jsonl(pairs, out)
    return Mined("pairs", len(pairs), threshold)


def write_pairs_csv(pairs: list[Pair], path: str | os.PathLike, force: bool = False) -> None:
    """Write ``id1,id2,score,question1,question2`` rows atomically (all or nothing)."""
    atomic.check_new_file(path, force)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id1", "id2", "score", "question1", "question2"])
    for p in pairs:
        writer.writerow([p.id1, p.id2, f"{p.score:.6f}", p.question1, p.question2])
    atomic.write_text(path, buf.getvalue())


def write_pairs_jsonl(pairs: list[Pair], path: str | os.PathLike) -> None:
    """Write one ``{"id1", "id2", "score", "question1", "question2"}`` object a line, atomically."""
    write_jsonl([{**p.__dict__, "score": round(p.score, 6)} for p in pairs], path)


def write_jsonl(records: list[dict], path: str | os.PathLike) -> None:
    """Write one JSON object a line, atomically (all or nothing)."""
    atomic.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
