"""The documented rules that fit any Python value into its field; never an exception.

Values of the right type pass straight to C; only a value cffi refuses comes here.

========  =====================================================================
field     rule
========  =====================================================================
int       ints and ``__index__`` objects, clamped to int64; bool -> 0/1; finite
          floats truncated toward zero (then clamped), NaN -> 0, +-inf -> the
          int64 bound; anything else -> 0.
float     anything ``float()`` accepts; an int too large for a double -> +-inf;
          anything else -> NaN.
bool      Python truth value (``bool(v)``); a value whose ``__bool__`` raises -> False.
str       UTF-8; lone surrogates and NUL characters become U+FFFD; not a str ->
          ``str(v)`` (bytes are decoded as UTF-8 with U+FFFD for bad bytes); longer
          than MAX_TEXT bytes -> cut at a character boundary.
bytes     bytes-like as is; str -> UTF-8; anything else -> b""; longer than
          MAX_TEXT -> cut.
enum      a member of the field's Enum -> its recorded integer; an int -> as is;
          anything else -> -1.
========  =====================================================================

Example::

    >>> to_int(2**70), to_text("a\\x00b"), to_float("x")
    (9223372036854775807, b'a\\xef\\xbf\\xbdb', nan)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from usdk.schema import Field, FieldType, enum_value_map

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# A string or bytes field longer than this is cut: a larger event would not fit
# LTTng's default sub-buffers and would be discarded whole.
MAX_TEXT = 65536
_REPLACEMENT = "\ufffd"


def to_int(v: Any) -> int:
    if isinstance(v, float):
        if math.isnan(v):
            return 0
        if math.isinf(v):
            return INT64_MAX if v > 0 else INT64_MIN
        v = int(v)
    else:
        try:
            v = operator.index(v)
        except TypeError:
            return 0
    return INT64_MIN if v < INT64_MIN else INT64_MAX if v > INT64_MAX else v


def to_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf
    except (TypeError, ValueError):
        return math.nan


def to_bool(v: Any) -> int:
    try:
        return 1 if v else 0
    except Exception:
        return 0


def text_of(v: Any) -> str:
    """The text a str field records for v (before UTF-8 encoding)."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        s = bytes(v).decode("utf-8", "replace")
    elif isinstance(v, str):
        s = v
    else:
        try:
            s = str(v)
        except Exception:
            s = f"<unprintable {type(v).__name__}>"
    if "\0" in s:
        s = s.replace("\0", _REPLACEMENT)
    return s


def to_text(v: Any) -> bytes:
    """UTF-8 bytes for a C string: never contains NUL, never invalid UTF-8."""
    s = text_of(v)
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        b = "".join(_REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in s).encode("utf-8")
    if len(b) > MAX_TEXT:
        b = b[:MAX_TEXT].decode("utf-8", "ignore").encode("utf-8")
    return b


def cstr(v: Any) -> bytes:
    """The fast path for str fields: a clean str encodes once; anything else goes to to_text."""
    if v.__class__ is str and len(v) <= MAX_TEXT // 4:
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError:
            return to_text(v)
        return to_text(v) if b"\0" in b else b
    return to_text(v)


def to_bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
    elif isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
    else:
        return b""
    return b[:MAX_TEXT]


def enum_coercer(field: Field) -> Callable[[Any], int]:
    assert field.enum is not None
    values = enum_value_map(field.enum)

    def to_enum(v: Any) -> int:
        if isinstance(v, bool):  # True == 1 would otherwise find an IntEnum member
            return -1
        try:
            if v in values:
                return values[v]
        except TypeError:  # unhashable
            return -1
        if isinstance(v, int) and not isinstance(v, bool):
            return to_int(v)
        return -1

    return to_enum


def coercer(field: Field) -> Callable[[Any], Any]:
    """The function that maps any value onto what this field's C argument takes."""
    if field.type is FieldType.INT:
        return to_int
    if field.type is FieldType.FLOAT:
        return to_float
    if field.type is FieldType.BOOL:
        return to_bool
    if field.type is FieldType.STR:
        return to_text
    if field.type is FieldType.BYTES:
        return to_bytes
    return enum_coercer(field)


def zero_value(field: Field) -> Any:
    """The value of a field that was not given (a point event's omitted field, a span's
    ``ret`` when it raised): 0, NaN, False, "", b"" or -1 for an enum."""
    return {
        FieldType.INT: 0,
        FieldType.FLOAT: math.nan,
        FieldType.BOOL: False,
        FieldType.STR: "",
        FieldType.BYTES: b"",
        FieldType.ENUM: -1,
    }[field.type]
