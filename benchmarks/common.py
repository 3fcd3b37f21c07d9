"""Helpers shared by the benchmark scripts: where the data is, writing results."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QDUP_SHARED", ROOT.parent / "shared"))
QQP_PARTIAL = SHARED / "data" / "qqp-partial" / "pairs.tsv"
RESULTS = ROOT / "benchmarks" / "results"
# The `qdup` program of the src on the path (a baseline's older src has no `program`: its `main`)
CLI = "import sys, qdup.cli as c; sys.exit(c.program() if hasattr(c, 'program') else c.main(sys.argv[1:]))"


def data_path(path: str | None) -> Path:
    found = Path(path) if path else QQP_PARTIAL
    if not found.exists():
        raise SystemExit(f"data file {found} not found (pass --data PATH)")
    return found


def add_threads_option(parser) -> None:
    """``--threads N`` for a script that times or trains (apply it with qdup.util.threads.use_threads)."""
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (1: on a shared, busy machine two torch threads mostly wait for each other)")


def questions_per_second(model, questions: list[str], repeats: int = 3) -> float:
    """Best of ``repeats`` timings of encoding ``questions`` (this machine is noisy)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model.encode(questions)
        best = min(best, time.perf_counter() - started)
    return len(questions) / best


def machine() -> dict:
    """CPU model and load average right now: speed figures mean little without them."""
    return {"cpu": cpu_model(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def write_results(name: str, figures: dict) -> Path:
    from qdup.util.atomic import write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    figures = {**figures, "machine": {"cpu_threads": torch.get_num_threads(),
                                      "torch": torch.__version__, "python": platform.python_version()}}
    path = RESULTS / f"{name}.json"
    write_text(path, json.dumps(figures, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine_line() -> str:
    """CPU model and load average, to print next to every speed figure."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu_model()}, {os.cpu_count()} CPUs, load average {load}"


class Burner:
    """A busy-looping process (bounded by ``timeout``) standing in for other work on the box."""

    def __init__(self, seconds: int = 600):
        self.seconds = seconds
        self.process = None

    def __enter__(self) -> "Burner":
        import subprocess
        import sys

        self.process = subprocess.Popen(["timeout", str(self.seconds), sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()  # our own child, by its handle
        self.process.wait()


def run_child(script: str, args: list[str], src: str | None = None, env: dict | None = None) -> dict:
    """Run ``script --child ARGS`` with ``src`` first on the import path; its last stdout line is JSON."""
    import subprocess
    import sys

    environment = {**os.environ, **(env or {})}
    if src:  # first on the path; what was on it stays after (dependencies installed there)
        environment["PYTHONPATH"] = os.pathsep.join([src, str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, script, "--child", *args], env=environment, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_seconds(argv: list[str], src: str | None = None, quiet: bool = True) -> tuple[float, float]:
    """CPU (user + system) and wall seconds of ``python ARGV`` in a child process, from start
    to exit, with ``src`` first on its import path (its stdout dropped when ``quiet``)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, check=True, stdout=subprocess.DEVNULL if quiet else None)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, time.perf_counter() - started
