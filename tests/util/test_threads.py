"""Thread count and OpenMP wait policy: passive by default, the user's choice respected."""

import os
import subprocess
import sys

import pytest
import torch

from qdup.cli import main


def _policy_after_import(env_policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy:
        env["OMP_WAIT_POLICY"] = env_policy
    code = "import os, qdup, torch; print(os.environ['OMP_WAIT_POLICY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_asks_for_passive_waiting():
    assert _policy_after_import(None) == "PASSIVE"


def test_users_wait_policy_is_kept():
    assert _policy_after_import("ACTIVE") == "ACTIVE"


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_option_sets_torch_threads_for_the_command(capsys, restore_threads, monkeypatch):
    seen = []
    import qdup.evaluation.pairs

    real = qdup.evaluation.pairs.predict
    monkeypatch.setattr(qdup.evaluation.pairs, "predict", lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    torch.set_num_threads(2)
    assert main(["predict", "--threads", "2", "How do I learn Python?", "How to learn Python?"]) == 0
    assert main(["predict", "How do I learn Python?", "How to learn Python?"]) == 0  # one pair: one thread
    assert seen == [2, 1]
    assert torch.get_num_threads() == 2  # put back afterwards: the caller's setting is kept


def test_bad_thread_count_is_one_line(capsys, restore_threads):
    assert main(["predict", "--threads", "0", "a question", "another one"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: Invalid value for '--threads': 0 is not in the range x>=1.")
    assert len(err.strip().splitlines()) == 1


def test_thread_count_asked_before_torch_loads_applies_when_it_does():
    code = ("import sys\nfrom qdup.util.threads import use_threads\nrestore = use_threads(3)\n"
            "assert 'torch' not in sys.modules\nimport qdup.model, torch\nprint(torch.get_num_threads())\n"
            "restore()\nprint(torch.get_num_threads() != 3 or torch.get_num_threads())\n")
    env = {**os.environ, "PYTHONPATH": ":".join(sys.path), "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "True"]
