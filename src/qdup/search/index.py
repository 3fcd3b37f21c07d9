"""``qdup.Index``: a folder of question vectors that answers "which stored questions
duplicate this one?".

The index records the fingerprint of the model that built it and refuses any other.
Where the rows live and how the nearest are found is the backend's business
(:mod:`qdup.search.backends`): exact or HNSW (FAISS) in the folder itself, or Milvus.
Every write is atomic (see :mod:`qdup.search.manifest`): a crash or Ctrl-C in the middle of
``add`` or ``remove`` leaves the previous index intact and loadable.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..util import atomic
from . import hybrid as hybrid_search, backends as index_backend, manifest as index_store
from ..data.corpus import Corpus
from .backends import BACKENDS, Store
from .inputs import auto_ids as _auto_ids, check_ids as _check_ids, check_metadata as _check_metadata
from ..util.progress import log
from ..data.questions import check_questions
from ..scoring.thresholds import check_threshold
from ..errors import ConfigError, DataError, UnknownIdError

__all__ = ["BACKENDS", "Index", "SearchResult", "StoredQuestion"]


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

    def __init__(self, path: Path, manifest: dict, store: Store) -> None:
        self.path = path
        self._state = (manifest, store)  # replaced whole, so readers never see a half update
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
    def backend(self) -> dict:
        """The backend's name and settings (say ``{"backend": "milvus", "uri": ..., "collection": ...}``)."""
        self.refresh()
        return {"backend": self._state[0]["backend"], **self._state[1].describe()}

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
        from ..model import load  # torch loads only when a model is needed

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
        metadata: Sequence[dict] | None = None, options: dict | None = None,
    ) -> "Index":
        """Encode ``questions`` and write a new index folder at ``path``.

        ``ids`` None numbers the questions 1..n. ``model_path`` is recorded so that later
        commands can find the model without being told (see :attr:`model_path`).
        ``metadata``: one JSON object per question (say ``{"url": ..., "title": ...}``),
        stored next to it and returned with search results. ``options``: the backend's
        settings, say ``{"uri": "http://host:19530", "collection": "questions"}`` for Milvus.

        Example::

            >>> index = Index.build(model, None, ["How do I learn Python?"], "my-index")  # doctest: +SKIP
        """
        index_backend.check(backend, options)
        questions = check_questions(questions)
        if not questions:
            raise DataError("no questions to index")
        if ids is not None:
            ids = _check_ids(ids, questions, set())
        chunk = Corpus(questions, ids, _check_metadata(metadata, questions))
        return cls.build_chunks(model, [chunk], path, backend=backend, force=force, progress=progress,
                                model_path=model_path, options=options)

    @classmethod
    def build_chunks(
        cls, model, chunks: Iterable[Corpus], path, *, backend: str = "auto", force: bool = False,
        progress: bool = False, model_path: str | None = None, options: dict | None = None,
        resume_key: str | None = None,
    ) -> "Index":
        """:meth:`build` from pieces of a corpus (say :func:`qdup.data.corpus.iter_questions`), each
        encoded and stored before the next is read, so memory is bounded by a piece.

        ``resume_key`` names the input (file, size, time): a build with the same key that
        was killed half way is continued where it stopped, on backends that can
        (:func:`qdup.search.backends.chunk_rows`); elsewhere the build starts over.
        """
        index_backend.check(backend, options)
        cls.check_output(path, force)
        manifest = {
            "format": index_store.FORMAT, "version": index_store.VERSION, "uid": uuid.uuid4().hex,
            "fingerprint": model.fingerprint, "dim": int(model.dim), "threshold": float(model.threshold),
            "backend": backend, "generation": 0,
            "model_path": None if model_path is None else os.path.abspath(model_path), "count": 0, "segments": [],
            "next_auto_id": 1,
        }
        key = None if resume_key is None else f"{model.fingerprint}:{resume_key}"
        # Writers of the folder being replaced wait, then see the new uid and reload.
        replacing = index_store.write_lock(Path(path)) if Path(path).is_dir() else contextlib.nullcontext()
        with index_store.io_errors(Path(path)), replacing, atomic.directory(
                path, force=force, stamp=(index_store.MANIFEST, index_store.FORMAT)) as tmp:
            store = index_backend.create(tmp, manifest, options, force, key)
            done = store.resumed(manifest)  # questions stored by an interrupted build of the same input
            if done and progress:
                log(f"continuing an interrupted build: {done} questions already stored")
            seen = 0
            for chunk in chunks:
                skip, seen = min(max(done - seen, 0), len(chunk)), seen + len(chunk)
                questions = check_questions(chunk.questions[skip:])
                if not questions:
                    continue
                if chunk.ids is None:
                    ids = [str(n) for n in range(manifest["next_auto_id"], manifest["next_auto_id"] + len(questions))]
                    manifest["next_auto_id"] += len(questions)
                else:
                    ids = _check_ids(chunk.ids[skip:], questions, set())
                metadata = _check_metadata(None if chunk.metadata is None else chunk.metadata[skip:], questions)
                vectors = model.encode(questions, progress=progress)
                manifest, store = store.added(tmp, manifest, ids, questions, vectors, _lexical(model, questions),
                                              metadata)
                store.checkpoint(manifest, seen)
            if not manifest["count"]:
                raise DataError("no questions to index")
            store.finished()
            index_store.commit(tmp, manifest, store.files(manifest))
        return cls(Path(path), manifest, store)

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
            self._state = _read_state(self.path)
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
        _, store = self._state
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self._state[0]["dim"])
        scores, rows = store.dense_topk(queries, k)
        return _results(store, scores, rows, threshold)

    def _search_hybrid(self, queries: np.ndarray, query_rows, scorer, k: int, threshold) -> list[SearchResult]:
        """Candidates by cosine and by words, ranked by the scorer (see :mod:`qdup.search.hybrid`)."""
        manifest, store = self._state
        if not store.has_lexical():
            raise DataError(f"index {self.path} holds no lexical rows for this model's scorer; rebuild it")
        stored = max(int(manifest["count"]), 1)
        k = min(k, stored)  # never allocate (q, k) for a k beyond the stored rows
        depth = min(max(k, hybrid_search.DEPTH), stored)
        _, dense = store.dense_topk(queries, depth)
        words = store.lexical_topk(query_rows, depth)
        candidates = hybrid_search.candidate_union(dense, words)
        scores, rows = hybrid_search.rerank(queries, query_rows, candidates,
                                            lambda picked: store.gather(picked, scorer.lexical), scorer, k)
        return _results(store, scores, rows, threshold)

    def get(self, id: str) -> StoredQuestion:
        """The stored question with this id; :class:`DataError` when there is none.

        Example::

            >>> index.get("1")  # doctest: +SKIP
            StoredQuestion(id='1', question='How do I learn Python?', metadata={'url': 'https://...'})
        """
        self.refresh()
        store = self._state[1]
        row = store.find([str(id)]).get(str(id))
        if row is None:
            raise UnknownIdError(f"id {str(id)!r} is not in the index")
        [(i, question, meta)] = store.records(np.array([row]))
        return StoredQuestion(i, question, meta)

    def live(self) -> tuple[np.ndarray, list[str], list[str]]:
        """All stored (vectors, ids, questions), removed ones excluded, in insertion order."""
        self.refresh()
        return self._state[1].live()[:3]

    def live_metadata(self) -> list[dict]:
        """Metadata of every live question, in the order of :meth:`live` ({} when none)."""
        self.refresh()
        return self._state[1].live()[3]

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
            manifest, store = self._fresh_state()
            self._check_model(model)  # the folder may have been rebuilt with another model meanwhile
            manifest = dict(manifest)
            if ids is None:
                ids = _auto_ids(manifest, store, len(questions))
            else:
                ids = _check_ids(ids, questions, set(store.find([str(i).strip() for i in ids])))
            manifest, store = store.added(self.path, manifest, list(ids), list(questions), vectors,
                                          _lexical(model, questions), metadata)
            index_store.commit(self.path, manifest, store.files(manifest))
            self._committed(manifest, store)
        return list(ids)

    def add_chunks(self, model, chunks: Iterable[Corpus]) -> list[str]:
        """:meth:`add` from pieces of a corpus, all or nothing: pieces are stored as they are
        read (bounded memory) and become visible together, when the last one is stored."""
        self._check_model(model)
        added: list[str] = []
        with self._write, index_store.write_lock(self.path):
            manifest, store = self._fresh_state()
            self._check_model(model)
            manifest = dict(manifest)
            for chunk in chunks:
                questions = check_questions(chunk.questions)
                if chunk.ids is None:
                    ids = _auto_ids(manifest, store, len(questions))
                else:
                    ids = _check_ids(chunk.ids, questions, set(store.find([str(i).strip() for i in chunk.ids])))
                metadata = _check_metadata(chunk.metadata, questions)
                manifest, store = store.added(self.path, manifest, list(ids), list(questions),
                                              model.encode(questions), _lexical(model, questions), metadata)
                added += ids
            index_store.commit(self.path, manifest, store.files(manifest))
            self._committed(manifest, store)
        return added

    def remove(self, ids: Sequence[str]) -> None:
        """Remove questions by id; an unknown id refuses the whole call (nothing changes)."""
        with self._write, index_store.write_lock(self.path):
            manifest, store = self._fresh_state()
            where = store.find([str(i) for i in ids])
            for i in ids:
                if str(i) not in where:
                    raise UnknownIdError(f"id {str(i)!r} is not in the index")
            manifest, store = store.removed(self.path, dict(manifest), sorted(set(where.values())))
            index_store.commit(self.path, manifest, store.files(manifest))
            self._committed(manifest, store)

    def _fresh_state(self):
        # Another process (say `qdup index add` next to `qdup serve`) may have committed since we loaded.
        # Or rebuilt it with `index build --force`: same generation number, new uid.
        on_disk = index_store.read_manifest(self.path)
        if index_store.identity(on_disk) != index_store.identity(self._state[0]):
            self._state = (on_disk, index_backend.open_store(self.path, on_disk))
        return self._state

    def _committed(self, manifest: dict, store: Store) -> None:
        self._state = (manifest, store)
        self._stamp = index_store.manifest_stamp(self.path)

    def _check_model(self, model) -> None:
        if model.fingerprint != self.fingerprint:
            raise DataError(
                f"index {self.path} was built with model {self.fingerprint[:12]}, not {model.fingerprint[:12]}; "
                "use the model that built it, or rebuild the index"
            )


