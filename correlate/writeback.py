"""ext4 write attribution: buffered writes, fsyncs and the asynchronous writeback they cause.

Join layer, on top of :mod:`correlate.stacks` and :mod:`correlate.syscalls`.

* :func:`ext4_writes` — every ``ext4_da_write_begin`` (delayed allocation, what buffered
  writes fire on this kernel) and ``ext4_write_begin`` with its bytes (``len``), inode, the
  span running on the thread, and the path of the enclosing write syscall's fd when the
  trace resolves it.
* :func:`fsyncs` — ``ext4_sync_file_enter``/``exit`` pairs per thread with their span.
* :func:`writeback` — writeback attributed back to the spans that dirtied the pages.
  Writeback is counted from ``ext4_writepages_result`` (``pages_written`` pages of
  ``page_size`` bytes for an inode), done by whichever thread: a flusher kworker later,
  or the application itself inside ``fsync``. Each writeback of inode *I* covers the bytes
  dirtied in *I* since *I*'s previous writeback (the *epoch*); it is split among the
  dirtying spans in proportion to the bytes each dirtied in that epoch. Bytes dirtied by
  threads running no span go to span -1; writeback of an inode nobody dirtied during the
  trace (dirtied before it started) is reported as unattributed, and bytes dirtied but not
  written back before the trace ended as pending. When the trace has
  ``ext4_truncate_enter``/``ext4_free_inode``/``ext4_evict_inode`` they end an epoch too:
  pages dirtied before a truncation or unlink are dropped, not written back, so they take
  no share of a later writeback of a (reused) inode number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from correlate.stacks import Segments, span_at
from correlate.syscalls import WRITE_SYSCALLS
from correlate.tables import as_tables, column, concat, constant, thread_time_order

__all__ = ["PAGE_SIZE", "Writeback", "ext4_writes", "fsyncs", "writeback"]

PAGE_SIZE = 4096
_WRITE_BEGIN = ("ext4_da_write_begin", "ext4_write_begin")
_DROPS = ("ext4_truncate_enter", "ext4_free_inode", "ext4_evict_inode")


def ext4_writes(trace: Any, seg: Segments, sc: pd.DataFrame | None = None) -> pd.DataFrame:
    """ext4 write-begin events: ``timestamp, pid, tid, event, dev, ino, pos, len, span, path``.

    ``sc`` (the syscalls table) names the file: an ext4 event inside a write syscall of the
    same thread takes that call's resolved ``path``; others take the trace's
    ``inode_paths`` (perf backend: ``perf/inodes.tsv``) by (dev, ino).
    """
    tabs = as_tables(trace)
    parts = []
    for name in _WRITE_BEGIN:
        df = tabs.get(name)
        if df is None:
            continue
        parts.append(pd.DataFrame({
            "timestamp": column(df, "timestamp"), "pid": column(df, "pid", -1),
            "tid": column(df, "tid", -1), "event": constant(name, len(df)),
            "dev": column(df, "dev", 0), "ino": column(df, "ino", 0),
            "pos": column(df, "pos", 0), "len": column(df, "len", 0),
        }))
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=np.int64) for c in (
            "timestamp", "pid", "tid", "event", "dev", "ino", "pos", "len", "span", "path")})
    w = concat(parts)
    ts = w["timestamp"].to_numpy()
    if not np.all(ts[1:] >= ts[:-1]):
        w = w.iloc[np.argsort(ts, kind="stable")].reset_index(drop=True)
    w["span"] = span_at(seg, w["pid"].to_numpy(), w["tid"].to_numpy(), w["timestamp"].to_numpy())
    w["path"] = _enclosing_path(w, sc)
    _name_by_inode(w, tabs.inode_paths)
    return w


def _name_by_inode(w: pd.DataFrame, known: pd.DataFrame | None) -> None:
    """Fill ``w.path`` where no syscall named the file, from a (dev, ino) -> path table."""
    if known is None or len(known) == 0 or len(w) == 0:
        return
    missing = w["path"].isna().to_numpy()
    if not missing.any():
        return
    idx = pd.MultiIndex.from_arrays([known["dev"].to_numpy(np.int64),
                                     known["ino"].to_numpy(np.int64)])
    pos = idx.get_indexer(pd.MultiIndex.from_arrays([w["dev"].to_numpy(np.int64)[missing],
                                                     w["ino"].to_numpy(np.int64)[missing]]))
    path = w["path"].to_numpy(dtype=object).copy()
    rows = np.flatnonzero(missing)
    hit = pos >= 0
    path[rows[hit]] = known["path"].to_numpy(dtype=object)[pos[hit]]
    w["path"] = pd.Series(path, index=w.index, dtype=object)


def _enclosing_path(w: pd.DataFrame, sc: pd.DataFrame | None) -> np.ndarray:
    path = np.full(len(w), None, dtype=object)
    if sc is None or len(sc) == 0 or sc["path"].isna().all():
        return path
    calls = sc[sc["syscall"].isin(WRITE_SYSCALLS).to_numpy() & sc["begin"].notna().to_numpy()]
    right = pd.DataFrame({
        "t": calls["begin"].to_numpy(dtype=np.int64), "tid": calls["tid"].to_numpy(),
        "end": calls["end"].to_numpy(dtype=np.float64, na_value=np.inf),
        "p": calls["path"].to_numpy(dtype=object),
    }).sort_values("t", kind="stable")
    left = pd.DataFrame({"t": w["timestamp"].to_numpy(), "tid": w["tid"].to_numpy(),
                         "i": np.arange(len(w))})
    m = pd.merge_asof(left, right, on="t", by="tid", direction="backward")
    inside = m["end"].to_numpy(dtype=np.float64) >= m["t"].to_numpy()
    path[m["i"].to_numpy()[inside]] = m["p"].to_numpy(dtype=object)[inside]
    return path


def fsyncs(trace: Any, seg: Segments) -> pd.DataFrame:
    """``ext4_sync_file_enter``/``exit`` pairs: ``pid, tid, ino, begin, end, duration, span``."""
    tabs = as_tables(trace)
    en, ex = tabs.get("ext4_sync_file_enter"), tabs.get("ext4_sync_file_exit")
    cols = ["pid", "tid", "ino", "begin", "end", "duration", "span"]
    if en is None or ex is None:
        return pd.DataFrame({c: pd.Series([], dtype=np.int64) for c in cols})
    ne = len(en)
    tid = np.concatenate([column(en, "tid", -1), column(ex, "tid", -1)])
    t = np.concatenate([column(en, "timestamp"), column(ex, "timestamp")])
    kind = np.concatenate([np.zeros(ne, np.int8), np.ones(len(ex), np.int8)])
    row = np.concatenate([np.arange(ne), np.arange(len(ex))])
    o = thread_time_order(tid, t, kind, split=ne)
    tid_s, t_s, k_s, r_s = tid[o], t[o], kind[o], row[o]
    pair = (tid_s[1:] == tid_s[:-1]) & (k_s[:-1] == 0) & (k_s[1:] == 1)
    er = r_s[:-1][pair]
    res = pd.DataFrame({
        "pid": column(en, "pid", -1)[er], "tid": tid_s[:-1][pair],
        "ino": column(en, "ino", 0)[er], "begin": t_s[:-1][pair], "end": t_s[1:][pair],
    })
    res["duration"] = res["end"] - res["begin"]
    res["span"] = span_at(seg, res["pid"].to_numpy(), res["tid"].to_numpy(),
                          res["begin"].to_numpy())
    return res.sort_values("begin", kind="stable").reset_index(drop=True)[cols]


@dataclass
class Writeback:
    """Result of :func:`writeback`.

    ``events``: one row per writeback (``timestamp, pid, tid, procname, dev, ino, bytes,
    attributed, unattributed``). ``by_span``: bytes written back per dirtying span
    (``span, writeback_bytes``; span -1 = dirtied outside any span). ``pending_bytes``:
    dirtied in the trace, not written back before it ended.
    """

    events: pd.DataFrame
    by_span: pd.DataFrame
    unattributed_bytes: int
    pending_bytes: int


def writeback(trace: Any, writes: pd.DataFrame, page_size: int = PAGE_SIZE) -> Writeback:
    """Attribute writeback back to dirtying spans in proportion to bytes dirtied (module doc)."""
    tabs = as_tables(trace)
    wb = tabs.get("ext4_writepages_result")
    empty_span = pd.DataFrame({"span": pd.Series([], dtype=np.int64),
                               "writeback_bytes": pd.Series([], dtype=np.int64)})
    if wb is None:
        ev = pd.DataFrame({c: pd.Series([], dtype=np.int64) for c in (
            "timestamp", "pid", "tid", "procname", "dev", "ino", "bytes", "attributed",
            "unattributed")})
        return Writeback(ev, empty_span, 0, int(writes["len"].sum()) if len(writes) else 0)
    ev = pd.DataFrame({
        "timestamp": column(wb, "timestamp"), "pid": column(wb, "pid", -1),
        "tid": column(wb, "tid", -1),
        "procname": wb["procname"].to_numpy(dtype=object) if "procname" in wb else "",
        "dev": column(wb, "dev", 0), "ino": column(wb, "ino", 0),
        "bytes": column(wb, "pages_written", 0) * page_size,
    })
    ev = ev[ev["bytes"].to_numpy() > 0].sort_values("timestamp", kind="stable")
    ev = ev.reset_index(drop=True)
    ev["w"] = np.arange(len(ev))
    # Truncation and inode release drop dirty pages without writeback: they end an epoch
    # too, and what was dirtied before them is "dropped", never given to a later writeback
    # (otherwise a reused inode number would hand a new file's writeback to the old one).
    ends = [ev[["timestamp", "dev", "ino", "w"]]]
    for name in _DROPS:
        df = tabs.get(name)
        if df is not None:
            ends.append(pd.DataFrame({"timestamp": column(df, "timestamp"),
                                      "dev": column(df, "dev", 0), "ino": column(df, "ino", 0),
                                      "w": np.full(len(df), -1, dtype=np.int64)}))
    end_tab = pd.concat(ends, ignore_index=True).sort_values("timestamp", kind="stable")
    # Each dirtying write belongs to the first epoch end of its inode at or after it.
    d = pd.DataFrame({"timestamp": writes["timestamp"].to_numpy(),
                      "dev": writes["dev"].to_numpy(), "ino": writes["ino"].to_numpy(),
                      "len": writes["len"].to_numpy(dtype=np.float64),
                      "span": writes["span"].to_numpy()})
    d = d.sort_values("timestamp", kind="stable")
    m = pd.merge_asof(d, end_tab, on="timestamp", by=["dev", "ino"], direction="forward")
    w_of = m["w"].to_numpy(dtype=np.float64)
    done = ~np.isnan(w_of) & (w_of >= 0)
    pending = int(m["len"].to_numpy()[np.isnan(w_of)].sum())
    wi = w_of[done].astype(np.int64)
    dirtied = np.bincount(wi, weights=m["len"].to_numpy()[done], minlength=len(ev))
    wbytes = ev["bytes"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(dirtied[wi] > 0, m["len"].to_numpy()[done] / dirtied[wi], 0.0)
    credit = share * wbytes[wi]
    spans_ = m["span"].to_numpy()[done]
    by = pd.DataFrame({"span": spans_, "b": credit}).groupby("span", sort=True)["b"].sum()
    by_span = pd.DataFrame({"span": by.index.to_numpy(dtype=np.int64),
                            "writeback_bytes": np.round(by.to_numpy()).astype(np.int64)})
    ev["attributed"] = np.where(dirtied > 0, wbytes, 0).astype(np.int64)
    ev["unattributed"] = (wbytes - ev["attributed"].to_numpy()).astype(np.int64)
    return Writeback(ev.drop(columns=["w"]), by_span, int(ev["unattributed"].sum()), pending)
