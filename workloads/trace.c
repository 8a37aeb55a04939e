/*
 * trace.c — the pieces of the trace format every trace file shares (TRACE_FORMAT.md is the
 * normative description; trace_internal.h the declarations): CRC32C, the header and END
 * encodings, the record codec, the live-set hash map and the summary tally.
 *
 * The writer (trace_write.c) and the reader (trace_read.c) call the same codec, so what one
 * writes the other reads by construction; the round-trip and hostile-input tests in
 * tests/test_trace.c hold the two ends to the spec.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gm_arena.h"
#include "trace_internal.h"

/* ---- CRC32C ------------------------------------------------------------------------------
 * Slicing-by-8 over the reflected Castagnoli polynomial: about 1 byte per cycle without
 * SSE4.2 or ARMv8 CRC instructions, portable, and fast enough that checksumming never shows
 * next to the record decoding. The tables are built once (pthread_once: readers may run on
 * several threads). */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & -(c & 1));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t gm_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    uint32_t c = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = c ^ (uint32_t)gm_le_get(p, 4), hi = (uint32_t)gm_le_get(p + 4, 4);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
            crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
            crc_table[0][hi >> 24];
    }
    while (len--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

void gm_trace_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen || err[0]) return; /* the first error is the one worth reading */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- header and END ---------------------------------------------------------------------- */

/* The summary's u64 fields in file order (header and END alike). */
#define SUMMARY_U64S 9
static void summary_fields(gm_trace_summary *s, uint64_t *f[SUMMARY_U64S])
{
    uint64_t *v[SUMMARY_U64S] = {&s->records,           &s->count[GM_TR_ALLOC],
                                 &s->count[GM_TR_FREE], &s->count[GM_TR_REALLOC],
                                 &s->count[GM_TR_MARK], &s->peak_live_objects,
                                 &s->peak_live_bytes,   &s->invalid,
                                 &s->duration_ns};
    memcpy(f, v, sizeof v);
}

static const char *const summary_names[SUMMARY_U64S + 2] = {
    "records",         "allocs",  "frees",       "reallocs", "marks", "peak_live_objects",
    "peak_live_bytes", "invalid", "duration_ns", "threads",  "sites"};

void gm_trace_header_put(uint8_t *p, const gm_trace_header *h)
{
    gm_trace_summary s = h->summary;
    uint64_t *f[SUMMARY_U64S];
    summary_fields(&s, f);
    memset(p, 0, GM_TRACE_FIXED_LEN);
    memcpy(p, GM_TRACE_MAGIC, 8);
    gm_le_put(p + 8, h->version, 2);
    gm_le_put(p + 10, h->flags, 2);
    gm_le_put(p + 12, h->meta_len, 4);
    for (int i = 0; i < SUMMARY_U64S; i++) gm_le_put(p + 16 + 8 * i, *f[i], 8);
    gm_le_put(p + 88, s.threads, 4);
    gm_le_put(p + 92, s.sites, 4);
}

const char *gm_trace_header_get(const uint8_t *p, gm_trace_header *h, uint64_t *at)
{
    memset(h, 0, sizeof *h);
    *at = 0;
    if (memcmp(p, GM_TRACE_MAGIC, 8) != 0) return "not a gomalloc trace (bad magic)";
    h->version = (uint16_t)gm_le_get(p + 8, 2);
    h->flags = (uint16_t)gm_le_get(p + 10, 2);
    h->meta_len = (uint32_t)gm_le_get(p + 12, 4);
    *at = 8;
    if (h->version != GM_TRACE_VERSION) return "unsupported version";
    *at = 10;
    if (h->flags & ~GM_TRF_KNOWN) return "unknown header flags (a newer writer?)";
    *at = 12;
    if (h->meta_len > 2 * (GM_TRACE_META_MAX + 2)) return "meta section too long";
    uint64_t *f[SUMMARY_U64S];
    summary_fields(&h->summary, f);
    for (int i = 0; i < SUMMARY_U64S; i++) *f[i] = gm_le_get(p + 16 + 8 * i, 8);
    h->summary.threads = (uint32_t)gm_le_get(p + 88, 4);
    h->summary.sites = (uint32_t)gm_le_get(p + 92, 4);
    return NULL;
}

size_t gm_trace_end_put(uint8_t *p, const gm_trace_summary *s, uint32_t crc)
{
    gm_trace_summary c = *s;
    uint64_t *f[SUMMARY_U64S];
    summary_fields(&c, f);
    size_t n = 0;
    for (int i = 0; i < SUMMARY_U64S; i++) n += gm_varint_put(p + n, *f[i]);
    n += gm_varint_put(p + n, c.threads);
    n += gm_varint_put(p + n, c.sites);
    gm_le_put(p + n, crc, 4);
    return n + 4;
}

