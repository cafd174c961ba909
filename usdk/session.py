"""One tracing session for user-space (LTTng-UST) and kernel events, as a context manager.

A :class:`Session` records the application's UST events, Python ``logging`` records (through
the ``lttngust`` agent) and kernel events — syscalls, ext4/writeback/block/sched tracepoints
— into one directory, with ``perf:thread:*`` counters as UST contexts. The kernel side comes
from one of two backends (:class:`KernelBackend`): the kernel domain of the same LTTng
session (lttng-modules), or a linux-perf recorder started and stopped with it where the
LTTng kernel tracer is unavailable. Every name is checked before anything starts. Example::

    from usdk.session import Session, SessionConfig, KernelEvents

    config = SessionConfig(
        output="trace",
        kernel=KernelEvents(syscalls=("io",), tracepoints=("ext4",)),
        counters=("task-clock", "page-faults"),
    )
    with Session(config) as session:
        status = session.run(["python3", "app.py"])
    print(session.summary())

Session directory layout (what the reader and correlator rely on)::

    DIR/usdk-manifest.json   what was enabled, backend, clock, host, versions, start/stop,
                             traced command + exit status, discarded/lost per channel
    DIR/ust/uid/<uid>/64-bit/        LTTng-UST trace: channel "usdk" (provider events) and
                                     "lttng_python_channel" (logging); contexts vpid, vtid,
                                     procname, perf_thread_<counter>
    DIR/kernel/              LTTng kernel trace (backend "lttng"): channel "usdk_kernel",
                             contexts pid, tid, procname (+ perf_cpu_<counter>)
    DIR/perf/perf.data       backend "perf": the raw recording
    DIR/perf/ctf/            backend "perf": CTF, clock rewritten to LTTng's "monotonic"
    DIR/perf/tasks.tsv       backend "perf": tid -> pid, procname (perf's CTF has no comm)
    DIR/snapshot-<n>/...     snapshot mode: one directory per ``snapshot()``

``babeltrace2 DIR`` prints UST and kernel events of both backends in one time order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from usdk import events as ev
from usdk.channel import PYTHON_CHANNEL, ChannelConfig, Domain, OverflowPolicy, index_stats
from usdk.errors import (
    BackendUnavailableError,
    CommandError,
    OutputExistsError,
    SessionError,
    UnknownEventError,
)
from usdk.lttngctl import (
    OwnedSessiond,
    Runner,
    kernel_tracer_available,
    sessiond_running,
    tool_version,
)
from usdk.manifest import FORMAT, MANIFEST_NAME, count_events, host_info, write_manifest
from usdk.perf_backend import PerfPlan, PerfRecorder, boot_id, lttng_clock_offset

__all__ = [
    "KernelBackend", "SessionMode", "LogLevelMatch", "UstEventRule", "PythonLoggerRule",
    "KernelEvents", "SessionConfig", "Session", "UST_LOGLEVELS", "PYTHON_LOGLEVELS",
]


class KernelBackend(enum.Enum):
    """Who records kernel events."""

    AUTO = "auto"  # lttng when the LTTng kernel tracer is available, else perf
    LTTNG = "lttng"  # the kernel domain of the LTTng session (lttng-modules)
    PERF = "perf"  # a linux-perf recorder beside the LTTng session
    NONE = "none"  # user space only


class SessionMode(enum.Enum):
    NORMAL = "normal"  # record to disk from start to stop
    SNAPSHOT = "snapshot"  # flight recorder: overwrite ring buffers, snapshot() writes them


class LogLevelMatch(enum.Enum):
    AT_LEAST = "range"  # this level and more severe (--loglevel)
    EXACTLY = "only"  # this level only (--loglevel-only)


UST_LOGLEVELS = (
    "TRACE_EMERG", "TRACE_ALERT", "TRACE_CRIT", "TRACE_ERR", "TRACE_WARNING", "TRACE_NOTICE",
    "TRACE_INFO", "TRACE_DEBUG_SYSTEM", "TRACE_DEBUG_PROGRAM", "TRACE_DEBUG_PROCESS",
    "TRACE_DEBUG_MODULE", "TRACE_DEBUG_UNIT", "TRACE_DEBUG_FUNCTION", "TRACE_DEBUG_LINE",
    "TRACE_DEBUG",
)
PYTHON_LOGLEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")

# Contexts `lttng add-context` accepts besides perf counters (lttng-tools 2.13).
UST_CONTEXTS = ("vpid", "vtid", "procname", "pthread_id", "ip", "cgroup_ns", "ipc_ns",
                "mnt_ns", "net_ns", "pid_ns", "time_ns", "user_ns", "uts_ns", "vuid",
                "veuid", "vsuid", "vgid", "vegid", "vsgid")
KERNEL_CONTEXTS = ("pid", "tid", "procname", "vpid", "vtid", "ppid", "vppid", "prio", "nice",
                   "hostname", "interruptible", "preemptible", "need_reschedule",
                   "migratable", "callstack-kernel", "callstack-user", "uid", "gid")

# UST events that belong elsewhere or are noise in the provider channel.
DEFAULT_UST_EXCLUDES = ("lttng_python:*", "lttng_ust_statedump:*", "lttng_ust_lib:*",
                        "lttng_ust_dl:*")


def _check_level(level: str | None, valid: Sequence[str], what: str) -> None:
    if level is not None and level not in valid:
        raise UnknownEventError(f"unknown {what} log level {level!r}", name=level,
                                suggestions=ev.closest(level, valid))


@dataclasses.dataclass(frozen=True)
class UstEventRule:
    """Enable UST events matching ``pattern`` (``shop:*``, ``usdk:span_*``, ``*``)."""

    pattern: str = "*"
    loglevel: str | None = None
    loglevel_match: LogLevelMatch = LogLevelMatch.AT_LEAST
    filter: str | None = None
    exclude: tuple[str, ...] | None = None  # None: DEFAULT_UST_EXCLUDES for "*" patterns

    def __post_init__(self) -> None:
        if not self.pattern or any(c.isspace() for c in self.pattern):
            raise ValueError(f"UST event pattern {self.pattern!r}: no spaces, not empty")
        _check_level(self.loglevel, UST_LOGLEVELS, "UST")
        if self.exclude and not self.pattern.endswith("*"):
            raise ValueError("exclusions need a pattern ending in '*' (man lttng-enable-event)")

    def excludes(self) -> tuple[str, ...]:
        if self.exclude is not None:
            return self.exclude
        return DEFAULT_UST_EXCLUDES if self.pattern.endswith("*") else ()

    def lttng_args(self, session: str, channel: str) -> list[str]:
        argv = ["lttng", "enable-event", "--userspace", f"--session={session}",
                f"--channel={channel}", self.pattern]
        if self.loglevel:
            only = "-only" if self.loglevel_match is LogLevelMatch.EXACTLY else ""
            argv.append(f"--loglevel{only}={self.loglevel}")
        if self.filter:
            argv.append(f"--filter={self.filter}")
        if self.excludes():
            argv.append(f"--exclude={','.join(self.excludes())}")
        return argv


@dataclasses.dataclass(frozen=True)
class PythonLoggerRule:
    """Record Python ``logging`` records of ``logger`` (``*``: all) via the lttngust agent.

    The application must ``import lttngust`` (python3-lttngust) for its records to reach
    the session.
    """

    logger: str = "*"
    loglevel: str | None = None
    loglevel_match: LogLevelMatch = LogLevelMatch.AT_LEAST
    filter: str | None = None

    def __post_init__(self) -> None:
        _check_level(self.loglevel, PYTHON_LOGLEVELS, "Python")

    def lttng_args(self, session: str) -> list[str]:
        argv = ["lttng", "enable-event", "--python", f"--session={session}", self.logger]
        if self.loglevel:
            only = "-only" if self.loglevel_match is LogLevelMatch.EXACTLY else ""
            argv.append(f"--loglevel{only}={self.loglevel}")
        if self.filter:
            argv.append(f"--filter={self.filter}")
        return argv


@dataclasses.dataclass(frozen=True)
class KernelEvents:
    """Kernel events: syscalls (names or presets: ``io``, ``file``, ``net``, ``sched``,
    ``all``) and tracepoints (either spelling, wildcards, presets ``ext4``/``sched``)."""

    syscalls: tuple[str, ...] = ()
    tracepoints: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ("pid", "tid", "procname")
    channel: ChannelConfig = ChannelConfig(name="usdk_kernel", subbuf_size=4 << 20,
                                           num_subbuf=8)
    perf_mmap_pages: int = 1024

    def __post_init__(self) -> None:
        for c in self.contexts:
            if c not in KERNEL_CONTEXTS:
                raise UnknownEventError(f"unknown kernel context {c!r}", name=c,
                                        suggestions=ev.closest(c, KERNEL_CONTEXTS))


@dataclasses.dataclass(frozen=True)
class SessionConfig:
    """Everything a :class:`Session` records; immutable, checked before anything starts.

    ``ust`` empty disables UST events; ``kernel`` None records no kernel events.
    ``counters`` must all exist on this CPU; ``optional_counters`` are added when they do.
    ``track_command`` restricts recording to the command :meth:`Session.run` launches
    (UST: its vpid; kernel LTTng: its pid; perf: the process and its descendants).
    ``start_sessiond``: when no session daemon answers, start one for this session and
    end it when the session closes (``lttng create`` starts one too, but leaves it
    running); False raises :class:`BackendUnavailableError` instead.
    ``metadata_switch_timer_us``: how often the UST metadata is flushed to disk (LTTng
    writes it only at stop by default), so a trace stays readable when the session
    daemon dies; None keeps LTTng's default.
    """

    output: str | os.PathLike[str]
    name: str | None = None
    mode: SessionMode = SessionMode.NORMAL
    ust: tuple[UstEventRule, ...] = (UstEventRule(),)
    python: tuple[PythonLoggerRule, ...] = ()
    ust_channel: ChannelConfig = ChannelConfig()
    ust_contexts: tuple[str, ...] = ("vpid", "vtid", "procname")
    counters: tuple[str, ...] = ()
    optional_counters: tuple[str, ...] = ()
    kernel: KernelEvents | None = None
    kernel_backend: KernelBackend = KernelBackend.AUTO
    track_command: bool = False
    start_sessiond: bool = True
    metadata_switch_timer_us: int | None = 1_000_000

    def __post_init__(self) -> None:
        for c in self.ust_contexts:
            if c not in UST_CONTEXTS:
                raise UnknownEventError(f"unknown UST context {c!r}", name=c,
                                        suggestions=ev.closest(c, UST_CONTEXTS))
        for c in (*self.counters, *self.optional_counters):
            ev.resolve_counter(c)  # raises with close matches
        if self.name is not None and not all(ch.isalnum() or ch in "_-." for ch in self.name):
            raise ValueError(f"session name {self.name!r}: use letters, digits, '_', '-', '.'")

    def replace(self, **changes: Any) -> SessionConfig:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass
class _Resolved:
    """A config checked against the machine: names expanded, backend chosen."""

    backend: KernelBackend
    backend_reason: str
    syscalls: list[str]
    tracepoints: list[str]
    skipped: list[str]
    counters: list[ev.Counter]
    missing_optional: list[str]


class Session:
    """A running (or planned, with ``dry_run``) tracing session; see the module docstring.

    Lifetime: :meth:`start` (or ``with``), :meth:`run` the workload, :meth:`close`
    (stop + destroy + convert + manifest; also on errors and Ctrl-C, keeping what was
    recorded). :meth:`snapshot` writes the ring buffers out in snapshot mode.
    """

    def __init__(self, config: SessionConfig, *, dry_run: bool = False,
                 log: Any = None) -> None:
        self.config = config
        self.output = Path(config.output).absolute()
        self.name = config.name or f"usdk-{uuid.uuid4().hex[:12]}"
        self.runner = Runner(dry_run=dry_run)
        self.dry_run = dry_run
        self.log = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
        self.resolved: _Resolved | None = None
        self.perf: PerfRecorder | None = None
        self.manifest: dict[str, Any] = {}
        self.errors: list[str] = []
        self.command: dict[str, Any] = {}
        self.snapshots: list[str] = []
        self._created = False
        self._started = False
        self._closed = False
        self.interrupted = False
        self._start: dict[str, Any] = {}
        self._stop: dict[str, Any] = {}
        self._channels: list[dict[str, Any]] = []
        self.sessiond: OwnedSessiond | None = None
        self.sessiond_status: int | None = None

    # --- planning ----------------------------------------------------------------------

    def resolve(self) -> _Resolved:
        """Check every name against this machine and choose the kernel backend.

        Raises :class:`UnknownEventError` (with close matches) or
        :class:`BackendUnavailableError` before anything is started.
        """
        if self.resolved is not None:
            return self.resolved
        cfg = self.config
        counters: list[ev.Counter] = []
        missing_optional: list[str] = []
        for name in cfg.counters:
            c = ev.resolve_counter(name)
            if not ev.counter_available(c):
                raise UnknownEventError(
                    f"PMU counter {c.name!r} is not available on this CPU "
                    f"({'no hardware PMU' if c.hardware else 'perf cannot count it'}); "
                    f"available: {', '.join(ev.available_counters())}; "
                    "mark it optional to skip it", name=name)
            counters.append(c)
        for name in cfg.optional_counters:
            c = ev.resolve_counter(name)
            (counters.append(c) if ev.counter_available(c) else missing_optional.append(c.name))

        backend, reason = self._choose_backend()
        if backend is KernelBackend.PERF and cfg.mode is SessionMode.SNAPSHOT:
            raise BackendUnavailableError(
                "snapshot mode records kernel events with the LTTng kernel tracer only "
                "(perf cannot snapshot tracepoints into CTF); use kernel_backend='none' "
                "for a UST flight recorder, or kernel_backend='lttng' with lttng-modules")
        syscalls: list[str] = []
        tracepoints: list[str] = []
        skipped: list[str] = []
        if cfg.kernel is not None and backend is not KernelBackend.NONE:
            catalogue = self._catalogue(backend)
            syscalls, s1 = ev.expand_syscalls(cfg.kernel.syscalls, catalogue)
            tracepoints, s2 = ev.expand_tracepoints(cfg.kernel.tracepoints, catalogue)
            skipped = s1 + s2
        self.resolved = _Resolved(backend, reason, syscalls, tracepoints, skipped,
                                  list(dict.fromkeys(counters)), missing_optional)
        return self.resolved

    def _choose_backend(self) -> tuple[KernelBackend, str]:
        from usdk.perf_backend import perf_record_available

        want = self.config.kernel_backend
        if self.config.kernel is None or want is KernelBackend.NONE:
            return KernelBackend.NONE, "no kernel events requested" if self.config.kernel is None \
                else "kernel_backend='none'"
        lttng_ok, lttng_why = kernel_tracer_available()
        if want is KernelBackend.LTTNG:
            if not lttng_ok:
                raise BackendUnavailableError(
                    f"LTTng kernel tracer not available ({lttng_why}): lttng-modules is not "
                    "loaded; use kernel_backend='perf' (--kernel-backend perf) or install "
                    "lttng-modules-dkms and restart lttng-sessiond as root")
            return KernelBackend.LTTNG, "requested"
        perf_ok, perf_why = perf_record_available()
        if want is KernelBackend.PERF:
            if not perf_ok:
                raise BackendUnavailableError(f"perf backend unavailable: {perf_why}")
            return KernelBackend.PERF, "requested"
        if lttng_ok:
            return KernelBackend.LTTNG, "auto: the LTTng kernel tracer is available"
        if perf_ok:
            return KernelBackend.PERF, f"auto: LTTng kernel tracer not available ({lttng_why})"
        raise BackendUnavailableError(
            "no kernel backend: LTTng kernel tracer not available "
            f"({lttng_why}; needs lttng-modules) and {perf_why}; "
            "use kernel_backend='none' (--kernel-backend none) for a UST-only session")

    def _catalogue(self, backend: KernelBackend) -> ev.KernelCatalogue:
        if backend is KernelBackend.PERF:
            cat = ev.perf_catalogue()
            if not cat.tracepoints:
                raise BackendUnavailableError(
                    "tracefs lists no events (/sys/kernel/tracing/available_events): "
                    "run as root with tracefs mounted")
            return cat
        r1 = subprocess.run(["lttng", "--mi", "xml", "list", "--kernel"], capture_output=True,
                            text=True, timeout=60)
        r2 = subprocess.run(["lttng", "--mi", "xml", "list", "--kernel", "--syscall"],
                            capture_output=True, text=True, timeout=60)
        if r1.returncode != 0:
            raise CommandError("cannot list kernel events", argv=r1.args, stderr=r1.stderr)
        return ev.lttng_catalogue(r1.stdout, r2.stdout if r2.returncode == 0 else "<x/>")

    # --- lifetime ----------------------------------------------------------------------

    def __enter__(self) -> Session:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is KeyboardInterrupt:
            self.interrupted = True
        elif exc is not None:
            self.errors.append(f"{exc_type.__name__}: {exc}")
        self.close(raise_errors=exc is None)

    def _check_output(self) -> None:
        out = self.output
        if out.exists():
            if not out.is_dir():
                raise OutputExistsError(f"{out} exists and is not a directory", path=str(out))
            entries = list(out.iterdir())
            if entries:
                holds = (out / MANIFEST_NAME).exists() or any(out.glob("**/metadata"))
                what = "holds a trace" if holds else "is not empty"
                raise OutputExistsError(
                    f"output directory {out} {what}; usdk never overwrites one: "
                    "choose a new -o path or remove it yourself", path=str(out))

    def start(self) -> None:
        """Validate, create the LTTng session and channels, start recording."""
        if self._started:
            return
        cfg = self.config
        self._check_output()
        self._ensure_sessiond()
        try:
            res = self.resolve()
        except BaseException:
            self._stop_sessiond()
            raise
        snapshot = cfg.mode is SessionMode.SNAPSHOT
        run = self.runner.run
        create = ["lttng", "create", self.name, f"--output={self.output}"]
        if snapshot:
            create.insert(3, "--snapshot")
        run(create)
        self._created = True
        try:
            self._setup_channels(res, snapshot)
            if cfg.track_command:
                if cfg.ust or cfg.python:
                    run(["lttng", "untrack", "--userspace", f"--session={self.name}",
                         "--vpid", "--all"])
                if res.backend is KernelBackend.LTTNG:
                    run(["lttng", "untrack", "--kernel", f"--session={self.name}",
                         "--pid", "--all"])
            if res.backend is KernelBackend.PERF:
                plan = PerfPlan(tuple(res.tracepoints), tuple(res.syscalls),
                                mmap_pages=cfg.kernel.perf_mmap_pages if cfg.kernel else 1024)
                self.perf = PerfRecorder(plan, self.output, self.runner)
            self._start = _now()
            if self.perf is not None and not cfg.track_command:
                self.perf.start()
            run(["lttng", "start", self.name])
            self._started = True
        except BaseException as e:
            self.errors.append(f"start failed: {e}")
            self.close(raise_errors=False)
            raise
        if res.backend is not KernelBackend.NONE:
            self.log(f"usdk: kernel backend {res.backend.value} ({res.backend_reason})")
        if res.skipped:
            self.log(f"usdk: note: preset members this kernel lacks, skipped: "
                     f"{', '.join(res.skipped)}")
        for c in res.missing_optional:
            self.log(f"usdk: note: optional counter {c} not available here, skipped")

    def _ensure_sessiond(self) -> None:
        """Reach a session daemon, starting one for this session when none answers."""
        ok, why = sessiond_running()
        if ok:
            return
        if not self.config.start_sessiond:
            raise BackendUnavailableError(
                f"no LTTng session daemon ({why}): start one with `lttng-sessiond "
                "--daemonize` (as root for kernel events)")
        self.runner.note(["lttng-sessiond"])  # for this session only, ended by close()
        if self.dry_run:
            return
        self.sessiond = OwnedSessiond.start()
        if self.sessiond is not None:
            self.log(f"usdk: no session daemon was running: started lttng-sessiond "
                     f"(pid {self.sessiond.pid}) for this session; it ends with the session")

    def _stop_sessiond(self) -> None:
        if self.sessiond is None or self.sessiond_status is not None:
            return
        died = self.sessiond.proc.poll()
        self.sessiond_status = self.sessiond.stop()
        if died is not None:
            self.errors.append(f"the session daemon usdk started (pid {self.sessiond.pid}) "
                               f"died during the session (status {died})")

    def _setup_channels(self, res: _Resolved, snapshot: bool) -> None:
        cfg = self.config
        run = self.runner.run
        s = self.name

        def chan(c: ChannelConfig) -> ChannelConfig:
            return c.replace(overflow=OverflowPolicy.OVERWRITE) if snapshot else c

        ust_ctx = [*cfg.ust_contexts, *(c.ust_context for c in res.counters)]
        ust_channels: list[ChannelConfig] = []
        if (cfg.ust or cfg.python) and cfg.metadata_switch_timer_us and not snapshot:
            run(["lttng", "enable-channel", "--userspace", f"--session={s}",
                 f"--switch-timer={cfg.metadata_switch_timer_us}", "metadata"])
        if cfg.ust:
            ch = chan(cfg.ust_channel)
            run(ch.lttng_args(Domain.UST, s))
            ust_channels.append(ch)
            for rule in cfg.ust:
                run(rule.lttng_args(s, ch.name))
        if cfg.python:
            # pre-create the agent's channel so it gets our size and contexts
            pch = chan(cfg.ust_channel.replace(name=PYTHON_CHANNEL))
            run(pch.lttng_args(Domain.UST, s))
            ust_channels.append(pch)
            for prule in cfg.python:
                run(prule.lttng_args(s))
        for ch in ust_channels:
            if ust_ctx:
                run(["lttng", "add-context", "--userspace", f"--session={s}",
                     f"--channel={ch.name}", *[f"--type={t}" for t in ust_ctx]])
            self._channels.append({"domain": "ust", **_channel_info(ch)})
        if res.backend is KernelBackend.LTTNG and cfg.kernel is not None:
            kch = chan(cfg.kernel.channel)
            run(kch.lttng_args(Domain.KERNEL, s))
            base = ["lttng", "enable-event", "--kernel", f"--session={s}",
                    f"--channel={kch.name}"]
            if res.syscalls:
                run([*base, "--syscall", ",".join(res.syscalls)])
            if res.tracepoints:
                run([*base, "--tracepoint", ",".join(res.tracepoints)])
            kctx = [*cfg.kernel.contexts, *(c.kernel_context for c in res.counters)]
            run(["lttng", "add-context", "--kernel", f"--session={s}", f"--channel={kch.name}",
                 *[f"--type={t}" for t in kctx]])
            self._channels.append({"domain": "kernel", **_channel_info(kch)})

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None) -> int:
        """Run ``argv`` under the session and return its exit status (-N: killed by signal N).

        Ctrl-C is forwarded to the command; the session keeps what was recorded. With
        ``track_command`` the command is held before ``exec`` until it is tracked.
        """
        argv = [str(a) for a in argv]
        if not argv:
            raise SessionError("no command to run")
        check_command(argv)
        self.command = {"argv": argv, "pid": None, "exit_status": None, "signal": None}
        if self.dry_run:
            self.runner.note(argv)
            return 0
        if not self._started:
            self.start()
        track = self.config.track_command
        gate_r = gate_w = -1
        if track:
            gate_r, gate_w = os.pipe()
            # hold the command before exec until the trackers know its pid
            launch = ["/bin/sh", "-c", 'read _ <&3; exec 3<&-; exec "$@"', "usdk-gate", *argv]
            proc = subprocess.Popen(launch, pass_fds=(gate_r,), env=env, cwd=cwd)
            os.close(gate_r)
            try:
                self._track(proc.pid)
            finally:
                os.write(gate_w, b"go\n")
                os.close(gate_w)
        else:
            proc = subprocess.Popen(argv, env=env, cwd=cwd)
        self.command["pid"] = proc.pid
        perf_warned = False
        while True:
            try:
                rc = proc.wait(0.2)
                break
            except subprocess.TimeoutExpired:
                if self.perf is not None and not perf_warned and self._perf_failed():
                    perf_warned = True
                    status = self.perf.proc.returncode if self.perf.proc else None
                    msg = (f"perf record died during the recording (status {status}); "
                           "kernel events stop here")
                    self.errors.append(msg)
                    self.log(f"usdk: error: {msg}")
            except KeyboardInterrupt:
                self.interrupted = True
                try:
                    proc.send_signal(signal.SIGINT)
                    rc = proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait()
                except KeyboardInterrupt:
                    proc.kill()
                    rc = proc.wait()
                self._set_status(rc)
                raise
        self._set_status(rc)
        return rc

    def _perf_failed(self) -> bool:
        """perf ended on its own: an error, except a tracking perf (-p) whose command exited."""
        perf = self.perf
        if perf is None or perf.proc is None or perf.alive():
            return False
        return not (self.config.track_command and perf.proc.returncode == 0)

    def _set_status(self, rc: int) -> None:
        self.command["exit_status"] = rc
        if rc < 0:
            self.command["signal"] = signal.Signals(-rc).name

    def _track(self, pid: int) -> None:
        res = self.resolve()
        if self.config.ust or self.config.python:
            self.runner.run(["lttng", "track", "--userspace", f"--session={self.name}",
                             f"--vpid={pid}"])
        if res.backend is KernelBackend.LTTNG:
            self.runner.run(["lttng", "track", "--kernel", f"--session={self.name}",
                             f"--pid={pid}"])
        if self.perf is not None:
            self.perf = PerfRecorder(dataclasses.replace(self.perf.plan, pid=pid), self.output,
                                     self.runner)
            self.perf.start()

    def snapshot(self) -> Path:
        """Snapshot mode: write the current ring buffers to ``DIR/snapshot-<n>``."""
        if self.config.mode is not SessionMode.SNAPSHOT:
            raise SessionError("snapshot() needs SessionConfig(mode=SessionMode.SNAPSHOT)")
        n = len(self.snapshots)
        name = f"snapshot-{n}"
        self.runner.run(["lttng", "snapshot", "record", f"--session={self.name}",
                         f"--name={name}"])
        found = sorted(self.output.glob(f"{name}-*"))
        path = found[-1] if found else self.output / name
        self.snapshots.append(str(path))
        return path

    def close(self, *, raise_errors: bool = True) -> None:
        """Stop and destroy the session, convert the perf recording, write the manifest.

        Each step runs even when an earlier one failed; what was recorded is kept. With
        ``raise_errors`` a :class:`SessionError` lists what went wrong, after the manifest
        is written.
        """
        if self._closed:
            return
        self._closed = True
        run = self.runner.run
        if self._created and self._started:
            try:
                run(["lttng", "stop", self.name])
            except SessionError as e:
                self.errors.append(f"lttng stop failed (the session daemon may have died; "
                                   f"data flushed so far is kept): {e}")
        if self.perf is not None:
            failed = self._perf_failed()
            self.perf.stop()
            if failed and not any("perf record died" in e for e in self.errors):
                self.errors.append(f"perf record ended before the session did (status "
                                   f"{self.perf.returncode}): {self.perf.log_tail(5)}")
        self._stop = _now() if self._started else {}
        if self._created:
            try:
                run(["lttng", "destroy", self.name])
            except SessionError as e:
                self.errors.append(f"lttng destroy failed: {e}")
            self._collect_channel_stats()
        self._stop_sessiond()
        perf_stats: dict[str, object] = {}
        if self.perf is not None and (self.perf.data.exists() or self.dry_run):
            if not self.dry_run and sys.stderr.isatty():
                size = self.perf.data.stat().st_size / 1e6
                self.log(f"usdk: converting perf.data ({size:.1f} MB) to CTF ...")
            try:
                perf_stats = self.perf.finish(lttng_clock_offset(self.output))
            except SessionError as e:
                self.errors.append(f"perf conversion failed: {e}")
        if self.dry_run or not self._created:
            return
        self._write_manifest(perf_stats)
        if raise_errors and self.errors:
            raise SessionError("the session ended with errors (what was recorded is kept in "
                               f"{self.output}):\n  " + "\n  ".join(self.errors))

    def _collect_channel_stats(self) -> None:
        """Discarded events and lost packets per channel, from the trace's index files."""
        if self.dry_run:
            return
        for ch in self._channels:
            root = self.output / ("ust" if ch["domain"] == "ust" else "kernel")
            if self.snapshots:
                root = self.output  # snapshot-<n>/{ust,kernel}: summed over snapshots
            s = index_stats(root).get(ch["name"])
            if s:
                ch.update(s)

    def _write_manifest(self, perf_stats: Mapping[str, object]) -> None:
        res = self.resolve()
        cfg = self.config
        channels = [dict(c) for c in self._channels]
        layout: dict[str, Any] = {"ust": "ust" if (self.output / "ust").exists() else None,
                                         "kernel": None, "perf_data": None, "tasks": None}
        if res.backend is KernelBackend.LTTNG:
            layout["kernel"] = "kernel"
        elif res.backend is KernelBackend.PERF and self.perf is not None:
            layout.update(kernel="perf/ctf", perf_data="perf/perf.data", tasks="perf/tasks.tsv")
            if (self.output / "perf" / "inodes.tsv").exists():
                layout["inodes"] = "perf/inodes.tsv"
            channels.append({"domain": "kernel", "name": "perf", "backend": "perf",
                             "mmap_pages": self.perf.plan.mmap_pages,
                             "lost_samples": perf_stats.get("lost_samples"),
                             "samples": perf_stats.get("samples"),
                             **({"inodes": perf_stats["inodes"],
                                 "inodes_named": perf_stats["inodes_named"]}
                                if "inodes" in perf_stats else {})})
        if self.snapshots:
            layout["snapshots"] = [os.path.relpath(p, self.output) for p in self.snapshots]
        ust_root = self.output / "ust" if layout["ust"] else None
        if self.snapshots:
            ust_root = self.output  # every snapshot-<n>/ust below it
        counts = {
            "ust": count_events(ust_root) if ust_root is not None else 0,
            "kernel": (count_events(self.output / layout["kernel"])
                       if layout["kernel"] else 0),
        }
        offset = lttng_clock_offset(self.output)
        if offset is None:
            offset = perf_stats.get("clock_offset_ns")  # type: ignore[assignment]
        from usdk import __version__

        self.manifest = {
            "format": FORMAT,
            "session": self.name,
            "mode": cfg.mode.value,
            "output": str(self.output),
            "host": host_info(),
            "versions": {"usdk": __version__, "lttng": tool_version(["lttng", "--version"]),
                         "perf": tool_version(["perf", "--version"]) if self.perf else "",
                         "python": sys.version.split()[0]},
            "clock": {"name": "monotonic", "source": "CLOCK_MONOTONIC", "uuid": boot_id(),
                      "offset_ns": offset},
            "kernel_backend": {"requested": cfg.kernel_backend.value,
                               "used": res.backend.value, "reason": res.backend_reason},
            "enabled": {
                "ust": [_rule_info(r) for r in cfg.ust],
                "python": [_rule_info(r) for r in cfg.python],
                "ust_contexts": list(cfg.ust_contexts),
                "counters": [c.name for c in res.counters],
                "counter_fields": {c.name: c.field for c in res.counters},
                "counters_missing_optional": res.missing_optional,
                "kernel": None if cfg.kernel is None else {
                    "syscalls": res.syscalls, "tracepoints": res.tracepoints,
                    "contexts": list(cfg.kernel.contexts), "skipped": res.skipped,
                },
                "track_command": cfg.track_command,
            },
            "layout": layout,
            "channels": channels,
            "events": counts,
            "start": self._start,
            "stop": self._stop,
            "command": self.command or None,
            "snapshots": [os.path.relpath(p, self.output) for p in self.snapshots],
            "interrupted": self.interrupted,
            "errors": list(self.errors),
            "sessiond": ({"started_by_usdk": True, "pid": self.sessiond.pid}
                         if self.sessiond is not None else {"started_by_usdk": False}),
        }
        write_manifest(self.output, self.manifest)

    # --- reporting ------------------------------------------------------------------------

    def plan(self) -> str:
        """The commands run (or, with ``dry_run``, that would run), one shell line each."""
        return self.runner.shell_script()

    def summary(self) -> str:
        """What was recorded and lost, for a human; loud about discarded events."""
        m = self.manifest
        if not m:
            return f"usdk: no recording in {self.output}"
        lines = [f"usdk: session {m['session']} -> {m['output']}"]
        kb = m["kernel_backend"]
        lines.append(f"  kernel backend : {kb['used']} ({kb['reason']})")
        ev_counts = m["events"]
        lines.append(f"  events         : ust {_n(ev_counts.get('ust'))}, "
                     f"kernel {_n(ev_counts.get('kernel'))}")
        for ch in m["channels"]:
            lost = ch.get("discarded_events") or ch.get("lost_samples") or 0
            packets = ch.get("lost_packets") or 0
            what = "lost samples" if "lost_samples" in ch else "discarded events"
            lines.append(f"  {ch['domain']:<6} {ch['name']:<20}: {_n(lost)} {what}"
                         + (f", {_n(packets)} lost packets" if packets else ""))
            if lost or packets:
                advice = (f"raise perf's ring buffer (perf_mmap_pages, now {ch.get('mmap_pages')})"
                          if "lost_samples" in ch else
                          ChannelConfig(name=ch["name"], subbuf_size=ch["subbuf_size"],
                                        num_subbuf=ch["num_subbuf"]).advice())
                lines.append(f"  WARNING: {ch['name']} lost data; {advice}")
        cmd = m.get("command")
        if cmd:
            status = cmd["exit_status"] if cmd.get("signal") is None else cmd["signal"]
            lines.append(f"  command        : {shlex.join(cmd['argv'])} -> exit {status}")
        if m.get("interrupted"):
            lines.append("  interrupted    : Ctrl-C stopped the recording early; trace kept")
        for e in m["errors"]:
            lines.append(f"  ERROR: {e}")
        return "\n".join(lines)


