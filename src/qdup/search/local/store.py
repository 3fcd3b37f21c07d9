"""The local backends ("exact", "hnsw", "auto"): rows in segment files in the index folder.

Rows are positions in the concatenation of the segments. Each segment is searched by its
own searcher (exact numpy scan or FAISS HNSW graph, see :mod:`qdup.search.local.segments`) and
the per-segment top-k lists are merged.

The three names differ only in when a merged segment gets an HNSW graph
(:data:`GRAPH_RULES`); a store reads its name from the manifest in one place, when it is
created or opened.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...errors import ConfigError
from ...text.lexical import LexicalRows, LexicalStats
from ...util.pages import touch, will_need
from ...util.progress import log
from ..filters import Filter
from ..postings import has_todays_postings, rare_postings, rescores
from ..topk import empty_topk, merge_topk
from .segments import (Segment, compacted, filtered_topk, graph_added, live_rows, read_segments, search_arrays,
                       segment_files, verify_segments)

CHUNK_ROWS = None  # a fresh build is one merged segment (and one HNSW graph): hand over everything at once
AUTO_HNSW_ROWS = 50_000  # exact search over 50k x 128 floats takes ~1-2 ms of a core; above, HNSW
MASK_CACHE = 64  # filters whose row masks a store keeps (a service sees a few distinct filters)
# Backend name -> whether a merged segment of that many live rows gets an HNSW graph.
GRAPH_RULES: dict[str, Callable[[int], bool]] = {
    "exact": lambda live_rows: False,
    "hnsw": lambda live_rows: True,
    "auto": lambda live_rows: live_rows >= AUTO_HNSW_ROWS,
}


def check_options(options: dict) -> None:
    if options:
        raise ConfigError(f"the exact/hnsw/auto backends take no {', '.join(sorted(options))} "
                          "(those are Milvus settings)")


def create(folder: Path, manifest: dict, options: dict, force: bool, resume_key: str | None) -> "LocalStore":
    check_options(options)
    return LocalStore((), _graph_rule(manifest), graph_later=True)


def open(folder: Path, manifest: dict) -> "LocalStore":  # noqa: A001 (the seam's verb)
    return LocalStore(tuple(read_segments(folder, manifest)), _graph_rule(manifest))


def _graph_rule(manifest: dict) -> Callable[[int], bool]:
    """The one place this backend reads its name ("exact", "hnsw" or "auto") from the manifest."""
    return GRAPH_RULES[manifest["backend"]]


class LocalStore:
    """Immutable view of the segments one manifest names."""

    def __init__(self, segments: tuple[Segment, ...], use_graph: Callable[[int], bool],
                 graph_later: bool = False) -> None:
        self.segments = segments
        self.offsets = np.cumsum([0] + [len(s.ids) for s in segments])
        self.use_graph = use_graph  # one of GRAPH_RULES
        # A build's store: no graph while rows are added, one when the build is finished(),
        # after the callers that handed over the vectors have let go of them.
        self.graph_later = graph_later
        self._masks: dict[tuple[int, Filter], np.ndarray] = {}  # (segment, filter) -> rows it skips
        self._rows_by_id: dict[str, int] | None = None  # live id -> row, on the first find()

    def _stored(self) -> int:
        return int(self.offsets[-1])

    def dense_topk(self, queries: np.ndarray, k: int, where: Filter | None = None,
                   ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, max(self._stored(), 1))  # never allocate (q, k) for a k beyond the stored rows
        if where is None:
            return self._merged(len(queries), k, lambda n, seg: seg.search.topk(queries, k, seg.dead, ef))
        return self._merged(len(queries), k,
                            lambda n, seg: filtered_topk(seg, queries, k, self._blocked(n, where), ef))

    def lexical_topk(self, queries: LexicalRows, k: int, where: Filter | None = None) -> np.ndarray:
        k = min(k, max(self._stored(), 1))

        def blocked(n: int, seg: Segment) -> np.ndarray | None:
            return (seg.dead if seg.dead.any() else None) if where is None else self._blocked(n, where)

        exact = rescores(self._stored())
        scores, rows = self._merged(len(queries), k, lambda n, seg: rare_postings(seg.lexical).topk(
            queries, k, blocked(n, seg), seg.lexical.chars if exact else None))
        rows[~np.isfinite(scores)] = -1
        return rows

    def _merged(self, q: int, k: int, segment_topk) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` of each segment's ``segment_topk(number, segment) -> (scores, rows)``, as global rows."""
        scores, rows = empty_topk(q, k)
        for n, (seg, offset) in enumerate(zip(self.segments, self.offsets)):
            s, r = segment_topk(n, seg)
            scores, rows = merge_topk(scores, rows, s, np.where(r >= 0, r + offset, -1), k)
        return scores, rows

    def _blocked(self, n: int, where: Filter) -> np.ndarray:
        """Rows of segment ``n`` a search with ``where`` skips: removed, or failing the filter (cached)."""
        key = (n, where)
        mask = self._masks.get(key)  # one read: another search thread may clear the cache meanwhile
        if mask is None:
            if len(self._masks) >= MASK_CACHE:
                self._masks.clear()
            seg = self.segments[n]
            mask = self._masks[key] = seg.dead | ~where.mask(seg.metadata, len(seg.ids))
        return mask

    def gather(self, rows: np.ndarray, stats: LexicalStats) -> tuple[np.ndarray, LexicalRows]:
        segments, offsets = self.segments, self.offsets
        if len(segments) == 1:  # the common case: one merged segment, no regrouping
            return np.asarray(segments[0].vectors[rows]), segments[0].lexical.take(rows)
        where = np.searchsorted(offsets, rows, side="right") - 1
        order = np.argsort(where, kind="stable")
        vectors, lexical = [], []
        for n in np.unique(where):
            local = rows[where == n] - offsets[n]
            vectors.append(np.asarray(segments[n].vectors[local]))
            lexical.append(segments[n].lexical.take(local))
        back = np.argsort(order, kind="stable")  # rows grouped by segment -> the order asked for
        return np.concatenate(vectors)[back], LexicalRows.stack(lexical).take(back)

    def records(self, rows: np.ndarray) -> list[tuple[str, str, dict]]:
        out = []
        for row in rows:
            s = bisect.bisect_right(self.offsets, row) - 1
            seg, local = self.segments[s], int(row - self.offsets[s])
            out.append((seg.ids[local], seg.questions[local], seg.meta(local)))
        return out

    def find(self, ids: Sequence[str]) -> dict[str, int]:
        rows = self._rows_by_id
        if rows is None:  # built once per generation: the service looks up ids on every search
            rows = {}
            for seg, offset in zip(self.segments, self.offsets):
                for row in np.flatnonzero(~seg.dead).tolist():
                    rows[seg.ids[row]] = int(offset) + row
            self._rows_by_id = rows  # one assignment: a concurrent reader sees the whole dict or none
        return {i: rows[i] for i in ids if i in rows}

    def live(self) -> tuple[np.ndarray, list[str], list[str], list[dict]]:
        segments = self.segments
        alive = [~s.dead for s in segments]
        vectors = (np.concatenate([s.vectors[a] for s, a in zip(segments, alive)]) if segments
                   else np.zeros((0, 0), np.float32))
        ids = [i for s, a in zip(segments, alive) for i, ok in zip(s.ids, a) if ok]
        questions = [q for s, a in zip(segments, alive) for q, ok in zip(s.questions, a) if ok]
        metadata = [s.meta(row) for s in segments for row in np.flatnonzero(~s.dead)]
        return vectors, ids, questions, metadata

    def has_lexical(self) -> bool:
        return all(s.lexical is not None for s in self.segments)

    def added(self, folder, manifest, ids, questions, vectors, lexical, metadata, progress=False):
        new = Segment("", vectors, list(ids), list(questions), np.zeros(len(ids), bool), None, metadata, lexical)
        rule = GRAPH_RULES["exact"] if self.graph_later else self.use_graph
        manifest, segments = compacted(folder, manifest, [*self.segments, new], rule, progress)
        return manifest, LocalStore(tuple(segments), self.use_graph, self.graph_later)

    def removed(self, folder, manifest, rows):
        dead = [s.dead.copy() for s in self.segments]
        for row in rows:
            s = bisect.bisect_right(self.offsets, row) - 1
            dead[s][row - self.offsets[s]] = True
        segments = [replace(s, dead=d) for s, d in zip(self.segments, dead)]
        manifest, segments = compacted(folder, manifest, segments, self.use_graph)
        return manifest, LocalStore(tuple(segments), self.use_graph)

    def compacted(self, folder, manifest, progress=False):
        live = live_rows(self.segments)
        if self._compact(live):
            return manifest, self
        if progress:  # minutes at a million questions, the graph's parts reported after this
            log(f"rewriting {live:,} questions as one segment")
        # One merged segment, written without a graph, then read back as a load reads it: its
        # arrays mapped, with the postings just written (the rows merged from one segment are
        # the same object, remembered with the postings of the cut it was written with).
        # [0]: the merged segment's arrays go before the files are read back and the graph is built
        manifest = compacted(folder, manifest, list(self.segments), GRAPH_RULES["exact"], progress, merge=True)[0]
        segments = read_segments(folder, manifest)
        if segments and self.use_graph(live):  # the graph from the vector file, as a build's
            manifest, segments[0] = graph_added(folder, manifest, replace(segments[0], vectors=None), progress)
        return manifest, LocalStore(tuple(segments), self.use_graph)

    def _compact(self, live: int) -> bool:
        """One segment without removed rows, postings stored with today's cut, the graph its size calls for."""
        if len(self.segments) != 1:
            return not live and not self.segments
        [seg] = self.segments
        return (not seg.dead.any() and (seg.ann is not None) == self.use_graph(live)
                and (seg.lexical is None or has_todays_postings(seg.lexical)))

    def settle(self, folder, manifest):
        return None  # the commit swept the files no manifest names

    def resumed(self, manifest: dict) -> int:
        return 0  # a build writes into a temporary folder that a killed run leaves to be swept

    def checkpoint(self, manifest: dict, done: int) -> None:
        pass

    def finished(self, folder, manifest, progress=False):
        if not self.graph_later:
            return manifest, self
        # From here this frame holds the only reference to the segments: this store is spent.
        segments, self.segments = list(self.segments), ()
        if segments and self.use_graph(live_rows(segments)):
            if len(segments) > 1:  # a build handed over in chunks: merged first, for one graph
                manifest, segments = compacted(folder, manifest, segments, GRAPH_RULES["exact"], progress, merge=True)
            # The graph reads the written file: the array the build encoded is freed first.
            segments[0] = replace(segments[0], vectors=None)
            manifest, segments[0] = graph_added(folder, manifest, segments[0], progress)
        return manifest, LocalStore(tuple(segments), self.use_graph)

    def files(self, manifest: dict) -> set[str]:
        return {name for entry in manifest["segments"] for name in segment_files(entry)}

    def verify(self, folder, manifest) -> str:
        checked = verify_segments(folder, list(self.segments))
        files = len(self.files(manifest))
        if checked == files:
            return f"{files} files match their checksums, every vector is finite"
        return f"{files} files read, {checked} with checksums (the others were written before qdup kept them)"

    def warm(self) -> int:
        arrays = [array for seg in self.segments for array in search_arrays(seg)]
        will_need(arrays)  # every read asked for at once, before the first page is touched
        return touch(arrays)

    def describe(self) -> dict:
        return {"segments": len(self.segments),
                "searchers": sorted({type(s.search).__name__ for s in self.segments})}
