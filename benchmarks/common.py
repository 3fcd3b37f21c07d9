"""Helpers shared by the benchmark scripts: where the data is, writing results."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QDUP_SHARED", ROOT.parent / "shared"))
QQP_PARTIAL = SHARED / "data" / "qqp-partial" / "pairs.tsv"
RESULTS = ROOT / "benchmarks" / "results"


def data_path(path: str | None) -> Path:
    found = Path(path) if path else QQP_PARTIAL
    if not found.exists():
        raise SystemExit(f"data file {found} not found (pass --data PATH)")
    return found


def questions_per_second(model, questions: list[str], repeats: int = 3) -> float:
    """Best of ``repeats`` timings of encoding ``questions`` (this machine is noisy)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model.encode(questions)
        best = min(best, time.perf_counter() - started)
    return len(questions) / best


def write_results(name: str, figures: dict) -> Path:
    from qdup.atomic import write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    figures = {**figures, "machine": {"cpu_threads": torch.get_num_threads(),
                                      "torch": torch.__version__, "python": platform.python_version()}}
    path = RESULTS / f"{name}.json"
    write_text(path, json.dumps(figures, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path
