"""Features of a question pair for the re-ranker: the encoder's cosine next to lexical evidence.

Every feature is symmetric in the two questions (so ``score(a, b) == score(b, a)``) and
depends on the pair alone: nothing comes from how often a question occurs in a data set or
where it sits in a pair graph, which would not carry over to a user's forum.
"""

from __future__ import annotations

import threading

import numpy as np

from ..text.lexical import LexicalRows, LexicalStats
from ..text.names import NameStats
from ..text.sparse import SparseRows
from ..util.scratch import scratch_row

FEATURES = (
    "cosine",          # the encoder's cosine similarity
    "char_tfidf",      # cosine of char 2-4-gram TF-IDF rows
    "word_tfidf",      # cosine of word TF-IDF rows
    "word_jaccard",    # shared words / all words
    "idf_jaccard",     # the same, each word weighted by its IDF
    "max_missing_idf",  # rarest word that only one side has (the larger of both sides)
    "min_missing_idf",  # (the smaller of both sides)
    "min_words",
    "max_words",
    "number_mismatch",  # digit runs that only one side has
    "has_numbers",
    "same_first_word",
    # Look-alikes ("Divorce in Nepal?" / "Divorce in Armenia?"): a name on one side only,
    # each word weighted by its IDF times its name-likeness (qdup.text.names).
    "max_missing_name",  # the most name-like rare word only one side has
    "min_missing_name",  # the same for the other side: both high when a name was swapped
    "number_swap",       # digit runs only one side has, on the side with fewer: both differ
    "min_unmatched",     # words only one side has, on the side with fewer (1 and 1: one word swapped)
    "max_unmatched",
)
# The features of the re-rankers saved before look-alikes (issue 18): such a model still loads.
FEATURES_V4 = FEATURES[:12]
# More overlap never lowers the score and more missing evidence never raises it (LightGBM's
# monotone constraints): the re-ranker cannot learn a quirk such as "identical is suspicious".
MONOTONE = {"cosine": 1, "char_tfidf": 1, "word_tfidf": 1, "word_jaccard": 1, "idf_jaccard": 1,
            "max_missing_idf": -1, "min_missing_idf": -1, "number_mismatch": -1,
            "max_missing_name": -1, "min_missing_name": -1, "number_swap": -1}


CHUNK_PAIRS = 65_536  # bounds the per-entry arrays when featurising a training pool
_POSITIONS = threading.local()  # per thread: where each of a query's columns sits in its row (-1: not in it)


def pair_features(cosine: np.ndarray, a: LexicalRows, b: LexicalRows, stats: LexicalStats,
                  a_of: np.ndarray | None = None, names: NameStats | None = None) -> np.ndarray:
    """``(n, len(FEATURES))`` float32 features of the pairs ``a[a_of[i]]``, ``b[i]``.

    ``a_of`` defaults to ``0..n-1`` (aligned pairs). ``names``: the words' name-likeness
    (None: no word is a name; the name features are then 0). A search scores one query against many
    candidates: ``a_of`` repeats the query's row instead of copying it. Everything is
    computed on the stored entries of the sparse rows with numpy (sort, search, bincount),
    so a search's few pairs cost microseconds rather than many small scipy calls.
    """
    a_of = np.arange(len(b)) if a_of is None else np.asarray(a_of, dtype=np.int64)
    cosine = np.asarray(cosine, dtype=np.float32)
    likeness = (names or _NO_NAMES).likeness
    if len(b) <= CHUNK_PAIRS:
        return _features(cosine, a, b, stats.word_idf, likeness, a_of)
    return np.concatenate([
        _features(cosine[s : s + CHUNK_PAIRS], a, b.take(np.arange(s, min(s + CHUNK_PAIRS, len(b)))),
                  stats.word_idf, likeness, a_of[s : s + CHUNK_PAIRS])
        for s in range(0, len(b), CHUNK_PAIRS)])


_NO_NAMES = NameStats.empty()


def _features(cosine, a: LexicalRows, b: LexicalRows, idf: np.ndarray, likeness: np.ndarray,
              a_of: np.ndarray) -> np.ndarray:
    n = len(b)
    # Char n-grams: the dot product of unit TF-IDF rows over the n-grams both sides have.
    owner, hit, at = _lookup(a.chars, b.chars, a_of)
    char_tfidf = np.bincount(owner[hit], b.chars.data[hit] * a.chars.data[at[hit]], minlength=n)
    w = _word_overlap(a.words, b.words, a_of, idf, likeness)
    owner, hit, _ = _lookup(a.numbers, b.numbers, a_of)
    numbers_a, numbers_b = a.numbers.row_lengths[a_of], b.numbers.row_lengths
    numbers_both = np.bincount(owner[hit], minlength=n)
    columns = [
        cosine,
        char_tfidf,
        w["sq_both"] / np.sqrt(np.maximum(w["sq_a"] * w["sq_b"], 1e-12)),  # IDF-weighted binary rows' cosine
        w["n_both"] / np.maximum(w["n_a"] + w["n_b"] - w["n_both"], 1),
        w["w_both"] / np.maximum(w["w_a"] + w["w_b"] - w["w_both"], 1e-6),
        np.maximum(w["missing_a"], w["missing_b"]),
        np.minimum(w["missing_a"], w["missing_b"]),
        np.minimum(w["n_a"], w["n_b"]),
        np.maximum(w["n_a"], w["n_b"]),
        numbers_a + numbers_b - 2 * numbers_both,
        (numbers_a + numbers_b) > 0,
        a.first[a_of] == b.first,
        np.maximum(w["name_a"], w["name_b"]),
        np.minimum(w["name_a"], w["name_b"]),
        np.minimum(numbers_a, numbers_b) - numbers_both,
        np.minimum(w["n_a"], w["n_b"]) - w["n_both"],  # words only one side has, on the side with fewer
        np.maximum(w["n_a"], w["n_b"]) - w["n_both"],
    ]
    return np.column_stack([np.asarray(c, dtype=np.float32) for c in columns])


