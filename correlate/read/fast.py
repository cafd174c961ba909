"""The native backend: the C decoder (``correlate._ctfdec``) walking packets into columns.

This module is the only importer of the extension's ``ffi``/``lib``. It parses the TSDL
metadata (:mod:`correlate.read.tsdl`), compiles the decoding program
(:mod:`correlate.read.layout`), runs the decoder over each stream file (memory-mapped) and
hands the resulting buffers to NumPy without copying them. Strings come back as one bytes
buffer + offsets per column and become Arrow-backed ``str`` columns; no Python object is
made per event except for list (array/sequence) columns.
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
    ENUM,
    ORDER_SHIFT,
    ClassPart,
    Column,
    Damage,
    StreamDiscards,
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

ABI_VERSION = 1
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
        arr.validate(full=True)
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


def _lists(col: Any, rows: int, dtype: Any) -> list[Any]:
    ends = _take(col.main, np.int64)[:rows]
    vals = _take(col.aux, dtype).tolist()
    out = []
    start = 0
    for e in ends.tolist():
        out.append(vals[start:e])
        start = e
    return out


def _enum_labels(values: np.ndarray, enum: tsdl.Enum) -> dict[int, str]:
    out = {}
    from correlate.read.assemble import small_unique

    for u in small_unique(values)[0].tolist():
        labels = [lab for lab, lo, hi in enum.mappings if lo <= u <= hi]
        out[int(u)] = label_of(int(u), labels)
    return out


def read(trace: TraceDir, stream_base: int, opts: Options,
         progress: Callable[[int, int], None] | None = None,
         force: bool = False) -> tuple[SourceResult | None, str]:
    """Decode ``trace`` natively; (None, reason) when its layout needs babeltrace2.

    Raises :class:`CorruptTraceError` (file, offset) on damage unless ``opts.partial``.
    """
    text = tsdl.read_text(trace.metadata)
    try:
        meta = tsdl.parse(text)
        L = lay.compile_layout(meta, opts)
    except (tsdl.TsdlError, lay.Unsupported, KeyError) as e:
        if force:
            raise CorruptTraceError(f"native decoder cannot read this metadata: {e}",
                                    path=str(trace.metadata)) from None
        return None, f"layout not handled natively: {e}"
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
                status = lib.ctf_decode_stream(
                    nat.c, ptr, size, (stream_base + i) << ORDER_SHIFT, res, dmg, DAMAGE_CAP)
                del ptr
            if status and not opts.partial:
                raise CorruptTraceError(STATUS.get(status, f"decoder status {status}"),
                                        path=str(path), offset=int(res.error_offset))
            damage = [Damage(str(path), int(dmg[k].offset),
                             STATUS.get(dmg[k].status, str(dmg[k].status)))
                      for k in range(res.ndamage)]
            sid = int(res.instance_id) if "stream_instance_id" in text else i
            disc = StreamDiscards(str(path), int(res.stream_class_id), sid, int(res.cpu),
                                  int(res.discarded), int(res.lost_packets))
            return _parts(nat, L, str(trace.path)), disc, damage, size
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
    clock = None
    if L.clock is not None:
        ck = L.clock
        offset_ns = ck.offset_s * 1_000_000_000 + ck.offset * 1_000_000_000 // ck.freq
        # babeltrace2 takes LTTng's clock as Unix-epoch based when the env says lttng
        epoch = ck.absolute or L.tracer.startswith("lttng")
        clock = TraceClock(str(trace.path), ck.name, ck.freq, offset_ns, epoch)
    return SourceResult(parts, discards, clock, damage,
                        sum(len(p) for p in parts)), ""


def _parts(nat: _Native, L: lay.Layout, path: str) -> list[ClassPart]:
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
                         _take(c.order, np.int64), _take(c.cpu, np.int32))
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
            elif spec.ccol == lay.COL_LIST_F64:
                data = _lists(col, rows, np.float64)
            elif spec.ccol == lay.COL_LIST_I64:
                data = _lists(col, rows, np.int64)
            else:
                data = _lists(col, rows, np.uint64)
            column = Column(spec.kind, data)
            if spec.kind == ENUM and spec.enum is not None:
                column.labels = _enum_labels(data, spec.enum)
            (part.contexts if spec.context else part.payload)[spec.name] = column
        parts.append(part)
    return parts
