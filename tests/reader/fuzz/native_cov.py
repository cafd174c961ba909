"""An edge-coverage build of the C decoder for the fuzzer, without clang.

gcc has no ``-fsanitize=fuzzer``, and libFuzzer (bundled in atheris) ignores gcc's
``-fsanitize-coverage=trace-pc`` callbacks. So this builds ``correlate._ctfdec`` from
correlate/native with ``-fsanitize-coverage=trace-pc`` plus a small shim whose
``__sanitizer_cov_trace_pc`` bumps an 8-bit counter per (hashed) edge, and registers the
shim's counters with atheris's libFuzzer (``__sanitizer_cov_8bit_counters_init`` and a
matching PC table): the decoder's edges then guide the fuzzer like Python's lines do.
Comparison tracing (``trace-cmp``) is not wired.

The build goes to a scratch directory; nothing is written into the source tree.
``load`` must run before anything imports ``correlate.read.fast``, ``register`` once
``atheris.Fuzz`` runs.
"""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NATIVE = Path(__file__).resolve().parents[3] / "correlate" / "native"
N = 1 << 16  # counters: SHIM's N (a 16-bit hash of the edge's address)

SHIM = r"""
#include <stdint.h>
#define N 65536
uint8_t usdk_cov_counters[N];
uintptr_t usdk_cov_pcs[2 * N];
void __sanitizer_cov_trace_pc(void)
{
    uintptr_t pc = (uintptr_t) __builtin_return_address(0);
    usdk_cov_counters[(uint32_t) (pc * 2654435761u) >> 16]++;
}
"""


def build(out: Path) -> Path:
    """Compile the instrumented extension into ``out``; return the .so's path."""
    from cffi import FFI

    sys.path.insert(0, str(NATIVE))
    import _build  # correlate/native/_build.py: the cdef and the ABI version

    out.mkdir(parents=True, exist_ok=True)
    (out / "shim.c").write_text(SHIM)
    subprocess.run(["gcc", "-O2", "-fPIC", "-c", "-o", str(out / "shim.o"), str(out / "shim.c")],
                   check=True)
    ffi = FFI()
    ffi.cdef((NATIVE / "decoder.cdef").read_text())
    ffi.cdef("static const int CTFDEC_ABI_VERSION;")
    ffi.set_source(_build.MODULE, '#include "decoder.h"\n'
                   f"static const int CTFDEC_ABI_VERSION = {_build.ABI_VERSION};\n",
                   sources=[str(NATIVE / "decoder.c")], include_dirs=[str(NATIVE)],
                   extra_compile_args=["-O1", "-fsanitize-coverage=trace-pc"],
                   extra_objects=[str(out / "shim.o")])
    return Path(ffi.compile(tmpdir=str(out)))


def load(so: str) -> None:
    """Import ``so`` (or a fresh build when it is ``"build"``) as ``correlate._ctfdec`` and
    register its counters with atheris's libFuzzer."""
    import atheris  # noqa: F401 - loads libFuzzer

    import correlate

    scratch = Path(tempfile.mkdtemp(prefix="usdk-ctfdec-")) if so == "build" else None
    path = build(scratch) if scratch else Path(so)
    spec = importlib.util.spec_from_file_location("correlate._ctfdec", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules["correlate._ctfdec"] = mod
    correlate._ctfdec = mod
    global _loaded
    _loaded = ctypes.CDLL(str(path))  # the module just loaded (same handle)
    if scratch:  # loaded: the mapping outlives the file
        shutil.rmtree(scratch)
    print(f"INFO: native decoder instrumented: {path}", file=sys.stderr)


_loaded: ctypes.CDLL | None = None


def register() -> None:
    """Hand the loaded build's counters to libFuzzer (from the first fuzzed input:
    ``atheris.Fuzz`` loads libFuzzer)."""
    me = _loaded
    assert me is not None, "native_cov.load first"
    fuzzer = next(line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                  if "atheris/core_with_libfuzzer" in line)
    lf = ctypes.CDLL(fuzzer)
    counters = ctypes.addressof(ctypes.c_uint8.in_dll(me, "usdk_cov_counters"))
    pcs = (ctypes.c_size_t * (2 * N)).in_dll(me, "usdk_cov_pcs")
    for i in range(N):
        pcs[2 * i] = 0x10000 + i  # a fake, distinct PC per counter
    lf.__sanitizer_cov_8bit_counters_init(ctypes.c_void_p(counters),
                                          ctypes.c_void_p(counters + N))
    base = ctypes.addressof(pcs)
    lf.__sanitizer_cov_pcs_init(ctypes.c_void_p(base), ctypes.c_void_p(base + 2 * N * 8))
