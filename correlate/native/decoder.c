/* usdk's CTF 1.8 packet decoder; see decoder.h. */
#define _GNU_SOURCE /* mremap */
#include "decoder.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CTF_MAGIC 0xC1FC1FC1u

typedef struct {
    const uint8_t *base;     /* packet start */
    uint64_t pos;            /* bit position from base */
    uint64_t limit;          /* readable bits from base */
    uint64_t avail;          /* bytes mapped from base (for 8-byte loads) */
    uint64_t clock;
    int64_t *regs;
    uint64_t slots[NSLOTS];
    uint32_t slot_set;
    ctf_class *cls;
    int store;
} dstate;

/* Buffer memory: a 64-byte header (the mapping's length, 0 for malloc) before the data.
 * Small buffers come from malloc; from BIG_BUF on, from mmap, grown with mremap (no copy).
 * ctf_free_buf releases either. (Not advised for huge pages: each buffer's last one would
 * be zeroed whole, and their faults may compact memory synchronously.) */
#define BUF_HDR 64
#define BIG_BUF ((size_t) 1 << 20)
#define MAP_STEP ((size_t) 2 << 20)

static void blk_free(char *data)
{
    if (!data)
        return;
    char *base = data - BUF_HDR;
    size_t maplen;
    memcpy(&maplen, base, sizeof maplen);
    if (maplen)
        munmap(base, maplen);
    else
        free(base);
}

static char *blk_resize(char *data, size_t used, size_t cap)
{
    size_t need = cap + BUF_HDR;
    char *base = data ? data - BUF_HDR : NULL;
    size_t oldmap = 0;
    if (base)
        memcpy(&oldmap, base, sizeof oldmap);
    if (need < BIG_BUF && !oldmap) {
        char *nb = realloc(base, need);
        if (!nb)
            return NULL;
        size_t zero = 0;
        memcpy(nb, &zero, sizeof zero);
        return nb + BUF_HDR;
    }
    size_t maplen = (need + MAP_STEP - 1) / MAP_STEP * MAP_STEP;
    char *nb;
    if (oldmap) {
        nb = mremap(base, oldmap, maplen, MREMAP_MAYMOVE);
        if (nb == MAP_FAILED)
            return NULL;
    } else {
        nb = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (nb == MAP_FAILED)
            return NULL;
        if (base) {
            memcpy(nb + BUF_HDR, data, used);
            free(base);
        }
    }
    memcpy(nb, &maplen, sizeof maplen);
    return nb + BUF_HDR;
}

