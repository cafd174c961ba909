"""One event's emit path: the C function when loaded, capture when testing, coercion when needed.

An :class:`EventSlot` is what generated wrappers call. It knows its schema, the loaded
cffi function (if any) and its state word, and turns raw Python values into C arguments
by the rules of :mod:`usdk.coerce` when the fast path refuses them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from usdk import _native, coerce
from usdk.schema import EventSchema, FieldType


def _noop(*args: Any) -> None:
    return None


class Capture:
    """Where usdk.testing.capture_events() collects events; see usdk.testing."""

    def __init__(self) -> None:
        self.events: list[Any] = []


_captures: list[Capture] = []
_slots: weakref.WeakSet[EventSlot] = weakref.WeakSet()
_listeners: list[Callable[[], None]] = []


def capturing() -> bool:
    return bool(_captures)


def push_capture(c: Capture) -> None:
    _captures.append(c)
    _native.set_forced(True)
    _rebind_all()


def pop_capture(c: Capture) -> None:
    _captures.remove(c)
    _native.set_forced(bool(_captures))
    _rebind_all()


def on_rebind(callback: Callable[[], None]) -> None:
    """Call back whenever capture starts or stops (tracepoints refresh their emitters)."""
    _listeners.append(callback)


def _rebind_all() -> None:
    for cb in list(_listeners):
        cb()


GATE_CODES = {
    FieldType.INT: "i",
    FieldType.FLOAT: "d",
    FieldType.BOOL: "b",
    FieldType.STR: "s",
    FieldType.BYTES: "y",
    FieldType.ENUM: "e",
}


def _checked_int(v: Any) -> int:
    """Accept what cffi's int64_t accepts, refuse the rest (so capture matches LTTng)."""
    if not isinstance(v, int) or not coerce.INT64_MIN <= v <= coerce.INT64_MAX:
        raise TypeError(f"not an int64: {v!r}")
    return int(v)


def _checked_number(v: Any) -> float:
    if isinstance(v, float):
        return v
    return float(_checked_int(v))


class EventSlot:
    """The emit path of one event (schema), shared by every wrapper that emits it."""

    def __init__(self, schema: EventSchema) -> None:
        self.schema = schema
        self.c_emit: Callable[..., None] | None = None
        self.state: int | bool | None = None  # None: provider not loaded yet; False: never
        self.vector: int = 0  # address of the C function taking usdk._gate's argument array
        self.coercers = [coerce.coercer(f) for f in schema.fields]
        self._labels = {
            i: {v: k for k, v in f.enum_items}
            for i, f in enumerate(schema.fields)
            if f.type is FieldType.ENUM
        }
        _slots.add(self)

    @property
    def full_name(self) -> str:
        return self.schema.full_name

    def bind(self, c_emit: Callable[..., None] | None, state: int | bool, vector: int = 0) -> None:
        self.c_emit, self.state, self.vector = c_emit, state, vector

    def specs(self, bindings: Sequence[Any], first: int = 0) -> tuple[tuple[Any, ...], ...]:
        """Field specs for usdk._gate: (code, position, name, default, enum map)."""
        from usdk.schema import enum_value_map

        out = []
        for b in bindings:
            f = b.field
            emap = enum_value_map(f.enum) if f.enum is not None else None
            pos = -1 if b.position is None else b.position
            out.append((GATE_CODES[f.type], pos, f.name, b.default, emap))
        return tuple(out)

    def dispatcher(self) -> Callable[..., None]:
        """What a wrapper should call now: capture, the C function, or nothing."""
        if _captures:
            return self._capture
        return self.c_emit or _noop

    def slow(self, raw: tuple[Any, ...]) -> None:
        """Coerce raw Python values field by field, then emit. Never raises."""
        try:
            args: list[Any] = []
            for f, conv, value in zip(self.schema.fields, self.coercers, raw, strict=False):
                v = conv(value)
                if f.type is FieldType.BYTES:
                    args += [v, len(v)]
                else:
                    args.append(v)
            _native.warn_once(
                f"coerce:{self.full_name}",
                f"usdk: {self.full_name}: a value did not fit its field and was coerced "
                "(see usdk.coerce for the rules)",
            )
            self.dispatcher()(*args)
        except Exception as e:  # pragma: no cover - a bug of ours, never the app's problem
            _native.warn_once(f"internal:{self.full_name}", f"usdk: {self.full_name}: {e!r}")

    def decode(self, c_args: tuple[Any, ...]) -> dict[str, Any]:
        """C arguments back to field values, as a reader of the trace would see them."""
        out: dict[str, Any] = {}
        it = iter(c_args)
        for i, f in enumerate(self.schema.fields):
            v = next(it)
            if f.type is FieldType.BYTES:
                length = next(it)
                out[f.name] = bytes(v[:length])
            elif f.type is FieldType.STR:
                out[f.name] = v.decode("utf-8")  # cstr/to_text made it: clean UTF-8 bytes
            elif f.type is FieldType.FLOAT:
                out[f.name] = float(_checked_number(v))
            elif f.type is FieldType.BOOL:
                out[f.name] = bool(_checked_int(v))
            elif f.type is FieldType.ENUM:
                out[f.name] = self._labels[i].get(_checked_int(v), v)
            else:
                out[f.name] = _checked_int(v)
        return out

    def _capture(self, *c_args: Any) -> None:
        from usdk.testing import CapturedEvent

        event = CapturedEvent(self.full_name, self.decode(c_args))
        for c in _captures:
            c.events.append(event)
        if self.c_emit is not None:
            self.c_emit(*c_args)
