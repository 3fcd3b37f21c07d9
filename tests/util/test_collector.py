"""The ``qdup`` program freezes what torch's import made out of the cycle collector's walks,
and leaves the collector on; a program that imports qdup, or calls its CLI, keeps its own."""

import gc
import subprocess
import sys

import pytest

from qdup.cli import main
from qdup.util import collector

PROBE = ("import gc, sys\nfrom qdup.cli import program\ncode = program()\n"
         "print(code, 'torch' in sys.modules, gc.isenabled(), gc.get_freeze_count() > 0)\n")


def probe(argv) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    return done.stdout.split()[-4:]


def test_a_command_that_loads_torch_freezes_it_and_collects_again():
    assert probe(["predict", "How do I learn Python?", "What is the best way to learn Python?"]) == \
        ["0", "True", "True", "True"]


@pytest.mark.parametrize("argv", [["--version"], ["nosuchcommand"]])
def test_a_command_without_torch_freezes_nothing_and_collects_again(argv):
    assert probe(argv)[1:] == ["False", "True", "False"]


def test_a_program_that_imports_qdup_keeps_its_collector():
    code = "import gc, qdup; qdup.load(); print(gc.isenabled(), gc.get_freeze_count())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    assert done.stdout.split() == ["True", "0"], done.stderr
    code = "import gc; gc.disable(); from qdup.util import collector; collector.pause(); collector.settle(); " \
           "collector.resume(); print(gc.isenabled(), gc.get_freeze_count())"  # off by the program's own choice
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    assert done.stdout.split() == ["False", "0"], done.stderr


def test_a_program_calling_the_cli_keeps_its_collector(capsys):
    frozen = gc.get_freeze_count()
    assert main(["predict", "How do I learn Python?", "What is the best way to learn Python?"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen and not collector._paused
    capsys.readouterr()
