"""Metadata per question (url, title, any JSON object) travels from the file to search results."""

import json

import pytest

from fake_model import FakeModel
from qdup.cli import main
from qdup.data.corpus import read_questions
from qdup.errors import DataError
from qdup.search.index import Index


@pytest.fixture
def model():
    return FakeModel()


def test_corpus_keeps_other_columns_and_fields(tmp_path):
    csv_file = tmp_path / "q.csv"
    csv_file.write_text('id,question,url,title\n1,How do I learn Python?,https://f/1,Learning Python\n2,Rice?,,\n')
    corpus = read_questions(csv_file)
    assert corpus.metadata == [{"url": "https://f/1", "title": "Learning Python"}, {}]
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"id": 7, "question": "A?", "tags": ["x"], "votes": 3}\n{"question": "B?"}\n'.replace(', "question": "B?"', ', "question": "B?"'))
    jsonl.write_text('{"id": 7, "question": "A?", "tags": ["x"], "votes": 3}\n{"id": 8, "question": "B?"}\n')
    assert read_questions(jsonl).metadata == [{"tags": ["x"], "votes": 3}, {}]
    text = tmp_path / "q.txt"
    text.write_text("A?\nB?\n")
    assert read_questions(text).metadata is None


def test_metadata_survives_add_remove_merge_and_reload(tmp_path, model, monkeypatch):
    import qdup.search.local.segments as segments
    monkeypatch.setattr(segments, "MAX_SEGMENTS", 2)  # force merges of segments with and without metadata
    index = Index.build(model, ["a", "b"], ["How do I learn Python?", "What is an LSTM?"], tmp_path / "idx",
                        metadata=[{"url": "https://f/a", "title": "Python"}, {}])
    index.add(model, ["How do I cook rice?"], ["c"])
    index.add(model, ["Where can I learn Rust?"], ["d"], [{"url": "https://f/d"}])
    index.remove(["b"])
    index.add(model, ["Is tea healthy?"], ["e"])
    reloaded = Index.load(tmp_path / "idx")
    [result] = reloaded.search(model, ["How do I learn Python?"], k=5)
    found = dict(zip(result.ids, result.metadata))
    assert found == {"a": {"url": "https://f/a", "title": "Python"}, "c": {}, "d": {"url": "https://f/d"}, "e": {}}
    assert reloaded.get("d").metadata == {"url": "https://f/d"} and reloaded.get("c").question == "How do I cook rice?"
    with pytest.raises(DataError, match="id 'b' is not in the index"):
        reloaded.get("b")


@pytest.mark.parametrize("metadata, message", [
    ([{}], "1 metadata objects for 2 questions"),
    ([{}, "x"], "metadata of question 2 must be a JSON object, got str"),
    ([{}, {"v": float("nan")}], "metadata of question 2 is not JSON"),
])
def test_bad_metadata_is_refused(tmp_path, model, metadata, message):
    with pytest.raises(DataError, match=message):
        Index.build(model, None, ["A?", "B?"], tmp_path / "idx", metadata=metadata)
    assert not (tmp_path / "idx").exists()


def test_cli_build_and_search_return_metadata(tmp_path, tiny_model_dir, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "1", "question": "How do I learn Python?", "url": "https://f/1", "title": "Py"}\n'
                         '{"id": "2", "question": "How do I cook rice?"}\n')
    assert main(["index", "build", str(questions), "--model", str(tiny_model_dir), "--out", str(tmp_path / "i"), "-q"]) == 0
    capsys.readouterr()
    assert main(["search", str(tmp_path / "i"), "How do I learn Python?", "-k", "1", "--json"]) == 0
    [match] = json.loads(capsys.readouterr().out)
    assert match["id"] == "1" and match["metadata"] == {"url": "https://f/1", "title": "Py"}
    assert main(["search", str(tmp_path / "i"), "How do I learn Python?", "-k", "1"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("How do I learn Python?  https://f/1  (likely duplicate)")
