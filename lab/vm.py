"""The kernel lab's guest: build it once, boot it, run one command in it, bring the results back.

The guest is a stock Debian kernel with lttng-modules (see ``lab/build.sh``) booted in qemu (TCG)
on a busybox initramfs that mounts the host's own root read-only over 9p with a tmpfs overlay, so
the guest runs the host's userland and the repo's venv. A host directory is shared writable at
``/run/usdk-lab`` in the guest (``USDK_LAB_OUT``): the command's log, its exit status and anything
it writes there (pytest reports, traces) come back to the host. A small ext4 disk is mounted at
``/mnt/usdk-ext4`` (``USDK_LAB_EXT4``) because tmpfs and 9p fire no ext4 events.

Example::

    from lab.vm import build, run
    result = run(build(), "lttng list -k | head", out_dir=Path("/tmp/lab-out"), timeout=120)
    assert result.ok, result.failure_report()

A guest that does not power off by ``timeout`` seconds is killed (by its pid) and its console log
is kept in the result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LAB = Path(__file__).resolve().parent
REPO = LAB.parent
GUEST_EXT4 = "/mnt/usdk-ext4"
GUEST_OUT = "/run/usdk-lab"

# lab/build.sh's exit statuses that mean "this machine cannot run the lab", by cause.
_BUILD_CAUSES = {
    2: "a host tool is missing",
    3: "the kernel packages cannot be fetched",
    4: "lttng-modules does not build against the pinned kernel",
}


class LabUnavailable(Exception):
    """The lab cannot run on this machine; ``reason`` says why and what to do about it."""

    def __init__(self, reason: str, log: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log = log


@dataclass(frozen=True)
class LabBuild:
    """The cached kernel, initramfs and module tree the guest boots (from ``lab/build.sh``)."""

    lab_dir: Path
    krel: str
    kernel: Path
    initrd: Path
    modules_dir: Path

    @property
    def description(self) -> str:
        """The pinned versions, as ``lab/build.sh`` recorded them."""
        return (self.lab_dir / "ready").read_text()


def cached_build() -> LabBuild | None:
    """The build if the cache is warm (no download, no compilation), else None."""
    if shutil.which("qemu-system-x86_64") is None:
        return None
    return _build(only_if_cached=True)


def build(timeout: float = 1200) -> LabBuild:
    """Fetch the pinned kernel, build lttng-modules and the initramfs, unless already cached.

    Raises LabUnavailable when qemu is missing, the packages cannot be fetched or the modules
    do not build.
    """
    if shutil.which("qemu-system-x86_64") is None:
        raise LabUnavailable(
            "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
    lab_build = _build(only_if_cached=False, timeout=timeout)
    assert lab_build is not None
    return lab_build


def _build(*, only_if_cached: bool, timeout: float = 1200) -> LabBuild | None:
    argv = ["bash", str(LAB / "build.sh")] + (["--if-cached"] if only_if_cached else [])
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LabUnavailable(f"lab/build.sh did not finish in {timeout:.0f} s",
                             log=_text(e.stderr)) from e
    if r.returncode == 5 and only_if_cached:
        return None
    if r.returncode != 0:
        cause = _BUILD_CAUSES.get(r.returncode, f"lab/build.sh failed (exit {r.returncode})")
        last = r.stderr.strip().splitlines()[-1:] or [""]
        raise LabUnavailable(f"{cause}: {last[0]}", log=r.stderr)
    kv = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    return LabBuild(lab_dir=Path(kv["LAB_DIR"]), krel=kv["KREL"], kernel=Path(kv["KERNEL"]),
                    initrd=Path(kv["INITRD"]), modules_dir=Path(kv["MODULES_DIR"]))


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode(errors="replace")


@dataclass(frozen=True)
class GuestResult:
    """What one guest run left behind. ``ok`` means it ran the job, the job exited 0 and the
    guest powered off by itself in time."""

    returncode: int | None
    powered_off: bool
    timed_out: bool
    seconds: float
    out_dir: Path
    console_path: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.powered_off

    @property
    def console(self) -> str:
        return self.console_path.read_text(errors="replace") if self.console_path.exists() else ""

    @property
    def log(self) -> str:
        """The job's stdout and stderr."""
        p = self.out_dir / "job.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def failure_report(self, tail: int = 60) -> str:
        """A message for a failed run: what went wrong, then the end of the console log."""
        if self.timed_out:
            what = f"the guest did not power off within {self.seconds:.0f} s and was killed"
        elif self.returncode is None:
            what = "the guest stopped without running the job to the end"
        else:
            what = f"the job exited {self.returncode} in the guest"
        lines = self.console.splitlines()[-tail:]
        return (f"{what}; console log: {self.console_path}\n--- console (last {len(lines)} lines)\n"
                + "\n".join(lines))


