"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network).

Report layer. :func:`render` draws, from an :class:`correlate.Analysis`:

1. the latency distribution of each operation (log-scale histogram, p50/p90/p99 marked);
2. where each operation's time went: a stacked bar of the mean span split into time in
   each syscall, user space outside syscalls and nested child spans, with off-CPU and
   on-CPU time alongside;
3. a timeline of the slowest operations with the kernel work on their thread: syscalls,
   ext4 writes, off-CPU intervals;
4. the report and attribution tables, and the notes.

Example::

    >>> from correlate import html
    >>> open("report.html", "w").write(html.render(correlate.Analysis(trace)))
"""

from __future__ import annotations

import html as _html
from typing import Any

import numpy as np
import pandas as pd

from correlate.analysis import Analysis
from correlate.report import (
    attribute_table,
    filter_spans,
    latency_report,
    process_table,
    span_figures,
)

__all__ = ["render"]

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]
USER, CHILD, OFFCPU = "#d9d9d9", "#a0cbe8", "#444444"

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.note{color:#8a4b00}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
svg text{font:11px system-ui,sans-serif}
"""


def _e(x: Any) -> str:
    return _html.escape(str(x))


def _ns(v: float) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g} {unit}"
    return f"{v:.0f} ns"


def _histogram(durations: np.ndarray, q: dict[str, float], width: int = 520) -> str:
    h, pad = 90, 30
    d = durations[durations > 0]
    if len(d) == 0:
        return "<svg width='10' height='10'></svg>"
    lo, hi = np.log10(d.min()), np.log10(d.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 41)
    counts, _ = np.histogram(np.log10(d), bins=bins)
    bw = (width - 2 * pad) / len(counts)
    top = counts.max()
    out = [f"<svg width='{width}' height='{h + 30}' role='img'>"]
    for i, c in enumerate(counts):
        if c:
            bh = (h - 10) * c / top
            out.append(f"<rect x='{pad + i * bw:.1f}' y='{h - bh:.1f}' width='{bw - 1:.1f}' "
                       f"height='{bh:.1f}' fill='{PALETTE[0]}'><title>{c}</title></rect>")

    def x(v: float) -> float:
        return pad + (np.log10(max(v, 1)) - lo) / (hi - lo) * (width - 2 * pad)

    for name, v in q.items():
        if v and not np.isnan(v):
            out.append(f"<line x1='{x(v):.1f}' x2='{x(v):.1f}' y1='5' y2='{h}' "
                       f"stroke='{PALETTE[2]}' stroke-dasharray='3,2'/>"
                       f"<text x='{x(v) + 2:.1f}' y='12'>{name}</text>")
    out.append(f"<line x1='{pad}' x2='{width - pad}' y1='{h}' y2='{h}' stroke='#888'/>")
    for t in np.linspace(lo, hi, 5):
        out.append(f"<text x='{x(10 ** t) - 15:.1f}' y='{h + 14}'>{_ns(10 ** t)}</text>")
    out.append("</svg>")
    return "".join(out)


def _stacked(rows: list[tuple[str, list[tuple[str, float, str]]]], width: int = 760) -> str:
    label_w, bar_h = 170, 22
    total = max((sum(v for _, v, _ in parts) for _, parts in rows), default=1) or 1
    h = len(rows) * (bar_h + 8) + 10
    out = [f"<svg width='{width}' height='{h}' role='img'>"]
    for i, (op, parts) in enumerate(rows):
        y = 5 + i * (bar_h + 8)
        out.append(f"<text x='0' y='{y + 15}'>{_e(op)}</text>")
        x = float(label_w)
        for name, v, color in parts:
            w = (width - label_w - 90) * v / total
            if w <= 0:
                continue
            out.append(f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar_h}' "
                       f"fill='{color}'><title>{_e(name)}: {_ns(v)}</title></rect>")
            x += w
        out.append(f"<text x='{x + 4:.1f}' y='{y + 15}'>{_ns(sum(v for _, v, _ in parts))}"
                   "</text>")
    out.append("</svg>")
    return "".join(out)


