"""Small synthetic traces for the correlator's diff tests and benchmarks.

A synthetic trace is written as text, one event a line, so a test reads like the trace
it checks::

    # ts   pid/tid  event                 fields
    100    10/11    shop:put_entry        span_id=1 parent_span_id=0 key=a size=3
    110    10/11    syscall_entry_write   fd=3 count=4096
    150    10/11    syscall_exit_write    ret=4096
    200    10/11    shop:put_exit         span_id=1 parent_span_id=0 ret=0 exc_type=""

Names with a colon are UST events (``provider:event``), the rest kernel events in their
canonical LTTng-modules spelling (see :mod:`correlate.names`). ``cpu=`` and
``procname=`` set those columns (defaults: cpu 0, procname ``p<pid>``); other
``key=value`` pairs are payload fields (integers when they look like integers, strings
otherwise; shell quoting for spaces and empty strings).

:func:`parse` gives a :class:`Trace` with the reader's interface (``events``,
``table(name)``, ``discarded``), so every correlator function runs on it unchanged.
:func:`write_ctf` writes the same events as CTF traces (an LTTng-UST-like trace and an
LTTng-modules-like kernel trace, laid out with NumPy), for end-to-end tests and benchmarks
through :func:`correlate.open`.

Example::

    >>> from correlate import synth
    >>> t = synth.parse('''
    ... 100 10/11 shop:put_entry span_id=1 parent_span_id=0 key=a size=3
    ... 200 10/11 shop:put_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
    ... ''')
    >>> t.table("shop:put_entry").key.tolist()
    ['a']
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

__all__ = ["Event", "Trace", "build", "parse", "parse_events", "write_ctf"]

_INT = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Event:
    timestamp: int
    pid: int
    tid: int
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    cpu: int = 0
    procname: str = ""

    @property
    def domain(self) -> str:
        return "ust" if ":" in self.name else "kernel"


def _value(text: str) -> Any:
    return int(text) if _INT.match(text) else text


def parse_events(text: str) -> list[Event]:
    """Events from the one-line-per-event text format (module doc)."""
    out: list[Event] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        words = shlex.split(line)
        ts, who, name, *rest = words
        pid_s, _, tid_s = who.partition("/")
        fields: dict[str, Any] = {}
        cpu, procname = 0, f"p{pid_s}"
        for w in rest:
            k, _, v = w.partition("=")
            if k == "cpu":
                cpu = int(v)
            elif k == "procname":
                procname = v
            else:
                fields[k] = _value(v)
        out.append(Event(int(ts), int(pid_s), int(tid_s or pid_s), name, fields, cpu, procname))
    return out


class Trace:
    """An in-memory trace with the reader's interface: ``events``, ``table()``, ``discarded``."""

    def __init__(self, tables: dict[str, pd.DataFrame],
                 discarded: pd.DataFrame | None = None,
                 inode_paths: pd.DataFrame | None = None) -> None:
        self._tables = tables
        self.inode_paths = inode_paths  # dev, ino, path (a perf recording's inodes.tsv)
        self.discarded = discarded if discarded is not None else pd.DataFrame(
            {"path": pd.Series([], dtype=object), "cpu": pd.Series([], dtype=np.int64),
             "discarded_events": pd.Series([], dtype=np.int64),
             "lost_packets": pd.Series([], dtype=np.int64)})
        self._events: pd.DataFrame | None = None

    @property
    def classes(self) -> list[str]:
        return sorted(self._tables)

    def table(self, name: str) -> pd.DataFrame:
        return self._tables[name].copy(deep=False)  # copy-on-write keeps ours intact

    @property
    def events(self) -> pd.DataFrame:
        if self._events is None:
            names = sorted(self._tables)
            if not names:
                self._events = pd.DataFrame(columns=[
                    "timestamp", "name", "domain", "cpu", "pid", "tid", "procname", "row"])
                return self._events
            tabs = [self._tables[n] for n in names]
            sizes = [len(df) for df in tabs]
            ts = np.concatenate([df["timestamp"].to_numpy(dtype=np.int64) for df in tabs])
            order = np.argsort(ts, kind="stable")  # by time, then name, then row
            procs = union_categoricals([
                pd.Categorical(df["procname"].to_numpy(dtype=object))
                if not isinstance(df["procname"].dtype, pd.CategoricalDtype)
                else df["procname"].array for df in tabs])
            if not procs.categories.is_monotonic_increasing:
                procs = procs.reorder_categories(sorted(procs.categories))

            def col(c: str) -> np.ndarray:
                return np.concatenate([df[c].to_numpy() for df in tabs])[order]

            codes = np.repeat(np.arange(len(names), dtype=np.int32), sizes)[order]
            dom = np.asarray([1 if ":" in n else 0 for n in names], dtype=np.int8)
            self._events = pd.DataFrame({
                "timestamp": ts[order],
                "name": pd.Categorical.from_codes(codes, categories=names),
                "domain": pd.Categorical.from_codes(dom[codes], categories=["kernel", "ust"]),
                "cpu": col("cpu"), "pid": col("pid"), "tid": col("tid"),
                "procname": pd.Categorical.from_codes(np.asarray(procs.codes)[order],
                                                      categories=procs.categories),
                "row": np.concatenate([np.arange(n) for n in sizes])[order],
            }, copy=False)
        return self._events


