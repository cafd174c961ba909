"""Fixtures of the @tracepoint tests: unique provider names, an isolated build cache, and
real Python apps recorded under a real LTTng session and read back with bt2.

Providers are process-wide singletons (``usdk.Provider("x")`` returns the same object) and
warnings are issued once per process per key, so every in-process test takes a fresh
provider name from :func:`provider_name`. Apps run as subprocesses with ``USDK_CACHE_DIR``
under ``tmp_path`` (no test writes to the user's cache).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_RUN = uuid.uuid4().hex[:6]
_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In-process providers compile into a cache under pytest's temporary directory."""
    old = os.environ.get("USDK_CACHE_DIR")
    os.environ["USDK_CACHE_DIR"] = str(tmp_path_factory.mktemp("usdk-cache"))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("USDK_CACHE_DIR", None)
        else:
            os.environ["USDK_CACHE_DIR"] = old


@pytest.fixture
def provider_name() -> str:
    """A provider name no other test of this process uses."""
    return f"t{_RUN}_{next(_counter)}"


# --- running apps -------------------------------------------------------------------------


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an app subprocess: an empty cache under tmp_path, plus extra."""
    env = dict(os.environ)
    env["USDK_CACHE_DIR"] = str(tmp_path / "app-cache")
    env.pop("USDK_PROVIDER_PATH", None)
    env.update(extra)
    return env


def run_app(tmp_path: Path, source: str, *, env: dict[str, str] | None = None,
            name: str = "app.py", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Write source (dedented) to tmp_path/name and run it with this interpreter."""
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    proc = subprocess.run([sys.executable, str(script)], env=env or app_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    assert proc.returncode == 0, f"app failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document an app printed on its last stdout line."""
    return json.loads(proc.stdout.strip().splitlines()[-1])


def lttng(*args: str) -> None:
    r = subprocess.run(["lttng", *args], capture_output=True, text=True)
    assert r.returncode == 0, f"lttng {' '.join(args)} failed: {r.stdout}{r.stderr}"


@dataclass
class TraceEvent:
    """One recorded event: name, payload fields (bt2 field objects) and common context."""

    name: str
    fields: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        return to_python(self.fields[key])

    def values(self) -> dict[str, Any]:
        return {k: to_python(v) for k, v in self.fields.items()}


def to_python(f: Any) -> Any:
    """A bt2 field as a plain Python value (enum -> (int, sorted labels), sequence -> bytes)."""
    import bt2

    from correlate.read.bt2source import enum_labels

    if isinstance(f, bt2._EnumerationFieldConst):
        return (int(f), sorted(enum_labels(f)))  # bt2 2.0 asserts on some unlabeled values
    if isinstance(f, bt2._IntegerFieldConst):
        return int(f)
    if isinstance(f, bt2._RealFieldConst):
        return float(f)
    if isinstance(f, bt2._StringFieldConst):
        return str(f)
    if isinstance(f, bt2._ArrayFieldConst):
        return bytes(int(x) for x in f)
    raise AssertionError(f"unexpected field {f!r}")


def read_trace(trace_dir: Path) -> list[TraceEvent]:
    """Every event of a CTF trace, in time order."""
    import bt2

    out = []
    for msg in bt2.TraceCollectionMessageIterator(str(trace_dir)):
        if type(msg) is not bt2._EventMessageConst:
            continue
        ev = msg.event
        ctx = ev.common_context_field
        out.append(TraceEvent(
            ev.name,
            {k: v for k, v in ev.payload_field.items()},
            {k: to_python(v) for k, v in ctx.items()} if ctx is not None else {},
        ))
    return out


def record_app(lttng_session: tuple[str, Path], tmp_path: Path, source: str, *,
               patterns: Sequence[str], env: dict[str, str] | None = None
               ) -> tuple[subprocess.CompletedProcess[str], list[TraceEvent]]:
    """Run an app under the session with `patterns` enabled (+ vpid/vtid/procname); read it."""
    session, out = lttng_session
    for p in patterns:
        lttng("enable-event", "-u", "-s", session, p)
    lttng("add-context", "-u", "-s", session, "-t", "vpid", "-t", "vtid", "-t", "procname")
    lttng("start", session)
    try:
        proc = run_app(tmp_path, source, env=env)
    finally:
        lttng("stop", session)
    return proc, read_trace(out)


def of(events: Sequence[TraceEvent], *names: str) -> list[TraceEvent]:
    return [e for e in events if e.name in names]
