"""From parsed TSDL to the decoding program of the native decoder.

Each scope (packet header, packet context, event header, event context, each event's
payload) becomes a list of :class:`Op` (one per field, plus alignment and the jumps that
select a variant option). Fields of the packet/event headers land in fixed slots (magic,
stream id, content/packet size, sequence number, discarded count, CPU, event id) or update
the stream clock; context and payload fields land in columns of the event's class.

Layouts outside what the decoder handles (variants or nested structures in payloads,
arrays of structures, floats other than 32/64 bits, ...) raise :class:`Unsupported`, and
the reader uses babeltrace2 for that trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from correlate import names
from correlate.read import tsdl
from correlate.read.bt2source import FIXED_CONTEXTS, Options
from correlate.read.model import ENUM, FLOAT, INT, OBJ, STR, UINT

# keep in sync with correlate/native/decoder.h
(OP_END, OP_ALIGN, OP_INT, OP_FLOAT, OP_STRING, OP_TEXT, OP_LIST, OP_JUMP, OP_JUMP_OUT,
 OP_FIXED) = range(10)
(COL_I64, COL_U64, COL_F64, COL_STR, COL_LIST_I64, COL_LIST_U64, COL_LIST_F64, COL_CODE,
 COL_ENUM) = range(9)
# string columns the decoder interns into dictionary codes (they become categoricals)
INTERNED = ("procname",)
(SLOT_MAGIC, SLOT_STREAM_ID, SLOT_EVENT_ID, SLOT_CONTENT_SIZE, SLOT_PACKET_SIZE, SLOT_SEQ_NUM,
 SLOT_DISCARDED, SLOT_CPU, SLOT_TS_BEGIN, SLOT_TS_END, SLOT_INSTANCE_ID) = range(11)
DEST_NONE = -1000

PACKET_HEADER_SLOTS = {"magic": SLOT_MAGIC, "stream_id": SLOT_STREAM_ID,
                       "stream_instance_id": SLOT_INSTANCE_ID}
PACKET_CONTEXT_SLOTS = {"content_size": SLOT_CONTENT_SIZE, "packet_size": SLOT_PACKET_SIZE,
                        "packet_seq_num": SLOT_SEQ_NUM, "events_discarded": SLOT_DISCARDED,
                        "cpu_id": SLOT_CPU, "timestamp_begin": SLOT_TS_BEGIN,
                        "timestamp_end": SLOT_TS_END}
EVENT_HEADER_SLOTS = {"id": SLOT_EVENT_ID}
ID_FIELDS = ("vpid", "vtid", "pid", "tid", "perf_pid", "perf_tid")


class Unsupported(Exception):
    """The layout needs babeltrace2 (the reason is the message)."""


@dataclass
class Op:
    kind: int
    size: int = 0
    align: int = 1
    is_signed: int = 0
    big_endian: int = 0
    reg: int = -1
    dest: int = DEST_NONE
    clock: int = 0
    reg_len: int = -1
    target: int = 0
    count: int = 0
    lo: int = 0
    hi: int = 0
    elem_size: int = 0
    elem_align: int = 1
    elem_signed: int = 0
    elem_big_endian: int = 0
    elem_float: int = 0


@dataclass
class ColumnSpec:
    name: str
    kind: str  # model kind: INT, UINT, FLOAT, STR, ENUM, OBJ (lists)
    ccol: int  # COL_* of the C buffers
    enum: tsdl.Enum | None = None
    context: bool = False


@dataclass
class ClassLayout:
    name: str
    canonical: str
    id: int
    stream_id: int
    wanted: bool
    columns: list[ColumnSpec]
    ops: list[Op]


@dataclass
class StreamLayout:
    id: int
    event_header: list[Op]
    event_context: list[Op] | None
    context_columns: list[ColumnSpec]


@dataclass
class Layout:
    domain: str
    tracer: str
    packet_header: list[Op]
    packet_context: list[Op]
    streams: list[StreamLayout]
    classes: list[ClassLayout]
    nregs: int
    clock: tsdl.ClockDecl | None
    discarded_bits: int = 64
    notes: list[str] = field(default_factory=list)


def strip(name: str) -> str:
    """The field name babeltrace2 shows: one leading underscore of the metadata name removed."""
    return name[1:] if name.startswith("_") else name


class _Compiler:
    def __init__(self, byte_order: str) -> None:
        self.byte_order = byte_order
        self.nregs = 0

    def be(self, bo: str) -> int:
        return int((self.byte_order if bo == "native" else bo) == "be")

    def reg(self) -> int:
        self.nregs += 1
        return self.nregs - 1

    def int_op(self, t: tsdl.Int, dest: int, clock: bool = False) -> Op:
        if not 1 <= t.size <= 64:
            raise Unsupported(f"{t.size}-bit integer")
        return Op(OP_INT, size=t.size, align=max(t.align, 1), is_signed=int(t.signed),
                  big_endian=self.be(t.byte_order), reg=self.reg(), dest=dest, clock=int(clock))

    def scope(self, st: object, slots: dict[str, int], clock_fields: tuple[str, ...]) -> list[Op]:
        """A header/context structure whose fields go to slots (or nowhere)."""
        ops: list[Op] = []
        regs: dict[str, int] = {}
        if st is None:
            return [Op(OP_END)]
        if not isinstance(st, tsdl.Struct):
            raise Unsupported("header is not a structure")
        self._scope_struct(st, slots, clock_fields, ops, regs)
        ops.append(Op(OP_END))
        return ops

    def _scope_struct(self, st: tsdl.Struct, slots: dict[str, int], clock_fields: tuple[str, ...],
                      ops: list[Op], regs: dict[str, int]) -> None:
        ops.append(Op(OP_ALIGN, align=tsdl.alignment(st)))
        for fname, ft in st.fields:
            if isinstance(ft, tsdl.Enum):
                ft = ft.base
                enum_tag = True
            else:
                enum_tag = False
            if isinstance(ft, tsdl.Int):
                clock = ft.map is not None and fname in clock_fields
                op = self.int_op(ft, -1 - slots[fname] if fname in slots else DEST_NONE, clock)
                regs[fname] = op.reg
                ops.append(op)
                _ = enum_tag
            elif isinstance(ft, tsdl.Struct):
                self._scope_struct(ft, slots, clock_fields, ops, regs)
            elif isinstance(ft, tsdl.Variant):
                self._scope_variant(st, ft, slots, clock_fields, ops, regs)
            else:
                self.field_ops(ft, DEST_NONE, ops, regs, fname)

    def _scope_variant(self, parent: tsdl.Struct, v: tsdl.Variant, slots: dict[str, int],
                       clock_fields: tuple[str, ...], ops: list[Op], regs: dict[str, int]) -> None:
        tag_type = dict(parent.fields).get(v.tag)
        if not isinstance(tag_type, tsdl.Enum) or v.tag not in regs:
            raise Unsupported(f"variant tag {v.tag!r} is not a preceding enumeration")
        ranges = {label: (lo, hi) for label, lo, hi in tag_type.mappings}
        ends: list[Op] = []
        for opt_name, opt_type in v.options:
            if opt_name not in ranges:
                raise Unsupported(f"variant option {opt_name!r} has no tag range")
            lo, hi = ranges[opt_name]
            jump = Op(OP_JUMP_OUT, reg_len=regs[v.tag], lo=lo, hi=hi)
            ops.append(jump)
            if isinstance(opt_type, tsdl.Struct):
                self._scope_struct(opt_type, slots, clock_fields, ops, regs)
            else:
                self._scope_struct(tsdl.Struct([(opt_name, opt_type)]), slots, clock_fields,
                                   ops, regs)
            end = Op(OP_JUMP)
            ops.append(end)
            ends.append(end)
            jump.target = len(ops)
        for end in ends:
            end.target = len(ops)
        ops.append(Op(OP_ALIGN, align=1))  # a landing op for the jumps

    def field_ops(self, ft: object, dest: int, ops: list[Op], regs: dict[str, int],
                  fname: str) -> tuple[str, int] | None:
        """Ops for one payload/context field; returns its (model kind, C column kind)."""
        if isinstance(ft, tsdl.Enum):
            op = self.int_op(ft.base, dest)
            regs[fname] = op.reg
            ops.append(op)
            return ENUM, (COL_I64 if ft.base.signed else COL_U64)
        if isinstance(ft, tsdl.Int):
            op = self.int_op(ft, dest)
            regs[fname] = op.reg
            ops.append(op)
            return (INT, COL_I64) if ft.signed else (UINT, COL_U64)
        if isinstance(ft, tsdl.Float):
            if ft.size not in (32, 64):
                raise Unsupported(f"{ft.size}-bit float")
            ops.append(Op(OP_FLOAT, size=ft.size, align=max(ft.align, 1),
                          big_endian=self.be(ft.byte_order), dest=dest))
            return FLOAT, COL_F64
        if isinstance(ft, tsdl.String):
            ops.append(Op(OP_STRING, dest=dest))
            return STR, COL_STR
        if isinstance(ft, tsdl.Array | tsdl.Sequence):
            elem = ft.elem
            if isinstance(ft, tsdl.Sequence):
                if ft.length not in regs:
                    raise Unsupported(f"sequence length {ft.length!r} is not a preceding field")
                reg_len, count = regs[ft.length], 0
            else:
                reg_len, count = -1, ft.length
            if isinstance(elem, tsdl.Enum):
                raise Unsupported("array of enumerations")
            if isinstance(elem, tsdl.Int) and elem.size == 8 and elem.encoding.upper() in (
                    "UTF8", "ASCII"):
                ops.append(Op(OP_TEXT, dest=dest, reg_len=reg_len, count=count,
                              elem_align=max(elem.align, 8)))
                return STR, COL_STR
            if isinstance(elem, tsdl.Int):
                if not 1 <= elem.size <= 64:
                    raise Unsupported(f"{elem.size}-bit integer")
                ops.append(Op(OP_LIST, dest=dest, reg_len=reg_len, count=count,
                              align=max(elem.align, 1), elem_size=elem.size,
                              elem_align=max(elem.align, 1), elem_signed=int(elem.signed),
                              elem_big_endian=self.be(elem.byte_order)))
                return OBJ, (COL_LIST_I64 if elem.signed else COL_LIST_U64)
            if isinstance(elem, tsdl.Float) and elem.size in (32, 64):
                ops.append(Op(OP_LIST, dest=dest, reg_len=reg_len, count=count,
                              align=max(elem.align, 1), elem_size=elem.size,
                              elem_align=max(elem.align, 1), elem_float=1,
                              elem_big_endian=self.be(elem.byte_order)))
                return OBJ, COL_LIST_F64
            raise Unsupported("array of compound elements")
        raise Unsupported(f"{type(ft).__name__} field {fname!r} in a payload")

    def columns(self, st: object, first_col: int, want: object, ops: list[Op],
                context: bool, rename: object = None) -> list[ColumnSpec]:
        """Ops + column specs for a context/payload structure (fields become columns)."""
        if st is None:
            return []
        if not isinstance(st, tsdl.Struct):
            raise Unsupported("payload is not a structure")
        ops.append(Op(OP_ALIGN, align=tsdl.alignment(st)))
        present = {strip(n) for n, _ in st.fields}
        regs: dict[str, int] = {}
        cols: list[ColumnSpec] = []
        for fname, ft in st.fields:
            shown = strip(fname)
            col = rename(shown) if callable(rename) else shown
            is_length = shown.startswith("_") and shown.endswith("_length") and \
                shown[1:-len("_length")] in present
            keep = not is_length and want(col)  # type: ignore[operator]
            dest = first_col + len(cols) if keep else DEST_NONE
            kinds = self.field_ops(ft, dest, ops, regs, fname)
            if keep and kinds is not None:
                if context and col in INTERNED and kinds[1] == COL_STR:
                    kinds = (kinds[0], COL_CODE)
                elif kinds[0] == ENUM:  # the decoder codes values; labels per code later
                    kinds = (ENUM, COL_ENUM)
                cols.append(ColumnSpec(col, kinds[0], kinds[1],
                                       ft if isinstance(ft, tsdl.Enum) else None, context))
        return cols


def _fixed(op: Op) -> bool:
    return (op.kind in (OP_INT, OP_FLOAT) and op.size in (8, 16, 32, 64) and op.align <= 8
            and not op.big_endian and not op.clock and (op.kind == OP_INT or op.size >= 32))


def fuse(ops: list[Op]) -> list[Op]:
    """Put an OP_FIXED before each run of 2+ whole-byte little-endian fields (the decoder
    reads such a run at once); programs with jumps are left alone (targets would move)."""
    if any(op.kind in (OP_JUMP, OP_JUMP_OUT) for op in ops):
        return ops
    out: list[Op] = []
    i = 0
    while i < len(ops):
        j = i
        while j < len(ops) and _fixed(ops[j]):
            j += 1
        if j - i >= 2:
            out.append(Op(OP_FIXED, size=sum(op.size for op in ops[i:j]), count=j - i))
            out += ops[i:j]
            i = j
        else:
            out.append(ops[i])
            i += 1
    return out


def compile_layout(meta: tsdl.Metadata, opts: Options) -> Layout:
    """The decoding program of a trace; raises :class:`Unsupported` for bt2-only layouts."""
    env = meta.env
    domain = "kernel" if env.get("domain") == "kernel" else "ust"
    tracer = str(env.get("tracer_name", ""))
    if domain == "kernel" and tracer.startswith("lttng"):
        tracer = "lttng-modules"
    c = _Compiler(meta.byte_order)
    ph = c.scope(meta.packet_header, PACKET_HEADER_SLOTS, ())
    if not meta.streams:
        raise Unsupported("no stream class")
    pcs = {id(s.packet_context) for s in meta.streams.values()}
    if len(pcs) > 1:
        raise Unsupported("stream classes with different packet contexts")
    first = next(iter(meta.streams.values()))
    pc = c.scope(first.packet_context, PACKET_CONTEXT_SLOTS, ("timestamp_begin",))
    discarded_bits = 64
    if isinstance(first.packet_context, tsdl.Struct):
        for n, t in first.packet_context.fields:
            if n == "events_discarded" and isinstance(t, tsdl.Int):
                discarded_bits = t.size
    if discarded_bits != 64:
        raise Unsupported(f"{discarded_bits}-bit events_discarded counter")
    streams: list[StreamLayout] = []

    def ctx_want(n: str) -> bool:
        return n in FIXED_CONTEXTS or n in ID_FIELDS or opts.wants_column(n)

    for sid, s in sorted(meta.streams.items()):
        eh = c.scope(s.event_header, EVENT_HEADER_SLOTS, ("timestamp",))
        ec_ops: list[Op] = []
        ctx_cols = c.columns(s.event_context, 0, ctx_want, ec_ops, True)
        ec = fuse(ec_ops + [Op(OP_END)]) if s.event_context is not None else None
        streams.append(StreamLayout(sid, eh, ec, ctx_cols))
    by_id = {s.id: s for s in streams}
    classes: list[ClassLayout] = []
    for ev in meta.events:
        if ev.stream_id not in by_id:
            raise Unsupported(f"event {ev.name!r} of unknown stream class {ev.stream_id}")
        canonical = names.canonical_event(ev.name, domain)
        sl = by_id[ev.stream_id]
        ops: list[Op] = []
        cols = list(sl.context_columns)
        if ev.context is not None:
            raise Unsupported("event-specific contexts")

        def rename(n: str, _c: str = canonical) -> str:
            return names.canonical_field(_c, n, tracer=tracer)

        def want(n: str) -> bool:
            return n in ID_FIELDS or opts.wants_column(n)

        cols += c.columns(ev.fields, len(cols), want, ops, False, rename)
        ops.append(Op(OP_END))
        ops = fuse(ops)
        classes.append(ClassLayout(ev.name, canonical, ev.id, ev.stream_id,
                                   opts.wants_event(ev.name, canonical), cols, ops))
    clock = next(iter(meta.clocks.values())) if meta.clocks else None
    for prog in (ph, pc, *(st.event_header for st in streams),
                 *(st.event_context or [] for st in streams), *(cl.ops for cl in classes)):
        _check_ranges(prog)
    return Layout(domain, tracer, ph, pc, streams, classes, c.nregs, clock, discarded_bits)


_I32 = 1 << 31
_WIDE = ("count", "lo", "hi")  # int64 in the C op; every other field is int32


def _check_ranges(ops: list[Op]) -> None:
    """Every value fits its C field (metadata can say ``align = 10^40;``)."""
    for op in ops:
        for k, v in op.__dict__.items():
            lim = 1 << 63 if k in _WIDE else _I32
            if not -lim <= v < lim:
                raise Unsupported(f"{k} = {v} is out of the native decoder's range")
