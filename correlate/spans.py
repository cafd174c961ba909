"""Spans: application operations rebuilt from their entry/exit tracepoints.

State layer. A usdk span is an entry event and an exit event carrying the same
``span_id`` (unique per process, so the key is ``(pid, span_id)``):

* typed tracepoints ``provider:NAME_entry`` / ``provider:NAME_exit`` (operation
  ``provider:NAME``; the entry's payload fields are the captured arguments, ``arg_*``);
* untyped ``usdk:span_entry`` / ``usdk:span_exit`` (operation = their ``name`` field,
  arguments in ``arg_args``).

:func:`spans` pairs them into one row per span instance, fully vectorised (a sort by
``(pid, span_id, timestamp)`` and a look at each row's neighbour). Nothing is dropped:

* an entry with no exit (trace stopped, process killed) is kept with ``status="open"``,
  ``end``/``duration`` missing;
* an exit with no entry (the trace started inside the span) is kept with
  ``status="no_entry"``, ``begin``/``duration`` missing;
* the same ``span_id`` in two processes gives two spans (the key includes the pid); a
  reused pid that restarts its span ids pairs each entry with the next exit of the same
  key, so the dead process's span stays open rather than swallowing the new one;
* a span during which events were discarded gets ``lower_bound=True``: its kernel figures
  are at least what the report says.

Columns (stable): ``span`` (row number, the key other tables use), ``pid``, ``tid``,
``procname``, ``span_id``, ``parent_span_id``, ``parent`` (row of the parent span or
-1), ``depth`` (0 = root), ``op``, ``provider``, ``begin``, ``end``, ``duration`` (ns,
nullable Int64), ``status``, ``ret``, ``exc_type``, ``lower_bound``, then ``arg_*``.

Example::

    >>> import correlate
    >>> sp = correlate.spans(correlate.open("trace"))
    >>> sp.groupby("op").duration.describe()
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from correlate.tables import (
    Tables,
    as_tables,
    categorical,
    column,
    concat,
    constant,
    fold_pair,
    is_ust_name,
    thread_time_order,
    union,
)

__all__ = ["SPAN_COLUMNS", "spans", "span_events", "flag_lower_bounds"]

ENTRY, EXIT, SUSPEND, RESUME = 0, 1, 2, 3

SPAN_COLUMNS = [
    "span", "pid", "tid", "procname", "span_id", "parent_span_id", "parent", "depth",
    "op", "provider", "begin", "end", "duration", "status", "ret", "exc_type", "lower_bound",
]

# Columns of a UST table that are not captured arguments.
_NOT_ARGS = {
    "timestamp", "cpu", "cpu_id", "pid", "tid", "vpid", "vtid", "procname", "row", "domain",
    "name", "span_id", "parent_span_id", "ret", "exc_type", "ip",
}


def _counter_columns(df: pd.DataFrame) -> list[str]:
    """PMU / perf counter context columns (``perf_thread_task_clock``, ...)."""
    return [c for c in df.columns if c.startswith("perf_")]


def _base(df: pd.DataFrame, kind: int, op: Any, provider: str) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "timestamp": column(df, "timestamp"),
            "pid": column(df, "pid", -1),
            "tid": column(df, "tid", -1),
            "span_id": column(df, "span_id", 0),
            "parent_span_id": column(df, "parent_span_id", 0),
            "kind": np.full(len(df), kind, dtype=np.int8),
            "op": categorical(op) if not isinstance(op, str) else constant(op, len(df)),
            "provider": constant(provider, len(df)),
            "procname": categorical(df["procname"], fill="")
            if "procname" in df
            else constant("", len(df)),
        }
    )
    for c in _counter_columns(df):
        out[c] = df[c].to_numpy(dtype=np.float64)
    return out


def span_events(trace: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The span entry, exit and suspend/resume events of a trace, one frame each.

    Entries carry the captured arguments as ``arg_*`` columns, exits ``ret``/``exc_type``.
    """
    tabs = as_tables(trace)
    if "span_events" not in tabs.derived:
        tabs.derived["span_events"] = _span_events(tabs)
    return tabs.derived["span_events"]


