"""Integration tests of the session builder against a real lttng-sessiond (user space only).

Each test names its session uniquely, writes under ``tmp_path`` and destroys the
session in teardown; the only processes ended are the ones a test started, by pid.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from session_helpers import PYTHON, read_events

from usdk.errors import OutputExistsError
from usdk.manifest import read_manifest
from usdk.session import (
    KernelBackend,
    PythonLoggerRule,
    Session,
    SessionConfig,
    SessionMode,
    UstEventRule,
)

pytestmark = pytest.mark.integration

APP = """
import lttngust, logging, os, sys, time, threading
import usdk
shop = usdk.Provider("shop")
miss = shop.event("cache_miss", key=str)
log = logging.getLogger("app")
log.setLevel(logging.INFO)
for i in range(int(sys.argv[1])):
    log.info("hello %d", i)
    miss(key=f"k{i}")
print(threading.get_native_id(), os.getpid(), flush=True)
if len(sys.argv) > 2 and sys.argv[2] == "abort":
    os.abort()
if len(sys.argv) > 2 and sys.argv[2] == "sleep":
    time.sleep(60)
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    p = tmp_path / "app.py"
    p.write_text(APP)
    subprocess.run([PYTHON, str(p), "0"], check=True, capture_output=True, timeout=300)
    return p


def _cfg(out: Path, name: str, **kw: object) -> SessionConfig:
    return SessionConfig(output=out, name=name, kernel_backend=KernelBackend.NONE, **kw)  # type: ignore[arg-type]


def test_ust_and_python_logging_in_one_session(tmp_path: Path, sessiond: None,
                                                cleanup_session: str, app: Path) -> None:
    out = tmp_path / "trace"
    cfg = _cfg(out, cleanup_session, ust=(UstEventRule("shop:*"),),
               python=(PythonLoggerRule("app"),), counters=("task-clock",))
    with Session(cfg, log=lambda m: None) as s:
        assert s.run([PYTHON, str(app), "4"]) == 0
    events = read_events(out)
    names = [e["name"] for e in events]
    assert names.count("shop:cache_miss") == 4 and names.count("lttng_python:event") == 4
    pid = s.command["pid"]
    mine = [e for e in events if e["fields"].get("vpid") == pid]
    assert len(mine) == 8  # logging records carry the same contexts as provider events
    assert all("perf_thread_task_clock" in e["fields"] for e in mine)
    # a log record and the event after it come in program order
    assert [e["name"] for e in mine][:2] == ["lttng_python:event", "shop:cache_miss"]
    m = read_manifest(out)
    assert {c["name"] for c in m["channels"]} == {"usdk", "lttng_python_channel"}
    assert all(c["discarded_events"] == 0 for c in m["channels"])
    assert m["kernel_backend"]["used"] == "none" and m["events"]["ust"] >= 8
    assert "usdk" in s.summary() and "0 discarded events" in s.summary()


