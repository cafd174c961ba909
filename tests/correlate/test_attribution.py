# ruff: noqa: E501, W291 - inline CSV tables are wide
"""Diff tests of the join layer: syscalls, kernel events, off-CPU time and counters -> spans."""

from __future__ import annotations

import pytest

import correlate
from correlate import synth

pytestmark = pytest.mark.unit


def _with_op(a: correlate.Analysis, df):
    ops = a.spans["op"].tolist()
    out = df.copy()
    out["op"] = [ops[s] if s >= 0 else "-" for s in out["span"]]
    return out


def test_interleaved_syscalls_of_two_threads_go_to_their_innermost_span(assert_table):
    t = synth.parse("""
        100 10/11 shop:put_entry        span_id=1 parent_span_id=0 key=a size=1
        101 10/12 shop:get_entry        span_id=2 parent_span_id=0 key=a
        102 10/11 syscall_entry_write   fd=3 count=10
        103 10/12 syscall_entry_read    fd=4 count=64
        104 10/11 syscall_exit_write    ret=10
        105 10/11 shop:enc_entry        span_id=3 parent_span_id=1 data=x
        106 10/12 syscall_exit_read     ret=64
        107 10/11 syscall_entry_write   fd=3 count=5
        108 10/13 syscall_entry_write   fd=1 count=2
        109 10/11 syscall_exit_write    ret=-28
        110 10/13 syscall_exit_write    ret=2
        111 10/11 shop:enc_exit         span_id=3 parent_span_id=1 ret=0 exc_type=""
        112 10/11 syscall_entry_fsync   fd=3
        113 10/12 shop:get_exit         span_id=2 parent_span_id=0 ret=0 exc_type=""
        114 10/12 syscall_entry_close   fd=4
        115 10/12 syscall_exit_close    ret=0
        118 10/11 syscall_exit_fsync    ret=0
        120 10/11 shop:put_exit         span_id=1 parent_span_id=0 ret=0 exc_type=""
        121 10/11 syscall_exit_close    ret=0
    """)
    a = correlate.Analysis(t)
    assert_table(_with_op(a, a.syscalls), """
        tid, syscall, begin, end, duration, ret, fd, count, status,   op
        11,  write,   102,   104, 2,        10,  3,  10,    closed,   shop:put
        12,  read,    103,   106, 3,        64,  4,  64,    closed,   shop:get
        11,  write,   107,   109, 2,        -28, 3,  5,     closed,   shop:enc
        13,  write,   108,   110, 2,        2,   1,  2,     closed,   -
        11,  fsync,   112,   118, 6,        0,   3,  -1,    closed,   shop:put
        12,  close,   114,   115, 1,        0,   4,  -1,    closed,   -
        11,  close,   ,      121, ,         0,   -1, -1,    no_entry, -
    """)
    assert_table(correlate.syscall_breakdown(a, by="op"), """
        op,        syscall, count, errors, total_ns, mean_ns, max_ns
        (no span), close,   2,     0,      1,        1,       1
        (no span), write,   1,     0,      2,        2,       2
        shop:enc,  write,   1,     1,      2,        2,       2
        shop:get,  read,    1,     0,      3,        3,       3
        shop:put,  fsync,   1,     0,      6,        6,       6
        shop:put,  write,   1,     0,      2,        2,       2
    """)


def test_fds_resolve_to_paths_from_open_and_close_in_the_same_process(assert_table):
    t = synth.parse("""
        100 10/11 syscall_entry_openat  dfd=-100 filename=/d/a flags=65
        101 10/11 syscall_exit_openat   ret=3
        102 10/11 syscall_entry_write   fd=3 count=1
        103 10/11 syscall_exit_write    ret=1
        104 20/21 syscall_entry_write   fd=3 count=1
        105 20/21 syscall_exit_write    ret=1
        106 10/11 syscall_entry_close   fd=3
        107 10/11 syscall_exit_close    ret=0
        108 10/11 syscall_entry_write   fd=3 count=1
        109 10/11 syscall_exit_write    ret=-9
        110 10/12 syscall_entry_openat  dfd=-100 filename=/d/b flags=65
        111 10/12 syscall_exit_openat   ret=3
        112 10/11 syscall_entry_write   fd=3 count=1
        113 10/11 syscall_exit_write    ret=1
    """)
    assert_table(correlate.syscalls(t), """
        pid, tid, syscall, fd, ret, path
        10,  11,  openat,  -1, 3,   /d/a
        10,  11,  write,   3,  1,   /d/a
        20,  21,  write,   3,  1,
        10,  11,  close,   3,  0,   /d/a
        10,  11,  write,   3,  -9,
        10,  12,  openat,  -1, 3,   /d/b
        10,  11,  write,   3,  1,   /d/b
    """)


