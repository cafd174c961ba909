"""From backend columns to the reader's DataFrames: per-class tables and the events table.

Every event carries an ordering key (stream index, position in stream); tables and the
events table are sorted by ``(timestamp, key)``, so the order is the same whichever backend
decoded the trace and ties between streams are broken the same way every time.

When the native decoder read every trace, its streams (each in time order) are merged in C
(:func:`correlate.read.fast.merge`): that gives the table of every event in time order and,
per table, which part each row comes from, so class columns are gathered once into time
order and the events table is one more pass, with no sort. Otherwise (babeltrace2 read a
trace, or a stream is out of order) the keys are sorted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from correlate.read.model import (
    BOOL,
    ENUM,
    FLOAT,
    INT,
    OBJ,
    STR,
    UINT,
    ClassPart,
    Column,
    MergedEvents,
)

DOMAINS = ["kernel", "ust"]

# pid/tid sources per domain, in order of preference (first present wins).
PID_SOURCES = {"ust": ("vpid", "pid"), "kernel": ("pid", "vpid", "perf_pid")}
TID_SOURCES = {"ust": ("vtid", "tid"), "kernel": ("tid", "vtid", "perf_tid")}
FIXED = ("timestamp", "cpu", "pid", "tid", "procname")


def time_order(ts: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Indexes sorting events by (timestamp, key); fast when ``ts`` is a few sorted runs."""
    idx = np.argsort(ts, kind="stable")
    s = ts[idx]
    tie = s[1:] == s[:-1]
    if tie.any():
        inv = np.zeros(len(s), dtype=bool)
        inv[1:] |= tie
        inv[:-1] |= tie
        sub = idx[inv]
        sub = sub[np.lexsort((key[sub], ts[sub]))]
        idx[inv] = sub
    return idx


