"""The lab's workload: a known number of file writes on the ext4 disk, in a known thread.

``python workload.py DIR --ops 5 --writes 4`` runs OPS operations; each creates its own file in
DIR, writes WRITES blocks of 4 KiB with one ``os.write`` each, fsyncs and closes it. With
``--usdk`` each operation is a ``@tracepoint`` (``usdk_lab:op_entry``/``op_exit``), so the
correlator can attribute the writes to operations. It prints one JSON line: pid, tid, comm and
the counts, which the tests compare with what the kernel tracer recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

BLOCK = 4096


def run(directory: Path, ops: int, writes: int, wrap: Callable[[Callable[[int], None]],
                                                              Callable[[int], None]]) -> None:
    block = b"u" * BLOCK

    @wrap
    def op(index: int) -> None:
        fd = os.open(directory / f"op-{index}.dat", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for _ in range(writes):
                os.write(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)

    for i in range(ops):
        op(i)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("directory", type=Path)
    p.add_argument("--ops", type=int, default=5)
    p.add_argument("--writes", type=int, default=4)
    p.add_argument("--usdk", action="store_true", help="make each operation a @tracepoint")
    a = p.parse_args()

    def wrap(f: Callable[[int], None]) -> Callable[[int], None]:
        return f

    if a.usdk:
        import usdk

        provider = usdk.Provider("usdk_lab")

        def wrap(f: Callable[[int], None]) -> Callable[[int], None]:  # noqa: F811
            def op(index: int) -> None:
                f(index)
            return provider.tracepoint(op)

    a.directory.mkdir(parents=True, exist_ok=True)
    run(a.directory, a.ops, a.writes, wrap)
    print(json.dumps({
        "pid": os.getpid(), "tid": threading.get_native_id(),
        "comm": Path("/proc/self/comm").read_text().strip(),
        "ops": a.ops, "writes_per_op": a.writes, "block": BLOCK,
    }))


if __name__ == "__main__":
    main()
