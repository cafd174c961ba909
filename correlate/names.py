"""Canonical event and field names: one spelling for kernel events, whatever wrote them.

The reader names every kernel event the way LTTng-modules does, so the correlator has one
vocabulary whether the trace came from LTTng's kernel tracer or from ``perf data convert
--to-ctf``. User-space (UST) names are never changed.

=====================================  ========================================
perf (``subsystem:event``)              canonical (LTTng-modules)
=====================================  ========================================
``syscalls:sys_enter_write``            ``syscall_entry_write``
``syscalls:sys_exit_write``             ``syscall_exit_write``
``raw_syscalls:sys_enter``              ``syscall_entry_unknown`` (generic entry)
``raw_syscalls:sys_exit``               ``syscall_exit_unknown``
``ext4:ext4_da_write_begin``            ``ext4_da_write_begin``
``sched:sched_switch``                  ``sched_switch``
any other ``subsystem:event``           ``event``
=====================================  ========================================

Field names follow LTTng-modules where both tracers record the same quantity under
different names: perf's scheduler events call a thread id ``pid`` (the kernel's
``task->pid``) where LTTng-modules says ``tid`` (``sched_switch``: ``prev_pid`` ->
``prev_tid``, ``next_pid`` -> ``next_tid``; ``sched_wakeup``: ``pid`` -> ``tid``, ...), and
perf's ``__syscall_nr`` (shown by babeltrace2 as ``_syscall_nr``) becomes ``syscall_nr``.
Fields only one tracer has keep their name (perf's ``perf_ip``, ``common_pid``, ...).

Example::

    >>> from correlate import names
    >>> names.canonical_event("syscalls:sys_enter_openat", "kernel")
    'syscall_entry_openat'
    >>> names.canonical_field("sched_switch", "prev_pid", tracer="perf")
    'prev_tid'
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

__all__ = [
    "canonical_event",
    "canonical_field",
    "event_spellings",
    "matches",
]

# perf (tracefs) field name -> LTTng-modules field name, per canonical event name.
_THREAD_FIELDS: dict[str, dict[str, str]] = {
    "sched_switch": {"prev_pid": "prev_tid", "next_pid": "next_tid"},
    "sched_wakeup": {"pid": "tid"},
    "sched_wakeup_new": {"pid": "tid"},
    "sched_waking": {"pid": "tid"},
    "sched_migrate_task": {"pid": "tid"},
    "sched_process_free": {"pid": "tid"},
    "sched_process_exit": {"pid": "tid"},
    "sched_wait_task": {"pid": "tid"},
    "sched_process_wait": {"pid": "tid"},
    "sched_process_fork": {"parent_pid": "parent_tid", "child_pid": "child_tid"},
    "sched_process_exec": {"pid": "tid", "old_pid": "old_tid"},
    "sched_stat_runtime": {"pid": "tid"},
    "sched_stat_wait": {"pid": "tid"},
    "sched_stat_sleep": {"pid": "tid"},
    "sched_stat_iowait": {"pid": "tid"},
    "sched_stat_blocked": {"pid": "tid"},
    "sched_pi_setprio": {"pid": "tid"},
}

# perf field names that mean the same in every event.
_COMMON_FIELDS = {"_syscall_nr": "syscall_nr"}


def canonical_event(name: str, domain: str) -> str:
    """The canonical spelling of event class ``name`` recorded in ``domain`` ("ust"/"kernel").

    UST names are returned unchanged; kernel names take the LTTng-modules spelling.
    """
    if domain != "kernel" or ":" not in name:
        return name
    subsystem, _, event = name.partition(":")
    if subsystem == "syscalls":
        if event.startswith("sys_enter_"):
            return "syscall_entry_" + event[len("sys_enter_"):]
        if event.startswith("sys_exit_"):
            return "syscall_exit_" + event[len("sys_exit_"):]
    if subsystem == "raw_syscalls":
        if event == "sys_enter":
            return "syscall_entry_unknown"
        if event == "sys_exit":
            return "syscall_exit_unknown"
    return event


def canonical_field(event: str, field: str, *, tracer: str) -> str:
    """The canonical name of payload ``field`` of canonical event ``event``.

    ``field`` is the name babeltrace2 shows (one leading underscore of the metadata name
    removed). Only perf fields are renamed; LTTng's are already canonical.
    """
    if tracer != "perf":
        return field
    renamed = _THREAD_FIELDS.get(event, {}).get(field)
    if renamed is not None:
        return renamed
    return _COMMON_FIELDS.get(field, field)


def event_spellings(name: str) -> tuple[str, ...]:
    """Every spelling under which a user may ask for canonical event ``name``."""
    out = [name]
    if name.startswith("syscall_entry_"):
        out.append("syscalls:sys_enter_" + name[len("syscall_entry_"):])
        out.append("sys_enter_" + name[len("syscall_entry_"):])
    elif name.startswith("syscall_exit_"):
        out.append("syscalls:sys_exit_" + name[len("syscall_exit_"):])
        out.append("sys_exit_" + name[len("syscall_exit_"):])
    return tuple(out)


def matches(original: str, canonical: str, patterns: Iterable[str]) -> bool:
    """Whether an event class (original and canonical spelling) matches any fnmatch pattern.

    A pattern may use either spelling: ``syscalls:sys_enter_*``, ``syscall_entry_*``,
    ``sys_enter_*``, ``ext4:*``, ``ext4_*`` and ``shop:*`` all work.
    """
    spellings = (original, *event_spellings(canonical))
    return any(fnmatch.fnmatchcase(s, p) for p in patterns for s in spellings)
