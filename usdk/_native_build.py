"""cffi (API mode) build script for usdk._native_lib, the built-in `usdk` provider.

CMakeLists.txt runs ``python usdk/_native_build.py --emit OUT.c --version X``; the cdef
(usdk/_native.cdef) and the C prelude (tp_providers/usdk_native.c) are separate files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def make_ffi(version: str) -> FFI:
    ffi = FFI()
    ffi.cdef((HERE / "_native.cdef").read_text())
    prelude = (
        f'#define USDK_NATIVE_VERSION "{version}"\n'
        + (ROOT / "tp_providers" / "usdk_native.c").read_text()
    )
    ffi.set_source("usdk._native_lib", prelude)
    return ffi


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emit", required=True, help="write the extension's C source here")
    ap.add_argument("--version", required=True)
    args = ap.parse_args()
    make_ffi(args.version).emit_c_code(args.emit)


if __name__ == "__main__":
    main()
