"""Which span is running on each thread at each instant: per-thread span segments.

State layer, built on :mod:`correlate.spans`. Every span boundary on a thread starts a
*segment* that lasts until the thread's next boundary; the segment's ``span`` is the
innermost span running on the thread during it (-1: none):

=================  ======================================================================
boundary           span running afterwards
=================  ======================================================================
entry of S         S
exit of S          S's parent, if the parent runs on the same thread, else none
suspend of S       S's parent on the same thread, else none (the coroutine yielded to the
                   event loop; usdk emits one suspend per coroutine span of the task,
                   innermost first, so the task's outer spans hand back in turn)
resume of S        S
=================  ======================================================================

asyncio: usdk emits ``usdk:span_suspend``/``usdk:span_resume`` whenever a coroutine span
yields to / is resumed by the event loop, so attribution on a thread running many tasks is
exact: a kernel event between a suspend and the next resume belongs to whatever the event
loop runs then (another task's span, or no span), never to the suspended coroutine. A trace
of coroutine spans *without* these events (another instrumentation) is attributed as if the
spans were synchronous, i.e. to the innermost span entered on the thread; those spans
interleave without nesting, which :func:`segments` counts in ``Segments.ambiguous``.

:func:`span_at` is the join: for events ``(pid, tid, timestamp)`` it returns the segment's
span by one binary search over a combined ``(thread, time)`` key — no Python loop per
event. Counter contexts (``perf_thread_*``) are differenced between consecutive
boundaries and credited to the segment's span: a span's *own* task-clock, page faults and
context switches, exact under nesting and asyncio interleaving.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from correlate.spans import EXIT, SUSPEND, span_events
from correlate.tables import as_tables, ranks, thread_time_order

__all__ = ["Segments", "segments", "span_at"]

_TIME_BITS = 43  # ~2.4 h of nanoseconds in the low bits of the combined key
_PARALLEL_MIN = 1 << 21  # queries from which span_at searches in parallel chunks


@dataclass
class Segments:
    """Span boundaries of every thread, sorted by ``(tid, timestamp)``.

    ``frame`` columns: ``tid``, ``pid``, ``timestamp``, ``kind`` (0 entry, 1 exit,
    2 suspend, 3 resume), ``span`` (the span running from this boundary on, -1 none) and
    the counter contexts. ``counters`` is one row per span with the counter deltas of its
    own segments (columns named like the contexts, e.g. ``perf_thread_task_clock``) and
    ``self_ns``, the wall time the span was the innermost one running on its thread.
    """

    frame: pd.DataFrame
    counters: pd.DataFrame
    ambiguous: int = 0


def segments(trace: Any, sp: pd.DataFrame) -> Segments:
    """Per-thread segments of spans ``sp`` (the output of :func:`correlate.spans`)."""
    tabs = as_tables(trace)
    entries, exits, switches = span_events(tabs)
    n = len(sp)
    parent = sp["parent"].to_numpy()
    tid_of = sp["tid"].to_numpy()
    pid_of = sp["pid"].to_numpy()
    begin = sp["begin"].to_numpy(dtype=np.float64, na_value=np.nan)
    end = sp["end"].to_numpy(dtype=np.float64, na_value=np.nan)
    counter_cols = sorted({c for df in (entries, exits, switches) for c in df.columns
                           if c.startswith("perf_")})

    def locate(ev: pd.DataFrame, on_end: bool) -> np.ndarray:
        """Span row of each boundary event, by (pid, span_id) and time."""
        if len(ev) == 0 or n == 0:
            return np.full(len(ev), -1, dtype=np.int64)
        key_t = end if on_end else begin
        ok = ~np.isnan(key_t)
        right = pd.DataFrame({"t": key_t[ok].astype(np.int64), "pid": pid_of[ok],
                              "span_id": sp["span_id"].to_numpy()[ok],
                              "span": np.flatnonzero(ok)}).sort_values("t", kind="stable")
        left = pd.DataFrame({"t": ev["timestamp"].to_numpy(), "pid": ev["pid"].to_numpy(),
                             "span_id": ev["span_id"].to_numpy(),
                             "i": np.arange(len(ev))}).sort_values("t", kind="stable")
        m = pd.merge_asof(left, right, on="t", by=["pid", "span_id"], direction="backward")
        out = np.full(len(ev), -1, dtype=np.int64)
        out[m["i"].to_numpy()] = m["span"].fillna(-1).to_numpy(dtype=np.int64)
        return out

    s_entry = locate(entries, on_end=False)
    s_exit = locate(exits, on_end=True)
    s_switch = locate(switches, on_end=False)

    def after(kind: np.ndarray, s: np.ndarray, tid: np.ndarray) -> np.ndarray:
        """The span running after each boundary (see the module table)."""
        cur = s.copy()
        hand_back = (kind == EXIT) | (kind == SUSPEND)
        p = np.where(s >= 0, parent[np.maximum(s, 0)], -1)
        p_ok = (p >= 0) & (tid_of[np.maximum(p, 0)] == tid)
        cur[hand_back] = np.where(p_ok, p, -1)[hand_back]
        return cur

    parts = []
    for ev, s in ((entries, s_entry), (exits, s_exit), (switches, s_switch)):
        if len(ev) == 0:
            continue
        part = pd.DataFrame({"tid": ev["tid"].to_numpy(), "pid": ev["pid"].to_numpy(),
                             "timestamp": ev["timestamp"].to_numpy(),
                             "kind": ev["kind"].to_numpy(), "of": s})
        for c in counter_cols:
            part[c] = ev[c].to_numpy(dtype=np.float64) if c in ev else np.nan
        parts.append(part)
    if not parts:
        frame = pd.DataFrame({c: pd.Series([], dtype=np.int64)
                              for c in ("tid", "pid", "timestamp", "kind", "of", "span")})
        return Segments(frame, pd.DataFrame(index=pd.RangeIndex(n)), 0)
    f = pd.concat(parts, ignore_index=True)
    kind = f["kind"].to_numpy()
    of = f["of"].to_numpy()
    depth = sp["depth"].to_numpy()[np.maximum(of, 0)]
    # Ties at one timestamp: hand-backs (exit, suspend) first, innermost first; then
    # entries/resumes, outermost first.
    closing = (kind == EXIT) | (kind == SUSPEND)
    tie = np.where(closing, -depth - 1_000_000, depth)
    order = thread_time_order(f["tid"].to_numpy(), f["timestamp"].to_numpy(), tie)
    f = f.iloc[order].reset_index(drop=True)
    f["span"] = after(f["kind"].to_numpy(), f["of"].to_numpy(), f["tid"].to_numpy())

    # Counter deltas between consecutive boundaries of a thread -> the segment's span.
    counters = pd.DataFrame(index=pd.RangeIndex(n))
    tid = f["tid"].to_numpy()
    same_next = np.zeros(len(f), dtype=bool)
    same_next[:-1] = tid[1:] == tid[:-1]
    cur = f["span"].to_numpy()
    credit = same_next & (cur >= 0)
    ts_all = f["timestamp"].to_numpy()
    seglen = np.zeros(len(f))
    seglen[:-1] = ts_all[1:] - ts_all[:-1]
    counters["self_ns"] = np.bincount(cur[credit], weights=seglen[credit], minlength=n)[:n]
    for c in counter_cols:
        v = f[c].to_numpy()
        delta = np.zeros(len(f))
        delta[:-1] = v[1:] - v[:-1]
        ok = credit & ~np.isnan(delta)
        counters[c] = np.bincount(cur[ok], weights=delta[ok], minlength=n)[:n]
        # spans with a boundary lacking the context get NaN (unknown), not 0
        missing = np.isnan(v)
        if missing.any():
            bad = np.unique(f["of"].to_numpy()[missing])
            counters.loc[bad[bad >= 0], c] = np.nan

    # Spans that interleave without nesting on a thread (coroutines traced without
    # suspend/resume events, or lost events): at such a span's exit, another span was the
    # innermost one running.
    prev = np.full(len(f), -1, dtype=np.int64)
    prev[1:] = np.where(same_next[:-1], cur[:-1], -1)
    exiting = (f["kind"].to_numpy() == EXIT) & (f["of"].to_numpy() >= 0)
    bad = exiting & (prev != f["of"].to_numpy())
    ambiguous = int(len(np.unique(f["of"].to_numpy()[bad])))
    return Segments(f.drop(columns=["of"]), counters, ambiguous)


def span_at(seg: Segments, pid: np.ndarray, tid: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The span running on thread ``tid`` of process ``pid`` at time ``t`` (-1: none).

    Vectorised: the segment boundaries and the queries become one int64 key each
    (thread rank in the high bits, time in the low bits) and one ``searchsorted`` finds
    every query's segment. A segment of another process (a reused tid) does not count.
    """
    f = seg.frame
    out = np.full(len(t), -1, dtype=np.int64)
    if len(f) == 0 or len(t) == 0:
        return out
    t = np.asarray(t, dtype=np.int64)
    tid = np.asarray(tid)
    ev_pid = np.asarray(pid)
    s_tid = f["tid"].to_numpy()
    s_t = f["timestamp"].to_numpy()
    tids, s_rank = ranks(s_tid)
    t0 = min(int(s_t.min()), int(t.min()))
    span_ns = max(int(s_t.max()), int(t.max())) - t0
    if span_ns >= (1 << _TIME_BITS) or len(tids) >= (1 << (62 - _TIME_BITS)):
        # very long trace: pandas' merge_asof does the same join
        left = pd.DataFrame({"t": t, "tid": tid, "i": np.arange(len(t))}).sort_values("t")
        right = pd.DataFrame({"t": s_t, "tid": s_tid, "pos": np.arange(len(f))}).sort_values(
            "t", kind="stable")
        m = pd.merge_asof(left, right, on="t", by="tid", direction="backward")
        pos = np.full(len(t), -1, dtype=np.int64)
        pos[m["i"].to_numpy()] = m["pos"].fillna(-1).to_numpy(dtype=np.int64)
        ok = pos >= 0
        pos_c = np.maximum(pos, 0)
        ok &= s_tid[pos_c] == tid
        ok &= (f["pid"].to_numpy()[pos_c] == ev_pid) | (ev_pid < 0)
        out[ok] = f["span"].to_numpy()[pos_c[ok]]
        return out
    s_pid = f["pid"].to_numpy()
    pid_of = np.zeros(len(tids), dtype=s_pid.dtype)
    pid_of[s_rank] = s_pid
    if not np.array_equal(pid_of[s_rank], s_pid):
        return _span_at_general(f, tids, s_rank, _query_ranks(tids, tid), ev_pid, t, t0)
    # One process per thread id among the boundaries (no tid reuse). Keys (thread rank <<
    # 43 | time): each thread's boundaries start with a sentinel at time 0 (span -1) and
    # the table ends with one, so a search needs no validity check.
    first = np.flatnonzero(np.r_[True, s_rank[1:] != s_rank[:-1]])
    s_key = (s_rank.astype(np.int64) << _TIME_BITS) | (s_t - t0)
    s_key = np.append(np.insert(s_key, first, s_rank[first].astype(np.int64) << _TIME_BITS),
                      np.iinfo(np.int64).max)
    span = np.append(np.insert(f["span"].to_numpy(), first, -1), -1)

    def search(sl: slice) -> None:
        _search(out[sl], tids, pid_of, s_key, span, ev_pid[sl], tid[sl], t[sl], t0)

    # Large query sets are cut in one time-contiguous chunk per CPU: NumPy releases the
    # GIL in the sorts, searches and gathers, so the chunks run in parallel.
    n = len(t)
    workers = min(os.cpu_count() or 1, 8) if n >= _PARALLEL_MIN else 1
    cuts = [n * k // workers for k in range(workers + 1)]
    parts = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    if workers == 1:
        search(parts[0])
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(search, parts))
    return out