static int buf_reserve(ctf_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 65536 - BUF_HDR;
    while (cap < b->len + extra)
        cap = (cap + BUF_HDR) * 2 - BUF_HDR;
    char *p = blk_resize(b->data, b->len, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Append n bytes; always inlined with a constant n, so the memcpy is a plain store. */
static inline __attribute__((always_inline)) int buf_put(ctf_buf *b, const void *v, size_t n)
{
    if (b->len + n > b->cap && buf_reserve(b, n))
        return -1;
    memcpy(b->data + b->len, v, n);
    b->len += n;
    return 0;
}

#define buf_put8(b, v) buf_put((b), (v), 8)
#define buf_put4(b, v) buf_put((b), (v), 4)

static inline uint64_t load_le(const uint8_t *p, int nbytes)
{
    /* constant-size loads (a variable-size memcpy is a libc call) */
    switch (nbytes) {
    case 1: return p[0];
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
    default: {
        uint64_t v = 0;
        memcpy(&v, p, (size_t) nbytes);
        return v; /* little-endian host */
    }
    }
}

static inline uint64_t bswap_n(uint64_t v, int nbytes)
{
    switch (nbytes) {
    case 1: return v;
    case 2: return __builtin_bswap16((uint16_t) v);
    case 4: return __builtin_bswap32((uint32_t) v);
    case 8: return __builtin_bswap64(v);
    default: {
        uint64_t r = 0;
        for (int i = 0; i < nbytes; i++)
            r = (r << 8) | ((v >> (8 * i)) & 0xff);
        return r;
    }
    }
}

/* Read `size` (1..64) bits at st->pos; caller aligned pos. */
static inline int read_bits(dstate *st, int size, int big_endian, uint64_t *out)
{
    if (size <= 0 || size > 64)
        return DEC_BAD_LAYOUT;
    if (st->pos + (uint64_t) size > st->limit)
        return DEC_OVERRUN;
    uint64_t pos = st->pos;
    uint64_t v;
    if ((pos & 7) == 0 && (size & 7) == 0) {
        const uint8_t *p = st->base + (pos >> 3);
        int nb = size >> 3;
        v = load_le(p, nb);
        if (big_endian)
            v = bswap_n(v, nb);
    } else if (!big_endian && (pos & 7) + (uint64_t) size <= 64 && (pos >> 3) + 8 <= st->avail) {
        v = load_le(st->base + (pos >> 3), 8) >> (pos & 7);
        if (size < 64)
            v &= (UINT64_C(1) << size) - 1;
    } else {
        v = 0;
        for (int i = 0; i < size; i++) {
            uint64_t bp = pos + (uint64_t) i;
            unsigned byte = st->base[bp >> 3];
            if (big_endian)
                v = (v << 1) | ((byte >> (7 - (bp & 7))) & 1u);
            else
                v |= (uint64_t) ((byte >> (bp & 7)) & 1u) << i;
        }
    }
    st->pos = pos + (uint64_t) size;
    *out = v;
    return 0;
}

static inline int align_to(dstate *st, int align)
{
    if (align > 1) {
        uint64_t a = (uint64_t) align;
        uint64_t np = (a & (a - 1)) ? (st->pos + a - 1) / a * a : (st->pos + a - 1) & ~(a - 1);
        if (np > st->limit)
            return DEC_OVERRUN;
        st->pos = np;
    }
    return 0;
}

static inline int64_t sign_extend(uint64_t v, int size)
{
    if (size < 64 && (v >> (size - 1)) & 1)
        v |= ~((UINT64_C(1) << size) - 1);
    return (int64_t) v;
}

static inline void clock_update(dstate *st, uint64_t v, int size)
{
    if (size >= 64) {
        st->clock = v;
        return;
    }
    uint64_t mask = (UINT64_C(1) << size) - 1;
    if (v < (st->clock & mask))
        st->clock += UINT64_C(1) << size;
    st->clock = (st->clock & ~mask) | v;
}

/* The dictionary of a COL_CODE (strings) or COL_ENUM (integers) column: open addressing
 * over codes, plus the last code (a stream's procname rarely changes from one event to the
 * next, an enumeration has a handful of values). */
typedef struct {
    int32_t *slots;      /* code + 1, 0 = empty */
    uint64_t *hashes;    /* per code */
    size_t cap;          /* power of two */
    int32_t n;
    int32_t last;        /* -1: none */
} intern_t;

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h ^ n;
}

/* key: bytes p[0..n) (COL_CODE) or the value v (COL_ENUM) */
static inline int entry_is(const ctf_col *c, int32_t code, const uint8_t *p, size_t n, int64_t v)
{
    const int64_t *d = (const int64_t *) c->dict.data;
    if (c->kind == COL_ENUM)
        return d[code] == v;
    int64_t b = code ? d[code - 1] : 0;
    return (size_t) (d[code] - b) == n && memcmp(c->aux.data + b, p, n) == 0;
}

static int intern_put(ctf_col *c, const uint8_t *p, size_t n, int64_t v)
{
    intern_t *t = c->intern;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            return DEC_ENOMEM;
        t->last = -1;
        c->intern = t;
    }
    int32_t code = -1;
    if (t->last >= 0 && entry_is(c, t->last, p, n, v)) {
        code = t->last;
    } else {
        uint64_t h = c->kind == COL_ENUM ? ((uint64_t) v * 0x9E3779B97F4A7C15ULL) >> 7
                                         : hash_bytes(p, n);
        if ((size_t) (t->n + 1) * 2 > t->cap) {   /* grow (and build) the table */
            size_t cap = t->cap ? t->cap * 2 : 16;
            int32_t *slots = calloc(cap, sizeof *slots);
            uint64_t *hashes = realloc(t->hashes, cap / 2 * sizeof *hashes);
            if (!slots || !hashes) {
                free(slots);
                if (hashes)
                    t->hashes = hashes;
                return DEC_ENOMEM;
            }
            t->hashes = hashes;
            for (int32_t k = 0; k < t->n; k++) {
                size_t i = (size_t) hashes[k] & (cap - 1);
                while (slots[i])
                    i = (i + 1) & (cap - 1);
                slots[i] = k + 1;
            }
            free(t->slots);
            t->slots = slots;
            t->cap = cap;
        }
        size_t i = (size_t) h & (t->cap - 1);
        while (t->slots[i]) {
            int32_t k = t->slots[i] - 1;
            if (t->hashes[k] == h && entry_is(c, k, p, n, v)) {
                code = k;
                break;
            }
            i = (i + 1) & (t->cap - 1);
        }
        if (code < 0) {
            if (c->kind == COL_ENUM) {
                if (buf_put8(&c->dict, &v))
                    return DEC_ENOMEM;
            } else {
                if (buf_reserve(&c->aux, n))
                    return DEC_ENOMEM;
                if (n)
                    memcpy(c->aux.data + c->aux.len, p, n);
                c->aux.len += n;
                int64_t end = (int64_t) c->aux.len;
                if (buf_put8(&c->dict, &end))
                    return DEC_ENOMEM;
            }
            code = t->n++;
            t->hashes[code] = h;
            t->slots[i] = code + 1;
        }
        t->last = code;
    }
    return buf_put4(&c->main, &code) ? DEC_ENOMEM : 0;
}

/* A string value of a column: bytes + end offset, or its dictionary code. */
static inline int put_string(ctf_col *c, const uint8_t *p, size_t n)
{
    if (c->kind == COL_CODE)
        return intern_put(c, p, n, 0);
    if (c->kind == COL_ENUM)
        return DEC_BAD_LAYOUT;
    if (buf_reserve(&c->aux, n))
        return DEC_ENOMEM;
    if (n)
        memcpy(c->aux.data + c->aux.len, p, n);
    c->aux.len += n;
    int64_t end = (int64_t) c->aux.len;
    return buf_put8(&c->main, &end) ? DEC_ENOMEM : 0;
}

static int read_elem(dstate *st, const ctf_op *op, ctf_buf *out)
{
    int rc = align_to(st, op->elem_align);
    if (rc)
        return rc;
    uint64_t v;
    rc = read_bits(st, op->elem_size, op->elem_big_endian, &v);
    if (rc)
        return rc;
    if (!out)
        return 0;
    if (op->elem_float) {
        double d;
        if (op->elem_size == 32) {
            float f;
            uint32_t u = (uint32_t) v;
            memcpy(&f, &u, 4);
            d = f;
        } else {
            memcpy(&d, &v, 8);
        }
        return buf_put8(out, &d) ? DEC_ENOMEM : 0;
    }
    if (op->elem_signed) {
        int64_t s = sign_extend(v, op->elem_size);
        return buf_put8(out, &s) ? DEC_ENOMEM : 0;
    }
    return buf_put8(out, &v) ? DEC_ENOMEM : 0;
}

