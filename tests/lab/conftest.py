"""The ``lab`` tier: boot the qemu guest with lttng-modules and run tests/lab/guest inside it.

When the lab runs:

* ``make lab`` (``-m lab``), ``USDK_LAB=1`` or CI (``CI=true``): it fetches the pinned kernel
  and builds lttng-modules if the cache is cold (lab/build.sh, about 2 minutes), then boots.
* otherwise (a plain ``make test``): only when the build is already cached, so an everyday test
  run never spends minutes on a module build; else it is skipped with the reason.

When it cannot run (no qemu, the Debian archive unreachable, lttng-modules not building against
the pinned kernel) it is skipped with that reason -- except under ``CI=true``, where the same
condition fails the run loudly: CI exists to prove the ``lttng`` backend.

The guest boots once per test session (``guest`` fixture); the host tests then check its
pytest report, its console and the traces it brought back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lab.vm import GuestResult, LabBuild, LabUnavailable, build, cached_build, run  # noqa: E402

IN_GUEST = os.environ.get("USDK_LAB_GUEST") == "1"
# The guest-side tests only make sense inside the guest; the host collects the host tests only.
collect_ignore = [] if IN_GUEST else ["guest"]

GUEST_TIMEOUT = float(os.environ.get("USDK_LAB_TIMEOUT", "480"))


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _requested(config: pytest.Config) -> bool:
    return _ci() or os.environ.get("USDK_LAB") == "1" or "lab" in (config.option.markexpr or "")


def _unavailable(reason: str, log: str = "") -> None:
    """Skip, or under CI fail loudly: the lab tier must run there."""
    if _ci():
        pytest.fail(f"lab tier cannot run under CI: {reason}\n{log[-4000:]}", pytrace=False)
    pytest.skip(f"lab tier: {reason}")


@pytest.fixture(scope="session")
def lab_build(request: pytest.FixtureRequest) -> LabBuild:
    """The cached kernel + lttng-modules + initramfs; built here when the lab was asked for."""
    try:
        if _requested(request.config):
            return build()
        cached = cached_build()
    except LabUnavailable as e:
        _unavailable(e.reason, e.log)
        raise  # unreachable: _unavailable skips or fails
    if cached is None:
        _unavailable("no cached lab build (qemu or the lttng-modules build missing); "
                     "`make lab` builds it in about 2 minutes")
        raise AssertionError("unreachable")
    return cached


@pytest.fixture(scope="session")
def guest(lab_build: LabBuild, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuestResult]:
    """One boot of the guest running ``pytest tests/lab/guest``, with its results on the host."""
    out = tmp_path_factory.mktemp("lab") / "out"
    command = ('"$USDK_VENV/bin/python" -m pytest -ra -p no:cacheprovider '
               '--junitxml="$USDK_LAB_OUT/junit.xml" tests/lab/guest')
    result = run(lab_build, command, out, timeout=GUEST_TIMEOUT)
    yield result
