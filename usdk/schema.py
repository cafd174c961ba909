"""Event schemas: which typed fields an LTTng event carries, and what LTTng accepts.

A schema is plain data (frozen dataclasses); :mod:`usdk.codegen` turns it into a
``LTTNG_UST_TRACEPOINT_EVENT`` header and :mod:`usdk.coerce` maps Python values onto it.

Example::

    >>> from usdk.schema import Field, FieldType, EventSchema
    >>> EventSchema("shop", "cache_miss", (Field("key", FieldType.STR),)).full_name
    'shop:cache_miss'
"""

from __future__ import annotations

import enum
import hashlib
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from usdk.errors import SchemaError

# LTTng-UST's LTTNG_UST_TP_ARGS takes at most 10 (type, name) pairs.
MAX_TP_ARGS = 10
# LTTNG_UST_ABI_SYM_NAME_LEN is 256 including the NUL: "provider:event" must fit.
MAX_FULL_NAME = 255
MAX_PART = 127

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names the C preprocessor or compiler would see as something else.
_C_RESERVED = frozenset(
    [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Bool",
        "_Complex",
        "_Imaginary",
        "_Alignas",
        "_Alignof",
        "_Atomic",
        "_Generic",
        "_Noreturn",
        "_Static_assert",
        "_Thread_local",
        "linux",
        "unix",
        "i386",
    ]  # the last ones: macros GNU C predefines (gcc -dM -E)
)


class FieldType(enum.Enum):
    """The field types a Python annotation maps to (CTF type in the value)."""

    INT = "int64"
    FLOAT = "double"
    BOOL = "bool"  # recorded as an 8-bit unsigned integer, 0 or 1
    STR = "string"
    BYTES = "bytes"  # recorded as a sequence of uint8 with a 64-bit length
    ENUM = "enum"  # an LTTng enum over a 64-bit signed integer

    @property
    def tp_args(self) -> int:
        """How many LTTNG_UST_TP_ARGS slots one field of this type uses."""
        return 2 if self is FieldType.BYTES else 1


# Fields every span event carries before the captured ones.
SPAN_FIELDS = ("span_id", "parent_span_id")
RESERVED_FIELDS = frozenset({*SPAN_FIELDS, "ret", "exc_type"})


EnumClass = type[enum.Enum]  # (an alias: inside Field, `type` and `enum` are field names)


@dataclass(frozen=True)
class Field:
    """One typed payload field."""

    name: str
    type: FieldType
    enum: EnumClass | None = field(default=None, compare=False)
    # (label, value) pairs of an ENUM field; part of the identity of the schema.
    enum_items: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def for_enum(name: str, cls: EnumClass) -> Field:
        return Field(name, FieldType.ENUM, cls, enum_items(cls))


@dataclass(frozen=True)
class EventSchema:
    """One LTTng event: provider, name, and its fields in order."""

    provider: str
    name: str
    fields: tuple[Field, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.provider}:{self.name}"

    def signature(self) -> str:
        """A stable text form; the provider's cache key hashes these."""
        parts = []
        for f in self.fields:
            extra = ",".join(f"{k}={v}" for k, v in f.enum_items)
            parts.append(f"{f.name}:{f.type.value}" + (f"[{extra}]" if extra else ""))
        return f"{self.full_name}({';'.join(parts)})"


def enum_items(cls: type[enum.Enum]) -> tuple[tuple[str, int], ...]:
    """Labels and integer values of an Enum: int values as they are, others by position."""
    members = list(cls)
    if all(isinstance(m.value, int) and not isinstance(m.value, bool) for m in members):
        return tuple((m.name, int(m.value)) for m in members)
    return tuple((m.name, i) for i, m in enumerate(members))


def enum_value_map(cls: type[enum.Enum]) -> dict[Any, int]:
    """Member -> the integer recorded for it (see :func:`enum_items`)."""
    values = dict(enum_items(cls))
    return {m: values[m.name] for m in cls}


def field_type_for(annotation: Any) -> tuple[FieldType, type[enum.Enum] | None] | None:
    """Map a Python annotation to a field type; None when it is not supported."""
    if isinstance(annotation, str):
        annotation = {"int": int, "float": float, "bool": bool, "str": str, "bytes": bytes}.get(
            annotation, annotation
        )
    if annotation is bool:
        return FieldType.BOOL, None
    if annotation is int:
        return FieldType.INT, None
    if annotation is float:
        return FieldType.FLOAT, None
    if annotation is str:
        return FieldType.STR, None
    if annotation in (bytes, bytearray):
        return FieldType.BYTES, None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return FieldType.ENUM, annotation
    return None


def make_field(name: str, annotation: Any) -> Field | None:
    mapped = field_type_for(annotation)
    if mapped is None:
        return None
    ftype, cls = mapped
    return Field.for_enum(name, cls) if cls is not None else Field(name, ftype)


def check_name(kind: str, name: str) -> None:
    """Provider, event and field names must be C identifiers LTTng can carry."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise SchemaError(
            f"invalid {kind} name {name!r}: LTTng needs an ASCII C identifier "
            "(letters, digits, underscore; not starting with a digit)"
        )
    if name in _C_RESERVED or keyword.iskeyword(name):
        raise SchemaError(f"invalid {kind} name {name!r}: it is a C or Python keyword")
    if len(name) > MAX_PART:
        raise SchemaError(f"invalid {kind} name {name!r}: longer than {MAX_PART} characters")
    if kind == "provider" and name.startswith("lttng"):
        raise SchemaError(
            f"invalid provider name {name!r}: names starting with 'lttng' are LTTng's"
        )


def validate(schema: EventSchema) -> None:
    """Raise SchemaError for anything LTTng or the generated C would reject."""
    check_name("provider", schema.provider)
    check_name("event", schema.name)
    if len(schema.full_name) > MAX_FULL_NAME:
        raise SchemaError(
            f"event name {schema.full_name!r} is longer than {MAX_FULL_NAME} characters"
        )
    seen: set[str] = set()
    for f in schema.fields:
        if f.name in _C_RESERVED or not _IDENT.match(f.name):
            # Field names are only stringified by the macros, but must still be CTF identifiers.
            check_name("field", f.name)
        if f.name in seen:
            raise SchemaError(f"{schema.full_name}: duplicate field {f.name!r}")
        seen.add(f.name)
        if f.type is FieldType.ENUM and not f.enum_items:
            raise SchemaError(f"{schema.full_name}: enum field {f.name!r} has no members")
    used = sum(f.type.tp_args for f in schema.fields)
    if used > MAX_TP_ARGS:
        raise SchemaError(
            f"{schema.full_name}: {used} tracepoint arguments, LTTng allows {MAX_TP_ARGS} "
            f"(span events use 2 for span ids; bytes fields use 2): capture fewer fields"
        )


def schema_hash(provider: str, events: list[EventSchema], *, version: str) -> str:
    """Cache key of a provider's shared object: its events' signatures and usdk's version."""
    h = hashlib.sha256(f"usdk {version}\n{provider}\n".encode())
    for ev in events:
        h.update(ev.signature().encode() + b"\n")
    return h.hexdigest()[:16]
