"""Attribution: every kernel event, syscall and off-CPU interval -> the innermost span running.

Join layer. Kernel work is credited to the span running on the same thread (tid, checked
against the pid) at the event's time, found by :func:`correlate.stacks.span_at`:

* a kernel event at its timestamp (:func:`kernel_events`);
* a syscall at its entry (:func:`attributed_syscalls`) — no span boundary can fall inside
  a syscall of the same thread;
* an off-CPU interval (from ``sched_switch``: the thread switched out at ``t0`` and back
  in at ``t1``) at ``t0`` (:func:`offcpu`), with ``state`` "preempted" (switched out
  runnable) or "blocked".

Work on threads running no span, and everything kernel threads do, gets span -1; the
asynchronous writeback kernel threads do for spans is attributed back in
:mod:`correlate.writeback`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from correlate.stacks import Segments, span_at
from correlate.tables import as_tables, column, thread_time_order

__all__ = ["attributed_syscalls", "kernel_events", "offcpu"]

_NEVER = np.iinfo(np.int64).max


def kernel_events(trace: Any, seg: Segments) -> pd.DataFrame:
    """The trace's kernel events (``timestamp, name, cpu, pid, tid, procname``) with ``span``."""
    tabs = as_tables(trace)
    ev = tabs.events
    if ev is None:
        raise ValueError("this trace source has no `events` table")
    cols = [c for c in ("timestamp", "name", "cpu", "pid", "tid", "procname") if c in ev]
    if "domain" in ev:
        dom = ev["domain"]
        mask = (np.asarray(dom.cat.codes) == dom.cat.categories.get_loc("kernel")
                if isinstance(dom.dtype, pd.CategoricalDtype) and "kernel" in dom.cat.categories
                else (dom == "kernel").to_numpy())
        keep = None if mask.all() else mask
    else:
        keep = None
    # one boolean selection per column (a frame filter then a column selection copies
    # twice), in threads for big tables: NumPy releases the GIL while it copies
    def take(c: str) -> Any:
        return ev[c].array if keep is None else ev[c].array[keep]

    if keep is not None and len(keep) >= (1 << 21):
        with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, len(cols))) as pool:
            arrays = list(pool.map(take, cols))
    else:
        arrays = [take(c) for c in cols]
    out = pd.DataFrame(dict(zip(cols, arrays, strict=True)), copy=False)
    out["span"] = span_at(seg, column(out, "pid", -1), column(out, "tid", -1),
                          column(out, "timestamp"))
    return out


def attributed_syscalls(sc: pd.DataFrame, seg: Segments) -> pd.DataFrame:
    """Syscalls table with the ``span`` each call belongs to (by its entry, else its exit)."""
    when = sc["begin"].fillna(sc["end"]).to_numpy(dtype=np.int64)
    out = sc.copy(deep=False)  # copy-on-write: the syscalls table stays as it was
    out["span"] = span_at(seg, sc["pid"].to_numpy(), sc["tid"].to_numpy(), when)
    return out


