"""Name-likeness of words, learnt from how questions write them (qdup.text.names)."""

import numpy as np
import pytest

from qdup.errors import ModelLoadError
from qdup.text.lexical import BUCKETS, word_buckets
from qdup.text.names import NameStats, inner_words, word_counts

QUESTIONS = [
    "Is Nepal safe for tourists?",
    "What is the best time to visit Nepal?",
    "how cold is nepal in winter",
    "Nepal or Laos: which is cheaper?",  # first in its sentence: says nothing about "Nepal"
    "Should I learn Python or Java first?",
    "Is an iPhone worth it? What about Android phones",
]


def test_inner_words_skip_the_first_word_of_each_sentence():
    assert list(inner_words("Nepal or Laos: which is cheaper?")) == ["or", "Laos", "is", "cheaper"]
    assert list(inner_words("Is an iPhone worth it? What about Android phones")) == [
        "an", "iPhone", "worth", "it", "about", "Android", "phones"]
    assert list(inner_words("")) == []


def test_word_counts_by_hand():
    counts = word_counts(QUESTIONS)
    nepal = counts["nepal"]  # 2 capitalised inner mentions, 1 lower-case; its first place does not count
    assert (nepal.mentions, nepal.capitalised, nepal.form) == (3, 2, "Nepal")
    assert (counts["iphone"].capitalised, counts["iphone"].form) == (1, "iPhone")  # a capital anywhere counts
    assert counts["is"].capitalised == 0 and "2017" not in word_counts(["In 2017 and 2018?"])


def test_a_word_whose_lower_case_is_two_words_is_left_out():
    # "İ".lower() is "i" + a combining dot: "İstanbul" would hash as two words (it crashed training).
    counts = word_counts(["I really love İstanbul in summer", "We saw Nepal today"])
    assert "i̇stanbul" not in counts and counts["nepal"].capitalised == 1
    assert NameStats.fit(["I really love İstanbul in summer"]).of(["love"])[0] == 0


def test_name_likeness_by_hand():
    stats = NameStats.fit(QUESTIONS)
    nepal, laos, cold, i = stats.of(["nepal", "laos", "cold", "i"])
    assert nepal == pytest.approx(2 / 4) and laos == pytest.approx(1 / 2) and cold == 0
    assert i == 0  # one letter is no name, however it is written
    # Words mentioned once: laos, python(1/2), java(1/2), cold... their mean is the prior of a new word.
    once = [c.capitalised / 2 for c in word_counts(QUESTIONS).values() if c.mentions == 1]
    assert stats.unseen == pytest.approx(np.mean(once)) and stats.of(["zyzzyva"])[0] == pytest.approx(stats.unseen)


def test_saved_sparsely_and_loaded_back():
    stats = NameStats.fit(QUESTIONS)
    tensors = stats.to_tensors()
    assert len(tensors["name.buckets"]) == len(word_counts(QUESTIONS)) - (stats.likeness[
        word_buckets(list(word_counts(QUESTIONS)))] == np.float32(stats.unseen)).sum()
    again = NameStats.from_tensors(tensors)
    np.testing.assert_array_equal(again.likeness, stats.likeness)
    assert again.unseen == stats.unseen and len(again.likeness) == BUCKETS


def test_corrupt_tensors_are_one_line_errors():
    tensors = NameStats.fit(QUESTIONS).to_tensors()
    with pytest.raises(ModelLoadError, match="name statistics are incomplete or corrupt"):
        NameStats.from_tensors({k: v for k, v in tensors.items() if k != "name.values"})
    tensors["name.buckets"] = tensors["name.buckets"] + BUCKETS
    with pytest.raises(ModelLoadError, match="name statistics are incomplete or corrupt"):
        NameStats.from_tensors(tensors)
