"""cffi (API mode) build script for ``correlate._ctfdec``, the native CTF decoder.

``correlate/native/CMakeLists.txt`` runs ``python correlate/native/_build.py --emit OUT.c``
and compiles OUT.c with decoder.c; during development ``--inplace`` builds the extension
next to the package with ``ffi.compile()``. The cdef (decoder.cdef) and the C code
(decoder.c, decoder.h) are separate files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
MODULE = "correlate._ctfdec"
ABI_VERSION = 8  # bump with any change of decoder.h's structs; checked by correlate.read.fast


def make_ffi(with_sources: bool = False) -> FFI:
    ffi = FFI()
    ffi.cdef((HERE / "decoder.cdef").read_text())
    ffi.cdef("static const int CTFDEC_ABI_VERSION;")
    prelude = f'#include "decoder.h"\nstatic const int CTFDEC_ABI_VERSION = {ABI_VERSION};\n'
    kwargs = {}
    if with_sources:
        kwargs = {"sources": [str(HERE / "decoder.c")], "include_dirs": [str(HERE)],
                  "extra_compile_args": ["-O2", "-Wall"]}
    ffi.set_source(MODULE, prelude, **kwargs)
    return ffi


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emit", help="write the extension's C source here")
    ap.add_argument("--inplace", action="store_true",
                    help="compile the extension into the source tree (development)")
    args = ap.parse_args()
    if args.emit:
        make_ffi().emit_c_code(args.emit)
    if args.inplace:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            so = make_ffi(with_sources=True).compile(tmpdir=tmp)
            target = HERE.parent / Path(so).name
            Path(so).replace(target)
            print(target)


if __name__ == "__main__":
    main()
