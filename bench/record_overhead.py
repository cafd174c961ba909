"""What recording costs: a write-heavy workload's throughput traced vs untraced, one run.

The workload does OPS ``@shop.tracepoint`` operations, each doing WRITES appending
writes of SIZE bytes to one file on the current filesystem (ext4 here). It runs
untraced, then under ``usdk record`` for every configuration this machine supports:

    ust       UST events only (--kernel-backend none), counters task-clock, page-faults
    perf      + --ext4 --syscalls io through linux-perf (needs root)
    lttng     + --ext4 --syscalls io through the LTTng kernel tracer (needs lttng-modules)

and prints ops/s (wall clock), ops per CPU-second of the workload process (less
sensitive to other load on the machine; tracepoint handlers run on the traced thread,
so their cost is in it), the ratios to the untraced run, and the events recorded per
second (kernel events are system-wide: other processes' I/O counts too).

    sudo .venv/bin/python bench/record_overhead.py [--ops 20000] [--writes 4] [--size 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def workload(directory: str, ops: int, writes: int, size: int) -> None:
    import usdk

    shop = usdk.Provider("shop")

    @shop.tracepoint
    def put(key: str, size: int) -> int:
        for _ in range(writes):
            os.write(fd, payload)
        return size * writes

    payload = b"x" * size
    fd = os.open(os.path.join(directory, "data"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    shop.load()
    put("warm", size)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(ops):
        put(f"k{i % 64}", size)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    os.close(fd)
    print(json.dumps({"ops": ops, "elapsed_s": elapsed, "ops_per_s": ops / elapsed,
                      "ops_per_cpu_s": ops / cpu}))


def _run(argv: list[str]) -> dict[str, float]:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{r.stderr[-3000:]}")
    result: dict[str, float] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--writes", type=int, default=4)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--workload", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workload:
        workload(args.workload, args.ops, args.writes, args.size)
        return 0

    from usdk.doctor import run_checks
    from usdk.manifest import read_manifest

    checks = {c.name: c.ok for c in run_checks()}
    configs: list[tuple[str, list[str]]] = []
    if checks["session daemon"]:
        configs.append(("ust", ["--kernel-backend", "none"]))
        kernel = ["--ext4", "--syscalls", "io"]
        if checks["perf can record tracepoints"]:
            configs.append(("perf", ["--kernel-backend", "perf", *kernel]))
        if checks["LTTng kernel tracer"]:
            configs.append(("lttng", ["--kernel-backend", "lttng", *kernel]))
    root = Path(tempfile.mkdtemp(prefix="usdk-bench-", dir=os.getcwd()))
    py = sys.executable
    me = str(Path(__file__).resolve())
    rows = []
    try:
        def wl(tag: str) -> list[str]:
            data = root / f"data-{tag}"  # fresh files for every run
            data.mkdir()
            return [py, me, "--workload", str(data), "--ops", str(args.ops), "--writes",
                    str(args.writes), "--size", str(args.size)]

        # untraced before and after the traced runs: machine noise shows as their spread
        r1 = _run(wl("untraced-1"))
        traced = []
        for name, extra in configs:
            out = root / f"trace-{name}"
            res = _run([py, "-m", "usdk.cli", "record", "-q", "--pmu",
                        "task-clock,page-faults", *extra, "-o", str(out), "--", *wl(name)])
            m = read_manifest(out)
            dur = (m["stop"]["monotonic_ns"] - m["start"]["monotonic_ns"]) / 1e9
            ust, kern = m["events"]["ust"] or 0, m["events"]["kernel"] or 0
            lost = sum((c.get("discarded_events") or 0) + (c.get("lost_samples") or 0)
                       for c in m["channels"])
            traced.append((name, res["ops_per_s"], res["ops_per_cpu_s"], (ust + kern) / dur,
                           f"ust {ust:,} kernel {kern:,} lost {lost:,}"))
        r2 = _run(wl("untraced-2"))
        base = (r1["ops_per_s"] + r2["ops_per_s"]) / 2
        base_cpu = (r1["ops_per_cpu_s"] + r2["ops_per_cpu_s"]) / 2
        rows.append(("untraced", base, 1.0, base_cpu, 1.0, None,
                     f"runs {r1['ops_per_s']:,.0f} and {r2['ops_per_s']:,.0f} ops/s "
                     "(before/after)"))
        for name, ops, cpu, evs, detail in traced:
            rows.append((name, ops, ops / base, cpu, cpu / base_cpu, evs, detail))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"workload: {args.ops} ops x {args.writes} writes of {args.size} B, one run")
    print(f"{'config':<9} {'ops/s':>9} {'ratio':>6} {'ops/cpu-s':>10} {'ratio':>6} "
          f"{'events/s':>10}  events")
    for name, ops, ratio, cpu, cratio, evs, detail in rows:
        evs_s = f"{evs:,.0f}" if evs is not None else "-"
        print(f"{name:<9} {ops:>9,.0f} {ratio:>6.3f} {cpu:>10,.0f} {cratio:>6.3f} "
              f"{evs_s:>10}  {detail or ''}")
    missing = {"perf": "perf can record tracepoints", "lttng": "LTTng kernel tracer"}
    for name, check in missing.items():
        if not checks.get(check):
            print(f"{name}: not measured ({check}: not available here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
