"""qdup's hashed lexical columns are exactly scikit-learn's HashingVectorizer columns (stored
models and indexes hold IDF values and rows by them)."""

import random

import numpy as np
import pytest

from qdup.text import hashing, lexical

sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")

REFERENCE = {  # the vectorizers qdup's lexical rows were first made with
    "chars": sklearn_text.HashingVectorizer(analyzer="char_wb", ngram_range=lexical.CHAR_NGRAMS,
                                            n_features=lexical.BUCKETS, alternate_sign=False, norm=None,
                                            lowercase=True, dtype=np.float32),
    "words": sklearn_text.HashingVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b",
                                            n_features=lexical.BUCKETS, alternate_sign=False, norm=None,
                                            binary=True, lowercase=True, dtype=np.float32),
    "numbers": sklearn_text.HashingVectorizer(analyzer="word", token_pattern=r"\d+",
                                              n_features=lexical.NUMBER_BUCKETS, alternate_sign=False,
                                              norm=None, binary=True, dtype=np.float32),
}
OURS = {"chars": lexical._char_counts, "words": lexical._word_rows, "numbers": lexical._number_rows}

FIXED = [
    "How do I learn Python?", "What is the best way to learn Python?", "a", "I", "ab  cd\t\tef\n\ngh",
    "  leading and trailing  ", "Ünïcödé façade naïve café", "İstanbul ΣΊΣΥΦΟΣ straße", "日本語の質問は何ですか",
    "emoji 🙂👍🏽 and ZWJ 👩‍👩‍👧", "numbers 3.14 42 ٣٤ ⁴² 1,000,000", "x\u00a0y\u2003z\u3000w",
    "tab\u000bvt\u000cff\u001cfs\u0085nel", "e\u0301 combining", "ﬁ ligature ǅ titlecase", "A" * 50 + " b",
]
ALPHABET = "abcXYZ019 \t\n?!.,'-éßİı日本🙂\u00a0\u2028\u0301ǅ٣"


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40))) for _ in range(n)]


@pytest.mark.parametrize("kind", sorted(OURS))
@pytest.mark.parametrize("texts", [FIXED, random_texts(500, 0), random_texts(500, 1)], ids=["fixed", "r0", "r1"])
def test_same_columns_and_values_as_hashing_vectorizer(kind, texts):
    expected = REFERENCE[kind].transform(texts).tocsr()
    expected.sort_indices()
    ours = OURS[kind](texts)
    assert ours.shape == expected.shape and ours.data.dtype == expected.dtype
    assert np.array_equal(ours.indptr, expected.indptr)
    assert np.array_equal(ours.indices, expected.indices)
    assert np.array_equal(ours.data, expected.data)  # small integer counts: exact


def test_real_questions_hash_alike():
    from helpers import TOY_PAIRS  # shipped with the tests

    from qdup.data.pairs import read_pairs

    pairs = read_pairs(TOY_PAIRS)
    texts = pairs.question1 + pairs.question2
    for kind in OURS:
        expected = REFERENCE[kind].transform(texts).tocsr()
        expected.sort_indices()
        ours = OURS[kind](texts)
        assert np.array_equal(ours.indices, expected.indices) and np.array_equal(ours.data, expected.data)


def test_lone_surrogates_hash_as_their_bytes_without_crashing():
    # scikit-learn raises on them; mmh3 would crash on such a str: qdup hashes the surrogatepass bytes.
    rows = lexical._char_counts(["caf\udce9 ok", "ok"])
    assert rows.shape[0] == 2 and rows.row_lengths[0] > rows.row_lengths[1]
    assert np.array_equal(rows.take([1]).indices, lexical._char_counts(["ok"]).indices)


def test_empty_input_and_empty_texts():
    assert lexical._word_rows([]).shape == (0, lexical.BUCKETS)
    rows = lexical._char_counts(["", "   ", "a"])
    assert rows.indptr.tolist()[:3] == [0, 0, 0] and rows.row_lengths[2] == 3  # " a", "a ", " a "


def test_char_ngrams_match_the_documented_example():
    assert hashing.char_wb_ngrams("Hi you", 2, 3)[:5] == [" h", "hi", "i ", " hi", "hi "]


@pytest.mark.data
def test_every_real_qqp_question_hashes_alike():
    from helpers import QQP_PARTIAL

    from qdup.data.pairs import read_pairs

    if not QQP_PARTIAL.exists():
        pytest.skip("needs ../shared/data/qqp-partial")
    pairs = read_pairs(QQP_PARTIAL)
    texts = (pairs.question1 + pairs.question2)[::3]  # 18,830 questions: every kind of text, in seconds
    for kind in OURS:
        expected = REFERENCE[kind].transform(texts).tocsr()
        expected.sort_indices()
        ours = OURS[kind](texts)
        assert np.array_equal(ours.indptr, expected.indptr) and np.array_equal(ours.indices, expected.indices)
        assert np.array_equal(ours.data, expected.data)
