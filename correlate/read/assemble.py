"""From backend columns to the reader's DataFrames: per-class tables and the events table.

Every event carries an ordering key (stream index, position in stream); tables and the
events table are sorted by ``(timestamp, key)``, so the order is the same whichever backend
decoded the trace and ties between streams are broken the same way every time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from correlate.read.model import BOOL, ENUM, FLOAT, INT, OBJ, STR, UINT, ClassPart, Column

# pid/tid sources per domain, in order of preference (first present wins).
_PID_SOURCES = {"ust": ("vpid", "pid"), "kernel": ("pid", "vpid", "perf_pid")}
_TID_SOURCES = {"ust": ("vtid", "tid"), "kernel": ("tid", "vtid", "perf_tid")}
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
        "pid": _ident(part, _PID_SOURCES.get(part.domain, ())),
        "tid": _ident(part, _TID_SOURCES.get(part.domain, ())),
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
        cat = present[0] if len(present) == 1 else union_categoricals(present)  # type: ignore
        cat = _sorted_categorical(cat)
        return cat if idx is None else cat.take(idx)
    if len(present) == len(pieces) and all(
            isinstance(p, pd.api.extensions.ExtensionArray) for p in present):
        arr = present[0] if len(present) == 1 else type(present[0])._concat_same_type(present)
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


def build_tables(
    parts: list[ClassPart], columns: frozenset[str] | None
) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[str, np.ndarray]]]:
    """Per canonical name: the time-sorted table, and (domain, sorted ordering keys)."""
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
            order = np.concatenate([p.order for p in group]) if len(group) > 1 \
                else group[0].order
            idx: np.ndarray | None = time_order(ts, order)
            if np.array_equal(idx, np.arange(len(idx))):
                idx = None
            else:
                order = order[idx]
            names = list(dict.fromkeys(c for d in cols for c in d))
            merged = pool.map(_merge, [[d.get(c) for d in cols] for c in names],
                              [sizes] * len(names), [idx] * len(names))
            tables[name] = pd.DataFrame(dict(zip(names, merged, strict=True)), copy=False)
            keys[name] = (group[0].domain, order)
    return tables, keys


def build_events(
    tables: dict[str, pd.DataFrame], keys: dict[str, tuple[str, np.ndarray]]
) -> pd.DataFrame:
    """The one time-ordered table across every stream and class."""
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
