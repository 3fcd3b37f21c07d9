"""Training the re-ranking scorer on the training pool, without letting it trust a memorised cosine.

The encoder has seen the training pairs, so its cosine on them is far better than on new
questions (ROC AUC 0.98 on training pairs, 0.85 on validation pairs for the built-in
encoder). A re-ranker fitted on those cosines learns to trust them blindly. So the cosine
features come from *out-of-fold* encoders: the training pairs are cut into ``folds``
parts, an encoder is trained on all parts but one with the same recipe, and it scores the
part it did not see (cross-fitting, as in stacking). The final encoder, trained on
everything, is the one the model keeps.

The re-ranker learns from two kinds of rows, both from the training pool only:
- every labelled pair (duplicates and non-duplicates), as ``predict`` sees pairs;
- for each question of a training duplicate pair, the candidates a search for it returns
  over all pool questions (``hybrid.DEPTH`` by cosine, as many by words), labelled 1
  when the candidate is a known duplicate of it, as ``search`` sees them;
- for the pairs' re-ranker, look-alikes made from the pool (:func:`lookalike_rows`):
  a question and its copy with one name or number swapped, labelled 0. The labelled pairs
  hold too few such pairs to learn that the swapped word matters (validation look-alikes
  judged duplicate: 0.106 without them, 0.027 with them; docs/benchmarks.md).

When training an encoder is too dear to do ``folds + 1`` times (fine-tuning a transformer),
a :class:`HeldOut` part of the pool replaces the folds (:func:`held_out_part`): the encoder
the model keeps trains once, on the rest, and the re-ranker learns from the held-out part
alone, with that encoder's cosines. The part is made of whole question groups (connected
pairs, duplicates and non-duplicates alike), so no held-out question, nor any question
paired with one, was seen in training: its cosines are as honest as on new questions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable, Sequence

import numpy as np

from ..search import hybrid
from ..data.pairs import Pairs
from ..text.lexical import LexicalRows, LexicalStats
from ..text.names import NameStats
from ..scoring.pair_features import FEATURES, pair_features
from ..scoring.booster import PAIR_SETTINGS, SEARCH_SETTINGS, UNMATCHED_MONOTONE, Reranker
from ..scoring.rerank import RerankScorer
from ..data.split import Split
from .lookalikes import Lookalikes
from .recipes import TrainConfig


@dataclass(frozen=True)
class HeldOut:
    """Rows of a split's training pool held out from the encoder (boolean masks)."""

    train: np.ndarray      # (len(split.train),) duplicate pairs
    negatives: np.ndarray  # (len(split.negatives),) non-duplicate pairs

    def rest(self, split: Split) -> Split:
        """``split`` without the held-out pairs: what the encoder trains on."""
        return replace(split, train=split.train.subset(~self.train), negatives=split.negatives.subset(~self.negatives))

    def summary(self) -> dict:
        return {"held_out_duplicates": int(self.train.sum()), "held_out_negatives": int(self.negatives.sum())}


@dataclass(frozen=True)
class ScorerRows:
    """Out-of-fold training rows of both re-rankers."""

    pair_features: np.ndarray      # (p, F) labelled pairs, as predict sees them
    pair_labels: np.ndarray        # (p,)
    search_features: np.ndarray    # (c, F) candidates, as search sees them
    search_labels: np.ndarray      # (c,)
    search_groups: np.ndarray      # (queries,) candidates per query, in row order

    def joined(self, other: "ScorerRows") -> "ScorerRows":
        """These rows, then ``other``'s (search groups stay whole)."""
        return ScorerRows(*(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)))


