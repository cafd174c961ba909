"""`usdk record` on a machine where no lttng-sessiond runs: it starts one and ends it.

Each test runs in a private mount namespace whose /run/lttng and /dev/shm are empty
tmpfs mounts, so no session daemon answers there whatever runs on the host (the
``sessiond`` fixture's or a user's), and the one usdk starts is seen by nobody else.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from session_helpers import PYTHON, read_events

from usdk.manifest import read_manifest

pytestmark = pytest.mark.integration

USDK = [PYTHON, "-m", "usdk.cli"]

APP = """
import glob, os, signal, sys, time
import usdk
for i in range(5):
    usdk.event("before", i=i)
if sys.argv[1] == "kill-sessiond":
    # once the trace's metadata is on disk, SIGKILL this namespace's daemon (usdk's)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [p for p in glob.glob(sys.argv[2] + "/ust/**/metadata", recursive=True)
                 if os.path.getsize(p) and b"event {" in open(p, "rb").read()]
        if found:
            break
        time.sleep(0.1)
    os.kill(int(open("/run/lttng/lttng-sessiond.pid").read()), signal.SIGKILL)
    time.sleep(0.5)
    for i in range(5):
        usdk.event("after", i=i)
"""

@pytest.fixture
def isolated(without_sessiond: list[str], tmp_path: Path) -> list[str]:
    (tmp_path / "app.py").write_text(APP)
    return without_sessiond


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_record_starts_a_sessiond_and_ends_it(isolated: list[str], tmp_path: Path) -> None:
    out = tmp_path / "trace"
    r = subprocess.run([*isolated, *USDK, "record", "--ust", "usdk:*", "-o", str(out), "--",
                        sys.executable, str(tmp_path / "app.py"), "plain"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no session daemon was running: started lttng-sessiond" in r.stderr
    m = read_manifest(out)
    assert m["sessiond"]["started_by_usdk"] is True
    assert not _alive(m["sessiond"]["pid"])
    assert m["errors"] == []
    names = [e["fields"]["name"] for e in read_events(out) if e["name"] == "usdk:event"]
    assert names == ["before"] * 5
    assert m["events"]["ust"] == 5


def test_no_sessiond_flag_refuses_and_records_nothing(isolated: list[str],
                                                      tmp_path: Path) -> None:
    out = tmp_path / "trace"
    r = subprocess.run([*isolated, *USDK, "record", "--no-sessiond", "-o", str(out), "--",
                        sys.executable, str(tmp_path / "app.py"), "plain"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "no LTTng session daemon" in r.stderr and "lttng-sessiond --daemonize" in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_sessiond_dying_mid_recording_is_reported(isolated: list[str], tmp_path: Path) -> None:
    out = tmp_path / "trace"
    r = subprocess.run([*isolated, *USDK, "record", "--ust", "usdk:*", "-o", str(out), "--",
                        sys.executable, str(tmp_path / "app.py"), "kill-sessiond", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "died during the session" in r.stderr, r.stderr
    m = read_manifest(out)
    assert any("died during the session" in e for e in m["errors"])
    assert not _alive(m["sessiond"]["pid"])
    # the metadata switch timer put the metadata on disk: what reached disk reads back
    names = [e["fields"]["name"] for e in read_events(out) if e["name"] == "usdk:event"]
    assert names[:5] == ["before"] * 5
    assert m["events"]["ust"] == len(names)


def test_doctor_checks_a_daemon_can_start_and_leaves_none(isolated: list[str]) -> None:
    script = f"{shlex.join([*USDK, 'doctor'])}; echo doctor-status=$?; lttng list"
    r = subprocess.run([*isolated, "sh", "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert "none running; usdk record starts one for each recording" in r.stdout, r.stdout
    assert "doctor-status=0" in r.stdout
    # the daemon doctor started is gone: lttng list finds none in this namespace
    assert r.returncode != 0 and "No session daemon" in r.stderr, r.stderr
