"""The native merge of time-ordered streams and the column gather, on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

fast = pytest.importorskip("correlate.read.fast")
from correlate.read.model import StreamSeq  # noqa: E402

pytestmark = pytest.mark.unit


def _merge(streams: list[tuple[list[int], list[list[int]]]]) -> object:
    """streams: (seq of local classes, timestamps per local class); class c -> table c."""
    seqs, part_of, ts, table, src = [], [], [], [], []
    rows: dict[int, int] = {}
    for k, (seq, per_class) in enumerate(streams):
        seqs.append(StreamSeq(k, np.asarray(seq, np.int32)))
        lut = []
        for c, t in enumerate(per_class):
            lut.append(len(ts))
            ts.append(np.asarray(t, np.int64))
            table.append(c)
            src.append(k)
            rows[c] = rows.get(c, 0) + len(t)
        part_of.append(np.asarray(lut, np.int32))
    return fast.merge(seqs, part_of, ts, np.asarray(table), np.asarray(src),
                      [rows[c] for c in sorted(rows)])


def test_merge_orders_by_time_then_stream() -> None:
    # stream 0: a@1 b@3 a@5 ; stream 1: a@1 b@2 b@5 a@9
    out = _merge([([0, 1, 0], [[1, 5], [3]]), ([0, 1, 1, 0], [[1, 9], [2, 5]])])
    assert out is not None
    name, rows_src = out
    # time order: a@1(s0) a@1(s1) b@2(s1) b@3(s0) a@5(s0) b@5(s1) a@9(s1)
    assert name.tolist() == [0, 0, 1, 1, 0, 1, 0]
    assert rows_src[0].tolist() == [0, 1, 0, 1]
    assert rows_src[1].tolist() == [1, 0, 1]


def test_merge_refuses_a_stream_out_of_time_order() -> None:
    assert _merge([([0, 0], [[5, 4]]), ([0], [[1]])]) is None


def test_merge_of_empty_streams() -> None:
    out = _merge([([], [[]]), ([0], [[7]])])
    assert out is not None and out[0].tolist() == [0]


def test_gather_takes_sources_in_order() -> None:
    a = np.asarray([10, 11, 12], np.int64)
    b = np.asarray([20, 21], np.int64)
    which = np.asarray([1, 0, 0, 1, 0], np.int32)
    assert fast.gather([a, b], which).tolist() == [20, 10, 11, 21, 12]
    assert fast.gather([a.astype(np.int8), b.astype(np.int8)], which).dtype == np.int8


def test_fuse_marks_runs_of_whole_byte_fields() -> None:
    from correlate.read import layout as lay

    i64 = lay.Op(lay.OP_INT, size=64, align=8)
    u32 = lay.Op(lay.OP_INT, size=32, align=8)
    f64 = lay.Op(lay.OP_FLOAT, size=64, align=8)
    bits = lay.Op(lay.OP_INT, size=5, align=1)
    clock = lay.Op(lay.OP_INT, size=27, align=1, clock=1)
    s = lay.Op(lay.OP_STRING)
    out = lay.fuse([lay.Op(lay.OP_ALIGN, align=8), i64, u32, f64, s, u32, bits, clock,
                    lay.Op(lay.OP_END)])
    kinds = [op.kind for op in out]
    assert kinds[:5] == [lay.OP_ALIGN, lay.OP_FIXED, lay.OP_INT, lay.OP_INT, lay.OP_FLOAT]
    assert out[1].count == 3 and out[1].size == 160
    assert lay.OP_FIXED not in kinds[5:]  # a lone field, bit fields and clocks stay as they are
    jumpy = [i64, u32, lay.Op(lay.OP_JUMP, target=3), lay.Op(lay.OP_END)]
    assert lay.fuse(jumpy) == jumpy