def train_rerank_scorer(split: Split, folds: int, train_encoder: Callable[[Split], object],
                        log: Callable[[str], None] = lambda s: None, held_out: HeldOut | None = None, *,
                        lookalikes: float = TrainConfig.lookalikes, lookalike_words: int = TrainConfig.lookalike_words,
                        search_unmatched_monotone: bool = TrainConfig.search_unmatched_monotone,
                        features: tuple[str, ...] = FEATURES,
                        stats: LexicalStats | None = None, names: NameStats | None = None,
                        extra: ScorerRows | None = None) -> RerankScorer:
    """Fit IDF and name-likeness on the pool questions, then both re-rankers on out-of-fold
    features (or, with ``held_out``, on the held-out part's features; ``folds`` is then
    unused). ``features``: which of them the re-rankers read. ``search_unmatched_monotone``:
    more words only one side has never raise a search score (``UNMATCHED_MONOTONE``).

    ``stats``, ``names``: keep these statistics instead (a refit keeps its model's, so the
    lexical rows its indexes store stay valid). ``extra``: more labelled rows learnt next
    to the pool's, say moderator decisions (:func:`labelled_rows`, with the same statistics).
    """
    pool = split.pool_questions()
    stats = stats or LexicalStats.fit(pool)
    names = NameStats.fit(pool) if names is None else names
    data = scorer_rows(split, folds, train_encoder, stats, log, held_out, names=names, lookalikes=lookalikes,
                       lookalike_words=lookalike_words)
    if extra is not None:
        data = data.joined(extra)
    log(f"scorer: fitting the re-rankers ({len(data.pair_labels):,} pairs, {len(data.search_labels):,} "
        f"search candidates of {len(data.search_groups):,} queries)")
    columns = [FEATURES.index(name) for name in features]
    pair = Reranker.fit(data.pair_features[:, columns], data.pair_labels, features, PAIR_SETTINGS,
                        progress=_rounds_logged(log, "pairs"))
    search_settings = replace(SEARCH_SETTINGS, monotone=UNMATCHED_MONOTONE) if search_unmatched_monotone \
        else SEARCH_SETTINGS
    search = Reranker.fit(data.search_features[:, columns], data.search_labels, features, search_settings,
                          groups=data.search_groups, progress=_rounds_logged(log, "search"))
    return RerankScorer(stats, pair, search, names)


def _rounds_logged(log: Callable[[str], None], name: str, lines: int = 5) -> Callable[[int, int], None]:
    """Boosting progress as ``lines`` log lines (util/progress's rule for long loops)."""
    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // lines) == 0:
            log(f"scorer: {name} re-ranker, round {done}/{total}")

    return report


def scorer_rows(split: Split, folds: int, train_encoder: Callable[[Split], object], stats: LexicalStats,
                log: Callable[[str], None] = lambda s: None, held_out: HeldOut | None = None,
                names: NameStats | None = None, lookalikes: float = 0.0, lookalike_words: int = 1) -> ScorerRows:
    """Features of the training pool's labelled pairs and search candidates, each with the
    cosine of an encoder that did not train on it: every fold's, or the ``held_out`` part's
    only; with ``lookalikes``, also look-alike non-duplicates made from that share of each
    part's duplicate pairs (:func:`lookalike_rows`), swapping names of up to ``lookalike_words`` words."""
    pool = split.pool_questions()
    row_of = {q: n for n, q in enumerate(pool)}
    rows = stats.rows(pool)
    duplicates_of = _duplicate_sets(split.train, row_of)
    parts: dict[str, list] = {"px": [], "py": [], "sx": [], "sy": [], "sg": []}
    held_parts = [held_out] if held_out is not None else _folds(split, folds)
    maker = Lookalikes.from_pool(pool, max_words=lookalike_words) if lookalikes else None  # the pool's names and their neighbours: once
    for fold, held in enumerate(held_parts):
        held_train, held_negatives = held.train, held.negatives
        log(f"scorer part {fold + 1}/{len(held_parts)}: the cosines of an encoder trained without it")
        encoder = train_encoder(held.rest(split))
        vectors = encoder.encode(pool)
        queries = _query_rows(split.train.subset(held_train), row_of)
        x, y, groups = _candidate_rows(queries, vectors, rows, duplicates_of, stats, names)
        parts["sx"].append(x), parts["sy"].append(y), parts["sg"].append(groups)
        for pairs, label in ((split.train.subset(held_train), 1.0), (split.negatives.subset(held_negatives), 0.0)):
            a, b = _pair_rows(pairs, row_of)
            cosine = np.einsum("nd,nd->n", vectors[a], vectors[b])
            parts["px"].append(pair_features(cosine, rows.take(a), rows.take(b), stats, names=names))
            parts["py"].append(np.full(len(a), label, np.float32))
        if maker is not None:
            x, y = lookalike_rows(split.train.subset(held_train), encoder, maker, stats, names, lookalikes, seed=fold)
            parts["px"].append(x), parts["py"].append(y)
    px, py, sx, sy, sg = (np.concatenate(parts[k]) for k in ("px", "py", "sx", "sy", "sg"))
    return ScorerRows(px, py, sx, sy, sg)


