"""The native backend: the C decoder (``correlate._ctfdec``) walking packets into columns.

This module is the only importer of the extension's ``ffi``/``lib``. It parses the TSDL
metadata (:mod:`correlate.read.tsdl`), compiles the decoding program
(:mod:`correlate.read.layout`), runs the decoder over the stream files (memory-mapped) and
hands the resulting buffers to NumPy without copying them. Strings come back as one bytes
buffer + offsets per column and become Arrow-backed ``str`` columns; procname and
enumerations come back as dictionary codes (categoricals); no Python object is made per
event except for list (array/sequence) columns.

Two ways to decode:

* :func:`read_merged` (tried first): every stream of every trace at once, event by event in
  time order, so class tables come out sorted and the events table is written on the way
  (one pass, each value written once);
* :func:`read`: one trace, each stream on its own (in parallel), with partial reads and
  damage reports; :mod:`correlate.read.assemble` then merges the streams into time order
  (:func:`merge`, :func:`gather`, :func:`events`) or sorts keys.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from correlate.read import layout as lay
from correlate.read import tsdl
from correlate.read.bt2source import Options, SourceResult, label_of
from correlate.read.discover import TraceDir
from correlate.read.model import (
    INT,
    UINT,
    ClassPart,
    Column,
    Damage,
    MergedEvents,
    StreamDiscards,
    StreamSeq,
    TraceClock,
)
from usdk.errors import CorruptTraceError, NativeVersionError

try:
    from correlate._ctfdec import ffi, lib
except ImportError as e:  # pragma: no cover - exercised when the extension is not built
    raise ImportError(
        f"correlate's native decoder is not built ({e}); run `make setup` (pip install -e .) "
        "or `python correlate/native/_build.py --inplace`"
    ) from e

ABI_VERSION = 8
if lib.CTFDEC_ABI_VERSION != ABI_VERSION:
    raise NativeVersionError(
        f"correlate._ctfdec is stale (ABI {lib.CTFDEC_ABI_VERSION}, expected {ABI_VERSION}); "
        "rebuild with `make setup`"
    )

STATUS = {
    1: "out of memory",
    2: "truncated packet",
    3: "bad packet magic (not a CTF packet)",
    4: "packet of an unknown stream class",
    5: "event of an unknown event class (corrupted event header)",
    6: "impossible packet or content size in the packet context",
    7: "event runs past the packet's content (corrupted event)",
    8: "internal layout error",
}
DAMAGE_CAP = 64
STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def _ops(ops: list[lay.Op], keep: list[Any]) -> Any:
    arr = ffi.new("ctf_op[]", len(ops))
    for i, op in enumerate(ops):
        c = arr[i]
        for k, v in op.__dict__.items():
            setattr(c, k, v)
    keep.append(arr)
    return arr


class _Native:
    """The C layout structures of one trace (kept alive together)."""

    def __init__(self, L: lay.Layout, opts: Options) -> None:
        keep: list[Any] = []
        self.keep = keep
        self.L = L
        c = ffi.new("ctf_layout *")
        c.packet_header = _ops(L.packet_header, keep)
        c.packet_context = _ops(L.packet_context, keep)
        scs = ffi.new("ctf_stream_class[]", len(L.streams))
        keep.append(scs)
        sidx = {s.id: i for i, s in enumerate(L.streams)}
        for i, s in enumerate(L.streams):
            scs[i].id = s.id
            scs[i].event_header = _ops(s.event_header, keep)
            scs[i].event_context = _ops(s.event_context, keep) if s.event_context else ffi.NULL
            ids = [cl.id for cl in L.classes if cl.stream_id == s.id]
            n = max(ids) + 1 if ids else 0
            m = ffi.new("int32_t[]", max(n, 1))
            for k in range(max(n, 1)):
                m[k] = -1
            for ci, cl in enumerate(L.classes):
                if cl.stream_id == s.id:
                    m[cl.id] = ci
            keep.append(m)
            scs[i].class_of_id = m
            scs[i].nids = n
        classes = ffi.new("ctf_class[]", max(len(L.classes), 1))
        keep.append(classes)
        for i, cl in enumerate(L.classes):
            classes[i].stream_class = sidx[cl.stream_id]
            classes[i].wanted = int(cl.wanted)
            classes[i].ncols = len(cl.columns)
            cols = ffi.new("ctf_col[]", max(len(cl.columns), 1))
            keep.append(cols)
            for j, spec in enumerate(cl.columns):
                cols[j].kind = spec.ccol
            classes[i].cols = cols
            classes[i].ops = _ops(cl.ops, keep)
        c.stream_classes = scs
        c.nstream_classes = len(L.streams)
        c.classes = classes
        c.nclasses = len(L.classes)
        c.nregs = L.nregs
        freq = L.clock.freq if L.clock else 1_000_000_000
        c.start = _raw(opts.start, freq) if opts.start is not None else -(1 << 63)
        c.end = _raw(opts.end, freq, up=False) if opts.end is not None else -1
        c.partial = int(opts.partial)
        self.c = c
        self.classes = classes

    def release(self) -> None:
        for i in range(len(self.L.classes)):
            lib.ctf_release_class(ffi.addressof(self.classes[i]))
        if self.c.seq.data != ffi.NULL:
            lib.ctf_free_buf(self.c.seq.data)
            self.c.seq.data = ffi.NULL


def _raw(ns: int, freq: int, up: bool = True) -> int:
    """CLOCK_MONOTONIC ns -> raw clock value (first value >= ns, or last <= ns)."""
    if freq == 1_000_000_000:
        return max(ns, 0)
    v = ns * freq // 1_000_000_000
    if up and v * 1_000_000_000 // freq < ns:
        v += 1
    return max(v, 0)


def _take(buf: Any, dtype: Any, count: int | None = None) -> np.ndarray:
    """Hand a C buffer to NumPy without copying; the array frees it when collected."""
    n = int(buf.len)
    if n == 0 or buf.data == ffi.NULL:
        return np.zeros(0, dtype=dtype)
    p = ffi.gc(buf.data, lib.ctf_free_buf)
    buf.data = ffi.NULL
    buf.len = buf.cap = 0
    arr = np.frombuffer(ffi.buffer(p, n), dtype=dtype)
    return arr if count is None else arr[:count]


def _strings(col: Any, rows: int) -> Any:
    ends = _take(col.main, np.int64)
    data = _take(col.aux, np.uint8)
    offsets = np.empty(rows + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends[:rows]
    del ends
    arr = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        # ASCII is UTF-8 (a quick max instead of Arrow's full UTF-8 check); the offsets are
        # the decoder's, increasing and within the data by construction
        arr.validate(full=not len(data) or int(data.max()) >= 0x80)
    except pa.ArrowInvalid:  # not UTF-8: decode with U+FFFD like the bt2 path
        raw = data.tobytes()
        vals = [raw[offsets[i]:offsets[i + 1]].decode("utf-8", "replace") for i in range(rows)]
        arr = pa.array(vals, type=pa.large_string())
    return _arrow_str(arr)


def _arrow_str(arr: pa.Array) -> Any:
    """An Arrow string array as pandas' default ``str`` array (what object strings become)."""
    from pandas.arrays import ArrowStringArray

    try:
        return ArrowStringArray(pa.chunked_array([arr]), dtype=STR_DTYPE)
    except TypeError:  # older pandas
        return pd.array(arr.to_pylist(), dtype=STR_DTYPE)


