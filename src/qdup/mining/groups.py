"""Mining a moderator can review: the top few matches per question, or groups of duplicates.

Both start from each stored question's nearest neighbours above a threshold, found
block by block through :meth:`qdup.Index.search_vectors` (exact or HNSW, whatever the
index uses), so memory stays at ``k`` neighbours per question.

Groups do not chain: each group is one *canonical* question and members that each score
above the threshold **against the canonical** (leader clustering, as in
sentence-transformers' ``community_detection``). Connected components of the "above the
threshold" graph instead chain A~B~C~... into giant groups (see docs/forum.md for the
figures on the 51k corpus).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import numpy as np

from ..errors import ConfigError
from ..search.filters import as_filter
from ..util.progress import bar as progress_bar
from .canonical import leader_order

BLOCK_ROWS = 256  # queries searched at once: 256 x 50k scores = 50 MB in the exact backend
# A question whose matches the pair scorer turns down is searched again twice as deep, up to
# this many times k + 1: past it, it keeps fewer than k. Unbounded, a threshold of 0 (every
# candidate above it, most turned down) doubled the depth to the corpus size: quadratic.
MAX_DEPTH_FACTOR = 16


@dataclass(frozen=True)
class Neighbours:
    """Per live question (in insertion order): rows and scores of its matches, best first."""

    ids: list[str]
    questions: list[str]
    rows: list[np.ndarray]
    scores: list[np.ndarray]
    metadata: list[dict] | None = None  # per question (url, title...), None: none stored

    def question(self, row: int, score: float | None = None) -> dict:
        out = {"id": self.ids[row], "question": self.questions[row]}
        if score is not None:
            out["score"] = round(float(score), 6)
        if self.metadata and self.metadata[row]:
            out["metadata"] = self.metadata[row]
        return out


def neighbours(index, k: int, threshold: float, progress: bool = False, model=None, where=None,
               queries: Collection[str] | None = None, verdict: bool = True) -> Neighbours:
    """Each live question's ``k`` best matches scoring above ``threshold`` (itself excluded).

    With a ``model`` whose scorer re-ranks, matches are found and scored as
    :meth:`qdup.Index.search` finds them, and only those its pair scorer judges duplicates
    are kept, as a search flags them (unless not ``verdict``: look-alikes such as "Divorce in
    Nepal?" / "Divorce in Armenia?" score high on the search scorer, which never learnt
    them); otherwise they are found by the stored vectors alone. ``where``
    (a filter, :mod:`qdup.search.filters`): only the questions passing it take part.
    ``queries``: ids of the only questions whose matches are looked for (the others get
    none, but may be matches): incremental mining of new questions.
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    where = as_filter(where)
    vectors, ids, questions = index.live()
    metadata = index.live_metadata()
    if where is not None:
        keep = np.flatnonzero(where.mask(metadata, len(ids)))
        vectors, ids = vectors[keep], [ids[n] for n in keep]
        questions, metadata = [questions[n] for n in keep], [metadata[n] for n in keep]
    row_of = {i: n for n, i in enumerate(ids)}
    asked = list(range(len(ids))) if queries is None else sorted(row_of[i] for i in set(queries) if i in row_of)
    rows = [np.zeros(0, np.int64)] * len(ids)
    scores = [np.zeros(0, np.float32)] * len(ids)
    # A bar on a terminal, a few plain lines in a log (the project's one progress rule).
    for start in progress_bar(range(0, len(asked), BLOCK_ROWS), "mining", "block", enabled=progress):
        pending, depth = asked[start : start + BLOCK_ROWS], k + 1
        while pending:  # a match the pair scorer turns down frees its place: search deeper for those
            if model is not None and model.scorer.lexical is not None:
                results = index.search(model, [questions[n] for n in pending], depth, threshold, where=where,
                                       verdicts_above=threshold if verdict else None)
            else:
                results = index.search_vectors(vectors[pending], depth, threshold, where=where)
            deeper = []
            for n, result in zip(pending, results):
                judged = result.verdicts if verdict else [True] * len(result.ids)
                keep = [(row_of[i], s) for i, s, yes in zip(result.ids, result.scores, judged)
                        if yes and i != ids[n] and i in row_of][:k]
                rows[n] = np.array([r for r, _ in keep], dtype=np.int64)
                scores[n] = np.array([s for _, s in keep], dtype=np.float32)
                if len(keep) < k and len(result.ids) == depth:  # all it asked for were above the threshold
                    deeper.append(n)
            pending, depth = (deeper, depth * 2) if depth * 2 <= (k + 1) * MAX_DEPTH_FACTOR else ([], depth)
    return Neighbours(ids, questions, rows, scores, metadata if any(metadata) else None)


def top_k_records(found: Neighbours) -> list[dict]:
    """One record per question that has matches: ``{"id", "question", "matches": [...]}``
    (each with its ``metadata`` when it has some)."""
    return [
        {**found.question(n), "matches": [found.question(r, s) for r, s in zip(rows, scores)]}
        for n, (rows, scores) in enumerate(zip(found.rows, found.scores)) if len(rows)
    ]


def group_records(found: Neighbours) -> list[dict]:
    """Groups without chaining: ``{"canonical": {...}, "members": [...], "size": n}``, largest first.

    Questions are taken in the order of :func:`qdup.mining.canonical.leader_order` (with
    forum fields: the oldest, then the most answered; else the one with the most matches,
    ties: the one stored first); each becomes a canonical and takes its unassigned matches
    as members. A question closed as a duplicate of another never leads a group. A group
    has at most k + 1 questions; a question is in one group at most, and one whose
    matches were all taken by other groups (and are not its canonicals) is left out.
    """
    degree = np.array([len(r) for r in found.rows])
    assigned = np.zeros(len(found.ids), bool)
    groups = []
    order, can_lead = leader_order(found.metadata, degree)
    for n in order:
        if assigned[n] or not degree[n] or not can_lead[n]:
            continue
        members = [(r, s) for r, s in zip(found.rows[n], found.scores[n]) if not assigned[r]]
        if not members:
            continue
        assigned[n] = True
        assigned[[r for r, _ in members]] = True
        groups.append({
            "canonical": found.question(n),
            "members": [found.question(r, s) for r, s in members],
            "size": len(members) + 1,
        })
    groups.sort(key=lambda g: (-g["size"], -g["members"][0]["score"]))
    return groups


def component_sizes(found: Neighbours) -> np.ndarray:
    """Sizes (descending) of the connected components with 2+ questions: how far matches chain."""
    parent = np.arange(len(found.ids))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for n, rows in enumerate(found.rows):
        for r in rows:
            a, b = root(n), root(int(r))
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots = np.array([root(n) for n in range(len(parent))])
    sizes = np.bincount(roots)
    return np.sort(sizes[sizes > 1])[::-1]