def labelled_rows(encoder, pairs: Pairs, stats: LexicalStats, pool: Sequence[str] = (),
                  names: NameStats | None = None) -> ScorerRows:
    """Rows of labelled pairs that ``encoder`` did not train on (moderator decisions on a
    model's own encoder): each pair as ``predict`` sees it; and, as ``search`` sees them,
    for each question1 the candidates a search over ``pool`` and the pairs' questions
    returns, labelled 1 when a pair says so (as :func:`scorer_rows` labels the pool's).
    Without ``pool``, each question1's labelled pairs are its search group."""
    texts = _distinct(pairs.question1 + pairs.question2 + list(pool))
    row_of = {q: n for n, q in enumerate(texts)}
    vectors, rows = encoder.encode(texts), stats.rows(texts)
    a, b = _pair_rows(pairs, row_of)
    order = np.argsort(a, kind="stable")  # a query's pairs together
    a, b, labels = a[order], b[order], pairs.is_duplicate[order].astype(np.float32)
    cosine = np.einsum("nd,nd->n", vectors[a], vectors[b])
    features = pair_features(cosine, rows.take(a), rows.take(b), stats, names=names)
    if not len(pool):
        return ScorerRows(features, labels, features, labels, np.unique(a, return_counts=True)[1])
    x, y, groups = _candidate_rows(np.unique(a), vectors, rows, _duplicate_sets(pairs.duplicates(), row_of), stats,
                                   names)
    return ScorerRows(features, labels, x, y, groups)


def held_out_part(split: Split, share: float, seed: int = 0) -> HeldOut:
    """About ``share`` of the training pool's pairs, made of whole question groups.

    Two pairs are in one group when they share a question (the connected components of the
    pool's pair graph: on Quora most are one pair, the largest a few dozen). Groups are drawn
    in a seeded random order and kept while the held-out duplicate pairs stay within
    ``share`` of the duplicates, and the held-out non-duplicates within ``share`` of those.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pool = split.pool_questions()
    row_of = {q: n for n, q in enumerate(pool)}
    ends = [_pair_rows_all(pairs, row_of) for pairs in (split.train, split.negatives)]
    a, b = (np.concatenate([e[i] for e in ends]) for i in (0, 1))
    linked = a >= 0  # a pair with an empty question links nothing
    graph = coo_matrix((np.ones(linked.sum()), (a[linked], b[linked])), shape=(len(pool), len(pool)))
    _, group_of_row = connected_components(graph, directed=False)
    group = np.where(linked, group_of_row[np.maximum(a, 0)], -1)
    n = len(split.train)
    per_group = np.stack([np.bincount(g[ok], minlength=group_of_row.max() + 1)  # (2, groups): duplicates, negatives
                          for g, ok in ((group[:n], linked[:n]), (group[n:], linked[n:]))])
    held = np.zeros(per_group.shape[1] + 1, bool)  # the last entry: group -1, never held out
    budget = share * np.array([n, len(split.negatives)], dtype=np.float64)
    for g in np.random.default_rng(seed).permutation(per_group.shape[1]):
        if (per_group[:, g] <= budget).all():  # a group too large for what is left is skipped, not cut
            held[g], budget = True, budget - per_group[:, g]
    return HeldOut(held[group[:n]], held[group[n:]])


def _pair_rows_all(pairs: Pairs, row_of: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both questions' pool rows of every pair, in order; -1 for an empty question."""
    rows = [(row_of.get(a.strip(), -1), row_of.get(b.strip(), -1)) if a.strip() and b.strip() else (-1, -1)
            for a, b in zip(pairs.question1, pairs.question2)]
    a, b = np.array(rows, dtype=np.int64).reshape(-1, 2).T
    return a, b


