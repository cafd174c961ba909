"""Progress of long reads: a bar on a terminal, silence when piped, or a user callback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol

# Reads smaller than this finish before a bar would be worth drawing.
MIN_BYTES = 64 << 20


class Reporter(Protocol):
    def __call__(self, done: int, *, final: bool = False) -> None: ...


def reporter(progress: bool | Callable[[int, int], None] | None, total: int) -> Reporter:
    """A ``report(done_bytes, final=False)`` for ``correlate.open(progress=...)``.

    ``None``: a bar on stderr when stderr is a terminal and the trace is large;
    ``True``: a bar on stderr whatever the size; ``False``: nothing; a callable: called
    with ``(done_bytes, total_bytes)`` at most every 0.1 s, and once at the end.
    """
    if callable(progress):
        return _Throttled(lambda d: progress(d, total))
    show = progress is True or (progress is None and total >= MIN_BYTES and sys.stderr.isatty())
    if not show:
        return lambda done, *, final=False: None
    return _Throttled(lambda d: _bar(d, total), clear=True)


class _Throttled:
    def __init__(self, fn: Callable[[int], None], clear: bool = False) -> None:
        self.fn = fn
        self.last = 0.0
        self.clear = clear

    def __call__(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= 0.1:
            self.last = now
            self.fn(done)
        if final and self.clear:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _bar(done: int, total: int) -> None:
    frac = min(1.0, done / total) if total else 1.0
    width = 30
    fill = int(frac * width)
    sys.stderr.write(
        f"\rreading trace [{'#' * fill}{'.' * (width - fill)}] {frac:4.0%} "
        f"{done / 1e6:,.0f}/{total / 1e6:,.0f} MB"
    )
    sys.stderr.flush()