def _word_overlap(a: SparseRows, b: SparseRows, a_of: np.ndarray, idf: np.ndarray,
                  likeness: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair: word counts of each side and both (``n_*``), their summed IDF (``w_*``) and
    squared IDF (``sq_*``), and per side the rarest word the other lacks (``missing_*``) and
    the largest IDF x name-likeness of such a word (``name_*``)."""
    n = len(b.indptr) - 1
    owner, hit, at = _lookup(a, b, a_of)  # b's words, and whether a has each
    idf_b = idf[b.indices]
    owner_a, idf_a = a.owners, idf[a.indices]  # a's words, once per a row (not per pair)
    lonely_a, columns_a = _missing_in_b(a, b, a_of, owner, hit, at)
    lonely_b, columns_b = owner[~hit], b.indices[~hit]
    return {
        "n_a": a.row_lengths[a_of], "n_b": b.row_lengths, "n_both": np.bincount(owner[hit], minlength=n),
        "w_a": np.bincount(owner_a, idf_a, minlength=a.shape[0])[a_of], "w_b": np.bincount(owner, idf_b, minlength=n),
        "w_both": np.bincount(owner[hit], idf_b[hit], minlength=n),
        "sq_a": np.bincount(owner_a, idf_a**2, minlength=a.shape[0])[a_of],
        "sq_b": np.bincount(owner, idf_b**2, minlength=n), "sq_both": np.bincount(owner[hit], idf_b[hit] ** 2, minlength=n),
        "missing_a": _row_max(lonely_a, idf[columns_a], n), "missing_b": _row_max(lonely_b, idf[columns_b], n),
        "name_a": _row_max(lonely_a, idf[columns_a] * likeness[columns_a], n),
        "name_b": _row_max(lonely_b, idf[columns_b] * likeness[columns_b], n),
    }


def _lookup(a: SparseRows, b: SparseRows, a_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every stored entry of ``b`` (row i): its row ``i``, whether row ``a_of[i]`` of ``a``
    has the same column, and where that entry sits in ``a.data`` (valid where it does)."""
    owner = b.owners
    if len(a) == 1:  # a search's one query: its columns marked in a scratch row, no sort or search
        return (owner, *_lookup_one(a, b))
    keys = a.owners.astype(np.int64) * a.shape[1] + a.indices
    # Rows of a CSR matrix are in order and their columns usually sorted already: skip the sort.
    order = np.arange(len(keys)) if np.all(keys[1:] > keys[:-1]) else np.argsort(keys, kind="stable")
    wanted = a_of[owner].astype(np.int64) * a.shape[1] + b.indices
    hit, at = _find(keys[order], wanted)
    return owner, hit, order[at] if len(order) else at


def _lookup_one(a: SparseRows, b: SparseRows) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_lookup`'s ``hit`` and ``at`` when ``a`` is one row (its columns are distinct)."""
    position = scratch_row(_POSITIONS, a.width, lambda n: np.full(n, -1, np.int32))
    columns = a.indices[a.indptr[0] : a.indptr[1]]
    position[columns] = np.arange(a.indptr[0], a.indptr[1], dtype=np.int32)
    try:
        at = position[b.indices]
    finally:
        position[columns] = -1  # clean for the thread's next query
    hit = at >= 0
    return hit, np.where(hit, at, 0)


def _find(sorted_keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each wanted key is in ``sorted_keys``, and its position there (0 where not)."""
    if not len(sorted_keys):
        return np.zeros(len(wanted), bool), np.zeros(len(wanted), np.int64)
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    hit = sorted_keys[at] == wanted
    return hit, np.where(hit, at, 0)


def _missing_in_b(a: SparseRows, b: SparseRows, a_of: np.ndarray, owner: np.ndarray,
                  hit: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The words of ``a[a_of[i]]`` that ``b[i]`` lacks: each one's pair ``i`` and column, pair by
    pair; ``owner``, ``hit``, ``at``: :func:`_lookup` of ``b``'s words in ``a``."""
    if len(a) == 1:  # the query's words each candidate has, marked in a (pairs, words) table
        first = a.indptr[0]
        has = np.zeros((len(b), a.indptr[1] - first), bool)
        has[owner[hit], at[hit] - first] = True
        pair, word = np.nonzero(~has)
        return pair, a.indices[first + word]
    copied = a.take(a_of)  # a's entries, copied once per pair
    owner, columns = copied.owners, copied.indices
    b_keys = b.owners.astype(np.int64) * b.shape[1] + b.indices
    b_keys = b_keys if np.all(b_keys[1:] > b_keys[:-1]) else np.sort(b_keys)
    hit, _ = _find(b_keys, owner.astype(np.int64) * b.shape[1] + columns)
    return owner[~hit], columns[~hit]


def _row_max(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    np.maximum.at(out, owner, values)
    return out