def _categorical(codes: np.ndarray, words: list[str], damaged: bool) -> pd.Categorical:
    """Raw codes into ``words`` (a decoder dictionary) as a Categorical of the values used,
    sorted; ``codes`` is remapped in place. Every entry is used unless a damaged packet's
    rows were dropped."""
    used = (np.bincount(codes, minlength=len(words)) > 0).tolist() if damaged \
        else [True] * len(words)
    cats = sorted({w for w, u in zip(words, used, strict=True) if u})
    pos = {c: i for i, c in enumerate(cats)}
    lut = np.asarray([pos.get(w, -1) for w in words], dtype=np.int32)
    if not np.array_equal(lut, np.arange(len(lut))):
        codes = lookup(lut, codes, out=codes)
    return pd.Categorical.from_codes(codes, categories=cats, validate=False)


def _codes(col: Any, rows: int, damaged: bool,
           words_out: list[str] | None = None) -> pd.Categorical:
    """An interned string column (codes + dictionary) as a Categorical of the used values;
    ``words_out`` receives the dictionary (the value of each raw code)."""
    codes = _take(col.main, np.int32)[:rows]
    ends = _take(col.dict, np.int64)
    data = _take(col.aux, np.uint8).tobytes()
    if len(ends) == 0:
        return pd.Categorical.from_codes(codes, categories=[])
    starts = np.concatenate([[0], ends[:-1]])
    words = [data[b:e].decode("utf-8", "replace") for b, e in zip(starts.tolist(), ends.tolist(),
                                                                    strict=True)]
    if words_out is not None:
        words_out[:] = words
    return _categorical(codes, words, damaged)


