"""``make demo``: record the bundled kvstore app with UST + kernel events, print the report.

Runs ``usdk record --ext4 --syscalls io --sched --pmu task-clock,page-faults`` on
``examples/kvstore.py`` (a small storage-like app whose put/get/sync/compact operations
write and fsync files), then the correlated reports: latency per operation with where its
time went, and ext4 write attribution per operation, checked against the app's own counts.

Usage: ``python -m usdk.demo [--ops N] [--out DIR]`` (root; ``usdk record`` starts an
lttng-sessiond for the recording when none runs; scripts/setup.sh installs everything).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=300, help="put operations the app performs")
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "build" / "demo",
        help="folder for the app's data and the trace (a new run subfolder each time)",
    )
    args = ap.parse_args(argv)

    run_dir = args.out / time.strftime("run-%Y%m%d-%H%M%S")
    trace, data = run_dir / "trace", run_dir / "data"
    run_dir.mkdir(parents=True, exist_ok=False)
    usdk_cli = [sys.executable, "-m", "usdk.cli"]
    app = [sys.executable, str(ROOT / "examples" / "kvstore.py"), str(data), "--ops", str(args.ops)]
    record = [
        *usdk_cli,
        "record",
        "--ust",
        "kvstore:*",
        "--ust",
        "usdk:*",
        "--ext4",
        "--syscalls",
        "io",
        "--sched",
        "--pmu",
        "task-clock,page-faults",
        "-o",
        str(trace),
        "--",
        *app,
    ]
    print("demo: $", " ".join(record[2:]).replace(sys.executable, "python"), flush=True)
    proc = subprocess.run(record, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        print(proc.stdout)
        print(f"demo: recording failed (exit {proc.returncode})", file=sys.stderr)
        return proc.returncode
    truth = json.loads(proc.stdout.strip().splitlines()[-1])

    print("\n== latency per operation (usdk report) ==", flush=True)
    subprocess.run([*usdk_cli, "report", str(trace), "--format", "text"], check=True)
    print("\n== ext4 write attribution per operation (usdk attribute) ==", flush=True)
    attributed = subprocess.run(
        [*usdk_cli, "attribute", str(trace), "--format", "json"],
        check=True,
        capture_output=True,  # its notes are the ones the text run prints below
        text=True,
    ).stdout
    subprocess.run([*usdk_cli, "attribute", str(trace), "--format", "text"], check=True)
    rows = {r["op"]: r for r in json.loads(attributed)}

    print("\n== check: the report against the app's own counts ==")
    ok = True
    for op in ("put", "compact"):
        row = rows.get(f"kvstore:{op}", {})
        for key in ("write_syscalls", "write_bytes"):
            want, got = truth.get(f"{op}.{key}", 0), row.get(key)
            ok &= want == got
            print(
                f"  kvstore:{op:8s} {key:15s} app {want:>8}  report {got!s:>8}  "
                f"{'ok' if want == got else 'MISMATCH'}"
            )
    print(
        f"\ndemo: trace kept in {trace} (babeltrace2 {trace} shows it; "
        f"usdk report {trace} --format html -o report.html draws it)"
    )
    if shutil.which("babeltrace2") is None:
        print("demo: babeltrace2 is not installed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
