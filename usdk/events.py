"""Names of what a session can record: kernel tracepoints, syscalls, PMU counters, presets.

The session builder checks every name here *before* anything starts, so a typo is an
:class:`~usdk.errors.UnknownEventError` carrying the closest valid names instead of a
half-started session. Names are accepted in both spellings, ``ext4:ext4_da_write_begin``
or ``ext4_da_write_begin``; syscalls by their plain name (``write``, ``pread64``).

Catalogues come from the machine: tracefs (``/sys/kernel/tracing/available_events``)
for the perf backend, ``lttng list --kernel`` for the LTTng kernel tracer. Example::

    from usdk import events

    events.PRESETS["ext4"]            # the ext4 + writeback + block events write attribution needs
    events.SYSCALL_PRESETS["io"]      # read/write/open/close/fsync/...
    events.resolve_counter("page-faults")   # Counter(name='page-faults', lttng='page-fault', ...)
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from usdk.errors import UnknownEventError

TRACEFS = Path(os.environ.get("USDK_TRACEFS", "/sys/kernel/tracing"))

# --- presets ---------------------------------------------------------------------------

#: Syscall groups for ``--syscalls``. Names a kernel lacks (``open`` on arm64) are skipped.
SYSCALL_PRESETS: dict[str, tuple[str, ...]] = {
    "io": (
        "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev",
        "preadv2", "pwritev2", "open", "openat", "openat2", "creat", "close", "lseek",
        "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "fallocate", "ftruncate",
        "truncate", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mmap",
        "msync", "sendfile64", "copy_file_range", "splice", "io_uring_enter", "io_submit",
        "io_getevents",
    ),
    "file": (
        "open", "openat", "openat2", "creat", "close", "rename", "renameat", "renameat2",
        "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "stat", "newfstatat", "statx",
    ),
    "net": (
        "socket", "connect", "accept", "accept4", "bind", "listen", "sendto", "recvfrom",
        "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
    ),
    "sched": (
        "futex", "nanosleep", "clock_nanosleep", "sched_yield", "epoll_wait",
        "epoll_pwait", "poll", "ppoll", "select", "pselect6",
    ),
}

#: Kernel tracepoint groups (``system:event``) for ``--ext4`` and ``--sched``.
PRESETS: dict[str, tuple[str, ...]] = {
    "ext4": (
        # buffered writes: delayed allocation (the default) and the non-delalloc path
        "ext4:ext4_da_write_begin", "ext4:ext4_da_write_end",
        "ext4:ext4_write_begin", "ext4:ext4_write_end",
        "ext4:ext4_sync_file_enter", "ext4:ext4_sync_file_exit",
        # asynchronous writeback of dirty pages
        "ext4:ext4_writepages", "ext4:ext4_writepages_result", "ext4:ext4_da_write_pages",
        "ext4:ext4_da_write_folios_start", "ext4:ext4_da_write_folios_end",  # kernels >= 6.x
        # inode lifetime: a freed or truncated inode's number may be reused, and its
        # pending writeback must not be charged to the next file that gets it
        "ext4:ext4_free_inode", "ext4:ext4_evict_inode", "ext4:ext4_truncate_enter",
        "writeback:writeback_dirty_inode", "writeback:writeback_single_inode",
        "writeback:writeback_written",
        "block:block_rq_issue", "block:block_rq_complete",
    ),
    "sched": (
        "sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new",
        "sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_exit",
    ),
}

# --- PMU counters ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Counter:
    """A performance counter under its three spellings.

    ``lttng`` is the ``perf:thread:<lttng>`` / ``perf:cpu:<lttng>`` context suffix,
    ``perf`` the ``perf -e`` name; ``hardware`` counters need a PMU (absent in most VMs).
    """

    name: str
    lttng: str
    perf: str
    hardware: bool

    @property
    def ust_context(self) -> str:
        return f"perf:thread:{self.lttng}"

    @property
    def kernel_context(self) -> str:
        return f"perf:cpu:{self.lttng}"

    @property
    def field(self) -> str:
        """The context field name in the trace (``perf_thread_page_fault``)."""
        return "perf_thread_" + re.sub(r"[^A-Za-z0-9]", "_", self.lttng)


_SOFTWARE = {
    "task-clock": "task-clock", "cpu-clock": "cpu-clock", "page-faults": "page-fault",
    "minor-faults": "minor-faults", "major-faults": "major-faults",
    "context-switches": "context-switches", "cpu-migrations": "cpu-migrations",
    "alignment-faults": "alignment-faults", "emulation-faults": "emulation-faults",
}
_HARDWARE = (
    "cycles", "instructions", "cache-references", "cache-misses", "branch-instructions",
    "branch-misses", "bus-cycles", "stalled-cycles-frontend", "stalled-cycles-backend",
    "L1-dcache-loads", "L1-dcache-load-misses", "L1-dcache-stores", "L1-icache-load-misses",
    "LLC-loads", "LLC-load-misses", "LLC-stores", "LLC-store-misses", "dTLB-loads",
    "dTLB-load-misses", "iTLB-loads", "iTLB-load-misses", "branch-loads",
    "branch-load-misses",
)

COUNTERS: dict[str, Counter] = {
    **{n: Counter(n, lt, n, False) for n, lt in _SOFTWARE.items()},
    **{n: Counter(n, n, n, True) for n in _HARDWARE},
}
COUNTER_ALIASES = {
    "page-fault": "page-faults", "faults": "page-faults", "cs": "context-switches",
    "migrations": "cpu-migrations", "cpu-cycles": "cycles", "branches": "branch-instructions",
}


def resolve_counter(name: str) -> Counter:
    """The :class:`Counter` for any of its spellings (``perf:thread:`` prefix allowed)."""
    bare = re.sub(r"^perf:(thread|cpu):", "", name.strip())
    key = COUNTER_ALIASES.get(bare, bare)
    if key in COUNTERS:
        return COUNTERS[key]
    raise UnknownEventError(
        f"unknown PMU counter {name!r}", name=name,
        suggestions=closest(bare, list(COUNTERS) + list(COUNTER_ALIASES)),
    )


@functools.lru_cache(maxsize=1)
def _probe_counters() -> dict[str, bool]:
    """Which counters this machine can count, asked of ``perf stat`` (one run)."""
    perf = shutil.which("perf")
    has_pmu = Path("/sys/bus/event_source/devices/cpu").exists()
    guess = {n: (not c.hardware) or has_pmu for n, c in COUNTERS.items()}
    if perf is None:
        return guess
    try:
        r = subprocess.run(
            [perf, "stat", "-x,", "-e", ",".join(c.perf for c in COUNTERS.values()), "true"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return guess
    result = dict(guess)
    for line in r.stderr.splitlines():
        cols = line.split(",")
        if len(cols) >= 3 and cols[2] in COUNTERS:
            result[cols[2]] = not cols[0].startswith("<not")
    return result


def available_counters() -> list[str]:
    """Counter names this machine exposes (software always; hardware only with a PMU)."""
    return sorted(n for n, ok in _probe_counters().items() if ok)


def counter_available(counter: Counter) -> bool:
    return _probe_counters().get(counter.name, False)


# --- kernel catalogues -----------------------------------------------------------------


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` candidates closest to ``name`` (difflib ratio), best first."""
    cands = list(dict.fromkeys(candidates))
    found = difflib.get_close_matches(name, cands, n=n, cutoff=0.6)
    if not found:
        # a bare event name typed for a "system:event" catalogue
        by_event = {c.split(":", 1)[-1]: c for c in cands}
        found = [by_event[m] for m in difflib.get_close_matches(name, list(by_event), n=n)]
    return found


