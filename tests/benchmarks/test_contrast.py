"""The contrast set of benchmarks/contrast.py on hand-made questions: what is swapped, how
the replacement is written, and what counts as template siblings."""

import sys

import numpy as np

from helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from contrast import contrast_pairs, swaps, template_siblings  # noqa: E402
from contrast_entities import KINDS  # noqa: E402


def test_each_kind_swaps_its_first_mention_for_another_of_its_kind():
    rng = np.random.default_rng(0)
    found = {kind: (original, new, swapped) for kind, original, new, swapped in
             swaps("Which is better to learn in 2017 for a job in India, Python or Java?", rng)}
    assert sorted(found) == ["country", "programming_language", "year"]
    original, new, swapped = found["programming_language"]
    assert original == "Python" and new in KINDS["programming_language"] and new not in ("Python", "Java")
    assert swapped == f"Which is better to learn in 2017 for a job in India, {new} or Java?"
    original, new, swapped = found["year"]
    assert original == "2017" and new != "2017" and 2007 <= int(new) <= 2027 and swapped.count(new) == 1


def test_multi_word_names_are_swapped_whole_and_case_follows_the_question():
    rng = np.random.default_rng(1)
    [(kind, original, new, swapped)] = swaps("how do i move from new jersey to another state?", rng)
    assert (kind, original) == ("us_state", "new jersey")
    assert new == new.lower() and swapped == f"how do i move from {new} to another state?"
    [(_, _, new, _)] = swaps("Is C++ harder to learn than most languages?", rng)
    assert new in KINDS["programming_language"]  # written as listed, not upper-cased like "C++"


def test_a_person_is_never_swapped_for_another_form_of_the_same_name():
    rng = np.random.default_rng(2)
    for _ in range(30):
        [(_, original, new, _)] = swaps("Why did Donald Trump win the election?", rng)
        assert original == "Donald Trump" and "trump" not in new.lower()


def test_the_set_is_deterministic_and_skips_questions_too_short_to_swap():
    questions = ["India?", "What is the capital of India?", "How do I lose 10 kg?", "What is love?"]
    made = contrast_pairs(questions)
    assert made == contrast_pairs(list(reversed(questions)))  # sorted input, one seeded generator
    assert [(kind, q) for kind, q, _ in made] == [("number", "How do I lose 10 kg?"),
                                                  ("country", "What is the capital of India?")]


def test_template_siblings_differ_in_one_listed_entity_or_number():
    assert template_siblings("Good gifts for a visitor in Armenia?", "Good gifts for a visitor in Botswana?")
    assert template_siblings("Best phone under 10000?", "Best phone under 15000?")
    assert not template_siblings("How do I learn Python?", "How can I learn Python?")  # a paraphrase
    assert not template_siblings("Good gifts in Armenia?", "Good gifts for a visitor in Botswana?")
