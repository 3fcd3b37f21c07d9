"""How many CPU threads qdup's work uses, and how idle threads wait.

On a machine with other work (a forum server always has some), OpenMP threads that spin
while they wait for each other fight that work for the cores: measured on a shared 2-core
box, one training step took 5-6x longer than with passive waiting (docs/benchmarks.md).
``import qdup`` therefore asks for passive waiting (``OMP_WAIT_POLICY=PASSIVE``) unless the
user chose a policy; OpenMP reads it once, when torch is loaded, so it only takes effect
when qdup is imported before torch. Work on one pair or one question gains nothing from
extra threads, so the CLI's ``predict`` and ``search`` and the service use one.
"""

from __future__ import annotations

import os
import sys

from . import collector

WAIT_POLICY = "PASSIVE"


def prefer_passive_waiting() -> None:
    """Default ``OMP_WAIT_POLICY`` to passive; must run before torch is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


_waiting: list[dict] = []  # thread counts asked for before torch was loaded; see torch_loaded()


def use_threads(count: int):
    """Run torch's and the BLAS libraries' parallel work on ``count`` threads.

    Returns a function that puts the previous settings back. Where torch is not loaded yet,
    its part waits until :func:`torch_loaded`: a command that fails on its arguments, or
    never needs a model, does not pay for loading torch (see tests/cli/test_fast_start.py).
    """
    from threadpoolctl import threadpool_limits

    from ..errors import ConfigError

    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"threads must be a positive integer, got {count!r}")
    limits = threadpool_limits(count, user_api="blas")  # torch's OpenMP pool is torch's to set
    waiting = {"count": count, "restore": None}
    if "torch" in sys.modules:
        waiting["restore"] = _set_torch_threads(count)
    else:
        _waiting.append(waiting)

    def restore() -> None:
        limits.restore_original_limits()
        if waiting in _waiting:
            _waiting.remove(waiting)
        if waiting["restore"] is not None:
            waiting["restore"]()

    return restore


def torch_loaded() -> None:
    """Apply the thread counts asked for before torch was imported (qdup.encoders.lstm.inputs calls it),
    and let the cycle collector walk only what is made from now on (:mod:`qdup.util.collector`)."""
    collector.settle()
    for waiting in _waiting:
        waiting["restore"] = _set_torch_threads(waiting["count"])
    _waiting.clear()


def _set_torch_threads(count: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    return lambda: torch.set_num_threads(before)