/* An integer just read: the stream clock, its register, its column or slot. */
static inline __attribute__((always_inline)) int put_int(dstate *st, const ctf_op *op, uint64_t v,
                                                       int64_t nregs)
{
    int rc;
    if (op->clock)
        clock_update(st, v, op->size);
    int64_t sv = op->is_signed ? sign_extend(v, op->size) : (int64_t) v;
    if (op->reg >= 0 && op->reg < nregs)
        st->regs[op->reg] = sv;
    if (op->dest >= 0) {
        if (st->store && op->dest < st->cls->ncols) {
            ctf_col *c = &st->cls->cols[op->dest];
            if (c->kind == COL_ENUM) {
                if ((rc = intern_put(c, NULL, 0, sv)))
                    return rc;
            } else if (c->kind == COL_CODE) {
                return DEC_BAD_LAYOUT;
            } else if (buf_put8(&c->main, &sv)) {
                return DEC_ENOMEM;
            }
        }
    } else if (op->dest != DEST_NONE && -1 - op->dest < NSLOTS) {
        st->slots[-1 - op->dest] = v;
        st->slot_set |= 1u << (-1 - op->dest);
    }
    return 0;
}

/* A float just read (its bits): its column. */
static inline __attribute__((always_inline)) int put_float(dstate *st, const ctf_op *op, uint64_t v)
{
    if (op->dest >= 0 && st->store && op->dest < st->cls->ncols) {
        double d;
        if (st->cls->cols[op->dest].kind >= COL_CODE)
            return DEC_BAD_LAYOUT;
        if (op->size == 32) {
            float f;
            uint32_t u = (uint32_t) v;
            memcpy(&f, &u, 4);
            d = f;
        } else if (op->size == 64) {
            memcpy(&d, &v, 8);
        } else {
            return DEC_BAD_LAYOUT;
        }
        if (buf_put8(&st->cls->cols[op->dest].main, &d))
            return DEC_ENOMEM;
    }
    return 0;
}

static int run_ops(dstate *st, const ctf_op *ops, int64_t nregs)
{
    int pc = 0;
    for (;;) {
        const ctf_op *op = &ops[pc];
        int rc;
        switch (op->kind) {
        case OP_END:
            return 0;
        case OP_ALIGN:
            if ((rc = align_to(st, op->align)))
                return rc;
            break;
        case OP_INT: {
            uint64_t v;
            uint64_t pos = st->pos, a = (uint64_t) op->align;
            int size = op->size;
            if (a > 1)
                pos = (a & (a - 1)) ? (pos + a - 1) / a * a : (pos + a - 1) & ~(a - 1);
            if (!(pos & 7) && !op->big_endian && pos + (uint64_t) size <= st->limit
                && (size == 64 || size == 32 || size == 16 || size == 8)) {
                /* the common case: a little-endian, byte-aligned, whole-byte integer */
                const uint8_t *p = st->base + (pos >> 3);
                switch (size) {
                case 8: v = p[0]; break;
                case 16: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
                case 32: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
                default: memcpy(&v, p, 8); break;
                }
                st->pos = pos + (uint64_t) size;
            } else {
                if (pos > st->limit)
                    return DEC_OVERRUN;
                st->pos = pos;
                if ((rc = read_bits(st, size, op->big_endian, &v)))
                    return rc;
            }
            if ((rc = put_int(st, op, v, nregs)))
                return rc;
            break;
        }
        case OP_FLOAT: {
            if ((rc = align_to(st, op->align)))
                return rc;
            uint64_t v;
            if ((rc = read_bits(st, op->size, op->big_endian, &v)))
                return rc;
            if ((rc = put_float(st, op, v)))
                return rc;
            break;
        }
        case OP_FIXED: {
            /* the next `count` ops: little-endian whole-byte integers/floats, each aligned
             * to at most a byte; read together when the run starts on a byte and fits */
            uint64_t pos = st->pos;
            if ((pos & 7) || pos + (uint64_t) op->size > st->limit)
                break;   /* op by op, which reports the damage precisely */
            const uint8_t *p = st->base + (pos >> 3);
            for (int64_t k = 1; k <= op->count; k++) {
                const ctf_op *f = &op[k];
                uint64_t v;
                switch (f->size) {
                case 8: v = p[0]; break;
                case 16: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
                case 32: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
                default: memcpy(&v, p, 8); break;
                }
                p += f->size >> 3;
                if ((rc = f->kind == OP_FLOAT ? put_float(st, f, v) : put_int(st, f, v, nregs)))
                    return rc;
            }
            st->pos = pos + (uint64_t) op->size;
            pc += (int) op->count + 1;
            continue;
        }
        case OP_STRING: {
            if ((rc = align_to(st, 8)))
                return rc;
            if ((st->pos & 7) || st->pos >= st->limit)
                return DEC_OVERRUN;
            const uint8_t *p = st->base + (st->pos >> 3);
            size_t room = (size_t) ((st->limit - st->pos) >> 3);
            const uint8_t *nul = memchr(p, 0, room);
            if (!nul)
                return DEC_OVERRUN;
            size_t n = (size_t) (nul - p);
            if (op->dest >= 0 && st->store && op->dest < st->cls->ncols
                && (rc = put_string(&st->cls->cols[op->dest], p, n)))
                return rc;
            st->pos += (uint64_t) (n + 1) * 8;
            break;
        }
        case OP_TEXT: {
            int64_t n = op->reg_len >= 0 ? (op->reg_len < nregs ? st->regs[op->reg_len] : -1)
                                         : op->count;
            if (n < 0)
                return DEC_BAD_LAYOUT;
            if (n > 0 && (rc = align_to(st, op->elem_align > 8 ? op->elem_align : 8)))
                return rc;
            if ((uint64_t) n > (st->limit - st->pos) / 8 || (n > 0 && (st->pos & 7)))
                return DEC_OVERRUN;
            const uint8_t *p = st->base + (st->pos >> 3);
            if (op->dest >= 0 && st->store && op->dest < st->cls->ncols) {
                const uint8_t *nul = n ? memchr(p, 0, (size_t) n) : NULL;
                size_t len = nul ? (size_t) (nul - p) : (size_t) n;
                if ((rc = put_string(&st->cls->cols[op->dest], p, len)))
                    return rc;
            }
            st->pos += (uint64_t) n * 8;
            break;
        }
        case OP_LIST: {
            int64_t n = op->reg_len >= 0 ? (op->reg_len < nregs ? st->regs[op->reg_len] : -1)
                                         : op->count;
            if (n < 0 || op->elem_size <= 0)
                return DEC_BAD_LAYOUT;
            if ((uint64_t) n > (st->limit - st->pos) / (uint64_t) op->elem_size)
                return DEC_OVERRUN;
            ctf_col *c = (op->dest >= 0 && st->store && op->dest < st->cls->ncols)
                             ? &st->cls->cols[op->dest] : NULL;
            if (c && c->kind >= COL_CODE)
                return DEC_BAD_LAYOUT;
            if (n > 0 && (rc = align_to(st, op->align)))
                return rc;
            for (int64_t i = 0; i < n; i++)
                if ((rc = read_elem(st, op, c ? &c->aux : NULL)))
                    return rc;
            if (c) {
                int64_t end = (int64_t) (c->aux.len / 8);
                if (buf_put8(&c->main, &end))
                    return DEC_ENOMEM;
            }
            break;
        }
        case OP_JUMP:
            pc = op->target;
            continue;
        case OP_JUMP_OUT: {
            int64_t tag = (op->reg_len >= 0 && op->reg_len < nregs) ? st->regs[op->reg_len] : 0;
            if (tag < op->lo || tag > op->hi) {
                pc = op->target;
                continue;
            }
            break;
        }
        default:
            return DEC_BAD_LAYOUT;
        }
        pc++;
    }
}

