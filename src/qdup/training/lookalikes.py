"""Look-alike questions made from the training pool, to learn that they are not duplicates.

"Divorce in Nepal?" and "Divorce in Armenia?" share every word but the one that matters. The
labelled pairs hold few such pairs, so a model learns that sharing nearly every word means
"duplicate". Look-alikes are made here from the pool's own questions, with no list of
entities: one *name-like* word (written with a capital inside sentences in most of its
pool mentions, :mod:`qdup.text.names`) is swapped for another name of the same kind, or one
number for another of the same shape (a year for a nearby year, a number for another of as
many digits). Names of a kind are found as a distributional thesaurus finds them: they
appear between the same words ("visa for Nepal", "visa for Laos"), so a name's nearest
names by the TF-IDF cosine of the words around its pool mentions are mostly of its kind
(Nepal: Andorra, Laos, Estonia; Python: Java, JavaScript; English: Spanish, Hindi).

Swapping the same word in both questions of a duplicate pair keeps them duplicates ("Is
Nepal safe?" / "Is it safe to travel to Nepal?" → both about Armenia), while each
swapped question and the other's original are look-alikes that are not: the pairs teach
that the swapped word must match, not that names are suspicious.

A name is often more than one word ("Donald Trump", "Rahul Gandhi", "New Zealand"). With
``max_words`` above 1, runs of name-like words written next to each other and found in the
pool at least :data:`MIN_MENTIONS` times are names too, swapped as one ("Does Bill Gates
believe...?" → "Does Narendra Modi believe...?"): a one-word swap cannot make the two-word
difference such questions show, and a re-ranker that never saw one judged 31% of them
duplicates (docs/benchmarks.md, issue 18). A word inside a longer name is neither swapped nor
replaced alone, and a replacement shares no word with the questions ("Trump" for "Donald
Trump" is the same person; "Twitter" for "Google AdSense" in "Will Google buy Twitter?" is
no question). A word found only inside longer names has no contexts of its own: no name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np
import scipy.sparse as sp

from ..data.pairs import Pairs
from ..text.hashing import WORD
from ..text.names import word_counts

NAME_LIKENESS = 0.5  # a word capitalised in at least this share of its inner mentions is a name
MIN_MENTIONS = 2     # ... and mentioned at least this often (one mention says little)
NEIGHBOURS = 10      # a name is swapped for one of its nearest names
YEARS = (1900, 2099)
YEAR_SHIFT = 10      # a year becomes another within this many years
MAX_DIGITS = 4       # longer digit runs (phone numbers, prices) are not swapped
CHUNK = 1024         # names whose neighbours are found at once: a (1024, names) block of cosines


@dataclass(frozen=True)
class Swap:
    """One name (one word, or several with ``max_words``) or number of a question, and what replaces it."""

    word: str         # as written in the question
    replacement: str  # written the way the question wrote ``word`` (lower case stays lower)


class Lookalikes:
    """Makes look-alike questions by one swap (:meth:`swap`, :meth:`swap_pair`, :meth:`swap_firsts`, :meth:`apply`).

    ``names``: the pool's names (name-like words, and runs of them when made with
    ``max_words``) as they are usually written; ``neighbours[i]``: the rows of ``names`` that
    may replace name ``i`` (its nearest names).
    """

    def __init__(self, names: Sequence[str], neighbours: np.ndarray) -> None:
        if len(neighbours) != len(names):
            raise ValueError("one row of neighbours per name")
        self.names = list(names)
        self.neighbours = neighbours
        self._row = {_key(name): n for n, name in enumerate(self.names)}
        self._spans = {key for key in self._row if " " in key}  # the names of several words
        self._longest = _most_words(self._spans)

    @classmethod
    def from_pool(cls, questions: Sequence[str], neighbours: int = NEIGHBOURS, max_words: int = 1) -> "Lookalikes":
        """The name-like words of ``questions`` (and, up to ``max_words``, the runs of them
        written next to each other, :func:`name_runs`), each with its ``neighbours`` nearest
        names by the words around them (:func:`contexts`)."""
        if max_words < 1:
            raise ValueError(f"max_words must be at least 1, got {max_words}")
        counts = word_counts(questions)
        names = [c.form for word, c in counts.items() if len(word) > 1 and c.mentions >= MIN_MENTIONS
                 and c.capitalised >= NAME_LIKENESS * c.mentions and not any(ch.isdigit() for ch in word)]
        if max_words > 1:
            names += name_runs(questions, {n.lower() for n in names}, max_words)
        rows = contexts(questions, [_key(n) for n in names], {_key(n) for n in names if " " in n})
        seen = np.diff(rows.indptr) > 0  # all of them unless a word only occurs inside longer names
        if not seen.all():
            names, rows = [n for n, ok in zip(names, seen) if ok], rows[seen]
        return cls(names, nearest(rows, neighbours))

    def swappable(self, question: str) -> list[str]:
        """The names (as written) and numbers of ``question`` that a swap may replace, in
        order, each once; a word inside a longer name is not one by itself."""
        seen, out = set(), []
        for key, written in name_tokens(question, self._spans, self._longest):
            if key not in seen and (self._is_number(written) or key in self._row):
                seen.add(key)
                out.append(written)
        return out

    def swap(self, question: str, rng: np.random.Generator) -> Swap | None:
        """A swap of one of ``question``'s names or numbers, chosen at random (None: nothing to swap)."""
        return self._pick(self.swappable(question), question, rng)

    def swap_pair(self, question1: str, question2: str, rng: np.random.Generator) -> Swap | None:
        """A swap of a name or number both questions have (the same replacement fits both)."""
        other = {_key(w) for w in self.swappable(question2)}
        return self._pick([w for w in self.swappable(question1) if _key(w) in other],
                          question1 + " " + question2, rng)

    def swap_firsts(self, pairs: Pairs, share: float, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        """For ``share`` of ``pairs`` (drawn at random), the first question with a name or
        number both questions have swapped (:meth:`swap_pair`): the pairs' indices and the
        swapped texts."""
        indices, texts = [], []
        for n, (q, d) in enumerate(zip(pairs.question1, pairs.question2)):
            if rng.random() < share:
                swap = self.swap_pair(q, d, rng)
                if swap is not None:
                    indices.append(n)
                    texts.append(self.apply(q, swap))
        return np.array(indices, dtype=np.int64), texts

    def apply(self, question: str, swap: Swap) -> str:
        """``question`` with every whole-word mention of ``swap.word`` (any case) replaced,
        lower case for a mention written in lower case; with names of several words, every
        token (:func:`name_tokens`) that is ``swap.word``, so "India" in "India Gate" stays."""
        def replaced(written: str) -> str:
            return swap.replacement.lower() if written.islower() else swap.replacement

        if not self._spans:  # one-word names: the look-alikes the built-in model was trained with, as they were
            return re.sub(rf"(?<!\w){re.escape(swap.word)}(?!\w)", lambda found: replaced(found.group(0)),
                          question, flags=re.IGNORECASE)
        target, pieces, last = _key(swap.word), [], 0
        for key, start, end in _token_spans(question, self._spans, self._longest):
            if key == target:
                pieces += [question[last:start], replaced(question[start:end])]
                last = end
        return "".join(pieces) + question[last:]

    def _pick(self, words: list[str], context: str, rng: np.random.Generator) -> Swap | None:
        order = rng.permutation(len(words)) if words else []
        present = set(WORD.findall(context.lower()))  # the questions' words: no replacement shares one
        for n in order:
            replacement = self._replacement(words[n], present, rng)
            if replacement is not None:
                return Swap(words[n], replacement)
        return None

    def _replacement(self, word: str, present: set[str], rng: np.random.Generator) -> str | None:
        if self._is_number(word):
            shaped = _numbers_like(int(word), len(word))
            choices = [str(shaped[i]) for i in rng.choice(len(shaped), min(len(shaped), 8), replace=False)]
        else:
            choices = [self.names[r] for r in self.neighbours[self._row[_key(word)]]]
        # Not a name the questions hold, nor one sharing a word with them ("Trump" → "Donald Trump").
        choices = [c for c in choices if present.isdisjoint(_key(c).split())]
        return choices[rng.integers(len(choices))] if choices else None

    @staticmethod
    def _is_number(word: str) -> bool:
        return word.isdigit() and word.isascii() and len(word) <= MAX_DIGITS


def _key(name: str) -> str:
    """How a name is looked up: lower case, its words one space apart."""
    return " ".join(name.lower().split())


def _most_words(spans: Collection[str]) -> int:
    """The most words of a name of ``spans`` (1 without any)."""
    return max((span.count(" ") + 1 for span in spans), default=1)


def name_tokens(question: str, spans: Collection[str] = (), longest: int = 1) -> list[tuple[str, str]]:
    """``(key, as written)`` per word of ``question``, where up to ``longest`` words written
    next to each other (only spaces between) that form a name of ``spans`` (lower case,
    one space apart) are one token, the longest first.

    >>> name_tokens("Is Bill  Gates rich?", {"bill gates"}, 2)
    [('is', 'Is'), ('bill gates', 'Bill  Gates'), ('rich', 'rich')]
    """
    if longest == 1:  # one word a token (as before names of several words): no positions needed
        return [(word.lower(), word) for word in WORD.findall(question)]
    return [(key, question[start:end]) for key, start, end in _token_spans(question, spans, longest)]


def _token_spans(question: str, spans: Collection[str], longest: int) -> list[tuple[str, int, int]]:
    """:func:`name_tokens` as ``(key, start, end)``: where each token is written."""
    words = list(WORD.finditer(question))
    out, i = [], 0
    while i < len(words):
        size = 1
        for n in range(min(longest, len(words) - i), 1, -1):
            run = words[i : i + n]
            if all(_together(question, a, b) for a, b in zip(run, run[1:])) \
                    and " ".join(w.group(0).lower() for w in run) in spans:
                size = n
                break
        start, end = words[i].start(), words[i + size - 1].end()
        out.append((_key(question[start:end]), start, end))
        i += size
    return out


def _together(question: str, first: re.Match, second: re.Match) -> bool:
    """Whether two words of ``question`` are written next to each other, only spaces between:
    one rule for finding names of several words in the pool and in a question."""
    return question[first.end() : second.start()].isspace()


def name_runs(questions: Sequence[str], names: set[str], max_words: int) -> list[str]:
    """Names of 2 to ``max_words`` words: runs of words of ``names`` (lower case) written
    next to each other, each run whole (in "President Donald Trump" only the three words),
    found at least :data:`MIN_MENTIONS` times; each in its most common form, sorted.

    >>> name_runs(["Is Bill Gates rich?", "Why is Bill Gates rich?", "Bill, Gates?"], {"bill", "gates"}, 3)
    ['Bill Gates']
    """
    forms: dict[str, Counter] = {}
    for question in questions:
        words = list(WORD.finditer(question))
        run: list[re.Match] = []
        for word in [*words, None]:
            joined = word is not None and bool(run) and _together(question, run[-1], word)
            if word is not None and word.group(0).lower() in names and (joined or not run):
                run.append(word)
                continue
            if 2 <= len(run) <= max_words:
                written = " ".join(w.group(0) for w in run)
                forms.setdefault(written.lower(), Counter())[written] += 1
            run = [word] if word is not None and word.group(0).lower() in names else []
    return sorted((max(sorted(c), key=c.get) for c in forms.values() if sum(c.values()) >= MIN_MENTIONS), key=_key)


def contexts(questions: Sequence[str], words: list[str], spans: Collection[str] = ()) -> sp.csr_matrix:
    """``(len(words), contexts)`` unit rows: the TF-IDF of what surrounds each (lower-cased)
    word or name of ``spans`` in ``questions`` (:func:`name_tokens`): the token before it, the
    token after, and both pairs of tokens."""
    row = {w: n for n, w in enumerate(words)}
    longest = _most_words(spans)
    columns: dict[str, int] = {}
    rows, cols = [], []
    for question in questions:
        seq = ["^", *(key for key, _ in name_tokens(question, spans, longest)), "$"]
        for i in range(1, len(seq) - 1):
            if seq[i] in row:
                for context in ("<" + seq[i - 1], ">" + seq[i + 1],
                                "<<" + " ".join(seq[max(0, i - 2) : i]), ">>" + " ".join(seq[i + 1 : i + 3])):
                    rows.append(row[seq[i]])
                    cols.append(columns.setdefault(context, len(columns)))
    counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(words), len(columns)))
    return sublinear_tfidf(counts)


