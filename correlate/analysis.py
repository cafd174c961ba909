"""One trace's correlation, computed once, layer by layer.

:class:`Analysis` holds the state and join tables of one trace, each built on first use
and kept: spans -> per-thread segments -> attributed syscalls, off-CPU intervals, ext4
writes, fsyncs, writeback. The report layer (:mod:`correlate.report`) only reads them.

Example::

    >>> import correlate
    >>> a = correlate.Analysis(correlate.open("trace"))
    >>> a.spans.head()
    >>> a.syscalls.groupby("span").duration.sum()
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from correlate import attribution, stacks, writeback
from correlate import spans as spans_mod
from correlate import syscalls as syscalls_mod
from correlate.tables import Tables, as_tables

__all__ = ["Analysis"]


class Analysis:
    """The correlated tables of one trace (see module doc); every attribute is a DataFrame."""

    def __init__(self, trace: Any) -> None:
        self.tables: Tables = as_tables(trace)

    @cached_property
    def spans(self) -> pd.DataFrame:
        return spans_mod.spans(self.tables)

    @cached_property
    def segments(self) -> stacks.Segments:
        return stacks.segments(self.tables, self.spans)

    @cached_property
    def syscalls(self) -> pd.DataFrame:
        """Syscalls with the ``span`` each belongs to."""
        return attribution.attributed_syscalls(self._raw_syscalls, self.segments)

    @cached_property
    def _raw_syscalls(self) -> pd.DataFrame:
        return syscalls_mod.syscalls(self.tables)

    def prepare(self, kernel_events: bool = False) -> Analysis:
        """Build the layers the reports need (and :attr:`kernel_events` if asked), the
        independent ones on two threads: spans -> segments beside the syscall pairing, then
        syscall attribution -> ext4 writes -> writeback beside off-CPU, fsyncs (and kernel
        events). NumPy releases the GIL in its sorts, copies and arithmetic, so the second
        core does real work. Each layer is still built once; calling again is free."""
        def second() -> None:
            _ = self.offcpu, self.fsyncs
            if kernel_events:
                _ = self.kernel_events

        with ThreadPoolExecutor(2) as pool:
            raw = pool.submit(lambda: self._raw_syscalls)
            _ = self.segments
            raw.result()
            other = pool.submit(second)
            _ = self.syscalls, self.writes, self.writeback
            other.result()
        return self

    @cached_property
    def offcpu(self) -> pd.DataFrame:
        return attribution.offcpu(self.tables, self.segments)

    @cached_property
    def writes(self) -> pd.DataFrame:
        return writeback.ext4_writes(self.tables, self.segments, self.syscalls)

    @cached_property
    def fsyncs(self) -> pd.DataFrame:
        return writeback.fsyncs(self.tables, self.segments)

    @cached_property
    def writeback(self) -> writeback.Writeback:
        return writeback.writeback(self.tables, self.writes)

    @cached_property
    def kernel_events(self) -> pd.DataFrame:
        """Every kernel event with its ``span`` (the biggest table; built only on request)."""
        return attribution.kernel_events(self.tables, self.segments)

    @cached_property
    def has_spans(self) -> bool:
        return len(self.spans) > 0

    @cached_property
    def has_kernel(self) -> bool:
        return any(":" not in n for n in self.tables.names())

    @cached_property
    def notes(self) -> list[str]:
        """What the figures cannot say, in plain words (missing streams, open spans, losses)."""
        notes: list[str] = []
        sp = self.spans
        if not self.has_spans:
            notes.append("no usdk span events in this trace: figures are per process")
        if not self.has_kernel:
            notes.append("no kernel events in this trace: spans only (record with --ext4 "
                         "--syscalls io --sched for kernel figures)")
        status = sp["status"].value_counts() if len(sp) else pd.Series(dtype=np.int64)
        if status.get("open", 0):
            notes.append(f"{status['open']} span(s) still open at the end of the trace "
                         "(kept, no duration; their figures are lower bounds)")
        if status.get("no_entry", 0):
            notes.append(f"{status['no_entry']} span exit(s) without an entry in the trace "
                         "(kept, no duration)")
        if len(sp) and sp["lower_bound"].any():
            notes.append(f"events were discarded during {int(sp['lower_bound'].sum())} span(s): "
                         "their figures are lower bounds (flag lower_bound); give the "
                         "channels bigger or more sub-buffers")
        dup = sp.groupby("span_id")["pid"].nunique() if len(sp) else pd.Series(dtype=np.int64)
        if (dup > 1).any():
            notes.append(f"{int((dup > 1).sum())} span id(s) appear in several processes "
                         "(paired per process)")
        if self.has_spans and self.segments.ambiguous:
            notes.append(f"{self.segments.ambiguous} span(s) interleave with others on their "
                         "thread without nesting (coroutines traced without suspend/resume "
                         "events?): attribution there is ambiguous")
        if self.has_spans and self.has_kernel:
            notes.extend(self._clock_note())
        if self.tables.has("sched_switch") and len(self.offcpu) and self.offcpu["inferred"].any():
            notes.append(f"{int(self.offcpu['inferred'].sum())} off-CPU interval(s) end at their "
                         "thread's next recorded event, their switch-in missing from the trace "
                         "(perf tracing one process, as with --track, sees switch-outs only; "
                         "on some machines perf misses switches out of a CPU's idle task): "
                         "upper bounds")
        wb = self.writeback
        if wb.unattributed_bytes:
            notes.append(f"{wb.unattributed_bytes} writeback bytes of inodes not dirtied during "
                         "the trace: unattributed")
        if wb.pending_bytes:
            notes.append(f"{wb.pending_bytes} bytes dirtied but not written back before the "
                         "trace ended (pending)")
        return notes

    def _clock_note(self) -> list[str]:
        sc = self.syscalls
        sp = self.spans
        if len(sc) == 0 or len(sp) == 0:
            return []
        span_tids = np.unique(sp["tid"].to_numpy())
        on_threads = np.isin(sc["tid"].to_numpy(), span_tids)
        if on_threads.sum() == 0:
            return []
        b = sp["begin"].dropna()
        e = sp["end"].dropna()
        t = sc["begin"].dropna()
        if len(b) and len(t) and (t.max() < b.min() or (len(e) and t.min() > e.max())):
            return ["the kernel and UST streams do not overlap in time: a clock offset "
                    "between them? (both must be CLOCK_MONOTONIC; usdk record ensures it)"]
        # syscalls of the span threads while spans ran, yet none inside one: suspicious;
        # none while spans ran says nothing (the spans may make no recorded syscall)
        sc_t = sc["begin"].to_numpy(dtype=np.float64, na_value=np.nan)
        during = on_threads & (sc_t >= float(b.min())) & (sc_t <= float(e.max() if len(e)
                                                                           else b.max()))
        if during.any() and (sc["span"].to_numpy()[during] < 0).all():
            return ["no syscall of the span threads falls inside a span, though some ran "
                    "between them: a clock offset between the UST and kernel streams?"]
        return []
