"""Make the fuzzer's base traces and seed corpus (tests/reader/fuzz/base, .../corpus).

Three small valid traces, each cut to one stream file + its metadata:

* ``ust``: LTTng-UST, every field type tracegen emits (integers, strings, sequences,
  enumerations, floats) with the vpid/vtid/procname/perf contexts, 4 KiB sub-buffers;
* ``perf``: ``perf data convert --to-ctf`` of write(2) and sched_switch events;
* ``kernel``: an LTTng-modules-like trace from :func:`correlate.synth.write_ctf`, 256-byte
  packets (several packets in one stream).

``base/<kind>/`` holds the trace itself (the harness's fixed metadata and stream); each
seed in ``corpus/`` is one fuzzer input in the harness's format (see fuzz_decoder.py): a
selector byte, then the stream's bytes (or, in metadata mode, the metadata text).

Needs a running lttng-sessiond, perf and tracefs (run as root); run it again after a
change of tracegen or of the harness's input format::

    .venv/bin/python tests/reader/fuzz/make_corpus.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/reader: tracegen

from fuzz_decoder import KINDS, METADATA_MODE  # noqa: E402
from tracegen import record  # noqa: E402

KERNEL_EVENTS = """
100  10/11 syscall_entry_write fd=3 count=4096 cpu=0 procname=shop
150  10/11 syscall_exit_write  ret=4096 cpu=0 procname=shop
160  10/11 sched_switch prev_comm=shop prev_tid=11 prev_state=1 next_comm=swapper next_tid=0 cpu=0
900  20/21 syscall_entry_write fd=1 count=7 cpu=0 procname="a b"
950  20/21 syscall_exit_write  ret=-11 cpu=0 procname="a b"
"""


def _one_stream(trace: Path, out: Path) -> None:
    """Copy ``trace``'s metadata and its largest stream file into ``out``."""
    meta = next(trace.rglob("metadata"))
    stream = max((p for p in meta.parent.iterdir() if p.is_file() and p.name != "metadata"),
                 key=lambda p: p.stat().st_size)
    out.mkdir(parents=True)
    shutil.copy(meta, out / "metadata")
    shutil.copy(stream, out / stream.name)


def main() -> None:
    base, corpus = HERE / "base", HERE / "corpus"
    for d in (base, corpus):
        shutil.rmtree(d, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        exe = record.build(tmp / "gen")
        ust = record.record(exe, tmp / "ust", ["all", "1", "10", "0"], subbuf="4k",
                            num_subbuf=4)
        _one_stream(ust / "lttng", base / "ust")
        perf = record.record(exe, tmp / "perf", ["op", "1", "6", "2"], ust=False,
                             perf_events=record.PERF_EVENTS)
        _one_stream(perf / "perf", base / "perf")
        from correlate import synth

        synth.write_ctf(synth.parse(KERNEL_EVENTS), tmp / "kernel", packet_bytes=256)
        _one_stream(tmp / "kernel" / "kernel", base / "kernel")
    corpus.mkdir()
    for i, kind in enumerate(KINDS):
        d = base / kind
        stream = next(p for p in d.iterdir() if p.name != "metadata")
        (corpus / f"seed-{kind}-stream").write_bytes(bytes([i]) + stream.read_bytes())
        (corpus / f"seed-{kind}-metadata").write_bytes(
            bytes([i | METADATA_MODE]) + (d / "metadata").read_bytes())
    for p in sorted(base.rglob("*")) + sorted(corpus.iterdir()):
        if p.is_file():
            print(f"{p.stat().st_size:8d}  {p.relative_to(HERE)}")


if __name__ == "__main__":
    main()
