"""Fixtures of the guest-side lab tests, which run inside the qemu guest (``USDK_LAB_GUEST=1``).

The guest runs the host's userland and venv as root with lttng-modules loaded; ``USDK_LAB_OUT``
is a directory shared with the host (traces written there are read again on the host) and
``USDK_LAB_EXT4`` an ext4 mount. Every session a test creates writes under
``$USDK_LAB_OUT/traces/<test>`` and is destroyed in teardown, also when the test fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent

if os.environ.get("USDK_LAB_GUEST") != "1":   # pragma: no cover - tests/lab/conftest.py ignores us
    raise pytest.UsageError("tests/lab/guest runs inside the lab guest only (make lab)")


@pytest.fixture(scope="session")
def out_dir() -> Path:
    return Path(os.environ["USDK_LAB_OUT"])


@pytest.fixture
def trace_dir(out_dir: Path, request: pytest.FixtureRequest) -> Path:
    """Where this test's trace goes: shared with the host, named after the test."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    return out_dir / "traces" / name


@pytest.fixture
def ext4_dir(request: pytest.FixtureRequest) -> Path:
    """An empty directory on the guest's ext4 disk."""
    root = os.environ.get("USDK_LAB_EXT4")
    assert root, "the lab guest has no ext4 disk (USDK_LAB_EXT4 is empty)"
    d = Path(root) / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    d.mkdir(parents=True, exist_ok=False)
    return d


def _lttng(*args: str) -> str:
    r = subprocess.run(["lttng", *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.fail(f"lttng {' '.join(args)} failed ({r.returncode}): {r.stderr or r.stdout}")
    return r.stdout


@pytest.fixture
def lttng() -> Callable[..., str]:
    """Run one ``lttng`` command and return its stdout; fail the test with its stderr if it
    fails."""
    return _lttng


@pytest.fixture
def raw_session(trace_dir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A plain ``lttng create`` session writing to ``trace_dir``; destroyed in teardown."""
    name = "lab-" + re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:40]
    _lttng("create", name, f"--output={trace_dir}")
    try:
        yield name
    finally:
        subprocess.run(["lttng", "destroy", name], capture_output=True, timeout=60)


@pytest.fixture
def run_workload() -> Callable[..., dict[str, Any]]:
    """Run tests/lab/guest/workload.py; returns the JSON line it prints."""

    def run(directory: Path, *, ops: int, writes: int, usdk: bool = False,
            wrapper: list[str] | None = None) -> dict[str, Any]:
        argv = [sys.executable, str(HERE / "workload.py"), str(directory),
                f"--ops={ops}", f"--writes={writes}"] + (["--usdk"] if usdk else [])
        r = subprocess.run([*(wrapper or []), *argv], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"workload failed ({r.returncode}): {r.stderr}"
        return dict(json.loads(r.stdout.strip().splitlines()[-1]))

    return run
