"""Broken environments: no compiler, a failing compiler, no session daemon; and providers
built ahead of time for machines without a compiler.

In each case the app must run untraced (correct return values, no exception) with exactly
one UsdkWarning that says what is missing.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import app_env, last_json, record_app, run_app

# The app reports its results and every warning it saw as its last line of JSON.
APP = """
    import json, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import usdk

        p = usdk.Provider("{provider}")

        @p.tracepoint
        def add(a: int, b: int) -> int:
            return a + b

        hit = p.event("hit", key=str)
        out = [add(1, 2), add(a=3, b=4), hit(key="k"), add(5, 6)]
        with p.tracepoint(name="blk"):
            out.append("in-block")
    print(json.dumps({{
        "out": out,
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    }}))
"""


def app(provider: str) -> str:
    return APP.format(provider=provider)


def usdk_warnings(result: dict) -> list[str]:
    return [m for cat, m in result["warnings"] if cat == "UsdkWarning"]


EXPECTED_OUT = [3, 7, None, 11, "in-block"]


@pytest.mark.integration
@pytest.mark.parametrize("how", ["CC", "PATH"])
def test_no_compiler_for_a_new_provider(lttng_session: tuple[str, Path], tmp_path: Path,
                                        how: str) -> None:
    provider = f"nocc_{how.lower()}"
    if how == "CC":
        env = app_env(tmp_path, CC="/nonexistent/cc")
    else:
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        env = app_env(tmp_path, PATH=str(empty))
        env.pop("CC", None)
    proc, events = record_app(lttng_session, tmp_path, app(provider),
                              patterns=[f"{provider}:*"], env=env)
    result = last_json(proc)
    assert result["out"] == EXPECTED_OUT
    msgs = usdk_warnings(result)
    assert len(msgs) == 1, msgs
    assert provider in msgs[0] and "no C compiler" in msgs[0]
    assert "usdk build-provider" in msgs[0]  # says how to fix it
    assert len(result["warnings"]) == 1
    assert events == []  # untraced
    assert not list((tmp_path / "app-cache").rglob("*.so"))


@pytest.mark.integration
def test_provider_that_fails_to_build(lttng_session: tuple[str, Path], tmp_path: Path) -> None:
    cc = tmp_path / "bin" / "failing-cc"
    cc.parent.mkdir()
    cc.write_text("#!/bin/sh\necho 'failing-cc: refusing to compile' >&2\nexit 1\n")
    cc.chmod(cc.stat().st_mode | stat.S_IXUSR)
    env = app_env(tmp_path, CC=str(cc))
    proc, events = record_app(lttng_session, tmp_path, app("badcc"), patterns=["badcc:*"],
                              env=env)
    result = last_json(proc)
    assert result["out"] == EXPECTED_OUT
    msgs = usdk_warnings(result)
    assert len(msgs) == 1, msgs
    assert "'badcc' is untraced" in msgs[0] and "compiler failed" in msgs[0]
    assert "failing-cc" in msgs[0]  # the compiler's output is in the warning
    assert len(result["warnings"]) == 1
    assert events == []
    assert not list((tmp_path / "app-cache").rglob("*.so"))


@pytest.mark.integration
def test_the_same_app_is_traced_with_a_compiler(lttng_session: tuple[str, Path],
                                               tmp_path: Path) -> None:
    """The control of the two tests above: same app, working compiler, events recorded."""
    proc, events = record_app(lttng_session, tmp_path, app("okcc"), patterns=["okcc:*"])
    result = last_json(proc)
    assert result["out"] == EXPECTED_OUT
    assert result["warnings"] == []
    assert [e.name for e in events] == [
        "okcc:add_entry", "okcc:add_exit", "okcc:add_entry", "okcc:add_exit", "okcc:hit",
        "okcc:add_entry", "okcc:add_exit", "okcc:blk_entry", "okcc:blk_exit"]
    assert [e.value("ret") for e in events if e.name == "okcc:add_exit"] == [3, 7, 11]


# --- ahead of time ---------------------------------------------------------------------------

DEFS = """
    import usdk

    p = usdk.Provider("aot_shop")

    @p.tracepoint
    def add(a: int, b: int) -> int:
        return a + b

    hit = p.event("hit", key=str)
"""

AOT_APP = """
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import defs
        out = [defs.add(2, 3), defs.hit(key="aot")]
    print(json.dumps({"out": out, "warnings": [str(w.message) for w in caught]}))
