"""Definition-time errors: every name or schema LTTng (or the generated C) would reject is a
usdk.SchemaError (also a ValueError) raised when the provider, event or span is defined."""

from __future__ import annotations

import enum
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import usdk
from usdk.schema import MAX_TP_ARGS, EventSchema, Field, FieldType, validate

pytestmark = pytest.mark.unit


def test_schema_error_is_a_usdk_error_and_a_value_error() -> None:
    assert issubclass(usdk.SchemaError, usdk.UsdkError)
    assert issubclass(usdk.SchemaError, ValueError)


@pytest.mark.parametrize("name", [
    "", "9lives", "a-b", "a b", "a.b", "café", "x" * 128, "int", "while", "struct", "_Bool",
    "class", "lambda", "lttng", "lttng_foo", "lttngx",
])
def test_invalid_provider_names(name: str) -> None:
    with pytest.raises(usdk.SchemaError):
        usdk.Provider(name)
    with pytest.raises(ValueError):
        usdk.Provider(name)


def test_provider_name_usdk_is_reserved() -> None:
    with pytest.raises(usdk.SchemaError, match="reserved"):
        usdk.Provider("usdk")


def test_typed_event_on_the_builtin_provider_never_raises(tmp_path: Path) -> None:
    # In a subprocess: the failing load would leave the built-in provider of this process broken.
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import usdk
        try:
            ev = usdk.Provider("usdk").event("foo", a=int)
        except usdk.SchemaError:
            raise SystemExit(0)      # refused at definition time: fine
        ev(a=1)                      # must not raise at run time
        """)], capture_output=True, text=True, env={**os.environ, "USDK_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr


def test_provider_is_a_singleton_per_name(provider_name: str) -> None:
    assert usdk.Provider(provider_name) is usdk.Provider(provider_name)


def test_provider_name_of_127_chars_is_accepted() -> None:
    usdk.Provider("p" + "x" * 126)


@pytest.mark.parametrize("name", ["", "2x", "a-b", "bad name", "double", "return", "def", "é"])
def test_invalid_point_event_names(provider_name: str, name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError):
        p.event(name, a=int)
    assert p.events == []


@pytest.mark.parametrize("name", ["2x", "a-b", "double", "class"])
def test_invalid_span_names(provider_name: str, name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError):
        @p.tracepoint(name=name)
        def f(a: int) -> None: ...
    with pytest.raises(usdk.SchemaError):
        p.tracepoint(name=name)
    assert p.events == []


@pytest.mark.parametrize("field", ["int", "char", "while", "_Atomic"])
def test_invalid_field_names(provider_name: str, field: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError, match="keyword"):
        p.event("ev", **{field: int})


@pytest.mark.parametrize("reserved", ["span_id", "parent_span_id"])
def test_span_arguments_cannot_use_span_field_names(provider_name: str, reserved: str) -> None:
    p = usdk.Provider(provider_name)
    ns: dict = {}
    exec(f"def f({reserved}: int) -> None: ...", ns)
    with pytest.raises(usdk.SchemaError, match="reserved"):
        p.tracepoint(ns["f"])
    # ... but leaving it out with capture= works
    p.tracepoint(capture=False)(ns["f"])
    assert [e.name for e in p.events] == ["f_entry", "f_exit"]


@pytest.mark.parametrize("name", ["linux", "unix"])
def test_predefined_c_macro_names_are_rejected(name: str) -> None:
    with pytest.raises(usdk.SchemaError):
        validate(EventSchema(name, "ev", (Field("a", FieldType.INT),)))


def test_duplicate_point_event(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    p.event("ev", a=int)
    with pytest.raises(usdk.SchemaError, match="duplicate"):
        p.event("ev", b=str)
    assert [e.full_name for e in p.events] == [f"{provider_name}:ev"]


def test_duplicate_across_modules_sharing_a_provider(provider_name: str) -> None:
    usdk.Provider(provider_name).event("ev", a=int)
    with pytest.raises(usdk.SchemaError, match="duplicate"):
        usdk.Provider(provider_name).event("ev", a=int)


def test_two_functions_decorated_with_one_name(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint(name="op")
    def first(a: int) -> None: ...

    with pytest.raises(usdk.SchemaError, match="duplicate"):
        @p.tracepoint(name="op")
        def second(b: int) -> None: ...

    assert [e.name for e in p.events] == ["op_entry", "op_exit"]


def test_two_functions_with_the_same_name(provider_name: str) -> None:
    p = usdk.Provider(provider_name)

    @p.tracepoint
    def work() -> None: ...

    with pytest.raises(usdk.SchemaError, match="duplicate"):
        @p.tracepoint
        def work() -> None: ...  # noqa: F811


def test_span_events_collide_with_point_events(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    p.event("op_exit", a=int)
    with pytest.raises(usdk.SchemaError, match="duplicate"):
        @p.tracepoint
        def op() -> None: ...
    # nothing half-defined: op_entry was not registered either
    assert [e.name for e in p.events] == ["op_exit"]

    @p.tracepoint
    def other() -> None: ...

    with pytest.raises(usdk.SchemaError, match="duplicate"):
        p.event("other_entry")


def test_duplicate_field_in_schema() -> None:
    with pytest.raises(usdk.SchemaError, match="duplicate field"):
        validate(EventSchema("p", "e", (Field("a", FieldType.INT), Field("a", FieldType.STR))))


# --- LTTNG_UST_TP_ARGS holds at most 10 arguments --------------------------------------------


def test_point_event_with_ten_args_is_accepted(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    p.event("ten", **{f"f{i}": int for i in range(MAX_TP_ARGS)})


def test_point_event_with_eleven_args_is_rejected(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError, match="11 tracepoint arguments"):
        p.event("eleven", **{f"f{i}": int for i in range(MAX_TP_ARGS + 1)})
    assert p.events == []


def test_bytes_fields_count_twice(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    p.event("five", **{f"b{i}": bytes for i in range(5)})
    with pytest.raises(usdk.SchemaError, match="11 tracepoint arguments"):
        p.event("five_and_one", i=int, **{f"b{i}": bytes for i in range(5)})


def _func_with(n: int, annotation: str = "int") -> object:
    ns: dict = {}
    params = ", ".join(f"a{i}: {annotation}" for i in range(n))
    exec(f"def f({params}) -> None: ...", ns)
    return ns["f"]


def test_span_with_eight_args_is_accepted(provider_name: str) -> None:
    # span_id and parent_span_id take 2 of the 10
    usdk.Provider(provider_name).tracepoint(_func_with(8))


def test_span_with_nine_args_is_rejected(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError, match="11 tracepoint arguments"):
        p.tracepoint(_func_with(9))
    assert p.events == []


def test_span_with_nine_args_works_with_capture(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    p.tracepoint(capture=[f"a{i}" for i in range(8)])(_func_with(9))
    entry = p.events[0]
    assert [f.name for f in entry.fields] == ["span_id", "parent_span_id"] + [
        f"a{i}" for i in range(8)]


def test_span_with_four_bytes_args_is_accepted_five_rejected(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    p.tracepoint(name="four")(_func_with(4, "bytes"))
    with pytest.raises(usdk.SchemaError):
        p.tracepoint(name="five")(_func_with(5, "bytes"))


# --- capture= and context managers --------------------------------------------------------


def test_capture_names_a_missing_parameter(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError, match="not parameters"):
        @p.tracepoint(capture=["b"])
        def f(a: int) -> None: ...
    assert p.events == []


def test_capture_names_an_unannotated_parameter(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError, match="annotation"):
        @p.tracepoint(capture=["a"])
        def f(a, b: int) -> None: ...  # noqa: ANN001


def test_capture_must_be_a_list(provider_name: str) -> None:
    with pytest.raises(usdk.SchemaError):
        usdk.Provider(provider_name).tracepoint(capture="a")


def test_context_manager_without_name(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError, match="name="), p.tracepoint():
        pass
    with pytest.raises(ValueError), usdk.tracepoint():
        pass


def test_lambda_needs_a_name(provider_name: str) -> None:
    p = usdk.Provider(provider_name)
    with pytest.raises(usdk.SchemaError, match="name="):
        p.tracepoint(lambda x: x)
    traced = p.tracepoint(name="anon")(lambda x: x)
    assert traced(3) == 3


def test_point_event_with_unsupported_type(provider_name: str) -> None:
    with pytest.raises(usdk.SchemaError, match="unsupported type"):
        usdk.Provider(provider_name).event("ev", a=list)


def test_enum_without_members(provider_name: str) -> None:
    class Empty(enum.Enum):
        pass

    with pytest.raises(usdk.SchemaError, match="no members"):
        usdk.Provider(provider_name).event("ev", e=Empty)


def test_schema_signature_covers_enum_members() -> None:
    class A(enum.Enum):
        X = 1

    class B(enum.Enum):
        X = 2

    a = EventSchema("p", "e", (Field.for_enum("c", A),))
    b = EventSchema("p", "e", (Field.for_enum("c", B),))
    assert a.signature() == "p:e(c:enum[X=1])"
    assert a.signature() != b.signature()
