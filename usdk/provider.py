"""Tracepoint providers: a named set of typed LTTng events, compiled into one shared object.

Example::

    import usdk

    shop = usdk.Provider("shop")

    @shop.tracepoint
    def checkout(cart_id: int, total: float) -> bool:      # shop:checkout_entry / _exit
        return True

    miss = shop.event("cache_miss", key=str, size=int)     # shop:cache_miss
    miss(key="a", size=3)

Loading. A provider compiles (once; cached by a hash of its schema) and loads when one of
its events is first called, or when :meth:`Provider.load` is called. Every event defined
by then lives in that one shared object, which is never unloaded. An event defined
*after* its provider was loaded goes into an additional shared object of the same
provider, compiled when that event is first used: it records like the others (LTTng
accepts several objects for one provider as long as event names differ, which usdk
guarantees). Call ``load()`` after your definitions to do all compiling at start-up.

``Provider("shop")`` returns the same object everywhere in a process, so several modules
can add events to one provider.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from usdk import _native
from usdk.errors import SchemaError
from usdk.schema import EventSchema, check_name, make_field, validate
from usdk.slots import EventSlot

_registry: dict[str, Provider] = {}
_registry_lock = threading.Lock()


class Provider:
    """A typed LTTng-UST tracepoint provider (``provider:event`` names)."""

    name: str
    _slots: dict[str, EventSlot]
    _lock: threading.RLock
    _users: list[Callable[[], None]]

    def __new__(cls, name: str) -> Provider:
        if name == "usdk" and cls is Provider:
            raise SchemaError(
                "provider name 'usdk' is reserved for the built-in provider "
                "(use usdk.tracepoint / usdk.event for untyped events)"
            )
        with _registry_lock:
            existing = _registry.get(name)
            if existing is not None:
                return existing
            check_name("provider", name)
            self = super().__new__(cls)
            self.name = name
            self._slots = {}
            self._lock = threading.RLock()
            self._users = []
            _registry[name] = self
            return self

    def __repr__(self) -> str:
        return f"usdk.Provider({self.name!r})"

    # --- definitions ---------------------------------------------------------------

    @property
    def events(self) -> list[EventSchema]:
        """Every event defined so far, in definition order."""
        return [s.schema for s in self._slots.values()]

    def define(self, schema: EventSchema) -> EventSlot:
        """Register one event; a name already taken is a SchemaError."""
        validate(schema)
        with self._lock:
            if schema.name in self._slots:
                raise SchemaError(
                    f"duplicate event name {schema.full_name!r} in provider {self.name!r}"
                )
            slot = EventSlot(schema)
            self._slots[schema.name] = slot
            return slot

    def slot(self, name: str) -> EventSlot | None:
        return self._slots.get(name)

    def tracepoint(
        self, func: Any = None, /, *, name: str | None = None, capture: Any = None
    ) -> Any:
        """A span around a function, or a factory of one, or a context manager.

        ``@shop.tracepoint``, ``@shop.tracepoint(name="pay", capture=["amount"])``,
        ``with shop.tracepoint(name="flush"):``. See :class:`usdk.tracepoint.Tracepoint`.
        """
        from usdk.tracepoint import Tracepoint

        if isinstance(func, str):
            func, name = None, func
        spec = Tracepoint(self, name=name, capture=capture)
        return spec(func) if func is not None else spec

    def event(self, name: str, /, **fields: Any) -> Any:
        """A point event with a declared schema: ``shop.event("cache_miss", key=str, size=int)``."""
        from usdk.point import PointEvent

        typed = []
        for fname, annotation in fields.items():
            f = make_field(fname, annotation)
            if f is None:
                raise SchemaError(
                    f"{self.name}:{name}: field {fname!r} has unsupported type {annotation!r} "
                    "(use int, float, bool, str, bytes or an enum.Enum)"
                )
            typed.append(f)
        return PointEvent(self, EventSchema(self.name, name, tuple(typed)))

    # --- loading ---------------------------------------------------------------------

    def add_user(self, refresh: Callable[[], None]) -> None:
        """Register a callback run after each load (wrappers re-point their gates)."""
        with self._lock:
            self._users.append(refresh)

    def load(self, *, strict: bool = False) -> bool:
        """Compile (if needed) and load every event not loaded yet; True when tracing works.

        strict=True raises ProviderBuildError instead of warning (for deploy checks).
        """
        with self._lock:
            pending = [s for s in self._slots.values() if s.state is None]
            if pending:
                self._load_slots(pending, strict=strict)
                for refresh in list(self._users):
                    refresh()
            return all(s.c_emit is not None for s in self._slots.values())

    def _load_slots(self, slots: list[EventSlot], *, strict: bool) -> None:
        gen = _native.load_generation(self.name, [s.schema for s in slots], strict=strict)
        for s in slots:
            if gen is None:
                s.bind(None, False)
            else:
                n = s.schema.name
                s.bind(gen.emitter(n), gen.state(n), gen.vector_emitter(n))


class BuiltinProvider(Provider):
    """The `usdk` provider compiled into usdk._native_lib (untyped spans and events).

    Its events are fixed by tp_providers/usdk_tp.h: once usdk.tracepoint has defined them,
    :meth:`seal` makes any further definition a SchemaError.
    """

    _sealed = False

    def seal(self) -> None:
        self._sealed = True

    def define(self, schema: EventSchema) -> EventSlot:
        if self._sealed:
            raise SchemaError(
                f"cannot define {schema.full_name!r}: the built-in provider 'usdk' has fixed "
                "events; define typed events on your own usdk.Provider('name')"
            )
        return super().define(schema)

    def _load_slots(self, slots: list[EventSlot], *, strict: bool) -> None:
        for s in slots:
            emit = _native.builtin_emitter(s.schema.name)
            s.bind(emit, _native.builtin_state(s.schema.name) if emit else False)
