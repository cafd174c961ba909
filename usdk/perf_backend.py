"""The ``perf`` kernel backend: linux-perf records kernel tracepoints next to an LTTng session.

Where the LTTng kernel tracer (lttng-modules) is not available, a ``perf record`` is
started and stopped with the session. It records perf_event tracepoints system-wide
(``syscalls:sys_enter_*``, ``ext4:*``, ``sched:*``, ``writeback:*``, ``block:*``) on
``CLOCK_MONOTONIC`` — the clock LTTng-UST stamps with — and is converted to CTF inside
the session directory::

    DIR/perf/perf.data       the raw recording (perf report / perf script read it)
    DIR/perf/ctf/            CTF conversion; its clock block is rewritten to LTTng's
                             "monotonic" clock (same uuid = boot id, same offset) so
                             ``babeltrace2 DIR`` interleaves it with the UST trace
    DIR/perf/tasks.tsv       tid, pid, procname (comm), first_ns, last_ns per thread and
                             name, from perf's comm records: perf's CTF carries pid/tid/cpu
                             per event but no procname; join on tid and time
    DIR/perf/inodes.tsv      dev, ino, path of the files ext4 events name (ext4 events carry
                             inode numbers only), looked up right after the recording
                             (:mod:`usdk.inodes`); files gone by then are left out
    DIR/perf/record.log      perf record's stderr

Start-up is synchronous: perf starts with its events disabled (``-D -1``) and a control
FIFO; the recorder sends ``enable`` and waits for perf's ``ack``, so no event of the
workload is missed. Stop sends SIGINT to perf's pid so it flushes. perf's own writes are
filtered out (``--exclude-perf``); writeback of perf.data by kernel threads is not.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import select
import shutil
import signal
import subprocess
import time
import uuid as uuidlib
from collections.abc import Sequence
from pathlib import Path

from usdk.errors import BackendUnavailableError, CommandError, SessionError
from usdk.inodes import INODES_FILE, kernel_dev
from usdk.inodes import resolve as resolve_inodes
from usdk.inodes import write_tsv as write_inodes
from usdk.lttngctl import Runner


def perf_path() -> str | None:
    return shutil.which("perf")


@dataclasses.dataclass(frozen=True)
class PerfPlan:
    """What the perf recorder records: ``system:event`` tracepoints and syscall names."""

    tracepoints: tuple[str, ...] = ()
    syscalls: tuple[str, ...] = ()
    mmap_pages: int = 1024  # per-CPU ring buffer, in pages (perf record -m)
    pid: int | None = None  # record only this process and its descendants

    def events(self) -> list[str]:
        evs: list[str] = []
        for s in self.syscalls:
            evs += [f"syscalls:sys_enter_{s}", f"syscalls:sys_exit_{s}"]
        evs += list(self.tracepoints)
        return list(dict.fromkeys(evs))


class PerfRecorder:
    """One ``perf record`` process writing under ``DIR/perf``."""

    def __init__(self, plan: PerfPlan, directory: Path, runner: Runner) -> None:
        self.plan = plan
        self.dir = Path(directory) / "perf"
        self.runner = runner
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.died = False
        self.log = self.dir / "record.log"

    @property
    def data(self) -> Path:
        return self.dir / "perf.data"

    def argv(self) -> list[str]:
        perf = perf_path() or "perf"
        argv = [perf, "record", "--quiet", "-k", "CLOCK_MONOTONIC", "--no-buildid",
                "-m", str(self.plan.mmap_pages), "-o", str(self.data),
                "-D", "-1", f"--control=fifo:{self.dir / 'ctl.fifo'},{self.dir / 'ack.fifo'}"]
        argv += ["-p", str(self.plan.pid)] if self.plan.pid is not None else ["-a"]
        events = self.plan.events()
        if events:
            argv += ["-e", ",".join(events), "--exclude-perf"]
        return argv

    # --- lifetime ---------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start perf and return once it records (its ``ack`` to ``enable``)."""
        argv = self.argv()
        self.runner.note(argv)
        if self.runner.dry_run:
            return
        if perf_path() is None:
            raise BackendUnavailableError(
                "linux-perf is not installed: apt-get install linux-perf "
                "(or use kernel_backend='none' for a UST-only session)"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        for fifo in ("ctl.fifo", "ack.fifo"):
            p = self.dir / fifo
            if p.exists():
                p.unlink()
            os.mkfifo(p, 0o600)
        with open(self.log, "wb") as log:
            # own session: a terminal's Ctrl-C reaches usdk, which stops perf itself
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            self._handshake(timeout)
        except BaseException:
            self.stop()
            raise

    def _handshake(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        ack = os.open(self.dir / "ack.fifo", os.O_RDONLY | os.O_NONBLOCK)
        try:
            while True:
                try:
                    ctl = os.open(self.dir / "ctl.fifo", os.O_WRONLY | os.O_NONBLOCK)
                    break
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
                self._check_alive("while starting")
                if time.monotonic() > deadline:
                    raise CommandError("perf record did not start in time", argv=self.argv(),
                                       stderr=self.log_tail())
                time.sleep(0.02)
            try:
                os.write(ctl, b"enable\n")
                got = b""
                while b"ack" not in got:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise CommandError("perf record did not acknowledge 'enable'",
                                           argv=self.argv(), stderr=self.log_tail())
                    ready, _, _ = select.select([ack], [], [], min(left, 0.2))
                    if ready:
                        got += os.read(ack, 64)
                    self._check_alive("while enabling its events")
            finally:
                os.close(ctl)
        finally:
            os.close(ack)

    def _check_alive(self, when: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            self.died = True
            raise CommandError(f"perf record exited {when} (status {self.proc.returncode})",
                               argv=self.argv(), returncode=self.proc.returncode,
                               stderr=self.log_tail())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 120.0) -> None:
        """SIGINT perf so it flushes perf.data; a perf that already died is noted."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.died = True
        else:
            self.died = True  # it ended before we asked it to
        self.returncode = self.proc.returncode
        self.proc = None
        for fifo in ("ctl.fifo", "ack.fifo"):
            (self.dir / fifo).unlink(missing_ok=True)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- after the recording ------------------------------------------------------------

    def finish(self, clock_offset_ns: int | None) -> dict[str, object]:
        """Convert perf.data to CTF, align its clock, write tasks.tsv; return stats."""
        perf = perf_path() or "perf"
        convert = [perf, "data", "convert", "--to-ctf", str(self.dir / "ctf"),
                   "-i", str(self.data)]
        self.runner.note(convert)
        if self.runner.dry_run:
            return {}
        if not self.data.exists() or self.data.stat().st_size == 0:
            raise SessionError(f"perf wrote no data ({self.data}); perf log:\n{self.log_tail()}")
        r = subprocess.run(convert, capture_output=True, text=True)
        if r.returncode != 0:
            raise CommandError("perf data convert failed (perf.data is kept)", argv=convert,
                               returncode=r.returncode, stderr=r.stderr)
        offset = clock_offset_ns if clock_offset_ns is not None else monotonic_offset_ns()
        align_ctf_clock(self.dir / "ctf" / "metadata", offset)
        stats = self._script_stats(perf)
        stats["clock_offset_ns"] = offset
        return stats

    def _script_stats(self, perf: str) -> dict[str, object]:
        """One ``perf script`` pass: per-thread procnames (tasks.tsv), lost samples, and the
        inodes ext4 events name (inodes.tsv, when ext4 events were recorded)."""
        want_inodes = any(t.startswith("ext4:") for t in self.plan.tracepoints)
        fields = "comm,tid,pid,time" + (",event,trace" if want_inodes else "")
        argv = [perf, "script", "-i", str(self.data), "--show-task-events",
                "--show-lost-events", "-F", fields, "--ns"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, errors="replace")
        assert proc.stdout is not None
        sample = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+(\d+)\.(\d+):\s*(.*)$")
        comm_rec = re.compile(r"PERF_RECORD_COMM(?: exec)?: (.*):(\d+)/(\d+)")
        lost_rec = re.compile(r"PERF_RECORD_LOST(?:_SAMPLES)?.*?lost[:= ]+(\d+)")
        ext4 = re.compile(r"^ext4:\w+: dev (\d+),(\d+) ino (\d+)")
        inodes: set[tuple[int, int]] = set()
        tasks: dict[tuple[int, str], list[int]] = {}
        samples = 0
        lost = 0
        for line in proc.stdout:
            m = sample.match(line)
            if not m:
                continue
            comm, pid, tid = m.group(1), int(m.group(2)), int(m.group(3))
            ns = int(m.group(4)) * 1_000_000_000 + int(m.group(5).ljust(9, "0")[:9])
            rest = m.group(6)
            if rest.startswith("PERF_RECORD"):
                c = comm_rec.search(rest)
                if c:
                    comm, pid, tid = c.group(1), int(c.group(2)), int(c.group(3))
                elif (lo := lost_rec.search(rest)) is not None:
                    lost += int(lo.group(1))
                    continue
                else:
                    continue
            else:
                samples += 1
                if want_inodes and (e := ext4.match(rest)) is not None:
                    inodes.add((kernel_dev(int(e.group(1)), int(e.group(2))),
                                int(e.group(3))))
            key = (tid, comm)
            span = tasks.get(key)
            if span is None:
                tasks[key] = [pid, ns, ns]
            else:
                span[1] = min(span[1], ns) if ns else span[1]
                span[2] = max(span[2], ns)
        proc.wait()
        with open(self.dir / "tasks.tsv", "w") as f:
            f.write("tid\tpid\tprocname\tfirst_ns\tlast_ns\n")
            for (tid, comm), (pid, first, last) in sorted(tasks.items(),
                                                          key=lambda kv: (kv[0][0], kv[1][1])):
                f.write(f"{tid}\t{pid}\t{comm}\t{first}\t{last}\n")
        if want_inodes:
            inodes.discard((0, 0))
            paths = resolve_inodes(inodes)
            write_inodes(self.dir / INODES_FILE, paths)
            return {"samples": samples, "lost_samples": lost, "inodes": len(inodes),
                    "inodes_named": len(paths)}
        return {"samples": samples, "lost_samples": lost}


# --- clock alignment ----------------------------------------------------------------------


def monotonic_offset_ns() -> int:
    """Epoch minus CLOCK_MONOTONIC, the way LTTng computes its clock offset."""
    samples = []
    for _ in range(5):
        a = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        r = time.clock_gettime_ns(time.CLOCK_REALTIME)
        b = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        samples.append((b - a, r - (a + b) // 2))
    return min(samples)[1]


def boot_id() -> str:
    """The uuid LTTng gives its monotonic clock (the kernel's boot id)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(uuidlib.uuid4())


CTF_METADATA_MAGIC = 0x75D11D57


def read_ctf_metadata(path: Path) -> str:
    """The TSDL text of a CTF metadata file, packetized (LTTng) or plain (perf)."""
    data = Path(path).read_bytes()
    if len(data) < 4 or int.from_bytes(data[:4], "little") != CTF_METADATA_MAGIC:
        return data.decode(errors="replace")
    out = []
    pos = 0
    while pos + 37 <= len(data):
        content_bits = int.from_bytes(data[pos + 24:pos + 28], "little")
        packet_bits = int.from_bytes(data[pos + 28:pos + 32], "little")
        if packet_bits == 0:
            break
        out.append(data[pos + 37:pos + content_bits // 8])
        pos += packet_bits // 8
    return b"".join(out).decode(errors="replace")


def lttng_clock_offset(directory: Path) -> int | None:
    """The ``monotonic`` clock offset of the first LTTng trace under ``directory``."""
    for meta in sorted(Path(directory).glob("**/metadata")):
        if "perf" in meta.relative_to(directory).parts:
            continue
        text = read_ctf_metadata(meta)
        m = re.search(r'clock\s*\{[^}]*name\s*=\s*"?monotonic"?;[^}]*?offset\s*=\s*(\d+);', text)
        if m:
            return int(m.group(1))
    return None


def align_ctf_clock(metadata: Path, offset_ns: int, uuid: str | None = None) -> None:
    """Rewrite perf's CTF clock as LTTng's ``monotonic`` clock (name, uuid, offset).

    Both count CLOCK_MONOTONIC nanoseconds; once their clock classes agree (absolute,
    same offset), babeltrace2 muxes the two traces into one time order without flags.
    """
    text = Path(metadata).read_text()
    m = re.search(r"clock\s*\{[^}]*\};", text)
    if not m:
        raise SessionError(f"no clock block in {metadata}")
    old = re.search(r"name\s*=\s*\"?([A-Za-z0-9_]+)\"?;", m.group(0))
    old_name = old.group(1) if old else "perf_clock"
    block = (
        "clock {\n"
        '\tname = "monotonic";\n'
        f'\tuuid = "{uuid or boot_id()}";\n'
        '\tdescription = "Monotonic Clock";\n'
        "\tfreq = 1000000000; /* Frequency, in Hz */\n"
        f"\toffset = {offset_ns};\n"
        "\tabsolute = TRUE;\n"
        "};"
    )
    text = text[: m.start()] + block + text[m.end():]
    text = text.replace(f"clock.{old_name}.value", "clock.monotonic.value")
    Path(metadata).write_text(text)


def perf_record_available() -> tuple[bool, str]:
    """Whether perf can record tracepoints here (root or a low perf_event_paranoid)."""
    if perf_path() is None:
        return False, "linux-perf is not installed (apt-get install linux-perf)"
    if os.geteuid() != 0:
        try:
            paranoid = int(Path("/proc/sys/kernel/perf_event_paranoid").read_text())
        except (OSError, ValueError):
            paranoid = 2
        if paranoid > -1:
            return False, (
                "recording kernel tracepoints with perf needs root "
                f"(or kernel.perf_event_paranoid=-1; it is {paranoid})"
            )
    if not Path("/sys/kernel/tracing/events").is_dir():
        return False, "tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing"
    return True, ""


def events_seen(argv: Sequence[str]) -> list[str]:
    """The ``-e`` list of a perf argv (for the manifest)."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if a == "-e" and i + 1 < len(argv):
            out += argv[i + 1].split(",")
    return out