@functools.lru_cache(maxsize=1)
def tracefs_events() -> tuple[str, ...]:
    """``system:event`` names perf can record (tracefs ``available_events``)."""
    try:
        text = (TRACEFS / "available_events").read_text()
    except OSError:
        return ()
    return tuple(sorted(line.strip() for line in text.splitlines() if line.strip()))


def tracefs_syscalls() -> tuple[str, ...]:
    """Syscall names with ``syscalls:sys_enter_<name>`` tracepoints."""
    pre = "syscalls:sys_enter_"
    return tuple(sorted(e[len(pre):] for e in tracefs_events() if e.startswith(pre)))


def parse_lttng_mi_events(xml_text: str) -> list[tuple[str, str]]:
    """(name, type) of every event in ``lttng --mi xml list ...`` output.

    ``type`` is LTTng's, e.g. ``TRACEPOINT`` or ``SYSCALL``; UST listings nest events
    under their process, which this flattens.
    """
    import xml.etree.ElementTree as ET

    out: list[tuple[str, str]] = []
    root = ET.fromstring(xml_text)
    for el in root.iter():
        if not el.tag.endswith("}event") and el.tag != "event":
            continue
        name = typ = ""
        for child in el:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "name":
                name = (child.text or "").strip()
            elif tag == "type":
                typ = (child.text or "").strip()
        if name:
            out.append((name, typ))
    return out


