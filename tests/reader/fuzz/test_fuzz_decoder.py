"""The native decoder never crashes: replay the kept fuzz corpus, then fuzz it briefly.

Both run ``fuzz_decoder.py`` (next to this file) in a child process, so a crash fails the
test instead of killing pytest. The short run starts from ``corpus/`` and writes what it
finds under ``tmp_path`` (the repository's corpus is only read), with the C decoder built
for edge coverage (native_cov.py); a failure names the input libFuzzer saved, to be fixed
and then kept in ``corpus/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "fuzz_decoder.py"
CORPUS = HERE / "corpus"
FUZZ_SECONDS = 20

pytestmark = pytest.mark.unit


def _run(args: list[str], timeout: float,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("atheris", reason="atheris not installed (pip install -e '.[dev]')")
    return subprocess.run([sys.executable, str(HARNESS), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_corpus_is_small_and_scripted() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert 6 <= len(files) < 200
    assert sum(p.stat().st_size for p in files) < 2 << 20
    assert (HERE / "make_corpus.py").is_file()


def test_replay_corpus() -> None:
    r = _run(["--replay", str(CORPUS)], timeout=300)
    n = len([p for p in CORPUS.rglob("*") if p.is_file()])
    assert r.returncode == 0, f"an input of {CORPUS} fails:\n{r.stdout[-500:]}{r.stderr[-3000:]}"
    assert f"replayed {n} inputs" in r.stdout


@pytest.mark.slow
def test_short_fuzz_run(tmp_path: Path) -> None:
    new = tmp_path / "new"
    new.mkdir()
    r = _run([f"-max_total_time={FUZZ_SECONDS}", "-timeout=10", "-rss_limit_mb=2048",
              "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", str(new), str(CORPUS)],
             timeout=FUZZ_SECONDS + 240, env={"USDK_FUZZ_NATIVE": "build"})
    found = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert r.returncode == 0 and not found, (
        f"fuzzing the native decoder found {found} in {tmp_path} (rc {r.returncode}); "
        f"replay with `fuzz_decoder.py --replay FILE`:\n{r.stderr[-4000:]}")
    assert "Done" in r.stderr
