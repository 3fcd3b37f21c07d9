"""The service for a forum: decisions (token-protected), edits, filters, the floor, canonical questions."""

import pytest
from fastapi.testclient import TestClient

from fake_model import FakeModel
from qdup.search.decisions import read_decisions
from qdup.search.filters import parse_filter
from qdup.search.index import Index
from qdup.service.access import Access
from qdup.service.app import create_app

QUESTIONS = ["How do I learn Python?", "How can I learn Python fast?", "What is an LSTM?", "How do I cook rice?"]
METADATA = [{"title": "Python", "status": "open"}, {"status": "closed", "duplicate_of": "1"},
            {"status": "deleted"}, {"category": "food"}]
TOKEN = "s3cret-token"


class FlooredModel(FakeModel):
    """The fake model with a calibrated search floor, as `qdup calibrate-search` stores one."""

    search_floor = 0.5


@pytest.fixture
def index(tmp_path):
    return Index.build(FakeModel(), None, QUESTIONS, tmp_path / "idx", metadata=METADATA)


def client_for(index, model=None, access=Access("token", TOKEN), where=None):
    return TestClient(create_app(model or FakeModel(), index, access=access, where=where),
                      raise_server_exceptions=False)


def test_decisions_need_the_token(index):
    client = client_for(index)
    body = {"query": "learn python", "match_id": "1", "duplicate": True, "moderator": "alice"}
    assert client.post("/decisions", json=body).status_code == 401
    assert read_decisions(index.path) == []
    done = client.post("/decisions", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert done.status_code == 201
    assert {k: v for k, v in done.json().items() if k != "time"} == {
        "query": "learn python", "query_id": None, "match": QUESTIONS[0], "match_id": "1", "duplicate": True,
        "moderator": "alice", "decisions": 1}
    by_id = client.post("/decisions", json={"query_id": "2", "match_id": "1", "duplicate": False},
                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert by_id.status_code == 201 and by_id.json()["decisions"] == 2
    assert [d.duplicate for d in read_decisions(index.path)] == [True, False]
    read_only = client_for(index, access=Access("read-only", None, "started with --read-only"))
    assert read_only.post("/decisions", json=body).status_code == 403


@pytest.mark.parametrize("body, status, error", [
    ({"query": "x?", "match_id": "9", "duplicate": True}, 404, "id '9' is not in the index"),
    ({"match_id": "1", "duplicate": True}, 422, "a decision needs a query: a stored question's id or a text, not both"),
    ({"query": "x?", "match_id": "1", "duplicate": "maybe"}, 422,
     "duplicate: Input should be a valid boolean, unable to interpret input"),
    ({"query": "x?", "match_id": "1", "duplicate": True, "score": 1}, 422, "score: Extra inputs are not permitted"),
])
def test_bad_decisions_are_4xx_with_one_line(index, body, status, error):
    answer = client_for(index, access=Access()).post("/decisions", json=body)
    assert (answer.status_code, answer.json()) == (status, {"error": error})


def test_put_replaces_a_question_or_adds_it(index):
    client = client_for(index)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.put("/questions/4", json={"question": "How do I cook pasta?"}).status_code == 401
    done = client.put("/questions/4", json={"question": "How do I cook pasta?", "metadata": {"category": "food"}},
                      headers=auth)
    assert done.status_code == 200 and done.json() == {"id": "4", "question": "How do I cook pasta?",
                                                       "replaced": True, "questions": 4}
    assert Index.load(index.path).get("4").question == "How do I cook pasta?"
    added = client.put("/questions/new-one", json={"question": "A new question?"}, headers=auth)
    assert added.status_code == 201 and added.json()["replaced"] is False and added.json()["questions"] == 5
    bad = client.put("/questions/4", json={"question": "x", "metadata": {"status": "gone"}}, headers=auth)
    assert bad.status_code == 422 and "status must be open, closed or deleted" in bad.json()["error"]
    empty = client.put("/questions/4", json={"question": "?!"}, headers=auth)  # one question: no "question 1"
    assert empty.status_code == 422 and empty.json() == {"error": "the question is empty (no words once punctuation "
                                                                  "is removed)"}


def test_search_filters_and_points_at_the_canonical_question(index):
    client = client_for(index, access=Access())
    matches = client.post("/search", json={"question": "learn python", "filter": ["status!=deleted"]}).json()["matches"]
    assert "3" not in [m["id"] for m in matches] and len(matches) == 3
    closed = next(m for m in matches if m["id"] == "2")
    assert closed["canonical"] == {"id": "1", "question": QUESTIONS[0], "metadata": METADATA[0]}
    assert next(m for m in matches if m["id"] == "1")["canonical"] is None
    one = client.post("/search", json={"question": "learn python", "filter": "category=food"}).json()["matches"]
    assert [m["id"] for m in one] == ["4"]
    bad = client.post("/search", json={"question": "x", "filter": ["colour=red"]})
    assert bad.status_code == 422 and bad.json()["error"].startswith("filter 'colour=red': unknown field 'colour'")


def test_a_server_wide_filter_applies_to_every_search(index):
    client = client_for(index, access=Access(), where=parse_filter("status!=deleted"))
    ids = [m["id"] for m in client.post("/search", json={"question": "What is an LSTM?"}).json()["matches"]]
    assert "3" not in ids
    ids = [m["id"] for m in client.post("/search", json={"question": "LSTM", "filter": "status=deleted"}).json()[
        "matches"]]
    assert ids == []  # the request's filter narrows the server's, never widens it


def test_a_server_wide_filter_hides_its_rows_from_every_route(tmp_path):
    """A deleted thread stays hidden when a shown match points at it, and when asked for by id."""
    metadata = [{"status": "deleted", "title": "removed post"}, {"status": "closed", "duplicate_of": "1"}]
    index = Index.build(FakeModel(), None, QUESTIONS[:2], tmp_path / "idx", metadata=metadata)
    client = client_for(index, access=Access(), where=parse_filter("status!=deleted"))
    [match] = client.post("/search", json={"question": "learn python", "min_score": None}).json()["matches"]
    assert match["id"] == "2" and match["canonical"] is None
    hidden = client.get("/questions/1")
    assert hidden.status_code == 404 and hidden.json() == {"error": "id '1' is not in the index"}
    assert client_for(index, access=Access()).get("/questions/1").status_code == 200  # no filter: shown


def test_min_score_defaults_to_the_models_floor(index):
    client = client_for(index, model=FlooredModel(), access=Access())
    assert client.get("/health").json()["search_floor"] == 0.5
    floored = client.post("/search", json={"question": "How do I learn Python?"}).json()
    assert floored["min_score"] == 0.5 and all(m["score"] >= 0.5 for m in floored["matches"])
    assert 0 < len(floored["matches"]) < 4
    nothing = client.post("/search", json={"question": "zebra quantum xylophone"}).json()
    assert nothing["matches"] == []
    everything = client.post("/search", json={"question": "zebra quantum xylophone", "min_score": None}).json()
    assert everything["min_score"] is None and len(everything["matches"]) == 4
    assert client.post("/search", json={"question": "x", "min_score": 3}).status_code == 422