def _folds(split: Split, folds: int) -> list[HeldOut]:
    """Pairs cut into ``folds`` parts by position: each encoder trains on all but one."""
    return [HeldOut(np.arange(len(split.train)) % folds == fold, np.arange(len(split.negatives)) % folds == fold)
            for fold in range(folds)]


def _distinct(questions: list[str]) -> list[str]:
    return sorted({q.strip() for q in questions if q.strip()})


def _query_rows(pairs: Pairs, row_of: dict[str, int]) -> np.ndarray:
    """Both questions of each duplicate pair: a user may ask either one (validation MRR 0.654
    vs 0.651 for question1 only, recall@1 0.562 vs 0.558)."""
    a, b = _pair_rows(pairs, row_of)
    return np.unique(np.concatenate([a[a != b], b[a != b]]))


def _pair_rows(pairs: Pairs, row_of: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    keep = [(row_of[a.strip()], row_of[b.strip()]) for a, b in zip(pairs.question1, pairs.question2)
            if a.strip() and b.strip()]
    a, b = np.array(keep, dtype=np.int64).reshape(-1, 2).T
    return a, b


def _duplicate_sets(duplicates: Pairs, row_of: dict[str, int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    a, b = _pair_rows(duplicates, row_of)
    for x, y in zip(a, b):
        out.setdefault(int(x), set()).add(int(y))
        out.setdefault(int(y), set()).add(int(x))
    return out


def _candidate_rows(queries: np.ndarray, vectors: np.ndarray, rows: LexicalRows,
                    duplicates_of: dict[int, set[int]], stats: LexicalStats, names: NameStats | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features and labels of every (query, candidate) pair a hybrid search over the pool would score."""
    depth = hybrid.DEPTH + 1  # +1: the query finds itself, dropped below
    query_rows = rows.take(queries)
    found = hybrid.candidates(hybrid.InMemoryRows(vectors, rows), vectors[queries], query_rows, depth)
    candidates = [c[c != q] for q, c in zip(queries, found)]
    sizes = np.array([len(c) for c in candidates])
    query_of = np.repeat(np.arange(len(queries)), sizes)
    which, flat = queries[query_of], np.concatenate(candidates)
    cosine = np.einsum("nd,nd->n", vectors[which], vectors[flat])
    labels = np.array([c in duplicates_of.get(int(q), ()) for q, c in zip(which, flat)], dtype=np.float32)
    return pair_features(cosine, query_rows, rows.take(flat), stats, a_of=query_of, names=names), labels, sizes


def lookalike_rows(duplicates: Pairs, encoder, maker: Lookalikes, stats: LexicalStats, names: NameStats | None,
                   share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair rows of look-alikes (:mod:`qdup.training.lookalikes`), all non-duplicates: for
    ``share`` of ``duplicates`` (drawn at random), the first question q and q' = q with a name
    or number that both questions of the pair have swapped. Features with ``encoder``'s
    cosines (one that did not train on ``duplicates``)."""
    indices, swapped = maker.swap_firsts(duplicates, share, np.random.default_rng(seed))
    made = [(duplicates.question1[n], s) for n, s in zip(indices, swapped) if s != duplicates.question1[n]]
    if not made:
        return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.float32)
    texts = [t for two in made for t in two]  # q, q' of each
    vectors, rows = encoder.encode(texts), stats.rows(texts)
    a, b = 2 * np.arange(len(made)), 2 * np.arange(len(made)) + 1
    cosine = np.einsum("nd,nd->n", vectors[a], vectors[b])
    return pair_features(cosine, rows.take(a), rows.take(b), stats, names=names), np.zeros(len(made), np.float32)
