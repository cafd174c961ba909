"""The trace reader: CTF traces (LTTng UST/kernel, perf conversions) into pandas DataFrames.

Example::

    import correlate

    trace = correlate.open("trace")        # any directory with CTF traces below it
    trace.events                           # every event, time-ordered
    trace.table("shop:checkout_entry")     # one event class, typed columns

``correlate.open(path, *, events=None, columns=None, start=None, end=None, partial=False,
progress=None)`` reads every CTF trace below ``path`` (usdk record dirs, LTTng session
dirs with ``ust/`` and ``kernel/``, ``perf data convert --to-ctf`` output).

Schema
------
``trace.events``: one row per event, sorted by ``timestamp`` (stable; ties broken by
stream, then position in stream):

============  ==========  ==========================================================
column        dtype       meaning
============  ==========  ==========================================================
timestamp     int64       CLOCK_MONOTONIC ns (LTTng UST, LTTng kernel and perf alike)
name          category    canonical event name (:mod:`correlate.names`)
domain        category    ``"ust"`` or ``"kernel"``
cpu           int32       CPU of the stream (packet context ``cpu_id``), -1 if unknown
pid           int64       process id (see below), -1 if the trace lacks it
tid           int64       thread id (see below), -1 if the trace lacks it
procname      category    ``procname`` context, ``""`` when the trace lacks it
row           int64       row of this event in ``trace.table(name)``
============  ==========  ==========================================================

``trace.table(name)``: ``timestamp, cpu, pid, tid, procname``, then every context field
(``vpid``, ``vtid``, ``perf_thread_task_clock``, ...: babeltrace2's names, without the
metadata's leading ``_``), then every payload field: signed integers int64, unsigned
uint64, floats float64, booleans bool, enumerations categorical (the label; several labels
joined by ``|``; the number as text when no label maps), strings Python ``str``,
arrays/sequences Python lists (text arrays/sequences are strings), structures dicts.
Sequence length members (``_x_length``) are implied by the lists and left out. Rows are
in time order. ``pid``/``tid``: UST ``vpid``/``vtid`` contexts (else ``pid``/``tid``);
LTTng kernel ``pid``/``tid`` contexts; perf ``perf_pid``/``perf_tid``.

Kernel event and field names are canonical (LTTng-modules spelling) whatever the backend:
see :mod:`correlate.names`. ``trace.table()`` accepts either spelling.

``trace.discarded``: per stream ``path, stream_class_id, stream_id, cpu,
discarded_events, lost_packets`` (from packet contexts) and ``begin, end`` (nullable,
CLOCK_MONOTONIC ns: the window of packets around the losses, ``<NA>`` without loss); a
:class:`DiscardedEventsWarning` sums them when nonzero.

``trace.clock``: :class:`correlate.read.model.Clock`; ``trace.clock.offset_ns`` turns a
timestamp into ns since the Unix epoch (``timestamp + offset_ns``), ``to_wall()`` into
datetimes. ``trace.to_parquet(OUT)`` writes every table as Parquet.

Errors: :class:`usdk.errors.TraceNotFoundError` (nothing to read),
:class:`usdk.errors.CorruptTraceError` (``path``, ``offset``), unless ``partial=True``:
then the packets that decode are returned and the rest listed in ``trace.damage``.

Backends: a C decoder for the CTF layouts LTTng and perf write (:mod:`correlate.read.fast`)
and babeltrace2's Python bindings for anything else (:mod:`correlate.read.bt2source`);
``trace.backends`` says which read each trace.
"""

from __future__ import annotations

from correlate.read.model import Clock, Damage
from correlate.read.trace import Backend, DiscardedEventsWarning, Trace, open

__all__ = ["Backend", "Clock", "Damage", "DiscardedEventsWarning", "Trace", "open"]
