import string

import pytest

import qdup
from qdup.errors import ModelLoadError
from qdup.encoders.lstm.inputs import Featurizer
from qdup.text.vocabulary import tokenize


def encode(vocab, texts, max_length=256):
    """Padded ids and lengths, as the encoder receives them."""
    batch = Featurizer(vocab, max_length).batch(texts)
    return batch.ids.numpy(), batch.lengths.numpy()


def test_tokenize_deletes_ascii_punctuation_and_keeps_case():
    assert tokenize("Don't   stop-me, NOW!") == ["Dont", "stopme", "NOW"]
    assert tokenize(string.punctuation) == []
    # Non-ASCII punctuation and non-breaking spaces are kept, as in the reference.
    assert tokenize("“Hi”\u00a0there") == ["“Hi”\u00a0there"]
    assert tokenize("Tabs\tand\nnewlines") == ["Tabs", "and", "newlines"]


def test_order_by_count_then_bytes_descending():
    vocab = qdup.Vocabulary.build(["b a c", "a b", "a", "Z z"])
    # a:3, b:2, then count 1: c, z, Z by bytes descending (z=0x7a > c=0x63 > Z=0x5a).
    assert vocab.tokens == ["", "[UNK]", "a", "b", "z", "c", "Z"]


def test_encode_pads_with_zero_and_marks_unknown():
    vocab = qdup.Vocabulary.build(["How do I learn Python?", "How do I learn?"])
    ids, lengths = encode(vocab, ["learn Python fast", "do"])
    assert ids.tolist() == [[2, 6, 1], [3, 0, 0]]
    assert lengths.tolist() == [3, 1]


def test_empty_and_whitespace_questions_are_one_unknown_token():
    vocab = qdup.Vocabulary.build(["a b"])
    ids, lengths = encode(vocab, ["", "   \t", "?!"])
    assert ids.tolist() == [[1], [1], [1]] and lengths.tolist() == [1, 1, 1]


def test_max_length_truncates():
    vocab = qdup.Vocabulary.build(["a b c"])
    a, b, c = (vocab.tokens.index(t) for t in "abc")
    assert encode(vocab, ["a b c a b c"], max_length=4)[0].tolist() == [[a, b, c, a]]


def test_save_load_round_trip_with_odd_tokens(tmp_path):
    vocab = qdup.Vocabulary.build(["line\u2028sep", "tab", "üñï", "x\u0085y"])
    vocab.save(tmp_path / "vocab.txt")
    assert qdup.Vocabulary.load(tmp_path / "vocab.txt").tokens == vocab.tokens


def test_load_rejects_foreign_file(tmp_path):
    (tmp_path / "vocab.txt").write_text("hello\nworld\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a qdup vocabulary"):
        qdup.Vocabulary.load(tmp_path / "vocab.txt")


def test_qqp_partial_vocabulary_size(qqp_partial):
    split = qdup.reference_split(qdup.read_pairs(qqp_partial))
    dups = split.validation_duplicates
    texts = split.train.question1 + split.train.question2 + dups.question1 + dups.question2
    vocab = qdup.Vocabulary.build(texts)
    assert len(vocab) == 12_836
    assert encode(vocab, ["How do I prepare"])[0].tolist() == [[4, 8, 6, 169]]