/* Per-packet snapshot of every buffer length, to drop a damaged packet's rows. */
typedef struct {
    size_t *lens;
    size_t n;
} snapshot;

static size_t snapshot_size(const ctf_layout *L)
{
    size_t n = 0;
    for (int32_t i = 0; i < L->nclasses; i++)
        n += 3 + 2 * (size_t) L->classes[i].ncols;
    return n + 1;
}

static void snap_take(const ctf_layout *L, snapshot *s)
{
    size_t k = 0;
    for (int32_t i = 0; i < L->nclasses; i++) {
        ctf_class *c = &L->classes[i];
        s->lens[k++] = (size_t) c->rows;
        s->lens[k++] = c->ts.len;
        s->lens[k++] = c->cpu.len;
        for (int32_t j = 0; j < c->ncols; j++) {
            s->lens[k++] = c->cols[j].main.len;
            s->lens[k++] = c->cols[j].aux.len;
        }
    }
    s->lens[k++] = L->seq.len;
}

static void snap_restore(ctf_layout *L, const snapshot *s)
{
    size_t k = 0;
    for (int32_t i = 0; i < L->nclasses; i++) {
        ctf_class *c = &L->classes[i];
        c->rows = (int64_t) s->lens[k++];
        c->ts.len = s->lens[k++];
        c->cpu.len = s->lens[k++];
        for (int32_t j = 0; j < c->ncols; j++) {
            c->cols[j].main.len = s->lens[k++];
            size_t aux = s->lens[k++];
            if (c->cols[j].kind < COL_CODE)   /* a dictionary only grows */
                c->cols[j].aux.len = aux;
        }
    }
    L->seq.len = s->lens[k++];
}

static ctf_stream_class *find_stream_class(ctf_layout *L, uint64_t id)
{
    for (int32_t i = 0; i < L->nstream_classes; i++)
        if ((uint64_t) L->stream_classes[i].id == id)
            return &L->stream_classes[i];
    return NULL;
}

/* What a stream's packet contexts carried so far (discard counters, sequence numbers). */
typedef struct {
    uint64_t prev_disc, prev_seq, prev_end;
    int have_disc, have_seq, have_end;
} stream_track;

/* Open the packet at buf[off..len): read its header and context, count discards, and leave
 * st positioned on its first event. Returns status; *psize receives its size in bytes when
 * the packet context could be read (0 otherwise). */
