"""``usdk export DIR -o OUT``: read a trace and write its tables as Parquet files.

OUT receives ``events.parquet`` (every event, time-ordered), ``discarded.parquet`` and one
``event.<name>.parquet`` per event class (``:`` in names becomes ``__``); see
``correlate.open`` for the columns. A progress bar shows on a terminal for long reads.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  usdk export trace -o trace-parquet
  usdk export trace -o out --events 'shop:*' --events 'syscall_*_write'
  usdk export trace -o out --columns fd,count --start 1000000000 --end 2000000000
  usdk export damaged-trace -o out --partial
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="read a trace into DataFrames and write them as Parquet",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("trace", metavar="DIR", help="directory with CTF traces below it")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="directory to write the Parquet files into (created)")
    p.add_argument("--events", action="append", metavar="PATTERN",
                   help="event classes to read (fnmatch pattern, either kernel spelling); "
                        "repeatable")
    p.add_argument("--columns", metavar="A,B,...",
                   help="context/payload columns to keep (timestamp, cpu, pid, tid and "
                        "procname are always kept)")
    p.add_argument("--start", type=int, metavar="NS", help="first CLOCK_MONOTONIC ns to keep")
    p.add_argument("--end", type=int, metavar="NS", help="last CLOCK_MONOTONIC ns to keep")
    p.add_argument("--partial", action="store_true",
                   help="export the packets that decode and list the damaged ones")
    p.add_argument("--backend", choices=("auto", "native", "bt2"), default="auto",
                   help="decoder (default: native where the layout allows, else babeltrace2)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import correlate

    trace = correlate.open(
        args.trace,
        events=args.events,
        columns=args.columns.split(",") if args.columns else None,
        start=args.start,
        end=args.end,
        partial=args.partial,
        backend=args.backend,
    )
    files = trace.to_parquet(args.output)
    print(f"{len(trace):,} events in {len(trace.names)} classes -> {args.output} "
          f"({len(files)} files)", file=sys.stderr)
    for d in trace.damage:
        print(f"damaged: {d.path} at offset {d.offset}: {d.message}", file=sys.stderr)
    return 0
