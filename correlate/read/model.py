"""Plain data the trace backends hand to the assembler: columns of one event class from one
trace, per-stream discard counts, damage records and the clock description.

Both backends (the native decoder in :mod:`correlate.read.fast` and the babeltrace2
fallback in :mod:`correlate.read.bt2source`) produce :class:`ClassPart` objects with the
same column kinds, so :mod:`correlate.read.assemble` builds identical DataFrames from
either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Column kinds and the pandas dtype each becomes.
INT = "int"  # int64
UINT = "uint"  # uint64
FLOAT = "float"  # float64
BOOL = "bool"  # bool
STR = "str"  # object column of Python str
ENUM = "enum"  # categorical of the label
OBJ = "obj"  # object column (lists for arrays/sequences, dicts for structures)

# Bit layout of the ordering key: stream index in the high bits, position in the stream low.
ORDER_SHIFT = 40


@dataclass
class Column:
    """One context or payload column of a :class:`ClassPart`.

    ``data`` is a NumPy array for numeric kinds, a list (or object array) for ``str``/``obj``,
    and for ``enum`` either a list of labels or (``codes`` set) integer values mapped to
    labels through ``labels`` (value -> label) at assembly.
    """

    kind: str
    data: Any
    labels: dict[int, str] | None = None


@dataclass
class StreamSeq:
    """The stored events of one stream in stream (time) order, as decoded natively.

    ``seq[i]`` is the class index (in the decoder's layout) of the stream's i-th stored
    event; ``index`` is the stream's global ordering index (ties between streams break by
    it). The assembler merges streams into time order from these in C.
    """

    index: int
    seq: np.ndarray  # int32


@dataclass
class ClassPart:
    """The events of one event class from one CTF trace, in decoding order."""

    name: str  # as recorded
    canonical: str  # see correlate.names
    domain: str  # "ust" | "kernel"
    tracer: str  # "lttng-ust" | "lttng-modules" | "perf" | other env tracer_name
    trace_path: str
    timestamp: np.ndarray  # int64 CLOCK_MONOTONIC ns
    order: np.ndarray | None  # int64 (stream index << ORDER_SHIFT) | position in stream
    cpu: np.ndarray  # int32
    contexts: dict[str, Column] = field(default_factory=dict)
    payload: dict[str, Column] = field(default_factory=dict)
    stream: StreamSeq | None = None  # native parts: their stream, ``order`` made on demand
    local: int = -1  # native parts: class index in ``stream.seq``
    presorted: bool = False  # the whole class, already in time order (merged native decoding)

    def __len__(self) -> int:
        return len(self.timestamp)

    def ordering(self) -> np.ndarray:
        """The ordering keys (made from the stream's sequence for native parts)."""
        if self.order is None:
            assert self.stream is not None
            pos = np.flatnonzero(self.stream.seq == self.local)
            self.order = (np.int64(self.stream.index) << np.int64(ORDER_SHIFT)) | pos
        return self.order


@dataclass
class StreamDiscards:
    """Discard counters of one stream, from its packet contexts."""

    path: str
    stream_class_id: int
    stream_id: int
    cpu: int
    discarded_events: int
    lost_packets: int
    begin: int | None = None  # CLOCK_MONOTONIC ns: end of the packet before the first loss
    end: int | None = None  # CLOCK_MONOTONIC ns: end of the last packet reporting a loss


@dataclass(frozen=True)
class Damage:
    """A part of a trace that could not be read (listed by ``Trace.damage`` with ``partial``)."""

    path: str
    offset: int | None
    message: str


@dataclass(frozen=True)
class TraceClock:
    """The clock of one CTF trace below the opened directory."""

    path: str
    name: str
    frequency: int
    offset_ns: int  # add to a CLOCK_MONOTONIC timestamp to get ns since the clock's origin
    origin_is_unix_epoch: bool


@dataclass(frozen=True)
class Clock:
    """How to turn the reader's CLOCK_MONOTONIC timestamps into wall-clock time.

    LTTng records, per trace, the offset between CLOCK_MONOTONIC and CLOCK_REALTIME sampled
    when the session started: ``wall_ns = timestamp + offset_ns`` (ns since the Unix epoch).
    perf's CTF conversion records no such offset, so a perf-only trace has
    ``offset_ns = None`` and :meth:`to_wall` raises. With several traces (UST + kernel) the
    first trace whose clock is Unix-epoch based gives ``offset_ns``; ``traces`` lists each.

    Example::

        >>> t = correlate.open("trace")
        >>> t.clock.to_wall(t.events.timestamp)   # pandas datetimes, UTC
    """

    offset_ns: int | None
    traces: tuple[TraceClock, ...] = ()

    def to_wall(self, timestamps: Any) -> Any:
        """CLOCK_MONOTONIC ns (scalar, array or Series) -> UTC ``pandas`` datetimes."""
        import pandas as pd

        if self.offset_ns is None:
            from usdk.errors import TraceError

            raise TraceError(
                "this trace has no wall-clock offset (perf CTF conversions record none); "
                "record with LTTng or `usdk record`, which do"
            )
        return pd.to_datetime(np.asarray(timestamps, dtype=np.int64) + self.offset_ns, utc=True)


@dataclass
class MergedEvents:
    """The events table as the merged native decoding wrote it (see ``ctf_decode_merged``).

    ``columns``: timestamp, name (index in ``names``), cpu, pid, tid, procname (index in
    ``procnames``), row; ``names``: the tables, sorted; ``domains``: per table.
    """

    columns: dict[str, np.ndarray]
    names: list[str]
    domains: dict[str, str]
    procnames: list[str]