def test_asyncio_tasks_on_one_thread_are_attributed_exactly(assert_table):
    # Two tasks (spans 1 and 2, each with a nested coroutine span) interleave on one
    # thread; usdk emits suspend innermost-first and resume outermost-first.
    t = synth.parse("""
        100 10/10 shop:handle_entry   span_id=1 parent_span_id=0 req=1
        101 10/10 shop:store_entry    span_id=3 parent_span_id=1 n=1
        102 10/10 syscall_entry_write fd=5 count=1
        103 10/10 syscall_exit_write  ret=1
        104 10/10 usdk:span_suspend   span_id=3
        105 10/10 usdk:span_suspend   span_id=1
        110 10/10 shop:handle_entry   span_id=2 parent_span_id=0 req=2
        111 10/10 syscall_entry_write fd=6 count=2
        112 10/10 syscall_exit_write  ret=2
        113 10/10 usdk:span_suspend   span_id=2
        114 10/10 syscall_entry_epoll_wait
        115 10/10 syscall_exit_epoll_wait ret=1
        120 10/10 usdk:span_resume    span_id=1
        121 10/10 usdk:span_resume    span_id=3
        122 10/10 syscall_entry_write fd=5 count=4
        123 10/10 syscall_exit_write  ret=4
        124 10/10 shop:store_exit     span_id=3 parent_span_id=1 ret=0 exc_type=""
        125 10/10 syscall_entry_write fd=5 count=8
        126 10/10 syscall_exit_write  ret=8
        127 10/10 shop:handle_exit    span_id=1 parent_span_id=0 ret=0 exc_type=""
        130 10/10 usdk:span_resume    span_id=2
        131 10/10 syscall_entry_write fd=6 count=16
        132 10/10 syscall_exit_write  ret=16
        133 10/10 shop:handle_exit    span_id=2 parent_span_id=0 ret=0 exc_type=""
    """)
    a = correlate.Analysis(t)
    assert a.segments.ambiguous == 0
    assert_table(correlate.attribute_table(a, by="span"), """
        span, op,          write_syscalls, write_bytes, total_write_bytes
        0,    shop:handle, 1,              8,           13
        1,    shop:store,  2,              5,           5
        2,    shop:handle, 2,              18,          18
    """)
    assert_table(_with_op(a, a.syscalls)[["syscall", "begin", "op"]], """
        syscall,    begin, op
        write,      102,   shop:store
        write,      111,   shop:handle
        epoll_wait, 114,   -
        write,      122,   shop:store
        write,      125,   shop:handle
        write,      131,   shop:handle
    """)


def test_interleaved_coroutine_spans_without_suspend_events_are_reported_ambiguous():
    t = synth.parse("""
        100 10/10 shop:handle_entry span_id=1 parent_span_id=0 req=1
        110 10/10 shop:handle_entry span_id=2 parent_span_id=0 req=2
        120 10/10 shop:handle_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
        130 10/10 shop:handle_exit  span_id=2 parent_span_id=0 ret=0 exc_type=""
    """)
    a = correlate.Analysis(t)
    assert a.segments.ambiguous == 2
    assert any("ambiguous" in n for n in a.notes)