def _span_events(tabs: Tables) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    entries: list[pd.DataFrame] = []
    exits: list[pd.DataFrame] = []
    switches: list[pd.DataFrame] = []
    for name in tabs.matching(is_ust_name):
        provider, _, ev = name.partition(":")
        if provider == "usdk" and ev in ("span_entry", "span_exit"):
            df = tabs.get(name)
            if df is None:
                continue
            op = categorical(df["name"], fill="") if "name" in df else "usdk:span"
            part = _base(df, ENTRY if ev == "span_entry" else EXIT, op, provider)
            if ev == "span_entry":
                if "args" in df:
                    part["arg_args"] = df["args"].to_numpy(dtype=object)
                entries.append(part)
            else:
                part["ret"] = _ret(df)
                part["exc_type"] = _exc(df)
                exits.append(part)
            continue
        if provider == "usdk" and ev in ("span_suspend", "span_resume"):
            df = tabs.get(name)
            if df is not None and "span_id" in df:
                kind = SUSPEND if ev == "span_suspend" else RESUME
                switches.append(_base(df, kind, "", provider))
            continue
        if ev.endswith("_entry"):
            kind, opname = ENTRY, ev[: -len("_entry")]
        elif ev.endswith("_exit"):
            kind, opname = EXIT, ev[: -len("_exit")]
        else:
            continue
        df = tabs.get(name)
        if df is None or "span_id" not in df:
            continue
        part = _base(df, kind, f"{provider}:{opname}", provider)
        if kind == ENTRY:
            for c in df.columns:
                if c not in _NOT_ARGS and not c.startswith("perf_"):
                    part["arg_" + c] = df[c].to_numpy(dtype=object)
            entries.append(part)
        else:
            part["ret"] = _ret(df)
            part["exc_type"] = _exc(df)
            exits.append(part)
    empty = _base(pd.DataFrame(), ENTRY, "", "").iloc[:0]
    e = concat(entries) if entries else empty.copy()
    x = concat(exits) if exits else empty.assign(ret=None, exc_type=constant("", 0))
    s = concat(switches) if switches else empty.copy()
    return e, x, s


def _exc(df: pd.DataFrame) -> pd.Categorical:
    if "exc_type" not in df:
        return constant("", len(df))
    return categorical(df["exc_type"], fill="")


def _ret(df: pd.DataFrame) -> Any:
    """The exit's ``ret`` column as read (numbers stay numbers), or None."""
    if "ret" not in df:
        return None
    col = df["ret"]
    return col.to_numpy() if col.dtype.kind in "iufb" else col.to_numpy(dtype=object)


def spans(trace: Any) -> pd.DataFrame:
    """One row per span instance (closed, open or exit-without-entry); see module doc."""
    tabs = as_tables(trace)
    entries, exits, _ = span_events(tabs)
    ne, nx = len(entries), len(exits)
    pid = np.concatenate([entries["pid"].to_numpy(), exits["pid"].to_numpy()])
    sid = np.concatenate([entries["span_id"].to_numpy(), exits["span_id"].to_numpy()])
    ts = np.concatenate([entries["timestamp"].to_numpy(), exits["timestamp"].to_numpy()])
    kind = np.concatenate([np.zeros(ne, np.int8), np.ones(nx, np.int8)])
    idx = np.concatenate([np.arange(ne), np.arange(nx)])
    key = fold_pair(pid, sid)
    order = thread_time_order(key, ts, kind) if key is not None else np.lexsort(
        (kind, ts, sid, pid))
    pid_s, sid_s, kind_s, idx_s = pid[order], sid[order], kind[order], idx[order]
    op_all = union([entries["op"].array, exits["op"].array])
    op_s = np.asarray(op_all.codes)[order]
    same = (pid_s[1:] == pid_s[:-1]) & (sid_s[1:] == sid_s[:-1]) & (op_s[1:] == op_s[:-1])
    pair = np.zeros(len(order), dtype=bool)  # entry at i closed by the exit at i+1
    pair[:-1] = same & (kind_s[:-1] == ENTRY) & (kind_s[1:] == EXIT)
    closed_by = np.full(ne, -1, dtype=np.int64)
    closed_by[idx_s[:-1][pair[:-1]]] = idx_s[1:][pair[:-1]]
    exit_paired = np.zeros(nx, dtype=bool)
    exit_paired[closed_by[closed_by >= 0]] = True
    orphan = np.flatnonzero(~exit_paired)

    has_exit = closed_by >= 0
    xi = np.where(has_exit, closed_by, 0)
    no = len(orphan)
    ex_ts = exits["timestamp"].to_numpy().astype(np.int64)
    begin = pd.arrays.IntegerArray(
        np.concatenate([entries["timestamp"].to_numpy().astype(np.int64), np.zeros(no, np.int64)]),
        np.concatenate([np.zeros(ne, bool), np.ones(no, bool)]))
    end = pd.arrays.IntegerArray(
        np.concatenate([ex_ts[xi] if nx else np.zeros(ne, np.int64), ex_ts[orphan]]),
        np.concatenate([~has_exit, np.zeros(no, bool)]))
    status = pd.Categorical.from_codes(
        np.concatenate([np.where(has_exit, 0, 1), np.full(no, 2)]).astype(np.int8),
        categories=["closed", "open", "no_entry"])

    def both(col: str, fill: str = "") -> pd.Categorical:
        a = entries[col].array if col in entries else constant(fill, ne)
        b = exits[col].array.take(orphan) if col in exits else constant(fill, no)
        return union([a, b])

    def from_exit(col: str, fill: Any) -> Any:
        if col not in exits or exits[col].isna().all() and exits[col].dtype == object:
            return np.full(ne + no, fill, dtype=object)
        vals = exits[col].array
        take = np.concatenate([np.where(has_exit, xi, -1), orphan]) if nx else np.full(
            ne + no, -1)
        if isinstance(vals, pd.Categorical):
            return vals.take(take, allow_fill=True)
        if vals.dtype.kind in "iu" and (take < 0).any():
            vals = pd.array(vals.to_numpy(), dtype="Int64")
        elif vals.dtype.kind in "iufb" and not (take < 0).any():
            return vals.to_numpy()[take]
        elif vals.dtype.kind not in "iufb":
            vals = pd.array(vals.to_numpy(dtype=object), dtype=object)
        return vals.take(take, allow_fill=True)

    out = pd.DataFrame(
        {
            "pid": np.concatenate([entries["pid"].to_numpy(), exits["pid"].to_numpy()[orphan]]),
            "tid": np.concatenate([entries["tid"].to_numpy(), exits["tid"].to_numpy()[orphan]]),
            "procname": both("procname", ""),
            "span_id": np.concatenate(
                [entries["span_id"].to_numpy(), exits["span_id"].to_numpy()[orphan]]),
            "parent_span_id": np.concatenate(
                [entries["parent_span_id"].to_numpy(), exits["parent_span_id"].to_numpy()[orphan]]),
            "op": both("op", ""),
            "provider": both("provider", ""),
            "begin": begin,
            "end": end,
            "status": status,
            "ret": from_exit("ret", None),
            "exc_type": from_exit("exc_type", None),
        }
    )
    args = [c for c in entries.columns if c.startswith("arg_")]
    for c in args:
        out[c] = np.concatenate([entries[c].to_numpy(dtype=object), np.full(len(orphan), None)])
    # Time order: by begin (or end for exit-without-entry), then pid/tid for ties.
    when = np.where(out["begin"].isna(), out["end"].fillna(0), out["begin"].fillna(0))
    order = np.lexsort((out["span_id"].to_numpy(), out["tid"].to_numpy(),
                        out["pid"].to_numpy(), when.astype(np.int64)))
    out = out.iloc[order].reset_index(drop=True)
    out["duration"] = out["end"] - out["begin"]
    out.insert(0, "span", np.arange(len(out), dtype=np.int64))
    parent = _parents(out)
    out.insert(6, "parent", parent)
    out.insert(7, "depth", _depth(parent))
    out["lower_bound"] = flag_lower_bounds(out, tabs.discarded)
    return out[[*SPAN_COLUMNS, *args]]


