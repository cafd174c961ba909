"""Running external commands (``lttng``, ``perf``) for the session builder.

One :class:`Runner` executes argv lists and turns failures into
:class:`~usdk.errors.CommandError` carrying argv, return code and stderr. With
``dry_run=True`` it executes nothing and keeps the commands, which is how
``usdk record --dry-run`` prints the plan. Example::

    from usdk.lttngctl import Runner

    r = Runner(dry_run=True)
    r.run(["lttng", "create", "demo", "--output=/tmp/demo"])
    print(r.shell_script())
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence

from usdk.errors import BackendUnavailableError, CommandError


class Runner:
    """Runs commands, or records them when ``dry_run`` is true."""

    def __init__(self, *, dry_run: bool = False, timeout: float = 60.0) -> None:
        self.dry_run = dry_run
        self.timeout = timeout
        self.history: list[list[str]] = []

    def run(self, argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``argv``; raise :class:`CommandError` on a non-zero exit when ``check``."""
        argv = [str(a) for a in argv]
        self.history.append(argv)
        if self.dry_run:
            return subprocess.CompletedProcess(argv, 0, "", "")
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError as e:
            raise BackendUnavailableError(
                f"{argv[0]} is not installed: install lttng-tools / linux-perf "
                "(scripts/setup.sh does)"
            ) from e
        except subprocess.TimeoutExpired as e:
            raise CommandError(
                f"{argv[0]} did not answer within {self.timeout:.0f} s", argv=argv
            ) from e
        if check and r.returncode != 0:
            raise CommandError(
                f"{shlex.join(argv[:2])} failed", argv=argv, returncode=r.returncode,
                stderr=r.stderr or r.stdout,
            )
        return r

    def note(self, argv: Sequence[str]) -> None:
        """Record a command started elsewhere (a long-running recorder) for the plan."""
        self.history.append([str(a) for a in argv])

    def shell_script(self) -> str:
        """The commands run (or planned) so far, one shell line each."""
        return "\n".join(shlex.join(a) for a in self.history)


def lttng_available() -> bool:
    return shutil.which("lttng") is not None


def sessiond_running(timeout: float = 20.0) -> tuple[bool, str]:
    """Whether ``lttng list`` reaches a session daemon, and its error text if not."""
    if not lttng_available():
        return False, "lttng is not installed (apt-get install lttng-tools)"
    try:
        r = subprocess.run(["lttng", "list"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "lttng list timed out"
    if r.returncode == 0:
        return True, ""
    return False, (r.stderr or r.stdout).strip()


def kernel_tracer_available() -> tuple[bool, str]:
    """Whether the session daemon has the LTTng kernel tracer (lttng-modules), and why not."""
    if not lttng_available():
        return False, "lttng-tools is not installed"
    try:
        r = subprocess.run(["lttng", "list", "--kernel"], capture_output=True, text=True,
                           timeout=30)
    except subprocess.TimeoutExpired:
        return False, "lttng list --kernel timed out"
    if r.returncode == 0:
        return True, ""
    text = (r.stderr or r.stdout).strip()
    return False, text.removeprefix("Error: ") or "lttng list --kernel failed"


def tool_version(argv: Sequence[str]) -> str:
    """First line of ``argv`` (e.g. ``lttng --version``), or '' when it cannot run."""
    try:
        r = subprocess.run(list(argv), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) else ""


class OwnedSessiond:
    """An ``lttng-sessiond`` started because none answered, ended by its pid.

    ``lttng create`` spawns a session daemon and leaves it running; a recording tool
    should not leave a root daemon behind, so :meth:`start` runs one in its own
    process group (Ctrl-C at the terminal does not reach it) and :meth:`stop` ends it
    once the session is destroyed. Example::

        d = OwnedSessiond.start()      # None when another daemon answered meanwhile
        ...
        if d is not None:
            d.stop()
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    @classmethod
    def start(cls, timeout: float = 20.0) -> OwnedSessiond | None:
        """Start a daemon and wait until ``lttng list`` reaches it.

        Returns None when the new daemon exits because another one started meanwhile
        (that one answers and is used, not owned). Raises :class:`BackendUnavailableError`
        when no daemon can be reached, with the daemon's own error text.
        """
        import tempfile
        import time

        if shutil.which("lttng-sessiond") is None:
            raise BackendUnavailableError(
                "lttng-sessiond is not installed (apt-get install lttng-tools)")
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(["lttng-sessiond"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            deadline = time.monotonic() + timeout
            while True:
                ok, why = sessiond_running(timeout=max(1.0, deadline - time.monotonic()))
                if ok:
                    return cls(proc) if proc.poll() is None else None
                if proc.poll() is not None or time.monotonic() > deadline:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    err.seek(0)
                    text = err.read().decode(errors="replace").strip().splitlines()
                    raise BackendUnavailableError(
                        "no LTTng session daemon, and starting one failed (lttng-sessiond "
                        f"exited with status {proc.returncode}: "
                        f"{' / '.join(text[-3:]) or why or 'no message'})")
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int:
        """End the daemon (SIGTERM, then SIGKILL after ``timeout``); its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
