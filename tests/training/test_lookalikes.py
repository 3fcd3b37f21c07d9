"""Look-alike questions made from a pool (qdup.training.lookalikes), on hand-made questions."""

import numpy as np
import pytest
import scipy.sparse as sp

from qdup.training.lookalikes import Lookalikes, Swap, contexts, name_runs, name_tokens, nearest, sublinear_tfidf

# Countries after "visa for" / "capital of", languages after "learn" / "code in": the words
# around each name say which names are of one kind.
POOL = [
    "Do I need a visa for Nepal?", "Do I need a visa for Laos?", "Do I need a visa for Peru?",
    "What is the capital of Nepal?", "What is the capital of Laos?", "What is the capital of Peru?",
    "Should I learn Python first?", "Should I learn Java first?", "Should I learn Rust first?",
    "Can I code in Python at work?", "Can I code in Java at work?", "Can I code in Rust at work?",
    "Who founded Quora?", "How do I visit it?",  # Quora: mentioned once, no name yet
]


def maker() -> Lookalikes:
    return Lookalikes.from_pool(POOL, neighbours=2)


def test_names_of_the_pool_and_their_kind():
    made = maker()
    assert sorted(made.names) == ["Java", "Laos", "Nepal", "Peru", "Python", "Rust"]
    for name in made.names:
        near = {made.names[r] for r in made.neighbours[made.names.index(name)]}
        kind = {"Nepal", "Laos", "Peru"} if name in ("Nepal", "Laos", "Peru") else {"Python", "Java", "Rust"}
        assert near == kind - {name}


def test_nearest_by_hand():
    rows = sp.csr_matrix(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32))
    assert nearest(rows, 1).tolist() == [[1], [0], [1]]  # row 1 ties 0.8 and 0.6: the higher
    assert nearest(rows, 5).shape == (3, 2)
    assert contexts(["a Nepal b"], ["nepal"]).shape[0] == 1


def test_sublinear_tfidf_by_hand():
    counts = sp.csr_matrix(np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32))
    idf = np.log(4 / np.array([2.0, 3.0, 1.0])) + 1  # smoothed: log((1 + n) / (1 + df)) + 1
    first = np.array([1 + np.log(2.0), 1.0]) * idf[:2]
    got = sublinear_tfidf(counts).toarray()
    np.testing.assert_allclose(got[0, :2], first / np.linalg.norm(first), rtol=1e-6)
    np.testing.assert_allclose(got[1:], [[0, 1, 0], [0, 0, 0]], atol=1e-7)  # an empty row stays empty
    assert counts[0, 0] == 2.0  # the input is left alone


def test_sublinear_tfidf_equals_scikit_learn_bit_for_bit():
    """The recipe was chosen with scikit-learn's transformer (now a dev dependency only)."""
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    counts = sp.random(40, 30, density=0.2, format="csr", random_state=0, dtype=np.float32)
    counts.data = np.ceil(counts.data * 4)
    expected = normalize(TfidfTransformer(sublinear_tf=True).fit_transform(counts))
    assert (sublinear_tfidf(counts) != expected).nnz == 0


def test_a_swap_replaces_a_name_by_one_of_its_kind_as_the_question_writes_it():
    made, rng = maker(), np.random.default_rng(0)
    swap = made.swap("Is a visa for nepal expensive?", rng)
    assert swap.word == "nepal" and swap.replacement in ("Laos", "Peru")
    assert made.apply("Is a visa for nepal expensive? Nepal!", swap) == \
        f"Is a visa for {swap.replacement.lower()} expensive? {swap.replacement}!"
    assert made.swap("How do I cook rice?", rng) is None  # no name, no number


def test_a_pair_swap_takes_a_word_both_questions_have():
    made = maker()
    for seed in range(10):
        swap = made.swap_pair("Is Python hard in 2016?", "How hard is Python?", np.random.default_rng(seed))
        assert swap.word == "Python" and swap.replacement in ("Java", "Rust")
    assert made.swap_pair("Is Python hard?", "Is Java hard?", np.random.default_rng(0)) is None


def test_numbers_keep_their_shape():
    made = maker()
    for seed in range(20):
        rng = np.random.default_rng(seed)
        year = made.swap("Best phones of 2016?", rng)
        assert year.word == "2016" and 2006 <= int(year.replacement) <= 2026 and year.replacement != "2016"
        number = made.swap("How do I lose 15 kg?", rng)
        assert len(number.replacement) == 2 and number.replacement != "15"
    assert made.swap("Call 5551234 now?", np.random.default_rng(0)) is None  # too long to be a quantity


def test_a_replacement_the_question_already_has_is_never_chosen():
    made = maker()
    for seed in range(10):
        swap = made.swap_pair("Is Nepal or Laos cheaper?", "Which is cheaper, Nepal or Laos?", np.random.default_rng(seed))
        assert {swap.word, swap.replacement} & {"Peru"}  # only Peru is left for either
    assert made.apply("Nepal, nepalese", Swap("Nepal", "Peru")) == "Peru, nepalese"  # whole words only


