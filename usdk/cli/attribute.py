"""``usdk attribute DIR``: ext4 write attribution per operation, span or process."""

from __future__ import annotations

import argparse
from typing import Any

from usdk.cli import correlating

EPILOG = """\
columns (stable): op, count, write_syscalls, write_bytes, write_bytes_asked,
  ext4_write_begin, ext4_bytes, fsyncs, fsync_ns, writeback_bytes, files, and the same
  figures including nested child spans with a total_ prefix. writeback_bytes is the
  writeback (also by kworkers, later) of the pages the operation dirtied, split in
  proportion to the bytes each operation dirtied; "(no span)" collects threads outside
  any span.

examples:
  usdk attribute trace
  usdk attribute trace --format csv -o writes.csv
  usdk attribute trace --by span --op 'shop:put'
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("attribute", help="ext4 writes, fsync and writeback per operation",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    correlating.add_common(p, ("op", "span", "process"), "op")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import correlate

    a = correlating.open_analysis(args)
    if args.format == "html":
        correlating.write_html(a, args)
        return 0
    if not a.has_spans:
        df = correlate.process_table(a, pids=args.pid, procnames=args.procname)
        title = "ext4 writes per process (no usdk spans in this trace)"
    else:
        df = correlate.attribute_table(a, by=args.by, **correlating.filters(args))
        title = f"ext4 write attribution per {args.by}"
    correlating.emit(df, args, a.notes, title)
    return 0