def _timeline(a: Analysis, spans: pd.DataFrame, colors: dict[str, str],
              width: int = 1100) -> str:
    label_w, row_h = 230, 34
    h = len(spans) * row_h + 20
    out = [f"<svg width='{width}' height='{h}' role='img'>"]
    sc, wr, off = a.syscalls, a.writes, a.offcpu
    for i, s in enumerate(spans.itertuples()):
        b, e = int(s.begin), int(s.end)
        dur = max(e - b, 1)
        y = 8 + i * row_h

        def x(t: float, b: int = b, dur: int = dur) -> float:
            return label_w + (t - b) / dur * (width - label_w - 10)

        out.append(f"<text x='0' y='{y + 12}'>{_e(s.op)} tid {s.tid}</text>"
                   f"<text x='0' y='{y + 25}' fill='#666'>{_ns(dur)}</text>")
        out.append(f"<rect x='{label_w}' y='{y}' width='{width - label_w - 10}' height='8' "
                   f"fill='{CHILD}'><title>{_e(s.op)} span {s.span}</title></rect>")
        on = ((sc["tid"] == s.tid) & (sc["begin"] >= b) & (sc["begin"] <= e)).to_numpy(
            dtype=bool, na_value=False)
        for c in sc[on].itertuples():
            cb, ce = int(c.begin), int(c.end) if pd.notna(c.end) else e
            out.append(f"<rect x='{x(cb):.1f}' y='{y + 10}' "
                       f"width='{max(x(ce) - x(cb), 1):.1f}' height='10' "
                       f"fill='{colors.get(c.syscall, PALETTE[-1])}'><title>{_e(c.syscall)} "
                       f"{_ns(ce - cb)} ret={c.ret}</title></rect>")
        oo = ((off["tid"] == s.tid) & (off["begin"] >= b) & (off["begin"] <= e)).to_numpy()
        for o in off[oo].itertuples():
            out.append(f"<rect x='{x(o.begin):.1f}' y='{y + 22}' "
                       f"width='{max(x(o.end) - x(o.begin), 1):.1f}' height='5' "
                       f"fill='{OFFCPU}'><title>off-CPU ({o.state}) {_ns(o.duration)}"
                       "</title></rect>")
        ww = ((wr["tid"] == s.tid) & (wr["timestamp"] >= b) & (wr["timestamp"] <= e)).to_numpy()
        for w in wr[ww].itertuples():
            out.append(f"<line x1='{x(w.timestamp):.1f}' x2='{x(w.timestamp):.1f}' "
                       f"y1='{y + 20}' y2='{y + 28}' stroke='{PALETTE[4]}'>"
                       f"<title>{_e(w.event)} ino {w.ino} len {w.len}</title></line>")
    out.append("</svg>")
    return "".join(out)


