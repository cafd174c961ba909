/* usdk's CTF 1.8 packet decoder: walks the packets of stream files with a layout the
 * Python side compiled from the TSDL metadata (correlate/read/layout.py) and appends every
 * event's values to growable per-class column buffers. No Python object per event.
 *
 * ctf_decode_merged walks all the streams of a read at once in time order (class rows in
 * time order, the events table written as it goes); ctf_decode_stream walks one stream
 * (rows in stream order, plus the class of each event for ctf_merge to order later).
 *
 * Every read is bounds-checked against the packet's content size; on damage the decoder
 * reports the file offset and, in partial mode (ctf_decode_stream), drops the damaged
 * packet's rows and goes on with the next packet. */
#ifndef USDK_CTF_DECODER_H
#define USDK_CTF_DECODER_H

#include <stddef.h>
#include <stdint.h>

/* op kinds */
enum {
    OP_END = 0,
    OP_ALIGN,     /* align = bits */
    OP_INT,       /* size, align, is_signed, big_endian, reg, dest, clock */
    OP_FLOAT,     /* size 32/64, align, big_endian, dest */
    OP_STRING,    /* dest */
    OP_TEXT,      /* char array/sequence as string: len = count or regs[reg_len] */
    OP_LIST,      /* array/sequence of ints/floats: elem_* describe one element */
    OP_JUMP,      /* goto target */
    OP_JUMP_OUT,  /* goto target unless lo <= regs[reg_len] <= hi (variant option) */
    OP_FIXED,     /* the next `count` ops are OP_INT/OP_FLOAT of 8/16/32/64 bits, little-endian,
                     aligned to at most 8 bits, `size` bits in all: read at once when byte-
                     aligned and within the content, else op by op */
};

/* column kinds */
/* COL_CODE: a string interned per column: main = int32 code per row, aux = the dictionary's
 * bytes, dict = int64 end offset of each dictionary entry (procname: a handful of values).
 * COL_ENUM: an integer interned per column: main = int32 code per row, dict = int64 value
 * of each entry (enumerations). */
enum { COL_I64 = 0, COL_U64, COL_F64, COL_STR, COL_LIST_I64, COL_LIST_U64, COL_LIST_F64,
       COL_CODE, COL_ENUM };

/* special slots an OP_INT may write (dest = -1 - slot) */
enum {
    SLOT_MAGIC = 0, SLOT_STREAM_ID, SLOT_EVENT_ID, SLOT_CONTENT_SIZE, SLOT_PACKET_SIZE,
    SLOT_SEQ_NUM, SLOT_DISCARDED, SLOT_CPU, SLOT_TS_BEGIN, SLOT_TS_END, SLOT_INSTANCE_ID,
    NSLOTS
};
#define DEST_NONE (-1000)

/* status codes */
enum {
    DEC_OK = 0, DEC_ENOMEM = 1, DEC_TRUNCATED = 2, DEC_BAD_MAGIC = 3, DEC_BAD_STREAM = 4,
    DEC_BAD_EVENT = 5, DEC_BAD_SIZE = 6, DEC_OVERRUN = 7, DEC_BAD_LAYOUT = 8
};

typedef struct {
    int32_t kind;
    int32_t size;       /* bits */
    int32_t align;      /* bits */
    int32_t is_signed;
    int32_t big_endian;
    int32_t reg;        /* register to store an int into, -1 none */
    int32_t dest;       /* column index, -1-slot, or DEST_NONE */
    int32_t clock;      /* 1: value updates the stream clock (size bits) */
    int32_t reg_len;    /* TEXT/LIST: length register, -1 for fixed count; JUMP_OUT: tag reg */
    int32_t target;     /* JUMP/JUMP_OUT target op index */
    int64_t count;      /* fixed element count */
    int64_t lo, hi;     /* JUMP_OUT range */
    int32_t elem_size, elem_align, elem_signed, elem_big_endian, elem_float;
    int32_t clock_bits_pad;
} ctf_op;

typedef struct {
    char *data; size_t len; size_t cap;   /* bytes */
} ctf_buf;

typedef struct {
    int32_t kind;
    ctf_buf main;   /* values (8 bytes/row) or offsets (int64, rows+1) */
    ctf_buf aux;    /* string bytes or list values */
    ctf_buf dict;   /* COL_CODE: dictionary entry ends, COL_ENUM: values (int64) */
    void *intern;   /* COL_CODE/COL_ENUM: the decoder's hash of the dictionary */
} ctf_col;

typedef struct {
    int32_t stream_class;   /* index of its stream class */
    int32_t wanted;         /* 0: walk over it, store nothing */
    int32_t ncols;
    ctf_col *cols;
    ctf_buf ts, cpu;
    const ctf_op *ops;      /* payload program (specific context + fields), OP_END ended */
    int64_t rows;
} ctf_class;

typedef struct {
    int64_t id;
    const ctf_op *event_header;   /* OP_END ended; sets SLOT_EVENT_ID and the clock */
    const ctf_op *event_context;  /* into columns 0..k-1 of the event's class */
    int32_t *class_of_id;         /* event id -> class index or -1 */
    int64_t nids;
} ctf_stream_class;

