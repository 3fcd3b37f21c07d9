"""Lexical candidates whose cost does not grow with the corpus: the postings of rare n-grams only.

Scoring a query against the whole inverted index touches every row that shares an n-gram
with it: with the n-grams of more than 10% of the rows dropped, still ~53% of a million
rows (1.6M postings, 21 ms a query; issue 20). Candidates only need to hold the rows the
scorer should see, and what singles a duplicate out is its rare n-grams. So candidate
generation reads only the postings of n-grams found in at most :data:`MAX_POSTINGS` rows
of a segment, or :data:`POSTINGS_SHARE` of them above 100,000 rows
(:func:`max_postings`; an IDF floor): a query touches at most that many rows per n-gram,
and every row that shares a rare n-gram with it is scored exactly on those. The scorer
then ranks the candidates on every n-gram. Chosen on validation queries
(docs/benchmarks.md): at 51k questions recall@1 is unchanged and recall@10 within 0.001 of
scoring on every n-gram under 10% of the rows.

Above 400,000 rows an n-gram may be in more rows than :data:`MAX_KEPT`: it keeps the
postings of the rows it weighs most in (short questions, repeated n-grams), those where it
adds most to a score. In a large store more of a query's n-grams are common ones, which the
rare postings leave out: there, each query's best :data:`RESCORE_POOL` rows by the rare
n-grams are scored again on every n-gram (the exact TF-IDF cosine), and the best of those
are the candidates. At a million questions, with the postings of n-grams in up to 1% of the
rows, the whole search then holds validation recall@1 and @10 within 0.005 of the exact
scan (docs/benchmarks.md).

A segment's postings are made once, when it is written, and stored beside its lexical rows
(:mod:`qdup.search.local.files`): making them costs ~0.3 s per 51k questions, which every
``qdup search`` paid at start-up before.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from ..text.lexical import LexicalRows
from ..text.sparse import SparseRows, spans
from ..util.scratch import scratch_row
from .topk import empty_topk

MAX_POSTINGS = 1000  # rows an n-gram may be in and still make candidates (per segment)...
# ...or this share of a segment's rows, when more (above 100,000 rows). Chosen on validation
# queries (docs/benchmarks.md): at a million, 10,000 rows keep recall@1 / @10 within 0.005
# of the exact scan (3,000: 0.008 and 0.016 short) for +1.2 ms a query; at 200k, 2,000 rows
# add 0.003 / 0.005 for +0.2 ms.
POSTINGS_SHARE = 0.01
# Of an n-gram in more rows than this, only the rows it weighs most in keep a posting (its
# rarer n-grams and the rescored pool find the others). Chosen on validation queries
# (docs/benchmarks.md): at a million, with 4,000, recall@1 / @10 -0.0004 / -0.0013 for
# -0.35 ms a query (3,000: -0.0012 / -0.0051); below 400,000 rows no n-gram has more.
MAX_KEPT = 4000
# Stores above this many rows rescore a pool of candidates on every n-gram. Chosen on
# validation queries (docs/benchmarks.md): at 51k rows the pool adds 0.003 recall@10 for
# +0.6 ms a query, at 200k 0.0125 and at a million 0.021 (half the loss against the exact
# scan) for +0.9 ms. A pool of 150 wins back 0.016 at a million, 600 0.025 for +1.5 ms.
RESCORE_FROM_ROWS = 100_000
RESCORE_POOL = 300
ENTRIES_PER_PASS = 1 << 24  # a segment's n-gram entries per pass when postings are made: bounds their memory
HEAVIEST_PER_PASS = 1 << 21  # postings sorted at a time to find each long bucket's heaviest (~60 MB of keys)
MAX_INT32_POSITIONS = 2**31 - 1  # a query touching more entries keys its rows with int64 positions
ARRAYS = ("postings_columns", "postings_lengths", "postings_rows", "postings_weights", "postings_max_rows")
_MADE: "weakref.WeakKeyDictionary[LexicalRows, RarePostings]" = weakref.WeakKeyDictionary()
_QUERY_ROW = threading.local()  # per search thread: a query's n-gram weights as one dense row
_LAST_AT = threading.local()  # per search thread: a position at which each touched row appears
_LAST_AT_WIDE = threading.local()  # the same, int64, for a query touching more than MAX_INT32_POSITIONS


_MAKING = threading.Lock()  # postings are made by one thread at a time; the others then find them


def max_postings(rows: int) -> int:
    """The most rows an n-gram of a segment of ``rows`` rows may be in to have postings."""
    return max(MAX_POSTINGS, int(rows * POSTINGS_SHARE))


def kept_postings(max_rows: int) -> int:
    """The most postings an n-gram keeps when it may be in up to ``max_rows`` rows."""
    return min(max_rows, MAX_KEPT)


def rare_postings(rows: LexicalRows, keep: bool = True) -> "RarePostings":
    """The rare char n-gram postings of a segment's rows: those read with them, else made
    (and kept for the next search, unless not ``keep``: a writer that only stores them)."""
    postings = _MADE.get(rows)
    if postings is None and not keep:
        return RarePostings.of(rows.chars)
    if postings is None:
        with _MAKING:  # the service's warm-up and its first searches would each make them (4 s at 1M)
            postings = _MADE.get(rows)  # made meanwhile by the thread this one waited for
            if postings is None:
                postings = _MADE[rows] = RarePostings.of(rows.chars)
    return postings


def remember(rows: LexicalRows, postings: "RarePostings") -> None:
    """Postings read from a file are those of ``rows``: :func:`rare_postings` returns them."""
    _MADE[rows] = postings


def has_todays_postings(rows: LexicalRows) -> bool:
    """Whether ``rows`` were read with postings made with :func:`max_postings`'s cut (none
    are made here: a segment written before they were stored has none)."""
    postings = _MADE.get(rows)
    return postings is not None and postings.made_with_todays_cut()


def rescores(stored_rows: int) -> bool:
    """Whether lexical candidates among this many rows are rescored on every n-gram: decided
    for a whole store, so that every segment's scores are of one kind when they are merged.
    A local store counts its segments' rows, removed ones too until a merge drops them."""
    return stored_rows > RESCORE_FROM_ROWS


