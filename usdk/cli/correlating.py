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
    p.add_argument("--wide", action="store_true",
                   help="text: every column, raw numbers (csv and json always have them all)")
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


def write_html(a: Any, args: argparse.Namespace) -> None:
    """The self-contained HTML report of the analysis (the same page for every command)."""
    from correlate import html

    write(html.render(a, **filters(args)), args)


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

        shown, hidden = (df, []) if getattr(args, "wide", False) else readable(df)
        with pd.option_context("display.max_columns", None, "display.width", 250,
                               "display.max_colwidth", 60):
            body = shown.to_string(index=False) if len(shown) else "(nothing to report)"
        text = f"{title}\n\n{body}\n"
        if hidden:
            text += f"\n({len(hidden)} more columns with --wide: {', '.join(hidden[:6])}"
            text += ", ...)\n" if len(hidden) > 6 else ")\n"
        if notes:
            text += "\nnotes:\n" + "".join(f"  - {n}\n" for n in notes)
        write(text, args)
        return
    emit_notes(notes)


def readable(df: Any) -> tuple[Any, list[str]]:
    """The text view: durations and sizes in units, without the ``total_*`` twins and
    without columns that say nothing (all zero, empty or false). Returns (view, hidden)."""
    import pandas as pd

    hidden = [c for c in df.columns if str(c).startswith("total_")]
    for c in df.columns:
        if c in hidden or c in ("op", "count") or len(df) == 0:
            continue
        col = df[c]
        numeric = pd.api.types.is_numeric_dtype(col) and col.dtype != bool
        if (
            col.isna().all()
            or (col.dtype == bool and not col.any())
            or (numeric and (col.fillna(0) == 0).all())
        ):
            hidden.append(c)
    view = df.drop(columns=hidden).copy()
    for c in view.columns:
        name = str(c)
        if not pd.api.types.is_numeric_dtype(view[c]) or view[c].dtype == bool:
            continue
        if name.endswith("_ns") or name == "duration":
            view[c] = view[c].map(_duration)
        elif "bytes" in name:
            view[c] = view[c].map(_size)
    if "files" in view.columns:
        cells, common = short_files(view["files"].tolist())
        view["files"] = cells
        if common and common != "/":
            view = view.rename(columns={"files": f"files (in {common}/)"})
    view.columns = [str(c).removesuffix("_ns") for c in view.columns]
    return view, hidden


def short_files(col: list[Any], width: int = 48) -> tuple[list[str], str]:
    """The ``files`` column for a terminal: paths relative to the directory all share
    (returned, for the header), each cell cut to ``width`` with a count of the rest."""
    import os

    cells = [str(v) if isinstance(v, str) else "" for v in col]
    paths = [p for c in cells for p in c.split(";") if p.startswith("/")]
    common = os.path.commonpath(paths) if len(paths) > 1 else ""
    if common and common in paths:  # one file: keep its name
        common = os.path.dirname(common)
    out = []
    for c in cells:
        names = [os.path.relpath(p, common) if common and p.startswith("/") else p
                 for p in c.split(";") if p]
        text = ";".join(names)
        if len(text) > width:
            kept: list[str] = []
            for n in names:
                if len(";".join([*kept, n])) > width - 8 and kept:
                    break
                kept.append(n)
            if len(kept) < len(names):
                text = ";".join(kept) + f";… (+{len(names) - len(kept)})"
        out.append(text)
    return out, common


def _duration(v: Any) -> str:
    import pandas as pd

    if pd.isna(v):
        return "-"
    v = float(v)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.0f} ns"


def _size(v: Any) -> str:
    import pandas as pd

    if pd.isna(v):
        return "-"
    v = float(v)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.0f} B"


def emit_notes(notes: list[str]) -> None:
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
