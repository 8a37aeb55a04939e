/*
 * trace_internal.h — what the trace files (trace.c, trace_write.c, trace_read.c, trace_text.c,
 * trace_replay.c) share: the constants of the byte layout (TRACE_FORMAT.md is normative; every
 * number here appears there), varints, CRC32C, the record codec, the id→value hash map that
 * keeps live sets, and the summary tally that writer and scan both compute.
 *
 * Nothing here allocates with malloc: maps take gm_map pages, zstd's contexts get a gm_map
 * allocator (gm_trace_zstd_mem).
 */
#ifndef GM_TRACE_INTERNAL_H
#define GM_TRACE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm_trace.h"

/* ---- layout ------------------------------------------------------------------------------ */

#define GM_TRACE_MAGIC       "GMTRACE"   /* 8 bytes with its NUL */
#define GM_TRACE_FIXED_LEN   96u         /* magic, version, flags, meta_len, the summary */
#define GM_TRACE_META_MAX    4096u       /* bytes of each meta string */
#define GM_TRACE_NAME_MAX    4096u       /* bytes of a thread or site name */
#define GM_TRACE_CHUNK_MAX   (16u << 20) /* payload bytes of any chunk, decompressed included */
#define GM_TRACE_OPS_TARGET  (64u << 10) /* the writer's raw OPS chunk size */
#define GM_TRACE_REC_MAX     48u /* longest record: tag, 2 × 5-byte varints, align, 3 × 10 */
#define GM_TRACE_MAX_THREADS (1u << 20)
#define GM_TRACE_MAX_SITES   (1u << 24)
#define GM_TRACE_NAMES_MAX   (256u << 20) /* all table names together, bytes */

/* Header flags (u16 at offset 10). Unknown bits make a reader refuse the file. */
enum {
    GM_TRF_TIMESTAMPS = 1u << 0, /* records may carry time deltas */
    GM_TRF_COMPRESSED = 1u << 1, /* OPS_ZSTD chunks may appear: needs zstd to read */
    GM_TRF_SUMMARY = 1u << 2,    /* the header's summary was patched at close and is valid */
    GM_TRF_KNOWN = 7u,
};

/* Chunk types. 0x40..0x7f: optional, skipped by readers that do not know them. */
enum {
    GM_TRC_THREAD = 0x01,
    GM_TRC_SITE = 0x02,
    GM_TRC_OPS = 0x03,
    GM_TRC_OPS_ZSTD = 0x04,
    GM_TRC_END = 0x05,
};

/* Record tag byte. */
enum {
    GM_TRT_KIND = 3u,        /* kind - 1 */
    GM_TRT_THREAD = 1u << 2, /* varint thread follows */
    GM_TRT_SITE = 1u << 3,   /* varint site follows (alloc, realloc) */
    GM_TRT_SCAN = 1u << 4,   /* GM_OPF_SCAN (alloc, realloc) */
    GM_TRT_ZERO = 1u << 5,   /* GM_OPF_ZERO (alloc, realloc) */
    GM_TRT_ALIGN = 1u << 6,  /* align_log2 byte follows (alloc, realloc) */
    GM_TRT_TIME = 1u << 7,   /* zigzag varint time delta follows (timestamped traces) */
};

/* ---- byte helpers ------------------------------------------------------------------------ */

static inline size_t gm_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decodes a varint from p[*pos, n). 0, or -1 when truncated, -2 when longer than 10 bytes or
 * over 64 bits. */
static inline int gm_varint_get(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0, i = 0;; shift += 7, i++) {
        if (*pos >= n) return -1;
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1) return -2;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        if (i == 9) return -2;
    }
    *v = x;
    return 0;
}

