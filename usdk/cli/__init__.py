"""The ``usdk`` command line: one module per subcommand, discovered from COMMANDS.

Each command module defines ``add_parser(subparsers)`` (registering its parser with
``set_defaults(run=...)``) and is imported only when the CLI starts, so ``import usdk``
stays light. Examples::

    usdk record --ext4 --syscalls io -o trace -- python app.py
    usdk report trace --format json
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from usdk.errors import UsdkError

# Subcommand modules under usdk/cli/, in --help order. A module that does not exist yet
# is skipped, so each command can land on its own.
COMMANDS = (
    "record",
    "list",
    "doctor",
    "export",
    "report",
    "attribute",
    "syscalls",
    "build_provider",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usdk",
        description=(
            "Typed LTTng user-space tracepoints, recorded with kernel events and correlated."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  usdk doctor\n"
            "  usdk record --ext4 --syscalls io -o trace -- python app.py\n"
            "  usdk report trace --format text\n"
        ),
    )
    from usdk import __version__

    parser.add_argument("--version", action="version", version=f"usdk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"usdk.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"usdk.cli.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except UsdkError as e:
        print(f"usdk {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
