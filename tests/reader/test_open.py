"""correlate.open on real traces: schema, values, ordering, selection, errors.

The UST generator (tracegen/gen.c) derives every field from one counter ``v`` (= i64 /
1000003), so each row is checked against the formula, not against stored results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import correlate
from usdk.errors import TraceNotFoundError, UnknownEventError

BACKENDS = ["bt2", "auto"]


def _wrap(x: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    x = x.astype(np.int64) & ((1 << bits) - 1) if bits < 64 else x.astype(np.uint64)
    if signed and bits < 64:
        x = np.where(x >= 1 << (bits - 1), x - (1 << bits), x)
    return x


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_ust_field_type(ust_trace: Path, backend: str) -> None:
    t = correlate.open(ust_trace, backend=backend)
    df = t.table("gen:all_types")
    assert len(df) == 3 * 400
    v = df["i64"].to_numpy() // 1000003
    assert (df["i64"].to_numpy() == v * 1000003).all()
    assert (df["i8"].to_numpy() == _wrap(v, 8, True)).all()
    assert (df["i16"].to_numpy() == _wrap(v * 3, 16, True)).all()
    assert (df["i32"].to_numpy() == _wrap(v * -7, 32, True)).all()
    assert (df["u8"].to_numpy() == _wrap(v, 8, False)).all()
    assert (df["u16"].to_numpy() == _wrap(v * 5, 16, False)).all()
    assert (df["u32"].to_numpy() == _wrap(v * 11, 32, False)).all()
    u64 = (v.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    assert (df["u64"].to_numpy() == u64).all()
    hex32 = (v.astype(np.uint64) ^ np.uint64(0xDEADBEEF)) & 0xFFFFFFFF
    assert (df["hex32"].to_numpy() == hex32).all()
    assert np.allclose(df["f32"].to_numpy(), v / 4.0)
    assert np.allclose(df["f64"].to_numpy(), v / 3.0)
    i = v % 1000000
    keys = ["alpha", "beta", "gamma", "", "a longer key with spaces é"]

    def c_str(a: int, b: int, n: int = 31) -> str:  # snprintf into char[32], then n bytes
        return f"s{a}-{keys[b % 5]}".encode()[:31][:n].decode("utf-8", "replace")

    assert list(df["str"]) == [c_str(a, b) for a, b in zip(v, i, strict=False)]
    assert list(df["txt"]) == [c_str(a, b, 4) for a, b in zip(v, i, strict=False)]
    assert list(df["stxt"]) == [c_str(a, b, b % 6) for a, b in zip(v, i, strict=False)]
    assert [list(x) for x in df["arr"]] == [[a, -a, 7] for a in v]
    assert [list(x) for x in df["seq"]] == [[(a + k) & 0xFFFF for k in range(b % 6)]
                                            for a, b in zip(v, i, strict=False)]
    status = ["OK", "RETRY"] + ["ERROR"] * 8 + ["10"]
    assert list(df["status"]) == [status[a % 11] for a in v]
    assert isinstance(df["status"].dtype, pd.CategoricalDtype)
    assert (df["flag"].to_numpy() == (v & 1)).all()
    # dtypes of the contract
    assert df["i8"].dtype == np.int64 and df["u8"].dtype == np.uint64
    assert df["f32"].dtype == np.float64 and df["cpu"].dtype == np.int32
    assert "_seq_length" not in df.columns and "_stxt_length" not in df.columns
    # contexts, and pid/tid taken from vpid/vtid
    assert (df["pid"] == df["vpid"]).all() and (df["tid"] == df["vtid"]).all()
    assert set(df["procname"]) == {"gen"}
    assert df["tid"].nunique() == 3
    assert "perf_thread_task_clock" in df.columns
    # each thread emitted v = t*1e6 + i in order
    for _tid, g in df.groupby("tid"):
        assert (np.diff(g["i64"].to_numpy() // 1000003) == 1).all()


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
def test_events_table_is_time_ordered_and_points_into_tables(ust_trace: Path, backend: str) -> None:
    t = correlate.open(ust_trace, backend=backend)
    ev = t.events
    assert list(ev.columns) == ["timestamp", "name", "domain", "cpu", "pid", "tid", "procname",
                                "row"]
    assert (np.diff(ev["timestamp"].to_numpy()) >= 0).all()
    assert len(ev) == len(t)
    assert set(ev["domain"]) == {"ust"}
    assert set(ev["name"]) == {"gen:all_types", "gen:empty"}
    for name, g in ev.groupby("name", observed=True):
        tab = t.table(name)
        assert (g["row"].to_numpy() == np.arange(len(tab))).all()
        assert (tab["timestamp"].to_numpy()[g["row"]] == g["timestamp"].to_numpy()).all()
        assert (tab["tid"].to_numpy()[g["row"]] == g["tid"].to_numpy()).all()
    assert len(t.table("gen:empty")) == 3 * 134
    assert t.clock.offset_ns is not None and t.clock.offset_ns > 1_500_000_000 * 10**9
    wall = t.clock.to_wall(ev["timestamp"].iloc[:1])
    assert wall.year[0] >= 2024


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
def test_selection_by_event_column_and_time(ust_trace: Path, backend: str) -> None:
    full = correlate.open(ust_trace, backend=backend)
    t = correlate.open(ust_trace, events=["gen:all_*"], columns=["i64", "str"], backend=backend)
    assert t.names == ["gen:all_types"]
    df = t.table("gen:all_types")
    assert list(df.columns) == ["timestamp", "cpu", "pid", "tid", "procname", "i64", "str"]
    ts = full.events["timestamp"].to_numpy()
    lo, hi = int(ts[len(ts) // 4]), int(ts[len(ts) // 2])
    part = correlate.open(ust_trace, start=lo, end=hi, backend=backend)
    expect = full.events[(full.events.timestamp >= lo) & (full.events.timestamp <= hi)]
    assert len(part.events) == len(expect)
    assert (part.events["timestamp"].to_numpy() == expect["timestamp"].to_numpy()).all()
    with pytest.raises(UnknownEventError):
        t.table("gen:nope")


@pytest.mark.integration
@pytest.mark.kernel
@pytest.mark.parametrize("backend", BACKENDS)
def test_ust_and_perf_kernel_events_in_one_time_base(mixed_trace: Path, backend: str) -> None:
    t = correlate.open(mixed_trace, backend=backend)
    assert {"gen:op", "syscall_entry_write", "syscall_exit_write"} <= set(t.names)
    enter = t.table("syscalls:sys_enter_write")
    assert enter is t.table("syscall_entry_write")
    assert {"fd", "count", "buf", "syscall_nr"} <= set(enter.columns)
    if "sched_switch" in t:
        assert {"prev_tid", "next_tid"} <= set(t.table("sched_switch").columns)
    ev = t.events
    ust_tids = set(ev.loc[ev.domain == "ust", "tid"])
    assert len(ust_tids) == 2
    # gen writes 1 byte after op events with i % 3 == 0: on each thread, every write
    # entry comes right after such an op event (kernel and UST sorted in one time base)
    ops = t.table("gen:op")
    for tid in ust_tids:
        seq = ev[(ev.tid == tid) & ev.name.isin(["gen:op", "syscall_entry_write"])]
        names_ = seq["name"].astype(str).to_numpy()
        rows = seq["row"].to_numpy()
        w = np.flatnonzero(names_ == "syscall_entry_write")
        w = w[w > 0]
        assert len(w) == 1000
        prev = rows[w - 1]
        assert (names_[w - 1] == "gen:op").all()
        i = ops["id"].to_numpy()[prev] % 1000000
        assert (i % 3 == 0).all()
        assert (enter["count"].to_numpy()[rows[w]] == 1).all()
    assert (t.discarded["discarded_events"] >= 0).all()
    assert set(t.discarded.columns) == {"path", "stream_class_id", "stream_id", "cpu",
                                        "discarded_events", "lost_packets", "begin", "end"}
    lossless = (t.discarded["discarded_events"] == 0) & (t.discarded["lost_packets"] == 0)
    assert t.discarded.loc[lossless, ["begin", "end"]].isna().all().all()


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_callback_counts_bytes_up_to_the_total(ust_trace: Path, backend: str) -> None:
    calls: list[tuple[int, int]] = []
    correlate.open(ust_trace, backend=backend, progress=lambda d, t: calls.append((d, t)))
    total = sum(p.stat().st_size for p in ust_trace.rglob("*")
                if p.is_file() and p.name != "metadata" and "index" not in p.parts)
    assert calls and calls[-1] == (total, total)
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(t == total for _, t in calls)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["bt2", "auto", "native"])
def test_selecting_no_event_class_gives_empty_tables(ust_trace: Path, backend: str) -> None:
    t = correlate.open(ust_trace, backend=backend, events=["no:such_event*"])
    assert t.names == [] and len(t) == 0
    assert list(t.events.columns) == ["timestamp", "name", "domain", "cpu", "pid", "tid",
                                      "procname", "row"]
    assert len(t.events) == 0


@pytest.mark.unit
def test_missing_empty_and_non_trace_directories(tmp_path: Path) -> None:
    with pytest.raises(TraceNotFoundError) as e:
        correlate.open(tmp_path / "nope")
    assert "nope" in str(e.value)
    with pytest.raises(TraceNotFoundError):
        correlate.open(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(b"hello")
    with pytest.raises(TraceNotFoundError) as e:
        correlate.open(tmp_path)
    assert e.value.path == str(tmp_path)


@pytest.mark.integration
def test_bt2_reader_survives_an_unlabeled_enum_value_seen_first(ust_trace: Path) -> None:
    # babeltrace2 2.0's bindings assert on `labels` when a value maps to no label before the
    # field class ever matched one; a time range starting at such an event provokes it
    native = correlate.open(ust_trace, events=["gen:all_types"], backend="native")
    df = native.table("gen:all_types")
    first = df[df["status"].astype(str) == "10"].iloc[0]
    t = correlate.open(ust_trace, events=["gen:all_types"], start=int(first["timestamp"]),
                       backend="bt2")
    got = t.table("gen:all_types")
    assert str(got["status"].iloc[0]) == "10"
    assert got["status"].astype(str).tolist() == \
        df[df["timestamp"] >= first["timestamp"]]["status"].astype(str).tolist()