def sublinear_tfidf(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``(1 + log tf) * idf`` with the smoothed IDF ``log((1 + n) / (1 + df)) + 1``, unit rows:
    scikit-learn's ``TfidfTransformer(sublinear_tf=True)`` in float32, without scikit-learn."""
    counts = counts.tocsr(copy=True).astype(np.float32)
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log(np.float32(1 + counts.shape[0]) / (df.astype(np.float32) + 1)) + np.float32(1)
    counts.data = (np.log(counts.data) + np.float32(1)) * idf[counts.indices]
    return _unit_rows(_unit_rows(counts))  # twice, as the version the recipe was chosen with did


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows divided by their L2 norm (float32 squares summed in float64; rows of zeros stay zeros)."""
    lengths = np.diff(matrix.indptr)
    squares = (matrix.data * matrix.data).astype(np.float64)
    norms = np.sqrt(np.bincount(np.repeat(np.arange(len(lengths)), lengths), squares, minlength=len(lengths)))
    norms[norms == 0] = 1.0
    matrix.data = (matrix.data / np.repeat(norms, lengths)).astype(np.float32)
    return matrix


def nearest(rows: sp.csr_matrix, k: int) -> np.ndarray:
    """Per row, the ``k`` other rows of highest cosine, best first (ties by row)."""
    k = min(k, rows.shape[0] - 1)
    out = np.zeros((rows.shape[0], max(k, 0)), dtype=np.int64)
    for start in range(0, rows.shape[0] if k > 0 else 0, CHUNK):
        block = (rows[start : start + CHUNK] @ rows.T).toarray()  # (chunk, rows)
        block[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf  # not itself
        out[start : start + len(block)] = np.argsort(-block, axis=1, kind="stable")[:, :k]
    return out


def _numbers_like(value: int, digits: int) -> list[int]:
    """Numbers of the same shape: a nearby year for a year, else as many digits."""
    if digits == 4 and YEARS[0] <= value <= YEARS[1]:
        return [value + d for d in range(-YEAR_SHIFT, YEAR_SHIFT + 1) if d and YEARS[0] <= value + d <= YEARS[1]]
    low = 1 if digits == 1 else 10 ** (digits - 1)
    return [v for v in range(low, 10**digits) if v != value]