def _enum(col: Any, rows: int, damaged: bool, enum: tsdl.Enum) -> pd.Categorical:
    """An enumeration column (codes + the value of each code) as a Categorical of labels."""
    codes = _take(col.main, np.int32)[:rows]
    values = _take(col.dict, np.int64)
    if not enum.base.signed:
        values = values.view(np.uint64)
    words = [_enum_label(enum, v) for v in values.tolist()]
    return _categorical(codes, words, damaged)


def _lists(col: Any, rows: int, dtype: Any) -> list[Any]:
    ends = _take(col.main, np.int64)[:rows]
    vals = _take(col.aux, dtype).tolist()
    out = []
    start = 0
    for e in ends.tolist():
        out.append(vals[start:e])
        start = e
    return out


def _enum_label(enum: tsdl.Enum, value: int) -> str:
    """The category of one value of an enumeration (see ``label_of``)."""
    return label_of(value, [lab for lab, lo, hi in enum.mappings if lo <= value <= hi])


def read(trace: TraceDir, stream_base: int, opts: Options,
         progress: Callable[[int, int], None] | None = None,
         force: bool = False) -> tuple[SourceResult | None, str]:
    """Decode ``trace`` natively; (None, reason) when its layout needs babeltrace2.

    Raises :class:`CorruptTraceError` (file, offset) on damage unless ``opts.partial``.
    """
    try:
        text = tsdl.read_text(trace.metadata)
        meta = tsdl.parse(text)
        L = lay.compile_layout(meta, opts)
    except (tsdl.TsdlError, lay.Unsupported, KeyError) as e:
        if force:
            raise CorruptTraceError(f"native decoder cannot read this metadata: {e}",
                                    path=str(trace.metadata)) from None
        return None, f"layout not handled natively: {e}"
    freq = L.clock.freq if L.clock else 1_000_000_000

    def one(i: int) -> tuple[list[ClassPart], StreamDiscards | None, list[Damage], int]:
        path = trace.streams[i]
        size = path.stat().st_size
        if size == 0:
            return [], None, [], 0
        nat = _Native(L, opts)
        res = ffi.new("ctf_result *")
        dmg = ffi.new("ctf_damage[]", DAMAGE_CAP)
        try:
            with open(path, "rb") as f, \
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                mm.madvise(mmap.MADV_SEQUENTIAL)
                ptr = ffi.from_buffer("uint8_t[]", mm)
                status = lib.ctf_decode_stream(nat.c, ptr, size, res, dmg, DAMAGE_CAP)
                del ptr
            if status and not opts.partial:
                raise CorruptTraceError(STATUS.get(status, f"decoder status {status}"),
                                        path=str(path), offset=int(res.error_offset))
            damage = [Damage(str(path), int(dmg[k].offset),
                             STATUS.get(dmg[k].status, str(dmg[k].status)))
                      for k in range(res.ndamage)]
            disc = _discards(res, str(path), text, i, freq)
            stream = StreamSeq(stream_base + i, _take(nat.c.seq, np.int32))
            return _parts(nat, L, str(trace.path), stream, bool(status)), disc, damage, size
        finally:
            nat.release()

    parts: list[ClassPart] = []
    discards: list[StreamDiscards] = []
    damage: list[Damage] = []
    done = 0
    workers = min(len(trace.streams), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for p, disc, dmg_list, size in pool.map(one, range(len(trace.streams))):
            parts += p
            if disc is not None:
                discards.append(disc)
            damage += dmg_list
            done += size
            if progress:
                progress(done, 0)
    return SourceResult(parts, discards, _clock(L, trace), damage,
                        sum(len(p) for p in parts)), ""


def read_merged(traces: list[TraceDir], opts: Options,
                progress: Callable[[int, int], None] | None = None,
                ) -> tuple[list[SourceResult], MergedEvents] | None:
    """Decode every stream of ``traces`` at once, in time order (``ctf_decode_merged``).

    Class tables come out in time order and the events table is written as events are
    decoded: nothing is sorted or gathered afterwards. None when this does not apply (a
    layout needs babeltrace2, a clock is not in ns, two classes share a canonical name, a
    stream is out of time order, damage): the caller decodes stream by stream, which also
    reports the damage.
    """
    from correlate.read.assemble import PID_SOURCES, TID_SOURCES

    plans = []
    seen: set[str] = set()
    for trace in traces:
        try:
            text = tsdl.read_text(trace.metadata)
            L = lay.compile_layout(tsdl.parse(text), opts)
        except (tsdl.TsdlError, lay.Unsupported, KeyError):
            return None
        if L.clock is not None and L.clock.freq != 1_000_000_000:
            return None
        for cl in L.classes:
            if cl.wanted:
                if cl.canonical in seen:
                    return None
                seen.add(cl.canonical)
        plans.append((trace, text, L))
    table_names = sorted(seen)
    tix = {n: i for i, n in enumerate(table_names)}
    keep: list[Any] = []
    natives: list[_Native] = []
    entries: list[tuple[int, int, Any]] = []  # (plan, stream index in its trace, file)
    for k, (trace, _text, L) in enumerate(plans):
        nat = _Native(L, opts)
        natives.append(nat)
        cols = {}
        for name, sources in (("pid", PID_SOURCES.get(L.domain, ())),
                              ("tid", TID_SOURCES.get(L.domain, ()))):
            cols[name] = ffi.new("int32_t[]", [_ident_col(cl, sources) for cl in L.classes] or [0])
        proc = [_proc_col(cl) for cl in L.classes]
        if any(p == -2 for p in proc):
            for n in natives:
                n.release()
            return None
        cols["proc"] = ffi.new("int32_t[]", proc or [0])
        cols["table"] = ffi.new("int32_t[]", [tix.get(cl.canonical, -1) for cl in L.classes]
                                or [0])
        keep.append(cols)
        for i, path in enumerate(trace.streams):
            if path.stat().st_size:
                entries.append((k, i, path))
    ms = ffi.new("ctf_mstream[]", max(len(entries), 1))
    res = ffi.new("ctf_result[]", max(len(entries), 1))
    out = ffi.new("ctf_events_buf *")
    files: list[Any] = []
    try:
        for j, (k, _i, path) in enumerate(entries):
            f = open(path, "rb")  # noqa: SIM115 - closed below
            files.append(f)
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            files.append(mm)
            mm.madvise(mmap.MADV_SEQUENTIAL)
            ptr = ffi.from_buffer("uint8_t[]", mm)
            keep.append(ptr)
            cols = keep[k]
            ms[j].layout = natives[k].c
            ms[j].buf = ptr
            ms[j].len = len(mm)
            ms[j].table_of = cols["table"]
            ms[j].pid_col = cols["pid"]
            ms[j].tid_col = cols["tid"]
            ms[j].proc_col = cols["proc"]
            ms[j].res = res + j
            ms[j].drop_read = 1  # our own mapping: its pages go once read
        status = _run_polled(lambda: lib.ctf_decode_merged(ms, len(entries), out),
                             lambda: progress(int(out.done_bytes), 0) if progress else None)
        if status == DEC_ENOMEM:
            raise MemoryError("correlate: out of memory decoding the trace")
        if status:
            return None
        results = []
        procnames: dict[str, list[str]] = {}
        for k, (trace, text, L) in enumerate(plans):
            freq = L.clock.freq if L.clock else 1_000_000_000
            parts = _parts(natives[k], L, str(trace.path), None, False, procnames)
            discards = [_discards(res[j], str(path), text, i, freq)
                        for j, (kk, i, path) in enumerate(entries) if kk == k]
            results.append(SourceResult(parts, discards, _clock(L, trace), [],
                                        sum(len(p) for p in parts)))
        events = _merged_events(out, table_names, results, procnames)
        if progress:
            progress(sum(len(mm) for mm in files[1::2]), 0)
        return results, events
    finally:
        for ptr in keep[len(plans):]:
            ffi.release(ptr)
        for f in reversed(files):
            f.close()
        lib.ctf_release_events(out)
        for nat in natives:
            nat.release()


DEC_ENOMEM = 1


def lookup(lut: np.ndarray, idx: np.ndarray, by: tuple[np.ndarray, np.ndarray] | None = None,
           out: np.ndarray | None = None) -> np.ndarray:
    """``lut[idx]`` (or ``lut[base[idx2] + idx]`` with ``by=(idx2, base)``) in one pass, in
    place when ``out`` is ``idx``; int32 indexes, a 1- or 4-byte lut; -1 outside the lut."""
    lut = np.ascontiguousarray(lut)
    if lut.dtype.itemsize not in (1, 4) or idx.dtype != np.int32:
        raise TypeError("lookup: int32 indexes into a 1- or 4-byte table")
    if out is None:
        out = np.empty(len(idx), dtype=lut.dtype)
    idx2 = base = ffi.NULL
    keep = []
    if by is not None:
        keep = [np.ascontiguousarray(by[0], np.int32), np.ascontiguousarray(by[1], np.int64)]
        idx2 = ffi.from_buffer("int32_t[]", keep[0])
        base = ffi.from_buffer("int64_t[]", keep[1])
    lib.ctf_lookup(ffi.from_buffer("int32_t[]", idx), idx2, base, len(idx),
                   ffi.from_buffer(lut), len(lut), lut.dtype.itemsize, -1,
                   ffi.from_buffer(out))
    return out


def _run_polled(call: Callable[[], int], poll: Callable[[], object]) -> int:
    """``call()`` (a C call, which releases the GIL) in a thread, ``poll()`` every 0.1 s."""
    import threading

    out: list[int] = []
    worker = threading.Thread(target=lambda: out.append(call()), name="correlate-decode")
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        poll()
    if not out:  # pragma: no cover - the call cannot raise
        raise RuntimeError("correlate: the native decoder did not return")
    return out[0]


def _ident_col(cl: lay.ClassLayout, sources: tuple[str, ...]) -> int:
    """The column the table's pid/tid comes from (assemble's rule), or -1."""
    ctx = {s.name: j for j, s in enumerate(cl.columns) if s.context}
    pay = {s.name: j for j, s in enumerate(cl.columns) if not s.context}
    for name in sources:
        j = ctx.get(name, pay.get(name))
        if j is not None and cl.columns[j].kind in (INT, UINT):
            return j
    return -1


def _proc_col(cl: lay.ClassLayout) -> int:
    """The interned procname context column, -1 without one, -2 if not interned."""
    j = {s.name: j for j, s in enumerate(cl.columns) if s.context}.get("procname")
    if j is None:
        return -1
    return j if cl.columns[j].ccol == lay.COL_CODE else -2


def _merged_events(out: Any, table_names: list[str], results: list[SourceResult],
                   procnames: dict[str, list[str]]) -> MergedEvents:
    n = int(out.n)
    cols = {"timestamp": _take(out.ts, np.int64, n), "name": _take(out.name, np.int32, n),
            "cpu": _take(out.cpu, np.int32, n), "pid": _take(out.pid, np.int64, n),
            "tid": _take(out.tid, np.int64, n), "procname": _take(out.proc, np.int32, n),
            "row": _take(out.row, np.int64, n)}
    parts = {p.canonical: p for r in results for p in r.parts}
    present = [t for t in table_names if t in parts]
    if len(present) != len(table_names):  # drop the classes without events from the codes
        pos = {t: i for i, t in enumerate(present)}
        lut = np.asarray([pos.get(t, -1) for t in table_names], dtype=np.int32)
        cols["name"] = lookup(lut, cols["name"], out=cols["name"])
    # procname: the raw dictionary codes of each table -> one sorted set of categories
    words = {t: procnames.get(t, [""]) for t in present}
    cats = sorted(set().union(*words.values())) if words else []
    where = {c: i for i, c in enumerate(cats)}
    offsets = np.zeros(len(present) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(words[t]) for t in present])
    flat = np.asarray([where[w] for t in present for w in words[t]] or [0], dtype=np.int32)
    if len(cats) <= 1:  # one value (or none): every code is 0
        cols["procname"] = np.zeros(n, dtype=np.int32)
    else:
        cols["procname"] = lookup(flat, cols["procname"], by=(cols["name"], offsets[:-1]),
                                  out=cols["procname"])
    return MergedEvents(cols, present, {t: parts[t].domain for t in present}, cats)