# ------------------------------------------------------------------- helpers
def _read_state(path: Path) -> tuple[dict, Store]:
    for _ in range(2):
        manifest = index_store.read_manifest(path)
        try:
            return manifest, index_backend.open_store(path, manifest)
        except DataError:
            # A writer may have committed and swept this manifest's files meanwhile.
            if index_store.identity(index_store.read_manifest(path)) == index_store.identity(manifest):
                raise  # really damaged, not a race with a writer
    manifest = index_store.read_manifest(path)
    return manifest, index_backend.open_store(path, manifest)


def _results(store: Store, scores: np.ndarray, rows: np.ndarray, threshold: float | None) -> list[SearchResult]:
    keep = np.isfinite(scores) & (rows >= 0)
    if threshold is not None:
        keep &= scores > threshold
    records = store.records(rows[keep])  # one look-up for the whole batch
    out, start = [], 0
    for s, mask in zip(scores, keep):
        mine = records[start : start + int(mask.sum())]
        start += len(mine)
        out.append(SearchResult([r[0] for r in mine], [r[1] for r in mine], [float(x) for x in s[mask]],
                                [r[2] for r in mine]))
    return out


def _search_args(k, threshold) -> tuple[int, float | None]:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return k, None if threshold is None else check_threshold(threshold)


def _lexical(model, questions: list[str]):
    """The questions' lexical rows when the model's scorer reads words (else None)."""
    return None if model.scorer.lexical is None else model.scorer.lexical.rows(questions)
