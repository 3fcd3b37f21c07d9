"""How name-like a word is: learnt from how a set of questions writes it.

"Divorce in Nepal?" and "Divorce in Armenia?" differ in one word, and that word is a name:
two questions that name different places, people, products or languages are rarely
duplicates, where two that differ in "do" and "can" often are. Which words are names needs
no list: inside a sentence, people write names with a capital letter ("Nepal", "iPhone",
"Python") and other words without. So a word's *name-likeness* is the share of its
mentions, anywhere but at the start of a sentence, that carry a capital letter, counted
over the training questions and stored per hashed word (the columns of
:attr:`qdup.text.lexical.LexicalRows.words`), sparsely as the IDF is.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..errors import ModelLoadError
from .hashing import WORD  # the words of LexicalRows.words
from .lexical import BUCKETS, word_buckets

SENTENCE_END = re.compile(r"[.?!:;]\s")


@dataclass(frozen=True)
class WordCount:
    """How a set of questions writes one (lower-cased) word inside sentences."""

    mentions: int     # times it occurs anywhere but first in a sentence
    capitalised: int  # of those, times written with a capital letter
    form: str         # its most common way of being written ("iPhone", "Nepal", "tea")


def inner_words(question: str) -> Iterator[str]:
    """The words of ``question`` as written, except the first word of each sentence (whose
    capital says nothing about the word).

    >>> list(inner_words("How do I visit Nepal? Is it safe in May"))
    ['do', 'I', 'visit', 'Nepal', 'it', 'safe', 'in', 'May']
    """
    start = 0
    for end in [m.end() for m in SENTENCE_END.finditer(question)] + [len(question)]:
        yield from WORD.findall(question[start:end])[1:]
        start = end


def word_counts(questions: Sequence[str]) -> dict[str, WordCount]:
    """Per lower-cased word (digits excluded): its inner mentions, how many are capitalised,
    and its most common written form. Sorted by word, so the result is the same however the
    questions are ordered."""
    forms: Counter = Counter()
    for question in questions:
        # A form whose lower case is no longer one word ("İstanbul": "i" + a combining dot +
        # "stanbul") has no word bucket of its own: left out.
        forms.update(w for w in inner_words(question) if not w.isdigit() and WORD.fullmatch(w.lower()))
    out: dict[str, list] = {}
    for form, n in sorted(forms.items()):
        entry = out.setdefault(form.lower(), [0, 0, form, 0])
        entry[0] += n
        entry[1] += n if form != form.lower() else 0
        if n > entry[3]:
            entry[2], entry[3] = form, n
    return {word: WordCount(m, c, f) for word, (m, c, f, _) in sorted(out.items())}


class NameStats:
    """Name-likeness per hashed word: ``capitalised / (mentions + 1)`` (so a word seen once,
    capitalised, is 0.5 and one always capitalised tends to 1; one-letter words 0); words never seen inside a
    sentence get ``unseen``, the mean name-likeness of the words mentioned once (a new word
    is as likely a name as the rare words of the training questions were).

    >>> stats = NameStats.fit(["Is Nepal safe?", "Why is Nepal cold?", "is it cold in Nepal"])
    >>> [round(float(x), 2) for x in stats.of(["nepal", "cold"])]
    [0.75, 0.0]
    """

    def __init__(self, likeness: np.ndarray, unseen: float) -> None:
        if likeness.shape != (BUCKETS,) or not np.all((likeness >= 0) & (likeness <= 1)):
            raise ModelLoadError(f"name statistics must hold {BUCKETS} values in [0, 1]")
        self.likeness = np.asarray(likeness, dtype=np.float32)
        self.unseen = float(unseen)

    @classmethod
    def fit(cls, questions: Sequence[str]) -> "NameStats":
        counts = word_counts(questions)
        once = [c.capitalised / 2 for c in counts.values() if c.mentions == 1]
        unseen = float(np.float32(np.mean(once))) if once else 0.0
        likeness = np.full(BUCKETS, unseen, dtype=np.float32)
        if counts:
            # One letter ("I", "a", "A-level"'s "A") is no name, however it is written.
            values = np.array([c.capitalised / (c.mentions + 1) if len(w) > 1 else 0.0 for w, c in counts.items()],
                              dtype=np.float32)
            likeness[word_buckets(list(counts))] = values  # a hash collision keeps the later word's value
        return cls(likeness, unseen)

    @classmethod
    def empty(cls) -> "NameStats":
        """No word is name-like (a model saved before these statistics existed)."""
        return cls(np.zeros(BUCKETS, dtype=np.float32), 0.0)

    def of(self, words: Sequence[str]) -> np.ndarray:
        """The name-likeness of each (single) word."""
        return self.likeness[word_buckets(words)]

    def to_tensors(self) -> dict[str, np.ndarray]:
        """Only the buckets of words seen in training; the rest share ``unseen``."""
        seen = np.flatnonzero(self.likeness != np.float32(self.unseen)).astype(np.int32)
        return {"name.buckets": seen, "name.values": self.likeness[seen],
                "name.unseen": np.array([self.unseen], dtype=np.float32)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> "NameStats":
        """From :meth:`to_tensors`."""
        try:
            unseen = float(tensors["name.unseen"][0])
            buckets = tensors["name.buckets"]
            if buckets.size and (buckets.min() < 0 or buckets.max() >= BUCKETS):
                raise ValueError("name bucket out of range")
            likeness = np.full(BUCKETS, unseen, dtype=np.float32)
            likeness[buckets] = tensors["name.values"]
        except (KeyError, IndexError, ValueError) as error:
            raise ModelLoadError(f"name statistics are incomplete or corrupt ({error})") from None
        return cls(likeness, unseen)