static int open_packet(ctf_layout *L, dstate *st, const uint8_t *buf, size_t len, size_t off,
                       ctf_result *res, uint64_t *psize, int64_t *err_off, stream_track *tr,
                       ctf_stream_class **psc, int32_t *pcpu)
{
    int rc;
    *psize = 0;
    st->base = buf + off;
    st->pos = 0;
    st->limit = (uint64_t) (len - off) * 8;
    st->avail = len - off;
    st->slot_set = 0;
    st->cls = NULL;
    st->store = 0;
    if ((rc = run_ops(st, L->packet_header, L->nregs))) {
        *err_off = (int64_t) (off + st->pos / 8);
        return rc == DEC_OVERRUN ? DEC_TRUNCATED : rc;
    }
    /* a bad magic is reported after the packet context is read, so that a partial read
     * can still skip to the next packet when the sizes look sane */
    int bad_magic = (st->slot_set & (1u << SLOT_MAGIC)) && st->slots[SLOT_MAGIC] != CTF_MAGIC;
    uint64_t sid = (st->slot_set & (1u << SLOT_STREAM_ID)) ? st->slots[SLOT_STREAM_ID] : 0;
    ctf_stream_class *sc = find_stream_class(L, sid);
    if (!sc) {
        *err_off = (int64_t) off;
        return bad_magic ? DEC_BAD_MAGIC : DEC_BAD_STREAM;
    }
    res->stream_class_id = (int64_t) sid;
    if (st->slot_set & (1u << SLOT_INSTANCE_ID))
        res->instance_id = (int64_t) st->slots[SLOT_INSTANCE_ID];
    if ((rc = run_ops(st, L->packet_context, L->nregs))) {
        *err_off = (int64_t) (bad_magic ? off : off + st->pos / 8);
        return bad_magic ? DEC_BAD_MAGIC : (rc == DEC_OVERRUN ? DEC_TRUNCATED : rc);
    }
    uint64_t remaining = (uint64_t) (len - off) * 8;
    uint64_t packet_size = (st->slot_set & (1u << SLOT_PACKET_SIZE)) ? st->slots[SLOT_PACKET_SIZE]
                                                                       : remaining;
    uint64_t content_size = (st->slot_set & (1u << SLOT_CONTENT_SIZE))
                                ? st->slots[SLOT_CONTENT_SIZE] : packet_size;
    if (packet_size == 0 || (packet_size & 7) || content_size > packet_size
        || content_size < st->pos) {
        *err_off = (int64_t) off;
        return bad_magic ? DEC_BAD_MAGIC : DEC_BAD_SIZE;
    }
    if (packet_size > remaining) {
        *err_off = (int64_t) (bad_magic ? off : len);
        return bad_magic ? DEC_BAD_MAGIC : DEC_TRUNCATED;
    }
    *psize = packet_size / 8;
    if (bad_magic) {
        *err_off = (int64_t) off;
        return DEC_BAD_MAGIC;
    }
    int64_t cpu = (st->slot_set & (1u << SLOT_CPU)) ? (int64_t) st->slots[SLOT_CPU] : -1;
    res->cpu = cpu;
    int32_t cpu32 = (int32_t) cpu;
    int loss = 0;
    if (st->slot_set & (1u << SLOT_DISCARDED)) {
        uint64_t d = st->slots[SLOT_DISCARDED];
        uint64_t inc = tr->have_disc ? d - tr->prev_disc : d;
        res->discarded += (int64_t) inc;
        loss |= inc != 0;
        tr->prev_disc = d;
        tr->have_disc = 1;
    }
    if (st->slot_set & (1u << SLOT_SEQ_NUM)) {
        uint64_t s = st->slots[SLOT_SEQ_NUM];
        if (tr->have_seq && s > tr->prev_seq + 1) {
            res->lost_packets += (int64_t) (s - tr->prev_seq - 1);
            loss = 1;
        }
        tr->prev_seq = s;
        tr->have_seq = 1;
    }
    {   /* the loss window: the events were dropped after the previous packet ended */
        uint64_t b = (st->slot_set & (1u << SLOT_TS_BEGIN)) ? st->slots[SLOT_TS_BEGIN] : st->clock;
        uint64_t e = (st->slot_set & (1u << SLOT_TS_END)) ? st->slots[SLOT_TS_END] : b;
        if (loss) {
            if (!res->has_loss)
                res->loss_begin = (int64_t) (tr->have_end ? tr->prev_end : b);
            res->loss_end = (int64_t) e;
            res->has_loss = 1;
        }
        tr->prev_end = e;
        tr->have_end = 1;
    }
    st->limit = content_size;
    st->avail = packet_size / 8;
    *psc = sc;
    *pcpu = cpu32;
    return 0;
}

/* Read the event header at st->pos: its class (index in *ci) and timestamp (st->clock). */
static inline int event_header(ctf_layout *L, dstate *st, const ctf_stream_class *sc,
                               int32_t *ci)
{
    st->slot_set &= ~(1u << SLOT_EVENT_ID);
    st->cls = NULL;
    st->store = 0;
    int rc = run_ops(st, sc->event_header, L->nregs);
    if (rc)
        return rc;
    uint64_t id = st->slots[SLOT_EVENT_ID];
    if (!(st->slot_set & (1u << SLOT_EVENT_ID)) || id >= (uint64_t) sc->nids
        || sc->class_of_id[id] < 0)
        return DEC_BAD_EVENT;
    *ci = sc->class_of_id[id];
    return 0;
}