int gm_trace_end_get(const uint8_t *p, size_t n, gm_trace_summary *s, uint32_t *crc)
{
    memset(s, 0, sizeof *s);
    uint64_t *f[SUMMARY_U64S], t, st;
    summary_fields(s, f);
    size_t pos = 0;
    for (int i = 0; i < SUMMARY_U64S; i++)
        if (gm_varint_get(p, n, &pos, f[i]) != 0) return -1;
    if (gm_varint_get(p, n, &pos, &t) != 0 || gm_varint_get(p, n, &pos, &st) != 0) return -1;
    if (t > UINT32_MAX || st > UINT32_MAX || n - pos != 4) return -1;
    s->threads = (uint32_t)t;
    s->sites = (uint32_t)st;
    *crc = (uint32_t)gm_le_get(p + pos, 4);
    return 0;
}

const char *gm_trace_summary_diff(const gm_trace_summary *x, const gm_trace_summary *y, uint64_t *a,
                                  uint64_t *b)
{
    gm_trace_summary cx = *x, cy = *y;
    uint64_t *fx[SUMMARY_U64S], *fy[SUMMARY_U64S];
    summary_fields(&cx, fx);
    summary_fields(&cy, fy);
    for (int i = 0; i < SUMMARY_U64S; i++) {
        *a = *fx[i];
        *b = *fy[i];
        if (*a != *b) return summary_names[i];
    }
    *a = cx.threads, *b = cy.threads;
    if (*a != *b) return summary_names[SUMMARY_U64S];
    *a = cx.sites, *b = cy.sites;
    if (*a != *b) return summary_names[SUMMARY_U64S + 1];
    return NULL;
}

/* ---- records ----------------------------------------------------------------------------- */

const char *gm_trace_rec_check(const gm_trace_rec *r)
{
    if (r->kind < GM_TR_ALLOC || r->kind > GM_TR_MARK) return "unknown record kind";
    if (r->kind == GM_TR_MARK) return r->mark ? NULL : "mark 0 is reserved";
    if (r->kind == GM_TR_FREE) return NULL;
    if (r->flags & ~(GM_OPF_SCAN | GM_OPF_ZERO)) return "unknown flags";
    if (r->align_log2 && (r->align_log2 < 3 || r->align_log2 > GM_OP_MAX_ALIGN_LOG2))
        return "alignment out of range (2^3..2^26)";
    if (r->kind == GM_TR_REALLOC && r->size == 0) return "realloc to size 0";
    return NULL;
}

size_t gm_trace_encode(gm_trace_codec *c, const gm_trace_rec *r, uint8_t *out)
{
    bool sized = r->kind == GM_TR_ALLOC || r->kind == GM_TR_REALLOC;
    uint8_t tag = (uint8_t)(r->kind - 1);
    size_t n = 1;
    if (r->thread != c->thread) {
        tag |= GM_TRT_THREAD;
        n += gm_varint_put(out + n, r->thread);
        c->thread = r->thread;
    }
    if (sized) {
        if (r->site != c->site) {
            tag |= GM_TRT_SITE;
            n += gm_varint_put(out + n, r->site);
            c->site = r->site;
        }
        tag |=
            (r->flags & GM_OPF_SCAN ? GM_TRT_SCAN : 0) | (r->flags & GM_OPF_ZERO ? GM_TRT_ZERO : 0);
        if (r->align_log2) {
            tag |= GM_TRT_ALIGN;
            out[n++] = r->align_log2;
        }
    }
    /* Recently allocated objects die young: the distance back from the newest id is small. */
    if (r->kind == GM_TR_FREE || r->kind == GM_TR_REALLOC)
        n += gm_varint_put(out + n, gm_zigzag((int64_t)(c->next_id - 1 - r->obj)));
    if (sized) n += gm_varint_put(out + n, r->size);
    if (r->kind == GM_TR_ALLOC) c->next_id++;
    if (r->kind == GM_TR_MARK) out[n++] = r->mark;
    if (c->times && r->time_ns != c->time_ns) {
        tag |= GM_TRT_TIME;
        n += gm_varint_put(out + n, gm_zigzag((int64_t)(r->time_ns - c->time_ns)));
        c->time_ns = r->time_ns;
    }
    out[0] = tag;
    return n;
}

/* Reads a varint that must fit in 32 bits. */
static const char *get_u32(const uint8_t *p, size_t n, size_t *pos, uint32_t *v, const char *what)
{
    uint64_t x;
    int e = gm_varint_get(p, n, pos, &x);
    if (e == -1) return "record truncated at the end of its chunk";
    if (e == -2 || x > UINT32_MAX) return what;
    *v = (uint32_t)x;
    return NULL;
}

