"""HTTP load on loopback: `qdup serve` answering POST /search over the real corpus.

Starts the server on 127.0.0.1 (a free port), then measures one client (sequential
requests, keep-alive) and 8 and 32 concurrent clients. Every scenario is bounded by a
request count and a time limit. The client runs on the same 2 cores as the server, so
the figures include its cost. Two clients: httpx (a typical Python client, about as
CPU-hungry per request as the server) and a minimal keep-alive HTTP/1.1 client that
leaves the cores to the server, as remote clients would.

With ``--baseline OLD_SRC`` (a ``src`` folder of another checkout) a second server runs
the old code on the same index, and each scenario is run against the old and the current
server in turn (minimal client only), so their ratio is measured under the same load.

    python benchmarks/http_load.py [--model runs/default-model] [--backend hnsw] [--baseline OLD_SRC]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import CLI, ROOT, data_path, machine_line, write_results  # noqa: E402

import qdup  # noqa: E402
from qdup.text.vocabulary import tokenize  # noqa: E402


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, model: str | None, port: int, src: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "-c", CLI,
               "serve", "--index", str(index), "--port", str(port)]
    env = dict(os.environ)
    if src:  # that checkout's code first on the path
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    server = subprocess.Popen(command + (["--model", model] if model else []), env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 60 s")


def summary(latencies: list[float], errors: int, seconds: float) -> dict:
    lat = np.array(latencies) * 1000
    return {"requests": len(latencies) + errors, "errors": errors, "seconds": round(seconds, 2),
            "requests_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def one_client(url: str, questions: list[str], count: int, limit_s: float) -> dict:
    latencies, errors = [], 0
    with httpx.Client(base_url=url) as client:
        for q in questions[:50]:  # warm-up: connections, allocator, caches
            client.post("/search", json={"question": q, "k": 10})
        started = time.perf_counter()
        for n in range(count):
            t = time.perf_counter()
            response = client.post("/search", json={"question": questions[n % len(questions)], "k": 10})
            if response.status_code == 200:
                latencies.append(time.perf_counter() - t)
            else:
                errors += 1
            if time.perf_counter() - started > limit_s:
                break
    return summary(latencies, errors, time.perf_counter() - started)


async def concurrent_clients(url: str, questions: list[str], clients: int, count: int, limit_s: float) -> dict:
    latencies, errors, issued = [], 0, 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal errors, issued
            while issued < count and time.perf_counter() - started < limit_s:
                question = questions[issued % len(questions)]
                issued += 1
                t = time.perf_counter()
                try:
                    response = await client.post("/search", json={"question": question, "k": 10})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
    return summary(latencies, errors, time.perf_counter() - started)


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client for POST /search.

    httpx's async client costs about as much CPU per request as the server itself, and
    here both share 2 cores; real clients sit on other machines. This one spends ~0.1 ms.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader = self.writer = None

    async def post_json(self, path: str, payload: dict) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps(payload).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        json.loads(await self.reader.readexactly(length))  # a complete, valid JSON answer
        return status


async def raw_clients(port: int, questions: list[str], clients: int, count: int, limit_s: float) -> dict:
    latencies, errors, issued = [], 0, 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal errors, issued
        connection = RawConnection(port)
        while issued < count and time.perf_counter() - started < limit_s:
            question = questions[issued % len(questions)]
            issued += 1
            t = time.perf_counter()
            try:
                ok = await connection.post_json("/search", {"question": question, "k": 10}) == 200
            except (OSError, ValueError, asyncio.IncompleteReadError, StopIteration):
                ok, connection = False, RawConnection(port)
            if ok:
                latencies.append(time.perf_counter() - t)
            else:
                errors += 1
        if connection.writer is not None:
            connection.writer.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    return summary(latencies, errors, time.perf_counter() - started)


def compare(index: Path, model: str | None, sides: dict[str, str], queries: list[str], count: int,
            limit_s: float) -> dict:
    """Each scenario (1, 8 and 32 minimal clients) against each side's server in turn."""
    ports = {name: free_port() for name in sides}
    servers = {name: start_server(index, model, ports[name], src) for name, src in sides.items()}
    figures: dict = {name: {} for name in sides}
    try:
        for clients in (1, 8, 32):
            for name in sides:
                result = asyncio.run(raw_clients(ports[name], queries, clients, count, limit_s))
                figures[name][f"{clients}_clients_raw"] = result
                print(f"{name:>8} {clients:2d} clients (raw)", result, flush=True)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=10)
    current, baseline = figures["current"], figures["baseline"]
    figures["ratios"] = {
        "throughput_8_clients_vs_baseline": round(current["8_clients_raw"]["requests_per_s"]
                                                  / baseline["8_clients_raw"]["requests_per_s"], 2),
        "current_p99_32_vs_1_client": round(current["32_clients_raw"]["p99_ms"] / current["1_clients_raw"]["p99_ms"], 2),
        "baseline_p99_32_vs_1_client": round(baseline["32_clients_raw"]["p99_ms"]
                                             / baseline["1_clients_raw"]["p99_ms"], 2)}
    print(figures["ratios"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the built-in model)")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--backend", default="auto", choices=("auto", "exact", "hnsw"), help="index backend")
    parser.add_argument("--requests", type=int, default=3000, help="requests per scenario (at most)")
    parser.add_argument("--seconds", type=float, default=20, help="time limit per scenario")
    parser.add_argument("--suffix", default="", help="appended to the results file name")
    parser.add_argument("--baseline", help="src folder of the code to compare against")
    args = parser.parse_args()
    pairs = qdup.read_pairs(data_path(args.data))
    corpus = sorted({q.strip() for q in pairs.question1 + pairs.question2 if tokenize(q)})  # what an index accepts
    queries = [q.strip() for q in qdup.reference_split(pairs).test.question1 if q.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        model = qdup.load(args.model)
        qdup.Index.build(model, None, corpus, index, backend=args.backend,
                         model_path=os.path.abspath(args.model) if args.model else None)
        if args.baseline:
            figures = {"command": "python benchmarks/http_load.py " + " ".join(sys.argv[1:]),
                       "machine_before": machine_line(), "corpus_questions": len(corpus),
                       "model": args.model or "built-in", "fingerprint": model.fingerprint[:12], "backend": args.backend}
            figures.update(compare(index, args.model, {"baseline": args.baseline, "current": str(ROOT / "src")},
                                   queries, args.requests, args.seconds))
            figures["machine_after"] = machine_line()
            print(f"machine: {figures['machine_before']} (start), {figures['machine_after']} (end)")
            write_results(f"http_load_{args.backend}_vs_baseline{args.suffix}", figures)
            return
        port = free_port()
        server = start_server(index, args.model, port)
        try:
            url = f"http://127.0.0.1:{port}"
            figures = {"cpu": cpu_model(), "load_average_at_start": os.getloadavg(),
                       "corpus_questions": len(corpus), "model": args.model or "built-in",
                       "fingerprint": model.fingerprint[:12], "backend": args.backend,
                       "one_client": one_client(url, queries, args.requests, args.seconds)}
            print("1 client ", figures["one_client"])
            figures["one_client_raw"] = asyncio.run(raw_clients(port, queries, 1, args.requests, args.seconds))
            print("1 client  (raw)", figures["one_client_raw"])
            for clients in (8, 32):
                for name, run in (("httpx", concurrent_clients), ("raw", None)):
                    if run is None:
                        result = asyncio.run(raw_clients(port, queries, clients, args.requests, args.seconds))
                    else:
                        result = asyncio.run(run(url, queries, clients, args.requests, args.seconds))
                    figures[f"{clients}_clients_{name}"] = result
                    print(f"{clients} clients ({name})", result)
            figures["load_average_at_end"] = os.getloadavg()
        finally:
            server.terminate()
            server.wait(timeout=10)
    write_results(f"http_load_{args.backend}{args.suffix}", figures)


if __name__ == "__main__":
    main()