/* Decode one packet at buf[off..len); see open_packet. */
static int decode_packet(ctf_layout *L, dstate *st, const uint8_t *buf, size_t len, size_t off,
                         ctf_result *res, uint64_t *psize, int64_t *err_off, stream_track *tr)
{
    ctf_stream_class *sc;
    int32_t cpu32;
    int rc = open_packet(L, st, buf, len, off, res, psize, err_off, tr, &sc, &cpu32);
    if (rc)
        return rc;
    while (st->pos < st->limit) {
        uint64_t ev_start = st->pos;
        int32_t ci;
        if ((rc = event_header(L, st, sc, &ci))) {
            *err_off = (int64_t) (off + ev_start / 8);
            return rc;
        }
        ctf_class *cls = &L->classes[ci];
        uint64_t ts = st->clock;
        int in_range = (int64_t) ts >= L->start && (L->end < 0 || (int64_t) ts <= L->end);
        st->cls = cls;
        st->store = cls->wanted && in_range;
        if ((sc->event_context && (rc = run_ops(st, sc->event_context, L->nregs)))
            || (rc = run_ops(st, cls->ops, L->nregs))) {
            *err_off = (int64_t) (off + ev_start / 8);
            return rc;
        }
        if (st->store) {
            int64_t t = (int64_t) ts;
            if (buf_put8(&cls->ts, &t) || buf_put4(&cls->cpu, &cpu32) || buf_put4(&L->seq, &ci))
                return DEC_ENOMEM;
            cls->rows++;
            res->stored++;
        }
        res->events++;
    }
    res->packets++;
    return 0;
}

int ctf_decode_stream(ctf_layout *L, const uint8_t *buf, size_t len,
                      ctf_result *res, ctf_damage *damage, int32_t damage_cap)
{
    dstate st;
    memset(&st, 0, sizeof st);
    memset(res, 0, sizeof *res);
    res->cpu = -1;
    int64_t nregs = L->nregs > 0 ? L->nregs : 1;
    st.regs = calloc((size_t) nregs, sizeof(int64_t));
    snapshot snap = {calloc(snapshot_size(L) + 1, sizeof(size_t)), 0};
    if (!st.regs || !snap.lens) {
        free(st.regs);
        free(snap.lens);
        res->status = DEC_ENOMEM;
        return DEC_ENOMEM;
    }
    stream_track tr;
    memset(&tr, 0, sizeof tr);
    size_t off = 0;
    int status = 0;
    while (off < len) {
        snap_take(L, &snap);
        int64_t events_before = res->events, stored_before = res->stored;
        uint64_t psize = 0;
        int64_t err_off = (int64_t) off;
        int rc = decode_packet(L, &st, buf, len, off, res, &psize, &err_off, &tr);
        if (rc == 0) {
            off += psize;
            continue;
        }
        if (!status) {
            status = rc;
            res->status = rc;
            res->error_offset = err_off;
        }
        if (res->ndamage < damage_cap) {
            damage[res->ndamage].status = rc;
            damage[res->ndamage].offset = err_off;
            damage[res->ndamage].packet_offset = (int64_t) off;
            res->ndamage++;
        }
        if (!L->partial || rc == DEC_ENOMEM || rc == DEC_BAD_LAYOUT)
            break;
        snap_restore(L, &snap);
        res->stored = stored_before;
        res->events = events_before;
        if (psize == 0)
            break; /* cannot find the next packet */
        off += psize;
    }
    free(st.regs);
    free(snap.lens);
    return status;
}

void ctf_free_buf(void *p)
{
    blk_free(p);
}

static void release_buf(ctf_buf *b)
{
    blk_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ctf_release_class(ctf_class *c)
{
    release_buf(&c->ts);
    release_buf(&c->cpu);
    for (int32_t j = 0; j < c->ncols; j++) {
        release_buf(&c->cols[j].main);
        release_buf(&c->cols[j].aux);
        release_buf(&c->cols[j].dict);
        intern_t *t = c->cols[j].intern;
        if (t) {
            free(t->slots);
            free(t->hashes);
            free(t);
            c->cols[j].intern = NULL;
        }
    }
    c->rows = 0;
}

/* --- time order across streams ------------------------------------------------------ */

typedef struct {
    int64_t ts;
    int32_t stream;
} head;

static inline int head_less(const head *a, const head *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->stream < b->stream);
}

