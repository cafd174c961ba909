"""The session builder's ``lttng`` kernel backend, end to end in the lab guest.

``usdk record --kernel-backend lttng`` and ``usdk.session.Session`` with
``kernel_backend=LTTNG`` record UST operations, syscalls, ext4 tracepoints, kernel contexts and
``perf:*`` counters into one session with lttng-modules; the reader and correlator read it. The
recording of ``test_record_cli_*`` stays in ``$USDK_LAB_OUT/traces`` for the host's
backend-equivalence test (tests/lab/test_lab.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import correlate
from usdk.errors import UnknownEventError
from usdk.session import KernelBackend, KernelEvents, Session, SessionConfig

pytestmark = pytest.mark.kernel

HERE = Path(__file__).resolve().parent
OPS, WRITES = 3, 5


def test_record_cli_lttng_backend_ext4_syscalls_pmu(
    trace_dir: Path, ext4_dir: Path,
) -> None:
    """Issue 3's acceptance recording, with the LTTng kernel tracer instead of perf."""
    usdk = Path(sys.executable).with_name("usdk")
    r = subprocess.run(
        [str(usdk), "record", "--kernel-backend", "lttng", "--ext4", "--syscalls", "io",
         "--pmu", "task-clock,page-faults", "-o", str(trace_dir), "--",
         sys.executable, str(HERE / "workload.py"), str(ext4_dir), "--usdk",
         f"--ops={OPS}", f"--writes={WRITES}"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout.strip().splitlines()[-1])
    (trace_dir.parent / f"{trace_dir.name}.workload.json").write_text(json.dumps(w))
    assert "kernel backend : lttng" in r.stderr, r.stderr

    manifest = json.loads((trace_dir / "usdk-manifest.json").read_text())
    assert manifest["kernel_backend"]["used"] == "lttng"
    assert manifest["command"]["exit_status"] == 0
    assert (trace_dir / "kernel" / "metadata").exists()

    t = correlate.open(trace_dir, progress=False)
    tid, n = w["tid"], OPS * WRITES
    writes = t.table("syscall_entry_write").query(f"tid == {tid} and count == {w['block']}")
    da = t.table("ext4_da_write_begin").query(f"tid == {tid}")
    entries = t.table("usdk_lab:op_entry").query(f"vtid == {tid}")
    exits = t.table("usdk_lab:op_exit").query(f"vtid == {tid}")
    assert (len(writes), len(da), len(entries), len(exits)) == (n, n, OPS, OPS)
    # kernel contexts pid/tid/procname and the counters on both domains
    assert set(writes["pid"]) == {w["pid"]} and set(writes["procname"]) == {w["comm"]}
    for col in ("perf_cpu_task_clock", "perf_cpu_page_fault"):
        assert col in writes.columns, list(writes.columns)
    for col in ("perf_thread_task_clock", "perf_thread_page_fault"):
        assert col in entries.columns, list(entries.columns)
    # each operation: entry < its first write syscall ... its last write < exit
    ts = sorted(writes["timestamp"])
    for i, (begin, end) in enumerate(zip(sorted(entries["timestamp"]),
                                         sorted(exits["timestamp"]), strict=True)):
        mine = ts[i * WRITES:(i + 1) * WRITES]
        assert begin < mine[0] and mine[-1] < end, f"op {i}: {begin} {mine} {end}"
    # the correlator's figures for this recording are checked on the host, against the perf
    # backend's (tests/lab/test_lab.py::test_lttng_backend_in_guest_equals_perf_backend_on_host)


def test_unavailable_counter_is_refused_before_lttng_sees_it(
    trace_dir: Path, lttng: Callable[..., str],
) -> None:
    """No PMU under TCG: a hardware counter must be refused before anything starts. Handing it to
    lttng-modules 2.13.9 would oops the kernel (see test_kernel_tracer.py)."""
    config = SessionConfig(output=trace_dir, counters=("cycles",),
                           kernel=KernelEvents(syscalls=("write",)),
                           kernel_backend=KernelBackend.LTTNG)
    before = lttng("list")
    with pytest.raises(UnknownEventError, match="not available"):
        Session(config).start()
    assert lttng("list") == before, "a session was created for a refused configuration"
    assert not trace_dir.exists()


def test_session_api_lttng_backend_with_optional_counters(
    trace_dir: Path, ext4_dir: Path,
) -> None:
    config = SessionConfig(
        output=trace_dir, ust=(), kernel=KernelEvents(syscalls=("write", "fsync"),
                                                      tracepoints=("ext4:ext4_da_write_begin",)),
        kernel_backend=KernelBackend.LTTNG, optional_counters=("cycles", "context-switches"),
    )
    session = Session(config)
    with session:
        rc = session.run([sys.executable, str(HERE / "workload.py"), str(ext4_dir),
                          "--ops=2", "--writes=2"])
    assert rc == 0
    assert session.resolved is not None and session.resolved.backend is KernelBackend.LTTNG
    assert session.resolved.missing_optional == ["cycles"]
    t = correlate.open(trace_dir, progress=False)
    pid = session.command["pid"]
    writes = t.table("syscall_entry_write").query(f"pid == {pid} and count == 4096")
    assert len(writes) == 4 and set(writes["tid"]) == {pid}
    assert "perf_cpu_context_switches" in writes.columns
    assert not any("cycles" in c for c in writes.columns)
    assert len(t.table("ext4_da_write_begin").query(f"tid == {pid}")) == 4
    assert "syscall_entry_fsync" in t
