# ruff: noqa: E501, W291 - inline CSV tables are wide
"""Diff tests of span pairing: nesting, threads, open spans, orphans, pid reuse, discards."""

from __future__ import annotations

import pytest

import correlate
from correlate import synth

pytestmark = pytest.mark.unit


def test_nested_spans_on_two_threads(assert_table):
    t = synth.parse("""
        100 10/11 shop:put_entry  span_id=1 parent_span_id=0 key=a size=3
        105 10/12 shop:get_entry  span_id=2 parent_span_id=0 key=b
        120 10/11 shop:enc_entry  span_id=3 parent_span_id=1 data=x
        125 10/12 shop:get_exit   span_id=2 parent_span_id=0 ret=7 exc_type=""
        130 10/11 shop:enc_exit   span_id=3 parent_span_id=1 ret=5 exc_type=ValueError
        140 10/12 shop:enc_entry  span_id=4 parent_span_id=1 data=y
        150 10/12 shop:enc_exit   span_id=4 parent_span_id=1 ret=6 exc_type=""
        200 10/11 shop:put_exit   span_id=1 parent_span_id=0 ret=0 exc_type=""
    """)
    assert_table(correlate.spans(t), """
        span, pid, tid, span_id, parent, depth, op,       begin, end, duration, status, ret, exc_type,   arg_key, arg_size, arg_data
        0,    10,  11,  1,       -1,     0,     shop:put, 100,   200, 100,      closed, 0,   ,           a,       3,        
        1,    10,  12,  2,       -1,     0,     shop:get, 105,   125, 20,       closed, 7,   ,           b,       ,         
        2,    10,  11,  3,       0,      1,     shop:enc, 120,   130, 10,       closed, 5,   ValueError, ,        ,         x
        3,    10,  12,  4,       0,      1,     shop:enc, 140,   150, 10,       closed, 6,   ,           ,        ,         y
    """)


def test_open_spans_orphan_exits_duplicate_ids_and_pid_reuse(assert_table):
    t = synth.parse("""
        # span 1 of pid 10 never exits (process killed); pid 10 is reused by a new process
        # whose span ids restart at 1. An exit whose entry predates the trace. Pid 20 uses
        # the same span ids as pid 10.
        90  30/31 shop:put_exit   span_id=8 parent_span_id=0 ret=0 exc_type=""
        100 10/11 shop:put_entry  span_id=1 parent_span_id=0 key=a size=1
        110 20/21 shop:put_entry  span_id=1 parent_span_id=0 key=b size=2
        120 20/21 shop:put_exit   span_id=1 parent_span_id=0 ret=0 exc_type=""
        300 10/10 shop:put_entry  span_id=1 parent_span_id=0 key=c size=3
        350 10/10 shop:put_exit   span_id=1 parent_span_id=0 ret=1 exc_type=""
        400 20/21 shop:put_entry  span_id=2 parent_span_id=0 key=d size=4
    """)
    sp = correlate.spans(t)
    assert_table(sp, """
        span, pid, tid, span_id, begin, end, duration, status,   arg_key
        0,    30,  31,  8,       ,      90,  ,         no_entry, 
        1,    10,  11,  1,       100,   ,    ,         open,     a
        2,    20,  21,  1,       110,   120, 10,       closed,   b
        3,    10,  10,  1,       300,   350, 50,       closed,   c
        4,    20,  21,  2,       400,   ,    ,         open,     d
    """)
    notes = correlate.Analysis(t).notes
    assert any("2 span(s) still open" in n for n in notes)
    assert any("1 span exit(s) without an entry" in n for n in notes)
    assert any("appear in several processes" in n for n in notes)


def test_untyped_usdk_spans_take_their_name_as_op(assert_table):
    t = synth.parse("""
        100 10/11 usdk:span_entry span_id=1 parent_span_id=0 name=load args="{'n': 1}"
        110 10/11 usdk:span_entry span_id=2 parent_span_id=1 name=parse args=""
        120 10/11 usdk:span_exit  span_id=2 parent_span_id=1 name=parse ret=None exc_type=""
        130 10/11 usdk:span_exit  span_id=1 parent_span_id=0 name=load ret=3 exc_type=""
    """)
    assert_table(correlate.spans(t), """
        span, op,    provider, parent, depth, duration, ret,  arg_args
        0,    load,  usdk,     -1,     0,     30,       3,    {'n': 1}
        1,    parse, usdk,     0,      1,     10,       None,
    """)


def test_discarded_events_flag_overlapping_spans_as_lower_bounds(assert_table):
    text = """
        100 10/11 shop:put_entry span_id=1 parent_span_id=0 key=a size=1
        200 10/11 shop:put_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
        300 10/11 shop:put_entry span_id=2 parent_span_id=0 key=b size=1
        400 10/11 shop:put_exit  span_id=2 parent_span_id=0 ret=0 exc_type=""
    """
    flagged = correlate.spans(synth.parse(text, discarded=[(250, 320, 7)]))
    assert_table(flagged, """
        span, lower_bound
        0,    False
        1,    True
    """)
    assert not correlate.spans(synth.parse(text))["lower_bound"].any()
    a = correlate.Analysis(synth.parse(text, discarded=[(250, 320, 7)]))
    assert any("lower bounds" in n for n in a.notes)
    assert correlate.latency_report(a)["lower_bound"].tolist() == [True]


def test_a_discard_without_time_bounds_flags_every_span():
    import pandas as pd

    from correlate.spans import flag_lower_bounds

    sp = pd.DataFrame({"begin": [100, 300], "end": [200, 400]})
    discarded = pd.DataFrame({
        "discarded_events": [7, 0], "lost_packets": [0, 0],
        "begin": pd.array([None, 10], dtype="Int64"), "end": pd.array([None, 20], dtype="Int64"),
    })
    assert flag_lower_bounds(sp, discarded).tolist() == [True, True]
    discarded.loc[0, ["begin", "end"]] = [150, 160]
    assert flag_lower_bounds(sp, discarded).tolist() == [True, False]
