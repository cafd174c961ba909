# ruff: noqa: E501, W291 - inline CSV tables are wide
"""Diff tests of ext4 write attribution, asynchronous writeback and the per-op reports."""

from __future__ import annotations

import pytest

import correlate
from correlate import synth

pytestmark = pytest.mark.unit

# Two puts dirty inode 42 (3 pages and 1 page) and a span-less thread dirties inode 42
# too; a kworker writes 5 pages of inode 42 back later, and 2 pages of inode 99 that
# nobody dirtied in the trace. put 2 also fsyncs inode 7, written back inside the fsync.
WRITES = """
    100 10/11 shop:put_entry       span_id=1 parent_span_id=0 key=a size=12288
    101 10/11 syscall_entry_write  fd=3 count=12288
    102 10/11 ext4_da_write_begin  dev=8 ino=42 pos=0 len=4096
    103 10/11 ext4_da_write_begin  dev=8 ino=42 pos=4096 len=4096
    104 10/11 ext4_da_write_begin  dev=8 ino=42 pos=8192 len=4096
    105 10/11 syscall_exit_write   ret=12288
    110 10/11 shop:put_exit        span_id=1 parent_span_id=0 ret=0 exc_type=""
    200 10/12 shop:put_entry       span_id=2 parent_span_id=0 key=b size=4096
    201 10/12 syscall_entry_pwrite64 fd=4 count=4096 pos=12288
    202 10/12 ext4_da_write_begin  dev=8 ino=42 pos=12288 len=4096
    203 10/12 syscall_exit_pwrite64 ret=4096
    204 10/12 syscall_entry_write  fd=5 count=100
    205 10/12 ext4_da_write_begin  dev=8 ino=7 pos=0 len=100
    206 10/12 syscall_exit_write   ret=100
    207 10/12 syscall_entry_fsync  fd=5
    208 10/12 ext4_sync_file_enter dev=8 ino=7 parent=2 datasync=0
    209 10/12 ext4_writepages_result dev=8 ino=7 ret=0 pages_written=1 pages_skipped=0
    230 10/12 ext4_sync_file_exit  dev=8 ino=7 ret=0
    231 10/12 syscall_exit_fsync   ret=0
    240 10/12 shop:put_exit        span_id=2 parent_span_id=0 ret=0 exc_type=""
    300 10/13 ext4_da_write_begin  dev=8 ino=42 pos=16384 len=4096
    900 3/3   ext4_writepages_result dev=8 ino=42 ret=0 pages_written=5 pages_skipped=0 procname=kworker/u4:1
    901 3/3   ext4_writepages_result dev=8 ino=99 ret=0 pages_written=2 pages_skipped=0 procname=kworker/u4:1
    950 10/11 ext4_da_write_begin  dev=8 ino=42 pos=0 len=4096
"""


def test_ext4_writes_fsync_and_writeback_attributed_back_to_the_dirtying_spans(assert_table):
    a = correlate.Analysis(synth.parse(WRITES))
    assert_table(correlate.attribute_table(a, by="span"), """
        span, op,       count, write_syscalls, write_bytes, write_bytes_asked, ext4_write_begin, ext4_bytes, fsyncs, fsync_ns, writeback_bytes
        0,    shop:put, 1,     1,              12288,       12288,             3,                12288,      0,      0,        12288
        1,    shop:put, 1,     2,              4196,        4196,              2,                4196,       1,      22,       8192
    """)
    assert_table(correlate.attribute_table(a), """
        op,        count, write_syscalls, write_bytes, ext4_write_begin, ext4_bytes, fsyncs, fsync_ns, writeback_bytes, total_writeback_bytes
        shop:put,  2,     3,              16484,       5,                16484,      1,      22,       20480,           20480
        (no span), 0,     ,               ,            2,                8192,       ,       ,         4096,            4096
    """)
    wb = a.writeback
    assert_table(wb.events, """
        timestamp, tid, procname,     ino, bytes, attributed, unattributed
        209,       12,  p10,          7,   4096,  4096,       0
        900,       3,   kworker/u4:1, 42,  20480, 20480,      0
        901,       3,   kworker/u4:1, 99,  8192,  0,          8192
    """)
    assert wb.unattributed_bytes == 8192
    assert wb.pending_bytes == 4096
    assert any("8192 writeback bytes" in n and "unattributed" in n for n in a.notes)
    assert any("4096 bytes dirtied but not written back" in n for n in a.notes)


