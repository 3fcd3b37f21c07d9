"""What the service promises every client: JSON for every error, a schema that says what each
route answers and how to authorise, ids of any shape reachable, IPv6 hosts, and no stored
row that can break a read."""

import json

import pytest
from fastapi.testclient import TestClient

from qdup.search.index import Index
from qdup.service.access import Access, default_hosts
from qdup.service.app import create_app

QUESTIONS = ["How do I learn Python?", "What is an LSTM?", "How do I cook rice?"]


@pytest.fixture
def index(tmp_path, fake_model):
    return Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")


@pytest.fixture
def client(fake_model, index):
    with TestClient(create_app(fake_model, index), raise_server_exceptions=False) as c:
        yield c


def test_ipv6_host_is_answered(fake_model, index):
    app = create_app(fake_model, index, allowed_hosts=default_hosts("::1"))
    with TestClient(app, base_url="http://[::1]:8000") as c:
        assert c.get("/health").status_code == 200
        refused = c.get("/health", headers={"Host": "evil.example:8000"})
        assert refused.status_code == 400 and refused.headers["content-type"] == "application/json"
        assert refused.json() == {"error": "Host header 'evil.example:8000' is not one this server answers "
                                           "(qdup serve --allowed-host)"}
    with TestClient(create_app(fake_model, index, allowed_hosts=["*.forum.example"]),
                    base_url="http://www.forum.example") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"Host": "forum.example.evil"}).status_code == 400


def test_ids_with_a_slash_are_reachable(client):
    assert client.post("/questions", json={"question": "What is a/b testing?", "id": "a/b"}).status_code == 201
    for path in ("/questions/a%2Fb", "/questions/a/b"):
        assert client.get(path).json() == {"id": "a/b", "question": "What is a/b testing?", "metadata": {}}
    assert client.delete("/questions/a%2Fb").json() == {"id": "a/b", "questions": 3}
    assert client.get("/questions/a%2Fb").status_code == 404


def test_openapi_names_each_routes_errors_and_the_bearer_scheme(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {"HTTPBearer": {
        "type": "http", "scheme": "bearer", "description": "The write token (QDUP_TOKEN or --token-file)"}}
    paths = schema["paths"]

    def codes(path, method):
        return {c for c in paths[path][method]["responses"] if c.startswith(("4", "5"))}

    assert codes("/health", "get") == set()
    assert codes("/similarity", "post") == {"413", "422"}
    assert codes("/search", "post") == {"409", "413", "422"}
    assert codes("/questions/{question_id}", "get") == {"404", "409"}
    assert codes("/questions", "post") == {"401", "403", "409", "413", "422"}
    assert codes("/questions/{question_id}", "delete") == {"401", "403", "404", "409"}
    for path, method in (("/questions", "post"), ("/questions/{question_id}", "delete")):
        assert paths[path][method]["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/search"]["post"]


def test_swagger_authorize_sends_the_token(fake_model, index):
    with TestClient(create_app(fake_model, index, access=Access("token", "s3cret"))) as c:
        # What Swagger UI sends once "Authorize" holds the token.
        ok = c.post("/questions", json={"question": "New?"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 201
        assert c.post("/questions", json={"question": "New?"}).json() == {
            "error": "writes need the header 'Authorization: Bearer <token>'"}


def test_docs_load_nothing_from_another_site(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assets = [part.split('"')[0] for part in html.text.replace("href=", "src=").split('src="')[1:]]
        assert assets and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            served = client.get(asset)
            assert served.status_code == 200 and "https://cdn." not in served.text, asset


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("metadata, error", [
    (deep(260), "metadata of question 1 is nested more than 32 levels deep"),
    ({"notes": "x" * 70_000}, "request body larger than 65536 bytes"),  # the body limit comes first
    ({"\udc80": "x"}, 'metadata of question 1 is not valid Unicode (a lone surrogate, say "\\udc80")'),
])
def test_bad_metadata_is_a_422_and_writes_nothing(tmp_path, fake_model, index, metadata, error):
    before = sorted(p.name for p in index.path.iterdir())
    with TestClient(create_app(fake_model, index), raise_server_exceptions=False) as c:
        body = json.dumps({"question": "A new question?", "metadata": metadata}).encode()
        response = c.post("/questions", content=body, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()) == (413 if "body" in error else 422, {"error": error})
        assert c.post("/search", json={"question": "A new question?"}).status_code == 200
    assert sorted(p.name for p in index.path.iterdir()) == before and len(Index.load(index.path)) == 3


def test_a_surrogate_id_is_a_422(client):
    body = b'{"question": "A new question?", "id": "x\\udc80"}'
    response = client.post("/questions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "id" in response.json()["error"]


def test_a_stored_row_never_breaks_a_read(fake_model, index, monkeypatch):
    from qdup.search import inputs

    # A row stored before the bounds existed: its metadata is returned as {}, never as a 500.
    monkeypatch.setattr(inputs, "metadata_problem", lambda m: None)
    index.add(fake_model, ["What is a deep question?"], ids=["deep"], metadata=[deep(260)])
    monkeypatch.undo()
    with TestClient(create_app(fake_model, index), raise_server_exceptions=False) as c:
        assert c.get("/questions/deep").json() == {"id": "deep", "question": "What is a deep question?", "metadata": {}}
        found = c.post("/search", json={"question": "What is a deep question?", "k": 2})
        assert found.status_code == 200 and found.json()["matches"][0]["metadata"] == {}
