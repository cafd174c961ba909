"""Thread names for perf kernel events, whose CTF carries none.

``usdk record``'s perf backend writes ``perf/tasks.tsv`` beside ``perf/ctf`` (tid, pid,
procname, first_ns, last_ns, from perf's comm records and samples). An event whose
``procname`` is empty takes the name of its tid at its time: the last row of that tid
whose ``first_ns`` is at or before the event (the tid's first row for earlier events),
so a thread that exec()s changes name where it did. All of it is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TASKS_FILE = "tasks.tsv"


@dataclass(frozen=True)
class Tasks:
    """Rows of tasks.tsv sorted by (tid, first_ns); ``names`` are the distinct procnames."""

    tid: np.ndarray  # int64
    first: np.ndarray  # int64
    code: np.ndarray  # int32 index into names
    names: list[str]

    def lookup(self, tid: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Index into ``names`` for each (tid, timestamp); -1 where the tid is unknown."""
        lo = np.searchsorted(self.tid, tid, side="left")
        hi = np.searchsorted(self.tid, tid, side="right")
        row = np.where(hi > lo, lo, -1)
        multi = np.flatnonzero(hi - lo > 1)
        if len(multi):  # threads that changed name: pick by time, one tid at a time
            mt = tid[multi]
            for t in np.unique(mt):
                sel = multi[mt == t]
                a, b = int(lo[sel[0]]), int(hi[sel[0]])
                k = np.searchsorted(self.first[a:b], ts[sel], side="right") - 1
                row[sel] = a + np.clip(k, 0, b - a - 1)
        out = np.full(len(tid), -1, dtype=np.int32)
        ok = row >= 0
        out[ok] = self.code[row[ok]]
        return out


def load(trace_paths: list[Path]) -> Tasks | None:
    """The tasks.tsv files next to perf CTF traces (``.../perf/ctf``), merged; None if none."""
    frames = []
    for path in trace_paths:
        f = path.parent / TASKS_FILE
        if f.is_file():
            frames.append(
                pd.read_csv(
                    f,
                    sep="\t",
                    dtype={"tid": np.int64, "procname": str, "first_ns": np.int64},
                    usecols=["tid", "procname", "first_ns"],
                    keep_default_na=False,
                    quoting=3,
                )
            )
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True).sort_values(["tid", "first_ns"], kind="stable")
    codes, uniques = pd.factorize(df["procname"].to_numpy(dtype=object))
    return Tasks(
        df["tid"].to_numpy(np.int64),
        df["first_ns"].to_numpy(np.int64),
        codes.astype(np.int32),
        [str(u) for u in uniques],
    )


def fill_procnames(df: pd.DataFrame, tasks: Tasks) -> pd.DataFrame:
    """``df`` with empty procnames filled from ``tasks`` (others and the order untouched)."""
    if len(df) == 0 or "procname" not in df:
        return df
    col = df["procname"]
    cat = col.array if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
    cats = list(cat.categories)
    if "" not in cats:
        return df
    codes = np.asarray(cat.codes).astype(np.int32)
    empty = np.flatnonzero(codes == cats.index(""))
    if not len(empty):
        return df
    found = tasks.lookup(df["tid"].to_numpy(np.int64)[empty],
                         df["timestamp"].to_numpy(np.int64)[empty])
    pos = {c: i for i, c in enumerate(cats)}
    for name in tasks.names:
        if name not in pos:
            pos[name] = len(cats)
            cats.append(name)
    lut = np.asarray([pos[n] for n in tasks.names], dtype=np.int32)
    hit = found >= 0
    codes[empty[hit]] = lut[found[hit]]
    out = df.copy(deep=False)
    out["procname"] = pd.Categorical.from_codes(codes, categories=cats, validate=False)
    return out
