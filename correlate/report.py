"""Reports: per-span figures, rolled up per operation or per process, as DataFrames.

Report layer: reads the tables of :class:`correlate.Analysis`, never the trace.

Every figure is a span's **own** (kernel work attributed to it as the innermost span
running); the same figure including its nested child spans (on any thread) carries a
``total_`` prefix. Stable columns (documented, tested; new columns may be appended):

``attribute_table`` (``usdk attribute``), one row per op / span / process:
    ``op, count, write_syscalls, write_bytes, write_bytes_asked, ext4_write_begin,
    ext4_bytes, fsyncs, fsync_ns, writeback_bytes, files`` + ``total_*``

``latency_report`` (``usdk report``):
    ``op, count, open, mean_ns, p50_ns, p90_ns, p99_ns, max_ns, syscalls, syscall_ns,
    offcpu_ns, oncpu_ns, self_ns, page_faults, context_switches, write_bytes, ext4_bytes,
    fsync_ns, writeback_bytes, lower_bound`` + ``total_*``; the per-syscall breakdown is
    :func:`syscall_breakdown` (``op, syscall, count, errors, total_ns, mean_ns, max_ns``).

Meaning: ``count`` closed spans (``open``: still open at the end), ``*_ns`` nanoseconds,
``write_bytes`` bytes write(2)-family calls returned, ``write_bytes_asked`` bytes they
asked for, ``ext4_write_begin``/``ext4_bytes`` count and ``len`` of
``ext4_da_write_begin``+``ext4_write_begin``, ``writeback_bytes`` the writeback of the
pages the span dirtied (even when a kworker did it later), ``offcpu_ns`` off-CPU time from
``sched_switch``, ``oncpu_ns`` the thread's task-clock context delta (or, without it,
``self_ns - offcpu_ns`` when sched events were recorded), ``self_ns`` wall time as the
innermost span. A figure whose source was not recorded is missing (NaN / JSON null), not 0.
Percentiles interpolate linearly and round to the nanosecond.

Example::

    >>> a = correlate.Analysis(correlate.open("trace"))
    >>> correlate.latency_report(a)            # one row per operation
    >>> correlate.attribute_table(a, by="span")  # one row per span instance
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from correlate.analysis import Analysis
from correlate.syscalls import WRITE_SYSCALLS
from correlate.tables import categorical, from_codes, ranks

__all__ = [
    "ATTRIBUTE_COLUMNS", "REPORT_COLUMNS", "SYSCALL_COLUMNS", "attribute_table",
    "latency_report", "process_table", "span_figures", "syscall_breakdown", "filter_spans",
]

NO_SPAN = "(no span)"
ATTRIBUTE_FIGURES = ["write_syscalls", "write_bytes", "write_bytes_asked", "ext4_write_begin",
                     "ext4_bytes", "fsyncs", "fsync_ns", "writeback_bytes"]
REPORT_FIGURES = ["syscalls", "syscall_ns", "offcpu_ns", "oncpu_ns", "self_ns", "page_faults",
                  "context_switches", "write_bytes", "ext4_bytes", "fsync_ns",
                  "writeback_bytes"]
ATTRIBUTE_COLUMNS = ["op", "count", *ATTRIBUTE_FIGURES, "files",
                     *(f"total_{c}" for c in ATTRIBUTE_FIGURES)]
REPORT_COLUMNS = ["op", "count", "open", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns",
                  *REPORT_FIGURES, "lower_bound", *(f"total_{c}" for c in REPORT_FIGURES)]
SYSCALL_COLUMNS = ["syscall", "count", "errors", "total_ns", "mean_ns", "max_ns"]
_COUNTER_NAMES = {
    "perf_thread_task_clock": "oncpu_ns",
    "perf_thread_page_fault": "page_faults",
    "perf_thread_page_faults": "page_faults",
    "perf_thread_context_switches": "context_switches",
    "perf_thread_cs": "context_switches",
}


def _sum_by(n: int, span: np.ndarray, values: Any = None) -> np.ndarray:
    ok = span >= 0
    w = None if values is None else np.asarray(values, dtype=np.float64)[ok]
    return np.bincount(span[ok], weights=w, minlength=n)[:n].astype(np.float64)


def span_figures(a: Analysis) -> pd.DataFrame:
    """One row per span: identity columns, own figures, ``total_*`` figures, ``pmu_*``."""
    cached = a.__dict__.get("span_figures_table")
    if cached is not None:
        return cached
    a.__dict__["span_figures_table"] = out = _span_figures(a)
    return out


def _span_figures(a: Analysis) -> pd.DataFrame:
    a.prepare()
    sp = a.spans
    n = len(sp)
    fig = pd.DataFrame(index=pd.RangeIndex(n))
    sc = a.syscalls
    s_span = sc["span"].to_numpy()
    dur = sc["duration"].to_numpy(dtype=np.float64, na_value=0.0)
    is_write = sc["syscall"].isin(WRITE_SYSCALLS).to_numpy()
    ret = sc["ret"].to_numpy(dtype=np.float64, na_value=0.0)
    fig["syscalls"] = _sum_by(n, s_span)
    fig["syscall_ns"] = _sum_by(n, s_span, dur)
    fig["write_syscalls"] = _sum_by(n, np.where(is_write, s_span, -1))
    fig["write_bytes"] = _sum_by(n, np.where(is_write, s_span, -1), np.maximum(ret, 0))
    fig["write_bytes_asked"] = _sum_by(n, np.where(is_write, s_span, -1),
                                       np.maximum(sc["count"].to_numpy(), 0))
    w = a.writes
    fig["ext4_write_begin"] = _sum_by(n, w["span"].to_numpy())
    fig["ext4_bytes"] = _sum_by(n, w["span"].to_numpy(), w["len"].to_numpy())
    fs = a.fsyncs
    fig["fsyncs"] = _sum_by(n, fs["span"].to_numpy())
    fig["fsync_ns"] = _sum_by(n, fs["span"].to_numpy(), fs["duration"].to_numpy())
    wb = a.writeback.by_span
    fig["writeback_bytes"] = _sum_by(n, wb["span"].to_numpy(), wb["writeback_bytes"].to_numpy())
    have_sched = a.tables.has("sched_switch")
    off = a.offcpu
    fig["offcpu_ns"] = (_sum_by(n, off["span"].to_numpy(), off["duration"].to_numpy())
                        if have_sched else np.nan)
    counters = a.segments.counters
    fig["self_ns"] = counters["self_ns"].to_numpy() if "self_ns" in counters else np.nan
    fig["oncpu_ns"] = np.nan
    fig["page_faults"] = np.nan
    fig["context_switches"] = np.nan
    pmu = []
    for c in counters.columns:
        if c == "self_ns":
            continue
        target = _COUNTER_NAMES.get(c)
        if target is None:
            target = "pmu_" + c.removeprefix("perf_thread_").removeprefix("perf_cpu_")
            pmu.append(target)
        fig[target] = counters[c].to_numpy()
    if "perf_thread_task_clock" not in counters and have_sched:
        fig["oncpu_ns"] = fig["self_ns"] - fig["offcpu_ns"]
    figures = [*dict.fromkeys([*REPORT_FIGURES, *ATTRIBUTE_FIGURES, *pmu])]
    totals = _rollup(sp["parent"].to_numpy(), sp["depth"].to_numpy(), fig[figures])
    ident = sp[["span", "op", "pid", "tid", "procname", "parent", "depth", "begin", "end",
                "duration", "status", "lower_bound"]]
    return pd.concat([ident, fig[figures], totals], axis=1)


def _rollup(parent: np.ndarray, depth: np.ndarray, own: pd.DataFrame) -> pd.DataFrame:
    """``total_*``: each span's own figures plus all its descendants' (one pass per level)."""
    tot = own.to_numpy(dtype=np.float64).copy()
    for d in range(int(depth.max()) if len(depth) else 0, 0, -1):
        rows = np.flatnonzero((depth == d) & (parent >= 0))
        np.add.at(tot, parent[rows], np.nan_to_num(tot[rows]))
    return pd.DataFrame(tot, columns=[f"total_{c}" for c in own.columns], index=own.index)


def filter_spans(fig: pd.DataFrame, ops: Sequence[str] = (), pids: Sequence[int] = (),
                 procnames: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of ``fig`` whose op matches a pattern of ``ops`` (fnmatch), pid, procname."""
    keep = np.ones(len(fig), dtype=bool)
    if ops:
        uniq = [str(u) for u in pd.unique(fig["op"])]
        ok = [u for u in uniq if any(fnmatch.fnmatchcase(u, p) for p in ops)]
        keep &= fig["op"].isin(ok).to_numpy()
    if pids:
        keep &= fig["pid"].isin(list(pids)).to_numpy()
    if procnames:
        keep &= fig["procname"].isin(list(procnames)).to_numpy()
    return fig[keep]


