"""What ``usdk report``, ``usdk attribute`` and ``usdk syscalls`` share: the trace, filter
and output options, opening the analysis and writing a table in the chosen format.

pandas and the correlator are imported inside the functions, so ``import usdk`` (and
``usdk --help``) stay light.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

FORMATS = ("text", "csv", "json", "html")


def add_common(p: argparse.ArgumentParser, by: tuple[str, ...], default_by: str) -> None:
    p.add_argument("trace", metavar="DIR", help="trace directory (usdk record -o DIR)")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--by", choices=by, default=default_by, help=f"one row per {'|'.join(by)}")
    p.add_argument("--op", action="append", default=[], metavar="PATTERN",
                   help="only operations matching this fnmatch pattern (repeatable)")
    p.add_argument("--pid", action="append", type=int, default=[], help="only this pid")
    p.add_argument("--procname", action="append", default=[], help="only this process name")
    p.add_argument("--start", type=int, metavar="NS",
                   help="ignore events before this CLOCK_MONOTONIC timestamp (ns)")
    p.add_argument("--end", type=int, metavar="NS",
                   help="ignore events after this CLOCK_MONOTONIC timestamp (ns)")


def filters(args: argparse.Namespace) -> dict[str, Any]:
    return {"ops": args.op, "pids": args.pid, "procnames": args.procname}


def open_analysis(args: argparse.Namespace) -> Any:
    import correlate

    trace = correlate.open(args.trace, start=args.start, end=args.end)
    return correlate.Analysis(trace)


def records(df: Any) -> list[dict[str, Any]]:
    """JSON-ready rows: missing values become null, numpy scalars plain Python numbers."""
    return json.loads(df.to_json(orient="records"))


def write(text: str, args: argparse.Namespace) -> None:
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def emit(df: Any, args: argparse.Namespace, notes: list[str], title: str) -> None:
    """Write ``df`` as text (with notes), csv or json (notes on stderr)."""
    if args.format == "csv":
        write(df.to_csv(index=False), args)
    elif args.format == "json":
        write(json.dumps(records(df), indent=1) + "\n", args)
    else:
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 250,
                               "display.max_colwidth", 60):
            body = df.to_string(index=False) if len(df) else "(nothing to report)"
        text = f"{title}\n\n{body}\n"
        if notes:
            text += "\nnotes:\n" + "".join(f"  - {n}\n" for n in notes)
        write(text, args)
        return
    emit_notes(notes)


def emit_notes(notes: list[str]) -> None:
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
