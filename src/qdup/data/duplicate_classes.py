"""Which questions a file's labels make duplicates of each other: labelled duplicates,
transitively (A = B and B = C make A = C), as classes of a union-find over the texts."""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np


class DuplicateClasses:
    """The classes of ``pairs``' duplicate labels (non-duplicates link nothing).

    >>> classes = DuplicateClasses(qdup.pairs_from_lists(["A one?", "B two?"], ["B two?", "C three?"], [1, 1]))
    >>> classes.same("A one?", "C three?"), classes.same("a one", "A one?"), classes.same("A one?", "D four?")
    (True, True, False)
    >>> classes.ids(["A one?", "C three?", "D four?", "D four?"]).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, pairs) -> None:
        self._parent: dict[str, str] = {}
        self._ids: dict[str, int] = {}
        for a, b, duplicate in zip(pairs.question1, pairs.question2, pairs.is_duplicate):
            if duplicate and self.root(a) != self.root(b):
                self._parent[self.root(a)] = self.root(b)

    def root(self, text: str) -> str:
        """The text that stands for ``text``'s class (surrounding spaces aside)."""
        x = text.strip()
        while self._parent.get(x, x) != x:
            self._parent[x] = self._parent.get(self._parent[x], self._parent[x])  # halve the path
            x = self._parent[x]
        return x

    def same(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are duplicates by the labels, or equal up to case and punctuation."""
        return self.root(a) == self.root(b) or _plain(a) == _plain(b)

    def ids(self, texts: Iterable[str]) -> np.ndarray:
        """A class number per text: equal for texts of one class (stable across calls)."""
        return np.array([self._ids.setdefault(self.root(t), len(self._ids)) for t in texts], dtype=np.int64)


def _plain(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def implied_duplicates(pairs, share: float, rng: np.random.Generator):
    """``pairs`` followed by duplicate pairs their labels imply but do not hold (A = B and
    B = C: A = C), at most ``share`` times as many per class as the class has labelled
    duplicates (a seeded draw; qqp-partial's training pool implies 12,574 beside its 9,299,
    a quarter of them in its largest class).

    >>> pairs = qdup.pairs_from_lists(["a", "b", "x"], ["b", "c", "y"], [1, 1, 1])
    >>> more = implied_duplicates(pairs, 1.0, np.random.default_rng(0))
    >>> list(zip(more.question1, more.question2))[3:], more.is_duplicate.tolist()
    ([('a', 'c')], [1, 1, 1, 1])
    """
    from .pairs import pairs_from_lists

    classes = DuplicateClasses(pairs)
    members: dict[int, dict[str, None]] = {}  # each class's texts, in the order first met
    labelled: dict[int, set[frozenset]] = {}
    for a, b, duplicate in zip(pairs.question1, pairs.question2, pairs.is_duplicate):
        if duplicate:
            (number,) = classes.ids([a])
            members.setdefault(number, {}).update(dict.fromkeys((a.strip(), b.strip())))
            labelled.setdefault(number, set()).add(frozenset((a.strip(), b.strip())))
    first, second = [], []
    for number, texts in ((n, list(t)) for n, t in members.items()):
        implied = [(x, y) for i, x in enumerate(texts) for y in texts[i + 1 :]
                   if frozenset((x, y)) not in labelled[number]]
        budget = min(len(implied), int(share * len(labelled[number])))
        for n in sorted(rng.choice(len(implied), budget, replace=False).tolist()) if budget else ():
            first.append(implied[n][0])
            second.append(implied[n][1])
    return pairs_from_lists(pairs.question1 + first, pairs.question2 + second,
                            np.concatenate([pairs.is_duplicate, np.ones(len(first), dtype=np.int8)]))