def build(events: Iterable[Event], discarded: Sequence[tuple[int, int, int]] = ()) -> Trace:
    """A :class:`Trace` from events; ``discarded`` lists ``(begin, end, count)`` windows."""
    by_name: dict[str, list[Event]] = {}
    for e in sorted(events, key=lambda e: e.timestamp):
        by_name.setdefault(e.name, []).append(e)
    tables: dict[str, pd.DataFrame] = {}
    for name, evs in by_name.items():
        cols: dict[str, Any] = {
            "timestamp": np.array([e.timestamp for e in evs], dtype=np.int64),
            "cpu": np.array([e.cpu for e in evs], dtype=np.int64),
            "pid": np.array([e.pid for e in evs], dtype=np.int64),
            "tid": np.array([e.tid for e in evs], dtype=np.int64),
            "procname": np.array([e.procname for e in evs], dtype=object),
        }
        keys: list[str] = []
        for e in evs:
            keys += [k for k in e.fields if k not in keys]
        for k in keys:
            vals = [e.fields.get(k) for e in evs]
            if all(isinstance(v, int) for v in vals):
                cols[k] = np.array(vals, dtype=np.int64)
            elif all(isinstance(v, int | None) for v in vals):
                cols[k] = pd.array(vals, dtype="Int64")
            else:
                cols[k] = np.array(vals, dtype=object)
        tables[name] = pd.DataFrame(cols)
    disc = None
    if discarded:
        disc = pd.DataFrame(
            {"path": "synthetic", "cpu": 0,
             "discarded_events": np.array([c for _, _, c in discarded], dtype=np.int64),
             "lost_packets": 0,
             "begin": np.array([b for b, _, _ in discarded], dtype=np.int64),
             "end": np.array([e for _, e, _ in discarded], dtype=np.int64)})
    return Trace(tables, disc)


def parse(text: str, discarded: Sequence[tuple[int, int, int]] = ()) -> Trace:
    """A :class:`Trace` from the text format of the module doc."""
    return build(parse_events(text), discarded)


# --- writing a trace as CTF ---------------------------------------------------------------
# A plain CTF 1.8 layout LTTng's readers take: byte-aligned little-endian integers, a
# 12-byte event header (id, 64-bit timestamp), the LTTng stream event context (pid/tid or
# vpid/vtid, procname as char[17], perf_* counters), int64 payload fields and strings.
# Records are laid out with NumPy: each field is one strided scatter over all its events.

_MAGIC = 0xC1FC1FC1
_PACKET_HEADER = 4 + 16 + 4 + 8  # magic, uuid, stream_id, stream_instance_id
_PACKET_CONTEXT = 8 * 6 + 4      # ts begin/end, content/packet size, seq, discarded, cpu
_EVENT_HEADER = 4 + 8            # id, timestamp
_PROCNAME = 17
_FIXED = ("timestamp", "cpu", "pid", "tid", "procname")


