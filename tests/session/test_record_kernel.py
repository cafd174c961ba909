"""Acceptance of ``usdk record`` with kernel events (kernel tier: root + a kernel backend).

The workload does OPS ``shop:put`` operations of WRITES ``write(2)`` calls each on one
worker thread. The recording must hold exactly OPS*WRITES write-syscall entries from
that thread, as many ``ext4_da_write_begin`` events from it (each write stays inside one
page), the UST entry/exit events with vtid and the counter contexts, and for every
operation: entry < its first write < exit. The backend is ``auto`` unless
``USDK_KERNEL_BACKEND`` says otherwise (the lab runs this with ``lttng``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from session_helpers import PYTHON, read_events

from usdk.manifest import read_manifest
from usdk.session import KernelBackend, KernelEvents, Session, SessionConfig

pytestmark = pytest.mark.kernel

BACKEND = os.environ.get("USDK_KERNEL_BACKEND", "auto")
WRITE_ENTRY = {"syscalls:sys_enter_write", "syscall_entry_write"}
DA_BEGIN = {"ext4:ext4_da_write_begin", "ext4_da_write_begin"}
OPS, WRITES, SIZE = 25, 4, 1000


def _record(tmp_path: Path, name: str, workload: Path, *extra: str) -> tuple[Path, dict, str]:
    out = tmp_path / "trace"
    data = tmp_path / "data"
    data.mkdir()
    argv = [PYTHON, "-m", "usdk.cli", "record", "--ext4", "--syscalls", "io",
            "--pmu", "task-clock,page-faults", "--kernel-backend", BACKEND, "-n", name,
            "-o", str(out), *extra, "--",
            PYTHON, str(workload), str(data), str(OPS), str(WRITES), str(SIZE)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    return out, info, r.stderr


def test_record_acceptance(tmp_path: Path, sessiond: None, cleanup_session: str,
                           warm_workload: Path) -> None:
    out, info, stderr = _record(tmp_path, cleanup_session, warm_workload)
    tid = info["tid"]
    assert "kernel backend" in stderr and "discarded events" in stderr  # the summary

    events = read_events(out)
    writes = [e for e in events if e["name"] in WRITE_ENTRY and e["tid"] == tid]
    assert len(writes) == OPS * WRITES
    da = [e for e in events if e["name"] in DA_BEGIN and e["tid"] == tid]
    assert len(da) == OPS * WRITES

    entries = {e["fields"]["span_id"]: e for e in events
               if e["name"] == "shop:put_entry" and e["tid"] == tid}
    exits = {e["fields"]["span_id"]: e for e in events
             if e["name"] == "shop:put_exit" and e["tid"] == tid}
    assert len(entries) == OPS and set(entries) == set(exits)
    for e in [*entries.values(), *exits.values()]:
        assert e["fields"]["vtid"] == tid and e["fields"]["vpid"] == info["pid"]
        assert isinstance(e["fields"]["perf_thread_task_clock"], int)
        assert isinstance(e["fields"]["perf_thread_page_fault"], int)
    write_ts = sorted(w["ts"] for w in writes)
    for span_id, entry in entries.items():
        exit_ = exits[span_id]
        inside = [t for t in write_ts if entry["ts"] < t < exit_["ts"]]
        assert len(inside) == WRITES, f"span {span_id}"
        assert entry["ts"] < inside[0] < exit_["ts"]
        assert exit_["fields"]["ret"] == WRITES * SIZE
    # the counters move: task-clock grows across an operation that does I/O
    first = min(entries)
    assert exits[first]["fields"]["perf_thread_task_clock"] > \
        entries[first]["fields"]["perf_thread_task_clock"]

    m = read_manifest(out)
    assert m["command"]["exit_status"] == 0 and m["command"]["pid"] == info["pid"]
    assert m["kernel_backend"]["used"] in ("perf", "lttng")
    assert "write" in m["enabled"]["kernel"]["syscalls"]
    assert m["events"]["ust"] >= 2 * OPS and m["events"]["kernel"] >= len(writes)
    assert m["errors"] == []
    # one time order for the whole directory, no extra flag
    bt = subprocess.run(["babeltrace2", str(out)], capture_output=True, text=True, timeout=300)
    assert bt.returncode == 0, bt.stderr[-2000:]
    assert "shop:put_entry" in bt.stdout


def test_perf_backend_procname_table(tmp_path: Path, sessiond: None, cleanup_session: str,
                                     warm_workload: Path) -> None:
    if BACKEND == "lttng":
        pytest.skip("perf backend only")
    out, info, _ = _record(tmp_path, cleanup_session, warm_workload)
    m = read_manifest(out)
    if m["kernel_backend"]["used"] != "perf":
        pytest.skip("auto chose the LTTng kernel tracer")
    rows = [line.split("\t") for line in (out / "perf/tasks.tsv").read_text().splitlines()[1:]]
    mine = [r for r in rows if int(r[0]) == info["tid"]]
    assert mine and mine[0][1] == str(info["pid"]) and mine[0][2].startswith("python")
    assert m["layout"]["kernel"] == "perf/ctf" and (out / "perf/perf.data").stat().st_size > 0
    assert m["clock"]["offset_ns"] > 0
    meta = (out / "perf/ctf/metadata").read_text()
    assert 'name = "monotonic"' in meta and f"offset = {m['clock']['offset_ns']};" in meta


def test_perf_dying_keeps_the_trace(tmp_path: Path, sessiond: None, cleanup_session: str,
                                    warm_workload: Path) -> None:
    if BACKEND == "lttng":
        pytest.skip("perf backend only")
    cfg = SessionConfig(output=tmp_path / "trace", name=cleanup_session,
                        kernel=KernelEvents(syscalls=("write",)),
                        kernel_backend=KernelBackend.PERF)
    data = tmp_path / "data"
    data.mkdir()
    session = Session(cfg, log=lambda m: None)
    session.start()
    assert session.perf is not None and session.perf.proc is not None
    os.kill(session.perf.proc.pid, signal.SIGKILL)  # the recorder this test started
    time.sleep(0.2)
    status = session.run([PYTHON, str(warm_workload), str(data), "3", "1", "10"])
    assert status == 0
    with pytest.raises(Exception, match="perf record"):
        session.close()
    m = read_manifest(tmp_path / "trace")
    assert any("perf record" in e for e in m["errors"])
    ust = [e for e in read_events(tmp_path / "trace" / "ust") if e["name"] == "shop:put_entry"]
    assert len(ust) == 3  # the UST side was kept and is readable


def test_unavailable_pmu_counter_lists_what_exists(tmp_path: Path) -> None:
    from usdk import events as ev
    from usdk.errors import UnknownEventError

    if "cycles" in ev.available_counters():
        pytest.skip("this CPU has a hardware PMU")
    s = Session(SessionConfig(output=tmp_path / "t", counters=("cycles",),
                              kernel_backend=KernelBackend.NONE), dry_run=True)
    with pytest.raises(UnknownEventError, match="not available") as e:
        s.start()
    assert "task-clock" in str(e.value) and s.plan() == ""
    ok = Session(SessionConfig(output=tmp_path / "t", optional_counters=("cycles", "task-clock"),
                               kernel_backend=KernelBackend.NONE), dry_run=True)
    assert [c.name for c in ok.resolve().counters] == ["task-clock"]
    assert ok.resolve().missing_optional == ["cycles"]
