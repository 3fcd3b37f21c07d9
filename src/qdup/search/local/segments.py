"""Segments of an index: groups of rows written together, and when to merge them.

Each ``add`` writes one new segment (cheap: only the new rows hit the disk); a ``remove``
only marks rows in the manifest. Segments are merged into one (and the HNSW graph
rebuilt) when there are too many, when removed rows pile up, or when the corpus crosses
the size at which approximate search pays off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...data.vectors import VectorFile
from ...text.lexical import LexicalRows
from ..postings import rare_postings
from ..topk import ExactSearch, HnswSearch, empty_topk, exact_topk
from .files import (LEXICAL, damaged, digest, read_graph, read_lexical, read_segment, verify, write_graph,
                    write_lexical, write_segment)

MAX_SEGMENTS = 16         # each add writes one segment; merge them before scans get slow
MAX_TAIL_ROWS = 50_000    # rows searched exactly next to an HNSW base segment
EXACT_FILTERED_ROWS = 20_000  # a filter passing fewer rows of a graph segment: scan them exactly (a few ms)
CHECK_ROWS = 65_536       # vectors checked for NaN at a time (the file is memory-mapped)
NAME = re.compile(r"seg-\d{6,}")  # a segment's files are named after it: never a path


@dataclass(frozen=True)
class Segment:
    """One immutable group of rows: vectors, ids, questions and metadata, plus which rows are removed."""

    name: str
    vectors: np.ndarray  # (rows, dim) float32, unit rows
    ids: list[str]
    questions: list[str]
    dead: np.ndarray     # (rows,) bool: removed rows
    ann: Any = None      # HnswSearch over `vectors`, or None (scanned exactly)
    metadata: Any = None  # per row a dict (url, title, ...), or None: no row has any
    lexical: Any = None  # LexicalRows of the questions when the model's scorer uses words, else None
    files: Any = None    # {file name: {"bytes", "sha256"}} as the manifest records them ({}: not recorded)

    def meta(self, row: int) -> dict:
        return self.metadata[row] if self.metadata is not None else {}

    @property
    def search(self):
        """The searcher of this segment: its graph, else an exact scan of its vectors."""
        return self.ann if self.ann is not None else ExactSearch(self.vectors)


def filtered_topk(seg: Segment, queries: np.ndarray, k: int, blocked: np.ndarray,
                  ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of a segment's rows that are not ``blocked`` (removed or filtered out): as
    many matches as there are such rows, up to ``k``.

    An exact scan skips blocked rows itself. An HNSW graph skips them through FAISS's
    selector, but a walk through a graph whose rows mostly fail the filter can stop short
    of ``k``: then, and when few rows pass anyway, the passing rows are scanned exactly.
    """
    if seg.ann is None:
        return seg.search.topk(queries, k, blocked)  # exact: no ef
    allowed = np.flatnonzero(~blocked)
    if not len(allowed):  # every row removed or filtered out: nothing to scan (an empty scan has no row 0)
        return empty_topk(len(queries), k)
    if len(allowed) > EXACT_FILTERED_ROWS:
        scores, rows = seg.search.topk(queries, k, blocked, ef)
        if ((rows >= 0).sum(axis=1) >= min(k, len(allowed))).all():
            return scores, rows
    scores, rows = exact_topk(queries, np.asarray(seg.vectors[allowed]), k)
    return scores, np.where(rows >= 0, allowed[np.maximum(rows, 0)], -1)


def search_arrays(seg: Segment) -> list[np.ndarray]:
    """The arrays a search of ``seg`` reads: vectors, the graph's copy of them, lexical rows
    and postings (made now if the file holds none, as the first search would)."""
    arrays = [seg.vectors] + ([seg.ann.vectors()] if seg.ann is not None else [])
    if seg.lexical is not None:
        postings = rare_postings(seg.lexical)
        arrays += [*seg.lexical.to_arrays().values(), postings.indptr, postings.rows, postings.weights]
    return arrays


def segment_files(entry: dict) -> list[str]:
    """The files of one manifest segment entry."""
    names = [f"{entry['name']}.npy", f"{entry['name']}.jsonl"]
    if entry["ann"]:
        names.append(f"{entry['name']}{HnswSearch.suffix}")
    if entry.get("lexical"):
        names.append(f"{entry['name']}{LEXICAL}")
    return names


