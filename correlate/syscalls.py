"""System calls: ``syscall_entry_*`` / ``syscall_exit_*`` pairs per thread, fds resolved to paths.

State layer. The reader names syscall events the LTTng-modules way whatever recorded
them (perf's ``syscalls:sys_enter_write`` arrives as ``syscall_entry_write``; perf's
generic ``raw_syscalls`` as ``syscall_entry_unknown`` with a ``syscall_nr``), so one
pairing serves both tracers: per thread, in time order, an entry followed by the exit of
the same syscall is one call. An entry whose exit is not in the trace is kept as
``status="open"``; an exit whose entry is not (the trace began mid-call) as
``status="no_entry"``.

File descriptors are resolved to paths from the ``open``/``openat``/``openat2``/``creat``
calls of the same process in the trace (a successful open's returned fd maps to its
``filename`` until that fd's ``close``). perf's syscall tracepoints record the filename as a
user-space pointer, not a string, so with the perf backend ``path`` stays empty; the files
ext4 events touch are then named from the recording's ``perf/inodes.tsv`` in
:mod:`correlate.writeback`.

Columns (stable): ``pid``, ``tid``, ``procname``, ``syscall``, ``begin``, ``end``,
``duration`` (ns, nullable), ``ret``, ``fd``, ``count``, ``pos``, ``filename``, ``path``,
``status``.

Example::

    >>> sc = correlate.syscalls(correlate.open("trace"))
    >>> sc.groupby("syscall").duration.sum()
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from correlate.tables import (
    as_tables,
    categorical,
    column,
    concat,
    constant,
    from_codes,
    thread_time_order,
    time_thread_order,
)

__all__ = ["SYSCALL_COLUMNS", "WRITE_SYSCALLS", "syscalls"]

SYSCALL_COLUMNS = ["pid", "tid", "procname", "syscall", "begin", "end", "duration", "ret",
                   "fd", "count", "pos", "filename", "path", "status"]
WRITE_SYSCALLS = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
_OPENS = ("open", "openat", "openat2", "creat")
_ENTRY, _EXIT = "syscall_entry_", "syscall_exit_"
_STATUS = ["closed", "open", "no_entry"]


def _codes(df: pd.DataFrame, name: str, names: dict[str, int]) -> np.ndarray:
    """Syscall-name codes (into ``names``, extended as needed) of one syscall table."""
    if name == "unknown" and "syscall_nr" in df:
        uniq, inv = np.unique(column(df, "syscall_nr"), return_inverse=True)
        lut = np.asarray([names.setdefault(f"nr_{u}", len(names)) for u in uniq],
                         dtype=np.int32)
        return lut[inv.ravel()] if len(uniq) else np.zeros(0, dtype=np.int32)
    return np.full(len(df), names.setdefault(name, len(names)), dtype=np.int32)


def _part(df: pd.DataFrame, name: str, kind: int, names: dict[str, int]) -> pd.DataFrame:
    out = pd.DataFrame({
        "timestamp": column(df, "timestamp"),
        "pid": column(df, "pid", -1),
        "tid": column(df, "tid", -1),
        "code": _codes(df, name, names),
    })
    if kind == 0:
        out["procname"] = (categorical(df["procname"], fill="") if "procname" in df
                           else constant("", len(df)))
        out["fd"] = column(df, "fd", -1) if "fd" in df else -1
        out["count"] = column(df, "count", -1) if "count" in df else (
            column(df, "len", -1) if "len" in df else -1)
        out["pos"] = column(df, "pos", -1) if "pos" in df else -1
        fn = df["filename"] if "filename" in df else (
            df.get("pathname", None))
        if fn is not None and (fn.dtype == object or pd.api.types.is_string_dtype(fn)):
            out["filename"] = pd.Series(fn.to_numpy(dtype=object), dtype=object)
        else:  # perf: a pointer, not a string
            out["filename"] = pd.Series(np.full(len(df), None), dtype=object)
    else:
        out["ret"] = column(df, "ret", 0) if "ret" in df else 0
    return out


def syscalls(trace: Any) -> pd.DataFrame:
    """One row per system call of every thread in the trace; see the module doc."""
    tabs = as_tables(trace)
    entries, exits = [], []
    names: dict[str, int] = {}
    for name in tabs.matching(lambda n: n.startswith(_ENTRY) or n.startswith(_EXIT)):
        df = tabs.get(name)
        if df is None:
            continue
        if name.startswith(_ENTRY):
            entries.append(_part(df, name[len(_ENTRY):], 0, names))
        else:
            exits.append(_part(df, name[len(_EXIT):], 1, names))
    e = concat(entries) if entries else _part(pd.DataFrame(), "", 0, names)
    x = concat(exits) if exits else _part(pd.DataFrame(), "", 1, names)
    ne, nx = len(e), len(x)
    tid = np.concatenate([e["tid"].to_numpy(), x["tid"].to_numpy()])
    ts = np.concatenate([e["timestamp"].to_numpy(), x["timestamp"].to_numpy()])
    kind = np.concatenate([np.zeros(ne, np.int8), np.ones(nx, np.int8)])
    name_codes = np.concatenate([e["code"].to_numpy(), x["code"].to_numpy()])
    order = thread_time_order(tid, ts, kind, split=ne)
    t_s, n_s = tid[order], name_codes[order]
    k_s = order >= ne  # exit?
    i_s = np.where(k_s, order - ne, order)
    pair = (t_s[1:] == t_s[:-1]) & ~k_s[:-1] & k_s[1:] & (n_s[1:] == n_s[:-1])
    closed_by = np.full(ne, -1, dtype=np.int64)
    closed_by[i_s[:-1][pair]] = i_s[1:][pair]
    paired = np.zeros(nx, dtype=bool)
    paired[closed_by[closed_by >= 0]] = True
    orphan = np.flatnonzero(~paired)
    no = len(orphan)
    has = closed_by >= 0
    xi = np.maximum(closed_by, 0)
    x_ts = x["timestamp"].to_numpy()
    x_ret = x["ret"].to_numpy()
    begin = np.concatenate([e["timestamp"].to_numpy(), np.zeros(no, np.int64)]).astype(np.int64)
    end = np.concatenate([x_ts[xi] if nx else np.zeros(ne, np.int64),
                          x_ts[orphan]]).astype(np.int64)
    no_begin = np.concatenate([np.zeros(ne, bool), np.ones(no, bool)])
    no_end = np.concatenate([~has, np.zeros(no, bool)])
    # Time order (by begin, else end; then tid), computed on the plain arrays.
    when = np.where(no_begin, end, begin)
    tid_all = np.concatenate([e["tid"].to_numpy(), x["tid"].to_numpy()[orphan]])
    o = time_thread_order(when, tid_all)
    # Usually only timestamp ties move: permute those positions in place, not every row.
    moved = np.flatnonzero(o != np.arange(len(o)))
    src = o[moved]

    def perm(a: np.ndarray) -> np.ndarray:
        """``a[o]``, for an array owned here."""
        if len(moved):
            a[moved] = a[src]
        return a

    procname = categorical(e["procname"].array.take(
        np.concatenate([np.arange(ne), np.full(no, -1)]), allow_fill=True), fill="")
    pcodes = perm(np.array(procname.codes))
    ret = np.concatenate([x_ret[xi] if nx else np.zeros(ne, np.int64),
                          x_ret[orphan]]).astype(np.int64)
    begin, end, no_begin, no_end = perm(begin), perm(end), perm(no_begin), perm(no_end)
    out = pd.DataFrame({
        "pid": perm(np.concatenate([e["pid"].to_numpy(), x["pid"].to_numpy()[orphan]])),
        "tid": perm(tid_all),
        "procname": pd.Categorical.from_codes(pcodes, dtype=procname.dtype),
        "syscall": from_codes(perm(np.concatenate([e["code"].to_numpy(),
                                                   x["code"].to_numpy()[orphan]])),
                              list(names)),
        "begin": pd.arrays.IntegerArray(begin, no_begin),
        "end": pd.arrays.IntegerArray(end, no_end),
        "duration": pd.arrays.IntegerArray(end - begin, no_begin | no_end),
        "ret": pd.arrays.IntegerArray(perm(ret), no_end.copy()),
        "fd": perm(np.concatenate([e["fd"].to_numpy(), np.full(no, -1)]).astype(np.int64)),
        "count": perm(np.concatenate([e["count"].to_numpy(),
                                      np.full(no, -1)]).astype(np.int64)),
        "pos": perm(np.concatenate([e["pos"].to_numpy(), np.full(no, -1)]).astype(np.int64)),
        "filename": pd.Series(perm(np.concatenate([e["filename"].to_numpy(dtype=object),
                                                   np.full(no, None)])), dtype=object),
        "status": pd.Categorical.from_codes(
            perm(np.concatenate([np.where(has, 0, 1), np.full(no, 2)]).astype(np.int8)),
            categories=_STATUS),
    }, copy=False)
    out["path"] = pd.Series(_paths(out), dtype=object)
    return out[SYSCALL_COLUMNS]


def _paths(sc: pd.DataFrame) -> np.ndarray:
    """Path of each call's fd, from the opens and closes of the same process in the trace."""
    path = np.full(len(sc), None, dtype=object)
    is_open = sc["syscall"].isin(_OPENS).to_numpy() & sc["filename"].notna().to_numpy() & (
        sc["ret"].fillna(-1).to_numpy(dtype=np.int64) >= 0) & sc["end"].notna().to_numpy()
    if not is_open.any():
        return path
    path[is_open] = sc["filename"].to_numpy(dtype=object)[is_open]
    opens = pd.DataFrame({
        "t": sc["end"].to_numpy(dtype=np.int64, na_value=0)[is_open],
        "pid": sc["pid"].to_numpy()[is_open],
        "fd": sc["ret"].to_numpy(dtype=np.int64, na_value=-1)[is_open],
        "opened": sc["end"].to_numpy(dtype=np.int64, na_value=0)[is_open],
        "p": sc["filename"].to_numpy(dtype=object)[is_open],
    }).sort_values("t", kind="stable")
    is_close = (sc["syscall"] == "close").to_numpy() & sc["end"].notna().to_numpy()
    closes = pd.DataFrame({
        "t": sc["end"].to_numpy(dtype=np.int64, na_value=0)[is_close],
        "pid": sc["pid"].to_numpy()[is_close],
        "fd": sc["fd"].to_numpy()[is_close],
        "closed": sc["end"].to_numpy(dtype=np.int64, na_value=0)[is_close],
    }).sort_values("t", kind="stable")
    uses = (sc["fd"].to_numpy() >= 0) & ~is_open
    q = pd.DataFrame({
        "t": sc["begin"].fillna(sc["end"]).to_numpy(dtype=np.int64)[uses],
        "pid": sc["pid"].to_numpy()[uses],
        "fd": sc["fd"].to_numpy()[uses],
        "i": np.flatnonzero(uses),
    }).sort_values("t", kind="stable")
    m = pd.merge_asof(q, opens, on="t", by=["pid", "fd"], direction="backward")
    m = pd.merge_asof(m, closes, on="t", by=["pid", "fd"], direction="backward")
    opened = m["opened"].to_numpy(dtype=np.float64)
    closed = m["closed"].to_numpy(dtype=np.float64)
    live = ~np.isnan(opened) & (np.isnan(closed) | (closed < opened))
    path[m["i"].to_numpy()[live]] = m["p"].to_numpy(dtype=object)[live]
    return path
