"""Coverage-guided fuzzing of the native CTF decoder (atheris, libFuzzer inside).

One input is one trace read through ``correlate.open(..., backend="native")`` with
``partial=False`` then ``partial=True`` (the merged decoder, then the stream-by-stream
decoder that reports damage), plus ``trace.events``, ``trace.discarded`` and every table:

* byte 0 selects a base trace (``base/<kind>/``: ``ust``, ``perf``, ``kernel``, see
  make_corpus.py) and a mode: without :data:`METADATA_MODE`, the rest of the input is the
  trace's one stream file (its metadata fixed); with it, the rest is the metadata text
  (its stream fixed), which exercises the TSDL parser and the layout compiler.
* Expected outcomes: a trace, or a :class:`usdk.errors.TraceError` (``CorruptTraceError``
  naming file and offset, ``TraceNotFoundError``) or ``UnknownEventError``. Any other
  exception is a finding (atheris reports it and saves the input); so is a crash (signal),
  a hang (``-timeout``) or running out of memory (``-rss_limit_mb``).

Coverage: the Python reader (``correlate.*``: tsdl, layout, fast, assemble) is
instrumented with ``atheris.instrument_func``. The C decoder is a black box to
libFuzzer unless ``USDK_FUZZ_NATIVE`` names an instrumented build of ``correlate._ctfdec``
(``build_instrumented.py``): then its edges and comparisons feed libFuzzer too.

Usage (from the repository root)::

    .venv/bin/python tests/reader/fuzz/fuzz_decoder.py --replay tests/reader/fuzz/corpus
    .venv/bin/python tests/reader/fuzz/fuzz_decoder.py -max_total_time=600 \\
        -artifact_prefix=/tmp/fz- NEW_DIR tests/reader/fuzz/corpus

(libFuzzer writes new inputs to the first corpus directory: give it a scratch directory
and copy the few interesting ones into ``corpus/`` by hand.)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("ust", "perf", "kernel")
METADATA_MODE = 0x80

if __name__ == "__main__":
    import atheris

    if os.environ.get("USDK_FUZZ_NATIVE"):
        sys.path.insert(0, str(HERE))
        import native_cov

        native_cov.load(os.environ["USDK_FUZZ_NATIVE"])

    import correlate
    import correlate.read.fast  # noqa: F401 - imported on first use by correlate.open
    from usdk.errors import TraceError, UnknownEventError

    def _instrument_reader() -> int:
        """Instrument the reader's Python functions in place. (``instrument_imports`` does
        not see through the editable install's import hook, so it would instrument
        nothing.)"""
        import gc

        from atheris.instrument_bytecode import _is_instrumentable

        def ours(f: object) -> bool:
            mod = getattr(f, "__module__", "") or ""
            return mod == "correlate.names" or mod.startswith("correlate.read")

        funcs = [f for f in gc.get_objects() if _is_instrumentable(f) and ours(f)]
        for f in funcs:
            atheris.instrument_func(f)
        return len(funcs)

    EXPECTED: tuple[type[BaseException], ...] = (TraceError, UnknownEventError)


def _bases() -> list[tuple[bytes, str, bytes]]:
    """Per kind: (metadata, stream file name, stream bytes) of ``base/<kind>``."""
    out = []
    for kind in KINDS:
        d = HERE / "base" / kind
        stream = next(p for p in sorted(d.iterdir()) if p.name != "metadata")
        out.append(((d / "metadata").read_bytes(), stream.name, stream.read_bytes()))
    return out


class Harness:
    """Writes each input as a trace under a scratch directory and reads it back."""

    def __init__(self) -> None:
        # libFuzzer ends the process with exit(): no Python clean-up runs, so the scratch
        # directory is named by pid and the next run removes those of dead processes
        root = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
        for old in root.glob("usdk-fuzz-*"):
            pid = old.name.rpartition("-")[2]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(old, ignore_errors=True)
        self.tmp = root / f"usdk-fuzz-{os.getpid()}"
        self.tmp.mkdir(exist_ok=True)
        self.bases = _bases()
        self.native_pending = bool(os.environ.get("USDK_FUZZ_NATIVE")) and \
            sys.argv[1:2] != ["--replay"]

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def one(self, data: bytes) -> None:
        if self.native_pending:  # libFuzzer is loaded once atheris.Fuzz runs
            self.native_pending = False
            native_cov.register()
        if not data:
            return
        meta, name, stream = self.bases[(data[0] & ~METADATA_MODE) % len(KINDS)]
        if data[0] & METADATA_MODE:
            meta = data[1:]
        else:
            stream = data[1:]
        d = self.tmp / "t"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        (d / "metadata").write_bytes(meta)
        (d / name).write_bytes(stream)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for partial in (False, True):
                try:
                    t = correlate.open(d, backend="native", partial=partial, progress=False)
                except EXPECTED:
                    continue
                len(t.events)
                len(t.discarded)
                for n in t.names:
                    t.table(n)


def _replay(paths: list[str], h: Harness) -> int:
    files = sorted(f for p in map(Path, paths)
                   for f in (p.rglob("*") if p.is_dir() else [p]) if f.is_file())
    for f in files:
        print(f"replay {f}", flush=True)
        h.one(f.read_bytes())
    print(f"replayed {len(files)} inputs", flush=True)
    return 0


def main() -> int:
    h = Harness()
    try:
        if sys.argv[1:2] == ["--replay"]:
            return _replay(sys.argv[2:], h)
        print(f"INFO: instrumented {_instrument_reader()} reader functions", file=sys.stderr)
        atheris.Setup(sys.argv, h.one)
        atheris.Fuzz()
        return 0
    finally:
        h.close()


if __name__ == "__main__":
    sys.exit(main())
