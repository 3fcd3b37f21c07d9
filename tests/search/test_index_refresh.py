"""A loaded index (a running service) sees writes committed by other handles and processes."""

import subprocess
import sys

from fastapi.testclient import TestClient

from qdup.cli import main
from qdup.search.index import Index
from qdup.service.app import create_app

QUESTIONS = ["How do I learn Python?", "What is an LSTM?", "How do I cook rice?"]


def ids_found(client, question, k=10):
    return [m["id"] for m in client.post("/search", json={"question": question, "k": k}).json()["matches"]]


def test_service_sees_cli_add_and_remove(tmp_path, tiny_model, tiny_model_dir):
    path = tmp_path / "idx"
    index = Index.build(tiny_model, None, QUESTIONS, path, model_path=str(tiny_model_dir))
    with TestClient(create_app(tiny_model, index)) as client:
        assert "2" in ids_found(client, "What is an LSTM?")
        # `qdup index remove` in another process: the server's next search no longer returns it
        env_code = "import sys; from qdup.cli import main; sys.exit(main())"
        done = subprocess.run([sys.executable, "-c", env_code, "index", "remove", str(path), "2"],
                              capture_output=True, text=True, env={"PYTHONPATH": ":".join(sys.path)})
        assert done.returncode == 0, done.stderr
        assert "2" not in ids_found(client, "What is an LSTM?")
        assert client.get("/health").json()["questions"] == 2
        # `qdup index add` (same code, in this process but through its own handle)
        new = tmp_path / "new.jsonl"
        new.write_text('{"id": "rust", "question": "Where can I learn Rust?"}\n')
        assert main(["index", "add", str(path), str(new)]) == 0
        assert ids_found(client, "Where can I learn Rust?", k=1) == ["rust"]
        assert client.get("/health").json()["questions"] == 3


def test_refresh_costs_one_stat_when_nothing_changed(tmp_path, tiny_model, monkeypatch):
    index = Index.build(tiny_model, None, QUESTIONS, tmp_path / "idx")
    other = Index.load(tmp_path / "idx")
    reads = []
    import qdup.search.index as index_module
    real = index_module.read_state
    monkeypatch.setattr(index_module, "read_state", lambda p: reads.append(p) or real(p))
    for _ in range(3):
        index.search(tiny_model, ["rice"], k=1)
    assert reads == []
    other.add(tiny_model, ["How do I boil an egg?"], ["egg"])
    assert index.search(tiny_model, ["How do I boil an egg?"], k=1)[0].ids == ["egg"]
    assert len(reads) == 1


def test_rebuilt_index_is_picked_up(tmp_path, tiny_model):
    path = tmp_path / "idx"
    index = Index.build(tiny_model, None, QUESTIONS, path)
    Index.build(tiny_model, ["a"], ["Is the sky blue?"], path, force=True)
    assert index.search(tiny_model, ["Is the sky blue?"], k=5)[0].ids == ["a"]


def test_import_and_write_without_fcntl(tmp_path):
    # Windows has no fcntl: the writer lock comes from filelock, so qdup must not need it.
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "import qdup\n"
        "sys.path.insert(0, 'tests'); from fake_model import FakeModel\n"
        "m = FakeModel(); i = qdup.Index.build(m, None, ['a b c'], sys.argv[1])\n"
        "i.add(m, ['d e f']); print(len(qdup.Index.load(sys.argv[1])))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "idx")], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
