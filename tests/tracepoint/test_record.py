"""Real Python apps recorded by a real lttng-sessiond, read back with bt2: every field's name,
type and value, span nesting across threads and asyncio tasks, fork and multiprocessing,
late definitions and the untyped built-in provider."""

from __future__ import annotations

import sys
from pathlib import Path

import bt2
import pytest

from .conftest import last_json, of, record_app

pytestmark = pytest.mark.integration

I64 = (-(2**63), 2**63 - 1)


def int_class(field: object, signed: bool, bits: int) -> None:
    cls = field.cls  # type: ignore[attr-defined]
    expected = bt2._SignedIntegerFieldClassConst if signed else bt2._UnsignedIntegerFieldClassConst
    assert type(cls) is expected, type(cls)
    assert cls.field_value_range == bits


ALL_TYPES_APP = """
    import enum, json, os, threading
    import usdk

    class Color(enum.Enum):
        RED = 1
        GREEN = 2

    class Mode(enum.Enum):
        READ = "r"
        WRITE = "w"

    p = usdk.Provider("rec_all")

    @p.tracepoint
    def op(i: int, f: float, b: bool, s: str, y: bytes, c: Color, m: Mode) -> Color:
        return Color.RED

    miss = p.event("miss", key=str, size=int, ok=bool, ratio=float, raw=bytes, c=Color)

    class Boom(Exception):
        pass

    @p.tracepoint
    def fails(n: int) -> int:
        raise Boom

    op(-(2**63), -1.25, True, "caf\\u00e9 \\u2603", b"\\x00\\x01\\xff", Color.GREEN, Mode.WRITE)
    op(2**70, float("inf"), 0, "nul\\x00 lone\\udc80", "str", 7, "nope")    # coerced
    miss(key="k", size=2**63 - 1, ok=False, ratio=0.5, raw=b"", c=Color.RED)
    with p.tracepoint(name="block"):
        pass
    try:
        fails(3)
    except Boom:
        pass
    print(json.dumps({"pid": os.getpid(), "tid": threading.get_native_id()}))
"""


def test_every_field_type_is_recorded(lttng_session: tuple[str, Path], tmp_path: Path) -> None:
    proc, events = record_app(lttng_session, tmp_path, ALL_TYPES_APP, patterns=["rec_all:*"])
    info = last_json(proc)
    assert [e.name for e in events] == [
        "rec_all:op_entry", "rec_all:op_exit", "rec_all:op_entry", "rec_all:op_exit",
        "rec_all:miss", "rec_all:block_entry", "rec_all:block_exit",
        "rec_all:fails_entry", "rec_all:fails_exit",
    ]
    for e in events:
        assert e.context == {"vpid": info["pid"], "vtid": info["tid"],
                             "procname": Path(sys.executable).name[:15]}

    entry = events[0]
    assert list(entry.fields) == ["span_id", "parent_span_id", "i", "f", "b", "s", "_y_length",
                                  "y", "c", "m"]
    for name in ("span_id", "parent_span_id", "i"):
        int_class(entry.fields[name], signed=True, bits=64)
    assert type(entry.fields["f"]) is bt2._DoublePrecisionRealFieldConst
    int_class(entry.fields["b"], signed=False, bits=8)
    assert type(entry.fields["s"]) is bt2._StringFieldConst
    y = entry.fields["y"]
    assert type(y) is bt2._DynamicArrayFieldConst
    assert type(y.cls.element_field_class) is bt2._UnsignedIntegerFieldClassConst
    assert y.cls.element_field_class.field_value_range == 8
    for name in ("c", "m"):
        assert type(entry.fields[name]) is bt2._SignedEnumerationFieldConst
        assert entry.fields[name].cls.field_value_range == 64
    assert sorted((label, [(r.lower, r.upper) for r in m.ranges])
                  for label, m in entry.fields["c"].cls.items()) == [
        ("GREEN", [(2, 2)]), ("RED", [(1, 1)])]
    assert sorted(label for label, _ in entry.fields["m"].cls.items()) == ["READ", "WRITE"]
    sid = entry.value("span_id")
    assert sid > 0
    assert entry.values() == {
        "span_id": sid, "parent_span_id": 0, "i": I64[0], "f": -1.25, "b": 1,
        "s": "caf\u00e9 \u2603", "_y_length": 3, "y": b"\x00\x01\xff",
        "c": (2, ["GREEN"]), "m": (1, ["WRITE"]),
    }
    exit_ = events[1]
    assert list(exit_.fields) == ["span_id", "parent_span_id", "ret", "exc_type"]
    assert type(exit_.fields["ret"]) is bt2._SignedEnumerationFieldConst
    assert exit_.values() == {"span_id": sid, "parent_span_id": 0, "ret": (1, ["RED"]),
                              "exc_type": ""}

    # the coerced call: values as documented in usdk.coerce
    coerced = events[2].values()
    sid2 = coerced["span_id"]
    assert sid2 != sid
    assert coerced == {
        "span_id": sid2, "parent_span_id": 0, "i": I64[1], "f": float("inf"), "b": 0,
        "s": "nul\ufffd lone\ufffd", "_y_length": 3, "y": b"str", "c": (7, []), "m": (-1, []),
    }
    assert events[3].values() == {"span_id": sid2, "parent_span_id": 0, "ret": (1, ["RED"]),
                                  "exc_type": ""}

    miss = events[4]
    assert list(miss.fields) == ["key", "size", "ok", "ratio", "_raw_length", "raw", "c"]
    assert type(miss.fields["key"]) is bt2._StringFieldConst
    int_class(miss.fields["size"], signed=True, bits=64)
    int_class(miss.fields["ok"], signed=False, bits=8)
    assert type(miss.fields["ratio"]) is bt2._DoublePrecisionRealFieldConst
    assert type(miss.fields["raw"]) is bt2._DynamicArrayFieldConst
    assert type(miss.fields["c"]) is bt2._SignedEnumerationFieldConst
    assert miss.values() == {"key": "k", "size": I64[1], "ok": 0, "ratio": 0.5,
                             "_raw_length": 0, "raw": b"", "c": (1, ["RED"])}

    b_entry, b_exit = events[5], events[6]
    bsid = b_entry.value("span_id")
    assert b_entry.values() == {"span_id": bsid, "parent_span_id": 0}
    assert b_exit.values() == {"span_id": bsid, "parent_span_id": 0, "exc_type": ""}

    f_entry, f_exit = events[7], events[8]
    fsid = f_entry.value("span_id")
    assert f_entry.values() == {"span_id": fsid, "parent_span_id": 0, "n": 3}
    assert f_exit.values() == {"span_id": fsid, "parent_span_id": 0, "ret": 0,
                               "exc_type": "__main__.Boom"}
    assert len({sid, sid2, bsid, fsid}) == 4