def _tsdl(domain: str, classes: list[tuple[str, list[str], list[str]]],
          contexts: list[str], uuid: bytes) -> str:
    u = uuid.hex()
    ids = ("vpid", "vtid") if domain == "ust" else ("pid", "tid")
    ctx = [f"\t\tint32_t _{ids[0]};", f"\t\tint32_t _{ids[1]};",
           f"\t\tinteger {{ size = 8; align = 8; signed = false; encoding = UTF8; }} "
           f"_procname[{_PROCNAME}];"]
    ctx += [f"\t\tuint64_t _{c};" for c in contexts]
    lines = [
        "/* CTF 1.8 */",
        "typealias integer { size = 8; align = 8; signed = false; } := uint8_t;",
        "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;",
        "typealias integer { size = 32; align = 8; signed = true; } := int32_t;",
        "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;",
        "typealias integer { size = 64; align = 8; signed = true; } := int64_t;",
        "trace {\n\tmajor = 1;\n\tminor = 8;",
        f'\tuuid = "{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}";',
        "\tbyte_order = le;",
        "\tpacket.header := struct {\n\t\tuint32_t magic;\n\t\tuint8_t uuid[16];\n"
        "\t\tuint32_t stream_id;\n\t\tuint64_t stream_instance_id;\n\t};\n};",
        "env {",
        f'\tdomain = "{domain}";',
        f'\ttracer_name = "{"lttng-ust" if domain == "ust" else "lttng-modules"}";',
        "\ttracer_major = 2;\n\ttracer_minor = 13;\n};",
        'clock {\n\tname = "monotonic";\n\tfreq = 1000000000;\n\toffset = 0;\n};',
        "typealias integer { size = 64; align = 8; signed = false; "
        "map = clock.monotonic.value; } := uint64_clock_monotonic_t;",
        "stream {\n\tid = 0;",
        "\tevent.header := struct {\n\t\tuint32_t id;\n"
        "\t\tuint64_clock_monotonic_t timestamp;\n\t};",
        "\tpacket.context := struct {\n\t\tuint64_clock_monotonic_t timestamp_begin;\n"
        "\t\tuint64_clock_monotonic_t timestamp_end;\n\t\tuint64_t content_size;\n"
        "\t\tuint64_t packet_size;\n\t\tuint64_t packet_seq_num;\n"
        "\t\tuint64_t events_discarded;\n\t\tuint32_t cpu_id;\n\t};",
        "\tevent.context := struct {\n" + "\n".join(ctx) + "\n\t};\n};",
    ]
    for i, (name, ints, strings) in enumerate(classes):
        fields = [f"\t\tint64_t _{f};" for f in ints] + [f"\t\tstring _{f};" for f in strings]
        lines.append(f'event {{\n\tname = "{name}";\n\tid = {i};\n\tstream_id = 0;\n'
                     "\tfields := struct {\n" + "\n".join(fields) + "\n\t};\n};")
    return "\n".join(lines) + "\n"


def _put(buf: np.ndarray, dtype: str, at: np.ndarray, values: Any) -> None:
    """Write ``values`` (``dtype``) at byte offsets ``at`` of ``buf``: one strided scatter."""
    size = np.dtype(dtype).itemsize
    view = np.ndarray((len(buf) - size + 1,), dtype=dtype, buffer=buf, strides=(1,))
    view[at] = values


def _text(values: Any) -> tuple[np.ndarray, list[bytes]]:
    """Codes and UTF-8 bytes of a text column (categorical or not)."""
    cat = values.array if isinstance(values, pd.Series) else values
    cat = cat if isinstance(cat, pd.Categorical) else pd.Categorical(
        pd.Series(values).fillna("").astype(object))
    return np.asarray(cat.codes), [str(c).encode() for c in cat.categories]


def write_ctf(trace: Trace, out: str | Any, packet_bytes: int = 1 << 22) -> list[Any]:
    """Write ``trace`` as CTF: ``out/kernel`` (LTTng-modules-like) and ``out/ust`` (LTTng-UST).

    One stream file per CPU and domain, packets of about ``packet_bytes``. Columns
    ``timestamp, cpu, pid, tid, procname`` go to headers and the event context, ``perf_*``
    columns to the context too, integer columns to int64 payload fields, text columns to
    strings. Vectorised (a scatter per field), so it writes millions of events per second.
    Returns the trace directories written; :func:`correlate.open` reads them back.
    """
    import uuid as uuid_mod
    from pathlib import Path

    out = Path(out)
    written = []
    for domain in ("kernel", "ust"):
        names = [n for n in trace.classes if (":" in n) == (domain == "ust")
                 and len(trace._tables[n])]
        if not names:
            continue
        tabs = [trace._tables[n] for n in names]
        contexts = sorted({c for df in tabs for c in df.columns if c.startswith("perf_")})
        classes = []
        for n, df in zip(names, tabs, strict=True):
            rest = [c for c in df.columns if c not in _FIXED and c not in contexts]
            ints = [c for c in rest if df[c].dtype.kind in "iub"]
            strings = [c for c in rest if c not in ints]
            classes.append((n, ints, strings))
        d = out / domain
        d.mkdir(parents=True, exist_ok=True)
        uid = uuid_mod.uuid5(uuid_mod.NAMESPACE_URL, f"usdk-synth-{domain}").bytes
        (d / "metadata").write_text(_tsdl(domain, classes, contexts, uid))
        # All events of the domain, time-ordered (stable: class order breaks ties).
        sizes = [len(df) for df in tabs]
        cls = np.repeat(np.arange(len(names), dtype=np.int32), sizes)
        row = np.concatenate([np.arange(s) for s in sizes])
        ts = np.concatenate([df["timestamp"].to_numpy(np.int64) for df in tabs])
        cpu = np.concatenate([df["cpu"].to_numpy(np.int64) for df in tabs])
        base = _EVENT_HEADER + 8 + _PROCNAME + 8 * len(contexts)
        ev_size = np.empty(len(ts), dtype=np.int64)
        str_len: dict[tuple[int, str], np.ndarray] = {}
        for i, ((_, ints, strings), df) in enumerate(zip(classes, tabs, strict=True)):
            sel = cls == i
            size = np.full(len(df), base + 8 * len(ints), dtype=np.int64)
            for c in strings:
                codes, cats = _text(df[c])
                lens = np.asarray([len(b) + 1 for b in cats], dtype=np.int64)[codes]
                str_len[(i, c)] = lens
                size += lens
            ev_size[sel] = size
        for c_id in np.unique(cpu):
            on = np.flatnonzero(cpu == c_id)
            on = on[np.argsort(ts[on], kind="stable")]
            _write_stream(d / f"channel0_{int(c_id)}", uid, int(c_id), on, ts, cls, row,
                          ev_size, tabs, classes, contexts, str_len, packet_bytes)
        written.append(d)
    return written