def test_offcpu_oncpu_and_counters_are_own_and_total(assert_table):
    # task-clock and page-fault contexts on the UST events; the thread sleeps 40 ns inside
    # the child span and is preempted 10 ns in the parent.
    t = synth.parse("""
        100 10/11 shop:put_entry span_id=1 parent_span_id=0 key=a size=1 perf_thread_task_clock=1000 perf_thread_page_fault=5
        110 10/11 shop:enc_entry span_id=2 parent_span_id=1 data=x        perf_thread_task_clock=1008 perf_thread_page_fault=7
        120 10/11 sched_switch   prev_tid=11 next_tid=0 prev_state=1
        160 0/0   sched_switch   prev_tid=0 next_tid=11 prev_state=0
        170 10/11 shop:enc_exit  span_id=2 parent_span_id=1 ret=0 exc_type="" perf_thread_task_clock=1028 perf_thread_page_fault=10
        180 10/11 sched_switch   prev_tid=11 next_tid=22 prev_state=0
        190 20/22 sched_switch   prev_tid=22 next_tid=11 prev_state=1
        200 10/11 shop:put_exit  span_id=1 parent_span_id=0 ret=0 exc_type="" perf_thread_task_clock=1045 perf_thread_page_fault=10
    """)
    a = correlate.Analysis(t)
    assert_table(a.offcpu, """
        pid, tid, begin, end, duration, state,     span
        10,  11,  120,   160, 40,       blocked,   1
        10,  11,  180,   190, 10,       preempted, 0
    """)
    assert_table(correlate.latency_report(a, by="span"), """
        span, duration, self_ns, offcpu_ns, oncpu_ns, page_faults, total_self_ns, total_offcpu_ns, total_oncpu_ns, total_page_faults
        0,    100,      40,      10,        25,       2,           100,           50,              45,             5
        1,    60,       60,      40,        20,       3,           60,            40,              20,             3
    """)


def test_lost_switch_ins_end_at_the_threads_next_event(assert_table):
    # perf tracing one process (usdk record --track) records the task's switch-outs only:
    # the thread was back on a CPU by its next event of any kind, or its next switch-out
    t = synth.parse("""
        100 10/11 shop:nap_entry span_id=1 parent_span_id=0
        110 10/11 sched_switch   prev_tid=11 next_tid=30 prev_state=1
        150 10/11 syscall_exit_clock_nanosleep ret=0
        160 10/11 shop:nap_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
        170 10/11 sched_switch   prev_tid=11 next_tid=30 prev_state=0
        195 10/11 sched_switch   prev_tid=11 next_tid=30 prev_state=1
        400 10/11 shop:nap_entry span_id=2 parent_span_id=0
        500 10/11 shop:nap_exit  span_id=2 parent_span_id=0 ret=0 exc_type=""
    """)
    a = correlate.Analysis(t)
    assert_table(a.offcpu, """
        pid, tid, begin, end, duration, state,     span, inferred
        10,  11,  110,   150, 40,       blocked,   0,    True
        10,  11,  170,   195, 25,       preempted, -1,   True
        10,  11,  195,   400, 205,      blocked,   -1,   True
    """)
    assert any(n.startswith("3 off-CPU interval(s) end at their thread's next recorded event")
               for n in a.notes)
    assert_table(correlate.latency_report(a, by="span")[["span", "offcpu_ns", "oncpu_ns"]], """
        span, offcpu_ns, oncpu_ns
        0,    40,        20
        1,    0,         100
    """)


def test_clock_note_only_when_syscalls_ran_between_spans_yet_none_inside():
    quiet = synth.parse("""
        50  10/11 syscall_entry_read fd=3 count=1
        60  10/11 syscall_exit_read  ret=1
        100 10/11 shop:nap_entry span_id=1 parent_span_id=0
        200 10/11 shop:nap_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
        300 10/11 shop:nap_entry span_id=2 parent_span_id=0
        400 10/11 shop:nap_exit  span_id=2 parent_span_id=0 ret=0 exc_type=""
        450 10/11 syscall_entry_close fd=3
        460 10/11 syscall_exit_close  ret=0
    """)
    assert not any("clock offset" in n for n in correlate.Analysis(quiet).notes)
    between = synth.parse("""
        100 10/11 shop:nap_entry span_id=1 parent_span_id=0
        200 10/11 shop:nap_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
        250 10/11 syscall_entry_read fd=3 count=1
        260 10/11 syscall_exit_read  ret=1
        300 10/11 shop:nap_entry span_id=2 parent_span_id=0
        400 10/11 shop:nap_exit  span_id=2 parent_span_id=0 ret=0 exc_type=""
    """)
    assert any("clock offset" in n for n in correlate.Analysis(between).notes)