def _clock(L: lay.Layout, trace: TraceDir) -> TraceClock | None:
    if L.clock is None:
        return None
    ck = L.clock
    offset_ns = ck.offset_s * 1_000_000_000 + ck.offset * 1_000_000_000 // ck.freq
    # babeltrace2 takes LTTng's clock as Unix-epoch based when the env says lttng
    epoch = ck.absolute or L.tracer.startswith("lttng")
    return TraceClock(str(trace.path), ck.name, ck.freq, offset_ns, epoch)


def _discards(res: Any, path: str, text: str, i: int, freq: int) -> StreamDiscards:
    sid = int(res.instance_id) if "stream_instance_id" in text else i
    disc = StreamDiscards(path, int(res.stream_class_id), sid, int(res.cpu),
                          int(res.discarded), int(res.lost_packets))
    if res.has_loss:
        disc.begin = _ns(int(res.loss_begin), freq)
        disc.end = _ns(int(res.loss_end), freq)
    return disc


def _ns(raw: int, freq: int) -> int:
    return raw if freq == 1_000_000_000 else raw * 1_000_000_000 // freq


def _parts(nat: _Native, L: lay.Layout, path: str, stream: StreamSeq | None,
           damaged: bool, procnames: dict[str, list[str]] | None = None) -> list[ClassPart]:
    """The decoded classes of one trace; ``procnames`` receives each class's procname
    dictionary (by canonical name)."""
    freq = L.clock.freq if L.clock else 1_000_000_000
    parts = []
    for i, cl in enumerate(L.classes):
        c = nat.classes[i]
        rows = int(c.rows)
        if rows == 0 or not cl.wanted:
            continue
        ts = _take(c.ts, np.int64)
        if freq != 1_000_000_000:
            ts = (ts.astype(object) * 1_000_000_000 // freq).astype(np.int64)
        part = ClassPart(cl.name, cl.canonical, L.domain, L.tracer, path, ts,
                         None, _take(c.cpu, np.int32), stream=stream, local=i)
        part.presorted = stream is None
        for j, spec in enumerate(cl.columns):
            col = c.cols[j]
            if spec.ccol == lay.COL_I64:
                data: Any = _take(col.main, np.int64)
            elif spec.ccol == lay.COL_U64:
                data = _take(col.main, np.uint64)
            elif spec.ccol == lay.COL_F64:
                data = _take(col.main, np.float64)
            elif spec.ccol == lay.COL_STR:
                data = _strings(col, rows)
            elif spec.ccol == lay.COL_CODE:
                words: list[str] = []
                data = _codes(col, rows, damaged, words)
                if procnames is not None and spec.context and spec.name == "procname":
                    procnames[cl.canonical] = words
            elif spec.ccol == lay.COL_ENUM:
                assert spec.enum is not None
                data = _enum(col, rows, damaged, spec.enum)
            elif spec.ccol == lay.COL_LIST_F64:
                data = _lists(col, rows, np.float64)
            elif spec.ccol == lay.COL_LIST_I64:
                data = _lists(col, rows, np.int64)
            else:
                data = _lists(col, rows, np.uint64)
            column = Column(spec.kind, data)
            (part.contexts if spec.context else part.payload)[spec.name] = column
        parts.append(part)
    return parts


# --- time order across streams, in C (used by correlate.read.assemble) -------------------

def _ptrs(ctype: str, arrays: list[np.ndarray]) -> Any:
    return ffi.new(f"{ctype} *[]", [ffi.from_buffer(f"{ctype}[]", a) for a in arrays])


def merge(streams: list[StreamSeq], part_of: list[np.ndarray], ts: list[np.ndarray],
          table: np.ndarray, src: np.ndarray, rows: list[int]) -> tuple[np.ndarray,
                                                                       list[np.ndarray]] | None:
    """k-way merge of time-ordered streams; see ``ctf_merge`` in decoder.h.

    Returns (table of each event in time order, per table the source part of each row), or
    None when a stream is not in time order.
    """
    n = sum(len(s.seq) for s in streams)
    name = np.empty(n, dtype=np.int32)
    rows_src = [np.empty(r, dtype=np.int32) for r in rows]
    seqs = [np.ascontiguousarray(s.seq, dtype=np.int32) for s in streams]
    nseq = np.asarray([len(q) for q in seqs], dtype=np.int64)
    ts = [np.ascontiguousarray(t, dtype=np.int64) for t in ts]
    table = np.ascontiguousarray(table, dtype=np.int32)
    src = np.ascontiguousarray(src, dtype=np.int32)
    rc = lib.ctf_merge(len(seqs), _ptrs("int32_t", seqs), ffi.from_buffer("int64_t[]", nseq),
                       _ptrs("int32_t", part_of), len(ts), _ptrs("int64_t", ts),
                       ffi.from_buffer("int32_t[]", table), ffi.from_buffer("int32_t[]", src),
                       ffi.from_buffer("int32_t[]", name), _ptrs("int32_t", rows_src))
    if rc == -2:
        raise MemoryError("correlate: out of memory merging streams")
    return None if rc else (name, rows_src)


def gather(pieces: list[np.ndarray], which: np.ndarray) -> np.ndarray:
    """Row i: the next row of ``pieces[which[i]]`` (pieces of one dtype, 1/2/4/8 bytes)."""
    dtype = pieces[0].dtype
    pieces = [np.ascontiguousarray(p) for p in pieces]
    out = np.empty(len(which), dtype=dtype)
    srcs = ffi.new("void *[]", [ffi.from_buffer(p) for p in pieces])
    if lib.ctf_gather(dtype.itemsize, len(pieces), srcs,
                      ffi.from_buffer("int32_t[]", which), len(which),
                      ffi.from_buffer(out)) != 0:
        raise MemoryError("correlate: out of memory gathering a column")
    return out


def events(name: np.ndarray, ts: list[np.ndarray], cpu: list[np.ndarray], pid: list[np.ndarray],
           tid: list[np.ndarray], proc: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The events table's columns from the per-table columns, in ``name``'s order."""
    n = len(name)
    out: dict[str, np.ndarray] = {"timestamp": np.empty(n, np.int64), "cpu": np.empty(n, np.int32),
           "pid": np.empty(n, np.int64), "tid": np.empty(n, np.int64),
           "procname": np.empty(n, np.int32), "row": np.empty(n, np.int64)}
    name = np.ascontiguousarray(name, np.int32)
    keep = [[np.ascontiguousarray(a, dt) for a in arrays]  # alive during the call
            for arrays, dt in ((ts, np.int64), (cpu, np.int32), (pid, np.int64),
                               (tid, np.int64), (proc, np.int32))]
    rc = lib.ctf_events(
        n, ffi.from_buffer("int32_t[]", name), len(ts),
        _ptrs("int64_t", keep[0]), _ptrs("int32_t", keep[1]), _ptrs("int64_t", keep[2]),
        _ptrs("int64_t", keep[3]), _ptrs("int32_t", keep[4]),
        *(ffi.from_buffer(f"{t}[]", out[k]) for k, t in (
            ("timestamp", "int64_t"), ("cpu", "int32_t"), ("pid", "int64_t"),
            ("tid", "int64_t"), ("procname", "int32_t"), ("row", "int64_t"))))
    if rc != 0:
        raise MemoryError("correlate: out of memory building the events table")
    return out
