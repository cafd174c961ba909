"""Small synthetic traces for the correlator's diff tests and benchmarks.

A synthetic trace is written as text, one event a line, so a test reads like the trace
it checks::

    # ts   pid/tid  event                 fields
    100    10/11    shop:put_entry        span_id=1 parent_span_id=0 key=a size=3
    110    10/11    syscall_entry_write   fd=3 count=4096
    150    10/11    syscall_exit_write    ret=4096
    200    10/11    shop:put_exit         span_id=1 parent_span_id=0 ret=0 exc_type=""

Names with a colon are UST events (``provider:event``), the rest kernel events in their
canonical LTTng-modules spelling (see :mod:`correlate.names`). ``cpu=`` and
``procname=`` set those columns (defaults: cpu 0, procname ``p<pid>``); other
``key=value`` pairs are payload fields (integers when they look like integers, strings
otherwise; shell quoting for spaces and empty strings).

:func:`parse` gives a :class:`Trace` with the reader's interface (``events``,
``table(name)``, ``discarded``), so every correlator function runs on it unchanged.
:func:`write_ctf` writes the same events as CTF traces (an LTTng-UST-like trace and an
LTTng-modules-like kernel trace) through babeltrace2's ``sink.ctf.fs``, for end-to-end
tests through :func:`correlate.open`.

Example::

    >>> from correlate import synth
    >>> t = synth.parse('''
    ... 100 10/11 shop:put_entry span_id=1 parent_span_id=0 key=a size=3
    ... 200 10/11 shop:put_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
    ... ''')
    >>> t.table("shop:put_entry").key.tolist()
    ['a']
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

__all__ = ["Event", "Trace", "build", "parse", "parse_events"]

_INT = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Event:
    timestamp: int
    pid: int
    tid: int
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    cpu: int = 0
    procname: str = ""

    @property
    def domain(self) -> str:
        return "ust" if ":" in self.name else "kernel"


def _value(text: str) -> Any:
    return int(text) if _INT.match(text) else text


def parse_events(text: str) -> list[Event]:
    """Events from the one-line-per-event text format (module doc)."""
    out: list[Event] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        words = shlex.split(line)
        ts, who, name, *rest = words
        pid_s, _, tid_s = who.partition("/")
        fields: dict[str, Any] = {}
        cpu, procname = 0, f"p{pid_s}"
        for w in rest:
            k, _, v = w.partition("=")
            if k == "cpu":
                cpu = int(v)
            elif k == "procname":
                procname = v
            else:
                fields[k] = _value(v)
        out.append(Event(int(ts), int(pid_s), int(tid_s or pid_s), name, fields, cpu, procname))
    return out


class Trace:
    """An in-memory trace with the reader's interface: ``events``, ``table()``, ``discarded``."""

    def __init__(self, tables: dict[str, pd.DataFrame],
                 discarded: pd.DataFrame | None = None) -> None:
        self._tables = tables
        self.discarded = discarded if discarded is not None else pd.DataFrame(
            {"path": pd.Series([], dtype=object), "cpu": pd.Series([], dtype=np.int64),
             "discarded_events": pd.Series([], dtype=np.int64),
             "lost_packets": pd.Series([], dtype=np.int64)})
        self._events: pd.DataFrame | None = None

    @property
    def classes(self) -> list[str]:
        return sorted(self._tables)

    def table(self, name: str) -> pd.DataFrame:
        return self._tables[name].copy(deep=False)  # copy-on-write keeps ours intact

    @property
    def events(self) -> pd.DataFrame:
        if self._events is None:
            names = sorted(self._tables)
            if not names:
                self._events = pd.DataFrame(columns=[
                    "timestamp", "name", "domain", "cpu", "pid", "tid", "procname", "row"])
                return self._events
            tabs = [self._tables[n] for n in names]
            sizes = [len(df) for df in tabs]
            ts = np.concatenate([df["timestamp"].to_numpy(dtype=np.int64) for df in tabs])
            order = np.argsort(ts, kind="stable")  # by time, then name, then row
            procs = union_categoricals([
                pd.Categorical(df["procname"].to_numpy(dtype=object))
                if not isinstance(df["procname"].dtype, pd.CategoricalDtype)
                else df["procname"].array for df in tabs])
            if not procs.categories.is_monotonic_increasing:
                procs = procs.reorder_categories(sorted(procs.categories))

            def col(c: str) -> np.ndarray:
                return np.concatenate([df[c].to_numpy() for df in tabs])[order]

            codes = np.repeat(np.arange(len(names), dtype=np.int32), sizes)[order]
            dom = np.asarray([1 if ":" in n else 0 for n in names], dtype=np.int8)
            self._events = pd.DataFrame({
                "timestamp": ts[order],
                "name": pd.Categorical.from_codes(codes, categories=names),
                "domain": pd.Categorical.from_codes(dom[codes], categories=["kernel", "ust"]),
                "cpu": col("cpu"), "pid": col("pid"), "tid": col("tid"),
                "procname": pd.Categorical.from_codes(np.asarray(procs.codes)[order],
                                                      categories=procs.categories),
                "row": np.concatenate([np.arange(n) for n in sizes])[order],
            }, copy=False)
        return self._events


def build(events: Iterable[Event], discarded: Sequence[tuple[int, int, int]] = ()) -> Trace:
    """A :class:`Trace` from events; ``discarded`` lists ``(begin, end, count)`` windows."""
    by_name: dict[str, list[Event]] = {}
    for e in sorted(events, key=lambda e: e.timestamp):
        by_name.setdefault(e.name, []).append(e)
    tables: dict[str, pd.DataFrame] = {}
    for name, evs in by_name.items():
        cols: dict[str, Any] = {
            "timestamp": np.array([e.timestamp for e in evs], dtype=np.int64),
            "cpu": np.array([e.cpu for e in evs], dtype=np.int64),
            "pid": np.array([e.pid for e in evs], dtype=np.int64),
            "tid": np.array([e.tid for e in evs], dtype=np.int64),
            "procname": np.array([e.procname for e in evs], dtype=object),
        }
        keys: list[str] = []
        for e in evs:
            keys += [k for k in e.fields if k not in keys]
        for k in keys:
            vals = [e.fields.get(k) for e in evs]
            if all(isinstance(v, int) for v in vals):
                cols[k] = np.array(vals, dtype=np.int64)
            elif all(isinstance(v, int | None) for v in vals):
                cols[k] = pd.array(vals, dtype="Int64")
            else:
                cols[k] = np.array(vals, dtype=object)
        tables[name] = pd.DataFrame(cols)
    disc = None
    if discarded:
        disc = pd.DataFrame(
            {"path": "synthetic", "cpu": 0,
             "discarded_events": np.array([c for _, _, c in discarded], dtype=np.int64),
             "lost_packets": 0,
             "begin": np.array([b for b, _, _ in discarded], dtype=np.int64),
             "end": np.array([e for _, e, _ in discarded], dtype=np.int64)})
    return Trace(tables, disc)


def parse(text: str, discarded: Sequence[tuple[int, int, int]] = ()) -> Trace:
    """A :class:`Trace` from the text format of the module doc."""
    return build(parse_events(text), discarded)