def _grouped(fig: pd.DataFrame, by: str, figures: list[str]) -> pd.DataFrame:
    """Sum ``figures`` and their totals per group, plus latency statistics of closed spans."""
    key = {"op": ["op"], "process": ["pid", "procname"]}[by]
    closed = fig[fig["status"] == "closed"]
    g = fig.groupby(key, sort=True, dropna=False)
    cols = [*figures, *(f"total_{c}" for c in figures)]
    out = g[cols].sum(min_count=1)
    out["open"] = g["status"].apply(lambda s: (s == "open").sum()) if len(fig) else 0
    out["lower_bound"] = g["lower_bound"].any()
    d = closed.groupby(key, sort=True, dropna=False)["duration"]
    dur = closed["duration"].astype(np.float64)
    gd = dur.groupby([closed[k] for k in key], sort=True, dropna=False)
    out["count"] = d.count()
    out["mean_ns"] = gd.mean()
    for q in (50, 90, 99):
        out[f"p{q}_ns"] = gd.quantile(q / 100)
    out["max_ns"] = gd.max()
    out["count"] = out["count"].fillna(0)
    return out.reset_index()


def _ints(df: pd.DataFrame) -> pd.DataFrame:
    """Round float figures to integers; a missing figure stays missing (nullable Int64).

    Categorical (coded) text columns become plain strings: report tables are for people.
    """
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
        elif df[c].dtype.kind == "f":
            v = df[c].round()
            df[c] = v.astype(np.int64) if not v.isna().any() else v.astype("Int64")
        elif df[c].dtype.kind == "i" and c not in ("pid", "tid", "span", "parent", "depth"):
            df[c] = df[c].astype(np.int64)
    return df


