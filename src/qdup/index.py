"""``qdup.Index``: a folder of question vectors that answers "which stored questions
duplicate this one?".

The index records the fingerprint of the model that built it and refuses any other.
Small indexes are searched exactly; large ones through an HNSW graph (FAISS).
Every write is atomic (see :mod:`qdup.index_store`): a crash or Ctrl-C in the middle of
``add`` or ``remove`` leaves the previous index intact and loadable.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from . import atomic, hybrid_search, index_store, search_backends
from .index_segments import Segment, compacted, read_segments
from .lexical import LexicalRows
from .questions import check_questions
from .thresholds import check_threshold
from .errors import ConfigError, DataError, UnknownIdError

BACKENDS = ("auto", "exact", "hnsw")


@dataclass(frozen=True)
class SearchResult:
    """Matches for one query, best first."""

    ids: list[str]
    questions: list[str]
    scores: list[float]
    metadata: list[dict] = field(default_factory=list)  # per match: url, title... ({} when none)


@dataclass(frozen=True)
class StoredQuestion:
    """One stored question, as :meth:`Index.get` returns it."""

    id: str
    question: str
    metadata: dict


class Index:
    """A persistent, searchable set of questions. Create with :meth:`build` or :meth:`load`."""

    def __init__(self, path: Path, manifest: dict, segments: list[Segment]) -> None:
        self.path = path
        self._state = (manifest, tuple(segments))  # replaced whole, so readers never see a half update
        self._stamp = index_store.manifest_stamp(path)
        self._write = threading.Lock()

    # ----------------------------------------------------------------- properties
    @property
    def fingerprint(self) -> str:
        return self._state[0]["fingerprint"]

    @property
    def threshold(self) -> float:
        """Decision threshold of the model that built the index (the default for mining)."""
        return float(self._state[0]["threshold"])

    @property
    def model_path(self) -> str | None:
        """Folder of the model that built the index, as given at build time (None: built-in)."""
        return self._state[0].get("model_path")

    def __len__(self) -> int:
        self.refresh()
        return int(self._state[0]["count"])

    def model(self, model_path: str | os.PathLike | None = None):
        """Load the model to search this index with: ``model_path`` if given, else the
        folder that built the index when it still exists, else the built-in model."""
        from .model import load  # torch loads only when a model is needed

        if model_path is None and self.model_path and os.path.isdir(self.model_path):
            model_path = self.model_path
        return load(model_path)

    # ------------------------------------------------------------- create / open
    @staticmethod
    def check_output(path, force: bool = False) -> None:
        """Refuse an existing ``path`` (with ``force``: anything but an index folder), before any slow work."""
        atomic.check_replaceable(path, force, (index_store.MANIFEST, index_store.FORMAT))

    @classmethod
    def build(
        cls, model, ids: Sequence[str] | None, questions: Sequence[str], path, *,
        backend: str = "auto", force: bool = False, progress: bool = False, model_path: str | None = None,
        metadata: Sequence[dict] | None = None,
    ) -> "Index":
        """Encode ``questions`` and write a new index folder at ``path``.

        ``ids`` None numbers the questions 1..n. ``model_path`` is recorded so that later
        commands can find the model without being told (see :attr:`model_path`).
        ``metadata``: one JSON object per question (say ``{"url": ..., "title": ...}``),
        stored next to it and returned with search results.

        Example::

            >>> index = Index.build(model, None, ["How do I learn Python?"], "my-index")  # doctest: +SKIP
        """
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        questions = check_questions(questions)
        if not questions:
            raise DataError("no questions to index")
        generated = ids is None
        ids = [str(n) for n in range(1, len(questions) + 1)] if generated else _check_ids(ids, questions, set())
        metadata = _check_metadata(metadata, questions)
        cls.check_output(path, force)
        vectors = model.encode(questions, progress=progress)
        manifest = {
            "format": index_store.FORMAT, "version": index_store.VERSION, "uid": uuid.uuid4().hex,
            "fingerprint": model.fingerprint, "dim": int(model.dim), "threshold": float(model.threshold),
            "backend": backend, "generation": 0,
            "model_path": None if model_path is None else os.path.abspath(model_path), "count": 0, "segments": [],
            "next_auto_id": len(questions) + 1 if generated else 1,
        }
        # Writers of the folder being replaced wait, then see the new uid and reload.
        replacing = index_store.write_lock(Path(path)) if Path(path).is_dir() else contextlib.nullcontext()
        with index_store.io_errors(Path(path)), replacing, atomic.directory(
                path, force=force, stamp=(index_store.MANIFEST, index_store.FORMAT)) as tmp:
            seg = Segment("", vectors, list(ids), questions, np.zeros(len(ids), bool), None, metadata,
                          _lexical(model, questions))
            manifest, segments = compacted(tmp, manifest, [seg])
            index_store.commit(tmp, manifest)
        return cls(Path(path), manifest, segments)

    @classmethod
    def load(cls, path) -> "Index":
        """Open an existing index folder (read-only until you call add or remove)."""
        path = Path(path)
        atomic.recover(path)  # a build --force killed between its two renames
        return cls(path, *_read_state(path))

    def refresh(self) -> None:
        """Re-read the folder if another process (say `qdup index add`) committed since.

        Costs one ``stat`` when nothing changed; searches call it, so a long-running
        service sees every committed write on its next request.
        """
        stamp = index_store.manifest_stamp(self.path)
        if stamp == self._stamp:
            return
        manifest = index_store.read_manifest(self.path)
        if manifest != self._state[0]:
            manifest, segments = _read_state(self.path)
            self._state = (manifest, tuple(segments))
        self._stamp = stamp

    # -------------------------------------------------------------------- search
    def search(self, model, questions: Sequence[str], k: int = 10, threshold: float | None = None) -> list[SearchResult]:
        """The ``k`` stored questions most similar to each query, best first.

        With ``threshold``, only matches scoring above it are kept.

        Example::

            >>> [r] = index.search(model, ["how to learn python"], k=3)  # doctest: +SKIP
            >>> r.ids, r.scores                                          # doctest: +SKIP
            (['1', '7', '3'], [0.93, 0.81, 0.42])
        """
        self.refresh()
        self._check_model(model)  # the folder may have been rebuilt with another model
        k, threshold = _search_args(k, threshold)  # before the encoding
        questions = check_questions(questions)
        if model.scorer.lexical is None:
            return self.search_vectors(model.encode(questions), k, threshold)
        return self._search_hybrid(model.encode(questions), model.scorer.lexical.rows(questions), model.scorer,
                                   k, threshold)

    def search_vectors(self, queries: np.ndarray, k: int = 10, threshold: float | None = None) -> list[SearchResult]:
        """Like :meth:`search`, for vectors already encoded by the index's model."""
        k, threshold = _search_args(k, threshold)
        self.refresh()
        _, segments = self._state
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self._state[0]["dim"])
        offsets, scores, rows = self._nearest(segments, queries, k)
        return [self._result(segments, offsets, s, r, threshold) for s, r in zip(scores, rows)]

    @staticmethod
    def _nearest(segments, queries: np.ndarray, k: int):
        """``(offsets, scores, rows)``: the top ``k`` rows by cosine over every segment."""
        offsets = np.cumsum([0] + [len(s.ids) for s in segments])
        k = min(k, max(int(offsets[-1]), 1))  # never allocate (q, k) for a k beyond the stored rows
        scores, rows = search_backends._empty(len(queries), k)
        for seg, offset in zip(segments, offsets):
            if seg.ann is not None:
                s, r = search_backends.hnsw_topk(seg.ann, queries, k, np.flatnonzero(seg.dead))
            else:
                s, r = search_backends.exact_topk(queries, seg.vectors, k, seg.dead if seg.dead.any() else None)
            scores, rows = search_backends.merge_topk(scores, rows, s, np.where(r >= 0, r + offset, -1), k)
        return offsets, scores, rows

    def _search_hybrid(self, queries: np.ndarray, query_rows, scorer, k: int, threshold) -> list[SearchResult]:
        """Candidates by cosine and by words, ranked by the scorer (see :mod:`qdup.hybrid_search`)."""
        _, segments = self._state
        if any(s.lexical is None for s in segments):
            raise DataError(f"index {self.path} holds no lexical rows for this model's scorer; rebuild it")
        stored = max(sum(len(s.ids) for s in segments), 1)
        k = min(k, stored)  # never allocate (q, k) for a k beyond the stored rows
        depth = min(max(k, hybrid_search.DEPTH), stored)
        offsets, _, dense = self._nearest(segments, queries, depth)
        words = hybrid_search.lexical_nearest(segments, offsets, query_rows, depth)
        candidates = hybrid_search.candidate_union(dense, words)

        def gather(picked: np.ndarray):
            if len(segments) == 1:  # the common case: one merged segment, no regrouping
                return np.asarray(segments[0].vectors[picked]), segments[0].lexical.take(picked)
            where = np.searchsorted(offsets, picked, side="right") - 1
            order = np.argsort(where, kind="stable")
            vectors, lexical = [], []
            for n in np.unique(where):
                local = picked[where == n] - offsets[n]
                vectors.append(np.asarray(segments[n].vectors[local]))
                lexical.append(segments[n].lexical.take(local))
            back = np.argsort(order, kind="stable")  # rows grouped by segment -> the order asked for
            return np.concatenate(vectors)[back], LexicalRows.stack(lexical).take(back)

        scores, rows = hybrid_search.rerank(queries, query_rows, candidates, gather, scorer, k)
        return [self._result(segments, offsets, s, r, threshold) for s, r in zip(scores, rows)]

    @staticmethod
    def _result(segments, offsets, scores, rows, threshold) -> SearchResult:
        keep = np.isfinite(scores) & (rows >= 0)
        if threshold is not None:
            keep &= scores > threshold
        ids, questions, metadata = [], [], []
        for row in rows[keep]:
            s = bisect.bisect_right(offsets, row) - 1
            ids.append(segments[s].ids[row - offsets[s]])
            questions.append(segments[s].questions[row - offsets[s]])
            metadata.append(segments[s].meta(row - offsets[s]))
        return SearchResult(ids, questions, [float(x) for x in scores[keep]], metadata)

    def get(self, id: str) -> StoredQuestion:
        """The stored question with this id; :class:`DataError` when there is none.

        Example::

            >>> index.get("1")  # doctest: +SKIP
            StoredQuestion(id='1', question='How do I learn Python?', metadata={'url': 'https://...'})
        """
        self.refresh()
        for seg in reversed(self._state[1]):  # newest first: an id may be reused after a remove
            for row, i in enumerate(seg.ids):
                if i == str(id) and not seg.dead[row]:
                    return StoredQuestion(i, seg.questions[row], seg.meta(row))
        raise UnknownIdError(f"id {str(id)!r} is not in the index")

    def live(self) -> tuple[np.ndarray, list[str], list[str]]:
        """All stored (vectors, ids, questions), removed ones excluded, in insertion order."""
        self.refresh()
        _, segments = self._state
        alive = [~s.dead for s in segments]
        vectors = np.concatenate([s.vectors[a] for s, a in zip(segments, alive)]) if segments else np.zeros((0, 0), np.float32)
        ids = [i for s, a in zip(segments, alive) for i, ok in zip(s.ids, a) if ok]
        questions = [q for s, a in zip(segments, alive) for q, ok in zip(s.questions, a) if ok]
        return vectors, ids, questions

    def live_metadata(self) -> list[dict]:
        """Metadata of every live question, in the order of :meth:`live` ({} when none)."""
        self.refresh()
        return [s.meta(row) for s in self._state[1] for row in np.flatnonzero(~s.dead)]

    # -------------------------------------------------------------------- writes
    def add(self, model, questions: Sequence[str], ids: Sequence[str] | None = None,
            metadata: Sequence[dict] | None = None) -> list[str]:
        """Encode and store more questions; returns their ids (generated when ``ids`` is None).

        ``metadata``: one JSON object per question, as in :meth:`build`.

        Example::

            >>> index.add(model, ["What is an LSTM?"])  # doctest: +SKIP
            ['42']
        """
        self._check_model(model)
        questions = check_questions(questions)
        if not questions:
            return []
        metadata = _check_metadata(metadata, questions)
        vectors = model.encode(questions)  # before the lock: encoding is the slow part
        with self._write, index_store.write_lock(self.path):
            manifest, segments = self._fresh_state()
            self._check_model(model)  # the folder may have been rebuilt with another model meanwhile
            taken = {i for s in segments for i, dead in zip(s.ids, s.dead) if not dead}
            manifest = dict(manifest)
            if ids is None:
                ids = _auto_ids(manifest, taken, len(questions))
            else:
                ids = _check_ids(ids, questions, taken)
            new = Segment("", vectors, list(ids), list(questions), np.zeros(len(ids), bool), None, metadata,
                          _lexical(model, questions))
            manifest, segments = compacted(self.path, manifest, [*segments, new])
            index_store.commit(self.path, manifest)
            self._committed(manifest, segments)
        return list(ids)

    def remove(self, ids: Sequence[str]) -> None:
        """Remove questions by id; an unknown id refuses the whole call (nothing changes)."""
        with self._write, index_store.write_lock(self.path):
            manifest, segments = self._fresh_state()
            where = {i: (n, row) for n, s in enumerate(segments) for row, i in enumerate(s.ids) if not s.dead[row]}
            for i in ids:
                if str(i) not in where:
                    raise UnknownIdError(f"id {str(i)!r} is not in the index")
            dead = [s.dead.copy() for s in segments]
            for i in ids:
                n, row = where[str(i)]
                dead[n][row] = True
            segments = [replace(s, dead=d) for s, d in zip(segments, dead)]
            manifest, segments = compacted(self.path, dict(manifest), segments)
            index_store.commit(self.path, manifest)
            self._committed(manifest, segments)

    def _fresh_state(self):
        # Another process (say `qdup index add` next to `qdup serve`) may have committed since we loaded.
        # Or rebuilt it with `index build --force`: same generation number, new uid.
        on_disk = index_store.read_manifest(self.path)
        if index_store.identity(on_disk) != index_store.identity(self._state[0]):
            self._state = (on_disk, tuple(read_segments(self.path, on_disk)))
        return self._state

    def _committed(self, manifest: dict, segments) -> None:
        self._state = (manifest, tuple(segments))
        self._stamp = index_store.manifest_stamp(self.path)

    def _check_model(self, model) -> None:
        if model.fingerprint != self.fingerprint:
            raise DataError(
                f"index {self.path} was built with model {self.fingerprint[:12]}, not {model.fingerprint[:12]}; "
                "use the model that built it, or rebuild the index"
            )


