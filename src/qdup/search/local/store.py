"""The local backends ("exact", "hnsw", "auto"): rows in segment files in the index folder.

Rows are positions in the concatenation of the segments. Each segment is searched by its
own searcher (exact numpy scan or FAISS HNSW graph, see :mod:`qdup.search.local.segments`) and
the per-segment top-k lists are merged.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import hybrid as hybrid_search, topk as search_backends
from ...errors import ConfigError
from .segments import Segment, compacted, read_segments, segment_files
from ...text.lexical import LexicalRows, LexicalStats


CHUNK_ROWS = None  # a fresh build is one merged segment (and one HNSW graph): hand over everything at once


def check_options(options: dict) -> None:
    if options:
        raise ConfigError(f"the exact/hnsw/auto backends take no {', '.join(sorted(options))} "
                          "(those are Milvus settings)")


def create(folder: Path, manifest: dict, options: dict, force: bool, resume_key: str | None) -> "LocalStore":
    check_options(options)
    return LocalStore(())


def open(folder: Path, manifest: dict) -> "LocalStore":  # noqa: A001 (the seam's verb)
    return LocalStore(tuple(read_segments(folder, manifest)))


class LocalStore:
    """Immutable view of the segments one manifest names."""

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        self.segments = segments
        self.offsets = np.cumsum([0] + [len(s.ids) for s in segments])

    def _stored(self) -> int:
        return int(self.offsets[-1])

    def dense_topk(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, max(self._stored(), 1))  # never allocate (q, k) for a k beyond the stored rows
        scores, rows = search_backends._empty(len(queries), k)
        for seg, offset in zip(self.segments, self.offsets):
            s, r = seg.search.topk(queries, k, seg.dead)
            scores, rows = search_backends.merge_topk(scores, rows, s, np.where(r >= 0, r + offset, -1), k)
        return scores, rows

    def lexical_topk(self, queries: LexicalRows, k: int) -> np.ndarray:
        return hybrid_search.lexical_nearest(self.segments, self.offsets, queries, min(k, max(self._stored(), 1)))

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
        wanted, found = set(ids), {}
        for seg, offset in zip(self.segments, self.offsets):
            for row, i in enumerate(seg.ids):
                if i in wanted and not seg.dead[row]:
                    found[i] = int(offset + row)
        return found

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

    def added(self, folder, manifest, ids, questions, vectors, lexical, metadata):
        new = Segment("", vectors, list(ids), list(questions), np.zeros(len(ids), bool), None, metadata, lexical)
        manifest, segments = compacted(folder, manifest, [*self.segments, new])
        return manifest, LocalStore(tuple(segments))

    def removed(self, folder, manifest, rows):
        dead = [s.dead.copy() for s in self.segments]
        for row in rows:
            s = bisect.bisect_right(self.offsets, row) - 1
            dead[s][row - self.offsets[s]] = True
        segments = [replace(s, dead=d) for s, d in zip(self.segments, dead)]
        manifest, segments = compacted(folder, manifest, segments)
        return manifest, LocalStore(tuple(segments))

    def resumed(self, manifest: dict) -> int:
        return 0  # a build writes into a temporary folder that a killed run leaves to be swept

    def checkpoint(self, manifest: dict, done: int) -> None:
        pass

    def finished(self) -> None:
        pass

    def files(self, manifest: dict) -> set[str]:
        return {name for entry in manifest["segments"] for name in segment_files(entry)}

    def describe(self) -> dict:
        return {"segments": len(self.segments),
                "searchers": sorted({type(s.search).__name__ for s in self.segments})}



