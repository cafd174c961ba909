"""perf events get their procname from usdk record's perf/tasks.tsv (diff tests)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from correlate.read import tasks as tasks_mod

pytestmark = pytest.mark.unit

TASKS = """tid\tpid\tprocname\tfirst_ns\tlast_ns
10\t10\tbash\t100\t500
10\t10\tpython\t600\t900
11\t10\tworker\t0\t0
"""

EVENTS = """timestamp,tid,procname
50,10,
100,10,
599,10,
600,10,
950,10,
70,11,
80,12,
90,10,given
"""

EXPECTED = """timestamp,tid,procname
50,10,bash
100,10,bash
599,10,bash
600,10,python
950,10,python
70,11,worker
80,12,
90,10,given
"""


def _frame(text: str) -> pd.DataFrame:
    df = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype={"procname": str})
    df["procname"] = pd.Categorical(df["procname"])
    return df


def test_empty_procnames_take_the_name_of_their_tid_at_their_time(tmp_path: Path) -> None:
    perf = tmp_path / "perf"
    (perf / "ctf").mkdir(parents=True)
    (perf / "tasks.tsv").write_text(TASKS)
    tasks = tasks_mod.load([perf / "ctf"])
    assert tasks is not None
    got = tasks_mod.fill_procnames(_frame(EVENTS), tasks)
    want = _frame(EXPECTED)
    pd.testing.assert_series_equal(got["procname"].astype(str), want["procname"].astype(str))
    pd.testing.assert_frame_equal(got[["timestamp", "tid"]], want[["timestamp", "tid"]])


def test_no_tasks_file_means_nothing_to_fill(tmp_path: Path) -> None:
    (tmp_path / "ctf").mkdir()
    assert tasks_mod.load([tmp_path / "ctf"]) is None
