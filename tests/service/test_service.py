import time

import pytest
from fastapi.testclient import TestClient

from helpers import free_port, run

from qdup.search.index import Index
from qdup.service.app import create_app
from qdup.service.schemas import MAX_QUESTION_CHARS

QUESTIONS = ["How do I learn Python?", "What is an LSTM?", "How do I cook rice?"]
WARM_DEADLINE_S = 60  # a condition, not a timing: a busy machine only takes longer to reach it


@pytest.fixture
def client(tmp_path, fake_model):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")
    with TestClient(create_app(fake_model, index, max_body_bytes=4096), raise_server_exceptions=False) as c:
        yield c


def test_health_and_docs(client, fake_model):
    health = client.get("/health").json()
    assert health.pop("warm") in (True, False)  # read in on a thread of its own: either, yet (below)
    assert health == {"status": "ok", "model": fake_model.fingerprint[:12], "threshold": 0.7,
                      "search_threshold": None, "search_floor": None, "questions": 3, "writes": "open"}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # offline: assets come from the package
    script = [part.split('"')[0] for part in docs.text.split('src="')[1:]]
    assert script and all(client.get(src).status_code == 200 for src in script)
    assert client.get("/redoc").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/similarity", "/search", "/questions", "/questions/{question_id}", "/health"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and "Has this question been asked before?" in page.text


def warm_after(client) -> bool:
    """/health's ``warm`` once it is true, or when the deadline passes."""
    deadline = time.monotonic() + WARM_DEADLINE_S
    while not client.get("/health").json()["warm"] and time.monotonic() < deadline:
        time.sleep(0.01)
    return client.get("/health").json()["warm"]


def test_the_service_reads_its_index_in_and_says_so(client, tmp_path, fake_model):
    assert warm_after(client) is True
    with TestClient(create_app(fake_model, None)) as alone:  # /similarity only: no index to read in
        assert alone.get("/health").json()["warm"] is None


def test_a_failed_read_in_leaves_the_service_serving(tmp_path, fake_model, monkeypatch, caplog):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")

    def fails() -> int:
        raise OSError("No space left on device")

    monkeypatch.setattr(index, "warm", fails)
    with TestClient(create_app(fake_model, index)) as client:
        deadline = time.monotonic() + WARM_DEADLINE_S
        while "not read in ahead" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "the index was not read in ahead: No space left on device" in caplog.text
        assert client.get("/health").json()["warm"] is False
        assert client.post("/search", json={"question": "learn python", "k": 1}).json()["matches"][0]["id"] == "1"


def test_a_search_that_met_a_concurrent_removal_is_run_again(tmp_path, fake_model, monkeypatch):
    """Milvus: rows a search found may be deleted by another process's removal before they are read."""
    from qdup.errors import ChangedDuringSearchError

    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")
    search, calls = index.search, []

    def once_changed(*args, **kwargs):
        calls.append("search")
        if len(calls) == 1:
            raise ChangedDuringSearchError("Milvus collection 'q' at x changed during the search; retry")
        return search(*args, **kwargs)

    monkeypatch.setattr(index, "search", once_changed)
    monkeypatch.setattr(index, "refresh", lambda: calls.append("refresh"))
    with TestClient(create_app(fake_model, index)) as client:
        found = client.post("/search", json={"question": "learn python", "k": 1})
    assert found.status_code == 200 and found.json()["matches"][0]["id"] == "1"
    assert calls[:3] == ["search", "refresh", "search"]


def test_similarity(client, fake_model):
    body = client.post("/similarity", json={"question1": "How do I learn Python?", "question2": "How do I learn Python"}).json()
    expected = float(fake_model.encode(["How do I learn Python?"])[0] @ fake_model.encode(["How do I learn Python"])[0])
    assert body["score"] == pytest.approx(expected, abs=1e-5)  # the model's score: here (a cosine model) the cosine
    assert body["similarity"] == body["score"]  # its name before, kept for older clients
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
    ("/search", {"question": "a", "k": "many"}, 422, "k: Input should be a valid integer"),
    ("/search", {"question": "a", "k": "10"}, 422, "k: Input should be a valid integer"),
    ("/search", {"question": "a", "k": True}, 422, "k: Input should be a valid integer"),
    ("/search", {"question": 5}, 422, "question: Input should be a valid string"),
    ("/search", {"question": "a" * (MAX_QUESTION_CHARS + 1)}, 422, f"question: should have at most {MAX_QUESTION_CHARS} characters"),
    ("/search", {"question": "a", "threshold": 2}, 422, "threshold must be in [-1, 1], got 2.0"),
    ("/search", {"question": "???"}, 422, "the question is empty (no words once punctuation is removed)"),
    ("/similarity", {"question1": "a", "question2": "!!!"}, 422, "question 2 is empty (no words once punctuation is removed)"),
    ("/questions", {"question": "?"}, 422, "the question is empty (no words once punctuation is removed)"),
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


