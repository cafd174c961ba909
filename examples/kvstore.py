"""A small storage-like app instrumented with usdk: the bundled example of `make demo`.

Each operation is a span of the `kvstore` provider; `put` appends records to a data file,
`sync` fsyncs it, `compact` rewrites live keys into a new file and fsyncs it, `get`
reads a record back. Run it alone (``python examples/kvstore.py DIR``) or under
``usdk record``. It prints the work it did per operation as JSON on stdout so tests can
compare the report with the truth.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
from collections import Counter
from pathlib import Path

import usdk

kv = usdk.Provider("kvstore")


class Durability(enum.IntEnum):
    NONE = 0
    FSYNC = 1


evicted = kv.event("cache_evict", key=str, size=int)
work: Counter[str] = Counter()


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "data.log"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.index: dict[str, bytes] = {}

    def _write(self, op: str, fd: int, data: bytes) -> None:
        n = os.write(fd, data)
        work[f"{op}.write_syscalls"] += 1
        work[f"{op}.write_bytes"] += n

    @kv.tracepoint
    def put(self, key: str, size: int, durability: Durability = Durability.NONE) -> int:
        record = key.encode() + b"=" + b"v" * size + b"\n"
        self._write("put", self.fd, record)
        self.index[key] = record
        if durability is Durability.FSYNC:
            os.fsync(self.fd)
            work["put.fsyncs"] += 1
        work["put.count"] += 1
        return len(record)

    @kv.tracepoint
    def get(self, key: str) -> bool:
        work["get.count"] += 1
        return key in self.index

    @kv.tracepoint
    def sync(self) -> None:
        os.fsync(self.fd)
        work["sync.fsyncs"] += 1
        work["sync.count"] += 1

    @kv.tracepoint
    def compact(self, keep: int) -> int:
        tmp = self.root / "data.compact"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        kept = list(self.index)[-keep:]
        for key in kept:
            self._write("compact", fd, self.index[key])
        for key in list(self.index)[:-keep]:
            evicted(key=key, size=len(self.index.pop(key)))
        os.fsync(fd)
        work["compact.fsyncs"] += 1
        os.close(fd)
        work["compact.count"] += 1
        return len(kept)


def run(root: Path, ops: int) -> dict[str, int]:
    store = Store(root)
    for i in range(ops):
        store.put(
            f"k{i:05d}", 100 + (i % 7) * 300, Durability.FSYNC if i % 10 == 9 else Durability.NONE
        )
        if i % 3 == 0:
            store.get(f"k{i // 2:05d}")
        if i % 25 == 24:
            store.sync()
    store.compact(keep=max(1, ops // 4))
    os.close(store.fd)
    return dict(work)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, help="where the store writes its files (use an ext4 folder)")
    ap.add_argument("--ops", type=int, default=100)
    args = ap.parse_args(argv)
    json.dump(run(args.dir, args.ops), sys.stdout, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
