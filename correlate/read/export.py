"""Writing a read trace as Parquet: one file per table, plus the events and discard tables.

List columns (arrays, sequences) become Parquet lists; structures become structs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from correlate.read.trace import Trace


def file_name(name: str) -> str:
    """A file-system-safe stem for event class ``name`` (``shop:op`` -> ``shop__op``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.replace(":", "__"))


def write_parquet(trace: Trace, out: Path) -> list[Path]:
    """Write ``events.parquet``, ``discarded.parquet`` and ``<class>.parquet`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tables = {"events": trace.events, "discarded": trace.discarded}
    for name in trace.names:
        tables[f"event.{file_name(name)}"] = trace.table(name)
    for stem, df in tables.items():
        path = out / f"{stem}.parquet"
        df.to_parquet(path, index=False)
        written.append(path)
    return written
