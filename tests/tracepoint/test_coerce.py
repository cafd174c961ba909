"""The coercion rules of usdk.coerce: every value fits its field, never an exception.

Each rule is checked directly (the C argument it produces) and through
usdk.testing.capture_events (the value LTTng records), for point events and spans.
"""

from __future__ import annotations

import enum
import math
import warnings
from typing import Any

import pytest

import usdk
from usdk import coerce
from usdk.schema import Field, FieldType
from usdk.testing import capture_events

pytestmark = pytest.mark.unit

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
REPL = "\ufffd"


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Mode(enum.Enum):
    READ = "r"
    WRITE = "w"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Index:
    def __init__(self, v: int) -> None:
        self.v = v

    def __index__(self) -> int:
        return self.v


class BadBool:
    def __bool__(self) -> bool:
        raise RuntimeError("no truth")


class BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no text")


# --- the rules, directly ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (5, 5), (-5, -5), (I64_MAX, I64_MAX), (I64_MIN, I64_MIN),
    (2**63, I64_MAX), (2**200, I64_MAX), (-(2**63) - 1, I64_MIN), (-(2**200), I64_MIN),
    (True, 1), (False, 0), (Level.HIGH, 2), (Index(7), 7), (Index(2**80), I64_MAX),
    (2.9, 2), (-2.9, -2), (1e30, I64_MAX), (-1e30, I64_MIN),
    (math.nan, 0), (math.inf, I64_MAX), (-math.inf, I64_MIN),
    ("12", 0), (None, 0), (b"1", 0), ([], 0),
])
def test_to_int(value: Any, expected: int) -> None:
    assert coerce.to_int(value) == expected
    assert type(coerce.to_int(value)) is int


@pytest.mark.parametrize(("value", "expected"), [
    (1.5, 1.5), (3, 3.0), (True, 1.0), ("2.5", 2.5), (math.inf, math.inf), (-math.inf, -math.inf),
    (10**400, math.inf), (-(10**400), -math.inf), (2**70, float(2**70)),
])
def test_to_float(value: Any, expected: float) -> None:
    assert coerce.to_float(value) == expected


@pytest.mark.parametrize("value", [math.nan, "x", None, b"\xff", [], object()])
def test_to_float_nan(value: Any) -> None:
    assert math.isnan(coerce.to_float(value))


@pytest.mark.parametrize(("value", "expected"), [
    (True, 1), (False, 0), (0, 0), (256, 1), (2**70, 1), ("", 0), ("x", 1), ([], 0), (None, 0),
    (math.nan, 1), (BadBool(), 0),
])
def test_to_bool(value: Any, expected: int) -> None:
    assert coerce.to_bool(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("plain", b"plain"),
    ("h\u00e9llo \u2603", "h\u00e9llo \u2603".encode()),
    ("a\x00b", f"a{REPL}b".encode()),
    ("\x00", REPL.encode()),
    ("lone \udc80 low", f"lone {REPL} low".encode()),
    ("lone \ud800 high", f"lone {REPL} high".encode()),
    ("\ud83d\ude00", REPL.encode() * 2),  # a surrogate *pair* in a str is two lone surrogates
    (b"bytes", b"bytes"),
    (b"bad \xff", f"bad {REPL}".encode()),
    (bytearray(b"ba\x00"), f"ba{REPL}".encode()),
    (memoryview(b"mv"), b"mv"),
    (12, b"12"), (1.5, b"1.5"), (None, b"None"), (Color.RED, b"Color.RED"),
    (BadStr(), b"<unprintable BadStr>"),
])
def test_to_text(value: Any, expected: bytes) -> None:
    assert coerce.to_text(value) == expected
    assert coerce.cstr(value) == expected


