"""Hashed n-gram columns: the columns scikit-learn's ``HashingVectorizer`` gives, in one pass.

The lexical rows of :mod:`qdup.text.lexical` were first made by three ``HashingVectorizer``
calls (char_wb 2-4-grams, words, digit runs); stored models and indexes hold IDF values and
rows by those columns. This module reproduces them exactly (same analyzers, MurmurHash3
x86 32-bit with seed 0, column ``abs(hash) % buckets``, duplicates summed, columns sorted
within a row; tests/text/test_hashing.py checks it against scikit-learn) without importing
scikit-learn, whose import alone cost a command 1.5 CPU-s, and at a fraction of its
per-call cost (one pair's rows: ~0.05 ms instead of ~0.4 ms).

``mmh3`` hashes; it must only be given ``bytes`` or text that encodes to UTF-8 (a lone
surrogate in a ``str`` crashes mmh3 5.3), hence :func:`_hashable`. Each distinct word is
analysed and hashed once per process (bounded caches): building a million-question index
hashes a few hundred thousand words, not a hundred million n-grams.
"""

from __future__ import annotations

import re
from itertools import chain
from functools import lru_cache
from typing import Callable, Sequence

import mmh3
import numpy as np

from .sparse import SparseRows

_WHITESPACE_RUN = re.compile(r"\s\s+")
WORD = re.compile(r"(?u)\b\w+\b")  # HashingVectorizer's token_pattern as qdup sets it: a word of the lexical rows
_DIGITS = re.compile(r"\d+")


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character ``low``..``high``-grams inside words padded with one space (sklearn's ``char_wb``).

    >>> char_wb_ngrams("Hi you", 2, 3)
    [' h', 'hi', 'i ', ' hi', 'hi ', ' y', 'yo', 'ou', 'u ', ' yo', 'you', 'ou ']
    """
    return [gram for word in _WHITESPACE_RUN.sub(" ", text.lower()).split() for gram in _word_ngrams(word, low, high)]


def words(text: str) -> list[str]:
    """Lower-cased words (``\\w+`` runs), as the word vectorizer saw them."""
    return WORD.findall(text.lower())


def digit_runs(text: str) -> list[str]:
    """Runs of digits (``\\d+``)."""
    return _DIGITS.findall(text.lower())


def char_wb_columns(text: str, low: int, high: int, buckets: int) -> list[int]:
    """The columns of :func:`char_wb_ngrams`, one per n-gram: each word's are hashed once per process."""
    words = _WHITESPACE_RUN.sub(" ", text.lower()).split()
    return list(chain.from_iterable([_word_columns(word, low, high, buckets) for word in words]))


def feature_columns(features: Sequence[str], buckets: int) -> list[int]:
    """The column of each feature (a word, a digit run); each distinct one is hashed once per process."""
    return [_feature_column(f, buckets) for f in features]


def hashed_rows(texts: Sequence[str], columns_of: Callable[[str], list[int]], buckets: int,
                binary: bool) -> SparseRows:
    """``(len(texts), buckets)`` float32 counts (``binary``: 1s) of each text's hashed features,
    ``columns_of(text)`` giving a column per feature occurrence."""
    columns = [columns_of(text) for text in texts]
    lengths = [len(c) for c in columns]
    flat = np.fromiter(chain.from_iterable(columns), dtype=np.int64, count=sum(lengths))
    keys = np.repeat(np.arange(len(texts), dtype=np.int64) * buckets, lengths) + flat
    keys.sort()  # rows in order, columns sorted within each, as scikit-learn's sum_duplicates leaves them
    first = np.ones(len(keys), bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    keys = keys[starts]
    rows, indices = np.divmod(keys, buckets)
    indptr = np.searchsorted(rows, np.arange(len(texts) + 1)).astype(np.int32)
    data = np.ones(len(keys), np.float32) if binary else np.diff(starts, append=len(first)).astype(np.float32)
    return SparseRows(data, indices.astype(np.int32), indptr, buckets)


# Words repeat (a corpus of a million questions has a few hundred thousand distinct ones):
# their n-grams and hashes are computed once. Bounded, so memory is too (~40 MB).
@lru_cache(maxsize=1 << 16)
def _word_columns(word: str, low: int, high: int, buckets: int) -> tuple[int, ...]:
    return tuple(abs(h) % buckets for h in map(mmh3.hash, _hashable(_word_ngrams(word, low, high))))


@lru_cache(maxsize=1 << 16)
def _feature_column(feature: str, buckets: int) -> int:
    [h] = map(mmh3.hash, _hashable([feature]))
    return abs(h) % buckets  # abs(-2**31) % buckets, as scikit-learn defines it


def _word_ngrams(word: str, low: int, high: int) -> list[str]:
    word = f" {word} "
    size, grams = len(word), []
    for n in range(low, high + 1):
        if size <= n:  # a short word counts once, whole, and no longer n-grams follow
            grams.append(word)
            break
        grams += [word[i : i + n] for i in range(size - n + 1)]
    return grams


def _hashable(features: list[str]) -> list[str] | list[bytes]:
    """``features`` as mmh3 may take them: as they are when valid UTF-8, else as their
    surrogatepass bytes (a lone surrogate in a ``str`` crashes mmh3 5.3)."""
    try:
        "".join(features).encode("utf-8")
        return features
    except UnicodeEncodeError:  # lone surrogates (undecodable input)
        return [f.encode("utf-8", "surrogatepass") for f in features]