"""


def build_provider(tmp_path: Path, target: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`usdk build-provider TARGET -o OUT`, run from tmp_path (where defs.py is)."""
    return subprocess.run([sys.executable, "-m", "usdk.cli", "build-provider", target, "-o",
                           str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=app_env(tmp_path, USDK_CACHE_DIR=str(tmp_path / "build-cache")))


@pytest.mark.integration
def test_ahead_of_time_build_on_usdk_provider_path(lttng_session: tuple[str, Path],
                                                    tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text(textwrap.dedent(DEFS))
    aot = tmp_path / "aot"
    built = build_provider(tmp_path, "defs:aot_shop", aot)
    assert built.returncode == 0, built.stderr
    assert "aot_shop: 3 events -> " in built.stdout
    assert len(list(aot.glob("_usdk_tp_aot_shop_*.so"))) == 1
    assert (aot / "aot_shop_tp.h").is_file()

    # the deployment: no compiler, an empty cache, the build on USDK_PROVIDER_PATH
    env = app_env(tmp_path, CC="/nonexistent/cc", USDK_PROVIDER_PATH=str(aot),
                  PYTHONPATH=str(tmp_path))
    proc, events = record_app(lttng_session, tmp_path, AOT_APP, patterns=["aot_shop:*"],
                              env=env)
    result = last_json(proc)
    assert result == {"out": [5, None], "warnings": []}
    sid = events[0].value("span_id")
    assert [(e.name, e.values()) for e in events] == [
        ("aot_shop:add_entry", {"span_id": sid, "parent_span_id": 0, "a": 2, "b": 3}),
        ("aot_shop:add_exit", {"span_id": sid, "parent_span_id": 0, "ret": 5, "exc_type": ""}),
        ("aot_shop:hit", {"key": "aot"}),
    ]
    assert not (tmp_path / "app-cache").exists()  # nothing compiled at run time


@pytest.mark.unit
def test_build_provider_errors(tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text(textwrap.dedent(DEFS))
    r = build_provider(tmp_path, "defs:no_such", tmp_path / "aot")
    assert r.returncode == 1 and "no usdk.Provider named 'no_such'" in r.stderr
    r = build_provider(tmp_path, "no_such_module", tmp_path / "aot")
    assert r.returncode == 1 and "cannot import 'no_such_module'" in r.stderr


# --- no session daemon -----------------------------------------------------------------------


@pytest.mark.integration
def test_sessiond_detection_finds_the_global_daemon(sessiond: None, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """What this proves: with an empty LTTNG_HOME the check still finds root's daemon at
    /var/run/lttng (so a root app under `sudo` with another HOME is not warned wrongly)."""
    from usdk import _native

    if not Path("/var/run/lttng/lttng-sessiond.pid").is_file():
        pytest.skip("the running session daemon is not root's global one")
    monkeypatch.setenv("LTTNG_HOME", str(tmp_path))
    assert _native._sessiond_running() is True


@pytest.mark.unit
def test_per_user_daemon_pid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-user daemon is found through $LTTNG_HOME/.lttng/lttng-sessiond.pid (a live pid).

    What this proves: the per-user lookup path and pid liveness check (the negative case is
    test_no_session_daemon_anywhere_warns_once_and_runs)."""
    from usdk import _native

    monkeypatch.setenv("LTTNG_HOME", str(tmp_path))
    (tmp_path / ".lttng").mkdir()
    (tmp_path / ".lttng" / "lttng-sessiond.pid").write_text(f"{os.getpid()}\n")
    assert _native._sessiond_running() is True


@pytest.mark.integration
def test_no_session_daemon_anywhere_warns_once_and_runs(without_sessiond: list[str],
                                                        tmp_path: Path) -> None:
    """What this proves: with really no daemon (a private mount namespace hides root's, an
    empty LTTNG_HOME has no per-user one), the app gets exactly one warning naming the fix
    and computes the same results."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(app("nodaemon")))
    proc = subprocess.run([*without_sessiond, sys.executable, str(script)],
                          env=app_env(tmp_path, LTTNG_HOME=str(tmp_path)),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc)
    assert result["out"] == EXPECTED_OUT
    msgs = usdk_warnings(result)
    assert len(msgs) == 1, msgs
    assert "no LTTng session daemon" in msgs[0] and "lttng-sessiond --daemonize" in msgs[0]


@pytest.mark.unit
def test_no_session_daemon_warns_once_and_runs(tmp_path: Path) -> None:
    """What this proves: when the daemon check says no, the app gets exactly one warning naming
    the fix and runs correctly, with the check replaced in the app's own process (so it runs
    without root; the real case is test_no_session_daemon_anywhere_warns_once_and_runs)."""
    plain = textwrap.dedent(app("nosessiond"))
    source = plain.replace(
        "    import usdk\n",
        "    import usdk\n    import usdk._native as n\n"
        "    n._sessiond_running = lambda: False\n", 1)
    assert source != plain
    proc = run_app(tmp_path, source)
    result = last_json(proc)
    assert result["out"] == EXPECTED_OUT
    msgs = usdk_warnings(result)
    assert len(msgs) == 1, msgs
    assert "no LTTng session daemon" in msgs[0] and "lttng-sessiond --daemonize" in msgs[0]
