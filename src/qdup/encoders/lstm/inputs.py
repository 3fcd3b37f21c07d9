"""From question text to the encoder's input tensors: word ids and character n-grams.

Character n-grams (fastText-style, hashed into a fixed number of buckets) give rare and
misspelled words a meaning: "pyhton" shares most of its n-grams with "python".
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from typing import Sequence

import numpy as np
import torch

from ...util.threads import torch_loaded
from ...text.vocabulary import UNK, Vocabulary, pad, tokenize

torch_loaded()  # a --threads count given before torch was loaded takes effect now

MAX_NGRAM_WORD = 30  # characters of a word that yield n-grams; longer tails add noise, not meaning


@dataclass(frozen=True)
class Batch:
    """Padded input for :class:`qdup.encoders.lstm.network.SiameseEncoder`."""

    ids: torch.Tensor  # (B, T) word ids, 0 = padding
    lengths: torch.Tensor  # (B,) tokens per question, each >= 1
    ngrams: torch.Tensor | None = None  # (N,) flat n-gram bucket ids, token by token, row by row
    offsets: torch.Tensor | None = None  # (tokens,) start of each token's n-grams in ``ngrams``
    unknown_only: bool = False  # n-grams for the [UNK] tokens only (fused), else for every real token


def ngram_buckets(token: str, buckets: int, n_min: int = 3, n_max: int = 5) -> tuple[int, ...]:
    """Stable hashed ids (1..buckets) of the character n-grams of ``<token>``.

    >>> ngram_buckets("cat", 1000, 3, 3) == ngram_buckets("cat", 1000, 3, 3)
    True
    """
    word = f"<{token[:MAX_NGRAM_WORD]}>"
    grams = {word[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(word) - n + 1)}
    # crc32, not hash(): Python's string hash changes between processes. surrogatepass:
    # text with lone surrogates (undecodable input) still gets stable n-grams, not a crash.
    return tuple(sorted(1 + zlib.crc32(g.encode("utf-8", "surrogatepass")) % buckets for g in grams))


class Featurizer:
    """Turns questions into :class:`Batch` es for one model configuration.

    With ``fused`` only out-of-vocabulary tokens get n-grams: the encoder then looks known
    words up in a table that already holds word + n-gram embeddings (inference only).
    """

    def __init__(self, vocabulary: Vocabulary, max_length: int, buckets: int = 0,
                 n_min: int = 3, n_max: int = 5, device: str = "cpu", fused: bool = False,
                 lowercase: bool = False):
        self.vocabulary = vocabulary
        self.lowercase = lowercase  # the model's setting, as the vocabulary was built with it
        self.fused = fused
        self.device = torch.device(device)
        self.max_length = max_length
        self.buckets = buckets
        self._lookup = vocabulary.lookup  # hot path: one dict lookup per token
        self._ngrams = lru_cache(maxsize=200_000)(
            lambda token: ngram_buckets(token, buckets, n_min, n_max))

    def row(self, text: str) -> tuple[list[int], list[tuple[int, ...]]]:
        """One question: word ids and, per token, its n-gram buckets. Empty → one [UNK]."""
        tokens = self.tokens(text)
        ids = list(map(self._lookup, tokens, repeat(1)))
        if not self.buckets or (self.fused and 1 not in ids):
            return ids, ()
        if self.fused:
            return ids, [self._ngrams(token) for token, i in zip(tokens, ids) if i == 1]
        return ids, [self._ngrams(token) for token in tokens]

    def tokens(self, text: str) -> list[str]:
        """The tokens of one question, cut at ``max_length``; an empty question is ``[UNK]``."""
        return tokenize(text, self.lowercase)[: self.max_length] or [UNK]

    def word_ngrams(self, ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(flat buckets, offsets)`` of the vocabulary words ``ids``; padding and [UNK] get none."""
        tokens = self.vocabulary.tokens
        return self._flatten([self._ngrams(tokens[i]) if i >= 2 else () for i in ids])

    def _flatten(self, grams: Sequence[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        flat = np.fromiter(chain.from_iterable(grams), dtype=np.int64, count=int(counts.sum()))
        return torch.from_numpy(flat).to(self.device), torch.from_numpy(offsets).to(self.device)

    def rows(self, texts: Sequence[str]) -> list:
        return [self.row(text) for text in texts]

    def collate(self, rows: Sequence) -> Batch:
        """Pad a list of :meth:`row` results into one :class:`Batch`."""
        ids, lengths = pad([row_ids for row_ids, _ in rows])
        batch = Batch(torch.from_numpy(ids).to(self.device), torch.from_numpy(lengths).to(self.device))
        # Padding never gets n-grams; with `fused`, known words do not either.
        token_grams = [g for _, grams in rows for g in grams]
        if not token_grams:
            return batch
        flat, offsets = self._flatten(token_grams)
        return Batch(batch.ids, batch.lengths, flat, offsets, unknown_only=self.fused)

    def batch(self, texts: Sequence[str]) -> Batch:
        return self.collate(self.rows(texts))