def check_command(argv: Sequence[str]) -> str:
    """The executable ``argv`` would run; :class:`SessionError` when there is none."""
    if not argv:
        raise SessionError("no command to run")
    exe = str(argv[0])
    found = shutil.which(exe) if os.sep not in exe else (exe if os.access(exe, os.X_OK)
                                                          else None)
    if found is None:
        raise SessionError(f"command not found: {exe!r} (not on PATH or not executable); "
                           "nothing was recorded")
    return found


def _channel_info(ch: ChannelConfig) -> dict[str, Any]:
    return {"name": ch.name, "subbuf_size": ch.subbuf_size, "num_subbuf": ch.num_subbuf,
            "overflow": ch.overflow.value, "discarded_events": None, "lost_packets": None}


def _rule_info(rule: UstEventRule | PythonLoggerRule) -> dict[str, Any]:
    d = dataclasses.asdict(rule)
    d["loglevel_match"] = rule.loglevel_match.value
    if isinstance(rule, UstEventRule):
        d["exclude"] = list(rule.excludes())
    return d


def _now() -> dict[str, Any]:
    return {"iso": dt.datetime.now(dt.UTC).isoformat(),
            "monotonic_ns": time.clock_gettime_ns(time.CLOCK_MONOTONIC)}


def _n(v: object) -> str:
    return f"{v:,}" if isinstance(v, int) else "?"
