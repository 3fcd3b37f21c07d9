"""Text vectorization identical to the reference (SPEC §2).

Standardize by deleting ASCII punctuation (no lower-casing unless asked), split on ASCII
whitespace, map tokens to ids: 0 is padding, 1 is ``[UNK]``, then tokens by descending
count, ties broken by the token's UTF-8 bytes in descending order.
"""

from __future__ import annotations

import os
import re
import string
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..util import atomic
from ..errors import ModelLoadError

PAD = ""
UNK = "[UNK]"
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
# ASCII whitespace only, as the reference splitter; str.split() would also split on
# non-breaking and other Unicode spaces.
_WHITESPACE = re.compile(r"[ \t\n\r\x0b\x0c]+")


def tokenize(text: str, lowercase: bool = False) -> list[str]:
    """Standardize and split one question.

    >>> tokenize("How do I prepare for interviews for cse?")
    ['How', 'do', 'I', 'prepare', 'for', 'interviews', 'for', 'cse']
    """
    text = text.translate(_DELETE_PUNCTUATION)
    if lowercase:
        text = text.lower()
    return [token for token in _WHITESPACE.split(text) if token]


def pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists with 0: ``(ids (B, T) int64, lengths (B,) int64)``."""
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    ids = np.zeros((len(rows), int(lengths.max(initial=1))), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids, lengths


class Vocabulary:
    """Token ↔ id mapping. ``tokens[0]`` is padding, ``tokens[1]`` is ``[UNK]``.

    >>> vocab = Vocabulary.build(["How do I learn Python?", "How do I learn?"])
    >>> vocab.tokens[:4]
    ['', '[UNK]', 'learn', 'do']
    >>> [vocab.lookup(token, 1) for token in tokenize("learn Python fast")]  # 1: unknown
    [2, 6, 1]
    """

    def __init__(self, tokens: Sequence[str]):
        if len(tokens) < 2 or tokens[0] != PAD or tokens[1] != UNK:
            raise ValueError("a vocabulary starts with the padding token '' and '[UNK]'")
        self.tokens = list(tokens)
        self._ids = {token: i for i, token in enumerate(self.tokens)}
        self.lookup = self._ids.get  # lookup(token, 1): the id, or 1 for an unknown token

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, texts: Iterable[str], lowercase: bool = False, min_count: int = 1) -> "Vocabulary":
        """Learn a vocabulary from ``texts`` (the reference uses Q1 ∪ Q2 of the training pool).

        ``lowercase`` must be the model's setting (``ModelConfig.lowercase``, its one owner):
        the featurizer tokenizes questions the same way when it looks them up.
        """
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text, lowercase))
        kept = [(token, n) for token, n in counts.items() if n >= min_count]
        kept.sort(key=lambda item: (item[1], item[0].encode("utf-8")), reverse=True)
        return cls([PAD, UNK] + [token for token, _ in kept])

    def save(self, path: str | os.PathLike) -> None:
        """One token per line; line 1 is the empty padding token. Tokens never hold '\\n'."""
        atomic.write_text(path, "\n".join(self.tokens) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ModelLoadError(f"{path}: cannot read vocabulary ({error})") from None
        # split("\n"), not splitlines(): tokens may hold other Unicode line separators.
        tokens = text.split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        try:
            return cls(tokens)
        except ValueError as error:
            raise ModelLoadError(f"{path}: not a qdup vocabulary ({error})") from None
