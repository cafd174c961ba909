"""Compile a typed provider into an importable extension module, and find built ones.

A provider generation (the events a provider had when it was loaded) becomes one cffi
API-mode module named ``_usdk_tp_<provider>_<hash>``, where the hash covers every event
signature and usdk's version. Lookup order for that module name:

1. ``USDK_PROVIDER_PATH`` (``os.pathsep``-separated folders, e.g. from ``usdk build-provider``),
2. ``sys.path`` (an ahead-of-time build shipped inside the application),
3. the cache (``USDK_CACHE_DIR``, else ``$XDG_CACHE_HOME/usdk``, else ``~/.cache/usdk``),
   where a missing module is compiled, once, by a child interpreter running this module.

Example (ahead of time, like ``lttng-gen-tp``)::

    usdk build-provider myapp.tracing:shop -o myapp/_tracepoints
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from usdk import codegen
from usdk.errors import ProviderBuildError
from usdk.schema import EventSchema


def cache_dir() -> Path:
    if os.environ.get("USDK_CACHE_DIR"):
        return Path(os.environ["USDK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "usdk"


def module_name(provider: str, digest: str) -> str:
    return f"_usdk_tp_{provider}_{digest}"


def _suffixes() -> list[str]:
    return list(importlib.machinery.EXTENSION_SUFFIXES)


def find_built(modname: str) -> Path | None:
    """The path of an already-built module, or None."""
    folders = [p for p in os.environ.get("USDK_PROVIDER_PATH", "").split(os.pathsep) if p]
    folders += [p for p in sys.path if p]
    folders.append(str(cache_dir() / "providers" / modname))
    for folder in folders:
        for suffix in _suffixes():
            candidate = Path(folder) / f"{modname}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def write_sources(folder: Path, provider: str, events: Sequence[EventSchema], origin: str) -> None:
    """Write the readable provider header, the C wrappers and the cdef into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / codegen.header_name(provider)).write_text(
        codegen.render_header(provider, events, origin=origin)
    )
    (folder / f"{provider}_tp.c").write_text(codegen.render_source(provider, events))
    (folder / f"{provider}_tp.cdef").write_text(codegen.render_cdef(events))


def compile_module(
    modname: str, provider: str, events: Sequence[EventSchema], out_dir: Path, *, origin: str = ""
) -> Path:
    """Compile the provider into out_dir/<modname><suffix>; raises ProviderBuildError.

    The compiler runs in a child interpreter (its output captured for the error) inside a
    temporary folder, and the result is renamed into place, so concurrent builds of the
    same provider are safe.
    """
    if shutil.which(os.environ.get("CC", "cc")) is None:
        raise ProviderBuildError(
            f"cannot build tracepoint provider {provider!r}: no C compiler "
            "(install build-essential and liblttng-ust-dev, or build it ahead of time "
            "with `usdk build-provider` and put the result on USDK_PROVIDER_PATH)",
            provider=provider,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{modname}-", dir=out_dir) as tmp:
        work = Path(tmp)
        write_sources(work, provider, events, origin)
        proc = subprocess.run(
            [sys.executable, "-m", "usdk.build", modname, provider, str(work)],
            capture_output=True,
            text=True,
        )
        built = [p for s in _suffixes() for p in work.glob(f"{modname}{s}")]
        if proc.returncode != 0 or not built:
            raise ProviderBuildError(
                f"cannot build tracepoint provider {provider!r}: the C compiler failed "
                "(is liblttng-ust-dev installed?)",
                provider=provider,
                log=proc.stdout + proc.stderr,
            )
        for name in (codegen.header_name(provider), f"{provider}_tp.c", f"{provider}_tp.cdef"):
            os.replace(work / name, out_dir / name)
        target = out_dir / built[0].name
        os.replace(built[0], target)
    return target


def load_module(modname: str, path: Path) -> ModuleType:
    """Import an extension module from a file. It is never unloaded (never dlclosed)."""
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ProviderBuildError(f"cannot load tracepoint provider module {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[modname] = module
    return module


def _child_compile(modname: str, provider: str, work: Path) -> None:
    """Runs in the child interpreter: cffi API mode, against the installed lttng-ust headers."""
    from cffi import FFI

    ffi = FFI()
    ffi.cdef((work / f"{provider}_tp.cdef").read_text())
    ffi.set_source(
        modname,
        (work / f"{provider}_tp.c").read_text(),
        include_dirs=[str(work)],
        libraries=["lttng-ust", "dl"],
        extra_compile_args=["-O2"],
    )
    ffi.compile(tmpdir=str(work), verbose=False)


if __name__ == "__main__":
    _child_compile(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
