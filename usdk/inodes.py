"""Paths of inodes named by kernel events, looked up on this machine after a recording.

ext4 tracepoints name files by device and inode number only, and perf records the
``filename`` of ``openat`` as a user-space pointer, not a string; so the perf backend
names the files its ext4 events touched right after the recording: each (device,
inode) is opened with ``open_by_handle_at(2)`` (an ext4 handle is the inode number and
a generation; generation 0 skips the check) and the path read back from
``/proc/self/fd``. A file deleted or renamed before then keeps no path or gets its new
one; a path is kept only when ``stat`` confirms the same device and inode. Needs
CAP_DAC_READ_SEARCH (root). Example::

    from usdk.inodes import kernel_dev, resolve

    paths = resolve({(kernel_dev(254, 0), 5365903)})   # {(266338304, 5365903): '/srv/x'}

``dev`` here is the kernel's encoding (major << 20 | minor), the value ext4 events carry.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from collections.abc import Iterable

__all__ = ["kernel_dev", "resolve", "read_tsv", "write_tsv", "INODES_FILE"]

INODES_FILE = "inodes.tsv"
_FILEID_INO32_GEN = 1  # include/linux/exportfs.h: 32-bit inode number + generation
_MINORBITS = 20


def kernel_dev(major: int, minor: int) -> int:
    """The kernel's dev_t (``MKDEV``) as ext4 tracepoints record it."""
    return (major << _MINORBITS) | minor


def _split(dev: int) -> tuple[int, int]:
    return dev >> _MINORBITS, dev & ((1 << _MINORBITS) - 1)


def _mounts() -> dict[tuple[int, int], str]:
    """A mount point per device ``major:minor``, preferring mounts of the fs root."""
    found: dict[tuple[int, int], tuple[int, str]] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            major, minor = (int(x) for x in parts[2].split(":"))
            root, point = parts[3], parts[4].replace("\\040", " ")
            rank = 0 if root == "/" else 1
            if (major, minor) not in found or rank < found[(major, minor)][0]:
                found[(major, minor)] = (rank, point)
    return {k: v for k, (_r, v) in found.items()}


class _Handle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("ino", ctypes.c_uint32), ("generation", ctypes.c_uint32)]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    fn = getattr(libc, "open_by_handle_at", None)
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_int, ctypes.POINTER(_Handle), ctypes.c_int]
    fn.restype = ctypes.c_int
    return libc


def resolve(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Paths of the (kernel dev, inode) pairs that still name a file here; others left out."""
    pairs = set(pairs)
    libc = _libc() if pairs else None
    if libc is None:
        return {}
    mounts = _mounts()
    out: dict[tuple[int, int], str] = {}
    mount_fds: dict[tuple[int, int], int] = {}
    try:
        for dev, ino in sorted(pairs):
            mm = _split(dev)
            if mm not in mounts or not 0 < ino < 1 << 32:
                continue
            if mm not in mount_fds:
                try:
                    mount_fds[mm] = os.open(mounts[mm], os.O_RDONLY | os.O_DIRECTORY)
                except OSError:
                    continue
            h = _Handle(8, _FILEID_INO32_GEN, ino, 0)
            fd = libc.open_by_handle_at(mount_fds[mm], ctypes.byref(h), os.O_PATH)
            if fd < 0:
                continue
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            finally:
                os.close(fd)
            if st.st_ino == ino and (os.major(st.st_dev), os.minor(st.st_dev)) == mm:
                out[(dev, ino)] = path
    finally:
        for mfd in mount_fds.values():
            os.close(mfd)
    return out


_UNESC = {"\\": "\\", "t": "\t", "n": "\n"}
_ESCAPED = re.compile(r"\\(.)")


def write_tsv(path: str | os.PathLike[str], paths: dict[tuple[int, int], str]) -> None:
    """``dev ino path`` rows (tab-separated; backslash, tab and newline in paths escaped
    as ``\\\\``, ``\\t``, ``\\n``)."""
    with open(path, "w") as f:
        f.write("dev\tino\tpath\n")
        for (dev, ino), p in sorted(paths.items()):
            esc = p.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            f.write(f"{dev}\t{ino}\t{esc}\n")


def read_tsv(path: str | os.PathLike[str]) -> dict[tuple[int, int], str]:
    """What :func:`write_tsv` wrote."""
    out: dict[tuple[int, int], str] = {}
    with open(path) as f:
        next(f, None)  # header
        for line in f:
            dev, ino, p = line.rstrip("\n").split("\t", 2)
            out[(int(dev), int(ino))] = _ESCAPED.sub(
                lambda m: _UNESC.get(m.group(1), m.group(0)), p)
    return out