def _write_stream(path: Any, uid: bytes, cpu_id: int, on: np.ndarray, ts: np.ndarray,
                  cls: np.ndarray, row: np.ndarray, ev_size: np.ndarray,
                  tabs: list[pd.DataFrame], classes: list[tuple[str, list[str], list[str]]],
                  contexts: list[str], str_len: dict[tuple[int, str], np.ndarray],
                  packet_bytes: int) -> None:
    hdr = _PACKET_HEADER + _PACKET_CONTEXT
    size = ev_size[on]
    cum = np.concatenate([[0], np.cumsum(size)])
    # Packets: greedy, a Python step per packet (never per event).
    bounds = [0]
    while bounds[-1] < len(on):
        a = bounds[-1]
        b = int(np.searchsorted(cum, cum[a] + packet_bytes - hdr, side="right")) - 1
        bounds.append(max(b, a + 1))
    bounds_a = np.asarray(bounds)
    n_pk = len(bounds) - 1
    pk_len = hdr + cum[bounds_a[1:]] - cum[bounds_a[:-1]]
    pk_start = np.concatenate([[0], np.cumsum(pk_len)])
    pk_of = np.repeat(np.arange(n_pk), np.diff(bounds_a))
    at = pk_start[pk_of] + hdr + cum[:-1] - cum[bounds_a[:-1]][pk_of]  # event offsets
    buf = np.zeros(int(pk_start[-1]), dtype=np.uint8)
    ps = pk_start[:-1]
    _put(buf, "<u4", ps, _MAGIC)
    for k in range(16):
        _put(buf, "u1", ps + 4 + k, uid[k])
    _put(buf, "<u4", ps + 20, 0)
    _put(buf, "<u8", ps + 24, cpu_id)
    pc = ps + _PACKET_HEADER
    t_on = ts[on]
    _put(buf, "<u8", pc, t_on[bounds_a[:-1]])
    _put(buf, "<u8", pc + 8, t_on[bounds_a[1:] - 1])
    _put(buf, "<u8", pc + 16, pk_len * 8)
    _put(buf, "<u8", pc + 24, pk_len * 8)
    _put(buf, "<u8", pc + 32, np.arange(n_pk))
    _put(buf, "<u8", pc + 40, 0)
    _put(buf, "<u4", pc + 48, cpu_id)
    c_on, r_on = cls[on], row[on]
    for i, ((_, ints, strings), df) in enumerate(zip(classes, tabs, strict=True)):
        sel = np.flatnonzero(c_on == i)
        if not len(sel):
            continue
        r, o = r_on[sel], at[sel]
        _put(buf, "<u4", o, i)
        _put(buf, "<u8", o + 4, t_on[sel])
        _put(buf, "<i4", o + 12, df["pid"].to_numpy(np.int64)[r])
        _put(buf, "<i4", o + 16, df["tid"].to_numpy(np.int64)[r])
        codes, cats = _text(df["procname"])
        names = np.asarray([b[: _PROCNAME - 1] for b in cats] or [b""], dtype=f"S{_PROCNAME}")
        _put(buf, f"S{_PROCNAME}", o + 20, names[codes[r]])
        p = o + 20 + _PROCNAME
        for c in contexts:
            v = df[c].to_numpy(np.float64, na_value=0)[r] if c in df else 0
            _put(buf, "<u8", p, np.asarray(v).astype(np.int64).astype(np.uint64))
            p = p + 8
        for c in ints:
            _put(buf, "<i8", p, df[c].to_numpy(np.int64)[r])
            p = p + 8
        for c in strings:
            codes, cats = _text(df[c])
            code_r = codes[r]
            for k, text in enumerate(cats):  # one scatter per distinct string
                if text:
                    hit = code_r == k
                    _put(buf, f"S{len(text)}", p[hit], text)
            p = p + str_len[(i, c)][r]
    buf.tofile(str(path))
