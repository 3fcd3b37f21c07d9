"""The Milvus backend against the real engine (Milvus Lite, file and gRPC server): hybrid
search, the CLI and the service through it, and its failures (one line, nothing half-added)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("pymilvus")

import qdup  # noqa: E402
from helpers import assert_same_results, run  # noqa: E402
from fake_model import FakeModel  # noqa: E402
from milvus_server import MilvusServer, collection_name  # noqa: E402
from qdup import Index  # noqa: E402
from qdup.search.milvus import client as milvus_client, store as milvus_store
from qdup.errors import DataError  # noqa: E402
from test_hybrid_index import QUESTIONS as HYBRID_QUESTIONS, TINY_RERANK  # noqa: E402
from test_index_backends import QUESTIONS  # noqa: E402


@pytest.fixture(scope="module")
def rerank_model(toy_split) -> qdup.QdupModel:
    return qdup.train(toy_split, TINY_RERANK)


@pytest.fixture
def fast_timeout(monkeypatch):
    # A call to a server that is gone fails in this time, not 30 s; still ample for a live one on a busy machine.
    monkeypatch.setattr(milvus_store, "TIMEOUT_S", 20.0)


def milvus(uri: str) -> dict:
    return {"uri": uri, "collection": collection_name()}


@pytest.mark.parametrize("where", ["file", "server"])
def test_hybrid_search_matches_the_exact_backend(tmp_path, rerank_model, where, request):
    uri = request.getfixturevalue("milvus_file") if where == "file" else request.getfixturevalue("milvus_server").uri
    corpus = HYBRID_QUESTIONS + QUESTIONS  # more rows than either candidate list (30)
    index = Index.build(rerank_model, None, corpus, tmp_path / "m", backend="milvus", options=milvus(uri))
    exact = Index.build(rerank_model, None, corpus, tmp_path / "e", backend="exact")
    queries = ["how to learn python", "best case for an iphone 6", "rice cooking", "guitar blue sky"]
    assert_same_results(index.search(rerank_model, queries, k=5), exact.search(rerank_model, queries, k=5))
    index.add(rerank_model, ["Which case fits the iPhone 6 best?"])
    exact.add(rerank_model, ["Which case fits the iPhone 6 best?"])
    index.remove(["5"])
    exact.remove(["5"])
    assert_same_results(Index.load(index.path).search(rerank_model, queries, k=5),
                        exact.search(rerank_model, queries, k=5))


def test_the_collection_records_the_model(tmp_path, fake_model, milvus_file):
    options = milvus(milvus_file)
    Index.build(fake_model, None, QUESTIONS, tmp_path / "a", backend="milvus", options=options)
    other = FakeModel(salt="b")
    with pytest.raises(DataError, match=f"collection {options['collection']!r} .* already exists"):
        Index.build(other, None, QUESTIONS, tmp_path / "b", backend="milvus", options=options)
    # A folder whose manifest is edited to another model is refused by the collection itself.
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    (tmp_path / "a" / "manifest.json").write_text(json.dumps({**manifest, "fingerprint": other.fingerprint}))
    with pytest.raises(DataError, match=f"holds model {fake_model.fingerprint[:12]}, not {other.fingerprint[:12]}"):
        Index.load(tmp_path / "a")
    replaced = Index.build(other, None, QUESTIONS[:3], tmp_path / "b", backend="milvus", options=options, force=True)
    assert len(replaced) == 3 and replaced.search(other, [QUESTIONS[1]], k=1)[0].ids == ["2"]


def test_cli_build_search_add_remove_mine(capsys, tmp_path, tiny_model_dir, milvus_server):
    questions = tmp_path / "q.txt"
    questions.write_text("\n".join(HYBRID_QUESTIONS) + "\n")
    collection = collection_name()
    code, out, err = run(capsys, "index", "build", questions, "--out", tmp_path / "idx", "--model", tiny_model_dir,
                         "--backend", "milvus", "--uri", milvus_server.uri, "--collection", collection, "-q")
    assert code == 0 and f"indexed {len(HYBRID_QUESTIONS)} questions" in out
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["milvus"] == {"uri": milvus_server.uri, "collection": collection}
    assert {p.name for p in (tmp_path / "idx").iterdir()} - {".lock"} == {"manifest.json"}
    code, out, _ = run(capsys, "search", tmp_path / "idx", "How do I learn Python?", "-k", "2", "--json")
    assert code == 0 and json.loads(out)[0]["id"] == "1"
    extra = tmp_path / "extra.txt"
    extra.write_text("How do I learn Rust?\n")
    assert run(capsys, "index", "add", tmp_path / "idx", extra)[0] == 0
    assert run(capsys, "index", "remove", tmp_path / "idx", "3")[0] == 0
    assert len(Index.load(tmp_path / "idx")) == len(HYBRID_QUESTIONS)
    code, out, _ = run(capsys, "mine", tmp_path / "idx", "--out", tmp_path / "pairs.csv", "--threshold", "0.1")
    assert code == 0 and (tmp_path / "pairs.csv").read_text().startswith("id1,id2,score")


@pytest.mark.parametrize("args, message", [
    (["--backend", "milvus"], "Error: the milvus backend needs a uri"),
    (["--backend", "milvus", "--uri", "ftp://x"], "Error: milvus uri must be http(s)://host:port or a Milvus Lite"),
    (["--backend", "milvus", "--uri", "http://127.0.0.1:1"], "Error: Milvus at http://127.0.0.1:1: Fail connecting"),
    (["--backend", "milvus", "--uri", "/no/such/dir/q.db"], "Error: Milvus at /no/such/dir/q.db: Open local milvus"),
    (["--backend", "milvus", "--uri", "x.db", "--collection", "9 bad"], "Error: collection must be letters"),
    (["--backend", "exact", "--uri", "x.db"], "Error: the exact/hnsw/auto backends take no uri"),
])
def test_bad_settings_are_one_line_exit_1(capsys, tmp_path, args, message, fast_timeout):
    questions = tmp_path / "q.txt"
    questions.write_text("How do I learn Python?\n")
    code, out, err = run(capsys, "index", "build", questions, "--out", tmp_path / "idx", *args, "-q")
    assert code == 1 and err.startswith(message) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "idx").exists()


def test_missing_collection_and_wrong_model_are_one_line(capsys, tmp_path, fake_model, milvus_file):
    from pymilvus import MilvusClient

    options = milvus(milvus_file)
    Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus", options=options)
    code, _, err = run(capsys, "search", tmp_path / "idx", "how to learn python")  # the built-in model
    assert code == 1 and err.startswith("Error: index") and "was built with model" in err and err.count("\n") == 1
    MilvusClient(milvus_file).drop_collection(options["collection"])
    code, _, err = run(capsys, "search", tmp_path / "idx", "how to learn python")
    assert code == 1 and err == (f"Error: Milvus collection {options['collection']!r} does not exist at "
                                 f"{milvus_file}; rebuild the index\n")


@pytest.fixture
def own_server(tmp_path):
    """A server this test may kill (the module's shared one must stay up)."""
    server = MilvusServer(tmp_path / "data").start()
    yield server
    server.stop()


def load_when_reconnected(path, seconds: float = 120.0) -> Index:
    """A gRPC channel takes about a second to notice a restarted server: retry like a user would."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return Index.load(path)
        except DataError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_server_gone_mid_search_is_one_line(capsys, tmp_path, fake_model, own_server, fast_timeout):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus",
                        options=milvus(own_server.uri))
    assert index.search(fake_model, ["how to learn python"], k=1)[0].ids == ["41"]
    own_server.stop()
    with pytest.raises(DataError, match=f"^Milvus at {own_server.uri}: ") as info:
        index.search(fake_model, ["how to learn python"], k=1)
    assert "\n" not in str(info.value)


def test_server_gone_mid_add_leaves_no_half_added_rows(tmp_path, fake_model, own_server, fast_timeout, monkeypatch):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus",
                        options=milvus(own_server.uri))
    monkeypatch.setattr(milvus_store, "INSERT_ROWS", 2)  # several insert calls per add
    real_insert, calls = index._state[1].client.insert, []

    def insert_then_die(*args, **kwargs):  # the server dies after the first batch is stored
        calls.append(1)
        if len(calls) == 2:
            own_server.stop()
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(index._state[1].client, "insert", insert_then_die)
    new = [f"late question {n}?" for n in range(5)]
    with pytest.raises(DataError, match=f"^Milvus at {own_server.uri}: ") as info:
        index.add(fake_model, new, ids=[f"n{n}" for n in range(5)])
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    own_server.start()  # same data directory: the first batch is stored there, uncommitted
    reloaded = load_when_reconnected(tmp_path / "idx")
    assert len(reloaded) == len(QUESTIONS) and len(reloaded.live()[1]) == len(QUESTIONS)
    [found] = reloaded.search(fake_model, ["late question 0?"], k=3)
    assert not any(i.startswith("n") for i in found.ids)
    store = reloaded._state[1]  # the engine does hold the first batch: hidden, not absent
    stored = store.client.query(store.collection, filter='qid in ["n0", "n1", "n2"]', output_fields=["qid"])
    assert sorted(r["qid"] for r in stored) == ["n0", "n1"]
    assert reloaded.add(fake_model, new[:1], ids=["n0"]) == ["n0"]  # the stale rows are gone for good
    assert [i for i in Index.load(tmp_path / "idx").live()[1] if i.startswith("n")] == ["n0"]


def test_token_comes_from_the_environment_and_is_never_written(tmp_path, fake_model, milvus_server, monkeypatch):
    secret = "root:s3cret-token-for-test"
    monkeypatch.setenv(milvus_client.TOKEN_ENV, secret)
    monkeypatch.setattr(milvus_client, "_CLIENTS", {})
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus",
                        options=milvus(milvus_server.uri))
    index.add(fake_model, ["one more?"])
    assert all(secret not in p.read_text(errors="replace") for p in (tmp_path / "idx").iterdir() if p.is_file())


def test_service_searches_a_milvus_index(tmp_path, fake_model, milvus_server):
    from fastapi.testclient import TestClient

    from qdup.service.app import create_app

    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus",
                        options=milvus(milvus_server.uri))
    [expected] = Index.build(fake_model, None, QUESTIONS, tmp_path / "e", backend="exact").search(
        fake_model, ["How do I learn Python?"], k=3)
    with TestClient(create_app(fake_model, index)) as client:
        response = client.post("/search", json={"question": "How do I learn Python?", "k": 3})
    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["matches"]] == expected.ids


def test_a_lite_file_open_in_another_process_is_one_line(tmp_path, fake_model, milvus_file):
    import subprocess
    import sys

    Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus", options=milvus(milvus_file))
    # This process holds the file (Milvus Lite locks it); another one cannot open it.
    done = subprocess.run([sys.executable, "-c", "import sys; from qdup.cli import main; sys.exit(main(sys.argv[1:]))",
                           "index", "remove", str(tmp_path / "idx"), "1"], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"Error: Milvus at {milvus_file}: Open local milvus failed (a Milvus Lite file")


def test_a_long_batch_of_queries_never_fails_for_its_length(tmp_path, fake_model, milvus_server, monkeypatch):
    from pymilvus.exceptions import MilvusException

    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus",
                        options=milvus(milvus_server.uri))
    exact = Index.build(fake_model, None, QUESTIONS, tmp_path / "e", backend="exact")
    client, real_search = index._state[1].client, index._state[1].client.search

    def within_deadline(*args, data, **kwargs):  # Milvus Lite answers ~0.2 s a query: 30 s hold ~100 of them
        if len(data) > 20:
            raise MilvusException(message="DEADLINE_EXCEEDED")
        return real_search(*args, data=data, **kwargs)

    monkeypatch.setattr(client, "search", within_deadline)
    queries = [f"{q} (query {n})" for n in range(3) for q in QUESTIONS][:117]
    assert_same_results(index.search(fake_model, queries, k=3), exact.search(fake_model, queries, k=3))
