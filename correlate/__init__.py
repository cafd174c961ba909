"""usdk's trace analysis: read CTF traces into pandas, correlate user and kernel events.

Layers, data flowing one way: read (trace -> columns) -> state (pair entry/exit,
per-thread stacks) -> join (time window + tid) -> report (tables, plots).
"""

from correlate.read import (  # the reader's public names
    Backend,
    Clock,
    Damage,
    DiscardedEventsWarning,
    Trace,
    open,
)

__all__ = ["Backend", "Clock", "Damage", "DiscardedEventsWarning", "Trace", "open"]

# The correlator (state -> join -> report), on the reader's tables.
from correlate.analysis import Analysis  # noqa: E402
from correlate.report import (  # noqa: E402
    attribute_table,
    latency_report,
    process_table,
    span_figures,
    syscall_breakdown,
)
from correlate.spans import spans  # noqa: E402
from correlate.syscalls import syscalls  # noqa: E402

__all__ += [
    "Analysis", "attribute_table", "latency_report", "process_table", "span_figures",
    "spans", "syscall_breakdown", "syscalls",
]
