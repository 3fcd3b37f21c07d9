"""Search speed over many stored vectors: exact vs HNSW vs Milvus, through qdup.Index.

Synthetic unit vectors (dim 192, the built-in model's; --dim to change) from a two-level topic model (broad topics, sub-topics
of about 50 questions, questions around them): real question embeddings are clustered
like this, while uniform random vectors in 128 dimensions are a worst case no encoder
produces. benchmarks/retrieval.py checks HNSW recall on a real model's vectors. Reports build rate, p50/p99 latency of one k=10 query at a time,
recall@10 of HNSW against exact search, index size on disk, and resident memory per
stored question measured by loading the index in a fresh process.

    python benchmarks/search_speed.py --n 1000000
    python benchmarks/search_speed.py --n 100000 --backends hnsw,milvus

Milvus runs as Milvus Lite's gRPC server (``milvus-lite server``) in a child process on
127.0.0.1, reached through the network client as a cluster would be (or pass
--milvus-uri). Its disk figure is the server's data folder; its resident memory is the
server process's RSS after the build and the searches (the engine is there, not in qdup).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_results  # noqa: E402

from qdup.search.index import Index  # noqa: E402
from qdup.scoring.cosine import CosineScorer  # noqa: E402
from qdup.search.topk import exact_topk  # noqa: E402

DIM = 192  # set from --dim in main()


class StoredVectors:
    """Stands in for a model: question "q<n>" encodes to row n of a precomputed matrix."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors, self.dim, self.threshold = vectors, vectors.shape[1], 0.7
        self.fingerprint = hashlib.sha256(b"synthetic").hexdigest()
        self.scorer = CosineScorer()  # scores are the cosine: dense search only

    def encode(self, texts, batch_size=512, progress=False):
        return self.vectors[[int(t[1:]) for t in texts]]


def topic_model(n: int, seed: int = 0) -> np.ndarray:
    """Sub-topic centres: n/2500 broad topics, each with sub-topics (about 50 questions each)."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((max(n // 2500, 1), DIM)).astype(np.float32)
    n_subs = max(n // 50, 1)
    return topics[rng.integers(0, len(topics), n_subs)] + 0.6 * rng.standard_normal((n_subs, DIM)).astype(np.float32)


def questions_like(n: int, seed: int, subtopics: np.ndarray) -> np.ndarray:
    """Unit vectors around random sub-topics (nearest neighbours score ~0.93, like paraphrases)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):  # in blocks: a float64 Gaussian draw is 1 GB at 1M
        m = min(100_000, n - start)
        block = subtopics[rng.integers(0, len(subtopics), m)] + 0.35 * rng.standard_normal((m, DIM)).astype(np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def latencies_ms(index: Index, queries: np.ndarray) -> np.ndarray:
    out = []
    for q in queries:
        started = time.perf_counter()
        index.search_vectors(q[None], k=10)
        out.append((time.perf_counter() - started) * 1000)
    return np.array(out)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def resident_bytes_per_question(path: Path, n: int) -> float:
    probe = (
        "import numpy as np; from qdup.search.index import Index\n"
        "def rss(): return int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]) * 1024\n"
        # One search after loading: memory-mapped vectors count once a search has paged them in.
        f"before = rss(); index = Index.load({str(path)!r})\n"
        f"index.search_vectors(np.ones((1, {DIM}), np.float32) / {DIM ** 0.5}, k=10); print(rss() - before)"
    )
    return int(subprocess.check_output([sys.executable, "-c", probe], text=True)) / n


def milvus_lite_server(data: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", "import sys; from milvus_lite.cmdline import main; sys.exit(main())",
                               "server", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise SystemExit("milvus-lite server did not start")


def rss_bytes(pid: int) -> int:
    return int([line for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS")][0].split()[1]) * 1024


def run(n: int, backend: str, queries: np.ndarray, vectors: np.ndarray, tmp: Path, exact_top,
        milvus_uri: str | None = None) -> dict:
    model = StoredVectors(vectors)
    server = None
    if backend == "milvus" and milvus_uri is None:
        server, milvus_uri = milvus_lite_server(tmp / "milvus-data")
        atexit.register(server.kill)  # also when the run fails half way
        server_rss_before = rss_bytes(server.pid)
    options = {"uri": milvus_uri} if backend == "milvus" else None
    started = time.perf_counter()
    index = Index.build(model, None, [f"q{i}" for i in range(n)], tmp / backend, backend=backend, options=options,
                        force=True)
    build_s = time.perf_counter() - started
    with threadpool_limits(1):  # as in `qdup serve`: BLAS threads only fight on a busy 2-core box
        lat = latencies_ms(index, queries[:200] if backend == "exact" else queries)
    found = np.array([[int(i) - 1 for i in r.ids] for r in index.search_vectors(queries, k=10)])
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact_top)]))
    disk = folder_bytes(tmp / backend)
    if server is not None:
        disk += folder_bytes(tmp / "milvus-data")
        resident = (rss_bytes(server.pid) - server_rss_before) / n
        server.kill()
    else:
        resident = resident_bytes_per_question(tmp / backend, n)
    figures = {
        "build_s": round(build_s, 1), "build_questions_per_s": round(n / build_s),
        "p50_ms": round(float(np.percentile(lat, 50)), 3), "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "queries_timed": len(lat), "recall@10_vs_exact": recall,
        "disk_bytes_per_question": round(disk / n), "resident_bytes_per_question": round(resident),
    }
    print(backend, json.dumps(figures))
    return figures


def main() -> None:
    global DIM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="stored vectors")
    parser.add_argument("--queries", type=int, default=1000, help="timed single queries (HNSW)")
    parser.add_argument("--backends", "--backend", default="exact,hnsw", help="comma-separated backends to time")
    parser.add_argument("--milvus-uri", default=None,
                        help="Milvus server or Lite file (default: a Lite file in the temporary folder)")
    parser.add_argument("--tmp", default=None, help="folder for the indexes (default: a temporary one)")
    parser.add_argument("--dim", type=int, default=DIM, help="vector size (the built-in model's: 192)")
    args = parser.parse_args()
    DIM = args.dim
    subtopics = topic_model(args.n)
    vectors = questions_like(args.n, 1, subtopics)
    queries = questions_like(args.queries, 2, subtopics)  # new questions on existing topics
    exact_top = exact_topk(queries, vectors, 10)[1]
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        figures = {"n": args.n, "dim": DIM, "k": 10, "machine_state": machine()}
        for backend in args.backends.split(","):
            figures[backend] = run(args.n, backend, queries, vectors, Path(tmp), exact_top, args.milvus_uri)
    figures["machine_state_after"] = machine()
    write_results(f"search_speed_{args.n}_dim{DIM}_{args.backends.replace(',', '_')}", figures)


if __name__ == "__main__":
    main()