def test_get_delete_and_metadata(client):
    added = client.post("/questions", json={"question": "Where can I learn Rust?", "id": "r",
                                            "metadata": {"url": "https://forum.example/t/r", "title": "Rust"}})
    assert added.status_code == 201
    assert client.get("/questions/r").json() == {"id": "r", "question": "Where can I learn Rust?",
                                                 "metadata": {"url": "https://forum.example/t/r", "title": "Rust"}}
    [top] = client.post("/search", json={"question": "Where can I learn Rust?", "k": 1}).json()["matches"]
    assert top["id"] == "r" and top["metadata"]["url"] == "https://forum.example/t/r"
    assert client.get("/questions/%20r%20").json()["id"] == "r"  # ids are stored stripped: looked up so too
    assert client.delete("/questions/%20r%20").json() == {"id": "r", "questions": 3}
    for response in (client.get("/questions/r"), client.delete("/questions/r")):
        assert (response.status_code, response.json()) == (404, {"error": "id 'r' is not in the index"})


@pytest.fixture
def index(tmp_path, fake_model):
    return Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")


def test_read_only_and_token(fake_model, index):
    from qdup.service.access import Access

    with TestClient(create_app(fake_model, index, access=Access("read-only", None, "started with --read-only"))) as c:
        refused = c.post("/questions", json={"question": "New?"})
        assert (refused.status_code, refused.json()) == (403, {"error": "this server is read-only (started with --read-only)"})
        assert c.delete("/questions/1").status_code == 403
        assert c.post("/search", json={"question": "rice"}).status_code == 200
    with TestClient(create_app(fake_model, index, access=Access("token", "s3cret"))) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            response = c.post("/questions", json={"question": "New?"}, headers=headers)
            said = "the bearer token is wrong" if "wrong" in str(headers) else \
                "writes need the header 'Authorization: Bearer <token>'"
            assert (response.status_code, response.json()["error"]) == (401, said)
        ok = c.post("/questions", json={"question": "New?"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 201
        assert c.delete(f"/questions/{ok.json()['id']}", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/health").json()["writes"] == "token"


def test_host_allow_list_and_cors(fake_model, index):
    app = create_app(fake_model, index, allowed_hosts=["127.0.0.1", "localhost"], cors_origins=("https://forum.example",))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"Host": "evil.example"}).status_code == 400
        assert c.post("/questions", json={"question": "x?"}, headers={"Host": "evil.example"}).status_code == 400
        preflight = c.options("/search", headers={"Origin": "https://forum.example", "Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == "https://forum.example"
        for method in ("PUT", "DELETE"):  # every write route can be called from the forum's pages
            allowed = c.options("/questions/1", headers={"Origin": "https://forum.example",
                                                          "Access-Control-Request-Method": method})
            assert allowed.status_code == 200, method
        other = c.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("host, read_only, token, mode", [
    ("127.0.0.1", False, None, "open"), ("localhost", False, None, "open"), ("::1", False, None, "open"),
    ("0.0.0.0", False, None, "read-only"), ("10.0.0.5", False, None, "read-only"),
    ("0.0.0.0", False, "t", "token"), ("127.0.0.1", True, "t", "read-only"),
])
def test_write_policy_of_qdup_serve(host, read_only, token, mode):
    from qdup.service.access import access_for

    assert access_for(host, read_only, token).mode == mode


def test_token_comes_from_env_or_file(tmp_path, monkeypatch):
    from qdup.errors import ConfigError
    from qdup.service.access import read_token

    monkeypatch.delenv("QDUP_TOKEN", raising=False)
    assert read_token(None) is None
    monkeypatch.setenv("QDUP_TOKEN", " env-token\n")
    assert read_token(None) == "env-token"
    (tmp_path / "t").write_text("file-token\n")
    assert read_token(tmp_path / "t") == "file-token"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        read_token(tmp_path / "empty")


@pytest.mark.parametrize("name", ["", "  ", "https://forum.example", "forum.example/"])
def test_an_allowed_host_that_is_no_host_name_is_refused_before_serving(capsys, tmp_path, name):
    """It matched no Host header: the server started and answered every request with a 400."""
    code, out, err = run(capsys, "serve", "--index", tmp_path / "no-index", "--host", "127.0.0.1",
                         "--port", free_port(), "--allowed-host", name)
    assert (code, out, err) == (1, "", f"Error: allowed host {name!r} is not a host name (say forum.example)\n")


def test_lone_surrogate_in_json_is_a_422(client):
    # JSON may escape a lone surrogate; pydantic refuses it before the library sees it.
    for path, body in (("/search", rb'{"question": "a\udc80"}'), ("/questions", rb'{"question": "b\ud800"}')):
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()) == (
            422, {"error": "question: Input should be a valid string, unable to parse raw data as a unicode string"})


def test_search_flags_likely_duplicates_at_the_search_threshold(tmp_path, fake_model):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "flagged")
    fake_model.search_threshold = 0.5
    with TestClient(create_app(fake_model, index)) as c:
        matches = c.post("/search", json={"question": "How do I learn Python?", "k": 3}).json()["matches"]
    assert [m["likely_duplicate"] for m in matches] == [m["score"] > 0.5 for m in matches]
    assert matches[0]["likely_duplicate"] and not matches[-1]["likely_duplicate"]