def test_crashing_command_keeps_the_trace(tmp_path: Path, sessiond: None,
                                          cleanup_session: str, app: Path) -> None:
    out = tmp_path / "trace"
    r = subprocess.run([PYTHON, "-m", "usdk.cli", "record", "--kernel-backend", "none",
                        "--ust", "shop:*", "-n", cleanup_session, "-o", str(out), "--",
                        PYTHON, str(app), "3", "abort"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 128 + signal.SIGABRT, r.stderr
    assert "SIGABRT" in r.stderr
    m = read_manifest(out)
    assert m["command"]["signal"] == "SIGABRT" and m["command"]["exit_status"] == -6
    assert [e["name"] for e in read_events(out)].count("shop:cache_miss") == 3


def test_existing_trace_is_refused_by_the_cli(tmp_path: Path, sessiond: None,
                                              cleanup_session: str, app: Path) -> None:
    out = tmp_path / "trace"
    with Session(_cfg(out, cleanup_session, ust=(UstEventRule("shop:*"),)),
                 log=lambda m: None) as s:
        s.run([PYTHON, str(app), "1"])
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    r = subprocess.run([PYTHON, "-m", "usdk.cli", "record", "--kernel-backend", "none",
                        "-o", str(out), "--", "true"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "never overwrites" in r.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    with pytest.raises(OutputExistsError):
        Session(_cfg(out, cleanup_session + "x")).start()


def test_track_command_leaves_other_apps_out(tmp_path: Path, sessiond: None,
                                             cleanup_session: str, app: Path) -> None:
    other = subprocess.Popen([PYTHON, str(app), "2", "sleep"], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert other.stdout is not None
        other_pid = int(other.stdout.readline().split()[1])
        out = tmp_path / "trace"
        cfg = _cfg(out, cleanup_session, ust=(UstEventRule("shop:*"),), track_command=True)
        with Session(cfg, log=lambda m: None) as s:
            s.run([PYTHON, str(app), "3"])
        pids = {e["fields"]["vpid"] for e in read_events(out)}
        assert pids == {s.command["pid"]} and other_pid not in pids
        assert read_manifest(out)["enabled"]["track_command"] is True
    finally:
        other.send_signal(signal.SIGTERM)  # the process this test started
        other.wait(10)


def test_snapshot_mode_writes_the_ring_buffer(tmp_path: Path, sessiond: None,
                                              cleanup_session: str, app: Path) -> None:
    out = tmp_path / "trace"
    cfg = _cfg(out, cleanup_session, ust=(UstEventRule("shop:*"),), mode=SessionMode.SNAPSHOT)
    with Session(cfg, log=lambda m: None) as s:
        s.run([PYTHON, str(app), "5"])
        snap = s.snapshot()
    assert snap.is_dir() and snap.parent == out
    assert [e["name"] for e in read_events(snap)].count("shop:cache_miss") == 5
    m = read_manifest(out)
    assert m["mode"] == "snapshot" and len(m["snapshots"]) == 1 and m["events"]["ust"] >= 5


def test_ctrl_c_stops_cleanly_and_keeps_the_trace(tmp_path: Path, sessiond: None,
                                                  cleanup_session: str, app: Path) -> None:
    out = tmp_path / "trace"
    rec = subprocess.Popen([PYTHON, "-m", "usdk.cli", "record", "--kernel-backend", "none",
                            "--ust", "shop:*", "-n", cleanup_session, "-o", str(out), "--",
                            PYTHON, str(app), "2", "sleep"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert rec.stdout is not None
        line = rec.stdout.readline()  # the app has emitted its events
        assert line.strip(), rec.stderr.read() if rec.stderr else ""
        rec.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends to usdk
        _, err = rec.communicate(timeout=120)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
    assert rec.returncode == 130, err
    assert "interrupted" in err
    m = read_manifest(out)
    assert m["interrupted"] is True
    assert [e["name"] for e in read_events(out)].count("shop:cache_miss") == 2
    listed = subprocess.run(["lttng", "list"], capture_output=True, text=True).stdout
    assert cleanup_session not in listed


def test_dry_run_prints_but_records_nothing(tmp_path: Path, sessiond: None,
                                            cleanup_session: str) -> None:
    out = tmp_path / "trace"
    r = subprocess.run([PYTHON, "-m", "usdk.cli", "record", "--dry-run", "--kernel-backend",
                        "none", "--pmu", "task-clock", "-n", cleanup_session, "-o", str(out),
                        "--", "true"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"lttng create {cleanup_session}" in r.stdout
    assert "--type=perf:thread:task-clock" in r.stdout
    assert not out.exists()
    assert cleanup_session not in subprocess.run(["lttng", "list"], capture_output=True,
                                                 text=True).stdout


def test_missing_command_starts_nothing(tmp_path: Path, sessiond: None,
                                        cleanup_session: str) -> None:
    out = tmp_path / "trace"
    r = subprocess.run([PYTHON, "-m", "usdk.cli", "record", "--kernel-backend", "none",
                        "-n", cleanup_session, "-o", str(out), "--", "no-such-cmd-xyz"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "command not found: 'no-such-cmd-xyz'" in r.stderr
    assert not out.exists()