THREADS_APP = """
    import json, os, threading
    import usdk

    p = usdk.Provider("rec_thr")
    barrier = threading.Barrier(4)

    @p.tracepoint
    def leaf(t: int, depth: int) -> int:
        if depth == 0:
            barrier.wait(10)  # all threads are two spans deep at the same time
            return 0
        return leaf(t, depth - 1) + 1

    @p.tracepoint
    def root(t: int) -> int:
        return leaf(t, 1)

    tids = {}

    def run(t):
        tids[t] = threading.get_native_id()
        root(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(json.dumps({"pid": os.getpid(), "tids": tids}))
"""


def test_nesting_across_threads(lttng_session: tuple[str, Path], tmp_path: Path) -> None:
    proc, events = record_app(lttng_session, tmp_path, THREADS_APP, patterns=["rec_thr:*"])
    info = last_json(proc)
    tids = {int(t): tid for t, tid in info["tids"].items()}
    assert len(events) == 4 * 3 * 2
    assert all(e.context["vpid"] == info["pid"] for e in events)
    ids = [e.value("span_id") for e in events if e.name.endswith("_entry")]
    assert len(ids) == len(set(ids)) == 12
    for t, tid in tids.items():
        mine = [e for e in events if e.context["vtid"] == tid]
        assert [e.name for e in mine] == [
            "rec_thr:root_entry", "rec_thr:leaf_entry", "rec_thr:leaf_entry",
            "rec_thr:leaf_exit", "rec_thr:leaf_exit", "rec_thr:root_exit"]
        root, leaf1, leaf0 = mine[0], mine[1], mine[2]
        assert root.values() == {"span_id": root.value("span_id"), "parent_span_id": 0, "t": t}
        assert leaf1.values() == {"span_id": leaf1.value("span_id"),
                                  "parent_span_id": root.value("span_id"), "t": t, "depth": 1}
        assert leaf0.values() == {"span_id": leaf0.value("span_id"),
                                  "parent_span_id": leaf1.value("span_id"), "t": t, "depth": 0}
        assert mine[3].values() == {"span_id": leaf0.value("span_id"),
                                    "parent_span_id": leaf1.value("span_id"), "ret": 0,
                                    "exc_type": ""}
        assert mine[5].values() == {"span_id": root.value("span_id"), "parent_span_id": 0,
                                    "ret": 1, "exc_type": ""}


