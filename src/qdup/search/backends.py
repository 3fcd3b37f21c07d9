"""The search backend seam: where an index keeps its rows and how it finds the nearest ones.

:class:`qdup.Index` validates input, checks the model, owns the manifest (the commit
point) and formats results; everything that depends on *where* the vectors live goes
through a :class:`Store`. A store is a read-only view of the rows one committed manifest
names; a write returns the next manifest and the store that goes with it, and the index
commits that manifest. Rows are int64 keys chosen by the store (-1: no row), so the
candidate union and the re-ranking of :mod:`qdup.search.hybrid` work the same on all.

A new backend is one module with ``CHUNK_ROWS``, ``check_options(options)``,
``create(folder, manifest, options, force, resume_key) -> Store`` and
``open(folder, manifest) -> Store``, plus one line in :data:`BACKENDS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

from ..errors import ConfigError
from ..util.registry import Registry

if TYPE_CHECKING:  # annotations only: the CLI reads the backend names without numpy or scipy
    import numpy as np

    from ..text.lexical import LexicalRows, LexicalStats
    from .filters import Filter

# Backend name (as stored in the manifest) -> module implementing it. Modules are
# imported on first use, so `import qdup` never pays for FAISS or pymilvus.
BACKENDS = Registry("backend", {
    "auto": "qdup.search.local.store",   # exact search, HNSW (FAISS) from AUTO_HNSW_ROWS questions
    "exact": "qdup.search.local.store",
    "hnsw": "qdup.search.local.store",
    "milvus": "qdup.search.milvus.store",  # Milvus Lite file, Milvus Lite server, Milvus Standalone/Distributed
}, ConfigError, extras={"milvus": "milvus"})


class Store(Protocol):
    """What an index needs from a backend. Writes never change ``self``."""

    def dense_topk(self, queries: np.ndarray, k: int, where: Filter | None = None,
                   ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` of shape (q, k): cosine top-k over live rows (those passing
        ``where``), best first; as many as there are such rows, up to ``k``. ``ef``: an HNSW
        walk's breadth, where the backend walks a graph (None: its default)."""

    def lexical_topk(self, queries: LexicalRows, k: int, where: Filter | None = None) -> np.ndarray:
        """``(q, k)`` rows of the best char n-gram TF-IDF matches among live rows passing ``where`` (-1: none)."""

    def gather(self, rows: np.ndarray, stats: LexicalStats) -> tuple[np.ndarray, LexicalRows]:
        """Vectors and lexical rows of ``rows``, in that order (re-ranking input)."""

    def records(self, rows: np.ndarray) -> list[tuple[str, str, dict]]:
        """``(id, question, metadata)`` of each of ``rows``, in that order."""

    def find(self, ids: Sequence[str]) -> dict[str, int]:
        """The live rows of those of ``ids`` that are stored."""

    def live(self) -> tuple[np.ndarray, list[str], list[str], list[dict]]:
        """Vectors, ids, questions and metadata of every live row, in insertion order."""

    def has_lexical(self) -> bool:
        """Whether every row carries lexical rows (for a scorer that reads words)."""

    def added(self, folder: Path, manifest: dict, ids: list[str], questions: list[str], vectors: np.ndarray,
              lexical: LexicalRows | None, metadata: list[dict] | None, progress: bool = False) -> tuple[dict, "Store"]:
        """Write new rows so that nothing shows before ``manifest`` (returned) is committed;
        ``progress``: report steps that take minutes (an HNSW graph over a million rows)."""

    def removed(self, folder: Path, manifest: dict, rows: Sequence[int]) -> tuple[dict, "Store"]:
        """Drop live ``rows``; the returned manifest is to be committed."""

    def compacted(self, folder: Path, manifest: dict, progress: bool = False) -> tuple[dict, "Store"]:
        """Every row rewritten into one segment now (``qdup index compact``); the returned
        manifest is to be committed."""

    def settle(self, folder: Path, manifest: dict) -> "tuple[dict, Store] | None":
        """After ``manifest`` is committed, finish what it left to do (say drop a collection a
        rebuild replaced, or delete removed rows); a manifest to commit next, or None."""

    def resumed(self, manifest: dict) -> int:
        """Input questions an interrupted build of the same input stored (0: none); updates
        ``manifest`` (counters) to continue from there."""

    def checkpoint(self, manifest: dict, done: int) -> None:
        """Record that a build has stored the first ``done`` input questions."""

    def finished(self, folder: Path, manifest: dict, progress: bool = False) -> tuple[dict, "Store"]:
        """The build is complete: nothing is left to resume. The manifest to commit and the
        store to use from now on (a local build adds its HNSW graph here, once the callers
        have let go of the vectors they encoded: the graph's copy is then the only one)."""

    def files(self, manifest: dict) -> set[str]:
        """Names of the files in the index folder that ``manifest`` needs (others are swept)."""

    def verify(self, folder: Path, manifest: dict) -> str:
        """Check everything the store holds against the manifest, reading it all (``qdup index
        check``); what was checked, as a phrase. A problem is a one-line :class:`DataError`."""

    def describe(self) -> dict:
        """Backend name and settings, for ``qdup index info`` style output and logs."""

    def warm(self) -> int:
        """Read into memory what the first searches would otherwise read from disk or fault
        in page by page (:mod:`qdup.util.pages`); the bytes read (0: nothing is mapped)."""


def _options(options: dict | None) -> dict:
    return {k: v for k, v in (options or {}).items() if v is not None}


def check(name: str, options: dict | None = None) -> None:
    """Refuse an unknown backend name or bad settings before any slow work."""
    BACKENDS.get(name).check_options(_options(options))


def chunk_rows(name: str) -> int | None:
    """Questions a streamed build or add should hand over at a time (None: all at once,
    for backends that rebuild a graph over everything they hold)."""
    return BACKENDS.get(name).CHUNK_ROWS


def create(folder: Path, manifest: dict, options: dict | None, force: bool, resume_key: str | None = None) -> Store:
    """A new, empty store for ``manifest["backend"]``, which may add its settings to ``manifest``.

    ``options`` are backend settings (say ``uri``); ``force`` replaces what they name,
    except an interrupted build with the same ``resume_key``, which is continued.
    """
    return BACKENDS.get(manifest["backend"]).create(folder, manifest, _options(options), force, resume_key)


def open_store(folder: Path, manifest: dict) -> Store:
    """The store one committed manifest describes."""
    return BACKENDS.get(manifest["backend"], where=str(folder)).open(folder, manifest)