def read_segments(path: Path, manifest: dict) -> list[Segment]:
    """The segments the manifest names, their files checked (:mod:`qdup.search.local.files`)."""
    segments, seen = [], set()
    dim = manifest["dim"]
    for entry in check_entries(path, manifest):
        name, rows, files = entry["name"], entry["rows"], entry.get("files") or {}
        vectors, ids, questions, metadata = read_segment(path, name, rows, dim, files)
        dead = np.zeros(rows, bool)
        dead[np.asarray(entry["deleted"], dtype=np.int64)] = True
        ann = read_graph(path, name, rows, dim, files) if entry["ann"] else None
        lexical = read_lexical(path, name, rows, files) if entry.get("lexical") else None
        live = [i for i, d in zip(ids, dead) if not d] if len(entry["deleted"]) else ids
        before = len(seen)
        seen.update(live)  # one C loop (a million ids: 0.1 s); the culprit is looked for only when there is one
        if len(seen) - before != len(live):
            raise damaged(path, f"id {_first_repeat(segments, live)!r} is stored twice")
        segments.append(Segment(name, vectors, ids, questions, dead, ann, metadata, lexical, files))
    if len(seen) != manifest["count"]:
        raise damaged(path, f"the manifest counts {manifest['count']} questions, its segments hold {len(seen)}")
    return segments


def _first_repeat(segments: list[Segment], live: list[str]) -> str:
    """The first id met twice, walking the live ids of ``segments`` and then ``live``."""
    met = set()
    for i in chain((i for s in segments for i, d in zip(s.ids, s.dead) if not d), live):
        if i in met:
            return i
        met.add(i)
    raise AssertionError("no id is repeated")


def check_entries(path: Path, manifest: dict) -> list[dict]:
    """The manifest's segment entries, each checked for what reading it relies on."""
    entries = manifest.get("segments")
    if not isinstance(entries, list):
        raise damaged(path, "its manifest lists no segments")
    for entry in entries:
        ok = (isinstance(entry, dict) and isinstance(entry.get("name"), str) and NAME.fullmatch(entry["name"])
              and _count(entry.get("rows")) and isinstance(entry.get("ann"), bool)
              and isinstance(entry.get("lexical", False), bool) and isinstance(entry.get("files", {}), dict)
              and isinstance(entry.get("deleted"), list)
              and all(_count(d) and d < entry["rows"] for d in entry["deleted"])
              and len(set(entry["deleted"])) == len(entry["deleted"]))
        if not ok:
            raise damaged(path, f"its manifest has a bad segment entry ({str(entry)[:80]})")
    return entries


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_segments(path: Path, segments: list[Segment]) -> int:
    """Every byte of every file against its checksum, and every vector finite (``qdup index check``);
    how many files had a checksum to check."""
    checked = 0
    for s in segments:
        names = segment_files({"name": s.name, "ann": s.ann is not None, "lexical": s.lexical is not None})
        checked += verify(path, names, s.files or None)
        for start in range(0, len(s.vectors), CHECK_ROWS):
            if not np.isfinite(s.vectors[start : start + CHECK_ROWS]).all():
                raise damaged(path, f"{s.name}.npy holds a vector that is not finite")
    return checked


def live_rows(segments) -> int:
    """Rows of ``segments`` not removed."""
    return sum(int((~s.dead).sum()) for s in segments)