ASYNC_APP = """
    import asyncio, json, os
    import usdk

    p = usdk.Provider("rec_aio")

    @p.tracepoint
    async def child(k: int, n: int) -> int:
        await asyncio.sleep(0.002 * (3 - k))
        return k * 10 + n

    @p.tracepoint
    async def parent(k: int) -> int:
        await asyncio.sleep(0)
        a, b = await asyncio.gather(child(k, 0), child(k, 1))
        return a + b

    async def main():
        return await asyncio.gather(parent(0), parent(1), parent(2))

    print(json.dumps({"pid": os.getpid(), "ret": asyncio.run(main())}))
"""


def test_nesting_across_asyncio_tasks(lttng_session: tuple[str, Path], tmp_path: Path) -> None:
    proc, events = record_app(lttng_session, tmp_path, ASYNC_APP,
                              patterns=["rec_aio:*", "usdk:span_suspend", "usdk:span_resume"])
    info = last_json(proc)
    assert info["ret"] == [1, 21, 41]
    parents = {e.value("k"): e for e in of(events, "rec_aio:parent_entry")}
    children = of(events, "rec_aio:child_entry")
    assert sorted(parents) == [0, 1, 2]
    assert sorted((c.value("k"), c.value("n")) for c in children) == [
        (k, n) for k in range(3) for n in range(2)]
    for p in parents.values():
        assert p.value("parent_span_id") == 0
    for c in children:
        assert c.value("parent_span_id") == parents[c.value("k")].value("span_id")
    # tasks interleave: some child entry comes before another parent's entry... and each
    # child's exit names its own parent and return value
    for e in of(events, "rec_aio:child_exit"):
        entry = next(c for c in children if c.value("span_id") == e.value("span_id"))
        assert e.values() == {"span_id": entry.value("span_id"),
                              "parent_span_id": entry.value("parent_span_id"),
                              "ret": entry.value("k") * 10 + entry.value("n"), "exc_type": ""}
    names = [e.name for e in events]
    assert names.index("rec_aio:parent_entry") < names.index("rec_aio:child_entry")
    first_exit = names.index("rec_aio:child_exit")
    assert names[:first_exit].count("rec_aio:parent_entry") == 3  # concurrent, not sequential
    # suspend / resume pairs, one chain per span
    spans = {e.value("span_id") for e in events if e.name.endswith("_entry")}
    assert len(spans) == 9
    for sid in spans:
        marks = [e.name for e in events if e.name.startswith("usdk:span_")
                 and e.value("span_id") == sid]
        assert marks and len(marks) % 2 == 0
        assert marks == ["usdk:span_suspend", "usdk:span_resume"] * (len(marks) // 2)
        for e in events:
            if e.name.startswith("usdk:span_") and e.value("span_id") == sid:
                assert list(e.fields) == ["span_id"]
                int_class(e.fields["span_id"], signed=True, bits=64)


FORK_APP = """
    import json, multiprocessing, os, sys
    import usdk

    p = usdk.Provider("rec_fork")

    @p.tracepoint
    def work(who: str, pid: int) -> int:
        return pid

    def in_child(tag):
        work(tag, os.getpid())

    work("parent-before", os.getpid())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        work("forked", os.getpid())
        os.write(w, b"x")
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    assert os.waitpid(pid, 0)[1] == 0
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=in_child, args=("mp",))
    proc.start()
    proc.join()
    assert proc.exitcode == 0
    with ctx.Pool(2) as pool:
        pool.map(in_child, ["pool"] * 4)
    work("parent-after", os.getpid())
    print(json.dumps({"pid": os.getpid(), "fork": pid, "mp": proc.pid}))
"""


def test_fork_and_multiprocessing(lttng_session: tuple[str, Path], tmp_path: Path) -> None:
    proc, events = record_app(lttng_session, tmp_path, FORK_APP, patterns=["rec_fork:*"])
    info = last_json(proc)
    entries = of(events, "rec_fork:work_entry")
    by_who: dict[str, list] = {}
    for e in entries:
        by_who.setdefault(e.value("who"), []).append(e)
    assert sorted((k, len(v)) for k, v in by_who.items()) == [
        ("forked", 1), ("mp", 1), ("parent-after", 1), ("parent-before", 1), ("pool", 4)]
    # every event carries the vpid of the process that emitted it (the pid it recorded)
    for e in events:
        assert e.context["vpid"] == (e.value("pid") if e.name.endswith("_entry") else
                                     e.value("ret"))
    assert by_who["parent-before"][0].context["vpid"] == info["pid"]
    assert by_who["parent-after"][0].context["vpid"] == info["pid"]
    assert by_who["forked"][0].context["vpid"] == info["fork"] != info["pid"]
    assert by_who["mp"][0].context["vpid"] == info["mp"] != info["pid"]
    pool_pids = {e.context["vpid"] for e in by_who["pool"]}
    assert info["pid"] not in pool_pids and 1 <= len(pool_pids) <= 2
    assert len(of(events, "rec_fork:work_exit")) == 8


LATE_APP = """
    import json
    import usdk

    p = usdk.Provider("rec_late")
    early = p.event("early", n=int)
    assert p.load() is True
    early(1)

    late = p.event("late", s=str)         # after the provider loaded

    @p.tracepoint
    def late_span(x: float) -> bool:      # also after
        return True

    late(s="hello")
    late_span(0.5)
    early(2)
    print(json.dumps({"loaded": p.load()}))
"""


def test_late_definitions_are_recorded(lttng_session: tuple[str, Path], tmp_path: Path) -> None:
    proc, events = record_app(lttng_session, tmp_path, LATE_APP, patterns=["rec_late:*"])
    assert last_json(proc) == {"loaded": True}
    assert "UsdkWarning" not in proc.stderr
    assert [(e.name, e.values()) for e in events] == [
        ("rec_late:early", {"n": 1}),
        ("rec_late:late", {"s": "hello"}),
        ("rec_late:late_span_entry", {"span_id": events[2].value("span_id"),
                                      "parent_span_id": 0, "x": 0.5}),
        ("rec_late:late_span_exit", {"span_id": events[2].value("span_id"),
                                     "parent_span_id": 0, "ret": 1, "exc_type": ""}),
        ("rec_late:early", {"n": 2}),
    ]
    # two shared objects of the one provider were built in the app's cache
    built = list((tmp_path / "app-cache" / "providers").glob("_usdk_tp_rec_late_*/*.so"))
    assert len(built) == 2


UNTYPED_APP = """
    import json
    import usdk
    from usdk.tracepoint import event as untyped_event

    @usdk.tracepoint
    def add(a, b=0):
        return a + b

    @usdk.tracepoint(name="boom")
    def fails():
        raise LookupError("x")

    add(1, b=2)
    try:
        fails()
    except LookupError:
        pass
    with usdk.tracepoint(name="block"):
        untyped_event("note", k=1)
    print(json.dumps({}))
"""


def test_untyped_builtin_provider(lttng_session: tuple[str, Path], tmp_path: Path) -> None:
    env_tmp = tmp_path
    proc, events = record_app(lttng_session, env_tmp, UNTYPED_APP,
                              patterns=["usdk:span_entry", "usdk:span_exit", "usdk:event"])
    assert [e.name for e in events] == [
        "usdk:span_entry", "usdk:span_exit", "usdk:span_entry", "usdk:span_exit",
        "usdk:span_entry", "usdk:event", "usdk:span_exit"]
    e = events
    s0, s1, s2 = (e[i].value("span_id") for i in (0, 2, 4))
    assert len({s0, s1, s2}) == 3
    assert e[0].values() == {"span_id": s0, "parent_span_id": 0, "name": "__main__.add",
                             "args": "1, b=2"}
    assert e[1].values() == {"span_id": s0, "parent_span_id": 0, "name": "__main__.add",
                             "ret": "3", "exc_type": ""}
    assert e[3].values() == {"span_id": s1, "parent_span_id": 0, "name": "__main__.boom",
                             "ret": "", "exc_type": "LookupError"}
    assert e[4].values() == {"span_id": s2, "parent_span_id": 0, "name": "block", "args": ""}
    assert e[5].values() == {"parent_span_id": s2, "name": "note", "payload": "k=1"}
    for ev in e:
        for name in ("name",):
            assert type(ev.fields[name]) is bt2._StringFieldConst
        int_class(ev.fields["parent_span_id"], signed=True, bits=64)
    # no compiler needed for the built-in provider: nothing was built
    assert not (tmp_path / "app-cache" / "providers").exists()
