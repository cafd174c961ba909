"""Cost of usdk instrumentation, against a bare call and lttngust's logger.info, one run.

Prints, per operation, ns per call (best of REPEAT runs of N calls) and ratios:
  - disabled: a decorated call whose events no session enabled, vs the bare function
    (overhead = difference) and vs logger.info with lttngust imported but not enabled;
  - enabled: a span (entry + exit, two int args) and a point event, vs logger.info
    recorded by an enabled lttngust session;
  - events emitted vs events recorded (babeltrace2's counter on the trace).

Channel settings (documented zero-loss set-up): a UST channel with 8 sub-buffers of
4 MiB per CPU in blocking mode (``--blocking-timeout=inf``, with LTTNG_UST_ALLOW_BLOCKING=1
in the traced process), so the tracer waits for the consumer instead of discarding.

Run: ``make bench`` or ``.venv/bin/python bench/emit.py [--n 200000]`` as root (a
session daemon is started for the run when none is running). Acceptance: disabled
<= 50 ns, span <= 600 ns, point <= 300 ns, zero loss.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

os.environ["LTTNG_UST_ALLOW_BLOCKING"] = "1"  # before liblttng-ust loads (lazily, below)

import usdk  # noqa: E402
from usdk.lttngctl import OwnedSessiond, sessiond_running  # noqa: E402

# a session daemon before any tracer registers (lttngust's agent too); ours ends at exit
_OWN_SESSIOND = None if sessiond_running()[0] else OwnedSessiond.start()
if _OWN_SESSIOND is not None:
    import atexit

    atexit.register(_OWN_SESSIOND.stop)

REPEAT = 5


def lttng(*args: str) -> str:
    r = subprocess.run(["lttng", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"lttng {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout + r.stderr


def best_ns(loop: Callable[[int], None], n: int) -> float:
    times = []
    for _ in range(REPEAT):
        gc.disable()
        t0 = time.perf_counter_ns()
        loop(n)
        times.append(time.perf_counter_ns() - t0)
        gc.enable()
    return min(times) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="calls per timed run")
    args = ap.parse_args()
    n = args.n

    off = usdk.Provider("usdkbench_off")
    on = usdk.Provider("usdkbench")

    def bare(a: int, b: int) -> int:
        return a

    @off.tracepoint
    def span_off(a: int, b: int) -> int:
        return a

    @on.tracepoint
    def span_on(a: int, b: int) -> int:
        return a

    point_on = on.event("point", a=int, b=int)
    off.load(strict=True)
    on.load(strict=True)

    tmp = tempfile.mkdtemp(prefix="usdk-bench-")
    name = f"usdk-bench-{uuid.uuid4().hex[:8]}"
    lttng("create", name, f"--output={tmp}/trace")
    try:
        lttng(
            "enable-channel",
            "-u",
            "-s",
            name,
            "--subbuf-size=4M",
            "--num-subbuf=8",
            "--blocking-timeout=inf",
            "benchchan",
        )
        lttng("enable-event", "-u", "-s", name, "-c", "benchchan", "usdkbench:*")
        lttng("add-context", "-u", "-s", name, "-c", "benchchan", "-t", "vpid", "-t", "vtid")
        lttng("enable-event", "--python", "-s", name, "usdkbench_log")
        lttng("start", name)

        import lttngust  # noqa: F401  (registers the Python agent with the session daemon)

        log_off = logging.getLogger("usdkbench_log_off")
        log_on = logging.getLogger("usdkbench_log")
        log_off.setLevel(logging.INFO)
        log_on.setLevel(logging.INFO)
        time.sleep(1.0)  # let the agent receive its enabled events
        if not span_on.enabled or span_off.enabled:
            sys.exit("benchmark set-up failed: the session did not enable exactly usdkbench:*")

        def run_bare(k: int) -> None:
            for i in range(k):
                bare(i, 2)

        def run_span_off(k: int) -> None:
            for i in range(k):
                span_off(i, 2)

        def run_log_off(k: int) -> None:
            for i in range(k):
                log_off.info("op %d %d", i, 2)

        def run_span_on(k: int) -> None:
            for i in range(k):
                span_on(i, 2)

        def run_point_on(k: int) -> None:
            for i in range(k):
                point_on(a=i, b=2)

        def run_log_on(k: int) -> None:
            for i in range(k):
                log_on.info("op %d %d", i, 2)

        t_bare = best_ns(run_bare, n)
        t_span_off = best_ns(run_span_off, n)
        t_log_off = best_ns(run_log_off, n)
        t_span_on = best_ns(run_span_on, n)
        t_point_on = best_ns(run_point_on, n)
        n_log = max(n // 10, 1000)  # lttngust is slow; fewer calls
        t_log_on = best_ns(run_log_on, n_log)
        stop_out = lttng("stop", name).strip().replace("\n", " ")
    finally:
        subprocess.run(["lttng", "destroy", name], capture_output=True)

    emitted = REPEAT * n * 3  # span entry + exit, point
    counts = count_events(f"{tmp}/trace")
    recorded = sum(v for k, v in counts.items() if k.startswith("usdkbench:"))
    shutil.rmtree(tmp, ignore_errors=True)

    overhead = t_span_off - t_bare
    print(f"usdk emit benchmark (n={n}, best of {REPEAT}; Python {sys.version.split()[0]})")
    print(f"  bare function call            {t_bare:8.1f} ns")
    print(
        f"  decorated, disabled           {t_span_off:8.1f} ns  overhead {overhead:6.1f} ns "
        f"(x{t_span_off / t_bare:.2f} bare; logger.info disabled {t_log_off:.1f} ns, "
        f"x{t_log_off / t_span_off:.1f} ours)   [acceptance <= 50 ns overhead]"
    )
    print(
        f"  span enabled (entry+exit)     {t_span_on:8.1f} ns  (x{t_span_on / t_bare:.1f} bare; "
        f"logger.info enabled {t_log_on:.1f} ns = x{t_log_on / t_span_on:.1f} ours)"
        f"   [acceptance <= 600 ns]"
    )
    print(
        f"  point event enabled           {t_point_on:8.1f} ns  (x{t_point_on / t_bare:.1f} bare; "
        f"logger.info enabled = x{t_log_on / t_point_on:.1f} ours)   [acceptance <= 300 ns]"
    )
    print(
        f"  events emitted {emitted}, recorded {recorded}, lost {emitted - recorded}"
        f"   [acceptance: 0 lost]"
    )
    print(f"  lttng stop: {stop_out}")
    ok = overhead <= 50 and t_span_on <= 600 and t_point_on <= 300 and recorded == emitted
    print("  acceptance:", "met" if ok else "NOT met")
    return 0


def count_events(trace: str) -> dict[str, int]:
    """Events per name in the trace (babeltrace2's text sink, one line an event)."""
    names: dict[str, int] = {}
    proc = subprocess.Popen(
        ["babeltrace2", "--names=none", "--no-delta", trace], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    pat = re.compile(r"\] (?:\S+ )?([\w:]+): ")
    for line in proc.stdout:
        m = pat.search(line)
        if m:
            names[m.group(1)] = names.get(m.group(1), 0) + 1
    if proc.wait() != 0:
        sys.exit(f"babeltrace2 could not read {trace}")
    return names


if __name__ == "__main__":
    sys.exit(main())
