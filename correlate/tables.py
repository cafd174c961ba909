"""The correlator's view of a trace: event-class tables by canonical name, nothing else.

Every correlator function takes "a trace or tables": the object :func:`correlate.open`
returns, a :class:`correlate.synth.Trace` built in memory, or a plain mapping from
canonical event name to DataFrame (each with at least ``timestamp``, ``pid``, ``tid``
and the payload/context fields). :func:`as_tables` wraps any of them in :class:`Tables`,
which fetches each class once and remembers it, so the state/join layers can each ask
for what they need without reading twice.

Example::

    >>> tabs = as_tables({"syscall_entry_write": df_entry, "syscall_exit_write": df_exit})
    >>> tabs.names()
    ['syscall_entry_write', 'syscall_exit_write']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

__all__ = ["Tables", "as_tables", "categorical", "concat", "is_ust_name", "ranks",
           "fold_pair", "thread_time_order", "time_thread_order"]


def is_ust_name(name: str) -> bool:
    """UST event names are ``provider:event``; canonical kernel names have no colon."""
    return ":" in name


class Tables:
    """Event-class tables of one trace, fetched on demand and cached."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self._cache: dict[str, pd.DataFrame | None] = {}
        self._names: list[str] | None = None
        self.derived: dict[str, Any] = {}
        """Results the state layer derives from these tables once (e.g. span events)."""

    def names(self) -> list[str]:
        """Canonical names of the event classes the trace holds (sorted)."""
        if self._names is None:
            src = self.source
            if isinstance(src, Mapping):
                found: Iterable[str] = src.keys()
            else:
                found = ()
                for attr in ("classes", "names", "event_names"):
                    value = getattr(src, attr, None)
                    if value is None:
                        continue
                    value = value() if callable(value) else value
                    if isinstance(value, pd.DataFrame):
                        value = value.get("name", value.index)
                    found = [str(v) for v in value]
                    break
                else:
                    names = src.events["name"]
                    found = (
                        [str(c) for c in names.cat.categories]
                        if isinstance(names.dtype, pd.CategoricalDtype)
                        else [str(v) for v in pd.unique(names)]
                    )
            self._names = sorted(set(found))
        return self._names

    def has(self, name: str) -> bool:
        return name in self.names()

    def get(self, name: str) -> pd.DataFrame | None:
        """The table of event class ``name``, or ``None`` when the trace has none."""
        if name not in self._cache:
            df: pd.DataFrame | None = None
            if self.has(name):
                src = self.source
                df = src[name] if isinstance(src, Mapping) else src.table(name)
                if df is not None and len(df) == 0:
                    df = None
            self._cache[name] = df
        return self._cache[name]

    def matching(self, predicate: Callable[[str], bool]) -> list[str]:
        return [n for n in self.names() if predicate(n)]

    @property
    def events(self) -> pd.DataFrame | None:
        """The time-ordered table of every event, when the source has one."""
        return getattr(self.source, "events", None)

    @property
    def inode_paths(self) -> pd.DataFrame | None:
        """``dev, ino, path`` naming files by inode, when the source has them."""
        value = getattr(self.source, "inode_paths", None)
        return value if isinstance(value, pd.DataFrame) else None

    @property
    def discarded(self) -> pd.DataFrame | None:
        """Per-stream discarded-event counts, when the source reports them."""
        value = getattr(self.source, "discarded", None)
        if value is None or isinstance(value, pd.DataFrame):
            return value
        # a list of dataclass records (correlate.read.model.StreamDiscards)
        return pd.DataFrame([vars(v) for v in value])


def as_tables(source: Any) -> Tables:
    """Wrap a trace, a synthetic trace or a name -> DataFrame mapping in :class:`Tables`."""
    return source if isinstance(source, Tables) else Tables(source)


def column(df: pd.DataFrame, name: str, default: Any = 0, dtype: Any = np.int64) -> np.ndarray:
    """Column ``name`` of ``df`` as an array, or ``default`` repeated when it is missing."""
    if name in df:
        values = df[name]
        if dtype is np.int64:
            return values.fillna(default).to_numpy(dtype=np.int64)
        return values.to_numpy()
    return np.full(len(df), default, dtype=dtype)


# --- vectorised building blocks: integer codes, not Python strings, through the pipeline.
# pandas 3 turns every object array of strings put in a DataFrame into Arrow strings (a
# Python-level pass per value); categoricals carry the same strings as int codes instead.


def categorical(values: Any, fill: str | None = None) -> pd.Categorical:
    """``values`` (a Series, array or scalar-free column) as a Categorical, sorted categories.

    Categories are sorted so that ``groupby(sort=True)`` orders groups like strings do.
    ``fill`` replaces missing values (adding it as a category).
    """
    if isinstance(values, pd.Series):
        values = values.array
    cat = values if isinstance(values, pd.Categorical) else pd.Categorical(values)
    if fill is not None and cat.isna().any():
        if fill not in cat.categories:
            cat = cat.add_categories([fill])
        cat = cat.fillna(fill)
    cats = cat.categories
    if len(cats) and not cats.is_monotonic_increasing:
        cat = cat.reorder_categories(sorted(cats))
    return cat


