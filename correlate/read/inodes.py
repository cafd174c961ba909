"""File paths for perf kernel events, whose ext4 events carry inode numbers only.

``usdk record``'s perf backend writes ``perf/inodes.tsv`` beside ``perf/ctf``: ``dev``
(the kernel's dev_t, as ext4 events carry it), ``ino`` and ``path`` of every file its ext4
events named that still existed right after the recording (see :mod:`usdk.inodes`).
Paths escape ``\\``, tab and newline as ``\\\\``, ``\\t``, ``\\n``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

INODES_FILE = "inodes.tsv"
_ESC = re.compile(r"\\(.)")
_UNESC = {"t": "\t", "n": "\n", "\\": "\\"}


def load(trace_paths: list[Path]) -> pd.DataFrame | None:
    """The inodes.tsv files next to perf CTF traces, merged (``dev, ino, path``); None if none."""
    frames = []
    for path in trace_paths:
        f = path.parent / INODES_FILE
        if f.is_file():
            frames.append(pd.read_csv(f, sep="\t", dtype={"dev": np.int64, "ino": np.int64,
                                                          "path": str},
                                      keep_default_na=False, quoting=3))
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["dev", "ino"], keep="last")
    paths = df["path"].to_numpy(dtype=object)
    df["path"] = pd.Series([_ESC.sub(lambda m: _UNESC.get(m.group(1), m.group(0)), p)
                            if "\\" in p else p for p in paths], index=df.index, dtype=object)
    return df.reset_index(drop=True)
