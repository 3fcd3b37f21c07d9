"""Features of a question pair for the re-ranker: the encoder's cosine next to lexical evidence.

Every feature is symmetric in the two questions (so ``score(a, b) == score(b, a)``) and
depends on the pair alone: nothing comes from how often a question occurs in a data set or
where it sits in a pair graph, which would not carry over to a user's forum.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .lexical import LexicalRows, LexicalStats

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
)
# More overlap never lowers the score and more missing evidence never raises it (LightGBM's
# monotone constraints): the re-ranker cannot learn a quirk such as "identical is suspicious".
MONOTONE = {"cosine": 1, "char_tfidf": 1, "word_tfidf": 1, "word_jaccard": 1, "idf_jaccard": 1,
            "max_missing_idf": -1, "min_missing_idf": -1, "number_mismatch": -1}


def pair_features(cosine: np.ndarray, a: LexicalRows, b: LexicalRows, stats: LexicalStats) -> np.ndarray:
    """``(n, len(FEATURES))`` float32 features of the aligned pairs ``a[i]``, ``b[i]``."""
    idf = stats.word_idf
    both = a.words.multiply(b.words).tocsr()  # (n, buckets): words on both sides
    n_a, n_b, n_both = _counts(a.words), _counts(b.words), _counts(both)
    w_a, w_b, w_both = a.words @ idf, b.words @ idf, both @ idf
    missing_a, missing_b = _max_missing(a.words, both, idf), _max_missing(b.words, both, idf)
    numbers_both = _counts(a.numbers.multiply(b.numbers).tocsr())
    numbers_a, numbers_b = _counts(a.numbers), _counts(b.numbers)
    idf2 = idf * idf  # binary words weighted by IDF, then unit rows: cosine = Σ idf² / norms
    word_tfidf = (both @ idf2) / np.sqrt(np.maximum((a.words @ idf2) * (b.words @ idf2), 1e-12))
    columns = [
        cosine,
        _row_dot(a.chars, b.chars),
        word_tfidf,
        n_both / np.maximum(n_a + n_b - n_both, 1),
        w_both / np.maximum(w_a + w_b - w_both, 1e-6),
        np.maximum(missing_a, missing_b),
        np.minimum(missing_a, missing_b),
        np.minimum(n_a, n_b),
        np.maximum(n_a, n_b),
        numbers_a + numbers_b - 2 * numbers_both,
        (numbers_a + numbers_b) > 0,
        a.first == b.first,
    ]
    return np.column_stack([np.asarray(c, dtype=np.float32) for c in columns])


def _counts(matrix: sp.csr_matrix) -> np.ndarray:
    return np.diff(matrix.indptr).astype(np.float32)


def _row_dot(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    return np.asarray(a.multiply(b).sum(axis=1), dtype=np.float32).ravel()


def _max_missing(words: sp.csr_matrix, both: sp.csr_matrix, idf: np.ndarray) -> np.ndarray:
    """Per row, the largest IDF among words of ``words`` that are not in ``both`` (0 if none)."""
    only = (words - both).tocsr()
    only.eliminate_zeros()
    if not only.nnz:
        return np.zeros(words.shape[0], np.float32)
    weighted = sp.csr_matrix((idf[only.indices], only.indices, only.indptr), shape=only.shape)
    return np.asarray(weighted.max(axis=1).todense(), dtype=np.float32).ravel()

