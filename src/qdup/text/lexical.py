"""The lexical side of a question: hashed character n-grams and words, weighted by IDF.

An encoder's cosine blurs what a reader sees at once: a shared rare word, a different
number, another product name. These sparse rows keep it. Hashing (scikit-learn's
``HashingVectorizer``) needs no vocabulary, so a word never seen in training still
counts; IDF is learned once from the training questions and stored with the model, so a
question's row never changes when an index grows or shrinks.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ModelLoadError
from ..util.progress import bar
from .hashing import char_wb_columns, digit_runs, feature_columns, hashed_rows, words
from .sparse import SparseRows

BUCKETS = 2**20  # hashed features per vectorizer; collisions are rare at this size
NUMBER_BUCKETS = 2**16
CHAR_NGRAMS = (2, 4)
ROWS_CHUNK = 65_536  # questions hashed at a time


# Stateless: the same text always hashes to the same columns, in any process.
def _char_counts(questions: Sequence[str]) -> SparseRows:
    return hashed_rows(questions, lambda q: char_wb_columns(q, *CHAR_NGRAMS, BUCKETS), BUCKETS, binary=False)


def _word_rows(questions: Sequence[str]) -> SparseRows:
    return hashed_rows(questions, lambda q: feature_columns(words(q), BUCKETS), BUCKETS, binary=True)


def _number_rows(questions: Sequence[str]) -> SparseRows:
    return hashed_rows(questions, lambda q: feature_columns(digit_runs(q), NUMBER_BUCKETS), NUMBER_BUCKETS,
                       binary=True)


@dataclass(frozen=True, eq=False)  # compared and cached by identity: its matrices are large
class LexicalRows:
    """Sparse lexical rows of ``n`` questions (CSR, one row per question)."""

    chars: SparseRows    # (n, BUCKETS) log(1 + tf) * idf of char 2-4-grams, unit rows
    words: SparseRows    # (n, BUCKETS) 1 where the question has the (hashed, lower-cased) word
    numbers: SparseRows  # (n, NUMBER_BUCKETS) 1 where it has the digit run
    first: np.ndarray       # (n,) int64 hash of the first word ("how", "what", ...)

    def __len__(self) -> int:
        return len(self.first)

    def take(self, rows: np.ndarray) -> "LexicalRows":
        rows = np.asarray(rows, dtype=np.int64)
        return LexicalRows(self.chars.take(rows), self.words.take(rows), self.numbers.take(rows), self.first[rows])

    @staticmethod
    def stack(parts: list["LexicalRows"], consume: bool = False,
              keep: list[np.ndarray | None] | None = None) -> "LexicalRows":
        """The rows of ``parts``, one after another; ``consume``: ``parts`` is emptied as they are
        copied; ``keep``: per part, a boolean mask of the rows to take (:meth:`SparseRows.stack`)."""
        kinds = {kind: [getattr(p, kind) for p in parts] for kind in ("chars", "words", "numbers")}
        keep = keep or [None] * len(parts)
        first = np.concatenate([p.first if k is None else p.first[k] for p, k in zip(parts, keep)])
        if consume:
            parts.clear()
        stacked = (SparseRows.stack(kinds.pop(kind), consume, keep) for kind in ("chars", "words", "numbers"))
        return LexicalRows(*stacked, first)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (loading them never runs code)."""
        out = {"first": self.first}
        for name in ("chars", "words", "numbers"):
            matrix = getattr(self, name)
            out[f"{name}_indptr"], out[f"{name}_indices"] = matrix.indptr, matrix.indices
            if name == "chars":  # words and numbers are binary: their values are all 1
                out["chars_data"] = matrix.data
        return out

    @staticmethod
    def from_arrays(arrays) -> "LexicalRows":
        n = len(arrays["first"])

        def csr(name: str, columns: int) -> SparseRows:
            indices, indptr = arrays[f"{name}_indices"], arrays[f"{name}_indptr"]
            data = arrays["chars_data"] if name == "chars" else np.ones(len(indices), np.float32)
            return SparseRows.checked(data, indices, indptr, n, columns)

        return LexicalRows(csr("chars", BUCKETS), csr("words", BUCKETS), csr("numbers", NUMBER_BUCKETS),
                           np.asarray(arrays["first"], dtype=np.int64))


