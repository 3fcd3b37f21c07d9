"""`qdup serve` as a user starts it: the start-up lines, the write policy, the Host check."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from qdup.search.index import Index

# Generous: a loaded machine answers slowly, and a server that is not up yet fails at once anyway.
http = httpx.Client(timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, tiny_model, tiny_model_dir):
    Index.build(tiny_model, None, ["How do I learn Python?", "How can I cook rice?"], tmp_path / "idx",
                model_path=str(tiny_model_dir))
    started = []

    def start(*options, env=None, host="127.0.0.1"):
        port = free_port()
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        code = "import sys; from qdup.cli import main; sys.exit(main())"
        process = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--index", str(tmp_path / "idx"), "--port", str(port),
             "--host", host, *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={"PYTHONPATH": ":".join(sys.path), "PATH": os.environ.get("PATH", ""), **(env or {})})
        started.append(process)
        lines = [process.stdout.readline(), process.stdout.readline()]
        deadline = time.monotonic() + 180  # start-up imports torch: slow on a busy machine
        while time.monotonic() < deadline:
            try:
                http.get(f"{url}/health")
                return url, lines
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.2)
        raise AssertionError("server did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=60)


def test_start_up_lines_and_token_writes(served, tmp_path, tiny_model_dir):
    url, lines = served(env={"QDUP_TOKEN": "s3cret"})
    assert lines[0].startswith(f"qdup serving {url}/  index {tmp_path / 'idx'} (2 questions)  model {tiny_model_dir} (")
    assert lines[1].startswith("writes: token (bearer token required); accepted Host headers: 127.0.0.1, localhost, ::1")
    assert http.post(url + "/questions", json={"question": "New?"}).status_code == 401
    assert http.post(url + "/questions", json={"question": "New?"}, headers={"Authorization": "Bearer s3cret"}).status_code == 201
    refused = http.get(url + "/health", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/json"


def test_read_only(served):
    url, lines = served("--read-only")
    assert lines[1].startswith("writes: read-only (started with --read-only)")
    assert http.post(url + "/questions", json={"question": "New?"}).status_code == 403
    assert http.post(url + "/search", json={"question": "rice"}).status_code == 200


def test_a_server_wide_filter(served, tmp_path, tiny_model):
    Index.load(tmp_path / "idx").update(tiny_model, ["2"], ["How can I cook rice?"], [{"status": "deleted"}])
    url, lines = served("--read-only", "--where", "status!=deleted")
    assert lines[1].rstrip().endswith("; every search: status!=deleted")
    matches = http.post(url + "/search", json={"question": "How can I cook rice?", "min_score": None}).json()
    assert [m["id"] for m in matches["matches"]] == ["1"]
    assert http.post(url + "/decisions", json={"query": "x?", "match_id": "1", "duplicate": True}).status_code == 403


def test_ipv6_loopback_is_answered(served):
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    url, lines = served(host="::1")
    assert url.startswith("http://[::1]:") and lines[0].startswith(f"qdup serving {url}/")
    assert lines[1].startswith("writes: open") and "accepted Host headers: ::1, localhost, 127.0.0.1" in lines[1]
    assert http.get(url + "/health").json()["questions"] == 2
    assert http.post(url + "/questions", json={"question": "Asked over IPv6?"}).status_code == 201


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
def test_a_busy_port_or_unknown_host_fails_before_the_index_loads(capsys, tmp_path, monkeypatch, host):
    # The port was bound only once the index and the model had loaded (minutes at a million questions).
    from helpers import run

    monkeypatch.setattr(Index, "load", lambda *a, **k: pytest.fail("loaded the index before binding the port"))
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "serve", "--index", tmp_path / "idx", "--host", host, "--port", port)
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: cannot listen on {host}:{port} (") and err.count("\n") == 1
