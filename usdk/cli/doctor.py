"""``usdk doctor``: check this machine for recording and say how to fix what does not work."""

from __future__ import annotations

import argparse
import dataclasses
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check sessiond, kernel tracer, perf, tracefs, counters",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  usdk doctor\n  usdk doctor --format json\n")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from usdk.doctor import kernel_backend_verdict, run_checks

    checks = run_checks()
    verdict = kernel_backend_verdict(checks)
    if args.format == "json":
        print(json.dumps({"checks": [dataclasses.asdict(c) for c in checks],
                          "verdict": verdict}, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "no  ")
            print(f"{mark} {c.name:<{width}}  {c.detail}")
            if not c.ok:
                print(f"     {'':<{width}}  fix: {c.fix}")
        print(verdict)
    return 0 if all(c.ok for c in checks if c.required) else 1