static inline uint64_t gm_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t gm_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline void gm_le_put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t gm_le_get(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* CRC32C (Castagnoli), as iSCSI and ext4 use it: crc = gm_crc32c(0, ...) then chained. */
uint32_t gm_crc32c(uint32_t crc, const void *buf, size_t len);

/* snprintf into err unless err is NULL or already holds a message. */
void gm_trace_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- header ------------------------------------------------------------------------------ */

typedef struct gm_trace_header {
    uint16_t version, flags;
    uint32_t meta_len;
    gm_trace_summary summary;
} gm_trace_header;

/* The fixed 96 bytes. */
void gm_trace_header_put(uint8_t *p, const gm_trace_header *h);
/* Parses the fixed part; NULL, or what is wrong with *at set to the offending offset. */
const char *gm_trace_header_get(const uint8_t *p, gm_trace_header *h, uint64_t *at);
/* END payload: the summary as varints and the CRC32C of all record bytes. */
size_t gm_trace_end_put(uint8_t *p, const gm_trace_summary *s, uint32_t crc);
int gm_trace_end_get(const uint8_t *p, size_t n, gm_trace_summary *s, uint32_t *crc);
/* NULL when equal, else the name of the first differing field (values in *a, *b). */
const char *gm_trace_summary_diff(const gm_trace_summary *x, const gm_trace_summary *y, uint64_t *a,
                                  uint64_t *b);

/* ---- records ----------------------------------------------------------------------------- */

/* The state both ends of the record encoding keep (TRACE_FORMAT.md, "Records"). */
typedef struct gm_trace_codec {
    uint32_t thread, site;
    uint64_t next_id; /* ALLOC records so far: the id of the next one */
    uint64_t time_ns;
    bool times;
} gm_trace_codec;

/* Encodes rec (already checked) into out (GM_TRACE_REC_MAX bytes); returns its length. */
size_t gm_trace_encode(gm_trace_codec *c, const gm_trace_rec *rec, uint8_t *out);
/* Decodes one record from p[*pos, n); NULL, or why not (then *pos is unspecified). Table
 * bounds are the caller's: they depend on the chunks read so far. */
const char *gm_trace_decode(gm_trace_codec *c, const uint8_t *p, size_t n, size_t *pos,
                            gm_trace_rec *rec);
/* NULL when rec is a legal record apart from the table bounds, else why not. */
const char *gm_trace_rec_check(const gm_trace_rec *rec);

/* Where the record gm_trace_next returned last lies, as "offset N" (or, inside a compressed
 * chunk, the chunk's offset and the record's byte in its decompressed records). */
void gm_trace_last_record_at(const gm_trace_reader *r, char *buf, size_t len);

/* ---- id → value map ---------------------------------------------------------------------
 * Open addressing with linear probing and backward-shift deletion (no tombstones), in one
 * gm_map region that doubles by rehashing into a new mapping at 1/2 load. Memory is
 * proportional to the largest number of keys held at once, never to the number of inserts.
 * Keys are stored plus one (0 = empty); the key UINT64_MAX is never inserted (an id that
 * large would need 2^64 allocations) and never found. */
typedef struct gm_trace_map {
    uint64_t *slots; /* cap pairs (key + 1, value) */
    size_t cap, n;
    uint64_t *mapped; /* optional: bytes mapped are added/subtracted here */
} gm_trace_map;

void gm_trace_map_init(gm_trace_map *m, uint64_t *mapped);
void gm_trace_map_destroy(gm_trace_map *m);
bool gm_trace_map_get(const gm_trace_map *m, uint64_t key, uint64_t *val);
void gm_trace_map_put(gm_trace_map *m, uint64_t key, uint64_t val);
bool gm_trace_map_del(gm_trace_map *m, uint64_t key, uint64_t *val);

/* ---- summary tally ----------------------------------------------------------------------- */

typedef struct gm_trace_tally {
    gm_trace_summary s;
    gm_trace_map live; /* id → size */
    unsigned __int128 live_bytes;
    uint64_t live_objects;
} gm_trace_tally;

void gm_trace_tally_init(gm_trace_tally *t, uint64_t *mapped);
void gm_trace_tally_destroy(gm_trace_tally *t);
/* Counts rec (its obj set for ALLOC); returns false when it is a free or realloc of an
 * object that is not live (counted in s.invalid). */
bool gm_trace_tally_add(gm_trace_tally *t, const gm_trace_rec *rec);

/* ---- zstd -------------------------------------------------------------------------------- */
#ifdef GM_HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: zstd's contexts must not use malloc */
#include <zstd.h>
ZSTD_customMem gm_trace_zstd_mem(void);
#endif

#endif