def test_one_word_names_make_the_look_alikes_they_made_before_names_of_several_words():
    """The built-in model is reproducible: with ``max_words=1`` (its recipe) the names, their
    neighbours, the random draws and the swapped texts are those of the code before names of
    several words (computed with it once, commit 5a070ae^)."""
    made = maker()
    assert made.names == ["Java", "Laos", "Nepal", "Peru", "Python", "Rust"]
    assert made.neighbours.tolist() == [[4, 5], [2, 3], [1, 3], [1, 2], [0, 5], [0, 4]]
    questions = ["Is a visa for Nepal or Laos cheaper in 2016?", "Should I learn python or Java first?",
                 "Do I need a visa for peru? Peru!", "Can I code in Rust at work in 15 days?"]
    got = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        got += [made.apply(q, made.swap(q, rng)) for q in questions]
    assert got == [
        "Is a visa for Nepal or Laos cheaper in 2008?", "Should I learn python or Rust first?",
        "Do I need a visa for nepal? Nepal!", "Can I code in Rust at work in 83 days?",
        "Is a visa for Peru or Laos cheaper in 2016?", "Should I learn rust or Java first?",
        "Do I need a visa for laos? Laos!", "Can I code in Rust at work in 47 days?",
        "Is a visa for Nepal or Laos cheaper in 2013?", "Should I learn rust or Java first?",
        "Do I need a visa for nepal? Nepal!", "Can I code in Python at work in 15 days?"]


def test_same_seed_same_lookalikes():
    questions = ["Do I need a visa for Nepal in 2017?", "Should I learn Java or Python?"]
    runs = [[maker().swap(q, np.random.default_rng(7)) for q in questions] for _ in range(2)]
    assert runs[0] == runs[1]


# Two-word people: each word is name-like, and each pair of words is written together twice.
PEOPLE = [
    "Did Bill Gates win the award?", "Did Steve Jobs win the award?", "Did Rahul Gandhi win the award?",
    "Is Bill Gates rich?", "Is Steve Jobs rich?", "Is Rahul Gandhi rich?",
]


def test_names_of_several_words_are_found_and_swapped_whole():
    made = Lookalikes.from_pool(PEOPLE, neighbours=2, max_words=2)
    people = {"Bill Gates", "Steve Jobs", "Rahul Gandhi"}
    assert set(made.names) == people  # "Bill" alone: only ever inside a longer name, no contexts of its own
    for seed in range(10):
        swap = made.swap("Does Bill  Gates code?", np.random.default_rng(seed))
        assert swap.word == "Bill  Gates" and swap.replacement in people - {"Bill Gates"}
        assert made.apply("Does Bill  Gates code? bill gates!", swap) == \
            f"Does {swap.replacement} code? {swap.replacement.lower()}!"
    # One word at most: the same pool swaps one word of the name.
    one = Lookalikes.from_pool(PEOPLE, neighbours=2)
    assert not any(" " in name for name in one.names)
    assert one.swap("Does Bill Gates code?", np.random.default_rng(0)).word in ("Bill", "Gates")


def test_a_replacement_never_shares_a_word_with_the_questions():
    made = Lookalikes(["Trump", "Donald Trump", "Obama"], np.array([[1, 2], [0, 2], [0, 1]]))
    for seed in range(10):
        rng = np.random.default_rng(seed)
        assert made.swap("Did Trump win?", rng) == Swap("Trump", "Obama")  # not "Donald Trump": the same man
        assert made.swap("Did Donald Trump win?", rng) == Swap("Donald Trump", "Obama")
    # Not "Google AdSense" for Twitter in a question about Google (no name itself here).
    brands = Lookalikes(["Twitter", "Google AdSense", "Facebook"], np.array([[1, 2], [0, 2], [0, 1]]))
    for seed in range(10):
        assert brands.swap("Will Google buy Twitter?", np.random.default_rng(seed)) == Swap("Twitter", "Facebook")


def test_a_word_inside_a_longer_name_is_neither_swapped_nor_replaced_alone():
    made = Lookalikes(["India", "Delhi", "India Gate", "Red Fort"], np.array([[1], [0], [3], [2]]))
    assert made.swappable("Is the India Gate in India?") == ["India Gate", "India"]
    assert made.apply("Is India Gate in India? india!", Swap("India", "Delhi")) == "Is India Gate in Delhi? delhi!"
    with pytest.raises(ValueError, match="max_words must be at least 1"):
        Lookalikes.from_pool(PEOPLE, max_words=0)


def test_a_run_broken_by_punctuation_is_no_name():
    assert name_runs(["Bill, Gates", "Bill. Gates", "Bill Gates"], {"bill", "gates"}, 2) == []  # one run only
    assert name_runs(["Is President Bill Gates?"] * 2, {"president", "bill", "gates"}, 2) == []  # a run of 3
    assert name_tokens("Bill, Gates", {"bill gates"}, 2) == [("bill", "Bill"), ("gates", "Gates")]
