"""``usdk record``: run a command under one UST + kernel session and keep the trace.

Returns the command's exit status (128+N when a signal N ended it). ``--dry-run`` prints
the lttng/perf commands instead of running them. Ctrl-C stops the command and the
session cleanly; the trace recorded so far is kept.
"""

from __future__ import annotations

import argparse
import sys

from usdk.channel import ChannelConfig
from usdk.session import (
    KernelBackend,
    KernelEvents,
    PythonLoggerRule,
    Session,
    SessionConfig,
    SessionMode,
    UstEventRule,
    check_command,
)

EPILOG = """\
examples:
  usdk record -o trace -- python3 app.py
  usdk record --ext4 --syscalls io --pmu task-clock,page-faults -o trace -- python3 app.py
  usdk record --kernel-event 'sched:sched_switch' --syscalls write,fsync -o t -- ./app
  usdk record --ust 'shop:*' --python-logger app --kernel-backend none -o t -- python3 app.py
  usdk record --dry-run --ext4 --syscalls io -o trace -- python3 app.py
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record", help="record a command's UST and kernel events into one session directory",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="session directory to create (never overwritten)")
    p.add_argument("-n", "--name", help="LTTng session name (default: usdk-<random>)")
    u = p.add_argument_group("user space")
    u.add_argument("--ust", action="append", metavar="PATTERN",
                   help="UST event pattern, repeatable (default: '*')")
    u.add_argument("--no-ust", action="store_true", help="record no UST events")
    u.add_argument("--ust-filter", metavar="EXPR", help="filter expression for --ust rules")
    u.add_argument("--loglevel", metavar="LEVEL", help="UST log level (TRACE_INFO, ...)")
    u.add_argument("--python-logger", action="append", metavar="LOGGER",
                   help="record Python logging records of LOGGER ('*': all) via lttngust")
    u.add_argument("--pmu", metavar="LIST", default="",
                   help="counters as UST contexts, e.g. task-clock,page-faults")
    u.add_argument("--pmu-optional", metavar="LIST", default="",
                   help="counters added only when this CPU has them")
    u.add_argument("--subbuf-size", type=_size, default=1 << 20, metavar="BYTES",
                   help="UST sub-buffer size (power of two; 4M, 1M, ...)")
    u.add_argument("--num-subbuf", type=int, default=8, help="UST sub-buffer count")
    k = p.add_argument_group("kernel")
    k.add_argument("--kernel-backend", choices=[b.value for b in KernelBackend], default="auto")
    k.add_argument("--syscalls", metavar="LIST", default="",
                   help="syscall names or presets (io, file, net, sched, all), comma-separated")
    k.add_argument("--ext4", action="store_true",
                   help="ext4 write/fsync/writepages + writeback + block events")
    k.add_argument("--sched", action="store_true", help="sched_switch/wakeup/fork/exec/exit")
    k.add_argument("--kernel-event", action="append", metavar="NAME", default=[],
                   help="kernel tracepoint (ext4:ext4_da_write_begin, 'block:*'), repeatable")
    k.add_argument("--perf-mmap-pages", type=int, default=1024,
                   help="perf backend ring buffer per CPU, in pages")
    s = p.add_argument_group("session")
    s.add_argument("--track", action="store_true",
                   help="record only the command (and, with perf, its descendants)")
    s.add_argument("--snapshot", action="store_true",
                   help="flight recorder: overwrite buffers, snapshot when the command ends")
    s.add_argument("--dry-run", action="store_true",
                   help="print the lttng/perf commands instead of running them")
    s.add_argument("--no-sessiond", action="store_true",
                   help="fail when no lttng-sessiond runs, instead of starting one for this "
                        "recording (it is ended when the recording ends)")
    s.add_argument("-q", "--quiet", action="store_true", help="no summary")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    p.set_defaults(run=run)


def _size(text: str) -> int:
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().rstrip("b")
    if t and t[-1] in mult:
        return int(t[:-1]) * mult[t[-1]]
    return int(t)


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def config_from_args(args: argparse.Namespace) -> SessionConfig:
    ust: tuple[UstEventRule, ...] = ()
    if not args.no_ust:
        ust = tuple(UstEventRule(pattern=p, filter=args.ust_filter, loglevel=args.loglevel)
                    for p in (args.ust or ["*"]))
    tracepoints = list(args.kernel_event)
    if args.ext4:
        tracepoints.append("ext4")
    if args.sched:
        tracepoints.append("sched")
    syscalls = _split(args.syscalls)
    kernel = None
    if syscalls or tracepoints:
        kernel = KernelEvents(syscalls=syscalls, tracepoints=tuple(tracepoints),
                              perf_mmap_pages=args.perf_mmap_pages)
    return SessionConfig(
        output=args.output, name=args.name,
        mode=SessionMode.SNAPSHOT if args.snapshot else SessionMode.NORMAL,
        ust=ust, python=tuple(PythonLoggerRule(logger=lg) for lg in args.python_logger or ()),
        ust_channel=ChannelConfig(subbuf_size=args.subbuf_size, num_subbuf=args.num_subbuf),
        counters=_split(args.pmu), optional_counters=_split(args.pmu_optional),
        kernel=kernel, kernel_backend=KernelBackend(args.kernel_backend),
        track_command=args.track, start_sessiond=not args.no_sessiond,
    )


def run(args: argparse.Namespace) -> int:
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("usdk record: error: no command given (usdk record [OPTIONS] -o DIR -- CMD)",
              file=sys.stderr)
        return 2
    check_command(command)  # before anything starts
    config = config_from_args(args)
    session = Session(config, dry_run=args.dry_run,
                      log=(lambda m: None) if args.quiet else None)
    if args.dry_run:
        session.resolve()  # checks names and the backend exactly as a real run would
        session.start()
        session.run(command)
        if config.mode is SessionMode.SNAPSHOT:
            session.snapshot()
        session.close()
        print(f"# usdk record --dry-run: kernel backend "
              f"{session.resolve().backend.value} ({session.resolve().backend_reason})")
        print(session.plan())
        return 0
    status: int | None = None
    interrupted = False
    try:
        with session:
            try:
                status = session.run(command)
            except KeyboardInterrupt:
                interrupted = True
                status = session.command.get("exit_status")
            if config.mode is SessionMode.SNAPSHOT:
                path = session.snapshot()
                if not args.quiet:
                    print(f"usdk: snapshot written to {path}", file=sys.stderr)
    finally:
        if not args.quiet and session.manifest:
            print(session.summary(), file=sys.stderr)
    if interrupted:
        return 130
    if status is None:
        return 1
    return 128 - status if status < 0 else status


__all__ = ["add_parser", "run", "config_from_args"]
