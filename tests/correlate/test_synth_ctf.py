# ruff: noqa: E501, W291 - inline CSV tables are wide
"""Round trip: a synthetic trace written as CTF by ``synth.write_ctf`` and read back by
``correlate.open`` correlates to the same tables as the in-memory trace."""

from __future__ import annotations

import pytest

import correlate
from correlate import synth

pytestmark = pytest.mark.unit

TRACE = """
    100 10/11 shop:put_entry        span_id=1 parent_span_id=0 key=a size=1 procname=app
    101 10/12 shop:get_entry        span_id=2 parent_span_id=0 key=bb procname=app cpu=1
    102 10/11 syscall_entry_write   fd=3 count=10 procname=app
    103 10/11 ext4_da_write_begin   dev=8 ino=42 pos=0 len=10 procname=app
    104 10/11 syscall_exit_write    ret=10 procname=app
    106 10/12 syscall_entry_read    fd=4 count=64 procname=app cpu=1
    107 10/12 syscall_exit_read     ret=64 procname=app cpu=1
    110 10/11 shop:put_exit         span_id=1 parent_span_id=0 ret=0 exc_type="" procname=app
    113 10/12 shop:get_exit         span_id=2 parent_span_id=0 ret=-1 exc_type=KeyError procname=app cpu=1
    150 77/77 ext4_writepages_result dev=8 ino=42 pages_written=1 procname=kworker cpu=1
"""


def test_write_ctf_reads_back_to_the_same_correlation(tmp_path, assert_table):
    mem = synth.parse(TRACE)
    dirs = synth.write_ctf(mem, tmp_path / "trace")
    assert [d.name for d in dirs] == ["kernel", "ust"]
    real = correlate.open(tmp_path / "trace", progress=False)
    assert {b.decoder for b in real.backends} == {"native"}
    assert len(real.events) == len(mem.events) == 10
    a = correlate.Analysis(real)
    assert_table(a.spans, """
        span, pid, tid, op,       begin, end, duration, status, ret, exc_type, arg_key, arg_size
        0,    10,  11,  shop:put, 100,   110, 10,       closed, 0,   ,         a,       1
        1,    10,  12,  shop:get, 101,   113, 12,       closed, -1,  KeyError, bb,      
    """)
    assert_table(a.syscalls, """
        pid, tid, procname, syscall, begin, end, duration, ret, fd, count, status, span
        10,  11,  app,      write,   102,   104, 2,        10,  3,  10,    closed, 0
        10,  12,  app,      read,    106,   107, 1,        64,  4,  64,    closed, 1
    """)
    assert_table(correlate.attribute_table(a), """
        op,       count, write_syscalls, write_bytes, ext4_write_begin, ext4_bytes, writeback_bytes, files
        shop:get, 1,     0,              0,           0,                0,          0,               
        shop:put, 1,     1,              10,          1,                10,         4096,            ino:42
    """)
    for name in ("spans", "syscalls"):
        left = getattr(correlate.Analysis(mem), name)
        assert left.astype(str).to_numpy().tolist() == getattr(a, name)[
            left.columns].astype(str).to_numpy().tolist()
