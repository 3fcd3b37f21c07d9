"""Python's cycle collector while a command starts: torch's objects frozen out of its walks.

Importing torch leaves a few hundred thousand objects that the cycle collector tracks, and
every full collection walks all of them: those the imports after torch trigger, and the
one Python runs as the process exits. None of them is garbage (they live as long as the
process). So the CLI turns the collector off as it starts (:func:`pause`), and once torch is
imported moves every object made so far into the permanent generation and turns it back on
(:func:`settle`, ``gc.freeze``): later collections, and the one at exit, walk only what the
command makes itself. ``qdup search`` took 1.33x the CPU of ``import torch`` before this,
1.07x with it (docs/benchmarks.md). A program that imports qdup keeps its collector as it set it.

A command that never imports torch (``index check``, ``index compact``, ``index remove``)
runs with the collector off to its end: its imports leave ~1,000 objects of cyclic garbage
(measured), and the collection at exit still runs, on or off. What exists when torch is
imported is frozen for good: a cycle among those objects (~7,000, ~1 MB, mostly the imports')
is never collected, not even at exit, so its ``__del__`` never runs. Nothing qdup makes
before then relies on one: files are closed by ``with``, locks released by theirs, LightGBM's
and Milvus Lite's handles freed by ``weakref.finalize`` or ``atexit``.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Turn the collector off until :func:`settle` or :func:`resume` (a no-op when it is off already)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def settle() -> None:
    """Once the heavy imports are done: freeze what exists now and turn the collector back on,
    if :func:`pause` turned it off."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def resume() -> None:
    """Turn the collector back on, if :func:`pause` turned it off, freezing nothing (a command
    that never loaded torch, or a test calling the CLI in a process that had it loaded)."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()
