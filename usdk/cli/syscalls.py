"""``usdk syscalls DIR``: system calls per process, operation or span."""

from __future__ import annotations

import argparse
from typing import Any

from usdk.cli import correlating

EPILOG = """\
columns (stable): the group (pid, procname | op | span), syscall, count, errors
  (calls returning < 0), total_ns, mean_ns, max_ns. Works on traces with kernel events
  only (--by process). With --by op, calls of threads outside any span are "(no span)".

examples:
  usdk syscalls trace
  usdk syscalls trace --by op --format json
  usdk syscalls trace --procname postgres --format csv -o sc.csv
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("syscalls", help="system call counts and time per process or operation",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    correlating.add_common(p, ("process", "op", "span"), "process")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import correlate

    a = correlating.open_analysis(args)
    if args.format == "html":
        correlating.write_html(a, args)
        return 0
    df = correlate.syscall_breakdown(a, by=args.by, **correlating.filters(args))
    correlating.emit(df, args, a.notes, f"system calls per {args.by}")
    return 0