def test_to_text_cuts_long_text_at_a_character_boundary() -> None:
    assert coerce.to_text("a" * (coerce.MAX_TEXT + 10)) == b"a" * coerce.MAX_TEXT
    # 3-byte characters: the cut never splits one
    s = "\u2603" * (coerce.MAX_TEXT // 3 + 5)
    out = coerce.to_text(s)
    assert len(out) == (coerce.MAX_TEXT // 3) * 3
    assert out.decode("utf-8") == "\u2603" * (coerce.MAX_TEXT // 3)


@pytest.mark.parametrize(("value", "expected"), [
    (b"\x00\xff", b"\x00\xff"), (bytearray(b"ab"), b"ab"), (memoryview(b"mv"), b"mv"),
    ("\u00e9", b"\xc3\xa9"), ("", b""), (5, b""), (None, b""), ([1, 2], b""),
])
def test_to_bytes(value: Any, expected: bytes) -> None:
    assert coerce.to_bytes(value) == expected


def test_to_bytes_cuts_long_values() -> None:
    assert coerce.to_bytes(b"z" * (coerce.MAX_TEXT + 1)) == b"z" * coerce.MAX_TEXT


@pytest.mark.parametrize(("cls", "value", "expected"), [
    (Color, Color.RED, 1), (Color, Color.GREEN, 2), (Mode, Mode.READ, 0), (Mode, Mode.WRITE, 1),
    (Color, 2, 2), (Color, 99, 99), (Color, 2**70, I64_MAX),
    (Color, "RED", -1), (Color, Mode.READ, -1), (Color, None, -1), (Color, {}, -1),
    (Color, 1.0, -1),
    (Color, True, -1), (Mode, "r", -1),
    (Level, Level.HIGH, 2), (Level, Color.GREEN, -1),
])
def test_enum_coercer(cls: type[enum.Enum], value: Any, expected: int) -> None:
    to_enum = coerce.coercer(Field.for_enum("e", cls))
    assert to_enum(value) == expected


def test_zero_values() -> None:
    z = {t: coerce.zero_value(Field("x", t)) for t in FieldType if t is not FieldType.ENUM}
    assert z[FieldType.INT] == 0 and z[FieldType.BOOL] is False
    assert z[FieldType.STR] == "" and z[FieldType.BYTES] == b""
    assert math.isnan(z[FieldType.FLOAT])
    assert coerce.zero_value(Field.for_enum("e", Color)) == -1


# --- the same rules, as recorded (capture_events) --------------------------------------------

# (annotation, value given, value recorded)
RECORDED: list[tuple[Any, Any, Any]] = [
    (int, 7, 7), (int, 2**64, I64_MAX), (int, -(2**64), I64_MIN), (int, True, 1),
    (int, Level.HIGH, 2), (int, Index(2**70), I64_MAX), (int, 3.99, 3), (int, math.nan, 0),
    (int, math.inf, I64_MAX), (int, -math.inf, I64_MIN), (int, "5", 0), (int, None, 0),
    (float, 0.25, 0.25), (float, 4, 4.0), (float, 10**400, math.inf), (float, math.inf, math.inf),
    (float, -math.inf, -math.inf), (float, "1e3", 1000.0), (float, 2**70, float(2**70)),
    (bool, True, True), (bool, 0, False), (bool, 256, True), (bool, 2**70, True), (bool, "", False),
    (bool, "no", True), (bool, BadBool(), False), (bool, None, False),
    (str, "caf\u00e9", "caf\u00e9"), (str, "a\x00b", f"a{REPL}b"), (str, "x\udc80y", f"x{REPL}y"),
    (str, "\ud800", REPL), (str, b"raw\xff", f"raw{REPL}"), (str, 42, "42"), (str, None, "None"),
    (str, BadStr(), "<unprintable BadStr>"),
    (bytes, b"\x00\x01\xff", b"\x00\x01\xff"), (bytes, bytearray(b"ba"), b"ba"),
    (bytes, "\u00e9", b"\xc3\xa9"), (bytes, 3, b""), (bytes, None, b""),
    (Color, Color.GREEN, "GREEN"), (Color, 1, "RED"), (Color, 7, 7), (Color, "GREEN", -1),
    (Color, Mode.READ, -1), (Color, None, -1), (Color, [], -1),
    (Mode, Mode.WRITE, "WRITE"), (Mode, "w", -1), (Mode, 0, "READ"),
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


ANNOTATIONS = {"int": int, "float": float, "bool": bool, "str": str, "bytes": bytes,
               "Color": Color, "Mode": Mode}


@pytest.fixture(scope="module")
def recorders() -> dict[Any, tuple[Any, Any]]:
    """One point event and one traced function per annotation, all in one loaded provider
    (one compile for the whole module)."""
    p = usdk.Provider(f"coerce_{id(Color)}")
    out = {}
    for key, annotation in ANNOTATIONS.items():
        ev = p.event(f"ev_{key}", v=annotation, tail=int)

        def f(v, n: int):  # noqa: ANN001, ANN202
            return v

        f.__annotations__ = {"v": annotation, "n": int, "return": annotation}
        f.__name__ = f"span_{key}"
        out[annotation] = (ev, p.tracepoint(f))
    assert p.load()
    return out


@pytest.mark.parametrize(("annotation", "value", "recorded"), RECORDED)
def test_point_event_records_the_coerced_value(recorders: dict, annotation: Any, value: Any,
                                              recorded: Any) -> None:
    ev = recorders[annotation][0]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with capture_events() as events:
            ev(value, 11)  # never raises
    assert [e.name for e in events] == [ev.event]
    got = events[0].fields
    assert list(got) == ["v", "tail"]
    assert _same(got["v"], recorded), (got["v"], recorded)
    assert got["tail"] == 11  # a bad value does not disturb the others


@pytest.mark.parametrize(("annotation", "value", "recorded"), RECORDED)
def test_span_records_the_coerced_argument_and_return_value(
    recorders: dict, annotation: Any, value: Any, recorded: Any
) -> None:
    traced = recorders[annotation][1]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with capture_events() as events:
            assert traced(value, 3) is value  # the app sees its own value, uncoerced
    entry, exit_ = events
    assert list(entry.fields) == ["span_id", "parent_span_id", "v", "n"]
    assert _same(entry["v"], recorded), (entry["v"], recorded)
    assert entry["n"] == 3
    assert list(exit_.fields) == ["span_id", "parent_span_id", "ret", "exc_type"]
    assert _same(exit_["ret"], recorded), (exit_["ret"], recorded)
    assert exit_["exc_type"] == ""


@pytest.mark.parametrize("annotation", [int, float, bool, str, bytes, Color])
def test_capture_agrees_with_the_documented_rule(recorders: dict, annotation: Any) -> None:
    """Whatever path a value takes (fast or coercing), it records what coercer() says."""
    from usdk.schema import make_field

    field = make_field("v", annotation)
    assert field is not None
    rule = coerce.coercer(field)
    ev = recorders[annotation][0]
    values = [0, 1, -1, 2**70, 1.5, math.inf, "s", b"b", None, Color.RED, Level.LOW, [], 1e300,
              True, False]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with capture_events() as events:
            for v in values:
                ev(v, 0)
    assert len(events) == len(values)
    for v, e in zip(values, events, strict=True):
        expected = rule(v)
        got = e["v"]
        if field.type is FieldType.STR:
            got = got.encode()
        elif field.type is FieldType.BOOL:
            got = int(got)
        elif field.type is FieldType.ENUM and isinstance(got, str):
            got = Color[got].value
        assert _same(got, expected) or (type(got) is float and got == expected), (v, got, expected)


def test_enum_field_given_a_bool(provider_name: str) -> None:
    ev = usdk.Provider(provider_name).event("ev", c=Color)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with capture_events() as events:
            ev(True)
    assert events[0]["c"] == coerce.coercer(Field.for_enum("c", Color))(True) == -1


def test_long_text_is_cut(provider_name: str) -> None:
    ev = usdk.Provider(provider_name).event("ev", s=str, y=bytes)
    with capture_events() as events:
        ev("a" * 100_000, b"z" * 100_000)
    assert events[0]["s"] == "a" * coerce.MAX_TEXT
    assert events[0]["y"] == b"z" * coerce.MAX_TEXT


def test_coercion_warns_once_per_event(provider_name: str) -> None:
    ev = usdk.Provider(provider_name).event("ev", i=int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with capture_events() as events:
            ev(1)
            ev("bad")
            ev(2**99)
            ev(None)
    assert [e["i"] for e in events] == [1, 0, I64_MAX, 0]
    msgs = [str(w.message) for w in caught if issubclass(w.category, usdk.UsdkWarning)]
    assert len(msgs) == 1
    assert f"{provider_name}:ev" in msgs[0] and "coerced" in msgs[0]


def test_omitted_point_fields_record_zero_values(provider_name: str) -> None:
    ev = usdk.Provider(provider_name).event("ev", i=int, f=float, b=bool, s=str, y=bytes, c=Color)
    with capture_events() as events:
        ev()
        ev(s="only")
    first = events[0].fields
    assert list(first) == ["i", "f", "b", "s", "y", "c"]
    assert first["i"] == 0 and first["b"] is False and first["s"] == "" and first["y"] == b""
    assert math.isnan(first["f"]) and first["c"] == -1
    assert events[1]["s"] == "only" and events[1]["i"] == 0


def test_point_event_extra_arguments_ignored_with_one_warning(provider_name: str) -> None:
    ev = usdk.Provider(provider_name).event("ev", a=int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with capture_events() as events:
            ev(1, 2, 3)
            ev(a=4, nope=5)
    assert [e.fields for e in events] == [{"a": 1}, {"a": 4}]
    assert len([w for w in caught if issubclass(w.category, usdk.UsdkWarning)]) == 1
