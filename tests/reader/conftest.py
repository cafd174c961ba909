"""Fixtures of the reader tests: real UST and perf traces made by tracegen/record.py.

Traces are recorded once per test session into pytest's temporary directory (each
recording under a unique LTTng session name, destroyed even when recording fails).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracegen import record  # noqa: E402


@pytest.fixture(scope="session")
def gen_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record.build(tmp_path_factory.mktemp("gen"))


@pytest.fixture(scope="session")
def ust_trace(sessiond: None, gen_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every UST field type from 3 threads (several streams/CPUs), with all contexts."""
    return record.record(gen_exe, tmp_path_factory.mktemp("ust"), ["all", "3", "400", "0"])


@pytest.fixture(scope="session")
def mixed_trace(sessiond: None, gen_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """UST `gen:op` events and perf write/sched events of the same process, one directory."""
    if not record.have_perf():
        pytest.skip("kernel tier: perf or tracefs syscall events missing")
    return record.record(gen_exe, tmp_path_factory.mktemp("mixed"), ["op", "2", "3000", "3"],
                         perf_events=record.PERF_EVENTS)


@pytest.fixture(scope="session")
def multi_packet_trace(sessiond: None, gen_exe: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``ust_trace`` but with 64 KiB sub-buffers, so that every stream holding events
    has several packets wherever the scheduler ran the threads (8 of them hold the whole
    recording: nothing is discarded)."""
    return record.record(gen_exe, tmp_path_factory.mktemp("multi"), ["all", "3", "400", "0"],
                         subbuf="64k", num_subbuf=8)