static void sift_down(head *h, int32_t n, int32_t i)
{
    head x = h[i];
    for (;;) {
        int32_t l = 2 * i + 1;
        if (l >= n)
            break;
        int32_t m = (l + 1 < n && head_less(&h[l + 1], &h[l])) ? l + 1 : l;
        if (!head_less(&h[m], &x))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

int ctf_merge(int32_t nstreams, const int32_t *const *seq, const int64_t *nseq,
              const int32_t *const *part_of, int32_t nparts, const int64_t *const *ts,
              const int32_t *cls, const int32_t *src, int32_t *name, int32_t *const *rows_src)
{
    int64_t *pcur = calloc((size_t) nparts + 1, sizeof *pcur);
    int64_t *scur = calloc((size_t) nstreams + 1, sizeof *scur);
    int64_t *trow = calloc((size_t) nparts + 1, sizeof *trow);   /* rows per table, <= nparts tables */
    head *h = malloc(((size_t) nstreams + 1) * sizeof *h);
    int rc = 0;
    if (!pcur || !scur || !trow || !h) {
        rc = -2;
        goto out;
    }
    int32_t n = 0;
    for (int32_t s = 0; s < nstreams; s++) {
        if (nseq[s] > 0) {
            int32_t p = part_of[s][seq[s][0]];
            h[n].ts = ts[p][0];
            h[n].stream = s;
            n++;
        }
    }
    for (int32_t i = n / 2 - 1; i >= 0; i--)
        sift_down(h, n, i);
    int64_t k = 0;
    while (n > 0) {
        int32_t s = h[0].stream;
        int64_t t = h[0].ts;
        /* take this stream's events while it stays first */
        const int32_t *sq = seq[s];
        const int32_t *po = part_of[s];
        int64_t i = scur[s], end = nseq[s];
        int64_t limit_ts = n > 1 ? h[1].ts : INT64_MAX;
        int32_t limit_s = n > 1 ? h[1].stream : INT32_MAX;
        if (n > 2 && head_less(&h[2], &h[1])) {
            limit_ts = h[2].ts;
            limit_s = h[2].stream;
        }
        for (;;) {
            int32_t p = po[sq[i]];
            int32_t tb = cls[p];
            name[k++] = tb;
            rows_src[tb][trow[tb]++] = src[p];
            pcur[p]++;
            i++;
            if (i == end)
                break;
            int32_t q = po[sq[i]];
            int64_t nt = ts[q][pcur[q]];
            if (nt < t) {
                rc = -1;   /* not in time order */
                goto out;
            }
            t = nt;
            if (t > limit_ts || (t == limit_ts && s > limit_s))
                break;
        }
        scur[s] = i;
        if (i == end) {
            h[0] = h[--n];
        } else {
            h[0].ts = t;
        }
        if (n > 0)
            sift_down(h, n, 0);
    }
out:
    free(pcur);
    free(scur);
    free(trow);
    free(h);
    return rc;
}

int ctf_gather(int32_t elsize, int32_t nsrc, const void *const *srcs, const int32_t *which,
                int64_t n, void *dst)
{
    int64_t *cur = calloc((size_t) nsrc + 1, sizeof *cur);
    if (!cur)
        return -1;
#define GATHER(T)                                                    \
    do {                                                             \
        T *d = dst;                                                  \
        for (int64_t i = 0; i < n; i++) {                            \
            int32_t w = which[i];                                    \
            d[i] = ((const T *) srcs[w])[cur[w]++];                  \
        }                                                            \
    } while (0)
    switch (elsize) {
    case 1: GATHER(uint8_t); break;
    case 2: GATHER(uint16_t); break;
    case 4: GATHER(uint32_t); break;
    case 8: GATHER(uint64_t); break;
    default: free(cur); return -1;
    }
#undef GATHER
    free(cur);
    return 0;
}

int ctf_events(int64_t n, const int32_t *name, int32_t ntables, const int64_t *const *ts,
                const int32_t *const *cpu, const int64_t *const *pid, const int64_t *const *tid,
                const int32_t *const *proc, int64_t *ots, int32_t *ocpu, int64_t *opid,
                int64_t *otid, int32_t *oproc, int64_t *orow)
{
    int64_t *cur = calloc((size_t) ntables + 1, sizeof *cur);
    if (!cur)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        int32_t t = name[i];
        int64_t r = cur[t]++;
        ots[i] = ts[t][r];
        ocpu[i] = cpu[t][r];
        opid[i] = pid[t][r];
        otid[i] = tid[t][r];
        oproc[i] = proc[t][r];
        orow[i] = r;
    }
    free(cur);
    return 0;
}

/* --- decoding every stream at once, in time order ------------------------------------ */

typedef struct {
    ctf_mstream *m;
    ctf_events_buf *out;
    ctf_layout *L;
    dstate st;
    stream_track tr;
    size_t off;
    uint64_t psize;
    int in_packet;
    ctf_stream_class *sc;
    int32_t cpu32;
    size_t dropped;       /* bytes of buf unmapped (drop_read) */
    int32_t ci;           /* the next event: its class, */
    uint64_t ev_start;    /* where it starts in the packet (bits) */
    int64_t ts;           /* and its timestamp */
} mcur;

/* Move a stream to its next event header. 1: an event is next, 0: the stream is done,
 * < 0: -status (damage; res->status and error_offset say what and where). */
static int advance(mcur *c)
{
    ctf_result *res = c->m->res;
    for (;;) {
        if (c->in_packet) {
            if (c->st.pos < c->st.limit) {
                c->ev_start = c->st.pos;
                int rc = event_header(c->L, &c->st, c->sc, &c->ci);
                if (rc) {
                    res->status = rc;
                    res->error_offset = (int64_t) (c->off + c->ev_start / 8);
                    return -rc;
                }
                c->ts = (int64_t) c->st.clock;
                return 1;
            }
            res->packets++;
            c->off += c->psize;
            c->in_packet = 0;
            __atomic_fetch_add(&c->out->done_bytes, (int64_t) c->psize, __ATOMIC_RELAXED);
            if (c->m->drop_read && c->off - c->dropped >= ((size_t) 8 << 20)) {
                size_t upto = c->off & ~(size_t) 4095;
                if (upto > c->dropped)
                    madvise((void *) (c->m->buf + c->dropped), upto - c->dropped, MADV_DONTNEED);
                c->dropped = upto;
            }
        }
        if (c->off >= c->m->len)
            return 0;
        int64_t err_off = (int64_t) c->off;
        int rc = open_packet(c->L, &c->st, c->m->buf, c->m->len, c->off, res, &c->psize,
                             &err_off, &c->tr, &c->sc, &c->cpu32);
        if (rc) {
            res->status = rc;
            res->error_offset = err_off;
            return -rc;
        }
        c->in_packet = 1;
    }
}

static inline int mcur_less(const mcur *a, int32_t ia, const mcur *b, int32_t ib)
{
    return a->ts < b->ts || (a->ts == b->ts && ia < ib);
}

static void msift(mcur *cur, int32_t *h, int32_t n, int32_t i)
{
    int32_t x = h[i];
    for (;;) {
        int32_t l = 2 * i + 1;
        if (l >= n)
            break;
        int32_t m = (l + 1 < n && mcur_less(&cur[h[l + 1]], h[l + 1], &cur[h[l]], h[l])) ? l + 1 : l;
        if (!mcur_less(&cur[h[m]], h[m], &cur[x], x))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

/* the value this event just stored in a column (-1/0 if it stored none: never expected) */
static inline int64_t last8(const ctf_col *c)
{
    int64_t v = -1;
    if (c->main.len >= 8 && c->kind <= COL_U64)
        memcpy(&v, c->main.data + c->main.len - 8, 8);
    return v;
}

static inline int32_t last4(const ctf_col *c)
{
    int32_t v = 0;
    if (c->main.len >= 4 && c->kind == COL_CODE)
        memcpy(&v, c->main.data + c->main.len - 4, 4);
    return v;
}

int ctf_decode_merged(ctf_mstream *ms, int32_t n, ctf_events_buf *out)
{
    int rc = 0;
    mcur *cur = calloc((size_t) n + 1, sizeof *cur);
    int32_t *h = calloc((size_t) n + 1, sizeof *h);
    if (!cur || !h) {
        free(cur);
        free(h);
        return DEC_ENOMEM;
    }
    int32_t nh = 0;
    for (int32_t i = 0; i < n; i++) {
        mcur *c = &cur[i];
        c->m = &ms[i];
        c->out = out;
        c->L = ms[i].layout;
        memset(c->m->res, 0, sizeof *c->m->res);
        c->m->res->cpu = -1;
        int64_t nregs = c->L->nregs > 0 ? c->L->nregs : 1;
        c->st.regs = calloc((size_t) nregs, sizeof(int64_t));
        if (!c->st.regs) {
            rc = DEC_ENOMEM;
            goto out;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        int a = advance(&cur[i]);
        if (a < 0) {
            rc = -a;
            goto out;
        }
        if (a)
            h[nh++] = i;
    }
    for (int32_t i = nh / 2 - 1; i >= 0; i--)
        msift(cur, h, nh, i);
    while (nh > 0) {
        int32_t i = h[0];
        mcur *c = &cur[i];
        ctf_layout *L = c->L;
        ctf_result *res = c->m->res;
        ctf_class *cls = &L->classes[c->ci];
        uint64_t ts = (uint64_t) c->ts;
        int in_range = c->ts >= L->start && (L->end < 0 || c->ts <= L->end);
        c->st.cls = cls;
        c->st.store = cls->wanted && in_range;
        const ctf_stream_class *sc = c->sc;
        if ((sc->event_context && (rc = run_ops(&c->st, sc->event_context, L->nregs)))
            || (rc = run_ops(&c->st, cls->ops, L->nregs))) {
            res->status = rc;
            res->error_offset = (int64_t) (c->off + c->ev_start / 8);
            goto out;
        }
        if (c->st.store) {
            int32_t ci = c->ci;
            int64_t row = cls->rows;
            int32_t pc = c->m->pid_col[ci], tc = c->m->tid_col[ci], rc2 = c->m->proc_col[ci];
            int64_t pid = pc >= 0 ? last8(&cls->cols[pc]) : -1;
            int64_t tid = tc >= 0 ? last8(&cls->cols[tc]) : -1;
            int32_t proc = rc2 >= 0 ? last4(&cls->cols[rc2]) : 0;
            int32_t name = c->m->table_of[ci];
            if (buf_put8(&cls->ts, &ts) || buf_put4(&cls->cpu, &c->cpu32)
                || buf_put8(&out->ts, &ts) || buf_put4(&out->name, &name)
                || buf_put4(&out->cpu, &c->cpu32) || buf_put8(&out->pid, &pid)
                || buf_put8(&out->tid, &tid) || buf_put4(&out->proc, &proc)
                || buf_put8(&out->row, &row)) {
                rc = DEC_ENOMEM;
                goto out;
            }
            cls->rows++;
            res->stored++;
            out->n++;
        }
        res->events++;
        int a = advance(c);
        if (a < 0) {
            rc = -a;
            goto out;
        }
        if (a) {
            if (c->ts < (int64_t) ts) {   /* not in time order: the caller sorts instead */
                rc = -1;
                goto out;
            }
        } else {
            h[0] = h[--nh];
        }
        if (nh > 0)
            msift(cur, h, nh, 0);
    }
out:
    for (int32_t i = 0; i < n; i++)
        free(cur[i].st.regs);
    free(cur);
    free(h);
    return rc;
}

void ctf_release_events(ctf_events_buf *out)
{
    release_buf(&out->ts);
    release_buf(&out->name);
    release_buf(&out->cpu);
    release_buf(&out->pid);
    release_buf(&out->tid);
    release_buf(&out->proc);
    release_buf(&out->row);
    out->n = 0;
}

int ctf_lookup(const int32_t *idx, const int32_t *idx2, const int64_t *base, int64_t n,
               const void *lut, int64_t nlut, int32_t elsize, int32_t fill, void *out)
{
    if (elsize != 1 && elsize != 4)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = idx[i];
        if (idx2)
            k += base[idx2[i]];
        int32_t v = (k >= 0 && k < nlut)
                        ? (elsize == 4 ? ((const int32_t *) lut)[k] : ((const int8_t *) lut)[k])
                        : fill;
        if (elsize == 4)
            ((int32_t *) out)[i] = v;
        else
            ((int8_t *) out)[i] = (int8_t) v;
    }
    return 0;
}
