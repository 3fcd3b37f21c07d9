"""Commands that need no model never import torch; `qdup encode` exports vectors."""

import subprocess
import sys

import numpy as np
import pytest

from qdup.cli import main

PROBE = ("import sys\nfrom qdup.cli import main\ncode = main(sys.argv[1:])\n"
         "assert 'pymilvus' not in sys.modules, 'pymilvus imported'\n"  # only the milvus backend needs it
         "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["train", "--help"], ["search"], ["nosuchcommand"],
                                  ["train", "x.tsv"], ["index", "build", "--help"],
                                  ["predict", "one question"], ["search", "no-such-index", "a question"],
                                  ["mine", "no-such-index", "--threads", "2", "--out", "x.txt"]])
def test_no_torch_without_a_model(argv):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    assert done.stdout.strip().splitlines()[-1] == "NO-TORCH", done.stderr


def test_import_qdup_is_lazy_but_complete():
    code = "import sys, qdup; assert 'torch' not in sys.modules; qdup.Index; assert 'torch' not in sys.modules; " \
           "assert 'pymilvus' not in sys.modules and 'faiss' not in sys.modules; " \
           "qdup.load; assert 'torch' in sys.modules; print(sorted(set(qdup.__all__) - set(dir(qdup))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_encode_writes_vectors_in_file_order(tmp_path, tiny_model, tiny_model_dir, capsys):
    questions = tmp_path / "q.txt"
    questions.write_text("How do I learn Python?\nWhat is an LSTM?\n")
    out = tmp_path / "v.npy"
    assert main(["encode", str(questions), "--model", str(tiny_model_dir), "--out", str(out), "-q"]) == 0
    vectors = np.load(out, allow_pickle=False)
    np.testing.assert_allclose(vectors, tiny_model.encode(["How do I learn Python?", "What is an LSTM?"]), atol=1e-6)
    assert main(["encode", str(questions), "--out", str(out)]) == 1
    assert main(["encode", str(questions), "--out", str(tmp_path / "v.parquet")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"Error: {out} already exists (use --force to replace it)",
                   f"Error: --out must end in .npy, got '{tmp_path / 'v.parquet'}'"]
    broken = tmp_path / "q.jsonl"
    broken.write_text('{"question": "How do I learn Python?"}\n{"question": "caf\\udce9?"}\n')  # a lone surrogate
    assert main(["encode", str(broken), "--model", str(tiny_model_dir), "--out", str(tmp_path / "w.npy")]) == 1
    assert capsys.readouterr().err.startswith("Error: question 2 is not valid Unicode text")
    assert not (tmp_path / "w.npy").exists()


HEAVY_PROBE = ("import sys\nfrom qdup.cli import main\ncode = main(sys.argv[1:])\n"
               "print('IMPORTED', ' '.join(sorted(m for m in ('numpy', 'scipy', 'torch', 'sklearn', 'lightgbm', 'torch._dynamo')"
               " if m in sys.modules)))\n")


def imported_by(argv) -> set[str]:
    done = subprocess.run([sys.executable, "-c", HEAVY_PROBE, *argv], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    return set(done.stdout.strip().splitlines()[-1].split()) - {"IMPORTED"}


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["search", "--help"], ["index", "build", "--help"],
                                  ["train", "--help"]])
def test_help_and_version_import_nothing_heavy(argv):
    assert imported_by(argv) == set()  # click and qdup's own light modules only


def test_predict_and_search_import_neither_scikit_learn_nor_lightgbm_nor_dynamo(tmp_path):
    # lexical hashing is qdup's own (mmh3), the re-rankers predict through LightGBM's C
    # library, and the LSTM loads on the meta device without drawing random weights.
    predict = imported_by(["predict", "How do I learn Python?", "What is the best way to learn Python?"])
    assert "torch" in predict and not predict & {"sklearn", "lightgbm", "torch._dynamo"}
    questions = tmp_path / "q.txt"
    questions.write_text("How do I learn Python?\nWhat is an LSTM?\n")
    assert main(["index", "build", str(questions), "--out", str(tmp_path / "index"), "-q"]) == 0
    search = imported_by(["search", str(tmp_path / "index"), "learning python"])
    assert "torch" in search and not search & {"sklearn", "lightgbm", "torch._dynamo"}
