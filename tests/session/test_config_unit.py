"""Unit tests of the session builder: names, presets, argv, clock alignment, index stats.

No LTTng or perf needed: catalogues are built in-process, Session runs with dry_run.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from usdk import events as ev
from usdk.channel import ChannelConfig, Domain, OverflowPolicy, index_stats
from usdk.errors import (
    BackendUnavailableError,
    OutputExistsError,
    SessionError,
    UnknownEventError,
)
from usdk.perf_backend import PerfPlan, align_ctf_clock, read_ctf_metadata
from usdk.session import (
    KernelBackend,
    KernelEvents,
    PythonLoggerRule,
    Session,
    SessionConfig,
    UstEventRule,
)

pytestmark = pytest.mark.unit

CAT = ev.KernelCatalogue(
    tracepoints=("ext4:ext4_da_write_begin", "ext4:ext4_da_write_end", "ext4:ext4_sync_file_enter",
                 "sched:sched_switch", "block:block_rq_issue"),
    syscalls=("read", "write", "openat", "close", "fsync", "pwrite64"),
)


def test_tracepoint_names_in_both_spellings_and_wildcards() -> None:
    assert CAT.resolve_tracepoint("ext4:ext4_da_write_begin") == ["ext4:ext4_da_write_begin"]
    assert CAT.resolve_tracepoint("ext4_da_write_begin") == ["ext4:ext4_da_write_begin"]
    assert CAT.resolve_tracepoint("ext4:ext4_da_*") == ["ext4:ext4_da_write_begin",
                                                         "ext4:ext4_da_write_end"]
    lt = ev.KernelCatalogue(("ext4_da_write_begin", "sched_switch"), ("write",), systemless=True)
    assert lt.resolve_tracepoint("ext4:ext4_da_write_begin") == ["ext4_da_write_begin"]


def test_unknown_names_come_with_closest_matches() -> None:
    with pytest.raises(UnknownEventError) as e:
        CAT.resolve_tracepoint("ext4:ext4_da_write_begn")
    assert e.value.suggestions[0] == "ext4:ext4_da_write_begin"
    assert "did you mean" in str(e.value)
    with pytest.raises(UnknownEventError) as e:
        CAT.resolve_syscall("wrte")
    assert "write" in e.value.suggestions
    with pytest.raises(UnknownEventError) as e:
        ev.resolve_counter("pagefaults")
    assert "page-faults" in e.value.suggestions


def test_syscall_presets_skip_what_the_kernel_lacks() -> None:
    names, skipped = ev.expand_syscalls(["io"], CAT)
    assert {"read", "write", "openat", "close", "fsync", "pwrite64"} == set(names)
    assert "fdatasync" in skipped
    assert ev.expand_syscalls(["sys_enter_write"], CAT)[0] == ["write"]
    tps, skipped = ev.expand_tracepoints(["ext4"], CAT)
    assert "ext4:ext4_da_write_begin" in tps and "ext4:ext4_write_begin" in skipped


def test_counter_spellings() -> None:
    c = ev.resolve_counter("perf:thread:page-fault")
    assert (c.name, c.ust_context, c.perf, c.field) == (
        "page-faults", "perf:thread:page-fault", "page-faults", "perf_thread_page_fault")
    assert ev.resolve_counter("cycles").hardware


def test_lttng_mi_listing_is_parsed() -> None:
    xml = ('<command xmlns="https://lttng.org/xml/ns/lttng-mi"><output><domains><domain>'
           "<type>KERNEL</type><events><event><name>sched_switch</name><type>TRACEPOINT</type>"
           "</event><event><name>write</name><type>SYSCALL</type></event></events></domain>"
           "</domains></output></command>")
    assert ev.parse_lttng_mi_events(xml) == [("sched_switch", "TRACEPOINT"), ("write", "SYSCALL")]


def test_channel_argv_and_checks() -> None:
    ch = ChannelConfig(name="usdk", subbuf_size=1 << 16, num_subbuf=4,
                       overflow=OverflowPolicy.OVERWRITE, blocking_timeout_us=100)
    argv = ch.lttng_args(Domain.UST, "s")
    assert argv[:3] == ["lttng", "enable-channel", "--userspace"]
    assert {"--overwrite", "--blocking-timeout=100", "--buffers-uid", "usdk"} <= set(argv)
    assert "--blocking-timeout=100" not in ch.lttng_args(Domain.KERNEL, "s")
    with pytest.raises(ValueError, match="power of two"):
        ChannelConfig(subbuf_size=3000)


def test_event_rule_argv() -> None:
    argv = UstEventRule("shop:*", loglevel="TRACE_INFO", filter="size > 10").lttng_args("s", "c")
    assert "shop:*" in argv and "--loglevel=TRACE_INFO" in argv and "--filter=size > 10" in argv
    assert any(a.startswith("--exclude=lttng_python:*") for a in argv)
    assert not any(a.startswith("--exclude") for a in UstEventRule("shop:put_entry")
                   .lttng_args("s", "c"))
    with pytest.raises(UnknownEventError, match="TRACE_INFO"):
        UstEventRule(loglevel="TRACE_INF")
    assert PythonLoggerRule("app", loglevel="INFO").lttng_args("s")[2:] == [
        "--python", "--session=s", "app", "--loglevel=INFO"]


def test_config_refuses_unknown_contexts_and_counters(tmp_path: Path) -> None:
    with pytest.raises(UnknownEventError, match="vtid"):
        SessionConfig(output=tmp_path / "t", ust_contexts=("vtd",))
    with pytest.raises(UnknownEventError):
        SessionConfig(output=tmp_path / "t", counters=("task-clok",))
    with pytest.raises(UnknownEventError, match="procname"):
        KernelEvents(contexts=("procnam",))


def test_dry_run_plans_a_ust_session_without_touching_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("usdk.session.sessiond_running", lambda: (True, ""))
    out = tmp_path / "t"
    s = Session(SessionConfig(output=out, name="plan", kernel_backend=KernelBackend.NONE,
                              python=(PythonLoggerRule(),)), dry_run=True)
    s.start()
    s.run(["true"])
    s.close()
    plan = s.plan().splitlines()
    assert plan[0] == f"lttng create plan --output={out}"
    assert any("lttng_python_channel" in line and "add-context" in line for line in plan)
    assert plan[-1] == "lttng destroy plan" and "true" in plan
    # the metadata reaches disk every second, so a daemon crash leaves a readable trace
    assert "lttng enable-channel --userspace --session=plan --switch-timer=1000000 metadata" \
        in plan
    assert not out.exists()


def test_without_a_sessiond_one_is_planned_or_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("usdk.session.sessiond_running",
                        lambda: (False, "Error: No session daemon is available"))
    cfg = SessionConfig(output=tmp_path / "t", name="plan", kernel_backend=KernelBackend.NONE)
    s = Session(cfg, dry_run=True)
    s.start()
    s.close()
    plan = s.plan().splitlines()
    assert plan[:2] == ["lttng-sessiond", f"lttng create plan --output={tmp_path / 't'}"]
    s = Session(cfg.replace(start_sessiond=False), dry_run=True)
    with pytest.raises(BackendUnavailableError, match="no LTTng session daemon .*lttng-sessiond "
                       "--daemonize"):
        s.start()
    assert s.plan() == ""


def test_output_holding_a_trace_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "t"
    (out / "ust").mkdir(parents=True)
    (out / "ust" / "metadata").write_text("keep me")
    s = Session(SessionConfig(output=out, kernel_backend=KernelBackend.NONE), dry_run=True)
    with pytest.raises(OutputExistsError, match="holds a trace") as e:
        s.start()
    assert e.value.path == str(out)
    assert (out / "ust" / "metadata").read_text() == "keep me"
    assert s.plan() == ""  # nothing was run


def test_missing_command_is_refused(tmp_path: Path) -> None:
    s = Session(SessionConfig(output=tmp_path / "t", kernel_backend=KernelBackend.NONE),
                dry_run=True)
    with pytest.raises(SessionError, match="command not found"):
        s.run(["definitely-not-a-command-xyz"])


def test_cli_dry_run_prints_commands(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "usdk.cli", "record", "--dry-run",
                        "--kernel-backend", "none", "--ust", "shop:*", "-o", str(tmp_path / "x"),
                        "--", "true"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "lttng enable-event --userspace" in r.stdout and "'shop:*'" in r.stdout
    assert not (tmp_path / "x").exists()


def test_cli_unknown_syscall_is_refused_before_start(tmp_path: Path) -> None:
    if not Path("/sys/kernel/tracing/available_events").exists():
        pytest.skip("tracefs not readable")
    r = subprocess.run([sys.executable, "-m", "usdk.cli", "record", "--dry-run",
                        "--kernel-backend", "perf", "--syscalls", "wrtie", "-o",
                        str(tmp_path / "x"), "--", "true"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "did you mean: write" in r.stderr


PERF_META = """/* CTF 1.8 */
trace { major = 1; minor = 8; };
clock {
	name = perf_clock;
	uuid = "19546981-ab0b-44f1-a4f2-ce1a628a3050";
	description = "perf clock";
	freq = 1000000000;
	precision = 10;
	offset_s = 0;
	offset = 0;
	absolute = FALSE;
};
typealias integer { size = 64; align = 1; signed = false; map = clock.perf_clock.value; } := u64;
"""


def test_perf_clock_becomes_lttng_monotonic(tmp_path: Path) -> None:
    meta = tmp_path / "metadata"
    meta.write_text(PERF_META)
    align_ctf_clock(meta, 1234567890123, uuid="44b10319-2f92-4618-bad1-a4b9d51971f6")
    text = meta.read_text()
    assert 'name = "monotonic";' in text and "offset = 1234567890123;" in text
    assert "absolute = TRUE;" in text and "perf_clock" not in text
    assert "map = clock.monotonic.value;" in text
    assert text.count("clock {") == 1


def test_packetized_metadata_is_read(tmp_path: Path) -> None:
    body = b'clock { name = "monotonic"; offset = 42; };'

    def packet(payload: bytes) -> bytes:
        size = 37 + len(payload)
        head = struct.pack("<I16sIIIBBBBB", 0x75D11D57, b"\0" * 16, 0, size * 8, size * 8,
                           0, 0, 0, 1, 8)
        return head + payload

    (tmp_path / "metadata").write_bytes(packet(body[:20]) + packet(body[20:]))
    assert read_ctf_metadata(tmp_path / "metadata") == body.decode()


def test_index_stats_count_discards_and_lost_packets(tmp_path: Path) -> None:
    idx = tmp_path / "ust" / "index"
    idx.mkdir(parents=True)

    def write(name: str, entries: list[tuple[int, int]]) -> None:
        data = struct.pack(">IIII", 0xC1F1DCC1, 1, 1, 72)
        for discarded, seq in entries:
            data += struct.pack(">9Q", 0, 4096, 4096, 1, 2, discarded, 0, 0, seq)
        (idx / name).write_bytes(data)

    write("usdk_0.idx", [(0, 0), (5, 1), (7, 3)])  # seq 2 missing: one lost packet
    write("usdk_1.idx", [(2, 0)])
    write("lttng_python_channel_0.idx", [(0, 0)])
    stats = index_stats(tmp_path / "ust")
    assert stats["usdk"] == {"discarded_events": 9, "lost_packets": 1, "packets": 4}
    assert stats["lttng_python_channel"]["discarded_events"] == 0


def test_perf_plan_lists_entry_and_exit() -> None:
    plan = PerfPlan(tracepoints=("ext4:ext4_da_write_begin",), syscalls=("write",))
    assert plan.events() == ["syscalls:sys_enter_write", "syscalls:sys_exit_write",
                             "ext4:ext4_da_write_begin"]


def test_lttng_kernel_backend_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands the lab runs with lttng-modules (man lttng-enable-event/add-context)."""
    cat = ev.KernelCatalogue(("ext4_da_write_begin", "ext4_da_write_end", "sched_switch"),
                             ("write", "read", "fsync"), systemless=True)
    monkeypatch.setattr(Session, "_choose_backend", lambda self: (KernelBackend.LTTNG, "test"))
    monkeypatch.setattr(Session, "_catalogue", lambda self, backend: cat)
    monkeypatch.setattr(ev, "counter_available", lambda c: True)
    cfg = SessionConfig(output=tmp_path / "t", name="lab", counters=("page-faults",),
                        kernel=KernelEvents(syscalls=("write", "fsync"),
                                            tracepoints=("ext4:ext4_da_write_*",)),
                        track_command=True)
    s = Session(cfg, dry_run=True, log=lambda m: None)
    s.start()
    s._track(4242)
    s.close()
    plan = s.plan().splitlines()
    assert ("lttng enable-channel --kernel --session=lab --subbuf-size=4194304 --num-subbuf=8 "
            "--discard usdk_kernel") in plan
    assert ("lttng enable-event --kernel --session=lab --channel=usdk_kernel --syscall "
            "write,fsync") in plan
    assert ("lttng enable-event --kernel --session=lab --channel=usdk_kernel --tracepoint "
            "ext4_da_write_begin,ext4_da_write_end") in plan
    assert ("lttng add-context --kernel --session=lab --channel=usdk_kernel --type=pid "
            "--type=tid --type=procname --type=perf:cpu:page-fault") in plan
    assert "lttng untrack --kernel --session=lab --pid --all" in plan
    assert "lttng track --kernel --session=lab --pid=4242" in plan
    assert not any("perf" in line.split()[0] for line in plan)