typedef struct {
    const ctf_op *packet_header;
    const ctf_op *packet_context;
    ctf_stream_class *stream_classes;
    int32_t nstream_classes;
    ctf_class *classes;
    int32_t nclasses;
    int64_t nregs;
    int64_t start, end;           /* raw clock values, inclusive; end < 0: none */
    int32_t partial;
    int32_t clock_freq_is_ns;     /* unused by C, informative */
    ctf_buf seq;                  /* int32 class index of each stored event, stream order */
} ctf_layout;

typedef struct {
    int32_t status;
    int64_t offset;               /* byte offset in the file of the damage */
    int64_t packet_offset;
} ctf_damage;

typedef struct {
    int64_t events;               /* events walked (wanted or not) */
    int64_t stored;               /* events stored */
    int64_t packets;
    int64_t cpu;
    int64_t stream_class_id;
    int64_t instance_id;
    int64_t discarded;            /* sum of events_discarded increments */
    int64_t lost_packets;         /* gaps in packet_seq_num */
    int64_t loss_begin, loss_end; /* raw clock: from the end of the packet before the first
                                     packet reporting a loss to the end of the last one */
    int32_t has_loss;
    int32_t ndamage;              /* damage records written (max cap) */
    int32_t status;               /* first error status (0 if none) */
    int64_t error_offset;
} ctf_result;

/* The events table being written by ctf_decode_merged (one entry per stored event). */
typedef struct {
    ctf_buf ts, name, cpu, pid, tid, proc, row;   /* int64, int32, int32, int64, int64,
                                                     int32, int64 */
    int64_t n;
    int64_t done_bytes;   /* packets walked so far (read while decoding: progress) */
} ctf_events_buf;

/* One stream of ctf_decode_merged: its file, its trace's layout (whose classes receive the
 * rows of every stream of that trace) and, per class of the layout, its events-table name,
 * the columns holding pid and tid (int64) and procname (COL_CODE), or -1. */
typedef struct {
    ctf_layout *layout;
    const uint8_t *buf;
    size_t len;
    const int32_t *table_of;
    const int32_t *pid_col;
    const int32_t *tid_col;
    const int32_t *proc_col;
    ctf_result *res;
    int32_t drop_read;   /* 1: buf is a page-aligned read-only file mapping of ours whose
                            pages are unmapped once read (they stay in the page cache) */
} ctf_mstream;

/* Decode every stream at once, event by event in time order (a k-way merge on (timestamp,
 * stream index) of streams each in time order): class rows land in time order and the
 * events table is written as it goes. Returns 0; -1 when a stream is not in time order;
 * else the status of the first damage (its stream's res says where). Either way nothing is
 * kept from a failed call: the caller releases the buffers and decodes stream by stream. */
int ctf_decode_merged(ctf_mstream *streams, int32_t n, ctf_events_buf *out);
void ctf_release_events(ctf_events_buf *out);

/* out[i] = lut[base[idx2[i]] + idx[i]] (base, idx2 NULL: lut[idx[i]]), lut and out of elsize
 * 1 or 4 bytes; an index outside the lut gives `fill`. out may be idx (in place). */
int ctf_lookup(const int32_t *idx, const int32_t *idx2, const int64_t *base, int64_t n,
               const void *lut, int64_t nlut, int32_t elsize, int32_t fill, void *out);

int ctf_decode_stream(ctf_layout *layout, const uint8_t *buf, size_t len,
                      ctf_result *res, ctf_damage *damage, int32_t damage_cap);

/* Time order across streams (each already in time order): a k-way merge by (timestamp,
 * stream index). Stream s's events are seq[s][0..nseq[s]) (local class indexes, mapped to
 * parts by part_of[s]); part p's timestamps are ts[p], it belongs to table cls[p] and is
 * source src[p] of that table. Writes the table of every event in time order (name) and,
 * per table, the source of each of its rows in time order (rows_src[table]).
 * Returns 0, or -1 when a stream is not in time order (the caller sorts instead). */
int ctf_merge(int32_t nstreams, const int32_t *const *seq, const int64_t *nseq,
              const int32_t *const *part_of, int32_t nparts, const int64_t *const *ts,
              const int32_t *cls, const int32_t *src, int32_t *name, int32_t *const *rows_src);
/* dst[i] = the next element of source which[i] (sources consumed in order); elsize 1/2/4/8.
 * ctf_gather and ctf_events return 0, or -1 when out of memory. */
int ctf_gather(int32_t elsize, int32_t nsrc, const void *const *srcs, const int32_t *which,
                int64_t n, void *dst);
/* The events table: row i is the next row of table name[i]. */
int ctf_events(int64_t n, const int32_t *name, int32_t ntables, const int64_t *const *ts,
                const int32_t *const *cpu, const int64_t *const *pid, const int64_t *const *tid,
                const int32_t *const *proc, int64_t *ots, int32_t *ocpu, int64_t *opid,
                int64_t *otid, int32_t *oproc, int64_t *orow);
void ctf_free_buf(void *p);
void ctf_release_class(ctf_class *c);

#endif
