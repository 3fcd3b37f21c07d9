"""``qdup.Index``: a folder of question vectors that answers "which stored questions
duplicate this one?".

This module is the folder's lifecycle: build, load, refresh, add, remove, compact. The index
records the fingerprint of the model that built it and refuses any other. Where the rows
live and how the nearest are found is the backend's business (:mod:`qdup.search.backends`):
exact or HNSW (FAISS) in the folder itself, or Milvus; ranking the candidates with the
model's scorer is :mod:`qdup.search.hybrid`. Every write is atomic (see
:mod:`qdup.search.manifest` and :mod:`qdup.search.writes`): a crash or Ctrl-C in the
middle of ``add`` or ``remove`` leaves the previous index intact and loadable.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..data.corpus import Corpus
from ..data.metadata import readable
from ..data.questions import check_questions
from ..errors import DataError, UnknownIdError
from ..util import atomic, folders
from . import backends
from .backends import Store
from .filters import Filter
from .hybrid import hybrid_search
from .inputs import assign_ids, check_chunk, check_ids, check_search_args, check_vectors, id_list, prepare_chunk
from .manifest import check_model as check_built_with, identity, manifest_stamp, read_manifest, write_lock
from .results import SearchResult, StoredQuestion, search_results
from .writes import Change, build_folder, check_output, read_state, tidy

__all__ = ["Index"]


class Index:
    """A persistent, searchable set of questions. Create with :meth:`build` or :meth:`load`."""

    def __init__(self, path: Path, manifest: dict, store: Store) -> None:
        self.path = path
        self._state = (manifest, store)  # replaced whole, so readers never see a half update
        self._stamp = manifest_stamp(path)
        self._write = threading.Lock()

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
        """The model to search with: ``model_path``, else the one that built the index (if found), else the built-in."""
        from ..model import load  # torch loads only when a model is needed

        if model_path is None and self.model_path and os.path.isdir(self.model_path):
            model_path = self.model_path
        return load(model_path)

    check_output = staticmethod(check_output)  # (path, force): refuse an existing path before slow work

    @classmethod
    def build(
        cls, model, ids: Sequence[str] | None, questions: Sequence[str], path, *,
        backend: str = "auto", force: bool = False, progress: bool = False, model_path: str | None = None,
        metadata: Sequence[dict] | None = None, options: dict | None = None,
    ) -> "Index":
        """Encode ``questions`` and write a new index folder at ``path``.

        ``ids`` None numbers the questions 1..n. ``model_path`` is recorded so that later commands
        can find the model without being told (see :attr:`model_path`). ``metadata``: one JSON
        object per question (say ``{"url": ..., "title": ...}``), stored next to it and returned
        with search results. ``options``: the backend's settings, say ``{"uri": ..., "collection": ...}`` for Milvus.

        Example::

            >>> index = Index.build(model, None, ["How do I learn Python?"], "my-index")  # doctest: +SKIP
        """
        backends.check(backend, options)
        chunk = check_chunk(Corpus(questions, ids, metadata))  # bad input fails before any slow work
        if not chunk.questions:
            raise DataError("no questions to index")
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
        change = build_folder(model, chunks, path, backend=backend, force=force, progress=progress,
                              model_path=model_path, options=options, resume_key=resume_key)
        return cls(Path(path), change.manifest, change.store)

    @classmethod
    def load(cls, path) -> "Index":
        """Open an existing index folder (read-only until a write: add, remove, update, compact)."""
        path = folders.given_folder(path, "index")
        atomic.recover(path)  # a build --force killed between its two renames
        index = cls(path, *read_state(path))
        index._settle()  # what a killed writer left behind: an index no one writes to is tidied too
        return index

    def refresh(self) -> None:
        """Re-read the folder if another process (say `qdup index add`) committed since: one
        ``stat`` when nothing changed, so a service sees every write on its next request."""
        stamp = manifest_stamp(self.path)
        if stamp == self._stamp:
            return
        manifest = read_manifest(self.path)
        if manifest != self._state[0]:
            self._state = read_state(self.path)
        self._stamp = stamp

    def search(self, model, questions: Sequence[str], k: int = 10, threshold: float | None = None,
               where: Filter | str | Sequence[str] | None = None, min_score: float | None = None,
               verdicts_above: float | None = None) -> list[SearchResult]:
        """The ``k`` stored questions most similar to each query, best first.

        With ``threshold``, only matches scoring above it are kept; with ``min_score``, those
        scoring at least that. ``where``: only questions passing this filter are searched
        (:mod:`qdup.search.filters`, say ``"status!=deleted"``), ``k`` of them when that many pass.
        The pair scorer judges matches above the search threshold and ``verdicts_above`` (``agree``).

        Example::

            >>> [r] = index.search(model, ["how to learn python"], k=3)  # doctest: +SKIP
            >>> r.ids, r.scores                                          # doctest: +SKIP
            (['1', '7', '3'], [0.93, 0.81, 0.42])
        """
        self.refresh()
        self.check_model(model)
        k, threshold, where, min_score, verdicts_above = check_search_args(k, threshold, where, min_score, verdicts_above)
        questions = check_questions(questions)
        if model.scorer.lexical is None:
            return self.search_vectors(model.encode(questions), k, threshold, where, min_score)
        manifest, store = self._state
        if not store.has_lexical():
            raise DataError(f"index {self.path} holds no lexical rows for this model's scorer; rebuild it")
        scores, rows, agree = hybrid_search(store, int(manifest["count"]), model, questions, k, where, verdicts_above)
        return search_results(store, scores, rows, threshold, min_score, agree)

    def search_vectors(self, queries: np.ndarray, k: int = 10, threshold: float | None = None,
                       where: Filter | str | Sequence[str] | None = None,
                       min_score: float | None = None) -> list[SearchResult]:
        """Like :meth:`search`, for vectors already encoded by the index's model."""
        k, threshold, where, min_score, _ = check_search_args(k, threshold, where, min_score)
        self.refresh()
        manifest, store = self._state
        queries = check_vectors(queries, manifest["dim"])
        scores, rows = store.dense_topk(queries, k, where)
        return search_results(store, scores, rows, threshold, min_score)

    def get(self, id: str) -> StoredQuestion:
        """The stored question with this id (a :class:`StoredQuestion`); :class:`UnknownIdError` if none."""
        self.refresh()
        store = self._state[1]
        row = store.find([str(id)]).get(str(id))
        if row is None:
            raise UnknownIdError(f"id {str(id)!r} is not in the index")
        [(i, question, meta)] = store.records(np.array([row]))
        return StoredQuestion(i, question, readable(meta))

    def warm(self) -> int:
        """Read what searches read into memory now, so the first ones do not wait on the disk; bytes read."""
        return self._state[1].warm()

    def check(self) -> str:
        """Read all the index holds against its manifest's checksums and counts (loading checks
        only what is cheap); what was checked. A damaged index: one-line :class:`DataError`."""
        self.refresh()
        return self._state[1].verify(self.path, self._state[0])

    def live(self) -> tuple[np.ndarray, list[str], list[str]]:
        """All stored (vectors, ids, questions), removed ones excluded, in insertion order."""
        self.refresh()
        return self._state[1].live()[:3]

    def live_metadata(self) -> list[dict]:
        """Metadata of every live question, in the order of :meth:`live` ({} when none)."""
        self.refresh()
        return self._state[1].live()[3]

    def add(self, model, questions: Sequence[str], ids: Sequence[str] | None = None,
            metadata: Sequence[dict] | None = None) -> list[str]:
        """Encode and store more questions; returns their ids (generated when ``ids`` is None).

        ``metadata``: one JSON object per question, as in :meth:`build`.

        Example::

            >>> index.add(model, ["What is an LSTM?"])  # doctest: +SKIP
            ['42']
        """
        self.check_model(model)
        chunk = check_chunk(Corpus(questions, ids, metadata))
        if not chunk.questions:
            return []
        # Before the lock, so that other writers never wait for it: encoding and hashing are the slow part.
        vectors = model.encode(chunk.questions)
        lexical = None if model.scorer.lexical is None else model.scorer.lexical.rows(chunk.questions)
        with self._writing(model) as change:
            chunk = assign_ids(chunk, change.manifest, change.store.find)
            change.add(chunk, vectors, model, lexical=lexical)
        return chunk.ids

    def add_chunks(self, model, chunks: Iterable[Corpus]) -> list[str]:
        """:meth:`add` from pieces of a corpus, all or nothing: pieces are stored as they are
        read (bounded memory) and become visible together, when the last one is stored."""
        self.check_model(model)
        added: list[str] = []
        with self._writing(model) as change:
            for chunk in (c for c in chunks if c.questions):  # a piece may be all skipped rows
                chunk = prepare_chunk(chunk, change.manifest, change.store.find)
                change.add(chunk, model.encode(chunk.questions), model)
                added += chunk.ids
        return added

    def update(self, model, ids: Sequence[str], questions: Sequence[str],
               metadata: Sequence[dict] | None = None) -> list[bool]:
        """Replace the questions stored under ``ids`` (new ids are added) in one atomic write, metadata
        patched, not replaced (:func:`~qdup.data.metadata.merge_patch`); per id, whether it was stored."""
        self.check_model(model)
        sent = None if metadata is None else list(metadata)  # read once: checked now, patched at the write
        chunk = check_chunk(Corpus(questions, check_ids([] if ids is None else ids, questions), sent))
        vectors = model.encode(chunk.questions)
        with self._writing(model) as change:
            return change.replace(chunk, vectors, model, sent)

    def remove(self, ids: Sequence[str]) -> None:
        """Remove questions by id; an unknown id refuses the whole call (nothing changes)."""
        with self._writing() as change:
            where = change.store.find(ids := id_list(ids))  # "12" is refused, not removed as "1" and "2"
            for i in ids:
                if i not in where:
                    raise UnknownIdError(f"id {i!r} is not in the index")
            change.manifest, change.store = change.store.removed(self.path, change.manifest,
                                                                 sorted(set(where.values())))

    def compact(self, progress: bool = False) -> bool:
        """Rewrite a local index as one segment: removed rows dropped, postings made as this
        version makes them, its graph built anew; False if it was compact already (files unchanged)."""
        with self._writing() as change:
            generation = change.manifest["generation"]
            change.manifest, change.store = change.store.compacted(self.path, change.manifest, progress)
        return change.manifest["generation"] != generation

    @contextlib.contextmanager
    def _writing(self, model=None) -> Iterator[Change]:
        """Under the folder's lock, a change of the latest committed state, committed when the block ends."""
        with self._write, write_lock(self.path):
            # Another process (say `qdup index add` next to `qdup serve`) may have committed since we loaded.
            # Or rebuilt it with `index build --force`: same generation number, new uid.
            on_disk = read_manifest(self.path)
            if identity(on_disk) != identity(self._state[0]):
                self._state = (on_disk, backends.open_store(self.path, on_disk))
            if model is not None:
                self.check_model(model)
            change = Change(self.path, dict(self._state[0]), self._state[1])
            yield change
            change.commit()
            change.settle()
            self._state, self._stamp = (change.manifest, change.store), manifest_stamp(self.path)

    def _settle(self) -> None:
        with self._write:
            state = tidy(self.path, *self._state)
            self._state, self._stamp = (state, manifest_stamp(self.path)) if state else (self._state, self._stamp)

    def check_model(self, model) -> None:  # any but the building model is refused (the folder may be rebuilt)
        check_built_with(self.path, self._state[0], model)