def constant(value: str, n: int) -> pd.Categorical:
    """``n`` times ``value`` as a one-category Categorical (no per-row string)."""
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def from_codes(codes: np.ndarray, categories: list[str]) -> pd.Categorical:
    """A Categorical with sorted categories from codes into an unsorted ``categories`` list."""
    order = sorted(range(len(categories)), key=categories.__getitem__)
    remap = np.empty(len(categories), dtype=np.int32)
    remap[order] = np.arange(len(categories), dtype=np.int32)
    codes = np.asarray(codes)
    new = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1) if len(categories) else codes
    return pd.Categorical.from_codes(new, categories=[categories[i] for i in order])


def union(pieces: list[Any]) -> pd.Categorical:
    """Concatenate categoricals (or anything :func:`categorical` accepts) into one."""
    cats = [categorical(p) for p in pieces]
    if not cats:
        return pd.Categorical([])
    out = cats[0] if len(cats) == 1 else union_categoricals(cats)
    return categorical(out)


def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(parts, ignore_index=True)`` keeping columns that are categorical in every
    part categorical (their categories united) instead of decoding them to strings."""
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    names = list(dict.fromkeys(c for p in parts for c in p.columns))
    cat_cols = [c for c in names if all(
        c in p and isinstance(p[c].dtype, pd.CategoricalDtype) for p in parts)]
    out = pd.concat([p.drop(columns=cat_cols) for p in parts], ignore_index=True)
    for c in cat_cols:
        out[c] = union([p[c].array for p in parts])
    return out[names]


def ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)``, in O(n) for small integer ranges."""
    values = np.asarray(values)
    if len(values) and values.dtype.kind in "iu":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < (1 << 23):
            shifted = (values - lo).astype(np.intp, copy=False)
            seen = np.bincount(shifted, minlength=hi - lo + 1) > 0
            lut = (np.cumsum(seen) - 1).astype(np.int32)
            return (np.flatnonzero(seen) + lo).astype(values.dtype), lut[shifted]
    uniq, inv = np.unique(values, return_inverse=True)
    return uniq, inv.astype(np.int32).ravel()


def _merge_order(t: np.ndarray, split: int) -> np.ndarray | None:
    """The stable ascending order of ``t`` when ``t[:split]`` and ``t[split:]`` are each
    sorted (two time-ordered tables end to end): a merge by two searches, no sort."""
    a, b = t[:split], t[split:]
    if not (np.all(a[1:] >= a[:-1]) and np.all(b[1:] >= b[:-1])):
        return None
    o = np.empty(len(t), dtype=np.intp)
    o[np.arange(len(a)) + np.searchsorted(b, a, side="left")] = np.arange(len(a))
    o[np.arange(len(b)) + np.searchsorted(a, b, side="right")] = np.arange(len(a), len(t))
    return o


def thread_time_order(tid: np.ndarray, ts: np.ndarray, kind: np.ndarray | None = None,
                      split: int | None = None) -> np.ndarray:
    """The permutation ``np.lexsort((kind, ts, tid))`` gives (stable), computed faster.

    Two stable passes: by ``(ts, kind)`` folded into one int64 (runs of already sorted
    timestamps make it cheap; with ``split``, the rows before and after it are two sorted
    runs merged without a sort), then by thread rank (a radix sort when ranks fit 16 bits).
    """
    n = len(ts)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    ts = np.asarray(ts, dtype=np.int64)
    t = ts - ts.min()
    if kind is not None:
        kinds, k_rank = ranks(np.asarray(kind))
        width = max(len(kinds), 1)
        if int(t.max()) >= (1 << 62) // width:
            return np.lexsort((kind, ts, tid))
        t = t * width + k_rank
    o = _merge_order(t, split) if split is not None else None
    if o is None:
        o = np.argsort(t, kind="stable")
    uniq, rank = ranks(np.asarray(tid))
    r = rank[o]
    if len(uniq) < (1 << 15):
        r = r.astype(np.int16)
    return o[np.argsort(r, kind="stable")]


def time_thread_order(ts: np.ndarray, tid: np.ndarray) -> np.ndarray:
    """The permutation ``np.lexsort((tid, ts))`` gives (stable): by time, then thread."""
    n = len(ts)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    ts = np.asarray(ts, dtype=np.int64)
    tid = np.asarray(tid)
    d = ts[1:] - ts[:-1]
    if np.all(d >= 0):  # time-ordered already (the common case): order the ties only
        idx = np.arange(n)
        tie = d == 0
        if not np.any(tie & (tid[1:] < tid[:-1])):
            return idx
        inv = np.zeros(n, dtype=bool)
        inv[1:] |= tie
        inv[:-1] |= tie
        sub = idx[inv]
        idx[inv] = sub[np.lexsort((tid[sub], ts[sub]))]
        return idx
    uniq, rank = ranks(tid)
    t = ts - ts.min()
    if int(t.max()) >= (1 << 62) // max(len(uniq), 1):
        return np.lexsort((tid, ts))
    return np.argsort(t * len(uniq) + rank, kind="stable")


def fold_pair(major: np.ndarray, minor: np.ndarray) -> np.ndarray | None:
    """One int64 ordering like ``(major, minor)`` pairs (e.g. ``(pid, span_id)``), or None
    when the ranks of ``major`` times the range of ``minor`` do not fit 62 bits."""
    if not len(major):
        return np.zeros(0, dtype=np.int64)
    uniq, rank = ranks(np.asarray(major))
    minor = np.asarray(minor, dtype=np.int64)
    lo, hi = int(minor.min()), int(minor.max())
    if (hi - lo + 1) * max(len(uniq), 1) >= (1 << 62):
        return None
    return rank.astype(np.int64) * (hi - lo + 1) + (minor - lo)
