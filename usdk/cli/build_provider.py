"""``usdk build-provider``: compile typed providers ahead of time (like ``lttng-gen-tp``).

Imports the module that defines the providers (running its top level, as the application
would), then compiles every provider it defined — or the one named after ``:`` — into
``-o DIR`` as importable extension modules, with their readable ``<provider>_tp.h``.
Ship DIR with the application and put it on ``USDK_PROVIDER_PATH`` (or on ``sys.path``):
hosts without a compiler then trace with no build step.

The module name of a build covers every event of the provider, so build from the same
imports the application makes before its first event (or have it call ``provider.load()``
once everything is defined).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-provider",
        help="compile typed providers ahead of time",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  usdk build-provider myapp.tracing -o myapp/_tracepoints\n"
            "  usdk build-provider myapp.tracing:shop -o build/tp\n"
            "  USDK_PROVIDER_PATH=build/tp python -m myapp\n"
        ),
    )
    p.add_argument(
        "target", help="MODULE or MODULE:PROVIDER_NAME (a dotted module importable here)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to write modules into")
    p.add_argument(
        "--path",
        action="append",
        default=[],
        help="add a folder to sys.path before importing (repeatable)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from usdk import __version__, build, codegen
    from usdk.errors import ProviderBuildError, UsdkError
    from usdk.provider import BuiltinProvider, _registry
    from usdk.schema import schema_hash

    sys.path[:0] = [str(Path(p).resolve()) for p in args.path] + [str(Path.cwd())]
    module_name, _, wanted = args.target.partition(":")
    try:
        importlib.import_module(module_name)
    except ImportError as e:
        raise UsdkError(f"cannot import {module_name!r}: {e}") from e
    providers = [p for p in _registry.values() if not isinstance(p, BuiltinProvider)]
    if wanted:
        providers = [p for p in providers if p.name == wanted]
    if not providers:
        raise UsdkError(
            f"{args.target}: no usdk.Provider"
            + (f" named {wanted!r}" if wanted else "")
            + " defined on import"
        )
    for provider in providers:
        events = provider.events
        digest = schema_hash(
            provider.name, events, version=f"{__version__}/{codegen.CODEGEN_VERSION}"
        )
        modname = build.module_name(provider.name, digest)
        try:
            path = build.compile_module(
                modname, provider.name, events, args.output, origin=module_name
            )
        except ProviderBuildError as e:
            print(e.log, file=sys.stderr)
            raise
        print(f"{provider.name}: {len(events)} events -> {path}")
    return 0
