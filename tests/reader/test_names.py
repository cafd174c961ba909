"""Canonical names: perf spellings map to LTTng-modules ones; UST names never change."""

from __future__ import annotations

import pytest

from correlate import names

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("recorded", "domain", "canonical"),
    [
        ("syscalls:sys_enter_write", "kernel", "syscall_entry_write"),
        ("syscalls:sys_exit_openat", "kernel", "syscall_exit_openat"),
        ("raw_syscalls:sys_enter", "kernel", "syscall_entry_unknown"),
        ("ext4:ext4_da_write_begin", "kernel", "ext4_da_write_begin"),
        ("sched:sched_switch", "kernel", "sched_switch"),
        ("syscall_entry_write", "kernel", "syscall_entry_write"),
        ("shop:checkout_entry", "ust", "shop:checkout_entry"),
        ("syscalls:sys_enter_write", "ust", "syscalls:sys_enter_write"),
    ],
)
def test_canonical_event(recorded: str, domain: str, canonical: str) -> None:
    assert names.canonical_event(recorded, domain) == canonical


def test_perf_thread_fields_take_lttng_names() -> None:
    assert names.canonical_field("sched_switch", "prev_pid", tracer="perf") == "prev_tid"
    assert names.canonical_field("sched_switch", "next_pid", tracer="perf") == "next_tid"
    assert names.canonical_field("sched_wakeup", "pid", tracer="perf") == "tid"
    nr = names.canonical_field("syscall_entry_write", "_syscall_nr", tracer="perf")
    assert nr == "syscall_nr"
    assert names.canonical_field("syscall_entry_write", "fd", tracer="perf") == "fd"
    # LTTng's own names are already canonical
    assert names.canonical_field("sched_switch", "prev_pid", tracer="lttng-modules") == "prev_pid"


def test_patterns_match_either_spelling() -> None:
    orig, canon = "syscalls:sys_enter_write", "syscall_entry_write"
    for pat in ("syscalls:sys_enter_*", "syscall_entry_*", "sys_enter_write", "*write"):
        assert names.matches(orig, canon, [pat]), pat
    assert not names.matches(orig, canon, ["syscall_exit_*", "ext4_*"])
    assert names.matches("shop:op", "shop:op", ["shop:*"])