def compacted(folder: Path, manifest: dict, segments: list[Segment],
              use_graph: Callable[[int], bool], progress: bool = False,
              merge: bool = False) -> tuple[dict, list[Segment]]:
    """Write unsaved segments (name "") as a new generation, merging segments when due
    (``merge``: into one, now).

    ``use_graph(live_rows)``: whether the merged base segment carries an HNSW graph. With
    one, too many small segments are merged among themselves (cheap); the graph is
    rebuilt only when the rows outside it or the removed rows pile up.
    """
    generation = manifest["generation"] + 1
    name = f"seg-{generation:06d}"
    live = live_rows(segments)
    use_ann = use_graph(live)
    graph_due = False  # whether the merged segment gets a (new) HNSW graph
    if merge or _full_merge_due(segments, use_ann):
        segments = [_merge(segments, name, manifest["dim"])] if live else []
        graph_due = use_ann
    elif len(segments) > MAX_SEGMENTS:  # here segments[0] carries the graph: keep it
        segments = [segments[0], _merge(segments[1:], name, manifest["dim"])]
    segments = [Segment(**{**s.__dict__, "name": name}) if not s.name else s for s in segments]
    for n, s in enumerate(segments):
        if s.name == name:
            write_segment(folder, name, s.vectors, s.ids, s.questions, s.metadata)
            if s.lexical is not None:
                write_lexical(folder, name, s.lexical)
            # The graph last: its copy of the vectors then never meets the lexical rows' postings
            # in memory (a million-question build stays under 4 GB).
            if graph_due and n == 0:
                s = replace(s, ann=HnswSearch.build(s.vectors, progress))
                write_graph(folder, name, s.ann)
            files = segment_files({"name": name, "ann": s.ann is not None, "lexical": s.lexical is not None})
            segments[n] = replace(s, files={f: digest(folder / f) for f in files})  # the bytes on disk
    manifest.update(generation=generation, count=live, segments=[
        {"name": s.name, "rows": len(s.ids), "deleted": np.flatnonzero(s.dead).tolist(), "ann": s.ann is not None,
         "lexical": s.lexical is not None, **({"files": s.files} if s.files else {})}
        for s in segments
    ])
    return manifest, segments


def graph_added(folder: Path, manifest: dict, seg: Segment, progress: bool = False) -> tuple[dict, Segment]:
    """A written segment given its HNSW graph, built from the segment's vector file part by
    part; the graph's copy of the vectors then serves the segment. A caller that has let go
    of the vectors it wrote (``seg.vectors`` may be None) never holds them next to the
    graph's copy: a million questions' build peaks 0.7 GB lower. The manifest returned
    records the graph; it is not committed here."""
    graph = HnswSearch.build(VectorFile(folder / f"{seg.name}.npy"), progress)
    write_graph(folder, seg.name, graph)
    entry = next(e for e in manifest["segments"] if e["name"] == seg.name)
    entry = {**entry, "ann": True}
    files = {f: (seg.files or {}).get(f) or digest(folder / f) for f in segment_files(entry)}
    manifest = {**manifest, "segments": [{**entry, "files": files} if e["name"] == seg.name else e
                                         for e in manifest["segments"]]}
    return manifest, replace(seg, vectors=graph.vectors(), ann=graph, files=files)


def _merge(segments: list[Segment], name: str, dim: int) -> Segment:
    """The live rows of ``segments`` as one segment, without a graph."""
    keep = [~s.dead for s in segments]
    if len(segments) == 1 and keep[0].all():  # a fresh build: its arrays as they are (a million
        # questions' vectors and lexical rows are GBs: copying them would double the peak)
        return replace(segments[0], name=name, ann=None)
    # Each segment's live rows copied once, into place (a million questions' vectors are 0.77 GB).
    vectors, at = np.empty((sum(int(k.sum()) for k in keep), dim), np.float32), 0
    for s, k in zip(segments, keep):
        at += np.compress(k, s.vectors, axis=0, out=vectors[at : at + int(k.sum())]).shape[0]
    return Segment(
        name,
        vectors,
        [i for s, k in zip(segments, keep) for i, ok in zip(s.ids, k) if ok],
        [q for s, k in zip(segments, keep) for q, ok in zip(s.questions, k) if ok],
        np.zeros(len(vectors), bool),
        None,
        _merged_metadata(segments, keep),
        LexicalRows.stack([s.lexical for s in segments], keep=keep)
        if segments and all(s.lexical is not None for s in segments) else None,
    )


def _merged_metadata(segments: list[Segment], keep: list[np.ndarray]) -> list[dict] | None:
    if all(s.metadata is None for s in segments):
        return None
    return [s.meta(row) for s, k in zip(segments, keep) for row in np.flatnonzero(k)]


def _full_merge_due(segments: list[Segment], use_ann: bool) -> bool:
    rows = sum(len(s.ids) for s in segments)
    dead = sum(int(s.dead.sum()) for s in segments)
    has_ann = bool(segments) and segments[0].ann is not None
    tail = rows - (len(segments[0].ids) if has_ann else 0)
    return (
        (len(segments) > MAX_SEGMENTS and not has_ann)
        or dead * 5 > rows                        # removed rows still cost scan time and disk
        or use_ann != has_ann                     # the corpus crossed the HNSW size, either way
        or (has_ann and tail > MAX_TAIL_ROWS)
        or any(not s.name for s in segments[:1])  # a fresh build is always one merged segment
    )
