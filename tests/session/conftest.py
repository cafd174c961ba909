"""Fixtures for the session builder's tests: reading recorded traces with bt2, cleanup.

``trace_events`` is :func:`session_helpers.read_events`. The ``cleanup_session`` fixture
destroys the LTTng session named by
``session_name`` in teardown (also on failure); a recorder the test started is ended by pid.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from session_helpers import PYTHON, WORKLOAD, read_events


@pytest.fixture
def trace_events() -> Callable[[str | Path], list[dict[str, Any]]]:
    return read_events


@pytest.fixture
def cleanup_session(session_name: str) -> Iterator[str]:
    """``session_name``, destroyed in teardown if the code under test left it behind."""
    yield session_name
    subprocess.run(["lttng", "destroy", session_name], capture_output=True)


@pytest.fixture(scope="session")
def warm_workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the workload once untraced so its provider is compiled and .pyc files exist."""
    d = tmp_path_factory.mktemp("warm")
    r = subprocess.run([PYTHON, str(WORKLOAD), str(d), "1", "1", "10"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return WORKLOAD