def _files(a: Analysis, fig: pd.DataFrame, by: str) -> pd.Series:
    """Files each group's ext4 writes touched (path, else ``ino:N``), sorted, ``;``-joined.

    Works on integer (group, file) codes; strings are made only for the distinct files and
    joined once per group.
    """
    w = a.writes
    if len(w) == 0:
        return pd.Series([""] * len(fig), index=fig.index, dtype=object)
    span = w["span"].to_numpy()
    has_path = w["path"].notna().to_numpy()
    p_codes, p_uniq = pd.factorize(w["path"].to_numpy(dtype=object)[has_path])
    i_uniq, i_rank = ranks(w["ino"].to_numpy())
    fid = (len(p_uniq) + i_rank).astype(np.int64)
    fid[has_path] = p_codes
    fnames = np.asarray([*map(str, p_uniq), *(f"ino:{i}" for i in i_uniq)], dtype=object)
    sp = a.spans
    row = np.maximum(span, 0)
    if by == "span":
        keep = span >= 0
        key, fid = span[keep].astype(np.int64), fid[keep]
        labels: Any = None
    elif by == "op":
        op = categorical(sp["op"]) if len(sp) else pd.Categorical([])
        labels = [*map(str, op.categories), NO_SPAN]
        key = np.where(span >= 0, np.asarray(op.codes)[row] if len(sp) else 0,
                       len(labels) - 1).astype(np.int64)
    else:  # process: (pid, procname) of the span (span 0's for writes outside spans)
        proc = categorical(sp["procname"])
        pk = sp["pid"].to_numpy().astype(np.int64) * (len(proc.categories) + 1) + np.asarray(
            proc.codes)
        codes, uniq_pk = pd.factorize(pk[row])
        cats = list(proc.categories)
        labels = [(int(k // (len(cats) + 1)), str(cats[int(k % (len(cats) + 1))]))
                  for k in uniq_pk]
        key = codes.astype(np.int64)
    pairs = np.unique(key * len(fnames) + fid)
    k_u, f_u = pairs // len(fnames), pairs % len(fnames)
    name_rank = np.empty(len(fnames), dtype=np.int64)
    name_rank[np.argsort(fnames.astype(str), kind="stable")] = np.arange(len(fnames))
    o = np.lexsort((name_rank[f_u], k_u))
    k_u, names = k_u[o], fnames[f_u[o]]
    cut = np.flatnonzero(np.diff(k_u)) + 1
    starts = np.concatenate([[0], cut]) if len(k_u) else np.zeros(0, dtype=np.int64)
    joined = [";".join(part) for part in np.split(names, cut)] if len(k_u) else []
    group_keys = k_u[starts]
    if by == "span":
        text = np.full(len(sp), "", dtype=object)
        text[group_keys] = joined
        vals = text[fig["span"].to_numpy()]
    elif by == "op":
        found = {labels[k]: j for k, j in zip(group_keys, joined, strict=True)}
        vals = np.asarray([found.get(str(o), "") for o in fig["op"]], dtype=object)
    else:
        found = {labels[k]: j for k, j in zip(group_keys, joined, strict=True)}
        vals = np.asarray([found.get((int(p), str(n)), "") for p, n in zip(
            fig["pid"], fig["procname"], strict=True)], dtype=object)
    return pd.Series(vals, index=fig.index, dtype=object)


def _unattributed_row(a: Analysis, figures: list[str]) -> pd.DataFrame | None:
    """Kernel work of span-less threads that dirtied pages: the ``(no span)`` row."""
    wb = a.writeback.by_span
    w = a.writes
    if not (w["span"] < 0).any() and not (wb["span"] < 0).any():
        return None
    row: dict[str, Any] = {"op": NO_SPAN, "count": 0}
    sel = w["span"].to_numpy() < 0
    vals = {"ext4_write_begin": float(sel.sum()),
            "ext4_bytes": float(w["len"].to_numpy()[sel].sum()),
            "writeback_bytes": float(wb.loc[wb["span"] < 0, "writeback_bytes"].sum())}
    for c in figures:
        row[c] = vals.get(c, np.nan)
        row[f"total_{c}"] = vals.get(c, np.nan)
    return pd.DataFrame([row])


def attribute_table(a: Analysis, by: str = "op", **filters: Any) -> pd.DataFrame:
    """ext4 write attribution per ``op`` (default), ``span`` or ``process`` (module doc)."""
    fig = filter_spans(span_figures(a), **filters)
    if by == "span":
        out = fig[["span", "op", "pid", "tid", "begin", "end", "duration", "status",
                   "lower_bound", *ATTRIBUTE_FIGURES,
                   *(f"total_{c}" for c in ATTRIBUTE_FIGURES)]].copy()
        out.insert(2, "count", 1)
        out["files"] = _files(a, out, "span")
        return _ints(out.reset_index(drop=True))
    out = _grouped(fig, by, ATTRIBUTE_FIGURES)
    extra = _unattributed_row(a, ATTRIBUTE_FIGURES) if by == "op" and not filters.get(
        "ops") else None
    if extra is not None:
        out = pd.concat([out, extra], ignore_index=True)
    out["files"] = _files(a, out, by)
    cols = ATTRIBUTE_COLUMNS if by == "op" else ["pid", "procname", *ATTRIBUTE_COLUMNS[1:]]
    return _ints(out[cols].copy())


def latency_report(a: Analysis, by: str = "op", **filters: Any) -> pd.DataFrame:
    """The combined latency report per ``op`` (default), ``span`` or ``process``."""
    fig = filter_spans(span_figures(a), **filters)
    pmu = [c for c in fig.columns if c.startswith("pmu_")]
    figures = [*REPORT_FIGURES, *pmu]
    if by == "span":
        out = fig[["span", "op", "pid", "tid", "begin", "end", "duration", "status",
                   *figures, "lower_bound", *(f"total_{c}" for c in figures)]]
        return _ints(out.reset_index(drop=True).copy())
    out = _grouped(fig, by, figures)
    lead = ["pid", "procname"] if by == "process" else ["op"]
    stats = ["count", "open", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns"]
    cols = [*lead, *stats, *figures, "lower_bound", *(f"total_{c}" for c in figures)]
    return _ints(out[cols].copy())


def syscall_breakdown(a: Analysis, by: str = "op", **filters: Any) -> pd.DataFrame:
    """Syscalls per ``op`` / ``span`` / ``process`` and syscall name (own figures).

    Columns: the group key(s), then ``syscall, count, errors, total_ns, mean_ns, max_ns``.
    ``by="op"`` puts syscalls of threads running no span under ``(no span)``.
    """
    a.prepare()
    sc = a.syscalls
    sp = a.spans
    span = sc["span"].to_numpy()
    frame = pd.DataFrame({"syscall": categorical(sc["syscall"]),
                          "dur": sc["duration"].to_numpy(dtype=np.float64, na_value=np.nan),
                          "err": (sc["ret"].to_numpy(dtype=np.float64, na_value=0) < 0)})
    if by == "process":
        pid = sc["pid"].to_numpy()
        frame["pid"] = pid
        procname = sc.groupby("pid")["procname"].agg(
            lambda s: next((str(v) for v in s if isinstance(v, str) and v), ""))
        names = categorical(procname.to_numpy(dtype=object))
        frame["procname"] = names.take(np.searchsorted(procname.index.to_numpy(), pid))
        keys = ["pid", "procname"]
        if filters.get("pids"):
            frame = frame[frame["pid"].isin(filters["pids"])]
        if filters.get("procnames"):
            frame = frame[frame["procname"].isin(filters["procnames"])]
    elif by == "span":
        frame["span"] = span
        frame = frame[span >= 0]
        keys = ["span"]
        if any(filters.values()):
            keep = filter_spans(sp, **filters)["span"].to_numpy()
            frame = frame[frame["span"].isin(keep)]
    else:
        op = categorical(sp["op"]) if len(sp) else pd.Categorical([])
        labels = [*map(str, op.categories), NO_SPAN]
        codes = np.where(span >= 0, np.asarray(op.codes)[np.maximum(span, 0)] if len(sp)
                         else 0, len(labels) - 1)
        frame["op"] = from_codes(codes, labels)
        keys = ["op"]
        if filters.get("ops"):
            ops = [o for o in labels
                   if any(fnmatch.fnmatchcase(o, p) for p in filters["ops"])]
            frame = frame[frame["op"].isin(ops)]
    g = frame.groupby([*keys, "syscall"], sort=True, observed=True)
    out = pd.DataFrame({
        "count": g.size(),
        "errors": g["err"].sum(),
        "total_ns": g["dur"].sum(),
        "mean_ns": g["dur"].mean(),
        "max_ns": g["dur"].max(),
    }).reset_index()
    return _ints(out[[*keys, *SYSCALL_COLUMNS]])


def process_table(a: Analysis, **filters: Any) -> pd.DataFrame:
    """Per process, without spans: syscalls, write figures, ext4 event counts, fsync, off-CPU.

    The report for traces with kernel events only (the seed use case). Columns: ``pid,
    procname, syscalls, syscall_ns, write_syscalls, write_bytes, ext4_events,
    ext4_write_begin, ext4_bytes, fsync_ns, offcpu_ns`` and one ``ext4:<event>`` count
    column per ext4 event class in the trace.
    """
    sc = a.syscalls
    is_write = sc["syscall"].isin(WRITE_SYSCALLS).to_numpy()
    ret = sc["ret"].to_numpy(dtype=np.float64, na_value=0)
    parts = {
        "syscalls": sc.groupby("pid").size(),
        "syscall_ns": sc.groupby("pid")["duration"].sum(),
        "write_syscalls": sc[is_write].groupby("pid").size(),
        "write_bytes": pd.Series(np.maximum(ret[is_write], 0)).groupby(
            sc["pid"].to_numpy()[is_write]).sum(),
        "ext4_write_begin": a.writes.groupby("pid").size(),
        "ext4_bytes": a.writes.groupby("pid")["len"].sum(),
        "fsync_ns": a.fsyncs.groupby("pid")["duration"].sum(),
    }
    if a.tables.has("sched_switch"):
        parts["offcpu_ns"] = a.offcpu.groupby("pid")["duration"].sum()
    names: dict[int, str] = {}
    ext4_counts = {}
    for name in a.tables.matching(lambda n: n.startswith("ext4_")):
        df = a.tables.get(name)
        if df is None:
            continue
        ext4_counts[f"ext4:{name}"] = df.groupby("pid").size()
    out = pd.DataFrame({**parts, **ext4_counts})
    ext4_cols = sorted(ext4_counts)
    out["ext4_events"] = out[ext4_cols].sum(axis=1) if ext4_cols else 0
    out = out.fillna(0)
    out.index.name = "pid"
    out = out.reset_index()
    for df in (sc, a.tables.get("sched_switch")):
        if df is not None and "procname" in df:
            first = df[df["procname"].astype(str) != ""].groupby("pid")["procname"].first()
            names.update({int(k): str(v) for k, v in first.items() if int(k) not in names})
    out.insert(1, "procname", [names.get(int(p), "") for p in out["pid"]])
    if filters.get("pids"):
        out = out[out["pid"].isin(filters["pids"])]
    if filters.get("procnames"):
        out = out[out["procname"].isin(filters["procnames"])]
    lead = ["pid", "procname", "syscalls", "syscall_ns", "write_syscalls", "write_bytes",
            "ext4_events", "ext4_write_begin", "ext4_bytes", "fsync_ns"]
    if "offcpu_ns" in out:
        lead.append("offcpu_ns")
    return _ints(out[[*lead, *ext4_cols]].sort_values("pid").reset_index(drop=True))
