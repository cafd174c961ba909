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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lab.vm import GuestResult, LabBuild, LabUnavailable, build, cached_build, run  # noqa: E402

IN_GUEST = os.environ.get("USDK_LAB_GUEST") == "1"
# The guest-side tests only make sense inside the guest; the host collects the host tests only.
collect_ignore = [] if IN_GUEST else ["guest"]

GUEST_TIMEOUT = float(os.environ.get("USDK_LAB_TIMEOUT", "600"))
HANG_MARKER = "lab-hang-marker"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _requested(config: pytest.Config) -> bool:
    return _ci() or os.environ.get("USDK_LAB") == "1" or "lab" in (config.option.markexpr or "")


def _unavailable(reason: str, log: str = "") -> None:
    """Skip, or under CI fail loudly: the lab tier must run there."""
    if _ci():
        pytest.fail(f"lab tier cannot run under CI: {reason}\n{log[-4000:]}", pytrace=False)
    pytest.skip(f"lab tier: {reason}")


# In the guest: the lab's own tests, then the project's kernel tier of the session builder and
# the correlator with the lttng backend (known lttng-modules gaps as strict xfails,
# lab/known_gaps.py). Left out there, for the lab's time budget: tests/reader's kernel tests
# (they record with perf, not lttng) and the HTML report's headless-Chromium rendering (no
# kernel backend involved; 100 s under TCG). Temporary files go to the ext4 disk, where the
# ext4 events fire.
PYTEST = '"$USDK_VENV/bin/python" -m pytest -ra -p no:cacheprovider'
GUEST_COMMAND = f"""
{PYTEST} --basetemp="$USDK_LAB_EXT4/pytest-lab" --junitxml="$USDK_LAB_OUT/junit.xml" \
    tests/lab/guest
lab=$?
USDK_KERNEL_BACKEND=lttng {PYTEST} -p lab.known_gaps -m kernel \
    --deselect tests/correlate/test_end_to_end.py::test_html_report_renders_in_headless_chromium \
    --basetemp="$USDK_LAB_EXT4/pytest-kernel" --junitxml="$USDK_LAB_OUT/kernel-tier.xml" \
    tests/session tests/correlate
kernel=$?
echo "lab tests: exit $lab; kernel tier (lttng backend): exit $kernel"
[ $lab = 0 ] && [ $kernel = 0 ]
"""


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
def guests(lab_build: LabBuild, tmp_path_factory: pytest.TempPathFactory,
           ) -> tuple[GuestResult, GuestResult]:
    """Two guests booted side by side: the one running the guest tests (GUEST_COMMAND) and
    one whose job hangs (``sleep``) and must be killed at its 40 s timeout. The hung one idles
    once booted, so it costs the first little time."""
    main_out = tmp_path_factory.mktemp("lab") / "out"
    hung_out = tmp_path_factory.mktemp("lab-hung") / "out"
    with ThreadPoolExecutor(2) as pool:
        hung = pool.submit(run, lab_build, f"echo {HANG_MARKER}; sleep 600", hung_out,
                           timeout=40, ext4_mb=0)
        main = pool.submit(run, lab_build, GUEST_COMMAND, main_out, timeout=GUEST_TIMEOUT,
                           ext4_mb=1024)
        return main.result(), hung.result()


@pytest.fixture(scope="session")
def guest(guests: tuple[GuestResult, GuestResult]) -> GuestResult:
    """The guest that ran the guest tests, with its results on the host."""
    return guests[0]


@pytest.fixture(scope="session")
def hung_guest(guests: tuple[GuestResult, GuestResult]) -> GuestResult:
    """The guest whose job never ended."""
    return guests[1]

