"""``usdk list``: the events, syscalls, counters and presets a session can record here."""

from __future__ import annotations

import argparse
import json
import subprocess

EPILOG = """\
examples:
  usdk list --kernel ext4          kernel tracepoints whose name contains "ext4"
  usdk list --syscalls
  usdk list --ust                  events of the UST applications running now
  usdk list --counters --presets
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list available kernel/UST events, syscalls, counters",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kernel", action="store_true", help="kernel tracepoints")
    p.add_argument("--syscalls", action="store_true", help="syscalls")
    p.add_argument("--ust", action="store_true", help="UST events of running applications")
    p.add_argument("--counters", action="store_true", help="PMU counters")
    p.add_argument("--presets", action="store_true", help="--ext4/--sched/--syscalls presets")
    p.add_argument("--kernel-backend", choices=("auto", "lttng", "perf"), default="auto")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("match", nargs="?", default="", help="only names containing this")
    p.set_defaults(run=run)


def _kernel_catalogue(backend: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    from usdk import events as ev
    from usdk.lttngctl import kernel_tracer_available

    if backend in ("auto", "lttng") and kernel_tracer_available()[0]:
        r1 = subprocess.run(["lttng", "--mi", "xml", "list", "--kernel"], capture_output=True,
                            text=True, timeout=60)
        r2 = subprocess.run(["lttng", "--mi", "xml", "list", "--kernel", "--syscall"],
                            capture_output=True, text=True, timeout=60)
        cat = ev.lttng_catalogue(r1.stdout, r2.stdout if r2.returncode == 0 else "<x/>")
        return "lttng", cat.tracepoints, cat.syscalls
    if backend == "lttng":
        from usdk.errors import BackendUnavailableError

        raise BackendUnavailableError("LTTng kernel tracer not available (lttng-modules); "
                                      "use --kernel-backend perf")
    cat = ev.perf_catalogue()
    return "perf", cat.tracepoints, cat.syscalls


def run(args: argparse.Namespace) -> int:
    from usdk import events as ev

    wanted = [k for k in ("kernel", "syscalls", "ust", "counters", "presets") if getattr(args, k)]
    if not wanted:
        wanted = ["kernel", "syscalls", "ust", "counters", "presets"]
    result: dict[str, object] = {}
    if "kernel" in wanted or "syscalls" in wanted:
        backend, tps, sys_ = _kernel_catalogue(args.kernel_backend)
        result["kernel_backend"] = backend
        if "kernel" in wanted:
            result["kernel"] = [t for t in tps if args.match in t]
        if "syscalls" in wanted:
            result["syscalls"] = [s for s in sys_ if args.match in s]
    if "ust" in wanted:
        r = subprocess.run(["lttng", "--mi", "xml", "list", "--userspace"], capture_output=True,
                           text=True, timeout=60)
        names = sorted({n for n, _ in ev.parse_lttng_mi_events(r.stdout)}) \
            if r.returncode == 0 else []
        result["ust"] = [n for n in names if args.match in n]
        result["python"] = []
        r = subprocess.run(["lttng", "--mi", "xml", "list", "--python"], capture_output=True,
                           text=True, timeout=60)
        if r.returncode == 0:
            result["python"] = sorted({n for n, _ in ev.parse_lttng_mi_events(r.stdout)
                                       if args.match in n})
    if "counters" in wanted:
        avail = set(ev.available_counters())
        result["counters"] = [{"name": c.name, "available": c.name in avail,
                               "hardware": c.hardware, "ust_context": c.ust_context}
                              for c in ev.COUNTERS.values() if args.match in c.name]
    if "presets" in wanted:
        result["presets"] = {"--ext4": list(ev.PRESETS["ext4"]),
                             "--sched": list(ev.PRESETS["sched"]),
                             **{f"--syscalls {k}": list(v)
                                for k, v in ev.SYSCALL_PRESETS.items()}}
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    for key, value in result.items():
        if key == "kernel_backend":
            print(f"# kernel names as the {value} backend records them")
            continue
        print(f"{key}:")
        if key == "counters":
            for c in value:  # type: ignore[attr-defined]
                state = "available" if c["available"] else "not available here"
                print(f"  {c['name']:<26} {'hw' if c['hardware'] else 'sw'}  {state}")
        elif key == "presets":
            for name, members in value.items():  # type: ignore[attr-defined]
                print(f"  {name}: {', '.join(members)}")
        else:
            for n in value:  # type: ignore[attr-defined]
                print(f"  {n}")
            if not value:
                print("  (none" + (" running: start your application)" if key in ("ust",
                                                                                 "python")
                                   else ")"))
    return 0
