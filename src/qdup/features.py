"""From question text to the encoder's input tensors: word ids and character n-grams.

Character n-grams (fastText-style, hashed into a fixed number of buckets) give rare and
misspelled words a meaning: "pyhton" shares most of its n-grams with "python".
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from .vocabulary import Vocabulary, tokenize

MAX_NGRAM_WORD = 30  # characters of a word that yield n-grams; longer tails add noise, not meaning


@dataclass(frozen=True)
class Batch:
    """Padded input for :class:`qdup.network.SiameseEncoder`."""

    ids: torch.Tensor  # (B, T) word ids, 0 = padding
    lengths: torch.Tensor  # (B,) tokens per question, each >= 1
    ngrams: torch.Tensor | None = None  # (N,) flat n-gram bucket ids of the B*T token slots
    offsets: torch.Tensor | None = None  # (B*T,) start of each slot's n-grams in ``ngrams``


def ngram_buckets(token: str, buckets: int, n_min: int = 3, n_max: int = 5) -> tuple[int, ...]:
    """Stable hashed ids (1..buckets) of the character n-grams of ``<token>``.

    >>> ngram_buckets("cat", 1000, 3, 3) == ngram_buckets("cat", 1000, 3, 3)
    True
    """
    word = f"<{token[:MAX_NGRAM_WORD]}>"
    grams = {word[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(word) - n + 1)}
    # crc32, not hash(): Python's string hash changes between processes.
    return tuple(sorted(1 + zlib.crc32(g.encode("utf-8")) % buckets for g in grams))


class Featurizer:
    """Turns questions into :class:`Batch` es for one model configuration."""

    def __init__(self, vocabulary: Vocabulary, max_length: int, buckets: int = 0,
                 n_min: int = 3, n_max: int = 5):
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.buckets = buckets
        self._ngrams = lru_cache(maxsize=200_000)(
            lambda token: ngram_buckets(token, buckets, n_min, n_max))

    def row(self, text: str) -> tuple[list[int], list[tuple[int, ...]]]:
        """One question: word ids and, per token, its n-gram buckets. Empty → one [UNK]."""
        tokens = tokenize(text, self.vocabulary.lowercase)[: self.max_length] or ["[UNK]"]
        ids = [self.vocabulary.id(token) for token in tokens]
        grams = [self._ngrams(token) for token in tokens] if self.buckets else []
        return ids, grams

    def rows(self, texts: Sequence[str]) -> list:
        return [self.row(text) for text in texts]

    def collate(self, rows: Sequence) -> Batch:
        lengths = np.array([len(ids) for ids, _ in rows], dtype=np.int64)
        width = int(lengths.max(initial=1))
        ids = np.zeros((len(rows), width), dtype=np.int64)
        for i, (row_ids, _) in enumerate(rows):
            ids[i, : len(row_ids)] = row_ids
        batch = Batch(torch.from_numpy(ids), torch.from_numpy(lengths))
        if not self.buckets:
            return batch
        flat: list[int] = []
        offsets = np.zeros(len(rows) * width, dtype=np.int64)
        for i, (_, grams) in enumerate(rows):
            for t in range(width):
                offsets[i * width + t] = len(flat)
                if t < len(grams):
                    flat.extend(grams[t])
        return Batch(batch.ids, batch.lengths, torch.tensor(flat, dtype=torch.int64),
                     torch.from_numpy(offsets))

    def batch(self, texts: Sequence[str]) -> Batch:
        return self.collate(self.rows(texts))
