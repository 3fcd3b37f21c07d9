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

import numpy as np

from ..errors import ConfigError
from ..util.progress import bar as progress_bar

BLOCK_ROWS = 256  # queries searched at once: 256 x 50k scores = 50 MB in the exact backend


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


def neighbours(index, k: int, threshold: float, progress: bool = False, model=None) -> Neighbours:
    """Each live question's ``k`` best matches scoring above ``threshold`` (itself excluded).

    With a ``model`` whose scorer re-ranks, matches are found and scored as
    :meth:`qdup.Index.search` finds them; otherwise by the stored vectors alone.
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    vectors, ids, questions = index.live()
    metadata = index.live_metadata()
    row_of = {i: n for n, i in enumerate(ids)}
    # A bar on a terminal, a few plain lines in a log (the project's one progress rule).
    starts = progress_bar(range(0, len(ids), BLOCK_ROWS), "mining", "block", enabled=progress)
    rows, scores = [], []
    for start in starts:
        if model is not None and model.scorer.lexical is not None:
            results = index.search(model, questions[start : start + BLOCK_ROWS], k + 1, threshold)
        else:
            results = index.search_vectors(vectors[start : start + BLOCK_ROWS], k + 1, threshold)
        for n, result in enumerate(results):
            own = ids[start + n]
            keep = [(row_of[i], s) for i, s in zip(result.ids, result.scores) if i != own][:k]
            rows.append(np.array([r for r, _ in keep], dtype=np.int64))
            scores.append(np.array([s for _, s in keep], dtype=np.float32))
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

    The question with the most matches becomes a canonical (ties: the one stored first) and
    takes its unassigned matches as members; repeat with the next unassigned question.
    A group has at most k + 1 questions; a question is in one group at most, and one whose
    matches were all taken by other groups (and are not its canonicals) is left out.
    """
    degree = np.array([len(r) for r in found.rows])
    assigned = np.zeros(len(found.ids), bool)
    groups = []
    for n in np.lexsort((np.arange(len(degree)), -degree)):
        if assigned[n] or not degree[n]:
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
