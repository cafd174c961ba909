"""``usdk export`` and ``Trace.to_parquet``: the Parquet files hold the same tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import correlate
from usdk.cli import main


@pytest.mark.integration
def test_export_writes_every_table(ust_trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "pq"
    assert main(["export", str(ust_trace), "-o", str(out)]) == 0
    t = correlate.open(ust_trace)
    ev = pd.read_parquet(out / "events.parquet")
    assert len(ev) == len(t.events)
    assert (ev["timestamp"].to_numpy() == t.events["timestamp"].to_numpy()).all()
    assert list(ev["name"].astype(str)) == list(t.events["name"].astype(str))
    tab = pd.read_parquet(out / "event.gen__all_types.parquet")
    want = t.table("gen:all_types")
    assert list(tab.columns) == list(want.columns)
    assert (tab["u64"].to_numpy() == want["u64"].to_numpy()).all()
    assert list(tab["str"]) == list(want["str"])
    assert [list(x) for x in tab["seq"]] == [list(x) for x in want["seq"]]
    assert len(pd.read_parquet(out / "discarded.parquet")) == len(t.discarded)


@pytest.mark.unit
def test_export_of_a_non_trace_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    assert "no CTF trace" in capsys.readouterr().err
