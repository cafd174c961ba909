"""The general backend: read one CTF trace with babeltrace2's Python bindings.

It handles every layout babeltrace2 handles, one Python object per event, so it is slow
(tens of thousands of events per second); :mod:`correlate.read.fast` is used instead
whenever its layouts cover the trace. Both return the same :class:`ClassPart` columns,
which the differential tests check value by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from correlate import names
from correlate.read.discover import TraceDir
from correlate.read.model import (
    BOOL,
    ENUM,
    FLOAT,
    INT,
    OBJ,
    ORDER_SHIFT,
    STR,
    UINT,
    ClassPart,
    Column,
    Damage,
    StreamDiscards,
    TraceClock,
)
from usdk.errors import CorruptTraceError

# Fields the fixed columns already carry, never repeated as context columns.
FIXED_CONTEXTS = ("procname",)


@dataclass
class Options:
    """What to read: event-class patterns, columns, time range (CLOCK_MONOTONIC ns)."""

    events: tuple[str, ...] | None = None
    columns: frozenset[str] | None = None
    start: int | None = None
    end: int | None = None
    partial: bool = False

    def wants_event(self, name: str, canonical: str) -> bool:
        return self.events is None or names.matches(name, canonical, self.events)

    def wants_column(self, col: str) -> bool:
        return self.columns is None or col in self.columns


@dataclass
class SourceResult:
    """What a backend read from one CTF trace."""

    parts: list[ClassPart]
    discards: list[StreamDiscards]
    clock: TraceClock | None
    damage: list[Damage] = field(default_factory=list)
    events_read: int = 0


def label_of(value: int, labels: list[str]) -> str:
    """The category of an enumeration value: its label, labels joined by '|', or the number."""
    if len(labels) == 1:
        return labels[0]
    if not labels:
        return str(value)
    return "|".join(labels)


def _kind_of(fc: Any) -> str:
    import bt2

    if isinstance(fc, bt2._EnumerationFieldClassConst):
        return ENUM
    if isinstance(fc, bt2._SignedIntegerFieldClassConst):
        return INT
    if isinstance(fc, bt2._UnsignedIntegerFieldClassConst):
        return UINT
    if isinstance(fc, bt2._RealFieldClassConst):
        return FLOAT
    if isinstance(fc, bt2._StringFieldClassConst):
        return STR
    if isinstance(fc, bt2._BoolFieldClassConst):
        return BOOL
    return OBJ


def to_python(f: Any) -> Any:
    """Any bt2 field -> plain Python value (lists for arrays, dicts for structures)."""
    import bt2

    if isinstance(f, bt2._EnumerationFieldConst):
        return label_of(int(f), enum_labels(f))
    if isinstance(f, bt2._IntegerFieldConst):
        return int(f)
    if isinstance(f, bt2._RealFieldConst):
        return float(f)
    if isinstance(f, bt2._StringFieldConst):
        return text(f)
    if isinstance(f, bt2._BoolFieldConst):
        return bool(f)
    if isinstance(f, bt2._ArrayFieldConst):
        return [to_python(e) for e in f]
    if isinstance(f, bt2._StructureFieldConst):
        return {k: to_python(v) for k, v in f.items()}
    if isinstance(f, bt2._VariantFieldConst):
        return to_python(f.selected_option)
    if isinstance(f, bt2._OptionFieldConst):
        return None if f.field is None else to_python(f.field)
    if isinstance(f, bt2._BitArrayFieldConst):
        return int(f.value_as_integer)
    return str(f)


def text(f: Any) -> str:
    """A string field as ``str``; bytes that are not UTF-8 become U+FFFD, as in the C path.

    babeltrace2 2.0 leaves the previous event's text in an empty string field (its length
    is right, its value stale), so the value is cut to the field's length.
    """
    n = len(f)
    if n == 0:
        return ""
    raw = str(f).encode("utf-8", "surrogateescape")
    return raw[:n].decode("utf-8", "replace")


def enum_labels(f: Any) -> list[str]:
    """The labels of an enumeration field's value.

    babeltrace2 2.0's Python bindings assert when a value maps to no label before its field
    class ever matched one (the C library hands back a NULL label array with count 0):
    that is the empty list, not an error."""
    try:
        return list(f.labels)
    except AssertionError:
        return []


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    INT: int,
    UINT: int,
    FLOAT: float,
    STR: text,
    BOOL: bool,
    ENUM: lambda f: label_of(int(f), enum_labels(f)),
    OBJ: to_python,
}


def struct_members(fc: Any) -> list[tuple[str, str]]:
    """(name, kind) of a structure field class's members, minus sequence length fields.

    LTTng writes a sequence ``x`` as a length member ``_x_length`` followed by ``x``; the
    length is implied by the list (or string), so the member is not a column.
    """
    if fc is None:
        return []
    members = list(fc.items())
    present = {name for name, _ in members}
    lengths = {f"_{name}_length" for name in present} & present
    return [(name, _kind_of(m.field_class)) for name, m in members if name not in lengths]


class _ClassState:
    def __init__(self, name: str, canonical: str, ev_cls: Any, sc_ctx: Any, opts: Options,
                 tracer: str) -> None:
        self.name = name
        self.canonical = canonical
        self.ts: list[int] = []
        self.order: list[int] = []
        self.cpu: list[int] = []
        # (source, member, column name, kind); source 0 common ctx, 1 specific ctx, 2 payload
        self.fields: list[tuple[int, str, str, str]] = []
        for src, fc in ((0, sc_ctx), (1, ev_cls.specific_context_field_class)):
            for member, kind in struct_members(fc):
                if member in FIXED_CONTEXTS or opts.wants_column(member) or member in _ID_CTX:
                    self.fields.append((src, member, member, kind))
        for member, kind in struct_members(ev_cls.payload_field_class):
            col = names.canonical_field(canonical, member, tracer=tracer)
            if opts.wants_column(col) or member in _ID_PAYLOAD:
                self.fields.append((2, member, col, kind))
        self.values: list[list[Any]] = [[] for _ in self.fields]
        self.convs = [_CONVERTERS[k] for _, _, _, k in self.fields]


_ID_CTX = ("vpid", "vtid", "pid", "tid")
_ID_PAYLOAD = ("perf_pid", "perf_tid")


def _error_offset(text: str) -> int | None:
    for pat in (r"packet-offset=(\d+)", r"offset=(\d+)", r"at offset (\d+)"):
        m = re.search(pat, text)
        if m:
            return int(m.group(1))
    return None


def _error_path(text: str, default: str) -> str:
    m = re.search(r"(?:path|file)[=:]\s*[\"`']?(/[^\"`',\s]+)", text)
    return m.group(1) if m else default


def read(trace: TraceDir, stream_base: int, opts: Options) -> SourceResult:
    """Read ``trace`` with babeltrace2; stream ``i`` of it gets ordering index ``stream_base+i``.

    Raises :class:`CorruptTraceError` on damage unless ``opts.partial``, in which case the
    events read before the damage are returned and the damage listed.
    """
    import bt2

    spec = bt2.ComponentSpec.from_named_plugin_and_component_class(
        "ctf", "fs", {"inputs": [str(trace.path)]}
    )
    stream_index = {str(p): i for i, p in enumerate(trace.streams)}
    classes: dict[int, _ClassState | None] = {}
    packet_info: dict[int, tuple[int, int]] = {}  # packet addr -> (cpu, stream index)
    stream_pos: dict[int, int] = {}  # stream index -> events seen
    discards: dict[int, StreamDiscards] = {}
    stream_cpu: dict[int, int] = {}
    env: dict[str, Any] = {}
    clock: TraceClock | None = None
    domain = "ust"
    tracer = ""
    freq = 1_000_000_000
    damage: list[Damage] = []
    nread = 0
    start, end = opts.start, opts.end

    EventMsg = bt2._EventMessageConst
    PacketBeg = bt2._PacketBeginningMessageConst
    StreamBeg = bt2._StreamBeginningMessageConst
    DiscEv = bt2._DiscardedEventsMessageConst
    DiscPk = bt2._DiscardedPacketsMessageConst

    def stream_discards(s: Any) -> StreamDiscards:
        key = s.addr
        d = discards.get(key)
        if d is None:
            d = StreamDiscards(s.name or "", s.cls.id, s.id, stream_cpu.get(key, -1), 0, 0)
            discards[key] = d
        return d

    try:
        it = bt2.TraceCollectionMessageIterator(spec)
        for msg in it:
            t = type(msg)
            if t is EventMsg:
                ev = msg.event
                ecls = ev.cls
                st = classes.get(ecls.addr, False)
                if st is False:
                    name = ecls.name
                    canonical = names.canonical_event(name, domain)
                    st = (
                        _ClassState(name, canonical, ecls,
                                    ev.stream.cls.event_common_context_field_class, opts, tracer)
                        if opts.wants_event(name, canonical) else None
                    )
                    classes[ecls.addr] = st
                pinfo = packet_info[ev.packet.addr]
                pos = stream_pos[pinfo[1]]
                stream_pos[pinfo[1]] = pos + 1
                if not isinstance(st, _ClassState):  # a class not asked for
                    continue
                ts = msg.default_clock_snapshot.value
                if freq != 1_000_000_000:
                    ts = ts * 1_000_000_000 // freq
                if (start is not None and ts < start) or (end is not None and ts > end):
                    continue
                nread += 1
                st.ts.append(ts)
                st.cpu.append(pinfo[0])
                st.order.append(((stream_base + pinfo[1]) << ORDER_SHIFT) | pos)
                srcs = (ev.common_context_field, ev.specific_context_field, ev.payload_field)
                for (src, member, _, _), conv, vals in zip(st.fields, st.convs, st.values,
                                                           strict=True):
                    vals.append(conv(srcs[src][member]))
            elif t is PacketBeg:
                pk = msg.packet
                s = pk.stream
                ctx = pk.context_field
                cpu = int(ctx["cpu_id"]) if ctx is not None and "cpu_id" in ctx else -1
                stream_cpu[s.addr] = cpu
                idx = stream_index.get(s.name or "", len(stream_index) + s.id)
                packet_info[pk.addr] = (cpu, idx)
                stream_pos.setdefault(idx, 0)
                d = stream_discards(s)
                d.cpu = cpu
            elif t is StreamBeg:
                if not env:
                    tr = msg.stream.trace
                    env = {k: (str(v) if isinstance(v, bt2._StringValueConst) else int(v))
                           for k, v in tr.environment.items()}
                    domain = "kernel" if env.get("domain") == "kernel" else "ust"
                    tracer = str(env.get("tracer_name", ""))
                    if domain == "kernel" and tracer.startswith("lttng"):
                        tracer = "lttng-modules"
                    cc = msg.stream.cls.default_clock_class
                    if cc is not None:
                        freq = cc.frequency
                        off = cc.offset
                        offset_ns = off.seconds * 1_000_000_000 + off.cycles * 1_000_000_000 // freq
                        clock = TraceClock(str(trace.path), cc.name or "", freq, offset_ns,
                                           bool(cc.origin_is_unix_epoch))
                stream_discards(msg.stream)
            elif t is DiscEv or t is DiscPk:
                d = stream_discards(msg.stream)
                if t is DiscEv:
                    # babeltrace2 counts the difference of the packets' 64-bit counters, which
                    # LTTng sometimes steps back by a few: sum modulo 2**64 (the stream's last
                    # counter, as the native decoder reads it), never ~2**64 per step back
                    d.discarded_events = (d.discarded_events + int(msg.count or 0)) % (1 << 64)
                else:
                    d.lost_packets += int(msg.count or 0)
                sc = msg.stream.cls
                if (sc.discarded_events_have_default_clock_snapshots if t is DiscEv
                        else sc.discarded_packets_have_default_clock_snapshots):
                    b = msg.beginning_default_clock_snapshot.value
                    e = msg.end_default_clock_snapshot.value
                    if freq != 1_000_000_000:
                        b, e = b * 1_000_000_000 // freq, e * 1_000_000_000 // freq
                    d.begin = b if d.begin is None else min(d.begin, b)
                    d.end = e if d.end is None else max(d.end, e)
    except bt2._Error as e:
        text = str(e)
        causes = [str(c.message) for c in e] if hasattr(e, "__iter__") else []
        detail = "; ".join(c.strip().splitlines()[0] for c in causes if c.strip()) or text
        where = _error_path(text, str(trace.path))
        off = _error_offset(text)
        if not opts.partial:
            raise CorruptTraceError(f"babeltrace2 cannot read this trace: {detail}",
                                    path=where, offset=off) from None
        damage.append(Damage(where, off, detail))

    parts = [_finish(st, domain, tracer, str(trace.path)) for st in classes.values()
             if st is not None and st.ts]
    return SourceResult(parts, list(discards.values()), clock, damage, nread)


def _finish(st: _ClassState, domain: str, tracer: str, path: str) -> ClassPart:
    part = ClassPart(
        name=st.name,
        canonical=st.canonical,
        domain=domain,
        tracer=tracer,
        trace_path=path,
        timestamp=np.asarray(st.ts, dtype=np.int64),
        order=np.asarray(st.order, dtype=np.int64),
        cpu=np.asarray(st.cpu, dtype=np.int32),
    )
    for (src, _member, col, kind), vals in zip(st.fields, st.values, strict=True):
        target = part.payload if src == 2 else part.contexts
        target[col] = Column(kind, _array(kind, vals))
    return part


def _array(kind: str, vals: list[Any]) -> Any:
    if kind == INT:
        return np.asarray(vals, dtype=np.int64)
    if kind == UINT:
        return np.asarray(vals, dtype=np.uint64)
    if kind == FLOAT:
        return np.asarray(vals, dtype=np.float64)
    if kind == BOOL:
        return np.asarray(vals, dtype=bool)
    return vals


def read_all(traces: Iterable[TraceDir], opts: Options) -> list[SourceResult]:
    """Read several traces; stream indexes are numbered across all of them."""
    out = []
    base = 0
    for tr in traces:
        out.append(read(tr, base, opts))
        base += len(tr.streams) + 1
    return out
