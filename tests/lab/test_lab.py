"""Host side of the lab tier: the guest ran tests/lab/guest under the real LTTng kernel tracer.

Each test reads what the single guest boot (``guest`` fixture) left on the host: that it powered
off in time, that its kernel stayed healthy, that its pytest run passed with nothing skipped, and
that the traces it recorded read back on the host with the same counts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import correlate
from lab.vm import REPO, GuestResult

pytestmark = pytest.mark.lab

# Kernel messages that mean the guest kernel (or lttng-modules) broke, even if the tests passed.
KERNEL_TROUBLE = re.compile(r"\] (BUG:|Oops|WARNING:|general protection fault|Kernel panic"
                            r"|INFO: task .* blocked|watchdog: BUG)")


def _cases(guest: GuestResult, report: str = "junit.xml") -> list[ET.Element]:
    junit = guest.out_dir / report
    assert junit.exists(), f"the guest wrote no pytest report\n{guest.failure_report()}"
    return list(ET.parse(junit).getroot().iter("testcase"))


def test_guest_powers_off_in_time(guest: GuestResult) -> None:
    assert guest.powered_off, guest.failure_report()
    assert guest.returncode is not None, guest.failure_report()


def test_guest_kernel_stays_healthy(guest: GuestResult) -> None:
    trouble = [line for line in guest.console.splitlines() if KERNEL_TROUBLE.search(line)]
    assert not trouble, "guest kernel trouble:\n" + "\n".join(trouble) + "\n" + \
        guest.failure_report()
    assert "kernel tracer loaded" in guest.console, guest.failure_report()


def _outcome(case: ET.Element, kind: str) -> str | None:
    """The message of a junit test case's ``failure``/``error``/``skipped`` element, if any."""
    el = case.find(kind)
    return None if el is None else (el.get("message") or el.text or kind)


def test_guest_tests_pass(guest: GuestResult) -> None:
    cases = _cases(guest)
    assert cases, "the guest collected no test"
    bad = {f"{c.get('classname')}::{c.get('name')}": msg for c in cases
           for msg in (_outcome(c, "failure") or _outcome(c, "error"),) if msg}
    assert not bad, "guest tests failed:\n" + "\n\n".join(
        f"{name}: {msg[:2000]}" for name, msg in bad.items()) + \
        f"\n--- guest log\n{guest.log[-6000:]}"
    assert guest.returncode == 0, guest.failure_report()


def test_project_kernel_tier_passes_in_the_guest_with_lttng(guest: GuestResult) -> None:
    """The project's own ``kernel`` tests (session builder, correlator end to end, reader),
    run in the guest with ``USDK_KERNEL_BACKEND=lttng``. Tests for the perf backend skip there;
    known lttng-modules gaps are strict xfails (lab/known_gaps.py); the rest must pass."""
    cases = _cases(guest, "kernel-tier.xml")
    bad = {f"{c.get('classname')}::{c.get('name')}": msg for c in cases
           for msg in (_outcome(c, "failure") or _outcome(c, "error"),) if msg}
    assert not bad, "kernel tier failed in the guest:\n" + "\n\n".join(
        f"{name}: {msg[:2000]}" for name, msg in bad.items())
    passed = {c.get("name") for c in cases
              if not any(c.find(k) is not None for k in ("failure", "error", "skipped"))}
    assert "test_record_acceptance" in passed, "issue 3's acceptance did not run with lttng"
    notes = {f"{c.get('classname')}::{c.get('name')}": msg for c in cases
             for msg in (_outcome(c, "skipped"),) if msg}
    print("kernel tier in the guest, skipped or xfailed:", json.dumps(notes, indent=1))


def test_guest_skips_nothing(guest: GuestResult) -> None:
    """A guest test that skipped proved nothing; the lab exists so these checks really run."""
    skipped = {f"{c.get('classname')}::{c.get('name')}": msg for c in _cases(guest)
               for msg in (_outcome(c, "skipped"),) if msg}
    assert not skipped, f"guest tests skipped: {json.dumps(skipped, indent=1)}"


def test_guest_trace_reads_back_on_the_host(guest: GuestResult) -> None:
    """The lttng kernel trace the guest recorded, read again here with the reader: the same
    workload counts, contexts and ext4 events."""
    name = "test_syscalls_ext4_and_contexts_of_a_known_workload"
    trace = guest.out_dir / "traces" / name
    w = json.loads((guest.out_dir / "traces" / f"{name}.workload.json").read_text())
    t = correlate.open(trace, progress=False)
    n = w["ops"] * w["writes_per_op"]
    writes = t.table("syscalls:sys_enter_write")  # the perf spelling of syscall_entry_write
    writes = writes.query(f"tid == {w['tid']} and count == {w['block']}")
    assert len(writes) == n
    assert set(writes["procname"]) == {w["comm"]} and set(writes["pid"]) == {w["pid"]}
    assert len(t.table("ext4:ext4_da_write_begin").query(f"tid == {w['tid']}")) == n
    assert len(t.table("ext4_sync_file_enter").query(f"tid == {w['tid']}")) == w["ops"]


