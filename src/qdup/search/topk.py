"""Top-k inner-product search over unit vectors: exact (numpy) and approximate (FAISS HNSW).

These search one segment of a local index (:mod:`qdup.search.local.store`); each segment holds
an :class:`ExactSearch` or an :class:`HnswSearch`, which own their parameters and files.

Both return ``(scores, rows)`` arrays of shape (q, k), best first; missing entries
(fewer live rows than k) have row -1 and score -inf. Rows are positions in the searched
matrix; the caller maps them to ids.
"""

from __future__ import annotations

import numpy as np

EXACT_CHUNK_ROWS = 65_536  # bounds the (q, chunk) score block: 64 queries x 64k rows = 16 MiB
# Queries scored at once: with the rows' chunk it bounds the score block (256 x 64k = 64 MiB).
# Training asks for the neighbours of ~9k questions at once (3.3 GB unchunked: issue 20).
EXACT_CHUNK_QUERIES = 256
HNSW_M = 32                # graph degree: recall >= 0.99 at k=10 with a modest efSearch
HNSW_EF_CONSTRUCTION = 80
HNSW_ADD_ROWS = 100_000  # rows added to a graph per progress line
# The default breadth of a graph walk: recall@10 0.999 on clustered synthetic data
# (benchmarks/search_speed.py). Hybrid search asks for less (hybrid.CANDIDATE_EF_SEARCH).
HNSW_EF_SEARCH = 256


def empty_topk(q: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, rows)`` of shape (q, k) holding no match yet: score -inf, row -1."""
    return np.full((q, k), -np.inf, dtype=np.float32), np.full((q, k), -1, dtype=np.int64)


def merge_topk(
    scores_a: np.ndarray, rows_a: np.ndarray, scores_b: np.ndarray, rows_b: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two (q, *) candidate lists into the best ``k`` per query, best first."""
    scores = np.concatenate([scores_a, scores_b], axis=1)
    rows = np.concatenate([rows_a, rows_b], axis=1)
    # Stable sort on -score: ties keep the earlier (lower) row, so results are deterministic.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)