# ------------------------------------------------------------------- helpers
def _read_state(path: Path) -> tuple[dict, list[Segment]]:
    for _ in range(2):
        manifest = index_store.read_manifest(path)
        try:
            return manifest, read_segments(path, manifest)
        except DataError:
            # A writer may have committed and swept this manifest's files meanwhile.
            if index_store.identity(index_store.read_manifest(path)) == index_store.identity(manifest):
                raise  # really damaged, not a race with a writer
    manifest = index_store.read_manifest(path)
    return manifest, read_segments(path, manifest)


def _search_args(k, threshold) -> tuple[int, float | None]:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return k, None if threshold is None else check_threshold(threshold)


def _check_metadata(metadata: Sequence[dict] | None, questions: list[str]) -> list[dict] | None:
    if metadata is None:
        return None
    metadata = list(metadata)
    if len(metadata) != len(questions):
        raise DataError(f"{len(metadata)} metadata objects for {len(questions)} questions")
    for n, m in enumerate(metadata):
        if not isinstance(m, dict):
            raise DataError(f"metadata of question {n + 1} must be a JSON object, got {type(m).__name__}")
        try:
            json.dumps(m, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise DataError(f"metadata of question {n + 1} is not JSON ({error})") from None
    return metadata if any(metadata) else None


def _check_ids(ids: Sequence[str], questions: list[str], taken: set[str]) -> list[str]:
    ids = [str(i).strip() for i in ids]
    if len(ids) != len(questions):
        raise DataError(f"{len(ids)} ids for {len(questions)} questions")
    seen: set[str] = set()
    for i in ids:
        if not i:
            raise DataError("empty id")
        if i in taken:
            raise DataError(f"id {i!r} is already in the index")
        if i in seen:
            raise DataError(f"duplicate id {i!r}")
        seen.add(i)
    return ids


def _auto_ids(manifest: dict, taken: set[str], n: int) -> list[str]:
    ids, next_id = [], int(manifest["next_auto_id"])
    while len(ids) < n:
        if str(next_id) not in taken:
            ids.append(str(next_id))
        next_id += 1
    manifest["next_auto_id"] = next_id
    return ids


def _lexical(model, questions: list[str]):
    """The questions' lexical rows when the model's scorer reads words (else None)."""
    return None if model.scorer.lexical is None else model.scorer.lexical.rows(questions)
