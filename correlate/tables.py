"""The correlator's view of a trace: event-class tables by canonical name, nothing else.

Every correlator function takes "a trace or tables": the object :func:`correlate.open`
returns, a :class:`correlate.synth.Trace` built in memory, or a plain mapping from
canonical event name to DataFrame (each with at least ``timestamp``, ``pid``, ``tid``
and the payload/context fields). :func:`as_tables` wraps any of them in :class:`Tables`,
which fetches each class once and remembers it, so the state/join layers can each ask
for what they need without reading twice.

Example::

    >>> tabs = as_tables({"syscall_entry_write": df_entry, "syscall_exit_write": df_exit})
    >>> tabs.names()
    ['syscall_entry_write', 'syscall_exit_write']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Tables", "as_tables", "is_ust_name"]


def is_ust_name(name: str) -> bool:
    """UST event names are ``provider:event``; canonical kernel names have no colon."""
    return ":" in name


class Tables:
    """Event-class tables of one trace, fetched on demand and cached."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self._cache: dict[str, pd.DataFrame | None] = {}
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        """Canonical names of the event classes the trace holds (sorted)."""
        if self._names is None:
            src = self.source
            if isinstance(src, Mapping):
                found: Iterable[str] = src.keys()
            else:
                found = ()
                for attr in ("classes", "names", "event_names"):
                    value = getattr(src, attr, None)
                    if value is None:
                        continue
                    value = value() if callable(value) else value
                    if isinstance(value, pd.DataFrame):
                        value = value.get("name", value.index)
                    found = [str(v) for v in value]
                    break
                else:
                    names = src.events["name"]
                    found = (
                        [str(c) for c in names.cat.categories]
                        if isinstance(names.dtype, pd.CategoricalDtype)
                        else [str(v) for v in pd.unique(names)]
                    )
            self._names = sorted(set(found))
        return self._names

    def has(self, name: str) -> bool:
        return name in self.names()

    def get(self, name: str) -> pd.DataFrame | None:
        """The table of event class ``name``, or ``None`` when the trace has none."""
        if name not in self._cache:
            df: pd.DataFrame | None = None
            if self.has(name):
                src = self.source
                df = src[name] if isinstance(src, Mapping) else src.table(name)
                if df is not None and len(df) == 0:
                    df = None
            self._cache[name] = df
        return self._cache[name]

    def matching(self, predicate: Callable[[str], bool]) -> list[str]:
        return [n for n in self.names() if predicate(n)]

    @property
    def events(self) -> pd.DataFrame | None:
        """The time-ordered table of every event, when the source has one."""
        return getattr(self.source, "events", None)

    @property
    def discarded(self) -> pd.DataFrame | None:
        """Per-stream discarded-event counts, when the source reports them."""
        value = getattr(self.source, "discarded", None)
        if value is None or isinstance(value, pd.DataFrame):
            return value
        # a list of dataclass records (correlate.read.model.StreamDiscards)
        return pd.DataFrame([vars(v) for v in value])


def as_tables(source: Any) -> Tables:
    """Wrap a trace, a synthetic trace or a name -> DataFrame mapping in :class:`Tables`."""
    return source if isinstance(source, Tables) else Tables(source)


def column(df: pd.DataFrame, name: str, default: Any = 0, dtype: Any = np.int64) -> np.ndarray:
    """Column ``name`` of ``df`` as an array, or ``default`` repeated when it is missing."""
    if name in df:
        values = df[name]
        if dtype is np.int64:
            return values.fillna(default).to_numpy(dtype=np.int64)
        return values.to_numpy()
    return np.full(len(df), default, dtype=dtype)
