"""HTTP load on loopback: `qdup serve` answering POST /search over the real corpus.

Starts the server on 127.0.0.1 (a free port), then measures one client (sequential
requests, keep-alive) and 8 and 32 concurrent clients. Every scenario is bounded by a
request count and a time limit. The client runs on the same 2 cores as the server, so
the figures include its cost.

    python benchmarks/http_load.py --model runs/default-model [--backend hnsw]
"""

from __future__ import annotations

import argparse
import asyncio
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
from common import data_path, write_results  # noqa: E402

import qdup  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, model: str | None, port: int) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "qdup"), "serve", "--index", str(index), "--port", str(port)]
    server = subprocess.Popen(command + (["--model", model] if model else []))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the built-in model)")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--backend", default="auto", choices=("auto", "exact", "hnsw"), help="index backend")
    parser.add_argument("--requests", type=int, default=3000, help="requests per scenario (at most)")
    parser.add_argument("--seconds", type=float, default=20, help="time limit per scenario")
    args = parser.parse_args()
    pairs = qdup.read_pairs(data_path(args.data))
    corpus = sorted({q.strip() for q in pairs.question1 + pairs.question2 if q.strip()})
    queries = [q.strip() for q in qdup.reference_split(pairs).test.question1 if q.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        model = qdup.load(args.model)
        qdup.Index.build(model, None, corpus, index, backend=args.backend,
                         model_path=os.path.abspath(args.model) if args.model else None)
        port = free_port()
        server = start_server(index, args.model, port)
        try:
            url = f"http://127.0.0.1:{port}"
            figures = {"corpus_questions": len(corpus), "model": args.model or "built-in", "backend": args.backend,
                       "one_client": one_client(url, queries, args.requests, args.seconds)}
            print("1 client ", figures["one_client"])
            for clients in (8, 32):
                result = asyncio.run(concurrent_clients(url, queries, clients, args.requests, args.seconds))
                figures[f"{clients}_clients"] = result
                print(f"{clients} clients", result)
        finally:
            server.terminate()
            server.wait(timeout=10)
    write_results(f"http_load_{args.backend}", figures)


if __name__ == "__main__":
    main()
