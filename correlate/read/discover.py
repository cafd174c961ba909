"""Finding the CTF traces below a directory.

A CTF trace is a directory with a ``metadata`` file and its stream files; a usdk record
directory, an LTTng session directory (``ust/uid/0/64-bit/``, ``kernel/``) or a perf CTF
conversion holds one or more, anywhere below the path given to ``correlate.open``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from usdk.errors import TraceNotFoundError

CTF_MAGIC = 0xC1FC1FC1
TSDL_PACKET_MAGIC = 0x75D11D57


@dataclass(frozen=True)
class TraceDir:
    """One CTF trace: its directory and its stream files (sorted by name)."""

    path: Path
    streams: tuple[Path, ...]

    @property
    def metadata(self) -> Path:
        return self.path / "metadata"


def find_traces(path: str | os.PathLike[str]) -> list[TraceDir]:
    """Every CTF trace at or below ``path``, sorted by directory.

    Raises :class:`TraceNotFoundError` when ``path`` does not exist or holds no trace.
    """
    root = Path(path)
    if not root.exists():
        raise TraceNotFoundError(f"no such trace directory: {root}", path=str(root))
    if root.is_file():
        root = root.parent if root.name == "metadata" else root
        if root.is_file():
            raise TraceNotFoundError(
                f"{root} is a file; pass the trace directory (the one holding `metadata`)",
                path=str(root),
            )
    found: list[TraceDir] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if "metadata" not in filenames:
            continue
        d = Path(dirpath)
        streams = tuple(
            d / f
            for f in sorted(filenames)
            if f != "metadata" and not f.startswith(".") and (d / f).is_file()
        )
        found.append(TraceDir(d, streams))
    if not found:
        raise TraceNotFoundError(
            f"no CTF trace below {root} (no `metadata` file found); pass a directory written by "
            "`usdk record`, an LTTng session output or `perf data convert --to-ctf`",
            path=str(root),
        )
    return found
