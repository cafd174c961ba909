"""Making real test traces: a tiny lttng-ust C program recorded by LTTng and/or perf.

Used by the reader's tests (tests/reader) and by bench/read.py. Every session has a unique
name, writes under the given directory and is destroyed even when recording fails; perf is
only ever run on the generator command it starts (never system-wide), so it ends with it.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent

UST_CONTEXTS = ("vpid", "vtid", "procname", "perf:thread:task-clock", "perf:thread:page-fault")
PERF_EVENTS = ("syscalls:sys_enter_write", "syscalls:sys_exit_write", "sched:sched_switch")


def build(out_dir: Path) -> Path:
    """Compile the generator (tests/reader/tracegen/gen.c) into ``out_dir``; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / "gen"
    if not exe.exists():
        subprocess.run(
            ["gcc", "-O2", f"-I{HERE}", "-o", str(exe), str(HERE / "gen.c"),
             "-llttng-ust", "-ldl", "-lpthread"],
            check=True, capture_output=True, text=True,
        )
    return exe


def _lttng(*args: str) -> None:
    r = subprocess.run(["lttng", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"lttng {' '.join(args)} failed: {r.stderr.strip()}")


def record(
    exe: Path,
    out: Path,
    gen_args: Sequence[str],
    *,
    ust: bool = True,
    perf_events: Sequence[str] = (),
    contexts: Sequence[str] = UST_CONTEXTS,
    subbuf: str = "1M",
    num_subbuf: int = 4,
    session: str | None = None,
) -> Path:
    """Run ``exe gen_args`` under an LTTng UST session and/or ``perf record``.

    Writes the LTTng session into ``out/lttng`` and perf's CTF conversion into
    ``out/perf`` (``out/perf.data`` is removed afterwards). Returns ``out``.
    """
    out.mkdir(parents=True, exist_ok=True)
    name = session or f"usdk-reader-{uuid.uuid4().hex[:10]}"
    cmd = [str(exe), *gen_args]
    if perf_events:
        cmd = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-m", "4096",
               "-e", ",".join(perf_events), "-o", str(out / "perf.data"), "--", *cmd]
    created = False
    try:
        if ust:
            _lttng("create", name, f"--output={out / 'lttng'}")
            created = True
            _lttng("enable-channel", "-u", "ch", f"--subbuf-size={subbuf}",
                   f"--num-subbuf={num_subbuf}")
            _lttng("enable-event", "-u", "-c", "ch", "gen:*")
            if contexts:
                ctx = [a for c in contexts for a in ("-t", c)]
                _lttng("add-context", "-u", "-c", "ch", *ctx)
            _lttng("start", name)
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        if ust:
            _lttng("stop", name)
    finally:
        if created:
            subprocess.run(["lttng", "destroy", name], capture_output=True)
    if perf_events:
        subprocess.run(
            ["perf", "data", "convert", "--to-ctf", str(out / "perf"), "-i",
             str(out / "perf.data")],
            check=True, capture_output=True, text=True,
        )
        (out / "perf.data").unlink()
    return out


def have_perf() -> bool:
    return shutil.which("perf") is not None and Path("/sys/kernel/tracing/events/syscalls").is_dir()
