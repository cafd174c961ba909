"""Acceptance workload: a known number of writes inside ``@shop.tracepoint`` operations.

Runs ``OPS`` calls of ``shop:put`` on one worker thread; each opens a file under DIR,
does ``WRITES`` ``os.write`` calls of ``SIZE`` bytes and closes it. The worker thread
does nothing else, so every ``write`` syscall from its tid belongs to an operation.
When done, the main thread prints JSON: {"tid", "pid", "ops", "writes", "bytes"}.

    python3 workload_writes.py DIR [OPS] [WRITES] [SIZE]
"""

from __future__ import annotations

import json
import os
import sys
import threading

import usdk

shop = usdk.Provider("shop")


@shop.tracepoint
def put(key: str, size: int) -> int:
    fd = os.open(os.path.join(DIR, key), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(WRITES):
            os.write(fd, b"x" * size)
    finally:
        os.close(fd)
    return size * WRITES


DIR = sys.argv[1]
OPS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
WRITES = int(sys.argv[3]) if len(sys.argv) > 3 else 3
SIZE = int(sys.argv[4]) if len(sys.argv) > 4 else 1000


def main() -> None:
    shop.load()  # compile/load the provider before the measured work
    result: dict[str, int] = {}

    def work() -> None:
        result["tid"] = threading.get_native_id()
        for i in range(OPS):
            put(f"k{i}", SIZE)

    t = threading.Thread(target=work, name="shop-worker")
    t.start()
    t.join()
    print(json.dumps({"tid": result["tid"], "pid": os.getpid(), "ops": OPS,
                      "writes": OPS * WRITES, "bytes": OPS * WRITES * SIZE}))


if __name__ == "__main__":
    main()