@dataclasses.dataclass(frozen=True)
class KernelCatalogue:
    """What one kernel backend can record: ``system:event`` tracepoints and syscalls.

    For the LTTng kernel tracer, whose names carry no system, ``tracepoints`` holds the
    bare names and ``systemless`` is true.
    """

    tracepoints: tuple[str, ...]
    syscalls: tuple[str, ...]
    systemless: bool = False

    def resolve_tracepoint(self, name: str) -> list[str]:
        """The catalogue names ``name`` (either spelling, ``*`` allowed) stands for.

        Raises :class:`UnknownEventError` with close matches when nothing matches.
        """
        name = name.strip()
        if self.systemless:
            pattern = name.split(":", 1)[1] if ":" in name else name
            hits = fnmatch.filter(self.tracepoints, pattern)
        elif ":" in name:
            hits = fnmatch.filter(self.tracepoints, name)
        else:
            hits = [t for t in self.tracepoints if fnmatch.fnmatchcase(t.split(":", 1)[1], name)]
        if not hits:
            bare = name.split(":", 1)[-1] if self.systemless else name
            raise UnknownEventError(
                f"unknown kernel tracepoint {name!r}", name=name,
                suggestions=closest(bare, self.tracepoints),
            )
        return hits

    def resolve_syscall(self, name: str) -> list[str]:
        bare = re.sub(r"^(syscalls:)?(sys_enter_|sys_exit_|syscall_entry_|syscall_exit_)", "",
                      name.strip())
        hits = fnmatch.filter(self.syscalls, bare)
        if not hits:
            raise UnknownEventError(
                f"unknown syscall {name!r}", name=name, suggestions=closest(bare, self.syscalls)
            )
        return hits


def perf_catalogue() -> KernelCatalogue:
    """Tracepoints and syscalls linux-perf can record on this kernel (from tracefs)."""
    return KernelCatalogue(tracefs_events(), tracefs_syscalls())


def lttng_catalogue(list_kernel_mi: str, list_syscalls_mi: str) -> KernelCatalogue:
    """The LTTng kernel tracer's names, from ``lttng --mi xml list -k`` and ``... -k --syscall``."""
    tps = {n for n, _ in parse_lttng_mi_events(list_kernel_mi)}
    sys_ = {n for n, _ in parse_lttng_mi_events(list_syscalls_mi)}
    return KernelCatalogue(tuple(sorted(tps)), tuple(sorted(sys_)), systemless=True)


def expand_syscalls(
    names: Sequence[str], catalogue: KernelCatalogue
) -> tuple[list[str], list[str]]:
    """Expand preset names (``io``) and check the rest: (syscalls, preset names skipped).

    Preset members the kernel lacks are skipped (reported back); a name given directly
    that does not exist raises :class:`UnknownEventError`.
    """
    out: list[str] = []
    skipped: list[str] = []
    have = set(catalogue.syscalls)
    for name in names:
        if name in SYSCALL_PRESETS:
            for s in SYSCALL_PRESETS[name]:
                (out if s in have else skipped).append(s)
        elif name in ("all", "*"):
            out.extend(catalogue.syscalls)
        else:
            out.extend(catalogue.resolve_syscall(name))
    return list(dict.fromkeys(out)), skipped


def expand_tracepoints(
    names: Sequence[str], catalogue: KernelCatalogue
) -> tuple[list[str], list[str]]:
    """Expand presets (``ext4``, ``sched``) and check names: (tracepoints, skipped)."""
    out: list[str] = []
    skipped: list[str] = []
    for name in names:
        if name in PRESETS:
            for tp in PRESETS[name]:
                try:
                    out.extend(catalogue.resolve_tracepoint(tp))
                except UnknownEventError:
                    skipped.append(tp)
        else:
            out.extend(catalogue.resolve_tracepoint(name))
    return list(dict.fromkeys(out)), skipped