def _query_ranks(tids: np.ndarray, tid: np.ndarray) -> np.ndarray:
    """Rank of each query's thread among ``tids`` (-1: a thread with no span boundary)."""
    lo, hi = int(tids[0]), int(tids[-1])
    if hi - lo < (1 << 23):
        lut = np.full(hi - lo + 2, -1, dtype=np.int32)  # last entry: "not a span thread"
        lut[(tids - lo).astype(np.intp)] = np.arange(len(tids), dtype=np.int32)
        at = tid - lo
        np.clip(at, -1, hi - lo + 1, out=at)
        return lut[at]
    r = np.minimum(np.searchsorted(tids, tid), len(tids) - 1)
    return np.where(tids[r] == tid, r, -1).astype(np.int32)


def _search(res: np.ndarray, tids: np.ndarray, pid_of: np.ndarray, s_key: np.ndarray,
            span: np.ndarray, ev_pid: np.ndarray, tid: np.ndarray, t: np.ndarray,
            t0: int) -> None:
    """The fast path of :func:`span_at` for one chunk of queries, written into ``res``."""
    q_rank = _query_ranks(tids, tid)
    # a query of another process than the thread's is no span thread
    if len(ev_pid) and (ev_pid >= 0).any():
        other = (pid_of[np.maximum(q_rank, 0)] != ev_pid) & (ev_pid >= 0)
        q_rank[other] = -1
    # searchsorted is ~10x faster on sorted queries (each search starts at the last), and
    # so is the gather that follows: work in (thread, time) order, scatter back once.
    if len(tids) < (1 << 15) and np.all(t[1:] >= t[:-1]):
        o = np.argsort(q_rank.astype(np.int16), kind="stable")  # radix pass
        counts = np.bincount(q_rank + 1, minlength=len(tids) + 1)
        qk = t[o]
        qk -= t0
        qk |= np.repeat(np.arange(-1, len(tids), dtype=np.int64) << _TIME_BITS, counts)
    else:
        q_key = (q_rank.astype(np.int64) << _TIME_BITS) | (t - t0)  # rank -1: negative
        o = np.argsort(q_key, kind="stable")
        qk = q_key[o]
    pos = np.searchsorted(s_key, qk, side="right")
    pos -= 1  # -1 (a negative key: no span thread) is the end sentinel
    res[o] = span[pos]


def _span_at_general(f: pd.DataFrame, tids: np.ndarray, s_rank: np.ndarray,
                     q_rank: np.ndarray, ev_pid: np.ndarray, t: np.ndarray, t0: int
                     ) -> np.ndarray:
    """:func:`span_at` when a thread id has boundaries of several processes (tid reuse)."""
    s_t = f["timestamp"].to_numpy()
    s_key = (s_rank.astype(np.int64) << _TIME_BITS) | (s_t - t0)
    q_key = (q_rank.astype(np.int64) << _TIME_BITS) | (t - t0)  # rank -1: negative key
    o = np.argsort(q_key, kind="stable")
    qk = q_key[o]
    pos = np.searchsorted(s_key, qk, side="right") - 1
    pos_c = np.maximum(pos, 0)
    ok = (pos >= 0) & ((s_key[pos_c] >> _TIME_BITS) == (qk >> _TIME_BITS)) & (qk >= 0)
    q_pid = ev_pid[o]
    ok &= (f["pid"].to_numpy()[pos_c] == q_pid) | (q_pid < 0)
    out = np.full(len(t), -1, dtype=np.int64)
    out[o] = np.where(ok, f["span"].to_numpy()[pos_c], -1)
    return out
