"""Python source generation for the tracing paths (what a Gate runs when an event is on).

Each decorated function gets a wrapper compiled from source with its argument positions
inlined, the way :mod:`dataclasses` builds ``__init__``: binding a captured argument is a
tuple index or one dict lookup, and values of the right type reach the cffi call as they
are. Conversions sit inside a ``try`` whose ``except`` hands the raw values to the
coercing slow path, so a bad value never raises into the application.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from usdk.schema import Field, FieldType

MISSING: Any = object()


@dataclass(frozen=True)
class Binding:
    """Where a captured field's value comes from in a call."""

    field: Field
    position: int | None  # index in *args, None for keyword-only
    default: Any  # MISSING when the parameter has no default


def bindings_for(sig: inspect.Signature, fields: Sequence[Field]) -> list[Binding]:
    params = list(sig.parameters.values())
    out = []
    for f in fields:
        p = sig.parameters[f.name]
        pos = params.index(p) if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) else None
        default = MISSING if p.default is p.empty else p.default
        out.append(Binding(f, pos, default))
    return out


def fast_args(fields: Sequence[Field], names: Sequence[str], tag: str = "") -> str:
    """The C-call argument expressions for values held in variables `names`.

    Enum fields look their value up in E<tag><i> (member -> recorded integer).
    """
    parts = []
    for i, (f, v) in enumerate(zip(fields, names, strict=True)):
        if f.type is FieldType.STR:
            parts.append(f"cstr({v})")
        elif f.type is FieldType.ENUM:
            parts.append(f"(-1 if {v}.__class__ is bool else E{tag}{i}.get({v}, {v}))")
        elif f.type is FieldType.BYTES:
            parts.append(f"(b{tag}{i} := to_bytes({v})), len(b{tag}{i})")
        else:
            parts.append(v)
    return ", ".join(parts)


def _bind_lines(bindings: Sequence[Binding], indent: str) -> list[str]:
    lines = []
    for i, b in enumerate(bindings):
        kw = f"kwargs.get({b.field.name!r}, D{i})"
        if b.position is None:
            lines.append(f"{indent}v{i} = {kw}")
        else:
            lines.append(f"{indent}v{i} = args[{b.position}] if n > {b.position} else {kw}")
    return lines


def span_wrapper(
    bindings: Sequence[Binding], ret_field: Field | None, *, is_async: bool, env: dict[str, Any]
) -> Callable[..., Any]:
    """The tracing path of a decorated function: entry event, call, exit event.

    env provides: func, emit_entry, emit_exit, entry_slow, exit_slow, exit_exc, next_id,
    cv_get, cv_set, cv_reset, cstr, to_bytes, Stepper (async), D<i>, E<i>, Er0 (enum ret).
    """
    names = [f"v{i}" for i in range(len(bindings))]
    entry_args = fast_args([b.field for b in bindings], names)
    raw = "(" + "".join(f"{v}, " for v in names) + ")"
    if ret_field is None:
        exit_fast, exit_raw = "b''", "b''"
    else:
        exit_fast = fast_args([ret_field], ["ret"], tag="r") + ", b''"
        exit_raw = "ret, b''"
    call = "await Stepper(func(*args, **kwargs), sid)" if is_async else "func(*args, **kwargs)"
    src = [
        f"{'async ' if is_async else ''}def on(*args, **kwargs):",
        "    n = len(args)",
        *_bind_lines(bindings, "    "),
        "    sid = next_id()",
        "    parent = cv_get()",
        "    token = cv_set(sid)",
        "    try:",
        f"        emit_entry(sid, parent{', ' if entry_args else ''}{entry_args})",
        "    except Exception:",
        f"        entry_slow(sid, parent, {raw})",
        "    try:",
        f"        ret = {call}",
        "    except BaseException as e:",
        "        cv_reset(token)",
        "        exit_exc(sid, parent, e)",
        "        raise",
        "    cv_reset(token)",
        "    try:",
        f"        emit_exit(sid, parent, {exit_fast})",
        "    except Exception:",
        f"        exit_slow(sid, parent, ({exit_raw}))",
        "    return ret",
    ]
    ns: dict[str, Any] = {}
    exec("\n".join(src), env, ns)  # noqa: S102 - source built from identifiers we validated
    return ns["on"]


def point_wrapper(bindings: Sequence[Binding], *, env: dict[str, Any]) -> Callable[..., None]:
    """The tracing path of a point event: bind, convert, emit (slow path on a bad value)."""
    names = [f"v{i}" for i in range(len(bindings))]
    fast = fast_args([b.field for b in bindings], names)
    raw = "(" + "".join(f"{v}, " for v in names) + ")"
    src = [
        "def on(*args, **kwargs):",
        "    n = len(args)",
        *_bind_lines(bindings, "    "),
        "    if n > NPOS or (kwargs and not kwargs.keys() <= NAMES):",
        "        extra(args, kwargs)",
        "    try:",
        f"        emit({fast})",
        "    except Exception:",
        f"        slow({raw})",
    ]
    ns: dict[str, Any] = {}
    exec("\n".join(src), env, ns)  # noqa: S102
    return ns["on"]