def run(
    lab_build: LabBuild,
    command: str,
    out_dir: Path,
    *,
    timeout: float = 300,
    ext4_mb: int = 128,
    memory_mb: int = 2048,
    cpus: int = 2,
) -> GuestResult:
    """Boot the guest, run ``command`` (a shell command, from the repo's root, as root) and power
    off. ``out_dir`` (created, must be empty) is the guest's ``/run/usdk-lab``; the console log is
    written beside it as ``<out_dir>.console.log``."""
    out_dir = Path(out_dir).resolve()
    for p in (REPO, lab_build.modules_dir):
        if p.is_relative_to("/run"):
            raise ValueError(f"{p} is under /run, which the guest replaces with a fresh tmpfs")
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty")
    work = out_dir.with_name(out_dir.name + ".work")
    work.mkdir(exist_ok=True)
    console = out_dir.with_name(out_dir.name + ".console.log")

    shutil.copy(LAB / "guest-run.sh", out_dir / "guest-run.sh")
    venv = Path(os.environ.get("USDK_VENV", REPO / ".venv"))
    (out_dir / "lab.env").write_text(
        f"USDK_LAB_REPO='{REPO}'\n"
        f"USDK_LAB_MODULES_DIR='{lab_build.modules_dir}'\n"
        f"USDK_LAB_VENV='{venv}'\n"
        f"USDK_LAB_EXT4='{GUEST_EXT4 if ext4_mb else ''}'\n"
    )
    (out_dir / "job.sh").write_text(f"set -u\n{command}\n")

    argv = [
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", str(memory_mb),
        "-smp", str(cpus), "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
        "-serial", f"file:{console}",
        "-kernel", str(lab_build.kernel), "-initrd", str(lab_build.initrd),
        "-append", "console=ttyS0 panic=-1 loglevel=4 mitigations=off",
        "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=out,path={out_dir},security_model=none",
        "-device", "virtio-9p-pci,fsdev=out,mount_tag=out",
        "-nic", "none",
    ]
    if ext4_mb:
        disk = work / "ext4.img"
        with open(disk, "wb") as f:
            f.truncate(ext4_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], check=True, capture_output=True)
        argv += ["-drive", f"file={disk},format=raw,if=virtio,cache=unsafe"]

    start = time.monotonic()
    with open(work / "qemu.log", "wb") as qlog:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog)
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:   # also on Ctrl-C or any error here: never leave this guest's qemu running
            if proc.poll() is None:
                proc.kill()   # by its pid
                proc.wait()
    seconds = time.monotonic() - start
    qemu_log = (work / "qemu.log").read_text(errors="replace").strip()
    if qemu_log:
        with open(console, "a") as f:
            f.write(f"\n--- qemu (exit {proc.returncode})\n{qemu_log}\n")
    rc_file = out_dir / "rc"
    rc = int(rc_file.read_text()) if rc_file.exists() else None
    if ext4_mb:
        (work / "ext4.img").unlink(missing_ok=True)
    return GuestResult(returncode=rc, powered_off=not timed_out and proc.returncode == 0,
                       timed_out=timed_out, seconds=seconds, out_dir=out_dir,
                       console_path=console)
