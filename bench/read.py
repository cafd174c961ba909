"""Reader benchmark: events/s into DataFrames, against bt2-Python and babeltrace2's counter.

Records (once, cached) a trace of >= 5 M events: UST ``gen:op`` events (int64, uint32,
double, string, enum + vpid/vtid/procname/perf contexts) from 2 threads that also write(2)
every third event, recorded with perf's syscall and sched events (CLOCK_MONOTONIC), then
prints from one run, each measurement in its own process:

* our reader (``correlate.open`` + ``trace.events``): events/s, and peak RSS growth
  against the size of the resulting DataFrames;
* a straightforward bt2-Python reader extracting the same columns (on a sample of events
  when the trace is large: its rate is constant);
* ``babeltrace2 -c sink.utils.counter`` on the same trace (decode only, no output).

Usage::

    python bench/read.py [--trace DIR] [--events-per-thread N] [--sample N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reader"))

OURS = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd, pyarrow  # imported before the baseline, like any user
import correlate

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

base = rss_kb()
c0 = cpu_s()
t0 = time.perf_counter()
trace = correlate.open(sys.argv[1], progress=False)
ev = trace.events
t1 = time.perf_counter()
c1 = cpu_s()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
frames = [trace.table(n) for n in trace.names] + [ev]
size = int(sum(f.memory_usage(deep=True, index=False).sum() for f in frames))
print(json.dumps({"events": len(ev), "seconds": t1 - t0, "cpu": c1 - c0,
                  "peak_kb": peak - base,
                  "df_bytes": size, "backends": [b.decoder for b in trace.backends],
                  "classes": {n: len(trace.table(n)) for n in trace.names}}))
"""

BT2 = r"""
import json, sys, time
import bt2
import pandas as pd
from pathlib import Path

limit = int(sys.argv[2])
dirs = sorted({str(p.parent) for p in Path(sys.argv[1]).rglob("metadata")})
per_trace = max(1, limit // len(dirs))
tables = {}
n = 0
t0 = time.perf_counter()
for d in dirs:
    it = bt2.TraceCollectionMessageIterator(
        bt2.ComponentSpec.from_named_plugin_and_component_class("ctf", "fs", {"inputs": [d]}))
    k = 0
    for msg in it:
        if type(msg) is not bt2._EventMessageConst:
            continue
        ev = msg.event
        row = {"timestamp": msg.default_clock_snapshot.value,
               "cpu": int(ev.packet.context_field["cpu_id"])}
        for fld in (ev.common_context_field, ev.payload_field):
            if fld is not None:
                for name, f in fld.items():
                    if isinstance(f, bt2._EnumerationFieldConst):
                        row[name] = f.labels[0] if f.labels else int(f)
                    elif isinstance(f, bt2._IntegerFieldConst):
                        row[name] = int(f)
                    elif isinstance(f, bt2._RealFieldConst):
                        row[name] = float(f)
                    else:
                        row[name] = str(f)
        tables.setdefault(ev.name, []).append(row)
        k += 1
        if k >= per_trace:
            break
    n += k
frames = {name: pd.DataFrame(rows) for name, rows in tables.items()}
t1 = time.perf_counter()
print(json.dumps({"events": n, "seconds": t1 - t0}))
"""


def make_trace(out: Path, per_thread: int) -> Path:
    from tracegen import record

    if (out / ".complete").exists():
        return out
    print(f"recording the benchmark trace into {out} ...", file=sys.stderr)
    exe = record.build(out / "bin")
    record.record(exe, out / "trace", ["op", "2", str(per_thread), "3"],
                  perf_events=record.PERF_EVENTS, subbuf="4M", num_subbuf=8)
    (out / ".complete").write_text("ok\n")
    return out


def run_py(code: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def counter(trace: Path) -> tuple[int, float, float]:
    """babeltrace2's own decode rate; one run per CTF trace (its muxer refuses to sort LTTng
    and perf clocks together), times and counts summed."""
    total, seconds, cpu = 0, 0.0, 0.0
    for meta in sorted(trace.rglob("metadata")):
        t0 = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run(["babeltrace2", str(meta.parent), "-c", "sink.utils.counter"],
                           capture_output=True, text=True)
        seconds += time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        if r.returncode != 0:
            raise SystemExit(f"babeltrace2 failed on {meta.parent}: {r.stderr}")
        found = re.findall(r"([\d,]+) Event messages", r.stdout)  # last = final count
        if not found:
            raise SystemExit(f"unexpected babeltrace2 counter output: {r.stdout}")
        total += int(found[-1].replace(",", ""))
    return total, seconds, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", type=Path, help="an existing trace directory to read")
    ap.add_argument("--cache", type=Path,
                    default=Path(tempfile.gettempdir()) / "usdk-bench-read",
                    help="where the generated trace is kept between runs")
    ap.add_argument("--events-per-thread", type=int, default=1_500_000)
    ap.add_argument("--sample", type=int, default=200_000,
                    help="events the bt2-Python reader decodes (its rate is per event)")
    args = ap.parse_args()
    trace = args.trace or make_trace(args.cache, args.events_per_thread) / "trace"

    ours = run_py(OURS, str(trace))
    py = run_py(BT2, str(trace), str(args.sample))
    n_counter, t_counter, cpu_counter = counter(trace)

    ours_rate = ours["events"] / ours["seconds"]
    py_rate = py["events"] / py["seconds"]
    counter_rate = n_counter / t_counter
    df_mb = ours["df_bytes"] / 1e6
    peak_mb = ours["peak_kb"] / 1e3
    print(f"trace: {trace}  ({ours['events']:,} events; "
          + ", ".join(f"{k}: {v:,}" for k, v in ours["classes"].items()) + ")")
    print(f"decoders used: {', '.join(ours['backends'])}   cpus: {os.cpu_count()}")
    print(f"{'reader':44s} {'events':>12s} {'seconds':>9s} {'events/s':>12s}")
    print(f"{'correlate.open + .events (ours)':44s} {ours['events']:12,d} "
          f"{ours['seconds']:9.2f} {ours_rate:12,.0f}")
    print(f"{'bt2-Python reader, same columns (sample)':44s} {py['events']:12,d} "
          f"{py['seconds']:9.2f} {py_rate:12,.0f}")
    print(f"{'babeltrace2 -c sink.utils.counter':44s} {n_counter:12,d} "
          f"{t_counter:9.2f} {counter_rate:12,.0f}")
    print(f"speed-up vs bt2-Python: {ours_rate / py_rate:,.1f}x   "
          f"vs babeltrace2 counter: {ours_rate / counter_rate:,.2f}x")
    print(f"per CPU second (user+sys, what load does not change much): ours "
          f"{ours['events'] / ours['cpu']:,.0f} events/s ({ours['cpu']:.2f} s), "
          f"babeltrace2 counter {n_counter / cpu_counter:,.0f} events/s ({cpu_counter:.2f} s)")
    print(f"DataFrames: {df_mb:,.0f} MB   peak RSS growth while reading: {peak_mb:,.0f} MB   "
          f"ratio: {peak_mb / df_mb:.2f}x")
    ok = (ours["events"] >= 5_000_000 and ours_rate >= 3e6 and ours_rate >= counter_rate
          and ours_rate >= 50 * py_rate and peak_mb <= 2 * df_mb)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("acceptance (>=5M events, >=3M ev/s, >= babeltrace2 counter, >=50x bt2-Python, "
          "peak <=2x DataFrames): " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
