"""Point events with a declared schema: one typed LTTng event per call, no span.

Example::

    shop = usdk.Provider("shop")
    miss = shop.event("cache_miss", key=str, size=int)     # shop:cache_miss {key, size}
    miss(key="a", size=3)                                  # or miss("a", 3)
    if miss.enabled:                                       # build costly values only when on
        miss(key=expensive(), size=0)

A field left out of a call records its zero value (0, NaN, False, "", b"", -1 for an
enum); unknown keyword arguments and extra positional ones are ignored with one warning.
Like spans, the returned object is a C gate: when no session enabled the event, a call
converts nothing and returns None.
"""

from __future__ import annotations

import inspect
from typing import Any

from usdk import _native, coerce, wrappers
from usdk.provider import Provider
from usdk.schema import EventSchema, enum_value_map
from usdk.slots import on_rebind


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def PointEvent(provider: Provider, schema: EventSchema) -> Any:  # noqa: N802 - a factory
    """Define the event on its provider and return the callable gate that emits it."""
    slot = provider.define(schema)
    params = [
        inspect.Parameter(
            f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=coerce.zero_value(f)
        )
        for f in schema.fields
    ]
    bindings = wrappers.bindings_for(inspect.Signature(params), schema.fields)
    names = frozenset(f.name for f in schema.fields)

    def extra(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        unknown = sorted(set(kwargs) - names)
        _native.warn_once(
            f"extra:{schema.full_name}",
            f"usdk: {schema.full_name}: ignoring arguments that are not fields "
            f"({len(args) - len(schema.fields)} extra positional, unknown {unknown}); "
            f"fields are {list(names)}",
        )

    env: dict[str, Any] = {
        "cstr": coerce.cstr,
        "to_bytes": coerce.to_bytes,
        "slow": slot.slow,
        "extra": extra,
        "NPOS": len(schema.fields),
        "NAMES": names,
        "emit": slot.dispatcher(),
    }
    for i, b in enumerate(bindings):
        env[f"D{i}"] = b.default
        if b.field.enum is not None:
            env[f"E{i}"] = enum_value_map(b.field.enum)
    on = wrappers.point_wrapper(bindings, env=env)
    gate: Any = None

    def first_call(*args: Any, **kwargs: Any) -> Any:
        provider.load()
        refresh()
        return gate(*args, **kwargs)

    specs = slot.specs(bindings)

    def refresh() -> None:
        env["emit"] = slot.dispatcher()
        if slot.state is not None:
            if slot.vector:
                gate.set_point(slot.vector, specs)
            gate.bind(slot.state or False)
            gate.set_on(on)

    gate = _native.Gate(_noop, first_call)
    gate.__name__ = gate.__qualname__ = schema.name
    gate.__doc__ = f"Emit {schema.full_name} {{{', '.join(f.name for f in schema.fields)}}}."
    gate.event = schema.full_name
    gate.schema = schema
    provider.add_user(refresh)
    on_rebind(refresh)
    return gate
