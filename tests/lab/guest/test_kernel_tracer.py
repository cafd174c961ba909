"""The LTTng kernel tracer (lttng-modules) in the lab guest, driven with plain ``lttng`` commands.

These pin down what the session builder's ``lttng`` backend relies on: the modules load, the
syscall and ext4 events fire for a known workload with pid/tid/procname contexts, the trace reads
back with the reader, and which ``perf:cpu:*`` counters the emulated CPU offers.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import correlate

pytestmark = pytest.mark.kernel

# Counters the kernel implements in software: present on any CPU, emulated or not.
SOFTWARE_COUNTERS = ("cpu-clock", "task-clock", "page-fault", "context-switches",
                     "cpu-migrations", "minor-faults", "major-faults")


def test_modules_loaded_and_events_listed(lttng: Callable[..., str]) -> None:
    assert Path("/proc/lttng").exists(), "lttng-tracer is not loaded"
    kernel = lttng("list", "--kernel")
    for event in ("sched_switch", "ext4_da_write_begin", "ext4_sync_file_enter",
                  "writeback_dirty_page", "block_rq_issue"):
        assert f"      {event} " in kernel, f"{event} missing from `lttng list --kernel`"
    syscalls = lttng("list", "--kernel", "--syscall")
    for name in ("write", "pwrite64", "fsync", "openat"):
        assert f"      {name} " in syscalls, f"syscall {name} missing"


def test_syscalls_ext4_and_contexts_of_a_known_workload(
    lttng: Callable[..., str], raw_session: str, trace_dir: Path, ext4_dir: Path,
    run_workload: Callable[..., dict[str, Any]],
) -> None:
    lttng("enable-event", "-s", raw_session, "--kernel", "--syscall", "write,fsync,openat")
    lttng("enable-event", "-s", raw_session, "--kernel", "ext4_*")
    lttng("add-context", "-s", raw_session, "--kernel", "-t", "pid", "-t", "tid",
          "-t", "procname")
    lttng("start", raw_session)
    w = run_workload(ext4_dir, ops=3, writes=5)
    lttng("stop", raw_session)
    (trace_dir.parent / f"{trace_dir.name}.workload.json").write_text(json.dumps(w))

    t = correlate.open(trace_dir, progress=False)
    mine = {name: t.table(name).query(f"tid == {w['tid']}") for name in (
        "syscall_entry_write", "syscall_exit_write", "syscall_entry_fsync",
        "ext4_da_write_begin", "ext4_da_write_end", "ext4_sync_file_enter")}
    n = w["ops"] * w["writes_per_op"]
    assert len(mine["syscall_entry_write"].query(f"count == {w['block']}")) == n
    assert len(mine["syscall_exit_write"].query(f"ret == {w['block']}")) == n
    assert len(mine["syscall_entry_fsync"]) == w["ops"]
    assert len(mine["ext4_da_write_begin"]) == n
    assert len(mine["ext4_da_write_end"]) == n
    assert len(mine["ext4_sync_file_enter"]) == w["ops"]
    for name, df in mine.items():
        assert set(df["pid"]) == {w["pid"]}, name
        assert set(df["procname"]) == {w["comm"]}, name
    assert t.discarded["discarded"].sum() == 0 if "discarded" in t.discarded else True


def test_perf_cpu_counters_the_emulated_cpu_offers(
    lttng: Callable[..., str], raw_session: str, trace_dir: Path, out_dir: Path,
    ext4_dir: Path, run_workload: Callable[..., dict[str, Any]],
) -> None:
    """Every ``perf:cpu:*`` context lttng knows is probed with perf_event_open (CPU-wide, as
    lttng-modules opens it); the ones that open are added to a kernel channel and must record a
    column each. The software counters must be among them. Which are missing under TCG goes to
    ``$USDK_LAB_OUT/perf-counters.json`` for the report.

    A counter that does not open is never handed to lttng: lttng-modules 2.13.9 oopses in
    ``lttng_cpuhp_perf_counter_dead`` (``perf_event_release_kernel(NULL)``) when it cannot create
    one, which takes the session daemon down with it."""
    listed = [c for c in subprocess.run(
        ["lttng", "add-context", "--list"], capture_output=True, text=True, check=True,
    ).stdout.split() if c.startswith("perf:cpu:")]
    assert listed, "lttng add-context --list names no perf:cpu:* counter"
    errors = {ctx: perf_open_error(ctx.removeprefix("perf:cpu:")) for ctx in listed}
    offered = [ctx for ctx, err in errors.items() if err is None]
    missing = {ctx: err for ctx, err in errors.items() if err is not None}
    (out_dir / "perf-counters.json").write_text(json.dumps(
        {"offered": offered, "missing": missing}, indent=1))
    for name in SOFTWARE_COUNTERS:
        assert f"perf:cpu:{name}" in offered, missing.get(f"perf:cpu:{name}")

    lttng("enable-channel", "-s", raw_session, "--kernel", "k")
    lttng("enable-event", "-s", raw_session, "--kernel", "-c", "k", "--syscall", "write")
    lttng("add-context", "-s", raw_session, "--kernel", "-c", "k", "-t", "tid",
          *[a for ctx in offered for a in ("-t", ctx)])
    lttng("start", raw_session)
    w = run_workload(ext4_dir, ops=2, writes=3)
    lttng("stop", raw_session)
    writes = correlate.open(trace_dir, progress=False).table("syscall_entry_write")
    writes = writes.query(f"tid == {w['tid']} and count == {w['block']}")
    assert len(writes) == w["ops"] * w["writes_per_op"]
    for ctx in offered:
        col = "perf_cpu_" + re.sub(r"[^A-Za-z0-9]", "_", ctx.removeprefix("perf:cpu:"))
        assert col in writes.columns, f"{ctx}: no column {col} in {list(writes.columns)}"
    # CPU-wide clocks advance while the workload runs.
    for col in ("perf_cpu_cpu_clock", "perf_cpu_task_clock"):
        assert writes[col].max() > 0, f"{col} recorded only zeros"


# perf_event_open(2) for the names lttng gives its perf:cpu:* contexts.
_HW = {"cpu-cycles": 0, "cycles": 0, "instructions": 1, "cache-references": 2, "cache-misses": 3,
       "branch-instructions": 4, "branches": 4, "branch-misses": 5, "bus-cycles": 6,
       "stalled-cycles-frontend": 7, "idle-cycles-frontend": 7, "stalled-cycles-backend": 8,
       "idle-cycles-backend": 8}
_SW = {"cpu-clock": 0, "task-clock": 1, "page-fault": 2, "faults": 2, "context-switches": 3,
       "cs": 3, "cpu-migrations": 4, "migrations": 4, "minor-faults": 5, "major-faults": 6,
       "alignment-faults": 7, "emulation-faults": 8}
_CACHE = {"L1-dcache": 0, "L1-icache": 1, "LLC": 2, "dTLB": 3, "iTLB": 4, "branch": 5}
_CACHE_OP = {"loads": (0, 0), "load-misses": (0, 1), "stores": (1, 0), "store-misses": (1, 1),
             "prefetches": (2, 0), "prefetch-misses": (2, 1)}


def perf_attr(name: str) -> tuple[int, int]:
    """(type, config) of a perf counter as lttng names it."""
    if name in _HW:
        return 0, _HW[name]
    if name in _SW:
        return 1, _SW[name]
    for cache, cache_id in _CACHE.items():
        op = name.removeprefix(cache + "-")
        if op != name and op in _CACHE_OP:
            o, r = _CACHE_OP[op]
            return 3, cache_id | (o << 8) | (r << 16)
    raise ValueError(f"unknown perf counter name {name!r}")


def perf_open_error(name: str) -> str | None:
    """None if a CPU-wide counter ``name`` opens on CPU 0, else the errno's text."""
    kind, config = perf_attr(name)
    attr = bytearray(128)                       # struct perf_event_attr, PERF_ATTR_SIZE_VER7
    struct.pack_into("=IIQ", attr, 0, kind, 128, config)
    struct.pack_into("=Q", attr, 40, 1)         # .disabled = 1
    buf = ctypes.create_string_buffer(bytes(attr), 128)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(298, buf, -1, 0, -1, 0)   # __NR_perf_event_open on x86_64; pid -1, cpu 0
    if fd < 0:
        return os.strerror(ctypes.get_errno())
    os.close(fd)
    return None