static const char *get_u64(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    int e = gm_varint_get(p, n, pos, v);
    return e == -1 ? "record truncated at the end of its chunk" : e ? "malformed varint" : NULL;
}

/* The fields before the kind's own: thread, site, alignment. */
static const char *decode_prefix(gm_trace_codec *c, uint8_t tag, const uint8_t *p, size_t n,
                                 size_t *pos, gm_trace_rec *r)
{
    const char *why;
    bool sized = r->kind == GM_TR_ALLOC || r->kind == GM_TR_REALLOC;
    if (!sized && (tag & (GM_TRT_SITE | GM_TRT_SCAN | GM_TRT_ZERO | GM_TRT_ALIGN)))
        return "tag bits not allowed for this kind";
    if ((tag & GM_TRT_TIME) && !c->times) return "time delta in a trace without timestamps";
    if ((tag & GM_TRT_THREAD) && (why = get_u32(p, n, pos, &c->thread, "thread index too large")))
        return why;
    r->thread = c->thread;
    if (!sized) return NULL;
    if ((tag & GM_TRT_SITE) && (why = get_u32(p, n, pos, &c->site, "site index too large")))
        return why;
    r->site = c->site;
    r->flags =
        (uint8_t)((tag & GM_TRT_SCAN ? GM_OPF_SCAN : 0) | (tag & GM_TRT_ZERO ? GM_OPF_ZERO : 0));
    if (tag & GM_TRT_ALIGN) {
        if (*pos >= n) return "record truncated at the end of its chunk";
        r->align_log2 = p[(*pos)++];
        if (r->align_log2 < 3 || r->align_log2 > GM_OP_MAX_ALIGN_LOG2)
            return "alignment out of range (2^3..2^26)";
    }
    return NULL;
}

const char *gm_trace_decode(gm_trace_codec *c, const uint8_t *p, size_t n, size_t *pos,
                            gm_trace_rec *r)
{
    memset(r, 0, sizeof *r);
    if (*pos >= n) return "record truncated at the end of its chunk";
    uint8_t tag = p[(*pos)++];
    r->kind = (uint8_t)((tag & GM_TRT_KIND) + 1);
    const char *why = decode_prefix(c, tag, p, n, pos, r);
    if (why) return why;
    uint64_t d;
    if (r->kind == GM_TR_FREE || r->kind == GM_TR_REALLOC) {
        if ((why = get_u64(p, n, pos, &d))) return why;
        r->obj = c->next_id - 1 - (uint64_t)gm_unzigzag(d);
    }
    if (r->kind == GM_TR_ALLOC || r->kind == GM_TR_REALLOC) {
        if ((why = get_u64(p, n, pos, &r->size))) return why;
        if (r->kind == GM_TR_REALLOC && r->size == 0) return "realloc to size 0";
    }
    if (r->kind == GM_TR_ALLOC) r->obj = c->next_id++;
    if (r->kind == GM_TR_MARK) {
        if (*pos >= n) return "record truncated at the end of its chunk";
        if ((r->mark = p[(*pos)++]) == 0) return "mark 0 is reserved";
    }
    if (tag & GM_TRT_TIME) {
        if ((why = get_u64(p, n, pos, &d))) return why;
        c->time_ns += (uint64_t)gm_unzigzag(d);
    }
    r->time_ns = c->time_ns;
    return NULL;
}

/* ---- id → value map ---------------------------------------------------------------------- */

enum { MAP_MIN_CAP = 1024 };

static size_t map_bytes(size_t cap)
{
    return cap * 2 * sizeof(uint64_t);
}

static size_t map_home(const gm_trace_map *m, uint64_t key1)
{
    /* Fibonacci hashing: ids are sequential, the multiply spreads them over the table. */
    return (size_t)((key1 * 0x9e3779b97f4a7c15ull) >> 32) & (m->cap - 1);
}

static void map_alloc(gm_trace_map *m, size_t cap)
{
    m->cap = cap;
    m->slots = gm_map(map_bytes(cap), 0);
    if (m->mapped) *m->mapped += map_bytes(cap);
}

void gm_trace_map_init(gm_trace_map *m, uint64_t *mapped)
{
    memset(m, 0, sizeof *m);
    m->mapped = mapped;
    map_alloc(m, MAP_MIN_CAP);
}

void gm_trace_map_destroy(gm_trace_map *m)
{
    if (!m->slots) return;
    gm_unmap(m->slots, map_bytes(m->cap));
    if (m->mapped) *m->mapped -= map_bytes(m->cap);
    m->slots = NULL;
}

static size_t map_find(const gm_trace_map *m, uint64_t key1)
{
    size_t i = map_home(m, key1);
    while (m->slots[2 * i] && m->slots[2 * i] != key1) i = (i + 1) & (m->cap - 1);
    return i;
}

