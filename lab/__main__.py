"""Run a command in the kernel lab's guest: ``python -m lab [--timeout S] [-o DIR] -- CMD...``.

Builds the lab first if the cache is cold. Exits with the command's exit status (or 124 when the
guest timed out, 125 when it stopped without a result) and prints where the results are.

Examples::

    python -m lab -- lttng list -k
    python -m lab -o /tmp/lab -- '.venv/bin/python -m pytest -ra tests/lab/guest'
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from lab.vm import LabUnavailable, build, run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=float, default=300, help="kill the guest after S seconds")
    p.add_argument("-o", "--out", type=Path, help="empty directory for the results "
                   "(default: a new temporary one)")
    p.add_argument("--ext4-mb", type=int, default=128, help="size of the ext4 disk (0: none)")
    p.add_argument("command", nargs="+", help="shell command run in the guest, from the repo root")
    a = p.parse_args(argv)
    try:
        lab_build = build()
    except LabUnavailable as e:
        print(f"lab unavailable: {e.reason}\n{e.log}", file=sys.stderr)
        return 2
    out = a.out or Path(tempfile.mkdtemp(prefix="usdk-lab-")) / "out"
    command = a.command[0] if len(a.command) == 1 else shlex.join(a.command)
    result = run(lab_build, command, out, timeout=a.timeout, ext4_mb=a.ext4_mb)
    sys.stdout.write(result.log)
    print(f"lab: {result.seconds:.1f} s, results in {out}, console {result.console_path}",
          file=sys.stderr)
    if not result.ok:
        print(result.failure_report(), file=sys.stderr)
        return 124 if result.timed_out else 125 if result.returncode is None else result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