def small_unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` in O(n) when the value range is small."""
    if len(values) and values.dtype.kind in "iu":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < (1 << 20):
            shifted = (values - values.dtype.type(lo)).astype(np.intp, copy=False)
            seen = np.bincount(shifted, minlength=hi - lo + 1) > 0
            lut = np.cumsum(seen) - 1
            uniq = (np.flatnonzero(seen) + lo).astype(values.dtype)
            return uniq, lut[shifted].astype(np.int32)
    uniq, inv = np.unique(values, return_inverse=True)
    return uniq, inv.astype(np.int32)


def _ident(part: ClassPart, sources: Sequence[str]) -> np.ndarray:
    for name in sources:
        col = part.contexts.get(name) or part.payload.get(name)
        if col is not None and col.kind in (INT, UINT):
            return np.asarray(col.data).astype(np.int64, copy=False)
    return np.full(len(part), -1, dtype=np.int64)


def _procname(part: ClassPart) -> pd.Categorical:
    col = part.contexts.get("procname")
    if col is None:
        return pd.Categorical.from_codes(np.zeros(len(part), dtype=np.int8), categories=[""])
    return _categorical(col)


def _categorical(col: Column) -> pd.Categorical:
    if col.labels is not None:  # integer codes + value -> label mapping
        values = np.asarray(col.data)
        uniq, inv = small_unique(values)
        from correlate.read.bt2source import label_of

        labels = [col.labels.get(int(u)) for u in uniq]
        labels = [lab if lab is not None else label_of(int(u), [])
                  for lab, u in zip(labels, uniq, strict=True)]
        cats = list(dict.fromkeys(labels))
        pos = {c: i for i, c in enumerate(cats)}
        remap = np.asarray([pos[lab] for lab in labels], dtype=np.int32)
        codes = remap[inv] if len(values) else np.zeros(0, dtype=np.int32)
        return _sorted_categorical(pd.Categorical.from_codes(codes, categories=cats))
    if isinstance(col.data, pd.Categorical):
        return _sorted_categorical(col.data)
    if isinstance(col.data, pd.api.extensions.ExtensionArray):  # Arrow strings (C path)
        import pyarrow as pa

        enc = pa.chunked_array(col.data._pa_array).combine_chunks().dictionary_encode()
        return _sorted_categorical(pd.Categorical.from_codes(
            enc.indices.to_numpy(zero_copy_only=False).astype(np.int32),
            categories=enc.dictionary.to_pylist()))
    return _sorted_categorical(pd.Categorical(list(col.data)))


def _sorted_categorical(c: pd.Categorical) -> pd.Categorical:
    """Categories in sorted order, so both backends give equal dtypes."""
    cats = c.categories
    if len(cats) and not cats.is_monotonic_increasing:
        c = c.reorder_categories(sorted(cats))
    return c


def _series(col: Column, n: int) -> object:
    kind = col.kind
    if kind == INT:
        return np.asarray(col.data, dtype=np.int64)
    if kind == UINT:
        return np.asarray(col.data, dtype=np.uint64)
    if kind == FLOAT:
        return np.asarray(col.data, dtype=np.float64)
    if kind == BOOL:
        return np.asarray(col.data, dtype=bool)
    if kind == ENUM:
        return _categorical(col)
    if kind in (STR, OBJ):
        if isinstance(col.data, pd.api.extensions.ExtensionArray):
            return col.data
        if isinstance(col.data, np.ndarray) and col.data.dtype == object:
            return col.data
        arr = np.empty(n, dtype=object)
        arr[:] = list(col.data) if kind == OBJ else col.data
        return arr
    raise ValueError(f"unknown column kind {kind!r}")


def part_columns(part: ClassPart, columns: frozenset[str] | None) -> dict[str, object]:
    """One ClassPart's columns (NumPy arrays, Categoricals, Arrow strings), not yet sorted."""
    n = len(part)
    data: dict[str, object] = {
        "timestamp": part.timestamp.astype(np.int64, copy=False),
        "cpu": part.cpu.astype(np.int32, copy=False),
        "pid": _ident(part, PID_SOURCES.get(part.domain, ())),
        "tid": _ident(part, TID_SOURCES.get(part.domain, ())),
        "procname": _procname(part),
    }
    for group in (part.contexts, part.payload):
        for name, col in group.items():
            if name in data or (columns is not None and name not in columns):
                continue
            data[name] = _series(col, n)
    return data


def _merge(pieces: list[object], sizes: list[int], idx: np.ndarray | None) -> object:
    """Concatenate one column's pieces (None: missing in that part) and reorder by ``idx``."""
    present = [p for p in pieces if p is not None]
    if len(present) == len(pieces) and all(isinstance(p, pd.Categorical) for p in present):
        cat = present[0] if len(present) == 1 else union_categoricals(present)
        cat = _sorted_categorical(cat)
        return cat if idx is None else cat.take(idx)
    if len(present) == len(pieces) and all(
            isinstance(p, pd.api.extensions.ExtensionArray) for p in present):
        arr = present[0] if len(present) == 1 else \
            type(present[0])._concat_same_type(present)  # type: ignore[attr-defined]
        return arr if idx is None else arr.take(idx)  # type: ignore[union-attr]
    arrays = []
    for p, n in zip(pieces, sizes, strict=True):
        if p is None:
            a = np.empty(n, dtype=object)
            a[:] = None
            arrays.append(a)
        elif isinstance(p, np.ndarray):
            arrays.append(p)
        else:
            arrays.append(np.asarray(p, dtype=object))
    if len({a.dtype for a in arrays}) > 1:
        arrays = [a.astype(object) for a in arrays]
    out = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    return out if idx is None else out.take(idx)


class MergedOrder:
    """The time order the native merge found: the table (index in sorted names) of each event."""

    def __init__(self, name: np.ndarray, domains: dict[str, str]) -> None:
        self.name = name
        self.domains = domains


Order = dict[str, tuple[str, np.ndarray]] | MergedOrder | MergedEvents


def build_tables(
    parts: list[ClassPart], columns: frozenset[str] | None
) -> tuple[dict[str, pd.DataFrame], Order]:
    """Per canonical name the time-sorted table, and the order of the events table to come.

    Column data of ``parts`` is released as it is consumed.
    """
    merged = _build_merged(parts, columns)
    if merged is not None:
        return merged
    return _build_sorted(parts, columns)


def build_presorted(parts: list[ClassPart], columns: frozenset[str] | None
                    ) -> dict[str, pd.DataFrame]:
    """Per canonical name the table, from parts that are whole classes in time order."""
    tables: dict[str, pd.DataFrame] = {}
    for p in sorted(parts, key=lambda p: p.canonical):
        assert p.presorted and p.canonical not in tables
        tables[p.canonical] = pd.DataFrame(part_columns(p, columns), copy=False)
        _release([p])
    return tables


def _build_merged(parts: list[ClassPart], columns: frozenset[str] | None
                  ) -> tuple[dict[str, pd.DataFrame], Order] | None:
    """Tables from a k-way merge of the native streams; None when it does not apply."""
    if not parts or any(p.stream is None for p in parts):
        return None
    from correlate.read import fast

    streams = sorted({id(p.stream): p.stream for p in parts if p.stream is not None}.values(),
                     key=lambda s: s.index)
    if len({s.index for s in streams}) != len(streams):
        return None
    sidx = {id(s): k for k, s in enumerate(streams)}
    names = sorted({p.canonical for p in parts})
    tix = {n: i for i, n in enumerate(names)}
    groups: list[list[ClassPart]] = [[] for _ in names]
    table = np.empty(len(parts), np.int32)
    src = np.empty(len(parts), np.int32)
    width = [0] * len(streams)
    for p in parts:
        k = sidx[id(p.stream)]
        width[k] = max(width[k], p.local + 1)
    part_of = [np.full(w, -1, np.int32) for w in width]
    for k, p in enumerate(parts):
        g = tix[p.canonical]
        table[k], src[k] = g, len(groups[g])
        groups[g].append(p)
        part_of[sidx[id(p.stream)]][p.local] = k
    # every stored event must belong to a part of exactly its size (the C merge trusts it)
    for k, s in enumerate(streams):
        counts = np.bincount(s.seq, minlength=width[k]) if len(s.seq) else np.zeros(width[k])
        if len(counts) != width[k] or int(s.seq.min(initial=0)) < 0:
            return None
        expected = np.zeros(width[k], np.int64)
        for p in parts:
            if p.stream is s:
                expected[p.local] = len(p)
        if not np.array_equal(counts, expected):
            return None
    rows = [sum(len(p) for p in grp) for grp in groups]
    result = fast.merge(streams, part_of, [p.timestamp for p in parts], table, src, rows)
    if result is None:
        return None
    name, rows_src = result
    tables: dict[str, pd.DataFrame] = {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for g, tname in enumerate(names):
            group = groups[g]
            cols = [part_columns(p, columns) for p in group]
            _release(group)
            sizes = [len(p) for p in group]
            colnames = list(dict.fromkeys(c for d in cols for c in d))
            which = rows_src[g]
            out = list(pool.map(lambda c, _w=which, _s=sizes, _cols=cols: _gather(
                [d.get(c) for d in _cols], _s, _w), colnames))
            del cols
            tables[tname] = pd.DataFrame(dict(zip(colnames, out, strict=True)), copy=False)
    return tables, MergedOrder(name, {n: groups[tix[n]][0].domain for n in names})


def _release(group: list[ClassPart]) -> None:
    """Drop a part's column data once its table holds it (the parts are not used again)."""
    for p in group:
        p.contexts = {}
        p.payload = {}


def _gather(pieces: list[object], sizes: list[int], which: np.ndarray) -> object:
    """One column in time order: row i is the next row of ``pieces[which[i]]``."""
    from correlate.read import fast

    if len(pieces) == 1 and pieces[0] is not None:
        return pieces[0]  # one stream: already in time order
    present = [p for p in pieces if p is not None]
    if len(present) == len(pieces):
        arrays = [p for p in present if isinstance(p, np.ndarray) and p.dtype.kind in "iufb"]
        if len(arrays) == len(present) and len({a.dtype for a in arrays}) == 1:
            return fast.gather(arrays, which)
        cats_in = [p for p in present if isinstance(p, pd.Categorical)]
        if len(cats_in) == len(present):
            cats = sorted(set().union(*(p.categories for p in cats_in)))
            pos = {c: i for i, c in enumerate(cats)}
            codes = []
            for p in cats_in:
                lut = np.asarray([pos[c] for c in p.categories] + [-1], dtype=np.int32)
                codes.append(np.take(lut, np.asarray(p.codes)))
            return pd.Categorical.from_codes(fast.gather(codes, which), categories=cats,
                                             validate=False)
    idx = np.empty(len(which), np.int64)
    start = 0
    for k, n in enumerate(sizes):
        idx[which == k] = np.arange(start, start + n)
        start += n
    return _merge(pieces, sizes, idx)


def _build_sorted(
    parts: list[ClassPart], columns: frozenset[str] | None
) -> tuple[dict[str, pd.DataFrame], Order]:
    """Tables by sorting ordering keys; the events order is (domain, sorted keys) per table."""
    by_name: dict[str, list[ClassPart]] = {}
    for p in parts:
        by_name.setdefault(p.canonical, []).append(p)
    tables: dict[str, pd.DataFrame] = {}
    keys: dict[str, tuple[str, np.ndarray]] = {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for name in sorted(by_name):
            group = by_name[name]
            cols = [part_columns(p, columns) for p in group]
            sizes = [len(p) for p in group]
            ts = np.concatenate([p.timestamp for p in group]) if len(group) > 1 \
                else group[0].timestamp
            order = np.concatenate([p.ordering() for p in group]) if len(group) > 1 \
                else group[0].ordering()
            perm = time_order(ts, order)
            idx: np.ndarray | None = None
            if not np.array_equal(perm, np.arange(len(ts))):
                idx = perm
                order = order[perm]
            names = list(dict.fromkeys(c for d in cols for c in d))
            merged = pool.map(_merge, [[d.get(c) for d in cols] for c in names],
                              [sizes] * len(names), [idx] * len(names))
            tables[name] = pd.DataFrame(dict(zip(names, merged, strict=True)), copy=False)
            keys[name] = (group[0].domain, order)
    return tables, keys


def build_events(tables: dict[str, pd.DataFrame], keys: Order) -> pd.DataFrame:
    """The one time-ordered table across every stream and class."""
    if isinstance(keys, MergedOrder) and tables:
        return _merged_events(tables, keys)
    if isinstance(keys, MergedEvents) and tables:
        from correlate.read import fast

        assert keys.names == list(tables)
        c = keys.columns
        dom = np.asarray([DOMAINS.index(keys.domains[n]) for n in keys.names], dtype=np.int8)
        return pd.DataFrame({
            "timestamp": c["timestamp"],
            "name": pd.Categorical.from_codes(c["name"], categories=keys.names, validate=False),
            "domain": pd.Categorical.from_codes(fast.lookup(dom, c["name"]), categories=DOMAINS,
                                                validate=False),
            "cpu": c["cpu"],
            "pid": c["pid"],
            "tid": c["tid"],
            "procname": pd.Categorical.from_codes(c["procname"], categories=keys.procnames,
                                                  validate=False),
            "row": c["row"],
        }, copy=False)
    names = list(tables)
    if not names:
        return pd.DataFrame({
            "timestamp": np.zeros(0, np.int64),
            "name": pd.Categorical([]),
            "domain": pd.Categorical([], categories=["kernel", "ust"]),
            "cpu": np.zeros(0, np.int32),
            "pid": np.zeros(0, np.int64),
            "tid": np.zeros(0, np.int64),
            "procname": pd.Categorical([]),
            "row": np.zeros(0, np.int64),
        })
    assert not isinstance(keys, MergedOrder | MergedEvents)
    sizes = [len(tables[n]) for n in names]
    ts = np.concatenate([tables[n]["timestamp"].to_numpy() for n in names])
    key = np.concatenate([keys[n][1] for n in names])
    idx = time_order(ts, key)
    del key
    name_codes = np.repeat(np.arange(len(names), dtype=np.int32), sizes)
    domains = ["kernel", "ust"]
    dom_codes = np.repeat(
        np.asarray([domains.index(keys[n][0]) for n in names], dtype=np.int8), sizes)
    procs = union_categoricals([tables[n]["procname"].array for n in names])
    procs = _sorted_categorical(procs)
    rows = np.concatenate([np.arange(s, dtype=np.int64) for s in sizes])

    def cat(arr: str) -> np.ndarray:
        return np.concatenate([tables[n][arr].to_numpy() for n in names])

    out = pd.DataFrame({
        "timestamp": ts[idx],
        "name": pd.Categorical.from_codes(name_codes[idx], categories=names),
        "domain": pd.Categorical.from_codes(dom_codes[idx], categories=domains),
        "cpu": cat("cpu")[idx],
        "pid": cat("pid")[idx],
        "tid": cat("tid")[idx],
        "procname": pd.Categorical.from_codes(np.asarray(procs.codes)[idx],
                                              categories=procs.categories),
        "row": rows[idx],
    }, copy=False)
    return out


def _merged_events(tables: dict[str, pd.DataFrame], order: MergedOrder) -> pd.DataFrame:
    from correlate.read import fast

    names = list(tables)
    procs: list[pd.Categorical] = [tables[n]["procname"].array for n in names]
    cats = sorted(set().union(*(p.categories for p in procs)))
    pos = {c: i for i, c in enumerate(cats)}
    codes = []
    for p in procs:
        lut = np.asarray([pos[c] for c in p.categories] + [-1], dtype=np.int32)
        codes.append(np.take(lut, np.asarray(p.codes)))
    col = {c: [tables[n][c].to_numpy() for n in names] for c in ("timestamp", "cpu", "pid", "tid")}
    out = fast.events(order.name, col["timestamp"], col["cpu"], col["pid"], col["tid"], codes)
    dom = np.asarray([DOMAINS.index(order.domains[n]) for n in names], dtype=np.int8)
    return pd.DataFrame({
        "timestamp": out["timestamp"],
        "name": pd.Categorical.from_codes(order.name, categories=names, validate=False),
        "domain": pd.Categorical.from_codes(dom[order.name], categories=DOMAINS, validate=False),
        "cpu": out["cpu"],
        "pid": out["pid"],
        "tid": out["tid"],
        "procname": pd.Categorical.from_codes(out["procname"], categories=cats, validate=False),
        "row": out["row"],
    }, copy=False)
