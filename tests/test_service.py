import pytest
from fastapi.testclient import TestClient

from fake_model import FakeModel
from qdup.index import Index
from qdup.service import MAX_QUESTION_CHARS, create_app

QUESTIONS = ["How do I learn Python?", "What is an LSTM?", "How do I cook rice?"]


@pytest.fixture
def client(tmp_path, fake_model):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")
    with TestClient(create_app(fake_model, index, max_body_bytes=4096), raise_server_exceptions=False) as c:
        yield c


def test_health_and_docs(client, fake_model):
    assert client.get("/health").json() == {"status": "ok", "model": fake_model.fingerprint[:12], "threshold": 0.7, "questions": 3}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/similarity", "/search", "/questions", "/health"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and "Has this question been asked before?" in page.text


def test_similarity(client, fake_model):
    body = client.post("/similarity", json={"question1": "How do I learn Python?", "question2": "How do I learn Python"}).json()
    expected = float(fake_model.encode(["How do I learn Python?"])[0] @ fake_model.encode(["How do I learn Python"])[0])
    assert body["similarity"] == pytest.approx(expected, abs=1e-5)
    assert body["is_duplicate"] is (expected > 0.7) and body["threshold"] == 0.7


def test_search_and_add_persist(client, tmp_path, fake_model):
    first = client.post("/search", json={"question": "learn python", "k": 2}).json()["matches"]
    scores = fake_model.encode(QUESTIONS) @ fake_model.encode(["learn python"])[0]
    best = sorted(range(len(QUESTIONS)), key=lambda i: (-scores[i], i))[:2]
    assert [m["id"] for m in first] == [str(i + 1) for i in best] and best[0] == 0
    assert [m["score"] for m in first] == pytest.approx(scores[best].tolist(), abs=1e-5)
    added = client.post("/questions", json={"question": "  How can I learn Python fast?  "})
    assert added.status_code == 201 and added.json() == {"id": "4", "question": "How can I learn Python fast?", "questions": 4}
    assert client.post("/questions", json={"question": "Mine?", "id": "custom"}).json()["id"] == "custom"
    conflict = client.post("/questions", json={"question": "Again?", "id": "custom"})
    assert conflict.status_code == 409 and conflict.json() == {"error": "id 'custom' is already in the index"}
    assert Index.load(tmp_path / "idx").live()[1] == ["1", "2", "3", "4", "custom"]
    ids = [m["id"] for m in client.post("/search", json={"question": "How can I learn Python fast?"}).json()["matches"]]
    assert ids[0] == "4" and len(ids) == 5


@pytest.mark.parametrize("path, body, status, error", [
    ("/similarity", {"question1": "a"}, 422, "question2: Field required"),
    ("/similarity", {"question1": "a", "question2": "   "}, 422, "question2: should have at least 1 character"),
    ("/search", {"question": "a", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ("/search", {"question": "a", "k": 101}, 422, "k: Input should be less than or equal to 100"),
    ("/search", {"question": "a", "k": "many"}, 422, "k: Input should be a valid integer, unable to parse string as an integer"),
    ("/search", {"question": 5}, 422, "question: Input should be a valid string"),
    ("/search", {"question": "a" * (MAX_QUESTION_CHARS + 1)}, 422, f"question: should have at most {MAX_QUESTION_CHARS} characters"),
    ("/search", {"question": "a", "threshold": 2}, 422, "threshold must be in [-1, 1], got 2.0"),
    ("/search", {"question": "???"}, 422, "question 1 is empty (no words once punctuation is removed)"),
    ("/similarity", {"question1": "a", "question2": "!!!"}, 422, "question 2 is empty (no words once punctuation is removed)"),
    ("/questions", {"question": "?"}, 422, "question 1 is empty (no words once punctuation is removed)"),
    ("/search", {"question": "a", "kk": 3}, 422, "kk: Extra inputs are not permitted"),
    ("/search", [1, 2], 422, "Input should be a valid dictionary or object to extract fields from"),
    ("/questions", {"question": ""}, 422, "question: should have at least 1 character"),
    ("/questions", {"question": "a" * 5000}, 413, "request body larger than 4096 bytes"),
])
def test_bad_requests_get_one_line_json_errors(client, path, body, status, error):
    response = client.post(path, json=body)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_malformed_and_oversized_raw_bodies(client):
    bad_json = client.post("/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (bad_json.status_code, bad_json.json()) == (422, {"error": "the request body is not valid JSON"})

    def chunks():  # no Content-Length: the limit must hold for streamed bodies too
        for _ in range(10):
            yield b"x" * 1000

    streamed = client.post("/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert (streamed.status_code, streamed.json()) == (413, {"error": "request body larger than 4096 bytes"})
    assert client.get("/nope").json() == {"error": "Not Found"}
    assert client.get("/search").status_code == 405
    assert client.get("/health").status_code == 200  # and the server is still up


def test_without_index_search_is_refused(fake_model):
    with TestClient(create_app(fake_model)) as c:
        response = c.post("/search", json={"question": "a"})
        assert (response.status_code, response.json()) == (409, {"error": "this server has no index (start it with --index)"})
        assert c.post("/similarity", json={"question1": "a", "question2": "b"}).status_code == 200


def test_lone_surrogate_in_json_is_a_422(client):
    # JSON may escape a lone surrogate; pydantic refuses it before the library sees it.
    for path, body in (("/search", rb'{"question": "a\udc80"}'), ("/questions", rb'{"question": "b\ud800"}')):
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()) == (
            422, {"error": "question: Input should be a valid string, unable to parse raw data as a unicode string"})