def _table(df: pd.DataFrame, limit: int = 200) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = []
    for row in df.head(limit).itertuples(index=False):
        body.append("<tr>" + "".join(
            f"<td>{'' if pd.isna(v) else _e(v)}</td>" if not isinstance(v, list | dict)
            else f"<td>{_e(v)}</td>" for v in row) + "</tr>")
    more = f"<p>({len(df) - limit} more rows)</p>" if len(df) > limit else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def render(a: Analysis, slowest: int = 8, ops: Any = (), pids: Any = (),
           procnames: Any = (), title: str = "usdk report") -> str:
    """The whole report as one HTML string (module doc)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"]
    if a.notes:
        parts.append("<ul>" + "".join(f"<li class='note'>{_e(n)}</li>" for n in a.notes)
                     + "</ul>")
    if not a.has_spans:
        parts.append("<h2>Per process</h2>")
        parts.append(_table(process_table(a, pids=pids, procnames=procnames)))
        parts.append("</body></html>")
        return "".join(parts)
    filt = {"ops": ops, "pids": pids, "procnames": procnames}
    fig = filter_spans(span_figures(a), **filt)
    rep = latency_report(a, **filt)
    closed = fig[fig["status"] == "closed"]
    # 1. latency distributions
    parts.append("<h2>Latency distribution per operation</h2>")
    for r in rep.itertuples():
        d = closed.loc[closed["op"] == r.op, "duration"].to_numpy(dtype=np.float64)
        q = {"p50": r.p50_ns, "p90": r.p90_ns, "p99": r.p99_ns}
        q = {k: float(v) if pd.notna(v) else np.nan for k, v in q.items()}
        mean = float(r.mean_ns) if pd.notna(r.mean_ns) else np.nan
        mx = float(r.max_ns) if pd.notna(r.max_ns) else np.nan
        parts.append(f"<h3>{_e(r.op)} — {r.count} calls, mean {_ns(mean)}, "
                     f"p99 {_ns(q['p99'])}, max {_ns(mx)}</h3>")
        parts.append(_histogram(d, q))
    # 2. stacked time breakdown (mean per closed span)
    sc = a.syscalls
    sc = sc[sc["span"] >= 0]
    by_name = sc.assign(op=a.spans["op"].to_numpy()[sc["span"].to_numpy()]).groupby(
        ["op", "syscall"])["duration"].sum()
    names = sc.groupby("syscall")["duration"].sum().sort_values(ascending=False)
    top = list(names.index[:8])
    colors = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(top)}
    rows = []
    for r in rep.itertuples():
        n = max(int(r.count) + int(r.open), 1)
        seg = []
        in_sys = 0.0
        for name in top:
            v = float(by_name.get((r.op, name), 0)) / n
            in_sys += v
            seg.append((name, v, colors[name]))
        known = r.op in by_name.index.get_level_values(0)
        rest = float(by_name.loc[r.op].sum()) / n - in_sys if known else 0.0
        if rest > 0:
            seg.append(("other syscalls", rest, PALETTE[-1]))
            in_sys += rest
        self_ns = float(r.self_ns) / n if pd.notna(r.self_ns) else 0.0
        seg.append(("user space (outside syscalls)", max(self_ns - in_sys, 0), USER))
        child = (float(r.total_self_ns) - float(r.self_ns)) / n if pd.notna(r.total_self_ns) else 0
        seg.append(("nested child spans", max(child, 0), CHILD))
        rows.append((r.op, seg))
    parts.append("<h2>Where the time went (mean per call)</h2><div class='legend'>"
                 + "".join(f"<span><i style='background:{c}'></i>{_e(n)}</span>"
                           for n, c in [*colors.items(), ("other syscalls", PALETTE[-1]),
                                        ("user space", USER), ("child spans", CHILD)])
                 + "</div>")
    parts.append(_stacked(rows))
    cols = ["op", "offcpu_ns", "oncpu_ns", "page_faults", "context_switches", "fsync_ns",
            "ext4_bytes", "writeback_bytes"]
    parts.append(_table(rep[[c for c in cols if c in rep]]))
    # 3. timeline of the slowest operations
    slow = closed.sort_values("duration", ascending=False).head(slowest)
    parts.append(f"<h2>The {len(slow)} slowest operations with their kernel events</h2>"
                 "<div class='legend'><span><i style='background:" + CHILD + "'></i>span</span>"
                 "<span><i style='background:" + OFFCPU + "'></i>off-CPU</span>"
                 "<span><i style='background:" + PALETTE[4] + "'></i>ext4 write</span>"
                 + "".join(f"<span><i style='background:{c}'></i>{_e(n)}</span>"
                           for n, c in colors.items()) + "</div>")
    parts.append(_timeline(a, slow, colors))
    # 4. tables
    parts.append("<h2>Latency report</h2>" + _table(rep))
    parts.append("<h2>ext4 write attribution</h2>" + _table(attribute_table(a, **filt)))
    parts.append("</body></html>")
    return "".join(parts)