def test_reader_native_equals_bt2_on_the_guests_lttng_kernel_traces(guest: GuestResult) -> None:
    """Issue 4's differential test on real lttng-modules traces: every table and the events
    table the native decoder returns equal babeltrace2's, for every trace the guest made."""
    import pandas as pd

    traces = sorted(p for p in (guest.out_dir / "traces").iterdir() if (p / "kernel").is_dir())
    assert traces, "the guest brought back no LTTng kernel trace"
    for trace in traces:
        a = correlate.open(trace, backend="native", progress=False)
        b = correlate.open(trace, backend="bt2", progress=False)
        assert all(x.decoder == "native" for x in a.backends), (trace.name, a.backends)
        assert a.names == b.names and len(a) > 0, trace.name
        assert any(not n.startswith(("usdk:", "kvstore:", "shop:")) for n in a.names)
        for name in b.names:
            pd.testing.assert_frame_equal(a.table(name), b.table(name), check_exact=True,
                                          obj=f"{trace.name}: {name}")
        pd.testing.assert_frame_equal(a.events, b.events, check_exact=True, obj=trace.name)


def test_guest_reports_the_perf_counters(guest: GuestResult) -> None:
    counters = json.loads((guest.out_dir / "perf-counters.json").read_text())
    assert "perf:cpu:task-clock" in counters["offered"]
    print(f"perf:cpu counters offered in the guest: {counters['offered']}; "
          f"missing: {sorted(counters['missing'])}")


def test_hung_guest_is_killed_and_its_console_kept(hung_guest: GuestResult) -> None:
    r = hung_guest
    assert r.timed_out and not r.powered_off and r.returncode is None
    assert r.seconds < 55, f"the hung guest was not killed at its 40 s timeout ({r.seconds} s)"
    assert "lab-hang-marker" in r.console, r.failure_report()
    assert "did not power off within" in r.failure_report()


# The figures both kernel backends must agree on for the same workload. Timing (fsync_ns) and
# file naming (paths from lttng's openat, inodes with perf) differ by nature and are not
# compared; writeback is a known gap of the lttng backend (test below).
EQUIVALENT = ["count", "write_syscalls", "write_bytes", "write_bytes_asked", "ext4_write_begin",
              "ext4_bytes", "fsyncs"]
EQUIVALENCE_TRACE = "test_record_cli_lttng_backend_ext4_syscalls_pmu"


@pytest.fixture(scope="module")
def both_backends(guest: GuestResult, tmp_path_factory: pytest.TempPathFactory,
                  ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per-operation figures of the guest's lttng recording and of the same workload recorded
    here with the perf backend, and the workload's own counts."""
    from correlate.analysis import Analysis
    from correlate.report import attribute_table

    w = json.loads((guest.out_dir / "traces" / f"{EQUIVALENCE_TRACE}.workload.json").read_text())
    tmp = tmp_path_factory.mktemp("perf-backend")
    work = tmp / "files"
    work.mkdir()
    fstype = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", str(work)], capture_output=True,
                            text=True).stdout.strip()
    if fstype != "ext4":
        pytest.skip(f"the host's {work} is on {fstype or 'an unknown fs'}, not ext4")
    host_trace = tmp / "trace"
    r = subprocess.run(
        [str(Path(sys.executable).with_name("usdk")), "record", "--kernel-backend", "perf",
         "--ext4", "--syscalls", "io", "--pmu", "task-clock,page-faults", "-o", str(host_trace),
         "--", sys.executable, str(REPO / "tests/lab/guest/workload.py"), str(work), "--usdk",
         f"--ops={w['ops']}", f"--writes={w['writes_per_op']}"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr

    def figures(trace: Path) -> dict[str, int]:
        table = attribute_table(Analysis(correlate.open(trace, progress=False)))
        row = table[table["op"] == "usdk_lab:op"]
        assert len(row) == 1, table.to_string()
        out = {c: int(row.iloc[0][c]) for c in [*EQUIVALENT, "writeback_bytes"]}
        out["files"] = len(str(row.iloc[0]["files"]).split(";"))
        return out

    return figures(guest.out_dir / "traces" / EQUIVALENCE_TRACE), figures(host_trace), w


@pytest.mark.kernel
def test_lttng_backend_in_guest_equals_perf_backend_on_host(
    both_backends: tuple[dict[str, int], dict[str, int], dict[str, int]],
) -> None:
    """Same workload, ``lttng`` backend in the guest, ``perf`` backend here: the correlator
    gives the same per-operation figures."""
    lttng, perf, w = both_backends
    keys = [*EQUIVALENT, "files"]
    assert {k: lttng[k] for k in keys} == {k: perf[k] for k in keys}
    n = w["ops"] * w["writes_per_op"]
    assert lttng["write_syscalls"] == n and lttng["ext4_write_begin"] == n
    assert lttng["files"] == w["ops"] and lttng["fsyncs"] == w["ops"]


@pytest.mark.kernel
@pytest.mark.xfail(strict=True, reason="lttng-modules 2.13.9 has no ext4_writepages_result probe "
                   "(only the pre-3.11 ext4_da_writepages_result), so the lttng backend records "
                   "no writeback; see lab/known_gaps.py")
def test_lttng_backend_attributes_writeback_like_perf(
    both_backends: tuple[dict[str, int], dict[str, int], dict[str, int]],
) -> None:
    lttng, perf, w = both_backends
    assert perf["writeback_bytes"] == w["ops"] * w["writes_per_op"] * w["block"]
    assert lttng["writeback_bytes"] == perf["writeback_bytes"]
