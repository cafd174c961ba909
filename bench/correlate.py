"""Benchmark the correlator: attribute and report N kernel events + M spans in one run.

Builds, in memory, a synthetic workload shaped like the reader's tables (``trace.table(name)``
per event class): 1 M spans (nested two deep, 2 M UST events, task-clock contexts) on 64
threads over 2 CPUs, and 10 M kernel events (write syscall pairs, ext4_da_write_begin,
sched_switch, ext4 writeback). Writes it as CTF (``synth.write_ctf``: an LTTng-modules-like
kernel trace and an LTTng-UST-like trace), then, in this one process:

1. times the reader on it: ``correlate.open(DIR)`` + ``trace.events``;
2. times the correlator on what the reader returned: ``Analysis(...).prepare(kernel_events=
   True)`` (its layers on two threads) + ``latency_report`` + ``attribute_table`` +
   ``syscall_breakdown`` + attribution of every kernel event;
3. prints both, the ratio correlator/reader, and the acceptance (correlator <= 10 s).

Wall time and process CPU time are both printed: on a shared 2-core machine the wall time
also measures the neighbours.

    python bench/correlate.py                      # 10 M kernel events, 1 M spans
    python bench/correlate.py --keep DIR           # keep the CTF trace in DIR
    python bench/correlate.py --trace DIR          # a real trace instead of the synthetic one
    python bench/correlate.py --in-memory          # correlate the in-memory tables, no CTF
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

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
        d = {"timestamp": ts, "cpu": (tid % 2).astype(np.int32), "pid": pid, "tid": tid,
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
        d = {"timestamp": ts, "cpu": (tids % 2).astype(np.int32), "pid": pids, "tid": tids,
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


def correlate_all(trace) -> tuple[float, float, dict[str, int]]:
    """Correlate and report ``trace``: wall seconds, CPU seconds, sizes."""
    t, c = time.perf_counter(), time.process_time()
    a = correlate.Analysis(trace).prepare(kernel_events=True)  # two threads, see prepare()
    rep = correlate.latency_report(a)
    att = correlate.attribute_table(a)
    sc = correlate.syscall_breakdown(a)
    ke = a.kernel_events
    dt, dc = time.perf_counter() - t, time.process_time() - c
    return dt, dc, {"spans": len(a.spans), "syscalls": len(a.syscalls),
                    "kernel_events": len(ke), "attributed": int((ke["span"] >= 0).sum()),
                    "ops": len(rep), "attribute_rows": len(att), "syscall_rows": len(sc)}


def read(path) -> tuple[object, float, float]:
    """The reader on ``path`` (``correlate.open`` + ``.events``): trace, wall s, CPU s."""
    t, c = time.perf_counter(), time.process_time()
    trace = correlate.open(path, progress=False)
    _ = trace.events
    return trace, time.perf_counter() - t, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--kernel-events", type=int, default=10_000_000)
    ap.add_argument("--trace", help="read and correlate this trace instead of the synthetic one")
    ap.add_argument("--keep", help="write the synthetic CTF trace here and keep it")
    ap.add_argument("--in-memory", action="store_true",
                    help="correlate the in-memory synthetic tables (no CTF, no reader time)")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}  load average: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))

    read_s = read_cpu = None
    if args.trace:
        trace, read_s, read_cpu = read(args.trace)
        what = f"real trace {args.trace}"
    else:
        t = time.perf_counter()
        mem = synthetic(args.spans, args.kernel_events)
        n_k = sum(len(mem.table(n)) for n in mem.classes if ":" not in n)
        n_u = sum(len(mem.table(n)) for n in mem.classes if ":" in n)
        print(f"synthetic workload: {n_k:,} kernel events, {n_u:,} UST events "
              f"({args.spans:,} spans) built in {time.perf_counter() - t:.1f} s")
        if args.in_memory:
            trace, what = mem, "in-memory synthetic tables"
        else:
            out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="usdk-bc-"))
            t = time.perf_counter()
            synth.write_ctf(mem, out)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(f"written as CTF: {out} ({size / 1e6:,.0f} MB) in "
                  f"{time.perf_counter() - t:.1f} s")
            try:
                trace, read_s, read_cpu = read(out)
                what = f"that CTF trace as read by correlate.open ({len(trace.events):,} events)"
            except Exception as exc:  # noqa: BLE001 - say it, and still time the correlator
                print(f"reader failed on {out}: {type(exc).__name__}: {exc}\n"
                      "correlating the in-memory tables instead (no reader time, no ratio)")
                trace, what = mem, "in-memory synthetic tables"
            finally:
                if not args.keep:
                    shutil.rmtree(out, ignore_errors=True)
            del mem
    if read_s is not None:
        backends = ", ".join(sorted({b.decoder for b in trace.backends}))
        print(f"reader (correlate.open + .events, {backends}): {read_s:.2f} s "
              f"(cpu {read_cpu:.2f} s)")
    dt, dc, info = correlate_all(trace)
    n = len(trace.events)
    print(f"correlator on {what}: {dt:.2f} s (cpu {dc:.2f} s, {n / dt / 1e6:.2f} M events/s) "
          f"{info}")
    if read_s is not None:
        print(f"correlator/reader = {dt / read_s:.2f} (wall), {dc / read_cpu:.2f} (cpu)")
    print(f"acceptance (<= {LIMIT_S:.0f} s on 2 cores): {'PASS' if dt <= LIMIT_S else 'FAIL'}")
    return 0 if dt <= LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