bool gm_trace_map_get(const gm_trace_map *m, uint64_t key, uint64_t *val)
{
    if (key == UINT64_MAX) return false;
    size_t i = map_find(m, key + 1);
    if (!m->slots[2 * i]) return false;
    *val = m->slots[2 * i + 1];
    return true;
}

static void map_grow(gm_trace_map *m)
{
    gm_trace_map old = *m;
    map_alloc(m, old.cap * 2);
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.slots[2 * i]) continue;
        size_t j = map_find(m, old.slots[2 * i]);
        m->slots[2 * j] = old.slots[2 * i];
        m->slots[2 * j + 1] = old.slots[2 * i + 1];
    }
    gm_unmap(old.slots, map_bytes(old.cap));
    if (m->mapped) *m->mapped -= map_bytes(old.cap);
}

void gm_trace_map_put(gm_trace_map *m, uint64_t key, uint64_t val)
{
    if (2 * (m->n + 1) > m->cap) map_grow(m);
    size_t i = map_find(m, key + 1);
    if (!m->slots[2 * i]) m->n++;
    m->slots[2 * i] = key + 1;
    m->slots[2 * i + 1] = val;
}

bool gm_trace_map_del(gm_trace_map *m, uint64_t key, uint64_t *val)
{
    if (key == UINT64_MAX) return false;
    size_t mask = m->cap - 1, i = map_find(m, key + 1);
    if (!m->slots[2 * i]) return false;
    if (val) *val = m->slots[2 * i + 1];
    /* Backward shift: move later members of the probe run into the hole when the hole lies
     * between their home and their slot, so lookups never need tombstones. */
    for (size_t j = (i + 1) & mask; m->slots[2 * j]; j = (j + 1) & mask) {
        size_t home = map_home(m, m->slots[2 * j]);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[2 * i] = m->slots[2 * j];
            m->slots[2 * i + 1] = m->slots[2 * j + 1];
            i = j;
        }
    }
    m->slots[2 * i] = 0;
    m->n--;
    return true;
}

/* ---- summary tally ----------------------------------------------------------------------- */

void gm_trace_tally_init(gm_trace_tally *t, uint64_t *mapped)
{
    memset(t, 0, sizeof *t);
    gm_trace_map_init(&t->live, mapped);
}

void gm_trace_tally_destroy(gm_trace_tally *t)
{
    gm_trace_map_destroy(&t->live);
}

static void tally_peak(gm_trace_tally *t)
{
    if (t->live_objects > t->s.peak_live_objects) t->s.peak_live_objects = t->live_objects;
    /* Sizes are any u64: live bytes are summed in 128 bits, and the peak saturates. */
    uint64_t lb = t->live_bytes > UINT64_MAX ? UINT64_MAX : (uint64_t)t->live_bytes;
    if (lb > t->s.peak_live_bytes) t->s.peak_live_bytes = lb;
}

bool gm_trace_tally_add(gm_trace_tally *t, const gm_trace_rec *r)
{
    t->s.records++;
    t->s.count[r->kind]++;
    if (r->time_ns > t->s.duration_ns) t->s.duration_ns = r->time_ns;
    uint64_t old;
    switch (r->kind) {
    case GM_TR_ALLOC:
        gm_trace_map_put(&t->live, r->obj, r->size);
        t->live_objects++;
        t->live_bytes += r->size;
        break;
    case GM_TR_FREE:
        if (!gm_trace_map_del(&t->live, r->obj, &old)) return t->s.invalid++, false;
        t->live_objects--;
        t->live_bytes -= old;
        break;
    case GM_TR_REALLOC:
        if (!gm_trace_map_get(&t->live, r->obj, &old)) return t->s.invalid++, false;
        gm_trace_map_put(&t->live, r->obj, r->size);
        t->live_bytes = t->live_bytes - old + r->size;
        break;
    default:
        return true;
    }
    tally_peak(t);
    return true;
}

/* ---- zstd -------------------------------------------------------------------------------- */
#ifdef GM_HAVE_ZSTD
/* zstd's contexts allocate through these: gm_map pages with the mapping size in front. */
static void *zstd_alloc(void *opaque, size_t size)
{
    (void)opaque;
    uint64_t *p = gm_map(size + 16, 0);
    p[0] = size + 16;
    return p + 2;
}

static void zstd_free(void *opaque, void *addr)
{
    (void)opaque;
    if (!addr) return;
    uint64_t *p = (uint64_t *)addr - 2;
    gm_unmap(p, (size_t)p[0]);
}

ZSTD_customMem gm_trace_zstd_mem(void)
{
    return (ZSTD_customMem){zstd_alloc, zstd_free, NULL};
}
#endif