def best_alive(found: np.ndarray, value: np.ndarray, k: int,
               dead: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(values, rows)`` of the best ``k`` of ``found`` not in ``dead``, best first; ties by
    row, so results are deterministic."""
    if dead is not None:
        alive = ~dead[found]
        found, value = found[alive], value[alive]
    if len(found) > k:
        part = np.argpartition(-value, k - 1)[:k]
        found, value = found[part], value[part]
    order = np.lexsort((found, -value))
    return value[order], found[order]


class RarePostings:
    """The (bucket -> rows, weights) postings of a segment's char n-grams found in at most ``max_rows`` rows."""

    def __init__(self, indptr: np.ndarray, rows: np.ndarray, weights: np.ndarray, size: int, max_rows: int,
                 kept: int | None = None) -> None:
        self.indptr = indptr    # (buckets + 1,) int64: bucket b's postings are [indptr[b], indptr[b + 1])
        self.rows = rows        # int32, ascending within a bucket
        self.weights = weights  # float32, the rows' TF-IDF weights of the bucket
        self.size = size        # rows of the segment
        self.max_rows = max_rows
        self.kept = max_rows if kept is None else kept  # postings a bucket keeps at most: its heaviest

    @classmethod
    def of(cls, chars: SparseRows, max_rows: int | None = None, kept: int | None = None) -> "RarePostings":
        """Postings of the buckets in at most ``max_rows`` rows of ``chars`` (default:
        :func:`max_postings`), each keeping its ``kept`` heaviest rows (default:
        :func:`kept_postings`): per range of buckets, one sort of 64-bit keys (bucket, then
        entry position) rather than a transpose of every entry, so a bucket's rows stay in
        order and a million questions' entries are never all copied at once."""
        max_rows = max_postings(len(chars)) if max_rows is None else max_rows
        kept = kept_postings(max_rows) if kept is None else kept
        if chars.nnz >= 1 << 32:  # entry positions are packed into the low 32 bits of the sort keys
            raise ValueError(f"a segment of {chars.nnz:,} n-gram entries is too large for its postings")
        # Every read of the entries' buckets is done a part at a time: numpy widens int32
        # indices to int64 for bincount and for indexing, a copy of 8 bytes per entry
        # (+1 GB at a million questions, the peak of their build).
        parts = [slice(s, s + ENTRIES_PER_PASS) for s in range(0, chars.nnz, ENTRIES_PER_PASS)]
        counts = np.zeros(chars.width, np.int64)
        for part in parts:
            counts += np.bincount(chars.indices[part], minlength=chars.width)
        rare = counts <= max_rows
        indptr = np.zeros(chars.width + 1, dtype=np.int64)
        np.cumsum(np.where(rare, counts, 0), out=indptr[1:])
        rows, weights = np.empty(indptr[-1], np.int32), np.empty(indptr[-1], chars.data.dtype)
        passes = max(1, -(-int(indptr[-1]) // ENTRIES_PER_PASS))  # by the rare entries: a million questions' are 5%
        step = -(-chars.width // passes)  # buckets per pass
        for low in range(0, chars.width, step):
            wanted = np.zeros(chars.width, bool)
            wanted[low : low + step] = rare[low : low + step]
            entries = np.concatenate([np.zeros(0, np.int64)] + [
                np.flatnonzero(wanted[chars.indices[part]]) + part.start for part in parts])
            entries = np.sort((chars.indices[entries].astype(np.int64) << 32) | entries) & 0xFFFFFFFF
            span = slice(indptr[low], indptr[low] + len(entries))
            rows[span] = np.searchsorted(chars.indptr, entries, side="right") - 1
            weights[span] = chars.data[entries]
        return cls(indptr, rows, weights, len(chars), max_rows).heaviest(kept)

    def heaviest(self, kept: int) -> "RarePostings":
        """These postings with each bucket's ``kept`` heaviest rows only (ties: the first row),
        a few buckets at a time: a million questions' longest buckets hold ~20M postings, whose
        sort at once took the build's peak memory up by 0.4 GiB."""
        lengths = np.diff(self.indptr)
        long = np.flatnonzero(lengths > kept)
        if not len(long):  # below 400,000 rows, always: nothing to copy
            return RarePostings(self.indptr, self.rows, self.weights, self.size, self.max_rows, kept)
        keep = np.ones(len(self.rows), bool)
        groups = np.split(long, np.flatnonzero(np.diff(np.cumsum(lengths[long]) // HEAVIEST_PER_PASS)) + 1)
        for group in groups:
            entries, sizes, taken = spans(self.indptr, group)
            bucket = np.repeat(np.arange(len(group), dtype=np.int32), sizes)
            order = np.lexsort((self.rows[entries], -self.weights[entries], bucket))  # heaviest first
            keep[entries[order[np.arange(len(order)) - taken[bucket] >= kept]]] = False
        indptr = np.zeros_like(self.indptr)
        np.cumsum(np.minimum(lengths, kept), out=indptr[1:])
        return RarePostings(indptr, self.rows[keep], self.weights[keep], self.size, self.max_rows, kept)

    def made_with_todays_cut(self) -> bool:
        """Whether these postings keep the n-grams :func:`max_postings` gives their segment, as
        many rows of each as :func:`kept_postings` (stored ones keep the cut they were written with)."""
        return self.max_rows == max_postings(self.size) and self.kept == kept_postings(self.max_rows)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez``: the buckets that have postings and how many each."""
        lengths = np.diff(self.indptr)
        columns = np.flatnonzero(lengths).astype(np.int32)
        return {"postings_columns": columns, "postings_lengths": lengths[columns].astype(np.int32),
                "postings_rows": self.rows, "postings_weights": self.weights,
                "postings_max_rows": np.array([self.max_rows], dtype=np.int64),
                "postings_kept": np.array([self.kept], dtype=np.int64)}

    @classmethod
    def from_arrays(cls, arrays, size: int, width: int) -> "RarePostings":
        """Postings read from a file; ``ValueError`` unless every one lies inside the segment."""
        columns, lengths = np.asarray(arrays["postings_columns"]), np.asarray(arrays["postings_lengths"])
        rows, weights = np.asarray(arrays["postings_rows"]), np.asarray(arrays["postings_weights"])
        max_rows = np.asarray(arrays["postings_max_rows"])
        kept = np.asarray(arrays["postings_kept"]) if "postings_kept" in arrays else max_rows  # written before: all
        if (columns.ndim != 1 or columns.shape != lengths.shape or rows.ndim != 1 or rows.shape != weights.shape
                or max_rows.shape != (1,) or kept.shape != (1,) or not np.issubdtype(weights.dtype, np.floating)
                # signed: an unsigned difference would wrap round and pass the order checks below
                or not all(np.issubdtype(a.dtype, np.signedinteger) for a in (columns, lengths, rows, max_rows, kept))):
            raise ValueError("postings of the wrong shape")
        # no bucket has more rows than the segment, or than it keeps
        if len(columns) and (columns.min() < 0 or columns.max() >= width or np.any(np.diff(columns) <= 0)
                             or lengths.min() < 1 or lengths.max() > min(size, int(kept[0]))):
            raise ValueError("postings with a bucket out of range")
        if int(lengths.sum(dtype=np.int64)) != len(rows) or (len(rows) and (rows.min() < 0 or rows.max() >= size)):
            raise ValueError("postings with a row out of range")
        indptr = np.zeros(width + 1, dtype=np.int64)
        indptr[columns + 1] = lengths
        np.cumsum(indptr, out=indptr)
        return cls(indptr, rows, weights, size, int(max_rows[0]), int(kept[0]))

    def topk(self, queries, k: int, dead: np.ndarray | None,
             stored: SparseRows | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` (q, k), best first, by the TF-IDF dot product over the rare n-grams;
        rows in ``dead`` (a boolean mask) skipped; ties by row, so results are deterministic.
        ``stored``: the segment's own char rows; given (in a store of more than
        :data:`RESCORE_FROM_ROWS` rows, :func:`rescores`), the best :data:`RESCORE_POOL` by the
        rare n-grams are scored on every n-gram, and ``scores`` are those exact ones."""
        scores, rows = empty_topk(len(queries), k)
        chars = queries.chars
        rescore = stored is not None
        for n in range(len(queries)):
            span = slice(chars.indptr[n], chars.indptr[n + 1])
            columns, weights = chars.indices[span], chars.data[span]
            value, found = best_alive(*self._scored(columns, weights), max(k, RESCORE_POOL) if rescore else k, dead)
            if rescore and len(found):
                value, found = best_alive(found, exact_scores(stored, found, columns, weights), k, None)
            scores[n, : len(found)], rows[n, : len(found)] = value, found
        return scores, rows

    def _scored(self, columns: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct rows in the postings of ``columns`` and their ``sum(weight * row weight)``."""
        starts, ends = self.indptr[columns].tolist(), self.indptr[columns + 1].tolist()
        lists = [slice(a, b) for a, b in zip(starts, ends) if b > a]
        if not lists:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # Each n-gram's postings lie together: a slice each (a query has ~100), joined, rather
        # than every entry's position made and gathered (0.4 of this step's time at a million)
        touched = np.concatenate([self.rows[s] for s in lists]).astype(np.intp, copy=False)
        products = np.concatenate([self.weights[s] for s in lists]) * np.repeat(weights, np.subtract(ends, starts))
        # Each touched row once, without sorting: keyed by one position at which it appears
        # (the write numpy keeps; it promises no order for repeated indices, and none is
        # needed: every entry of a row reads the same key, and exactly one entry is at it), so
        # the sums are over len(touched) bins, not one per stored row (a million zeroed each
        # query cost 0.3 ms).
        # The scratch row is the thread's own and is only read where this query wrote it;
        # int32 halves the memory its random reads and writes cover (1.19x quicker at a
        # million rows and 87,000 entries a query).
        wide = len(touched) > MAX_INT32_POSITIONS
        last = scratch_row(_LAST_AT_WIDE if wide else _LAST_AT, self.size,
                           lambda n: np.empty(n, np.int64 if wide else np.int32))
        position = np.arange(len(touched), dtype=last.dtype)
        last[touched] = position
        key = last.take(touched)
        totals = np.bincount(key, products, minlength=len(touched))
        kept = np.flatnonzero(key == position)  # one position per row
        return touched.take(kept), totals.take(kept).astype(np.float32)


def exact_scores(stored: SparseRows, rows: np.ndarray, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(len(rows),)`` float32: each stored row's dot product with a query (n-grams ``columns``
    weighted ``weights``) over every n-gram, read through a dense copy of the query's row."""
    if not len(rows):
        return np.zeros(0, np.float32)
    dense = scratch_row(_QUERY_ROW, stored.width, lambda n: np.zeros(n, np.float32))
    dense[columns] = weights
    try:
        entries, lengths, taken = spans(stored.indptr, rows)
        # Each row's entries lie together: summed where they lie (a fifth quicker at a million
        # than labelling each entry with its row for a bincount). One zero after the last
        # entry keeps every start inside the array; an empty row sums to 0, not to the entry
        # reduceat gives it.
        products = np.zeros(len(entries) + 1, np.float64)
        np.multiply(dense[stored.indices[entries]], stored.data[entries], out=products[:-1])
        sums = np.add.reduceat(products, taken[:-1])
        sums[lengths == 0] = 0
        return sums.astype(np.float32)
    finally:
        dense[columns] = 0  # clean for the thread's next query