def _parents(sp: pd.DataFrame) -> np.ndarray:
    """Row of each span's parent: same pid, span_id = parent_span_id, latest begun before."""
    n = len(sp)
    parent = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return parent
    when = sp["begin"].fillna(sp["end"]).fillna(0).to_numpy(dtype=np.int64)
    has = sp["parent_span_id"].to_numpy() != 0
    if not has.any():
        return parent
    left = pd.DataFrame({"t": when[has], "pid": sp["pid"].to_numpy()[has],
                         "key": sp["parent_span_id"].to_numpy()[has],
                         "row": np.flatnonzero(has)})
    known = sp["begin"].notna().to_numpy()
    right = pd.DataFrame({"t": when[known], "pid": sp["pid"].to_numpy()[known],
                          "key": sp["span_id"].to_numpy()[known],
                          "parent": np.flatnonzero(known)})
    m = pd.merge_asof(left.sort_values("t", kind="stable"), right.sort_values("t", kind="stable"),
                      on="t", by=["pid", "key"], direction="backward")
    parent[m["row"].to_numpy()] = m["parent"].fillna(-1).to_numpy(dtype=np.int64)
    return parent


def _depth(parent: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(parent), dtype=np.int64)
    up = parent.copy()
    for _ in range(100_000):  # one pass per nesting level, never per span
        live = up >= 0
        if not live.any():
            break
        depth[live] += 1
        up[live] = parent[up[live]]
    return depth


def flag_lower_bounds(sp: pd.DataFrame, discarded: pd.DataFrame | None) -> np.ndarray:
    """Spans whose figures are lower bounds because events were discarded during them.

    With discard windows (``begin``/``end`` columns in the discarded table, the packet
    times around each loss) a span is flagged when it overlaps a window; with only counts,
    every span is flagged as soon as any event was discarded or any packet lost.
    """
    n = len(sp)
    flags = np.zeros(n, dtype=bool)
    if discarded is None or len(discarded) == 0 or n == 0:
        return flags
    lost = column(discarded, "discarded_events") + column(discarded, "lost_packets")
    if not (lost > 0).any():
        return flags
    windows = discarded.loc[lost > 0, ["begin", "end"]] if "begin" in discarded else None
    if windows is None or "end" not in discarded or windows.isna().to_numpy().any():
        flags[:] = True  # a loss with no time bounds could be inside any span
        return flags
    b = sp["begin"].fillna(np.iinfo(np.int64).min).to_numpy(dtype=np.int64)
    e = sp["end"].fillna(np.iinfo(np.int64).max).to_numpy(dtype=np.int64)
    for wb, we in windows.to_numpy(dtype=np.int64):
        flags |= (b <= we) & (e >= wb)  # one pass per discard window, not per span
    return flags