def exact_topk(
    queries: np.ndarray,
    vectors: np.ndarray,
    k: int,
    dead: np.ndarray | None = None,
    chunk_rows: int = EXACT_CHUNK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by inner product, scanning ``vectors`` in chunks of rows (and the
    queries in chunks of :data:`EXACT_CHUNK_QUERIES`, so memory is bounded for any number).

    ``dead`` is an optional boolean mask of rows to skip (removed questions).

    Example::

        >>> v = np.eye(3, dtype=np.float32)
        >>> exact_topk(v[:1], v, k=2)[1].tolist()
        [[0, 1]]
    """
    if len(queries) > EXACT_CHUNK_QUERIES:
        parts = [exact_topk(queries[s : s + EXACT_CHUNK_QUERIES], vectors, k, dead, chunk_rows)
                 for s in range(0, len(queries), EXACT_CHUNK_QUERIES)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    best_scores, best_rows = empty_topk(len(queries), k)
    for start in range(0, len(vectors), chunk_rows):
        block = queries @ vectors[start : start + chunk_rows].T  # (q, c)
        if dead is not None:
            block[:, dead[start : start + chunk_rows]] = -np.inf
        kk = min(k, block.shape[1])
        part = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
        part_scores = np.take_along_axis(block, part, 1)
        best_scores, best_rows = merge_topk(best_scores, best_rows, part_scores, part + start, k)
    best_rows[~np.isfinite(best_scores)] = -1
    return best_scores, best_rows


def build_hnsw(vectors, progress: bool = False):
    """An HNSW graph over ``vectors`` (inner product), rows numbered 0..n-1; ``progress``: a
    line per :data:`HNSW_ADD_ROWS` rows added (a million questions take minutes).

    ``vectors``: an array, or a :class:`~qdup.data.vectors.VectorFile`, which is always read
    in parts of :data:`HNSW_ADD_ROWS` rows (never all at once next to the graph's copy)."""
    import faiss  # imported lazily: small indexes never need it

    from ..util.progress import bar

    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    in_parts = progress or not isinstance(vectors, np.ndarray)  # an array: in parts only to report them
    step = HNSW_ADD_ROWS if in_parts else max(len(vectors), 1)
    starts = range(0, len(vectors), step)
    if len(starts) > 1:
        # Room for every vector at once: growing part by part, the storage would be copied
        # whenever it doubles (at a million questions, a 0.4 GB step in the build's peak).
        storage = faiss.downcast_index(index.storage)
        storage.codes.resize(len(vectors) * storage.code_size)
    for start in bar(starts, "graph", "part", enabled=progress and len(starts) > 1):
        index.add(np.ascontiguousarray(vectors[start : start + step], dtype=np.float32))
    return index


def hnsw_topk(
    index, queries: np.ndarray, k: int, dead_rows: np.ndarray | None = None, ef: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-``k`` from an HNSW graph, skipping ``dead_rows`` (int64 row numbers);
    ``ef``: the walk's breadth (default :data:`HNSW_EF_SEARCH`; never below ``k``)."""
    import faiss

    params = faiss.SearchParametersHNSW()
    params.efSearch = max(ef or HNSW_EF_SEARCH, k)
    if dead_rows is not None and len(dead_rows):
        batch = faiss.IDSelectorBatch(np.ascontiguousarray(dead_rows, dtype=np.int64))
        selector = faiss.IDSelectorNot(batch)
        params.sel = selector
    scores, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)
    scores[rows < 0] = -np.inf
    return scores, rows.astype(np.int64)


def write_hnsw(index, path: str) -> None:
    """Write with FAISS's own binary format (plain arrays; reading it runs no code)."""
    import faiss

    faiss.write_index(index, path)


def read_hnsw(path: str, mapped: bool = False):
    """The graph; ``mapped``: its vectors memory-mapped from the file (its links are read),
    so a million questions' 0.77 GB of vectors are paged in as searches touch them, not read
    before the first one. Only for a file whose whole size was checked: FAISS's mapped
    reader runs past the end of a truncated file and crashes the process (FAISS 1.15). A
    read graph is never added to. FAISS before 1.11 cannot map: it reads."""
    import faiss

    return faiss.read_index(path, getattr(faiss, "IO_FLAG_MMAP_IFC", 0) if mapped else 0)


class ExactSearch:
    """Scans a segment's vectors; nothing to save (the vectors are the segment's own file)."""

    suffix = None

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def topk(self, queries: np.ndarray, k: int, dead: np.ndarray, ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return exact_topk(queries, self.vectors, k, dead if dead.any() else None)


class HnswSearch:
    """A FAISS HNSW graph over a segment's vectors, saved next to it as ``<segment>.faiss``."""

    suffix = ".faiss"

    def __init__(self, graph) -> None:
        self.graph = graph

    @classmethod
    def build(cls, vectors, progress: bool = False) -> "HnswSearch":
        return cls(build_hnsw(vectors, progress))

    def vectors(self) -> np.ndarray:
        """The graph's own copy of its vectors as a read-only array, without copying them;
        the array keeps the graph alive."""
        import faiss

        storage = faiss.downcast_index(self.graph.storage)
        view = faiss.rev_swig_ptr(storage.get_xb(), self.graph.ntotal * self.graph.d)
        return np.asarray(_Lent(view, (self.graph.ntotal, self.graph.d), self.graph))

    @classmethod
    def read(cls, path: str, mapped: bool = False) -> "HnswSearch":
        return cls(read_hnsw(path, mapped))

    def write(self, path: str) -> None:
        write_hnsw(self.graph, path)

    def topk(self, queries: np.ndarray, k: int, dead: np.ndarray, ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return hnsw_topk(self.graph, queries, k, np.flatnonzero(dead), ef)


class _Lent:
    """Memory an owner holds, lent to numpy read-only: an array made of it has this object as
    its base, so the owner lives as long as the array."""

    def __init__(self, view: np.ndarray, shape: tuple[int, ...], owner) -> None:
        self.owner = owner
        address = view.__array_interface__["data"][0]
        self.__array_interface__ = {**view.__array_interface__, "shape": shape, "data": (address, True)}
