"""Bad input: truncated streams, corrupted packets/events, broken metadata, and a mutation
fuzz of the native decoder (it must report damage, never crash or hang).

The fuzz runs in a child process so that a crash fails the test instead of killing pytest;
inputs that crash are saved under ``fuzz_corpus/`` (next to this file) for replay, and
every saved input is replayed first.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import correlate
from correlate.read.tsdl import read_text as tsdl_text
from usdk.errors import CorruptTraceError, TraceError

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"


def _copy(trace: Path, tmp: Path) -> tuple[Path, Path]:
    dst = tmp / "t"
    shutil.copytree(trace, dst)
    meta = next(dst.rglob("metadata"))
    stream = max((p for p in meta.parent.iterdir() if p.is_file() and p.name != "metadata"),
                 key=lambda p: p.stat().st_size)
    return dst, stream


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["native", "bt2"])
def test_truncated_stream_names_file_and_offset(ust_trace: Path, tmp_path: Path,
                                                backend: str) -> None:
    dst, stream = _copy(ust_trace, tmp_path)
    data = stream.read_bytes()
    stream.write_bytes(data[: len(data) - 100])
    with pytest.raises(CorruptTraceError) as e:
        correlate.open(dst, backend=backend)
    if backend == "native":
        assert e.value.path == str(stream)
        assert e.value.offset is not None and 0 <= e.value.offset <= len(data)
        assert str(stream) in str(e.value)


@pytest.mark.integration
def test_corrupted_packet_header_partial_read_keeps_good_packets(multi_packet_trace: Path,
                                                                 tmp_path: Path) -> None:
    full = correlate.open(multi_packet_trace, backend="native")
    dst, stream = _copy(multi_packet_trace, tmp_path)
    data = bytearray(stream.read_bytes())
    data[0:4] = b"\0\0\0\0"  # magic of the first packet
    stream.write_bytes(bytes(data))
    with pytest.raises(CorruptTraceError) as e:
        correlate.open(dst, backend="native")
    assert e.value.path == str(stream) and e.value.offset == 0
    assert "magic" in str(e.value)
    with pytest.warns(UserWarning, match="damaged"):
        part = correlate.open(dst, backend="native", partial=True)
    assert [d.path for d in part.damage] == [str(stream)]
    assert part.damage[0].offset == 0
    assert 0 < len(part) < len(full)


@pytest.mark.integration
def test_corrupted_event_partial(ust_trace: Path, tmp_path: Path) -> None:
    dst, stream = _copy(ust_trace, tmp_path)
    data = bytearray(stream.read_bytes())
    # the first event header's 16-bit id: after the packet header (32 bytes) and context
    # (52 bytes), aligned to 8 -> byte 88; 0x7ffe is no event class
    data[88:90] = b"\xfe\x7f"
    stream.write_bytes(bytes(data))
    with pytest.raises(CorruptTraceError) as e:
        correlate.open(dst, backend="native")
    assert e.value.offset in (84, 88)  # the event starts at 84 (padding), its header at 88
    assert "unknown event class" in str(e.value)
    t = correlate.open(dst, backend="native", partial=True)
    assert t.damage and t.damage[0].path == str(stream)


@pytest.mark.unit
def test_broken_metadata(tmp_path: Path) -> None:
    d = tmp_path / "trace"
    d.mkdir()
    (d / "metadata").write_text("/* CTF 1.8 */\ntrace { major = 1; minor = 8; byte_order = le;")
    (d / "stream_0").write_bytes(b"\xc1\x1f\xfc\xc1" + b"\0" * 60)
    with pytest.raises(TraceError) as e:
        correlate.open(d)
    assert isinstance(e.value, CorruptTraceError)
    assert str(d) in str(e.value)


FUZZ = textwrap.dedent(
    """
    import random, shutil, sys, warnings
    from pathlib import Path
    warnings.simplefilter("ignore")
    import correlate
    from usdk.errors import CorruptTraceError
    src, work, seed, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    replay = [Path(p) for p in sys.argv[5:]]
    rng = random.Random(seed)
    streams = sorted(p for p in src.rglob("*") if p.is_file() and p.name != "metadata"
                     and "index" not in p.parts)
    shutil.copytree(src, work)
    def run():
        for partial in (False, True):
            try:
                correlate.open(work, backend="native", partial=partial)
            except CorruptTraceError:
                pass
    for case in replay:  # saved inputs: (relative stream path, bytes)
        rel, data = case.read_bytes().split(b"\\0", 1)
        (work / rel.decode()).write_bytes(data)
        run()
        shutil.rmtree(work); shutil.copytree(src, work)
    for i in range(n):
        s = rng.choice(streams)
        rel = s.relative_to(src)
        data = bytearray(s.read_bytes())
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.6:
                data[pos] = rng.randrange(256)
            elif op < 0.8:
                data[pos:pos + 8] = rng.randbytes(8)
            else:
                del data[pos:]
                if not data:
                    data = bytearray(b"\\0")
        print(str(rel), flush=True)
        (work / rel).write_bytes(bytes(data))
        (work.parent / "current").write_bytes(str(rel).encode() + b"\\0" + bytes(data))
        run()
        (work / rel).write_bytes(s.read_bytes())
    print("done")
    """
)


@pytest.mark.integration
def test_fuzz_native_decoder(ust_trace: Path, tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    replay = sorted(str(p) for p in CORPUS.glob("crash-*")) if CORPUS.is_dir() else []
    r = subprocess.run([sys.executable, "-c", FUZZ, str(ust_trace), str(tmp_path / "w"),
                        str(seed), "150", *replay], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        CORPUS.mkdir(exist_ok=True)
        saved = CORPUS / f"crash-{seed}"
        if (tmp_path / "current").exists():
            shutil.copy(tmp_path / "current", saved)
        pytest.fail(f"decoder died (rc {r.returncode}, seed {seed}, input saved to {saved}):\n"
                    f"{r.stderr[-2000:]}")
    assert r.stdout.strip().endswith("done")


@pytest.mark.integration
@pytest.mark.parametrize("align", ["3", "0", "1" + "0" * 40])
def test_impossible_alignment_in_metadata_is_corruption(ust_trace: Path, tmp_path: Path,
                                                        align: str) -> None:
    # found by the fuzzer: `align = 10^125;` reached the C layout as an int overflow
    dst, _stream = _copy(ust_trace, tmp_path)
    meta = next(dst.rglob("metadata"))
    text = tsdl_text(meta)
    assert "align = 8;" in text
    (meta).write_text(text.replace("align = 8;", f"align = {align};", 1))
    with pytest.raises(CorruptTraceError) as e:
        correlate.open(dst, backend="native")
    assert "power of two" in str(e.value) and str(meta) in str(e.value)
