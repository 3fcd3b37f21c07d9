"""How rows get into an index folder: a :class:`Change` (the next manifest and store, made
while the folder's lock is held, then committed) and :func:`build_folder`, which writes a
new folder a piece of the corpus at a time and continues an interrupted build where the
backend can.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..data.corpus import Corpus
from ..data.metadata import merge_patch, metadata_problem, readable
from ..errors import DataError, InputError, OutputError
from ..util import atomic
from ..util.progress import log
from . import backends
from .backends import Store
from .inputs import prepare_chunk
from .manifest import (DECISIONS, FORMAT, MANIFEST, commit, identity, io_errors, new_manifest, read_manifest, sweep,
                       unless_locked, write_lock)


LOGGED_ROWS = 10_000  # chunks from this size on get a progress line per step (smaller ones take seconds)


@dataclass
class Change:
    """A write in progress: the next manifest and the store that goes with it."""

    folder: Path
    manifest: dict
    store: Store

    def add(self, chunk: Corpus, vectors: np.ndarray, model, progress: bool = False, lexical=None) -> None:
        """Store a prepared chunk, its vectors and (for a scorer that reads words) its lexical
        rows: ``lexical`` when they were made beforehand (outside the write lock), else made here."""
        progress = progress and len(chunk.questions) >= LOGGED_ROWS
        if lexical is None and model.scorer.lexical is not None:
            lexical = model.scorer.lexical.rows(chunk.questions, progress=progress)
        if progress:  # a million questions' files are gigabytes (Milvus also indexes them here)
            log(f"storing {len(chunk.questions):,} questions")
        self.manifest, self.store = self.store.added(self.folder, self.manifest, list(chunk.ids),
                                                     list(chunk.questions), vectors, lexical, chunk.metadata,
                                                     progress=progress)

    def replace(self, chunk: Corpus, vectors: np.ndarray, model,
                sent: Sequence[dict | None] | None = None) -> list[bool]:
        """Store a checked chunk in place of the rows holding its ids (adding those not
        stored); per id, whether it was stored. One change: one commit, so it is atomic.
        A stored question's metadata is patched, not replaced (:func:`merge_patch`):
        ``sent`` is the metadata as given, before it was checked (its nulls remove fields)."""
        stored = self.store.find(list(chunk.ids))
        rows = np.fromiter(stored.values(), np.int64, len(stored))
        chunk = _patched(chunk, {r[0]: r for r in self.store.records(rows)} if stored else {}, sent)
        if stored:
            self.manifest, self.store = self.store.removed(self.folder, self.manifest, sorted(stored.values()))
        self.add(chunk, vectors, model)
        return [i in stored for i in chunk.ids]

    def commit(self) -> None:
        """Make the change visible: replace the folder's manifest (:func:`qdup.search.manifest.commit`)."""
        commit(self.folder, self.manifest, self.store.files(self.manifest))

    def settle(self) -> None:
        """After the commit, what the store finishes then (:meth:`qdup.search.backends.Store.settle`),
        committing the manifest that follows, if any."""
        follow = self.store.settle(self.folder, self.manifest)
        if follow is not None:
            self.manifest, self.store = follow
            self.commit()


def _patched(chunk: Corpus, records: dict[str, tuple], sent: Sequence[dict | None] | None) -> Corpus:
    """``chunk`` with each id's metadata patched onto what is stored under it ({} for a new id)."""
    metadata = []
    for n, i in enumerate(chunk.ids):
        given = None if chunk.metadata is None else chunk.metadata[n]
        raw = None if sent is None else sent[n]
        # onto what a reader sees: metadata stored before the bounds reads as {} and is replaced
        merged = merge_patch(readable(records[i][2]) if i in records else {}, raw, given)
        problem = metadata_problem(merged)
        if problem:
            raise InputError(f"metadata of id {i!r} with the stored fields it keeps {problem}")
        metadata.append(merged)
    return replace(chunk, metadata=metadata if any(metadata) else None)


def read_state(path: Path) -> tuple[dict, Store]:
    """The committed manifest and its store. A load that fails because a writer committed and
    swept that manifest's files meanwhile is retried; a damaged index is refused."""
    for _ in range(2):
        manifest = read_manifest(path)
        try:
            return manifest, backends.open_store(path, manifest)
        except DataError:
            if identity(read_manifest(path)) == identity(manifest):
                raise  # really damaged, not a race with a writer
    manifest = read_manifest(path)
    return manifest, backends.open_store(path, manifest)


def tidy(folder: Path, manifest: dict, store: Store) -> tuple[dict, Store] | None:
    """Finish what a killed writer left behind (its files, a collection a rebuild replaced,
    removed rows Milvus still holds), if no writer holds the lock now; the state after that,
    or None when a writer is at work (it tidies when it commits) or committed meanwhile."""
    with unless_locked(folder) as free:
        if not free or identity(read_manifest(folder)) != identity(manifest):
            return None
        change = Change(folder, dict(manifest), store)
        with io_errors(folder):
            sweep(folder, store.files(manifest))
            change.settle()
        return change.manifest, change.store


def check_output(path, force: bool = False) -> None:
    """Refuse an existing ``path`` (with ``force``: anything but an index folder, and an index
    folder holding a model folder, which the rebuild would delete with it), before any slow work."""
    atomic.check_replaceable(path, force, (MANIFEST, FORMAT))
    held = next(Path(path).rglob("config.json"), None) if Path(path).is_dir() else None
    if held is not None:  # say, `qdup train --out INDEX/model`, then `index build --out INDEX --model INDEX/model`
        raise OutputError(f"{path} holds the model folder {held.parent.relative_to(path)}, which replacing the "
                          "index would delete; move it out of the index folder first")


def build_folder(model, chunks: Iterable[Corpus], path, *, backend: str, force: bool, progress: bool,
                 model_path: str | None, options: dict | None, resume_key: str | None) -> Change:
    """Write a new index folder at ``path`` (see :meth:`qdup.Index.build_chunks`); its committed change."""
    backends.check(backend, options)
    check_output(path, force)
    manifest = new_manifest(model, backend, model_path)
    key = None if resume_key is None else f"{model.fingerprint}:{resume_key}"
    # Writers of the folder being replaced wait, then see the new uid and reload.
    replacing = write_lock(Path(path)) if Path(path).is_dir() else contextlib.nullcontext()
    with io_errors(Path(path)), replacing, atomic.directory(path, force=force, stamp=(MANIFEST, FORMAT)) as tmp:
        if (Path(path) / DECISIONS).is_file():  # a rebuild keeps the moderators' decisions
            shutil.copy2(Path(path) / DECISIONS, tmp / DECISIONS)
        store = backends.create(tmp, manifest, options, force, key)
        done = store.resumed(manifest)  # questions stored by an interrupted build of the same input
        if done and progress:
            log(f"continuing an interrupted build: {done} questions already stored")
        change, seen = Change(tmp, manifest, store), 0
        for chunk in chunks:
            skip, seen = min(max(done - seen, 0), len(chunk)), seen + len(chunk)
            piece = prepare_chunk(chunk.skip(skip), change.manifest, None)  # nothing stored before the build
            if piece.questions:
                change.add(piece, model.encode(piece.questions, progress=progress), model, progress)
                change.store.checkpoint(change.manifest, seen)
        if not change.manifest["count"]:
            raise DataError("no questions to index")
        change.manifest, change.store = change.store.finished(tmp, change.manifest, progress)
        change.commit()
    change.folder = Path(path)
    with io_errors(change.folder), write_lock(change.folder):
        change.settle()  # say, drop the collection this build replaced: only once the new folder is in place
    return change
