"""Hashed n-gram columns: the columns scikit-learn's ``HashingVectorizer`` gives, in one pass.

The lexical rows of :mod:`qdup.text.lexical` were first made by three ``HashingVectorizer``
calls (char_wb 2-4-grams, words, digit runs); stored models and indexes hold IDF values and
rows by those columns. This module reproduces them exactly (same analyzers, MurmurHash3
x86 32-bit with seed 0, column ``abs(hash) % buckets``, duplicates summed, columns sorted
within a row; tests/text/test_hashing.py checks it against scikit-learn) without importing
scikit-learn, whose import alone cost a command 1.5 CPU-s, and at a fraction of its
per-call cost (one pair's rows: ~0.05 ms instead of ~0.4 ms).

``mmh3`` hashes; it must only be given ``bytes`` or text that encodes to UTF-8 (a lone
surrogate in a ``str`` crashes mmh3 5.3), hence :func:`_hashable`.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Callable, Iterable, Sequence

import mmh3
import numpy as np
import scipy.sparse as sp

_WHITESPACE_RUN = re.compile(r"\s\s+")
_WORD = re.compile(r"(?u)\b\w+\b")  # HashingVectorizer's token_pattern as qdup sets it
_DIGITS = re.compile(r"\d+")


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character ``low``..``high``-grams inside words padded with one space (sklearn's ``char_wb``).

    >>> char_wb_ngrams("Hi you", 2, 3)
    [' h', 'hi', 'i ', ' hi', 'hi ', ' y', 'yo', 'ou', 'u ', ' yo', 'you', 'ou ']
    """
    grams: list[str] = []
    for word in _WHITESPACE_RUN.sub(" ", text.lower()).split():
        word = f" {word} "
        size = len(word)
        for n in range(low, high + 1):
            if size <= n:  # a short word counts once, whole, and no longer n-grams follow
                grams.append(word)
                break
            grams += [word[i : i + n] for i in range(size - n + 1)]
    return grams


def words(text: str) -> list[str]:
    """Lower-cased words (``\\w+`` runs), as the word vectorizer saw them."""
    return _WORD.findall(text.lower())


def digit_runs(text: str) -> list[str]:
    """Runs of digits (``\\d+``)."""
    return _DIGITS.findall(text.lower())


def hashed_rows(texts: Sequence[str], analyzer: Callable[[str], list[str]], buckets: int,
                binary: bool) -> sp.csr_matrix:
    """``(len(texts), buckets)`` float32 CSR counts (``binary``: 1s) of each text's hashed features."""
    features = [_hashable(text, analyzer(text)) for text in texts]
    lengths = [len(f) for f in features]
    columns = hash_columns(chain.from_iterable(features), sum(lengths), buckets)
    keys = np.repeat(np.arange(len(texts), dtype=np.int64) * buckets, lengths) + columns
    keys.sort()  # rows in order, columns sorted within each, as scikit-learn's sum_duplicates leaves them
    first = np.ones(len(keys), bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    keys = keys[starts]
    rows, indices = np.divmod(keys, buckets)
    indptr = np.searchsorted(rows, np.arange(len(texts) + 1)).astype(np.int32)
    data = np.ones(len(keys), np.float32) if binary else np.diff(starts, append=len(first)).astype(np.float32)
    return sp.csr_matrix((data, indices.astype(np.int32), indptr), shape=(len(texts), buckets))


def hash_columns(features: Iterable[str | bytes], count: int, buckets: int) -> np.ndarray:
    """The column of each feature: ``abs(murmurhash3_32(utf8, seed=0)) % buckets`` (int64)."""
    hashes = np.fromiter(map(mmh3.hash, features), dtype=np.int64, count=count)
    return np.abs(hashes) % buckets  # int64: abs(-2**31) is exact, as sklearn defines it


def _hashable(text: str, features: list[str]) -> list[str] | list[bytes]:
    """``features`` as mmh3 may take them: as they are when ``text`` is valid UTF-8, else as bytes."""
    if text.isascii():
        return features
    try:
        text.encode("utf-8")
        return features
    except UnicodeEncodeError:  # lone surrogates (undecodable input): their UTF-8 bytes, as surrogatepass writes them
        return [f.encode("utf-8", "surrogatepass") for f in features]