def offcpu(trace: Any, seg: Segments) -> pd.DataFrame:
    """Off-CPU intervals of every thread from ``sched_switch``, with the span they fall in.

    Columns: ``pid``, ``tid``, ``begin``, ``end``, ``duration``, ``state``
    ("preempted" | "blocked"), ``span``, ``inferred``. A switch-out followed by another
    switch-out of the same thread lost its switch-in (perf recording one process, as
    ``usdk record --track`` does, sees only the switch-outs, which fire in the task's own
    context): the thread was back on a CPU by its next event of any kind, so the
    interval ends there (an upper bound; ``inferred`` True). A last switch-out with no
    later event of its thread is left out (its length is unknown).
    """
    tabs = as_tables(trace)
    sw = tabs.get("sched_switch")
    cols = ["pid", "tid", "begin", "end", "duration", "state", "span", "inferred"]
    if sw is None or "prev_tid" not in sw or "next_tid" not in sw:
        return pd.DataFrame({c: pd.Series([], dtype={"state": object, "inferred": bool}.get(
            c, np.int64)) for c in cols})
    ts = column(sw, "timestamp")
    prev, nxt = column(sw, "prev_tid"), column(sw, "next_tid")
    state = column(sw, "prev_state", 1)
    n = len(sw)
    tid = np.concatenate([prev, nxt])
    t = np.concatenate([ts, ts])
    kind = np.concatenate([np.zeros(n, np.int8), np.ones(n, np.int8)])
    row = np.concatenate([np.arange(n), np.arange(n)])
    order = thread_time_order(tid, t, kind, split=n)
    tid_s, t_s, k_s, r_s = tid[order], t[order], kind[order], row[order]
    # each row's successor in (thread, time) order; the last row has none
    nxt_tid = np.append(tid_s[1:], -1)
    nxt_t = np.append(t_s[1:], _NEVER)
    nxt_in = np.append(k_s[1:] == 1, False)
    out = (k_s == 0) & (tid_s != 0)
    same = nxt_tid == tid_s
    pair = out & same & nxt_in
    # out, then out (the switch-in was not recorded) or the thread's last out
    lost_in = out & ~pair
    out_rows, out_tid, begin, end = r_s[pair], tid_s[pair], t_s[pair], nxt_t[pair]
    inferred = np.zeros(len(begin), dtype=bool)
    if lost_in.any():
        lt, l0 = tid_s[lost_in], t_s[lost_in]
        back = _next_event_of(tabs, lt, l0, np.where(same[lost_in], nxt_t[lost_in], _NEVER))
        seen = back < _NEVER
        out_rows = np.concatenate([out_rows, r_s[lost_in][seen]])
        out_tid = np.concatenate([out_tid, lt[seen]])
        begin, end = np.concatenate([begin, l0[seen]]), np.concatenate([end, back[seen]])
        inferred = np.concatenate([inferred, np.ones(int(seen.sum()), dtype=bool)])
    # the switched-out thread's pid: the event's own pid (it ran on that CPU until then)
    pid = column(sw, "pid", -1)[out_rows]
    res = pd.DataFrame({
        "pid": pid, "tid": out_tid, "begin": begin, "end": end,
        "duration": end - begin,
        "state": pd.Categorical.from_codes(((state[out_rows] & 0xFF) != 0).astype(np.int8),
                                           categories=["preempted", "blocked"]),
    })
    res["span"] = span_at(seg, res["pid"].to_numpy(), res["tid"].to_numpy(), begin)
    res["inferred"] = inferred
    return res.sort_values(["begin", "tid"], kind="stable").reset_index(drop=True)


def _next_event_of(tabs: Any, tid: np.ndarray, after: np.ndarray,
                   bound: np.ndarray) -> np.ndarray:
    """For each (tid, after, bound): the first event of ``tid`` in any table later than
    ``after`` (the thread ran then), else ``bound`` (its next switch-out)."""
    want = np.unique(tid)
    ts_parts, tid_parts = [], []
    for name in tabs.names():
        if name == "sched_switch":
            continue  # its tid is the task switching out; the bound covers it
        df = tabs.get(name)
        if df is None or "tid" not in df:
            continue
        t = column(df, "tid", -1)
        keep = np.isin(t, want)
        if keep.any():
            ts_parts.append(column(df, "timestamp")[keep])
            tid_parts.append(t[keep])
    if not ts_parts:
        return bound.copy()
    ran = pd.DataFrame({"t": np.concatenate(ts_parts), "tid": np.concatenate(tid_parts)})
    ran = ran.sort_values("t", kind="stable")
    q = pd.DataFrame({"t": after, "tid": tid, "i": np.arange(len(tid))}).sort_values(
        "t", kind="stable")
    ts_sorted = ran["t"].to_numpy()
    ran["pos"] = np.arange(len(ran))  # a row number: exact even where NaN makes it float
    m = pd.merge_asof(q, ran, on="t", by="tid", direction="forward",
                      allow_exact_matches=False)
    end = bound.copy()
    pos = m["pos"].to_numpy(dtype=np.float64)
    hit = ~np.isnan(pos)
    rows = m["i"].to_numpy()[hit]
    end[rows] = np.minimum(ts_sorted[pos[hit].astype(np.int64)], bound[rows])
    return end
