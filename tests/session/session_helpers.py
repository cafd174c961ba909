"""Helpers for the session builder's tests (a uniquely named module: importable from tests).

``read_events(DIR)`` returns every event of every trace under DIR, muxed by babeltrace2
into one time order, as small dicts: ``name``, ``ts`` (ns from origin), ``tid``
(``vtid``, ``tid`` or ``perf_tid``, whichever the event carries) and ``fields`` (payload
and contexts merged).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
WORKLOAD = HERE / "workload_writes.py"
PYTHON = sys.executable


def _fields(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in ("common_context_field", "specific_context_field", "payload_field"):
        f = getattr(event, attr, None)
        if f is None:
            continue
        for k in f:
            v = f[k]
            try:
                out[str(k)] = int(v)
            except (TypeError, ValueError):
                out[str(k)] = str(v)
    return out


def read_events(path: str | Path) -> list[dict[str, Any]]:
    import bt2

    events: list[dict[str, Any]] = []
    for msg in bt2.TraceCollectionMessageIterator(str(path)):
        if not hasattr(msg, "event"):
            continue
        ev = msg.event
        fields = _fields(ev)
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            fields["cpu_id"] = int(ev.packet.context_field["cpu_id"])
        tid = fields.get("vtid", fields.get("tid", fields.get("perf_tid")))
        events.append({"name": ev.name, "ts": msg.default_clock_snapshot.ns_from_origin,
                       "tid": tid, "fields": fields})
    return events
