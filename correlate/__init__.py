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
