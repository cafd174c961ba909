"""``correlate.open`` and the :class:`Trace` it returns.

Example::

    import correlate

    trace = correlate.open("trace", events=["shop:*", "syscall_*_write"])
    trace.events                       # one time-ordered table across every stream
    trace.table("shop:checkout_entry") # one event class, typed columns
    trace.table("syscalls:sys_enter_write")  # either spelling of kernel names
    trace.discarded                    # per stream: discarded events, lost packets
    trace.to_parquet("out")            # one Parquet file per table
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from correlate import names
from correlate.read import assemble, bt2source
from correlate.read import inodes as inodes_mod
from correlate.read import tasks as tasks_mod
from correlate.read.bt2source import Options, SourceResult
from correlate.read.discover import TraceDir, find_traces
from correlate.read.model import Clock, Damage, MergedEvents, StreamDiscards
from usdk.errors import UnknownEventError

Progress = Callable[[int, int], None]


class DiscardedEventsWarning(UserWarning):
    """The tracer dropped events (buffers full) or packets were lost; counts are lower bounds."""


@dataclass(frozen=True)
class Backend:
    """Which decoder read each CTF trace: ``"native"`` (the C fast path) or ``"bt2"``."""

    path: str
    decoder: str
    reason: str = ""


def open(  # noqa: A001 - the public name is `correlate.open`
    path: str | os.PathLike[str],
    *,
    events: Iterable[str] | str | None = None,
    columns: Iterable[str] | None = None,
    start: int | None = None,
    end: int | None = None,
    partial: bool = False,
    progress: bool | Progress | None = None,
    backend: str = "auto",
) -> Trace:
    """Read every CTF trace below ``path`` into DataFrames.

    ``events``: event-class names or fnmatch patterns, either spelling of kernel names
    (``"syscalls:sys_enter_*"`` or ``"syscall_entry_*"``). ``columns``: context/payload
    columns to keep (``timestamp, cpu, pid, tid, procname`` are always kept). ``start``/
    ``end``: CLOCK_MONOTONIC ns, both inclusive. ``partial``: return the packets that
    decode and list the rest in :attr:`Trace.damage` instead of raising
    :class:`usdk.errors.CorruptTraceError`. ``progress``: ``None`` shows a bar on a
    terminal for long reads, ``False`` never, or a callable ``(done_bytes, total_bytes)``.
    ``backend``: ``"auto"`` (native decoder where it handles the layout, else
    babeltrace2), ``"native"`` (fail rather than fall back) or ``"bt2"``.

    Raises :class:`usdk.errors.TraceNotFoundError` when no trace is below ``path``.
    """
    if isinstance(events, str):
        events = [events]
    opts = Options(
        events=tuple(events) if events is not None else None,
        columns=frozenset(columns) if columns is not None else None,
        start=start,
        end=end,
        partial=partial,
    )
    if backend not in ("auto", "native", "bt2"):
        raise ValueError(f"backend must be 'auto', 'native' or 'bt2', not {backend!r}")
    traces = find_traces(path)
    results, used, merged = _read(traces, opts, progress, backend)
    return Trace(Path(path), results, opts, used, merged,
                 tasks=tasks_mod.load([t.path for t in traces]),
                 inode_paths=inodes_mod.load([t.path for t in traces]))


def _read(
    traces: list[TraceDir], opts: Options, progress: bool | Progress | None, backend: str
) -> tuple[list[SourceResult], list[Backend], MergedEvents | None]:
    from correlate.read import progress as prog

    total = sum(_size(p) for t in traces for p in t.streams)
    report = prog.reporter(progress, total)
    fast = _fast() if backend != "bt2" else None
    if fast is not None:  # every stream at once, in time order; else trace by trace
        merged = fast.read_merged(traces, opts, lambda d, _t: report(d))
        if merged is not None:
            report(total, final=True)
            return merged[0], [Backend(str(t.path), "native") for t in traces], merged[1]
    results: list[SourceResult] = []
    used: list[Backend] = []
    base = 0
    done = 0
    for tr in traces:
        result = None
        reason = "backend='bt2'"
        if backend != "bt2" and _fast() is not None:
            fast = _fast()

            def sub(d: int, _t: int, _done: int = done) -> None:
                report(_done + d)

            result, reason = fast.read(tr, base, opts, sub, force=backend == "native")
        if result is None:
            result = bt2source.read(tr, base, opts)
            used.append(Backend(str(tr.path), "bt2", reason))
        else:
            used.append(Backend(str(tr.path), "native"))
        results.append(result)
        base += len(tr.streams) + 1
        done += sum(_size(p) for p in tr.streams)
        report(done)
    report(total, final=True)
    return results, used, None


def _fast() -> Any:
    """The native backend module, or None when the extension is not built."""
    try:
        from correlate.read import fast
    except ImportError:
        return None
    return fast


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


class Trace:
    """A read trace: per-class tables, the time-ordered events table, discard counts.

    Tables are built when the trace is opened; :attr:`events` on first use.
    """

    def __init__(self, path: Path, results: list[SourceResult], opts: Options,
                 backends: list[Backend], merged: MergedEvents | None = None,
                 tasks: tasks_mod.Tasks | None = None,
                 inode_paths: pd.DataFrame | None = None) -> None:
        self.path = path
        self.inode_paths = inode_paths
        """``dev, ino, path`` of files the kernel events name by inode (perf backend), or None."""
        self.backends = tuple(backends)
        parts = [p for r in results for p in r.parts]
        self._keys: assemble.Order
        if merged is not None:
            self._tables = assemble.build_presorted(parts, opts.columns)
            self._keys = merged
        else:
            self._tables, self._keys = assemble.build_tables(parts, opts.columns)
        self._tasks = tasks
        if tasks is not None:  # perf events carry no procname: usdk record's tasks.tsv has it
            self._tables = {n: tasks_mod.fill_procnames(t, tasks)
                            for n, t in self._tables.items()}
        self._originals: dict[str, str] = {}
        for p in parts:
            self._originals.setdefault(p.name, p.canonical)
        self._events: pd.DataFrame | None = None
        self._discards: list[StreamDiscards] = [d for r in results for d in r.discards]
        self.damage: list[Damage] = [d for r in results for d in r.damage]
        """What could not be read (only with ``partial=True``; otherwise reading raises)."""
        clocks = tuple(r.clock for r in results if r.clock is not None)
        epoch = [c for c in clocks if c.origin_is_unix_epoch]
        self.clock = Clock(epoch[0].offset_ns if epoch else None, clocks)
        """Wall-clock conversion, see :class:`correlate.read.model.Clock`."""
        lost = sum(d.discarded_events for d in self._discards)
        lost_packets = sum(d.lost_packets for d in self._discards)
        if lost or lost_packets:
            warnings.warn(
                f"{path}: the tracer discarded {lost} events and lost {lost_packets} packets "
                "(buffers full); counts from this trace are lower bounds — see "
                "`trace.discarded`, and record with larger/more sub-buffers",
                DiscardedEventsWarning,
                stacklevel=3,
            )
        if self.damage:
            warnings.warn(
                f"{path}: {len(self.damage)} damaged part(s) skipped; see `trace.damage`",
                UserWarning,
                stacklevel=3,
            )

    # --- tables ---------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Canonical names of the event classes read (those with at least one event)."""
        return list(self._tables)

    def table(self, name: str) -> pd.DataFrame:
        """One event class (either spelling) as a DataFrame; see the module docs for columns.

        Raises :class:`usdk.errors.UnknownEventError` (a ``ValueError``) for a class with no
        events in this trace.
        """
        if name in self._tables:
            return self._tables[name]
        canonical = self._originals.get(name)
        if canonical is None and ":" in name:
            canonical = names.canonical_event(name, "kernel")
        if canonical is not None and canonical in self._tables:
            return self._tables[canonical]
        import difflib

        raise UnknownEventError(
            f"no event class {name!r} in {self.path}",
            name=name,
            suggestions=difflib.get_close_matches(name, list(self._tables), n=3),
        )

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.table(name)
        except UnknownEventError:
            return False
        return True

    @property
    def events(self) -> pd.DataFrame:
        """Every event, time-ordered: timestamp, name, domain, cpu, pid, tid, procname, row."""
        if self._events is None:
            self._events = assemble.build_events(self._tables, self._keys)
            if self._tasks is not None:
                self._events = tasks_mod.fill_procnames(self._events, self._tasks)
        return self._events

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    @property
    def discarded(self) -> pd.DataFrame:
        """Per stream: path, stream_class_id, stream_id, cpu, discarded_events, lost_packets,
        begin, end.

        ``begin``/``end`` (nullable Int64, CLOCK_MONOTONIC ns) bound when the stream lost
        events: from the end of the packet before the first packet reporting a loss (its
        own ``timestamp_begin`` when it is the stream's first) to the ``timestamp_end`` of
        the last one (for lost packets alone: the ``timestamp_begin`` of the packet after
        the gap), like babeltrace2's discarded-events/packets messages. ``<NA>`` when the
        stream lost nothing.
        """
        rows = [d.__dict__ for d in self._discards]
        df = pd.DataFrame(rows, columns=["path", "stream_class_id", "stream_id", "cpu",
                                         "discarded_events", "lost_packets", "begin", "end"])
        return df.astype({"stream_class_id": np.int64, "stream_id": np.int64, "cpu": np.int32,
                          "discarded_events": np.int64, "lost_packets": np.int64,
                          "begin": "Int64", "end": "Int64"})

    # --- export ---------------------------------------------------------------------

    def to_parquet(self, out: str | os.PathLike[str]) -> list[Path]:
        """Write ``events.parquet``, one ``<name>.parquet`` per class and ``discarded.parquet``.

        ``out`` is a directory (created). Class names become file names with ``:`` replaced
        by ``__``. Returns the files written.
        """
        from correlate.read import export

        return export.write_parquet(self, Path(out))

    def __repr__(self) -> str:
        return f"<Trace {self.path}: {len(self)} events in {len(self._tables)} classes>"
