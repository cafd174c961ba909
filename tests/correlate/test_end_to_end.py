"""End to end on real recordings: `usdk record` a workload with known writes per operation,
then `usdk attribute`/`usdk report` must give exactly the workload's own counts and bytes;
the HTML report is opened in headless chromium and screenshotted."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

WORKLOAD = textwrap.dedent("""
    import json, os, sys
    import usdk
    shop = usdk.Provider("e2eshop")
    out = sys.argv[1]
    done = {"e2eshop:put": [0, 0, 0], "e2eshop:log": [0, 0, 0]}  # calls, writes, bytes

    @shop.tracepoint
    def put(key: str, pages: int) -> int:
        fd = os.open(os.path.join(out, key), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        n = 0
        for _ in range(pages):
            n += os.write(fd, b"x" * 4096)
            done["e2eshop:put"][1] += 1
        os.fsync(fd)
        os.close(fd)
        done["e2eshop:put"][0] += 1
        done["e2eshop:put"][2] += n
        return n

    @shop.tracepoint
    def log(line: str) -> int:
        fd = os.open(os.path.join(out, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        n = os.write(fd, line.encode())
        os.close(fd)
        done["e2eshop:log"][0] += 1
        done["e2eshop:log"][1] += 1
        done["e2eshop:log"][2] += n
        return n

    for i in range(6):
        put(f"k{i}", i + 1)
        log("a" * (50 + i))
    with open(sys.argv[2], "w") as f:
        json.dump(done, f)
""")


def _usdk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "usdk.cli", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    if shutil.which("perf") is None and not Path("/proc/lttng").exists():
        pytest.skip("no kernel backend")
    d = tmp_path_factory.mktemp("e2e")
    (d / "data").mkdir()
    (d / "work.py").write_text(WORKLOAD)
    r = _usdk("record", "-q", "--ext4", "--syscalls", "io", "--sched",
              "--pmu", "task-clock,page-faults",
              "--kernel-event", "ext4_free_inode", "--kernel-event", "ext4_truncate_enter",
              "-o", str(d / "trace"), "--",
              sys.executable, str(d / "work.py"), str(d / "data"), str(d / "done.json"))
    assert r.returncode == 0, r.stderr
    return d / "trace", json.loads((d / "done.json").read_text())


@pytest.mark.kernel
def test_attribute_counts_and_bytes_equal_the_workloads_own(recording):
    trace, done = recording
    r = _usdk("attribute", str(trace), "--format", "csv")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(io.StringIO(r.stdout)).set_index("op")
    for op, (calls, writes, nbytes) in done.items():
        row = got.loc[op]
        assert row["count"] == calls
        assert row["write_syscalls"] == writes
        assert row["write_bytes"] == nbytes
        # buffered writes within one page each: one ext4_da_write_begin per write
        assert row["ext4_write_begin"] == writes
        assert row["ext4_bytes"] == nbytes
    # put fsyncs each file it wrote: all its pages are written back, and attributed to it
    assert got.loc["e2eshop:put", "fsyncs"] == done["e2eshop:put"][0]
    assert got.loc["e2eshop:put", "writeback_bytes"] == done["e2eshop:put"][2]
    assert got.loc["e2eshop:put", "fsync_ns"] > 0
    # files by path: from openat with LTTng, from perf/inodes.tsv (inode lookup) with perf
    data = trace.parent / "data"
    assert got.loc["e2eshop:put", "files"].split(";") == [str(data / f"k{i}") for i in range(6)]
    assert got.loc["e2eshop:log", "files"] == str(data / "log")


@pytest.mark.kernel
def test_report_json_has_the_stable_columns_and_per_syscall_breakdown(recording):
    trace, done = recording
    r = _usdk("report", str(trace), "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {o["op"]: o for o in json.loads(r.stdout)}
    assert set(done) <= set(rows)
    for op, (calls, writes, _) in done.items():
        o = rows[op]
        for k in ("op", "count", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns",
                  "syscall_ns", "offcpu_ns", "oncpu_ns"):
            assert k in o
        assert o["count"] == calls
        assert o["p50_ns"] <= o["p90_ns"] <= o["p99_ns"] <= o["max_ns"]
        assert o["by_syscall"]["write"]["count"] == writes
        assert 0 < o["oncpu_ns"] <= o["count"] * o["max_ns"]
    assert rows["e2eshop:put"]["by_syscall"]["fsync"]["count"] == done["e2eshop:put"][0]


@pytest.mark.kernel
def test_html_report_renders_in_headless_chromium(recording, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not installed (scripts/apt-packages.txt lists it)")
    trace, _ = recording
    out = tmp_path / "report.html"
    r = _usdk("report", str(trace), "--format", "html", "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "<svg" in text and "e2eshop:put" in text and "http" not in text.split("<body>")[1]
    shot = tmp_path / "report.png"
    dump = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         out.as_uri()], capture_output=True, text=True, timeout=120)
    assert "Where the time went" in dump.stdout
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1200,1800", f"--screenshot={shot}", out.as_uri()],
        capture_output=True, timeout=120)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a drawn page, not blank


@pytest.mark.kernel
def test_tracked_sleeps_are_off_cpu_with_perf(tmp_path):
    # perf -p (usdk record --track) sees only the task's switch-outs: the correlator ends
    # each at the thread's next event, so a 20 ms sleep is 20 ms off CPU, not on it
    if shutil.which("perf") is None:
        pytest.skip("linux-perf is not installed")
    app = tmp_path / "nap.py"
    app.write_text(textwrap.dedent("""
        import time, usdk
        shop = usdk.Provider("e2enap")

        @shop.tracepoint
        def nap() -> None:
            time.sleep(0.02)

        for _ in range(5):
            nap()
    """))
    r = _usdk("record", "-q", "--track", "--kernel-backend", "perf", "--sched",
              "--syscalls", "io", "-o", str(tmp_path / "trace"), "--", sys.executable, str(app))
    assert r.returncode == 0, r.stderr
    r = _usdk("report", str(tmp_path / "trace"), "--format", "json")
    assert r.returncode == 0, r.stderr
    row = next(x for x in json.loads(r.stdout) if x["op"] == "e2enap:nap")
    assert row["count"] == 5
    assert row["offcpu_ns"] >= 5 * 19_000_000, row
    assert row["oncpu_ns"] < row["offcpu_ns"] / 4, row
