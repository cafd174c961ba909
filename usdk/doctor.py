"""Machine checks for recording: what works here, and how to fix what does not.

Each check is a :class:`Check` (name, ok, detail, fix). ``usdk doctor`` prints them;
:func:`kernel_backend_verdict` says which kernel backend ``auto`` would pick. Example::

    from usdk.doctor import run_checks
    for c in run_checks():
        print(c.name, "ok" if c.ok else c.fix)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
from pathlib import Path

from usdk import events as ev
from usdk.errors import BackendUnavailableError
from usdk.lttngctl import (
    OwnedSessiond,
    kernel_tracer_available,
    sessiond_running,
    tool_version,
)
from usdk.perf_backend import perf_path, perf_record_available


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # False: only some features need it


def _ext4_mounts() -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return [ln.split()[1] for ln in lines if len(ln.split()) > 2 and ln.split()[2] == "ext4"]


def run_checks() -> list[Check]:
    """Every check, in the order a user fixes things."""
    out: list[Check] = []
    lttng = shutil.which("lttng")
    out.append(Check("lttng-tools", lttng is not None,
                     tool_version(["lttng", "--version"]) if lttng else "not installed",
                     "apt-get install lttng-tools liblttng-ust-dev"))
    ok, why = sessiond_running()
    own: OwnedSessiond | None = None
    if ok:
        said = "lttng-sessiond answers"
    elif lttng is not None:
        # none runs: usdk record starts one per recording; check that one can start here
        try:
            own = OwnedSessiond.start()
            ok = True
            said = ("none running; usdk record starts one for each recording "
                    "(started one to check: it answers)")
        except BackendUnavailableError as e:
            said = f"{why}; starting one failed: {e}"
    else:
        said = why
    out.append(Check("session daemon", ok, said,
                     "lttng-sessiond --daemonize (as root to record kernel events)"))
    root = os.geteuid() == 0
    out.append(Check("root", root, "running as root" if root else f"uid {os.geteuid()}",
                     "run usdk record as root (sudo) for kernel events", required=False))
    try:
        kt, kwhy = kernel_tracer_available() if ok else (False, "no session daemon")
    finally:
        if own is not None:
            own.stop()
    out.append(Check("LTTng kernel tracer", kt, "lttng-modules loaded" if kt else kwhy,
                     "apt-get install lttng-modules-dkms, then restart lttng-sessiond as root; "
                     "or use --kernel-backend perf", required=False))
    perf = perf_path()
    out.append(Check("linux-perf", perf is not None,
                     tool_version([perf, "--version"]) if perf else "not installed",
                     "apt-get install linux-perf", required=False))
    pok, pwhy = perf_record_available()
    out.append(Check("perf can record tracepoints", pok, "yes" if pok else pwhy,
                     "run as root, or sysctl kernel.perf_event_paranoid=-1", required=False))
    n_events = len(ev.tracefs_events())
    n_sys = len(ev.tracefs_syscalls())
    out.append(Check("tracefs", n_events > 0,
                     f"{n_events} tracepoints, {n_sys} syscalls at {ev.TRACEFS}",
                     "mount -t tracefs nodev /sys/kernel/tracing (as root)", required=False))
    ext4_tp = [e for e in ev.tracefs_events() if e.startswith("ext4:")]
    mounts = _ext4_mounts()
    out.append(Check("ext4", bool(mounts),
                     f"ext4 mounted at {', '.join(mounts[:4])}; {len(ext4_tp)} ext4 tracepoints"
                     if mounts else "no ext4 filesystem mounted: --ext4 will record nothing",
                     "run the workload on an ext4 filesystem (findmnt -t ext4)", required=False))
    avail = ev.available_counters()
    hw = [c for c in avail if ev.COUNTERS[c].hardware]
    out.append(Check("PMU counters", bool(avail),
                     f"available: {', '.join(avail)}" + ("" if hw else
                                                          " (no hardware PMU: software only)"),
                     "hardware counters need a PMU (bare metal or vPMU)", required=False))
    agent = importlib.util.find_spec("lttngust") is not None
    out.append(Check("Python logging agent", agent,
                     "lttngust importable" if agent else "lttngust not importable",
                     "apt-get install python3-lttngust (and use a venv with system packages)",
                     required=False))
    bt = shutil.which("babeltrace2")
    out.append(Check("babeltrace2", bt is not None,
                     tool_version(["babeltrace2", "--version"]) if bt else "not installed",
                     "apt-get install babeltrace2 python3-bt2", required=False))
    return out


def kernel_backend_verdict(checks: list[Check]) -> str:
    by = {c.name: c for c in checks}
    if by["LTTng kernel tracer"].ok:
        return "kernel backend: auto -> lttng (LTTng kernel tracer)"
    if by["perf can record tracepoints"].ok:
        return "kernel backend: auto -> perf (LTTng kernel tracer not available)"
    return ("kernel backend: none available -> only --kernel-backend none (UST only) works; "
            "fix 'LTTng kernel tracer' or 'perf can record tracepoints'")
