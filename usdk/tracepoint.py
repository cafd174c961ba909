"""``@tracepoint``: spans around calls, as entry/exit events with span ids.

One :class:`Tracepoint` object is a decorator, a decorator factory and a context manager::

    shop = usdk.Provider("shop")

    @shop.tracepoint                                    # shop:checkout_entry / _exit
    def checkout(cart_id: int, total: float) -> bool: ...

    @shop.tracepoint(name="pay", capture=["amount"])    # shop:pay_entry / _exit
    async def pay(amount: float, card: object) -> None: ...

    with shop.tracepoint(name="flush"):                 # shop:flush_entry / _exit
        ...

Events. ``<event>_entry`` carries ``span_id``, ``parent_span_id`` and the captured
arguments; ``<event>_exit`` carries ``span_id``, ``parent_span_id``, ``ret`` (when the
return annotation is a supported type) and ``exc_type`` (the exception's name, "" when
none). span ids are unique per process; the parent comes from a ContextVar, so nesting is
right across threads and asyncio tasks. Fields come from annotations: int -> int64,
float -> double, bool -> uint8, str -> string, bytes -> uint8 sequence, Enum -> LTTng
enum. Unannotated parameters are not captured; unsupported annotations are left out
with one warning at decoration time.

``async def``: the entry event fires when the coroutine starts and the exit event when it
finishes; each time it suspends to the event loop and resumes, ``usdk:span_suspend`` /
``usdk:span_resume`` mark it, so kernel work of other tasks on the thread in between is
never charged to it. Generator functions are traced as plain calls (the span covers the
call that creates the generator): a warning says so at decoration time.

Cost. The decorated function becomes a C gate (:mod:`usdk._gate`) that reads the
events' state words and calls the function directly when no session enabled them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from collections.abc import Callable, Generator, Iterable
from contextvars import ContextVar
from typing import Any

from usdk import _native, coerce, wrappers
from usdk.errors import SchemaError
from usdk.provider import BuiltinProvider, Provider
from usdk.schema import (
    SPAN_FIELDS,
    EventSchema,
    Field,
    FieldType,
    check_name,
    enum_value_map,
    make_field,
    validate,
)
from usdk.slots import EventSlot, on_rebind

_current: ContextVar[int] = ContextVar("usdk_current_span", default=0)
next_span_id = _native.next_span_id

SPAN_ID = Field("span_id", FieldType.INT)
PARENT_SPAN_ID = Field("parent_span_id", FieldType.INT)
EXC_TYPE = Field("exc_type", FieldType.STR)


def current_span_id() -> int:
    """The innermost active span of this thread / asyncio task (0 when none)."""
    return _current.get()


def exception_name(e: BaseException) -> bytes:
    t = type(e)
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    return name.encode("utf-8", "replace")


# --- the built-in provider's events (must match tp_providers/usdk_tp.h) ----------------

BUILTIN = BuiltinProvider("usdk")
_STR = FieldType.STR
_B_ENTRY = BUILTIN.define(
    EventSchema(
        "usdk", "span_entry", (SPAN_ID, PARENT_SPAN_ID, Field("name", _STR), Field("args", _STR))
    )
)
_B_EXIT = BUILTIN.define(
    EventSchema(
        "usdk",
        "span_exit",
        (SPAN_ID, PARENT_SPAN_ID, Field("name", _STR), Field("ret", _STR), EXC_TYPE),
    )
)
_B_EVENT = BUILTIN.define(
    EventSchema("usdk", "event", (PARENT_SPAN_ID, Field("name", _STR), Field("payload", _STR)))
)
_B_SUSPEND = BUILTIN.define(EventSchema("usdk", "span_suspend", (SPAN_ID,)))
_B_RESUME = BUILTIN.define(EventSchema("usdk", "span_resume", (SPAN_ID,)))
BUILTIN.seal()


class Stepper:
    """Drives a coroutine step by step, marking each suspension and resumption of its span."""

    __slots__ = ("coro", "sid")

    def __init__(self, coro: Any, sid: int) -> None:
        self.coro, self.sid = coro, sid
        if _B_SUSPEND.state is None:
            BUILTIN.load()

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, sid = self.coro, self.sid
        value: Any = None
        exc: BaseException | None = None
        while True:
            try:
                yielded = coro.send(value) if exc is None else coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            _B_SUSPEND.dispatcher()(sid)
            try:
                value, exc = (yield yielded), None
            except BaseException as e:  # cancellation, close(): pass it in
                value, exc = None, e
            _B_RESUME.dispatcher()(sid)


# --- one span definition: its two events, their wrappers and gates ------------------------


class _SpanDef:
    """The entry/exit slots of one span name and the gates that emit them."""

    def __init__(
        self, provider: Provider, entry: EventSlot, exit: EventSlot, ret_field: Field | None
    ) -> None:
        self.provider, self.entry, self.exit, self.ret_field = provider, entry, exit, ret_field
        self.ret_zero: tuple[Any, ...] = ()
        if ret_field is not None:
            z = coerce.coercer(ret_field)(coerce.zero_value(ret_field))
            self.ret_zero = (z, len(z)) if ret_field.type is FieldType.BYTES else (z,)
        self.gates: list[tuple[Any, dict[str, Any], Callable[..., Any], Any]] = []
        self.entry_enabled = _native.state_reader(None)
        provider.add_user(self.refresh)
        on_rebind(self.refresh)

    def add_gate(
        self,
        gate: Any,
        env: dict[str, Any],
        on: Callable[..., Any],
        fast: Callable[[], None] | None,
    ) -> None:
        """fast() hands the gate its C path once loaded (None: async, Python path only)."""
        self.gates.append((gate, env, on, fast))
        self.refresh()

    def refresh(self) -> None:
        """Re-point emitters (loaded / capturing) and gates (state words) after a change."""
        loaded = self.entry.state is not None
        if loaded:
            self.entry_enabled = _native.state_reader(self.entry.state)
        fast_ok = loaded and bool(self.entry.vector and self.exit.vector)
        for gate, env, on, fast in self.gates:
            env["emit_entry"] = self.entry.dispatcher()
            env["emit_exit"] = self.exit.dispatcher()
            if loaded:
                if fast is not None and fast_ok:
                    fast()
                else:
                    gate.clear_fast()
                gate.bind(self.entry.state or False, self.exit.state or False)
                gate.set_on(on)

    def exit_exc(self, sid: int, parent: int, e: BaseException) -> None:
        try:
            self.exit.dispatcher()(sid, parent, *self.ret_zero, exception_name(e))
        except Exception as err:  # pragma: no cover - never the app's problem
            _native.warn_once(f"internal:{self.exit.full_name}", f"usdk: {err!r}")


def _span_def(
    provider: Provider, name: str, fields: tuple[Field, ...], ret_field: Field | None
) -> _SpanDef:
    entry = EventSchema(provider.name, f"{name}_entry", (SPAN_ID, PARENT_SPAN_ID, *fields))
    exit_fields = (SPAN_ID, PARENT_SPAN_ID) + ((ret_field,) if ret_field else ()) + (EXC_TYPE,)
    exit = EventSchema(provider.name, f"{name}_exit", exit_fields)
    for f in fields:
        if f.name in SPAN_FIELDS:
            raise SchemaError(
                f"{entry.full_name}: argument name {f.name!r} is reserved for spans; "
                "leave it out with capture="
            )
    validate(entry)
    validate(exit)
    for ev in (entry, exit):
        if provider.slot(ev.name) is not None:
            raise SchemaError(
                f"duplicate event name {ev.full_name!r} in provider {provider.name!r}"
            )
    return _SpanDef(provider, provider.define(entry), provider.define(exit), ret_field)


def _annotations(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:
        return dict(getattr(func, "__annotations__", {}))


class Tracepoint:
    """A span definition: decorate a function with it, or use it as a context manager."""

    def __init__(self, provider: Provider, *, name: str | None = None, capture: Any = None) -> None:
        if name is not None:
            check_name("event", name)
        if capture is not None and capture is not False:
            if isinstance(capture, str) or not isinstance(capture, Iterable):
                raise SchemaError("capture= takes a list of argument names (or False for none)")
            capture = tuple(capture)
        self.provider, self.name, self.capture = provider, name, capture
        self._cm: Any = None  # _SpanDef, or _BuiltinCmDef on the built-in provider

    def __repr__(self) -> str:
        return f"<usdk.Tracepoint {self.provider.name}:{self.name or '?'}>"

    # --- decorator --------------------------------------------------------------

    def __call__(self, func: Callable[..., Any]) -> Any:
        if not callable(func):
            raise SchemaError(f"@tracepoint decorates a function, not {func!r}")
        name: str = self.name or str(getattr(func, "__name__", ""))
        if not self.name and not _is_ident(name):
            raise SchemaError(f"cannot name an event after {name!r}: pass name=")
        check_name("event", name)
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            _native.warn_once(
                f"generator:{name}",
                f"usdk: {self.provider.name}:{name} is a generator function; its span covers "
                "only the call that creates the generator",
            )
        if isinstance(self.provider, BuiltinProvider):
            return _untyped(func, name)
        sig = inspect.signature(func)
        hints = _annotations(func)
        left_out: list[str] = []
        fields = self._fields(sig, hints, name, left_out)
        ret_field = None
        if "return" in hints and hints["return"] not in (None, type(None)):
            ret_field = make_field("ret", hints["return"])
            if ret_field is None:
                left_out.append(f"the return value ({hints['return']!r})")
        if left_out:
            _native.warn_once(
                f"unsupported:{self.provider.name}:{name}",
                f"usdk: {self.provider.name}:{name}: left out {', '.join(left_out)}: "
                "only int, float, bool, str, bytes and Enum annotations are recorded",
            )
        span = _span_def(self.provider, name, tuple(fields), ret_field)
        return _make_gate(span, func, sig, fields, ret_field)

    def _fields(
        self, sig: inspect.Signature, hints: dict[str, Any], name: str, left_out: list[str]
    ) -> list[Field]:
        params = {
            p.name: p
            for p in sig.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        if self.capture is False:
            return []
        if self.capture is not None:
            unknown = [c for c in self.capture if c not in params]
            if unknown:
                raise SchemaError(
                    f"{self.provider.name}:{name}: capture= names {unknown} "
                    f"are not parameters of the function ({list(params)})"
                )
            wanted = list(self.capture)
        else:
            wanted = [p for p in params if p in hints]
        fields = []
        for pname in wanted:
            if pname not in hints:
                raise SchemaError(
                    f"{self.provider.name}:{name}: captured argument {pname!r} "
                    "needs a type annotation"
                )
            f = make_field(pname, hints[pname])
            if f is None:
                left_out.append(f"argument {pname!r} ({hints[pname]!r})")
                continue
            fields.append(f)
        return fields

    # --- context manager ------------------------------------------------------------

    def _cm_def(self) -> Any:
        if self._cm is None:
            if self.name is None:
                raise SchemaError("a tracepoint used as a context manager needs name=")
            self._cm = _cm_defs.get((self.provider.name, self.name))
            if self._cm is None and isinstance(self.provider, BuiltinProvider):
                self._cm = _BuiltinCmDef(self.name)
            elif self._cm is None:
                self._cm = _span_def(self.provider, self.name, (), None)
                _cm_defs[(self.provider.name, self.name)] = self._cm
        return self._cm

    def __enter__(self) -> Tracepoint:
        span = self._cm_def()
        item: tuple[Any, ...] | None = None
        try:
            if span.entry.state is None:
                self.provider.load()
            if span.entry_enabled() or _forced():
                sid, parent = next_span_id(), _current.get()
                token = _current.set(sid)
                span.entry.dispatcher()(sid, parent)
                item = (span, sid, parent, token)
        except Exception as e:  # pragma: no cover
            _native.warn_once(f"internal:{self.name}", f"usdk: {e!r}")
        _cm_stack.set(_cm_stack.get() + (item,))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        stack = _cm_stack.get()
        _cm_stack.set(stack[:-1])
        item = stack[-1] if stack else None
        if item is None:
            return
        span, sid, parent, token = item
        with contextlib.suppress(ValueError):  # exited in another context than entered in
            _current.reset(token)
        if exc is not None:
            span.exit_exc(sid, parent, exc)
        else:
            try:
                span.exit.dispatcher()(sid, parent, b"")
            except Exception as e:  # pragma: no cover
                _native.warn_once(f"internal:{self.name}", f"usdk: {e!r}")

    async def __aenter__(self) -> Tracepoint:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


class _BuiltinCmDef:
    """Context-manager spans on the built-in provider: usdk:span_entry/exit with a name."""

    def __init__(self, name: str) -> None:
        self.qual = coerce.to_text(name)
        self.provider = BUILTIN
        self.entry = self  # duck-types the slot interface __enter__/__exit__ use
        self.exit = self
        self.state = _B_ENTRY.state

    def entry_enabled(self) -> int:
        if _B_ENTRY.state is None:
            BUILTIN.load()
        return _builtin_enabled["span_entry"]()

    def dispatcher(self) -> Callable[..., None]:
        return self._emit

    def _emit(self, sid: int, parent: int, exc: bytes | None = None) -> None:
        if exc is None:
            _B_ENTRY.dispatcher()(sid, parent, self.qual, b"")
        else:
            _B_EXIT.dispatcher()(sid, parent, self.qual, b"", exc)

    def exit_exc(self, sid: int, parent: int, e: BaseException) -> None:
        self._emit(sid, parent, exception_name(e))


_cm_defs: dict[tuple[str, str], Any] = {}
_cm_stack: ContextVar[tuple[Any, ...]] = ContextVar("usdk_cm_stack", default=())


def _forced() -> bool:
    from usdk.slots import capturing

    return capturing()


def _is_ident(name: str) -> bool:
    return name.isidentifier() and name.isascii()


def _make_gate(
    span: _SpanDef,
    func: Callable[..., Any],
    sig: inspect.Signature,
    fields: list[Field],
    ret_field: Field | None,
) -> Any:
    bindings = wrappers.bindings_for(sig, fields)
    env: dict[str, Any] = {
        "func": func,
        "cstr": coerce.cstr,
        "to_bytes": coerce.to_bytes,
        "next_id": next_span_id,
        "cv_get": _current.get,
        "cv_set": _current.set,
        "cv_reset": _current.reset,
        "Stepper": Stepper,
        "entry_slow": lambda sid, parent, raw: span.entry.slow((sid, parent, *raw)),
        "exit_slow": lambda sid, parent, raw: span.exit.slow((sid, parent, *raw)),
        "exit_exc": span.exit_exc,
    }
    for i, b in enumerate(bindings):
        env[f"D{i}"] = coerce.zero_value(b.field) if b.default is wrappers.MISSING else b.default
        if b.field.enum is not None:
            env[f"E{i}"] = enum_value_map(b.field.enum)
    if ret_field is not None and ret_field.enum is not None:
        env["Er0"] = enum_value_map(ret_field.enum)
    on = wrappers.span_wrapper(
        bindings, ret_field, is_async=inspect.iscoroutinefunction(func), env=env
    )
    gate: Any = None

    def first_call(*args: Any, **kwargs: Any) -> Any:
        # Not loaded yet: load the provider (binds every gate of it), then dispatch again.
        span.provider.load()
        if span.entry.state is None:  # pragma: no cover - load always binds
            span.entry.bind(None, False)
        span.refresh()
        return gate(*args, **kwargs)

    gate = _native.Gate(func, first_call)
    functools.update_wrapper(gate, func)
    gate.events = (span.entry.full_name, span.exit.full_name)
    fast = None
    if not inspect.iscoroutinefunction(func):
        specs = span.entry.specs(bindings)
        ret_spec = None
        if ret_field is not None:
            ret_spec = span.exit.specs([wrappers.Binding(ret_field, None, wrappers.MISSING)])[0]

        def exit_slow(sid: int, parent: int, ret: Any) -> None:
            span.exit.slow((sid, parent, ret, b""))

        def fast() -> None:
            gate.set_span(
                span.entry.vector,
                span.exit.vector,
                specs,
                ret_spec,
                _current,
                span.exit_exc,
                exit_slow,
            )

    span.add_gate(gate, env, on, fast)
    return gate


# --- untyped spans on the built-in provider ----------------------------------------------


def _render_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    parts = [_short_repr(a) for a in args] + [f"{k}={_short_repr(v)}" for k, v in kwargs.items()]
    return coerce.to_text(", ".join(parts))


def _short_repr(v: Any) -> str:
    try:
        r = repr(v)
    except Exception:
        r = f"<unprintable {type(v).__name__}>"
    return r if len(r) <= 200 else r[:197] + "..."


def _untyped_begin(
    qual: bytes, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[int, int, Any]:
    """Open an untyped span: new id, parent from the ContextVar, usdk:span_entry."""
    sid, parent = next_span_id(), _current.get()
    token = _current.set(sid)
    try:
        _B_ENTRY.dispatcher()(sid, parent, qual, _render_args(args, kwargs))
    except Exception as e:  # pragma: no cover - never the app's problem
        _native.warn_once("internal:usdk", f"usdk: {e!r}")
    return sid, parent, token


def _untyped_end(
    qual: bytes,
    sid: int,
    parent: int,
    token: Any,
    *,
    ret: Any = None,
    exc: BaseException | None = None,
) -> None:
    """Close an untyped span: restore the parent, usdk:span_exit with ret or exc_type."""
    _current.reset(token)
    try:
        if exc is not None:
            _B_EXIT.dispatcher()(sid, parent, qual, b"", exception_name(exc))
        else:
            _B_EXIT.dispatcher()(sid, parent, qual, coerce.to_text(_short_repr(ret)), b"")
    except Exception as e:  # pragma: no cover
        _native.warn_once("internal:usdk", f"usdk: {e!r}")


def _untyped(func: Callable[..., Any], name: str) -> Any:
    qual = coerce.to_text(f"{getattr(func, '__module__', '?')}.{name}")

    def on(*args: Any, **kwargs: Any) -> Any:
        sid, parent, token = _untyped_begin(qual, args, kwargs)
        try:
            ret = func(*args, **kwargs)
        except BaseException as e:
            _untyped_end(qual, sid, parent, token, exc=e)
            raise
        _untyped_end(qual, sid, parent, token, ret=ret)
        return ret

    async def on_async(*args: Any, **kwargs: Any) -> Any:
        sid, parent, token = _untyped_begin(qual, args, kwargs)
        try:
            ret = await Stepper(func(*args, **kwargs), sid)
        except BaseException as e:
            _untyped_end(qual, sid, parent, token, exc=e)
            raise
        _untyped_end(qual, sid, parent, token, ret=ret)
        return ret

    real_on = on_async if inspect.iscoroutinefunction(func) else on
    gate: Any = None

    def first_call(*args: Any, **kwargs: Any) -> Any:
        BUILTIN.load()
        refresh()
        return gate(*args, **kwargs)

    def refresh() -> None:
        if _B_ENTRY.state is not None:
            gate.bind(_B_ENTRY.state or False, _B_EXIT.state or False)
            gate.set_on(real_on)

    gate = _native.Gate(func, first_call)
    functools.update_wrapper(gate, func)
    gate.events = (_B_ENTRY.full_name, _B_EXIT.full_name)
    BUILTIN.add_user(refresh)
    refresh()
    return gate


def tracepoint(func: Any = None, /, *, name: str | None = None) -> Any:
    """Untyped spans on the built-in ``usdk`` provider (no compiler needed at run time).

    Emits ``usdk:span_entry`` {span_id, parent_span_id, name, args} and ``usdk:span_exit``
    {span_id, parent_span_id, name, ret, exc_type}; arguments and the return value are
    recorded as text (repr). For typed fields, use ``usdk.Provider(...).tracepoint``.
    """
    return (
        BUILTIN.tracepoint(func, name=name) if func is not None else BUILTIN.tracepoint(name=name)
    )


def event(name: str, /, **values: Any) -> None:
    """An untyped point event on the built-in provider: ``usdk:event`` {name, payload}."""
    try:
        if _B_EVENT.state is None:
            BUILTIN.load()
        if _forced() or _builtin_enabled["event"]():
            payload = ", ".join(f"{k}={_short_repr(v)}" for k, v in values.items())
            _B_EVENT.dispatcher()(_current.get(), coerce.to_text(name), coerce.to_text(payload))
    except Exception as e:  # pragma: no cover
        _native.warn_once("internal:usdk.event", f"usdk: {e!r}")


# State-word readers of the built-in events that are checked without a gate (usdk.event,
# context managers on the built-in provider); made once, when the provider loads.
_builtin_enabled: dict[str, Callable[[], int]] = {"event": lambda: 0, "span_entry": lambda: 0}


def _refresh_builtin_readers() -> None:
    for slot in (_B_EVENT, _B_ENTRY):
        if slot.state is not None:
            _builtin_enabled[slot.schema.name] = _native.state_reader(slot.state)


BUILTIN.add_user(_refresh_builtin_readers)