class LexicalStats:
    """IDF of hashed char n-grams and words, learned from a set of questions."""

    def __init__(self, char_idf: np.ndarray, word_idf: np.ndarray) -> None:
        for name, idf in (("char_idf", char_idf), ("word_idf", word_idf)):
            if idf.shape != (BUCKETS,) or not np.isfinite(idf).all():
                raise ModelLoadError(f"lexical {name} must hold {BUCKETS} finite values")
        self.char_idf = np.asarray(char_idf, dtype=np.float32)
        self.word_idf = np.asarray(word_idf, dtype=np.float32)

    @classmethod
    def fit(cls, questions: Sequence[str]) -> "LexicalStats":
        """Smoothed IDF, ``log((1 + n) / (1 + df)) + 1``, as scikit-learn's TfidfTransformer."""
        return cls(_idf(_char_counts(questions)), _idf(_word_rows(questions)))

    def rows(self, questions: Sequence[str], progress: bool = False) -> LexicalRows:
        if len(questions) > ROWS_CHUNK:  # bounds the hashing's temporary arrays (a million questions: ~3 GB at once)
            starts = bar(range(0, len(questions), ROWS_CHUNK), "lexical rows", "part", enabled=progress)
            return LexicalRows.stack([self.rows(questions[s : s + ROWS_CHUNK]) for s in starts], consume=True)
        chars = _char_counts(questions)
        np.log1p(chars.data, out=chars.data)
        np.multiply(chars.data, self.char_idf[chars.indices], out=chars.data)
        chars = _unit_rows(chars)
        first = np.array([_first_word_hash(q) for q in questions], dtype=np.int64)
        return LexicalRows(chars, _word_rows(questions), _number_rows(questions), first)

    def to_tensors(self) -> dict[str, np.ndarray]:
        """Only the buckets seen in training; every other bucket has the largest IDF."""
        out = {}
        for name in ("char_idf", "word_idf"):
            idf = getattr(self, name)
            unseen = idf.max()
            seen = np.flatnonzero(idf != unseen).astype(np.int32)  # BUCKETS < 2**31
            out[f"{name}.buckets"], out[f"{name}.values"] = seen, idf[seen]
            out[f"{name}.unseen"] = np.array([unseen], dtype=np.float32)
        return out

    def digest(self) -> bytes:
        """sha256 of the tables: equal digests, equal lexical rows for every question."""
        return tensors_digest(self.to_tensors())

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> "LexicalStats":
        arrays = {}
        try:
            for name in ("char_idf", "word_idf"):
                idf = np.full(BUCKETS, float(tensors[f"{name}.unseen"][0]), dtype=np.float32)
                buckets = tensors[f"{name}.buckets"]
                if buckets.size and (buckets.min() < 0 or buckets.max() >= BUCKETS):
                    raise ValueError(f"{name} bucket out of range")
                idf[buckets] = tensors[f"{name}.values"]
                arrays[name] = idf
        except (KeyError, IndexError, ValueError) as error:
            raise ModelLoadError(f"lexical statistics are incomplete or corrupt ({error})") from None
        return cls(**arrays)


def tensors_digest(tensors: dict[str, np.ndarray]) -> bytes:
    """sha256 of named arrays' bytes, in name order (what a model's fingerprint hashes of its tables)."""
    return hashlib.sha256(b"".join(tensors[k].tobytes() for k in sorted(tensors))).digest()


def word_buckets(words: Sequence[str]) -> np.ndarray:
    """The column of each single (lower-cased) word in :attr:`LexicalRows.words`: where
    per-word statistics beside the IDF (:mod:`qdup.text.names`) store their values."""
    matrix = _word_rows(list(words))
    if np.any(np.diff(matrix.indptr) != 1):
        raise ValueError("word_buckets takes single words")
    return matrix.indices.astype(np.int64)


def _idf(counts: SparseRows) -> np.ndarray:
    df = np.bincount(counts.indices, minlength=counts.width)
    return (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)


def _unit_rows(matrix: SparseRows) -> SparseRows:
    lengths = np.diff(matrix.indptr)
    norms = np.sqrt(np.bincount(np.repeat(np.arange(len(lengths)), lengths), matrix.data.astype(np.float64) ** 2,
                                minlength=len(lengths)))
    np.divide(matrix.data, np.repeat(np.maximum(norms, 1e-12), lengths).astype(matrix.data.dtype), out=matrix.data)
    return matrix


def _first_word_hash(question: str) -> int:
    words = question.lower().split(maxsplit=1)
    return zlib.crc32(words[0].encode("utf-8", "replace")) if words else 0
