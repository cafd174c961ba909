"""File paths for perf kernel events, whose ext4 events carry inode numbers only.

``usdk record``'s perf backend writes ``perf/inodes.tsv`` beside ``perf/ctf`` (format and
lookup: :mod:`usdk.inodes`): ``dev`` (the kernel's dev_t, as ext4 events carry it), ``ino``
and ``path`` of every file its ext4 events named that still existed right after the
recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from usdk.inodes import INODES_FILE, read_tsv


def load(trace_paths: list[Path]) -> pd.DataFrame | None:
    """The inodes.tsv files next to perf CTF traces, merged (``dev, ino, path``); None if none."""
    known: dict[tuple[int, int], str] = {}
    found = False
    for path in trace_paths:
        f = path.parent / INODES_FILE
        if f.is_file():
            found = True
            known.update(read_tsv(f))
    if not found:
        return None
    keys = list(known)
    return pd.DataFrame({"dev": np.asarray([k[0] for k in keys], dtype=np.int64),
                         "ino": np.asarray([k[1] for k in keys], dtype=np.int64),
                         "path": pd.Series(list(known.values()), dtype=object)})
