"""Progress for long loops: a tqdm bar on a terminal, a few plain lines anywhere else.

A bar redraws itself with carriage returns; written to a file or a CI log that is one
ever-growing line. When stderr is not a terminal, :func:`bar` logs at most ``lines``
lines instead (0: none, when another line per epoch already reports progress).
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator


def bar(items: Iterable, desc: str, unit: str, enabled: bool = True, leave: bool = True, lines: int = 10):
    """``items`` wrapped for progress reporting; the result has tqdm's ``set_postfix``."""
    if enabled and sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, unit=unit, leave=leave)
    return _Lines(items, desc, unit, lines if enabled else 0)


def log(line: str) -> None:
    """One progress line on stderr, without breaking a bar that is being drawn."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


class _Lines:
    def __init__(self, items: Iterable, desc: str, unit: str, lines: int) -> None:
        self.items, self.desc, self.unit, self.lines = list(items), desc, unit, lines
        self.postfix = ""

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def __iter__(self) -> Iterator:
        total = len(self.items)
        step = max(1, -(-total // self.lines)) if self.lines else 0
        for done, item in enumerate(self.items, start=1):
            yield item
            if step and (done % step == 0 or done == total):
                extra = f" ({self.postfix})" if self.postfix else ""
                print(f"{self.desc}: {self.unit} {done}/{total}{extra}", file=sys.stderr, flush=True)
