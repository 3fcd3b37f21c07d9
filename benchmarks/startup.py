"""CPU seconds of one ``qdup`` command from start to exit, against ``python -c "import torch"``.

    python benchmarks/startup.py [--rounds 5] [--baseline OLD_SRC] [--data PATH]

A moderator's script that calls the CLI once per question pays this every time. Each
command runs in a fresh process (user + system CPU of the child); rounds of the current
code, the old one (``--baseline``, a ``src`` folder of another checkout) and the torch
import alternate, and the median of each is reported with its ratio to the torch import.
``search`` runs on an index of the 51k qqp-partial questions, built once by each side (each
with its own built-in model: an index refuses a model other than the one that built it).
Writes benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import CLI, ROOT, child_seconds, data_path, machine_line, write_results

PAIR = ["How do I learn Python?", "What is the best way to learn Python?"]


def cpu_seconds(argv: list[str], src: str | None) -> float:
    return child_seconds(argv, src)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="src folder of the code to compare against")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    args = parser.parse_args()
    sides = {"current": str(ROOT / "src")} | ({"baseline": args.baseline} if args.baseline else {})
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "questions.txt"
        sys.path.insert(0, str(ROOT / "src"))
        import qdup
        from retrieval import corpus_and_queries

        pairs = qdup.read_pairs(data_path(args.data))
        corpus.write_text("\n".join(corpus_and_queries(pairs, qdup.reference_split(pairs))[0]) + "\n")
        commands = {}
        for side, src in sides.items():
            index = str(Path(tmp) / f"index-{side}")
            cpu_seconds(["-c", CLI, "index", "build", str(corpus), "--out", index, "-q"], src)
            commands[side] = {"version": ["-c", CLI, "--version"], "help": ["-c", CLI, "--help"],
                              "predict": ["-c", CLI, "predict", *PAIR], "search": ["-c", CLI, "search", index, PAIR[0]]}
        times: dict[str, list[float]] = {}
        before = machine_line()
        for _ in range(args.rounds):
            times.setdefault("import torch", []).append(cpu_seconds(["-c", "import torch"], None))
            for side, src in sides.items():
                for name, argv in commands[side].items():
                    times.setdefault(f"{side} {name}", []).append(cpu_seconds(argv, src))
        after = machine_line()
    torch_cpu = float(np.median(times["import torch"]))
    figures = {"command": "python benchmarks/startup.py " + " ".join(sys.argv[1:]), "machine_before": before,
               "machine_after": after, "rounds": args.rounds, "cpu_s": {}, "vs_import_torch": {}}
    for name, values in times.items():
        figures["cpu_s"][name] = round(float(np.median(values)), 3)
        figures["vs_import_torch"][name] = round(float(np.median(values)) / torch_cpu, 2)
        print(f"{name:>20}: {figures['cpu_s'][name]:.3f} CPU-s  ({figures['vs_import_torch'][name]:.2f}x import torch)")
    print(f"machine: {before} (start), {after} (end)")
    write_results("startup", figures)


if __name__ == "__main__":
    main()