def test_latency_report_per_op_with_percentiles_and_per_syscall_breakdown(assert_table):
    lines = []
    # five gets of 10, 20, 30, 40, 100 ns, each doing one read of half their duration
    for i, d in enumerate((10, 20, 30, 40, 100)):
        t0 = 1000 * (i + 1)
        lines += [
            f"{t0} 10/11 shop:get_entry span_id={i + 1} parent_span_id=0 key=k",
            f"{t0 + 1} 10/11 syscall_entry_read fd=3 count=10",
            f"{t0 + 1 + d // 2} 10/11 syscall_exit_read ret=10",
            f"{t0 + d} 10/11 shop:get_exit span_id={i + 1} parent_span_id=0 ret=1 exc_type=\"\"",
        ]
    lines.append("9000 10/11 shop:put_entry span_id=9 parent_span_id=0 key=k size=1")
    a = correlate.Analysis(synth.parse("\n".join(lines)))
    assert_table(correlate.latency_report(a), """
        op,       count, open, mean_ns, p50_ns, p90_ns, p99_ns, max_ns, syscalls, syscall_ns, offcpu_ns, oncpu_ns, write_bytes, lower_bound
        shop:get, 5,     0,    40,      30,     76,     98,     100,    5,        100,        ,          ,         0,           False
        shop:put, 0,     1,    ,        ,       ,       ,       ,       0,        0,          ,          ,         0,           False
    """)
    assert_table(correlate.syscall_breakdown(a, by="op"), """
        op,       syscall, count, errors, total_ns, mean_ns, max_ns
        shop:get, read,    5,     0,      100,      20,      50
    """)
    filtered = correlate.latency_report(a, ops=["shop:g*"])
    assert filtered["op"].tolist() == ["shop:get"]


def test_kernel_only_trace_gets_the_per_process_report(assert_table):
    t = synth.parse("""
        100 10/11 syscall_entry_write  fd=3 count=4096 procname=db
        101 10/11 ext4_da_write_begin  dev=8 ino=42 pos=0 len=4096 procname=db
        102 10/11 ext4_da_write_end    dev=8 ino=42 pos=0 len=4096 copied=4096 procname=db
        110 10/11 syscall_exit_write   ret=4096 procname=db
        120 10/12 syscall_entry_fsync  fd=3 procname=db
        121 10/12 ext4_sync_file_enter dev=8 ino=42 parent=2 datasync=0 procname=db
        150 10/12 ext4_sync_file_exit  dev=8 ino=42 ret=0 procname=db
        151 10/12 syscall_exit_fsync   ret=0 procname=db
        160 20/20 syscall_entry_read   fd=0 count=1 procname=sh
        170 20/20 syscall_exit_read    ret=1 procname=sh
    """)
    a = correlate.Analysis(t)
    assert not a.has_spans
    assert any("no usdk span events" in n for n in a.notes)
    assert_table(correlate.process_table(a), """
        pid, procname, syscalls, syscall_ns, write_syscalls, write_bytes, ext4_events, ext4_write_begin, ext4_bytes, fsync_ns, ext4:ext4_da_write_begin, ext4:ext4_da_write_end, ext4:ext4_sync_file_enter, ext4:ext4_sync_file_exit
        10,  db,       2,        41,         1,              4096,        4,           1,                4096,       29,       1,                        1,                      1,                         1
        20,  sh,       1,        10,         0,              0,           0,           0,                0,          0,        0,                        0,                      0,                         0
    """)
    assert_table(correlate.syscall_breakdown(a, by="process"), """
        pid, procname, syscall, count, errors, total_ns, mean_ns, max_ns
        10,  db,       fsync,   1,     0,      31,       31,      31
        10,  db,       write,   1,     0,      10,       10,      10
        20,  sh,       read,    1,     0,      10,       10,      10
    """)


