"""``usdk report DIR``: where each operation's latency went (syscalls, off-CPU, on-CPU,
page faults, ext4), per operation, span or process."""

from __future__ import annotations

import argparse
from typing import Any

from usdk.cli import correlating

EPILOG = """\
columns (stable): op, count, open, mean_ns, p50_ns, p90_ns, p99_ns, max_ns, syscalls,
  syscall_ns, offcpu_ns, oncpu_ns, self_ns, page_faults, context_switches, write_bytes,
  ext4_bytes, fsync_ns, writeback_bytes, lower_bound, pmu_* counters, then total_* (the
  same figures including nested child spans). --format json adds "by_syscall": {name:
  {count, errors, total_ns, mean_ns, max_ns}} to each object. A figure whose events were
  not recorded is null. Traces without usdk spans get the per-process report.

examples:
  usdk report trace
  usdk report trace --format json -o report.json
  usdk report trace --format html -o report.html
  usdk report trace --by span --op 'shop:*' --format csv
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="latency report per operation, with kernel breakdown",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    correlating.add_common(p, ("op", "span", "process"), "op")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    import correlate

    a = correlating.open_analysis(args)
    f = correlating.filters(args)
    if args.format == "html":
        correlating.write_html(a, args)
        return 0
    if not a.has_spans:
        df = correlate.process_table(a, pids=args.pid, procnames=args.procname)
        correlating.emit(df, args, a.notes, "per-process report (no usdk spans in this trace)")
        return 0
    by = args.by
    df = correlate.latency_report(a, by=by, **f)
    if args.format != "json":
        correlating.emit(df, args, a.notes, f"latency report per {by}")
        return 0
    rows = correlating.records(df)
    key = {"op": ["op"], "span": ["span"], "process": ["pid", "procname"]}[by]
    sc = correlate.syscall_breakdown(a, by=by, **f)
    nested: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in correlating.records(sc):
        k = tuple(r[c] for c in key)
        nested.setdefault(k, {})[r["syscall"]] = {
            c: r[c] for c in ("count", "errors", "total_ns", "mean_ns", "max_ns")}
    for r in rows:
        r["by_syscall"] = nested.get(tuple(r[c] for c in key), {})
    correlating.write(json.dumps(rows, indent=1) + "\n", args)
    correlating.emit_notes(a.notes)
    return 0
