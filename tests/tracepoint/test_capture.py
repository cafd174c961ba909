"""What @tracepoint, point events, context managers and the untyped built-in provider emit,
observed through usdk.testing.capture_events (no LTTng session needed)."""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import usdk
from usdk.testing import CapturedEvent, capture_events
from usdk.tracepoint import event as untyped_event

pytestmark = pytest.mark.unit


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class AppError(Exception):
    pass


def names(events: list[CapturedEvent]) -> list[str]:
    return [e.name for e in events]


def usdk_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, usdk.UsdkWarning)]


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        yield w


# --- spans ----------------------------------------------------------------------------------


def test_span_entry_and_exit_with_every_field_type(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def op(i: int, f: float, b: bool, s: str, y: bytes, c: Color, untyped, *rest, **kw) -> str:  # noqa: ANN001, ANN002, ANN003
        return f"{i}{s}"

    with capture_events() as events:
        ret = op(-3, 0.5, True, "k\u00e9y", b"\x00\x01", Color.GREEN, object(), 9, z=1)
        assert ret == "-3k\u00e9y"
    assert names(events) == [f"{provider_name}:op_entry", f"{provider_name}:op_exit"]
    entry, exit_ = events
    sid = entry["span_id"]
    assert sid > 0
    assert entry.fields == {"span_id": sid, "parent_span_id": 0, "i": -3, "f": 0.5, "b": True,
                            "s": "k\u00e9y", "y": b"\x00\x01", "c": "GREEN"}
    assert exit_.fields == {"span_id": sid, "parent_span_id": 0, "ret": "-3k\u00e9y",
                            "exc_type": ""}
    assert op.events == (f"{provider_name}:op_entry", f"{provider_name}:op_exit")
    assert [e.full_name for e in p.events] == list(op.events)


def test_keyword_and_default_arguments(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def op(a: int, b: str = "dflt", *, k: float = 1.5, req: bool) -> None:
        return None

    with capture_events() as events:
        op(1, req=False)
        op(a=2, b="x", k=3.0, req=True)
        op(3, "y", req=True, k=-1.0)
    got = [(e["a"], e["b"], e["k"], e["req"]) for e in events if e.name.endswith("_entry")]
    assert got == [(1, "dflt", 1.5, False), (2, "x", 3.0, True), (3, "y", -1.0, True)]
    # no return annotation (None): no ret field
    assert list(events[1].fields) == ["span_id", "parent_span_id", "exc_type"]


def test_return_field_only_when_annotated(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def unannotated(a: int):  # noqa: ANN202
        return a

    @p.tracepoint
    def floaty(a: int) -> float:
        return a / 2

    with capture_events() as events:
        unannotated(1)
        floaty(3)
    assert events[1].fields == {"span_id": events[0]["span_id"], "parent_span_id": 0,
                                "exc_type": ""}
    assert events[3]["ret"] == 1.5


def test_factory_forms_and_capture(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint()
    def plain(a: int) -> None: ...

    @p.tracepoint("renamed")
    def positional_name(a: int) -> None: ...

    @p.tracepoint(name="pay", capture=["amount"])
    def pay(card: str, amount: float) -> None: ...

    @p.tracepoint(capture=False)
    def nothing(a: int, b: str) -> None: ...

    with capture_events() as events:
        plain(1)
        positional_name(2)
        pay("4242", 9.5)
        nothing(3, "x")
    assert names(events) == [f"{provider_name}:{n}" for n in (
        "plain_entry", "plain_exit", "renamed_entry", "renamed_exit",
        "pay_entry", "pay_exit", "nothing_entry", "nothing_exit")]
    assert events[4].fields == {"span_id": events[4]["span_id"], "parent_span_id": 0,
                                "amount": 9.5}
    assert list(events[6].fields) == ["span_id", "parent_span_id"]


def test_nesting_and_unique_span_ids(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    seen: list[int] = []

    @p.tracepoint
    def inner(n: int) -> int:
        seen.append(usdk.current_span_id())
        return n

    @p.tracepoint
    def outer() -> int:
        seen.append(usdk.current_span_id())
        return inner(1) + inner(2)

    assert usdk.current_span_id() == 0
    with capture_events() as events:
        assert outer() == 3
        assert outer() == 3
    assert usdk.current_span_id() == 0
    assert len(events) == 12
    entries = [e for e in events if e.name.endswith("_entry")]
    ids = [e["span_id"] for e in entries]
    assert len(set(ids)) == 6 and ids == sorted(ids)
    for k in (0, 3):
        o, i1, i2 = entries[k:k + 3]
        assert o["parent_span_id"] == 0
        assert i1["parent_span_id"] == o["span_id"] and i2["parent_span_id"] == o["span_id"]
    assert seen == [entries[0]["span_id"], entries[1]["span_id"], entries[2]["span_id"],
                    entries[3]["span_id"], entries[4]["span_id"], entries[5]["span_id"]]
    # each exit repeats its entry's ids, innermost first
    exits = [e for e in events if e.name.endswith("_exit")]
    assert [(e["span_id"], e["parent_span_id"]) for e in exits] == [
        (entries[1]["span_id"], entries[0]["span_id"]),
        (entries[2]["span_id"], entries[0]["span_id"]),
        (entries[0]["span_id"], 0),
        (entries[4]["span_id"], entries[3]["span_id"]),
        (entries[5]["span_id"], entries[3]["span_id"]),
        (entries[3]["span_id"], 0),
    ]


@pytest.mark.parametrize(("exc", "expected"), [
    (KeyError("k"), "KeyError"),
    (AppError(), f"{__name__}.AppError"),
    (KeyboardInterrupt(), "KeyboardInterrupt"),
    (SystemExit(3), "SystemExit"),
])
def test_exception_exit(provider_name: str, exc: BaseException, expected: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def fails(a: int) -> Color:
        raise exc

    with capture_events() as events, pytest.raises(type(exc)) as info:
        fails(4)
    assert info.value is exc  # the app's exception, untouched
    entry, exit_ = events
    assert exit_.fields == {"span_id": entry["span_id"], "parent_span_id": 0,
                            "ret": -1, "exc_type": expected}


def test_exception_exit_zero_values_of_ret(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    rets = {}
    for key, annotation in {"i": int, "f": float, "b": bool, "s": str, "y": bytes}.items():
        def f() -> None:
            raise AppError

        f.__annotations__ = {"return": annotation}
        f.__name__ = f"fail_{key}"
        rets[key] = p.tracepoint(f)
    with capture_events() as events:
        for f in rets.values():
            with pytest.raises(AppError):
                f()
    exits = [e for e in events if e.name.endswith("_exit")]
    got = [e["ret"] for e in exits]
    assert got[0] == 0 and got[2] is False and got[3] == "" and got[4] == b""
    assert got[1] != got[1]  # NaN
    assert {e["exc_type"] for e in exits} == {f"{__name__}.AppError"}


def test_current_span_restored_after_exception(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def fails() -> None:
        raise AppError

    @p.tracepoint
    def outer() -> int:
        with pytest.raises(AppError):
            fails()
        return usdk.current_span_id()

    with capture_events() as events:
        assert outer() == events[0]["span_id"]
    assert usdk.current_span_id() == 0


# --- methods and function metadata ---------------------------------------------------------------


def test_method_decoration(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    class Store:
        def __init__(self) -> None:
            self.items: dict[str, int] = {}

        @p.tracepoint
        def put(self, key: str, size: int) -> int:
            self.items[key] = size
            return len(self.items)

        @staticmethod
        @p.tracepoint
        def helper(x: int) -> int:
            return x + 1

        @classmethod
        @p.tracepoint(name="make")
        def make(cls, n: int) -> Store:
            return cls()

    s = Store()
    with capture_events() as events:
        assert s.put("a", 3) == 1
        assert Store.put(s, "b", 4) == 2
        assert s.put(key="c", size=5) == 3
        assert Store.helper(1) == 2 and s.helper(2) == 3
        assert isinstance(Store.make(7), Store)
    assert s.items == {"a": 3, "b": 4, "c": 5}
    puts = [e for e in events if e.name == f"{provider_name}:put_entry"]
    assert [(e["key"], e["size"]) for e in puts] == [("a", 3), ("b", 4), ("c", 5)]
    assert list(puts[0].fields) == ["span_id", "parent_span_id", "key", "size"]  # no self
    assert [e["x"] for e in events if e.name.endswith("helper_entry")] == [1, 2]
    assert [e["n"] for e in events if e.name.endswith("make_entry")] == [7]
    assert s.put.__self__ is s  # a real bound method


def test_functools_metadata(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    def checkout(cart_id: int, total: float = 0.0) -> bool:
        """Check a cart out."""
        return True

    traced = p.tracepoint(checkout)
    assert traced.__name__ == "checkout"
    assert traced.__qualname__ == checkout.__qualname__
    assert traced.__doc__ == "Check a cart out."
    assert traced.__module__ == __name__
    assert traced.__wrapped__ is checkout
    assert inspect.signature(traced) == inspect.signature(checkout)
    assert traced(1) is True

    async def coro() -> None:
        """Async doc."""

    traced_coro = p.tracepoint(coro)
    assert traced_coro.__wrapped__ is coro and traced_coro.__doc__ == "Async doc."
    assert inspect.iscoroutinefunction(inspect.unwrap(traced_coro))


def test_generator_function_warns_once_at_decoration(provider_name: str, caught: list) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def gen(n: int):  # noqa: ANN202
        yield from range(n)

    msgs = usdk_warnings(caught)
    assert len(msgs) == 1
    assert "generator" in msgs[0] and f"{provider_name}:gen" in msgs[0]
    with capture_events() as events:
        assert list(gen(3)) == [0, 1, 2]
    assert names(events) == [f"{provider_name}:gen_entry", f"{provider_name}:gen_exit"]
    assert events[0]["n"] == 3
    assert len(usdk_warnings(caught)) == 1  # none at call time


def test_unsupported_annotation_left_out_with_one_warning(provider_name: str, caught: list) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def op(a: int, items: list[int], b: str) -> None:
        return None

    msgs = usdk_warnings(caught)
    assert len(msgs) == 1
    assert f"{provider_name}:op" in msgs[0] and "'items'" in msgs[0]
    with capture_events() as events:
        op(1, [1, 2], "x")
        op(2, [], "y")
    assert list(events[0].fields) == ["span_id", "parent_span_id", "a", "b"]
    assert len(usdk_warnings(caught)) == 1  # still one: none at call time


def test_unsupported_return_annotation_left_out_with_one_warning(provider_name: str,
                                                                  caught: list) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def op(a: int) -> dict[str, int]:
        return {"a": a}

    msgs = usdk_warnings(caught)
    assert len(msgs) == 1 and "return value" in msgs[0]
    with capture_events() as events:
        assert op(1) == {"a": 1}
    assert list(events[1].fields) == ["span_id", "parent_span_id", "exc_type"]


def test_several_unsupported_annotations_one_warning(provider_name: str, caught: list) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def op(a: list, b: set, c: int) -> dict:  # type: ignore[type-arg]
        return {}

    assert len(usdk_warnings(caught)) == 1


def test_string_annotations(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    ns: dict[str, Any] = {"p": p}
    exec("from __future__ import annotations\n"
         "@p.tracepoint\n"
         "def op(a: int, b: str) -> bool:\n"
         "    return True\n", ns)
    with capture_events() as events:
        ns["op"](1, "s")
    assert events[0].fields == {"span_id": events[0]["span_id"], "parent_span_id": 0,
                                "a": 1, "b": "s"}
    assert events[1]["ret"] is True


# --- context managers ----------------------------------------------------------------------------


def test_context_manager_span(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    flush = p.tracepoint(name="flush")

    @p.tracepoint
    def work() -> None:
        with flush, flush:  # the same object, re-entered: two nested spans
            pass

    with capture_events() as events:
        work()
        with pytest.raises(AppError), flush:
            raise AppError
    assert names(events) == [f"{provider_name}:{n}" for n in (
        "work_entry", "flush_entry", "flush_entry", "flush_exit", "flush_exit", "work_exit",
        "flush_entry", "flush_exit")]
    w, f1, f2 = events[0], events[1], events[2]
    assert f1.fields == {"span_id": f1["span_id"], "parent_span_id": w["span_id"]}
    assert f2["parent_span_id"] == f1["span_id"]
    assert events[3].fields == {"span_id": f2["span_id"], "parent_span_id": f1["span_id"],
                                "exc_type": ""}
    assert events[4].fields == {"span_id": f1["span_id"], "parent_span_id": w["span_id"],
                                "exc_type": ""}
    assert events[7].fields == {"span_id": events[6]["span_id"], "parent_span_id": 0,
                                "exc_type": f"{__name__}.AppError"}


def test_context_managers_of_one_name_share_events(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    with capture_events() as events:
        with p.tracepoint(name="blk"):
            pass
        with p.tracepoint(name="blk"):  # a second object, same name: no duplicate error
            pass
    assert names(events) == [f"{provider_name}:blk_entry", f"{provider_name}:blk_exit"] * 2


def test_async_context_manager(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    async def main() -> int:
        async with p.tracepoint(name="io"):
            await asyncio.sleep(0)
            return usdk.current_span_id()

    with capture_events() as events:
        sid = asyncio.run(main())
    assert names(events) == [f"{provider_name}:io_entry", f"{provider_name}:io_exit"]
    assert events[0]["span_id"] == sid == events[1]["span_id"]


# --- async functions ---------------------------------------------------------------------


def test_async_span_exit_fires_when_the_coroutine_finishes(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    order: list[str] = []

    @p.tracepoint
    async def fetch(key: str) -> int:
        order.append("body")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return len(key)

    async def main() -> int:
        coro = fetch("abcd")
        order.append(f"created:{len(events)}")  # nothing emitted by creating the coroutine
        return await coro

    with capture_events() as events:
        assert asyncio.run(main()) == 4
    assert order == ["created:0", "body"]
    sid = events[0]["span_id"]
    assert [(e.name, e.fields) for e in events] == [
        (f"{provider_name}:fetch_entry", {"span_id": sid, "parent_span_id": 0, "key": "abcd"}),
        ("usdk:span_suspend", {"span_id": sid}),
        ("usdk:span_resume", {"span_id": sid}),
        ("usdk:span_suspend", {"span_id": sid}),
        ("usdk:span_resume", {"span_id": sid}),
        (f"{provider_name}:fetch_exit", {"span_id": sid, "parent_span_id": 0, "ret": 4,
                                         "exc_type": ""}),
    ]


def test_async_exception_and_cancellation(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    async def fails() -> int:
        await asyncio.sleep(0)
        raise AppError

    @p.tracepoint
    async def sleeper() -> None:
        await asyncio.sleep(60)

    async def main() -> None:
        with pytest.raises(AppError):
            await fails()
        task = asyncio.ensure_future(sleeper())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_events() as events:
        asyncio.run(main())
    exits = {e.name.split(":")[1]: e for e in events if e.name.endswith("_exit")}
    assert exits["fails_exit"]["exc_type"] == f"{__name__}.AppError"
    assert exits["fails_exit"]["ret"] == 0
    assert exits["sleeper_exit"]["exc_type"] == "asyncio.exceptions.CancelledError"


def test_concurrent_tasks_have_their_own_parents(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    async def child(k: int) -> None:
        await asyncio.sleep(0.001 * (3 - k))

    @p.tracepoint
    async def parent(k: int) -> None:
        await asyncio.sleep(0)
        await asyncio.gather(child(k), child(k))

    async def main() -> None:
        await asyncio.gather(parent(0), parent(1), parent(2))

    with capture_events() as events:
        asyncio.run(main())
    parents = {e["k"]: e["span_id"] for e in events if e.name.endswith("parent_entry")}
    children = [e for e in events if e.name.endswith("child_entry")]
    assert sorted(parents) == [0, 1, 2] and len(children) == 6
    for c in children:
        assert c["parent_span_id"] == parents[c["k"]]
    for e in events:
        if e.name.endswith("parent_entry"):
            assert e["parent_span_id"] == 0
    # every async span suspends and resumes as often
    for sid in {e["span_id"] for e in events if e.name.endswith("_entry")}:
        s = [e for e in events if e.name == "usdk:span_suspend" and e["span_id"] == sid]
        r = [e for e in events if e.name == "usdk:span_resume" and e["span_id"] == sid]
        assert len(s) == len(r) >= 1


# --- threads -------------------------------------------------------------------------------------


def test_threads_have_their_own_chains(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    barrier = threading.Barrier(4)

    @p.tracepoint
    def leaf(t: int) -> None:
        barrier.wait(5)  # every thread is inside its leaf at once

    @p.tracepoint
    def root(t: int) -> None:
        leaf(t)

    with capture_events() as events:
        threads = [threading.Thread(target=root, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    roots = {e["t"]: e for e in events if e.name.endswith("root_entry")}
    leaves = {e["t"]: e for e in events if e.name.endswith("leaf_entry")}
    assert sorted(roots) == sorted(leaves) == [0, 1, 2, 3]
    for t in range(4):
        assert roots[t]["parent_span_id"] == 0
        assert leaves[t]["parent_span_id"] == roots[t]["span_id"]
    assert len({e["span_id"] for e in events}) == 8


# --- point events --------------------------------------------------------------------------------


def test_point_event(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    miss = p.event("cache_miss", key=str, size=int, hot=bool, ratio=float, raw=bytes, c=Color)
    assert miss.__name__ == "cache_miss"
    assert miss.event == f"{provider_name}:cache_miss"
    with capture_events() as events:
        assert miss(key="a", size=3, hot=True, ratio=0.5, raw=b"r", c=Color.RED) is None
        miss("b", 4, False, 1.0, b"", Color.GREEN)
    assert names(events) == [f"{provider_name}:cache_miss"] * 2
    assert events[0].fields == {"key": "a", "size": 3, "hot": True, "ratio": 0.5, "raw": b"r",
                                "c": "RED"}
    assert events[1].fields == {"key": "b", "size": 4, "hot": False, "ratio": 1.0, "raw": b"",
                                "c": "GREEN"}


def test_point_event_without_fields(provider_name: str) -> None:
    tick = usdk.Provider(provider_name).event("tick")
    with capture_events() as events:
        tick()
    assert events == [CapturedEvent(f"{provider_name}:tick", {})]


# --- capture_events itself ---------------------------------------------------------------


def test_capture_is_scoped_and_nestable(provider_name: str) -> None:
    ev = usdk.Provider(provider_name).event("ev", n=int)
    with capture_events() as outer:
        ev(1)
        with capture_events() as inner:
            ev(2)
        ev(3)
    ev(4)  # not captured
    assert [e["n"] for e in outer] == [1, 2, 3]
    assert [e["n"] for e in inner] == [2]


def test_capture_collects_from_other_threads(provider_name: str) -> None:
    ev = usdk.Provider(provider_name).event("ev", n=int)
    with capture_events() as events:
        t = threading.Thread(target=ev, args=(5,))
        t.start()
        t.join()
    assert [e.fields for e in events] == [{"n": 5}]


# --- late definitions ----------------------------------------------------------------------------


def test_event_defined_after_its_provider_loaded(provider_name: str, caught: list) -> None:
    p = usdk.Provider(provider_name)
    early = p.event("early", a=int)
    assert p.load() is True

    late = p.event("late", b=str)

    @p.tracepoint
    def late_span(c: float) -> int:
        return 7

    with capture_events() as events:
        early(1)
        late(b="x")
        assert late_span(2.5) == 7
    assert names(events) == [f"{provider_name}:{n}" for n in (
        "early", "late", "late_span_entry", "late_span_exit")]
    assert events[1].fields == {"b": "x"}
    assert events[2]["c"] == 2.5 and events[3]["ret"] == 7
    assert p.load() is True  # the late events have their own loaded shared object
    assert usdk_warnings(caught) == []


def test_nothing_emitted_outside_capture_without_session(provider_name: str) -> None:
    """Outside a capture, with no session enabling them, calls just run the function."""
    p = usdk.Provider(provider_name)
    calls = []

    @p.tracepoint
    def op(a: int) -> int:
        calls.append(a)
        return a * 2

    assert op(2) == 4 and op(a=3) == 6
    assert calls == [2, 3]


# --- the untyped built-in provider ---------------------------------------------------------------


def test_untyped_tracepoint(caught: list) -> None:
    @usdk.tracepoint
    def add(a, b=1, **kw):  # noqa: ANN001, ANN003, ANN202
        return a + b

    @usdk.tracepoint(name="renamed")
    def fails() -> None:
        raise AppError("x")

    with capture_events() as events:
        assert add(1, b=2, extra="e") == 3
        with pytest.raises(AppError):
            fails()
    qual = f"{__name__}.add"
    e0, e1, e2, e3 = events
    assert (e0.name, e0.fields) == ("usdk:span_entry", {
        "span_id": e0["span_id"], "parent_span_id": 0, "name": qual, "args": "1, b=2, extra='e'"})
    assert (e1.name, e1.fields) == ("usdk:span_exit", {
        "span_id": e0["span_id"], "parent_span_id": 0, "name": qual, "ret": "3", "exc_type": ""})
    assert e2.name == "usdk:span_entry" and e2["name"] == f"{__name__}.renamed"
    assert e3.fields == {"span_id": e2["span_id"], "parent_span_id": 0,
                         "name": f"{__name__}.renamed", "ret": "",
                         "exc_type": f"{__name__}.AppError"}
    assert add.__name__ == "add" and add.__wrapped__ is not None
    assert usdk_warnings(caught) == []


def test_untyped_context_manager_event_and_async() -> None:
    @usdk.tracepoint
    async def coro(x):  # noqa: ANN001, ANN202
        await asyncio.sleep(0)
        untyped_event("inside", x=x)
        return [x]

    with capture_events() as events:
        with usdk.tracepoint(name="block"):
            untyped_event("point", k=1, s="v")
        assert asyncio.run(coro("q")) == ["q"]
    blk = events[0]["span_id"]
    assert [(e.name, e.fields) for e in events[:3]] == [
        ("usdk:span_entry", {"span_id": blk, "parent_span_id": 0, "name": "block", "args": ""}),
        ("usdk:event", {"parent_span_id": blk, "name": "point", "payload": "k=1, s='v'"}),
        ("usdk:span_exit", {"span_id": blk, "parent_span_id": 0, "name": "block", "ret": "",
                            "exc_type": ""}),
    ]
    sid = events[3]["span_id"]
    assert [e.name for e in events[3:]] == ["usdk:span_entry", "usdk:span_suspend",
                                            "usdk:span_resume", "usdk:event", "usdk:span_exit"]
    assert events[6].fields == {"parent_span_id": sid, "name": "inside", "payload": "x='q'"}
    assert events[7]["ret"] == "['q']"


def test_untyped_args_are_cut_and_never_raise() -> None:
    class NoRepr:
        def __repr__(self) -> str:
            raise RuntimeError

    @usdk.tracepoint
    def f(a, b):  # noqa: ANN001, ANN202
        return NoRepr()

    with capture_events() as events:
        f("x" * 1000, NoRepr())
    args = events[0]["args"]
    assert args == "'" + "x" * 196 + "..., <unprintable NoRepr>"
    assert events[1]["ret"] == "<unprintable NoRepr>"


def test_wraps_keeps_working_for_decorated_callables(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    def deco(fn):  # noqa: ANN001, ANN202
        @functools.wraps(fn)
        def inner(*a, **k):  # noqa: ANN002, ANN003, ANN202
            return fn(*a, **k)
        return inner

    @p.tracepoint
    @deco
    def wrapped(a: int) -> int:
        return a

    with capture_events() as events:
        assert wrapped(5) == 5
    assert events[0]["a"] == 5 and events[1]["ret"] == 5


def test_usdk_event_survives_a_point_event_definition(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import usdk
        usdk.event("before")
        usdk.Provider("bugshop").event("cache_miss", key=str)
        usdk.event("after")          # must not raise
        """)], capture_output=True, text=True,
        env={**os.environ, "USDK_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
