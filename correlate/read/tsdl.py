"""A parser for CTF 1.8 TSDL metadata, the subset LTTng (UST, kernel) and perf write.

The metadata is small (kilobytes), so it is parsed in Python; :mod:`correlate.read.layout`
turns the result into the decoding program the C decoder runs. Anything outside the
subset raises :class:`TsdlError`, and the reader then uses babeltrace2 for that trace.

Example::

    meta = tsdl.parse(tsdl.read_text(Path("trace/metadata")))
    meta.streams[0].event_header, meta.events[0].fields
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from usdk.errors import CorruptTraceError

METADATA_PACKET_MAGIC = 0x75D11D57


class TsdlError(ValueError):
    """The metadata uses TSDL the native decoder does not handle (or is not TSDL)."""


# --- types ---------------------------------------------------------------------------


@dataclass
class Int:
    size: int
    align: int = 8
    signed: bool = False
    byte_order: str = "native"  # "le" | "be" | "native" (trace's)
    base: int = 10
    encoding: str = "none"
    map: str | None = None  # clock name


@dataclass
class Float:
    exp_dig: int
    mant_dig: int
    align: int = 8
    byte_order: str = "native"

    @property
    def size(self) -> int:
        return self.exp_dig + self.mant_dig


@dataclass
class String:
    encoding: str = "UTF8"


@dataclass
class Enum:
    base: Int
    mappings: list[tuple[str, int, int]]


@dataclass
class Struct:
    fields: list[tuple[str, object]]
    min_align: int = 1


@dataclass
class Variant:
    tag: str
    options: list[tuple[str, object]]


@dataclass
class Array:
    elem: object
    length: int


@dataclass
class Sequence:
    elem: object
    length: str  # name of the length field


# --- metadata model ------------------------------------------------------------------


@dataclass
class ClockDecl:
    name: str
    freq: int = 1_000_000_000
    offset_s: int = 0
    offset: int = 0
    absolute: bool = False


@dataclass
class StreamDecl:
    id: int
    event_header: object | None = None
    packet_context: object | None = None
    event_context: object | None = None


@dataclass
class EventDecl:
    name: str
    id: int
    stream_id: int
    context: object | None = None
    fields: object | None = None


@dataclass
class Metadata:
    byte_order: str = "le"
    packet_header: object | None = None
    env: dict[str, object] = field(default_factory=dict)
    clocks: dict[str, ClockDecl] = field(default_factory=dict)
    streams: dict[int, StreamDecl] = field(default_factory=dict)
    events: list[EventDecl] = field(default_factory=list)


# --- reading the metadata file -------------------------------------------------------


def read_text(path: Path) -> str:
    """The TSDL text of a metadata file, plain or packetized (LTTng)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorruptTraceError(f"cannot read metadata: {e.strerror}", path=str(path)) from None
    if len(data) >= 4 and struct.unpack_from("<I", data)[0] in (
        METADATA_PACKET_MAGIC, struct.unpack(">I", struct.pack("<I", METADATA_PACKET_MAGIC))[0]
    ):
        return _unpacketize(data, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptTraceError("metadata is neither TSDL text nor metadata packets",
                                path=str(path), offset=e.start) from None


def _unpacketize(data: bytes, path: Path) -> str:
    le = struct.unpack_from("<I", data)[0] == METADATA_PACKET_MAGIC
    bo = "<" if le else ">"
    out = []
    off = 0
    while off < len(data):
        if off + 37 > len(data):
            raise CorruptTraceError("truncated metadata packet header", path=str(path), offset=off)
        magic, = struct.unpack_from(bo + "I", data, off)
        if magic != METADATA_PACKET_MAGIC:
            raise CorruptTraceError("bad metadata packet magic", path=str(path), offset=off)
        content_bits, packet_bits = struct.unpack_from(bo + "II", data, off + 24)
        compression, encryption, checksum = data[off + 32], data[off + 33], data[off + 34]
        if compression or encryption or checksum:
            raise TsdlError("compressed/encrypted metadata packets are not supported")
        if content_bits < 37 * 8 or packet_bits < content_bits or packet_bits % 8:
            raise CorruptTraceError("bad metadata packet size", path=str(path), offset=off)
        end = off + content_bits // 8
        if off + packet_bits // 8 > len(data) and end > len(data):
            raise CorruptTraceError("truncated metadata packet", path=str(path), offset=off)
        out.append(data[off + 37:end])
        off += packet_bits // 8
    try:
        return b"".join(out).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptTraceError("metadata text is not UTF-8", path=str(path),
                                offset=e.start) from None


# --- tokenizer -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|/\*.*?\*/|//[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>-?(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|\.\.\.|[{}\[\]();:=<>,.+\-])
    """,
    re.S | re.X,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    toks = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if not m:
            raise TsdlError(f"unexpected character {text[pos]!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        toks.append((kind or "", m.group()))
    return toks


def _int(tok: str) -> int:
    t = tok.rstrip("uUlL")
    try:
        return int(t, 0) if not re.fullmatch(r"-?0\d+", t) else int(t, 8)
    except ValueError:
        raise TsdlError(f"bad integer literal {tok!r}") from None


def _align(v: object, what: str) -> int:
    """An alignment in bits: a power of two up to 2^16, else :class:`TsdlError`."""
    n = _n(v, what)
    if n < 1 or n > 1 << 16 or n & (n - 1):
        raise TsdlError(f"{what} must be a power of two from 1 to 65536 bits: {n}")
    return n


def _n(v: object, what: str) -> int:
    """An attribute that must be an integer (``size = 32;``), else :class:`TsdlError`."""
    if isinstance(v, int):
        return v
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise TsdlError(f"{what} is not an integer: {v!r}") from None


_KEYWORDS = {"integer", "floating_point", "string", "enum", "struct", "variant"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.t = _tokenize(text)
        self.i = 0
        self.aliases: dict[str, object] = {}
        self.structs: dict[str, Struct] = {}
        self.enums: dict[str, Enum] = {}
        self.variants: dict[str, Variant] = {}
        self.meta = Metadata()

    # token helpers
    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.t[j][1] if j < len(self.t) else ""

    def kind(self, k: int = 0) -> str:
        j = self.i + k
        return self.t[j][0] if j < len(self.t) else ""

    def next(self) -> str:
        if self.i >= len(self.t):
            raise TsdlError("unexpected end of metadata")
        v = self.t[self.i][1]
        self.i += 1
        return v

    def expect(self, v: str) -> None:
        got = self.next()
        if got != v:
            raise TsdlError(f"expected {v!r}, got {got!r} (token {self.i})")

    def accept(self, v: str) -> bool:
        if self.peek() == v:
            self.i += 1
            return True
        return False

    # top level
    def parse(self) -> Metadata:
        while self.i < len(self.t):
            w = self.peek()
            if w == ";":
                self.i += 1
            elif w in ("trace", "env", "clock", "stream", "event", "callsite") and \
                    self.peek(1) == "{":
                self.next()
                self.block(w)
            elif w == "typealias":
                self.typealias()
            elif w == "typedef":
                self.next()
                ty = self.type_spec()
                name = self.next()
                self.aliases[name] = ty
                self.expect(";")
            elif w in ("struct", "enum", "variant"):
                self.type_spec()
                self.expect(";")
            else:
                raise TsdlError(f"unexpected {w!r} at top level")
        return self.meta

    def typealias(self) -> None:
        self.expect("typealias")
        ty = self.type_spec()
        self.expect(":=")
        words = []
        while self.peek() != ";":
            words.append(self.next())
        self.expect(";")
        self.aliases[" ".join(words)] = ty

    def value(self) -> object:
        k, v = self.kind(), self.next()
        if k == "str":
            try:
                return bytes(v[1:-1], "utf-8").decode("unicode_escape")
            except UnicodeDecodeError:
                raise TsdlError(f"bad escape in string {v!r}") from None
        if k == "num":
            return _int(v)
        if v == "-" and self.kind() == "num":
            return -_int(self.next())
        words = [v]
        while self.peek() == ".":
            self.next()
            words.append(self.next())
        return ".".join(words)

    def block(self, which: str) -> None:
        self.expect("{")
        attrs: dict[str, object] = {}
        types: dict[str, object] = {}
        while not self.accept("}"):
            if self.peek() == "typealias":
                self.typealias()
                continue
            key = [self.next()]
            while self.peek() == ".":
                self.next()
                key.append(self.next())
            k = ".".join(key)
            if self.accept(":="):
                types[k] = self.type_spec()
            else:
                self.expect("=")
                attrs[k] = self.value()
            self.expect(";")
        self.accept(";")
        m = self.meta
        if which == "trace":
            bo = attrs.get("byte_order", "le")
            m.byte_order = "be" if bo in ("be", "network") else "le"
            m.packet_header = types.get("packet.header")
        elif which == "env":
            m.env.update(attrs)
        elif which == "clock":
            name = str(attrs.get("name", ""))
            m.clocks[name] = ClockDecl(
                name, _n(attrs.get("freq", 1_000_000_000), "clock freq"),
                _n(attrs.get("offset_s", 0), "clock offset_s"),
                _n(attrs.get("offset", 0), "clock offset"),
                str(attrs.get("absolute", "false")).lower() in ("true", "1"))
        elif which == "stream":
            sid = _n(attrs.get("id", 0), "stream id")
            m.streams[sid] = StreamDecl(sid, types.get("event.header"),
                                        types.get("packet.context"), types.get("event.context"))
        elif which == "event":
            m.events.append(EventDecl(str(attrs.get("name", "")),
                                      _n(attrs.get("id", 0), "event id"),
                                      _n(attrs.get("stream_id", 0), "event stream_id"),
                                      types.get("context"), types.get("fields")))

    # types
    def attrs_block(self) -> dict[str, object]:
        self.expect("{")
        a: dict[str, object] = {}
        while not self.accept("}"):
            k = self.next()
            self.expect("=")
            a[k] = self.value()
            self.expect(";")
        return a

    def type_spec(self) -> object:
        w = self.peek()
        if w == "integer":
            self.next()
            a = self.attrs_block()
            size = _n(a.get("size"), "integer size")
            align = _align(a.get("align", 8 if size % 8 == 0 else 1), "integer align")
            signed = str(a.get("signed", "false")).lower() in ("true", "1")
            base = a.get("base", 10)
            base_n = {"decimal": 10, "dec": 10, "d": 10, "i": 10, "u": 10, "hexadecimal": 16,
                      "hex": 16, "x": 16, "X": 16, "p": 16, "octal": 8, "oct": 8, "o": 8,
                      "binary": 2, "b": 2}.get(str(base), base if isinstance(base, int) else 10)
            mp = a.get("map")
            clock = str(mp).split(".")[1] if mp and str(mp).startswith("clock.") else None
            return Int(size, align, signed, _bo(a.get("byte_order")), int(base_n),
                       str(a.get("encoding", "none")), clock)
        if w == "floating_point":
            self.next()
            a = self.attrs_block()
            return Float(_n(a.get("exp_dig"), "exp_dig"), _n(a.get("mant_dig"), "mant_dig"),
                         _align(a.get("align", 8), "floating_point align"),
                         _bo(a.get("byte_order")))
        if w == "string":
            self.next()
            enc = "UTF8"
            if self.peek() == "{":
                enc = str(self.attrs_block().get("encoding", "UTF8"))
            return String(enc)
        if w == "enum":
            return self.enum_spec()
        if w == "struct":
            return self.struct_spec()
        if w == "variant":
            return self.variant_spec()
        # alias name (possibly several words)
        words = []
        while self.kind() == "id" and self.peek() not in _KEYWORDS:
            words.append(self.next())
            if " ".join(words) in self.aliases and not (
                self.kind() == "id" and " ".join([*words, self.peek()]) in self.aliases
            ):
                return self.aliases[" ".join(words)]
        raise TsdlError(f"unknown type {' '.join(words) or self.peek()!r}")

    def enum_spec(self) -> Enum:
        self.expect("enum")
        name = None
        if self.kind() == "id" and self.peek() != ":":
            name = self.next()
            if self.peek() not in (":", "{"):
                if name in self.enums:
                    return self.enums[name]
                raise TsdlError(f"unknown enum {name!r}")
        base: object = Int(32, 8, True)
        if self.accept(":"):
            base = self.type_spec()
        if not isinstance(base, Int):
            raise TsdlError("enum base is not an integer")
        self.expect("{")
        maps: list[tuple[str, int, int]] = []
        nxt = 0
        while not self.accept("}"):
            k, v = self.kind(), self.next()
            label = v[1:-1] if k == "str" else v
            lo = hi = nxt
            if self.accept("="):
                lo = hi = _n(self.value(), "enumeration value")
                if self.accept("..."):
                    hi = _n(self.value(), "enumeration value")
            maps.append((label, lo, hi))
            nxt = hi + 1
            self.accept(",")
        e = Enum(base, maps)
        if name:
            self.enums[name] = e
        return e

    def decls(self) -> list[tuple[str, object]]:
        self.expect("{")
        out: list[tuple[str, object]] = []
        while not self.accept("}"):
            if self.peek() == "typealias":
                self.typealias()
                continue
            ty = self.type_spec()
            while True:
                name = self.next()
                t = ty
                dims = []
                while self.accept("["):
                    dims.append(self.value())
                    self.expect("]")
                for d in reversed(dims):
                    t = Array(t, d) if isinstance(d, int) else Sequence(t, str(d))
                out.append((name, t))
                if not self.accept(","):
                    break
            self.expect(";")
        return out

    def struct_spec(self) -> Struct:
        self.expect("struct")
        name = None
        if self.kind() == "id":
            name = self.next()
            if self.peek() != "{":
                if name in self.structs:
                    return self.structs[name]
                raise TsdlError(f"unknown struct {name!r}")
        s = Struct(self.decls())
        if self.accept("align"):
            self.expect("(")
            s.min_align = _align(self.value(), "struct align")
            self.expect(")")
        if name:
            self.structs[name] = s
        return s

    def variant_spec(self) -> Variant:
        self.expect("variant")
        name = None
        if self.kind() == "id":
            name = self.next()
        tag = ""
        if self.accept("<"):
            parts = [self.next()]
            while self.peek() == ".":
                self.next()
                parts.append(self.next())
            tag = ".".join(parts)
            self.expect(">")
        if self.peek() != "{":
            if name and name in self.variants:
                v = self.variants[name]
                return Variant(tag or v.tag, v.options)
            raise TsdlError(f"unknown variant {name!r}")
        v = Variant(tag, self.decls())
        if name:
            self.variants[name] = v
        return v


def _bo(v: object) -> str:
    s = str(v) if v is not None else "native"
    if s in ("be", "network"):
        return "be"
    if s == "le":
        return "le"
    return "native"


def parse(text: str) -> Metadata:
    """Parse TSDL text; raises :class:`TsdlError` outside the supported subset."""
    try:
        return _Parser(text).parse()
    except RecursionError:
        raise TsdlError("metadata types nest too deeply") from None


def alignment(t: object) -> int:
    """Alignment in bits of a TSDL type."""
    if isinstance(t, Int | Float):
        return t.align
    if isinstance(t, Enum):
        return t.base.align
    if isinstance(t, String):
        return 8
    if isinstance(t, Struct):
        return max([t.min_align, *(alignment(ft) for _, ft in t.fields)])
    if isinstance(t, Array | Sequence):
        return alignment(t.elem)
    if isinstance(t, Variant):
        return 1
    raise TsdlError(f"no alignment for {t!r}")
