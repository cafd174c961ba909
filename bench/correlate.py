"""Benchmark the correlator: attribute and report N kernel events + M spans in one run.

Synthetic mode (default): builds, in memory, tables shaped exactly like the reader's
(``trace.table(name)`` per event class, ``trace.events``) for 1 M spans (nested two
deep, 2 M UST events, task-clock contexts) on 64 threads and 10 M kernel events (write
syscall pairs, ext4_da_write_begin, sched_switch, ext4 writeback), then times
``Analysis`` + ``latency_report`` + ``attribute_table`` + ``syscall_breakdown`` +
attribution of every kernel event.

``--trace DIR`` also reads a real trace with ``correlate.open`` and prints the
correlator's time as a ratio of the reader's time on that same trace.

    python bench/correlate.py                    # 10 M kernel events, 1 M spans
    python bench/correlate.py --trace DIR        # + a real trace, ratio to the reader
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import correlate  # noqa: E402
from correlate import synth  # noqa: E402

LIMIT_S = 10.0


def synthetic(n_spans: int, n_kernel: int, threads: int = 64, seed: int = 1) -> synth.Trace:
    """Tables like the reader's for ``n_spans`` spans and ``n_kernel`` kernel events."""
    rng = np.random.default_rng(seed)
    per = n_spans // threads // 2  # parent+child pairs per thread
    n_par = per * threads
    tid = np.repeat(np.arange(threads) + 1000, per)
    pid = np.full(n_par, 999)
    slot = np.tile(np.arange(per), threads)
    t0 = slot.astype(np.int64) * 10_000 + rng.integers(0, 100, n_par)
    # parent [t0, t0+9000], child [t0+1000, t0+5000]
    sid_p = np.arange(n_par, dtype=np.int64) * 2 + 1
    sid_c = sid_p + 1

    def ust(ts, sid, parent, extra):
        d = {"timestamp": ts, "cpu": np.zeros(len(ts), np.int32), "pid": pid, "tid": tid,
             "procname": app(len(ts)), "span_id": sid, "parent_span_id": parent,
             "perf_thread_task_clock": ts // 2}
        d.update(extra)
        return pd.DataFrame(d)

    zero = np.zeros(n_par, np.int64)

    def app(n: int) -> pd.Categorical:  # the reader gives procname as a categorical
        return pd.Categorical.from_codes(np.zeros(n, np.int8), categories=["app"])

    tables = {
        "shop:put_entry": ust(t0, sid_p, zero, {"size": slot}),
        "shop:put_exit": ust(t0 + 9000, sid_p, zero, {"ret": zero, "exc_type": ""}),
        "shop:enc_entry": ust(t0 + 1000, sid_c, sid_p, {"n": slot}),
        "shop:enc_exit": ust(t0 + 5000, sid_c, sid_p, {"ret": zero, "exc_type": ""}),
    }
    # kernel: per slot k write syscalls (entry+exit), an ext4 write per call, a
    # sched_switch pair; sized to n_kernel events in total.
    per_slot = max(n_kernel // n_par, 6)
    calls = max((per_slot - 2) // 3, 1)
    off = (np.arange(calls) * (8000 // calls)).astype(np.int64)
    kt = (t0[:, None] + 200 + off[None, :]).ravel()
    ktid = np.repeat(tid, calls)
    kpid = np.repeat(pid, calls)
    m = len(kt)

    def kern(ts, extra, tids=ktid, pids=kpid):
        d = {"timestamp": ts, "cpu": np.zeros(len(ts), np.int32), "pid": pids, "tid": tids,
             "procname": app(len(ts))}
        d.update(extra)
        return pd.DataFrame(d)

    ino = (ktid * 7 + (kt // 1_000_000)) % 5000
    tables["syscall_entry_write"] = kern(kt, {"fd": np.full(m, 3), "count": np.full(m, 4096)})
    tables["syscall_exit_write"] = kern(kt + 50, {"ret": np.full(m, 4096)})
    tables["ext4_da_write_begin"] = kern(kt + 20, {"dev": np.full(m, 8), "ino": ino,
                                                   "pos": np.zeros(m, np.int64),
                                                   "len": np.full(m, 4096)})
    sw_t = np.concatenate([t0 + 6000, t0 + 6500])
    sw_tid = np.concatenate([tid, np.zeros(n_par, np.int64)])
    tables["sched_switch"] = kern(
        sw_t, {"prev_tid": sw_tid, "next_tid": np.concatenate([np.zeros(n_par, np.int64), tid]),
               "prev_state": np.ones(2 * n_par, np.int64)},
        tids=sw_tid, pids=np.where(sw_tid > 0, 999, 0))
    wb_n = max(n_kernel // 100, 1)
    wb_t = np.sort(rng.integers(0, int(t0.max()) + 10_000, wb_n))
    tables["ext4_writepages_result"] = kern(
        wb_t, {"dev": np.full(wb_n, 8), "ino": rng.integers(0, 5000, wb_n),
               "pages_written": np.full(wb_n, 4)},
        tids=np.full(wb_n, 77), pids=np.full(wb_n, 77))
    tables = {k: df.sort_values("timestamp", kind="stable", ignore_index=True)
              for k, df in tables.items()}
    return synth.Trace(tables)


def correlate_all(trace) -> tuple[float, dict[str, int]]:
    t = time.perf_counter()
    a = correlate.Analysis(trace)
    rep = correlate.latency_report(a)
    att = correlate.attribute_table(a)
    sc = correlate.syscall_breakdown(a)
    ke = a.kernel_events
    dt = time.perf_counter() - t
    return dt, {"spans": len(a.spans), "syscalls": len(a.syscalls),
                "kernel_events": len(ke), "attributed": int((ke["span"] >= 0).sum()),
                "ops": len(rep), "attribute_rows": len(att), "syscall_rows": len(sc)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--kernel-events", type=int, default=10_000_000)
    ap.add_argument("--trace", help="also time the reader and correlator on this trace")
    args = ap.parse_args()

    t = time.perf_counter()
    trace = synthetic(args.spans, args.kernel_events)
    _ = trace.events
    build = time.perf_counter() - t
    n_k = int((trace.events["domain"] == "kernel").sum())
    n_u = len(trace.events) - n_k
    print(f"synthetic trace: {n_k:,} kernel events, {n_u:,} UST events "
          f"({args.spans:,} spans) built in {build:.1f} s")
    dt, info = correlate_all(trace)
    print(f"correlator (attribute every kernel event + reports): {dt:.2f} s "
          f"({(n_k + n_u) / dt / 1e6:.2f} M events/s) {info}")
    print(f"acceptance (<= {LIMIT_S:.0f} s on 2 cores): {'PASS' if dt <= LIMIT_S else 'FAIL'}")
    if args.trace:
        t = time.perf_counter()
        real = correlate.open(args.trace, progress=False)
        _ = real.events
        read = time.perf_counter() - t
        dt2, info2 = correlate_all(real)
        print(f"real trace {args.trace}: {len(real.events):,} events; reader {read:.2f} s, "
              f"correlator {dt2:.2f} s, correlator/reader = {dt2 / read:.2f} {info2}")
    return 0 if dt <= LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
