"""Fuzzed text never crashes encode, predict or search: any str is encoded, and a question a
user asks is either answered or refused with a one-line QuestionError."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import qdup
from qdup.errors import QuestionError
from qdup.search.index import Index

# Ordinary characters, lone surrogates (what undecodable bytes become) and punctuation/space.
SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
TEXT = st.lists(st.one_of(st.characters(), SURROGATES, st.sampled_from(" \t?!.,'")), max_size=40).map("".join)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def builtin():
    return qdup.load()  # has character n-grams: the hashing that used to crash


@FUZZ
@given(texts=st.lists(TEXT, min_size=1, max_size=4))
def test_encode_takes_any_text(builtin, texts):
    vectors = builtin.encode(texts)
    assert vectors.shape == (len(texts), builtin.dim) and np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@FUZZ
@given(q1=TEXT, q2=TEXT)
def test_predict_answers_or_refuses_in_one_line(builtin, q1, q2):
    try:
        is_duplicate, similarity = qdup.predict(builtin, q1, q2)
    except QuestionError as error:
        assert "\n" not in str(error) and str(error).startswith("question ")
    else:
        assert isinstance(is_duplicate, bool) and -1.0001 <= similarity <= 1.0001


@FUZZ
@given(query=TEXT)
def test_search_answers_or_refuses_in_one_line(tmp_path_factory, fake_model, query):
    index = _index(tmp_path_factory, fake_model)
    try:
        [result] = index.search(fake_model, [query], k=3)
    except QuestionError as error:
        assert "\n" not in str(error)
    else:
        assert len(result.ids) == 3


_INDEXES = {}


def _index(tmp_path_factory, model):
    if "idx" not in _INDEXES:
        _INDEXES["idx"] = Index.build(model, None, ["How do I learn Python?", "What is an LSTM?", "Rice?"],
                                      tmp_path_factory.mktemp("fuzz") / "idx")
    return _INDEXES["idx"]
