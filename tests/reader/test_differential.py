"""Differential tests: the native decoder returns exactly what babeltrace2 returns.

Every table, the events table and the discard counts are compared frame by frame
(values, dtypes, order) between ``backend="native"`` and ``backend="bt2"`` on generated
traces: every UST field type over several streams/CPUs, UST + perf kernel events, a trace
whose tiny buffers make LTTng discard events, and selections (events, columns, time range).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tracegen import record

import correlate


def assert_same(path: Path, **kw: object) -> correlate.Trace:
    a = correlate.open(path, backend="native", **kw)  # type: ignore[arg-type]
    b = correlate.open(path, backend="bt2", **kw)  # type: ignore[arg-type]
    assert all(x.decoder == "native" for x in a.backends), a.backends
    assert a.names == b.names
    assert len(a) > 0
    for name in b.names:
        pd.testing.assert_frame_equal(a.table(name), b.table(name), check_exact=True)
    pd.testing.assert_frame_equal(a.events, b.events, check_exact=True)
    pd.testing.assert_frame_equal(a.discarded, b.discarded, check_exact=True)
    assert a.clock == b.clock
    return a


@pytest.mark.integration
def test_every_field_type_several_streams(ust_trace: Path) -> None:
    t = assert_same(ust_trace)
    assert len(set(t.discarded["path"])) >= 2


@pytest.mark.integration
def test_selection_matches(ust_trace: Path) -> None:
    full = correlate.open(ust_trace, backend="bt2")
    ts = full.events["timestamp"].to_numpy()
    assert_same(ust_trace, events=["gen:all*"], columns=["u64", "str", "seq", "vtid"],
                start=int(ts[len(ts) // 3]), end=int(ts[2 * len(ts) // 3]))


@pytest.mark.integration
@pytest.mark.kernel
def test_ust_and_perf_kernel(mixed_trace: Path) -> None:
    t = assert_same(mixed_trace)
    assert set(t.events["domain"]) == {"ust", "kernel"}


@pytest.mark.integration
def test_discarded_events_counted_like_babeltrace2(
    sessiond: None, gen_exe: Path, tmp_path: Path
) -> None:
    out = record.record(gen_exe, tmp_path, ["all", "2", "20000", "0"], subbuf="4k",
                        num_subbuf=2)
    with pytest.warns(correlate.DiscardedEventsWarning):
        t = assert_same(out)
    assert t.discarded["discarded_events"].sum() > 0
    # each stream that lost events says when: a window inside the trace, NA elsewhere
    lossy = t.discarded[t.discarded["discarded_events"] > 0]
    assert lossy["begin"].notna().all() and (lossy["begin"] <= lossy["end"]).all()
    ts = t.events["timestamp"]
    assert (lossy["begin"] >= ts.min() - 10**9).all() and (lossy["end"] <= ts.max() + 10**9).all()
    clean = t.discarded[(t.discarded["discarded_events"] == 0)
                        & (t.discarded["lost_packets"] == 0)]
    assert clean[["begin", "end"]].isna().all().all()


@pytest.mark.integration
@pytest.mark.parametrize("fixture", ["ust_trace", "multi_packet_trace", "mixed_trace"])
def test_time_order_paths_agree(fixture: str, request: pytest.FixtureRequest,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding every stream at once in time order, merging per-stream columns in C and
    sorting ordering keys give the same tables and events table."""
    from correlate.read import assemble, fast, model

    path = request.getfixturevalue(fixture)
    at_once = correlate.open(path, backend="native")
    assert isinstance(at_once._keys, model.MergedEvents)
    monkeypatch.setattr(fast, "read_merged", lambda *a, **k: None)
    merged = correlate.open(path, backend="native")
    assert isinstance(merged._keys, assemble.MergedOrder)
    monkeypatch.setattr(assemble, "_build_merged", lambda parts, columns: None)
    monkeypatch.setattr(assemble, "_release", lambda group: None)
    keyed = correlate.open(path, backend="native")
    assert not isinstance(keyed._keys, assemble.MergedOrder | model.MergedEvents)
    for other in (merged, keyed):
        assert at_once.names == other.names
        for name in other.names:
            pd.testing.assert_frame_equal(at_once.table(name), other.table(name),
                                          check_exact=True)
        pd.testing.assert_frame_equal(at_once.events, other.events, check_exact=True)
        pd.testing.assert_frame_equal(at_once.discarded, other.discarded, check_exact=True)