def test_ust_only_trace_gets_spans_and_a_note():
    a = correlate.Analysis(synth.parse("""
        100 10/11 shop:put_entry span_id=1 parent_span_id=0 key=a size=1
        200 10/11 shop:put_exit  span_id=1 parent_span_id=0 ret=0 exc_type=""
    """))
    rep = correlate.latency_report(a)
    assert rep[["op", "count", "max_ns", "syscalls"]].values.tolist() == [["shop:put", 1, 100, 0]]
    assert any("no kernel events" in n for n in a.notes)


def test_truncated_or_freed_inodes_end_the_writeback_epoch(assert_table):
    # pid 30 dirties inode 5 and deletes the file (ext4_free_inode); the inode number is
    # reused by the put's new file, which fsyncs 1 page: all of it is the put's.
    a = correlate.Analysis(synth.parse("""
        100 30/30 ext4_da_write_begin  dev=8 ino=5 pos=0 len=8192
        110 30/30 ext4_free_inode      dev=8 ino=5 uid=0 gid=0 blocks=0 mode=0
        200 10/11 shop:put_entry       span_id=1 parent_span_id=0 key=a size=4096
        201 10/11 ext4_da_write_begin  dev=8 ino=5 pos=0 len=4096
        202 10/11 ext4_writepages_result dev=8 ino=5 ret=0 pages_written=1 pages_skipped=0
        210 10/11 shop:put_exit        span_id=1 parent_span_id=0 ret=0 exc_type=""
    """))
    assert_table(correlate.attribute_table(a), """
        op,        ext4_bytes, writeback_bytes
        shop:put,  4096,       4096
        (no span), 8192,       0
    """)
    assert a.writeback.pending_bytes == 0


def test_html_report_is_self_contained_and_survives_syscalls_without_entry():
    from correlate import html

    a = correlate.Analysis(synth.parse("""
        90  10/11 syscall_exit_write  ret=1
        100 10/11 shop:put_entry      span_id=1 parent_span_id=0 key=a size=1
        110 10/11 syscall_entry_write fd=3 count=1
        111 10/11 syscall_exit_write  ret=1
        200 10/11 shop:put_exit       span_id=1 parent_span_id=0 ret=0 exc_type=""
    """))
    page = html.render(a)
    assert page.count("<svg") >= 3  # histogram, stacked breakdown, timeline
    assert "<title>write 1 ns ret=1</title>" in page
    assert "<script" not in page and "http" not in page.split("<body>")[1]


def test_files_are_named_by_inode_where_no_syscall_names_them(assert_table):
    # perf records openat's filename as a pointer: ext4 writes name files by (dev, ino)
    # only, and the recording's inodes.tsv maps them to paths; ino 7 stays unnamed
    import pandas as pd

    base = synth.parse(WRITES)
    known = pd.DataFrame({"dev": [8, 9], "ino": [42, 7], "path": ["/srv/k42", "/other/dev"]})
    a = correlate.Analysis(synth.Trace({n: base.table(n) for n in base.classes},
                                       inode_paths=known))
    assert_table(correlate.attribute_table(a, by="span")[["span", "files"]], """
        span, files
        0,    /srv/k42
        1,    /srv/k42;ino:7
    """)


def test_text_view_names_files_under_their_common_directory():
    from usdk.cli.correlating import short_files

    cells, common = short_files(["/srv/db/a;/srv/db/b", None, "/srv/db/c", ""])
    assert (cells, common) == (["a;b", "", "c", ""], "/srv/db")
    many = ";".join(f"/srv/db/segment-{i:04d}.log" for i in range(9))
    cells, common = short_files([many, "/srv/x"], width=48)
    assert common == "/srv"
    assert cells[0] == "db/segment-0000.log;db/segment-0001.log;… (+7)"
    assert short_files(["/only/one/file"]) == (["/only/one/file"], "")
    long = "/d/" + "x" * 60
    assert short_files([long, "/d/y"]) == (["x" * 60, "y"], "/d")
