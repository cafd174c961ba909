"""Test tiers and shared fixtures.

Tiers (pytest markers): ``unit`` (no LTTng), ``integration`` (real lttng-sessiond),
``kernel`` (root + linux-perf or the LTTng kernel tracer), ``lab`` (qemu guest).
A test whose tier requirement is missing is skipped with the reason (``pytest -ra``
prints it). Every session a test creates is named uniquely, writes under ``tmp_path``
and is destroyed in teardown, also on failure; only processes the tests start are ended.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _lttng_ok() -> bool:
    try:
        r = subprocess.run(["lttng", "list"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def _integration_missing() -> str | None:
    for tool in ("lttng", "lttng-sessiond"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (run `make test`, whose set-up installs lttng-tools)"
    return None


def _kernel_missing() -> str | None:
    if os.geteuid() != 0:
        return "kernel tier needs root"
    if shutil.which("perf") is None and not Path("/proc/lttng").exists():
        return "no kernel backend: neither linux-perf nor the LTTng kernel tracer"
    if (
        not Path("/sys/kernel/tracing/events/syscalls").is_dir()
        and not Path("/proc/lttng").exists()
    ):
        return (
            "tracefs not mounted at /sys/kernel/tracing "
            "(mount -t tracefs nodev /sys/kernel/tracing)"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {
        "integration": _integration_missing(),
        "kernel": _integration_missing() or _kernel_missing(),
    }
    for item in items:
        for tier, reason in reasons.items():
            if reason and item.get_closest_marker(tier):
                item.add_marker(pytest.mark.skip(reason=f"{tier} tier: {reason}"))


@pytest.fixture(scope="session")
def sessiond() -> Iterator[None]:
    """A running lttng-sessiond: the one already running, else one we start and end by pid."""
    if _lttng_ok():
        yield
        return
    proc = subprocess.Popen(
        ["lttng-sessiond"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while not _lttng_ok():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("could not start lttng-sessiond")
        time.sleep(0.1)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def session_name() -> str:
    """A session name no other test (or user) uses."""
    return f"usdk-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def lttng_session(sessiond: None, session_name: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A raw LTTng session (name, output dir) destroyed in teardown even when the test fails."""
    out = tmp_path / "trace"
    subprocess.run(
        ["lttng", "create", session_name, f"--output={out}"], check=True, capture_output=True
    )
    try:
        yield session_name, out
    finally:
        subprocess.run(["lttng", "destroy", session_name], capture_output=True)


_NO_SESSIOND = ("mkdir -p /run/lttng && mount -t tmpfs usdk-test /run/lttng && "
                "mount -t tmpfs usdk-test /dev/shm && exec \"$@\"")


@pytest.fixture
def without_sessiond() -> list[str]:
    """An argv prefix running a command where no lttng-sessiond answers, whatever runs here.

    A private mount namespace with empty tmpfs mounts on /run/lttng and /dev/shm: root's
    global daemon (the ``sessiond`` fixture's or a user's) is invisible there, and a daemon
    started inside is seen by nobody else. Needs root and ``unshare``.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root (a private mount namespace)")
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"unshare -m fails here: {r.stderr.strip()}")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", _NO_SESSIOND, "sh"]
