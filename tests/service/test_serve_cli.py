"""`qdup serve` as a user starts it: the start-up lines, the write policy, the Host check."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from qdup.search.index import Index


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, tiny_model, tiny_model_dir):
    Index.build(tiny_model, None, ["How do I learn Python?", "How can I cook rice?"], tmp_path / "idx",
                model_path=str(tiny_model_dir))
    started = []

    def start(*options, env=None):
        port = free_port()
        code = "import sys; from qdup.cli import main; sys.exit(main())"
        process = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--index", str(tmp_path / "idx"), "--port", str(port), *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={"PYTHONPATH": ":".join(sys.path), "PATH": os.environ.get("PATH", ""), **(env or {})})
        started.append(process)
        lines = [process.stdout.readline(), process.stdout.readline()]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health")
                return f"http://127.0.0.1:{port}", lines
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.2)
        raise AssertionError("server did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_start_up_lines_and_token_writes(served, tmp_path, tiny_model_dir):
    url, lines = served(env={"QDUP_TOKEN": "s3cret"})
    assert lines[0].startswith(f"qdup serving {url}/  index {tmp_path / 'idx'} (2 questions)  model {tiny_model_dir} (")
    assert lines[1].startswith("writes: token (bearer token required); accepted Host headers: 127.0.0.1, localhost, ::1")
    assert httpx.post(url + "/questions", json={"question": "New?"}).status_code == 401
    assert httpx.post(url + "/questions", json={"question": "New?"}, headers={"Authorization": "Bearer s3cret"}).status_code == 201
    assert httpx.get(url + "/health", headers={"Host": "evil.example"}).status_code == 400


def test_read_only(served):
    url, lines = served("--read-only")
    assert lines[1].startswith("writes: read-only (started with --read-only)")
    assert httpx.post(url + "/questions", json={"question": "New?"}).status_code == 403
    assert httpx.post(url + "/search", json={"question": "rice"}).status_code == 200


def test_a_server_wide_filter(served, tmp_path, tiny_model):
    Index.load(tmp_path / "idx").update(tiny_model, ["2"], ["How can I cook rice?"], [{"status": "deleted"}])
    url, lines = served("--read-only", "--where", "status!=deleted")
    assert lines[1].rstrip().endswith("; every search: status!=deleted")
    matches = httpx.post(url + "/search", json={"question": "How can I cook rice?", "min_score": None}).json()
    assert [m["id"] for m in matches["matches"]] == ["1"]
    assert httpx.post(url + "/decisions", json={"query": "x?", "match_id": "1", "duplicate": True}).status_code == 403
