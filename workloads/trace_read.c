/*
 * trace_read.c — gm_trace_reader and gm_trace_scan: a trace file (or buffer) in, records out
 * (TRACE_FORMAT.md).
 *
 * The reader streams: it holds one chunk at a time (a 64 KiB input buffer, the chunk's payload,
 * and for a compressed chunk its decompressed records), so its memory is bounded by the chunk
 * limit (16 MiB) and the tables, never by the number of records. Every length read from the
 * file is checked against a fixed limit before anything is sized by it; every chunk's CRC32C is
 * checked before its payload is parsed; each record is decoded with bounds checks and its
 * thread and site checked against the tables read so far. The first error is sticky and names
 * the byte offset: of the structure that is wrong, or for a record inside a compressed chunk,
 * the chunk's offset and the record's position in the decompressed bytes.
 *
 * At the END chunk the reader checks what it can count (records by kind, tables, the checksum
 * of all record bytes, the duration) and that a patched header says the same; the peaks and
 * the invalid count need a live set, which gm_trace_scan keeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gm_arena.h"
#include "trace_internal.h"

enum { IN_CAP = 64u << 10 };

typedef struct table {
    const char **names;
    uint32_t n, cap;
} table;

struct gm_trace_reader {
    gm_arena *arena;
    int fd;             /* -1: reading mem */
    const uint8_t *mem; /* gm_trace_open_mem */
    size_t mem_len;
    uint8_t *in; /* fd: input buffer */
    size_t in_pos, in_len;
    uint64_t off; /* file offset of the next unread byte */
    gm_trace_header hdr;
    gm_trace_meta meta;
    uint8_t *payload, *raw; /* chunk payload (fd), decompressed records */
    size_t payload_cap, raw_cap;
    const uint8_t *recs; /* records of the current OPS chunk */
    size_t recs_len, recs_pos;
    uint64_t recs_left, recs_base; /* records still to decode; file offset of recs[0] or of a
                                      compressed chunk */
    bool recs_zstd;
    size_t last_start; /* recs position of the record returned last */
    gm_trace_codec codec;
    gm_trace_summary seen; /* counted from the records and tables read so far */
    uint32_t rec_crc;
    table threads, sites; /* sites.names[i] is site i + 1 */
    uint64_t names_bytes, mapped;
    gm_trace_summary end;
    uint64_t end_at; /* offset of the END chunk */
    bool at_end, failed;
#ifdef GM_HAVE_ZSTD
    ZSTD_DCtx *dctx;
#endif
    char err[256];
};

static int fail(gm_trace_reader *r, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(gm_trace_reader *r, uint64_t at, const char *fmt, ...)
{
    if (r->failed) return -1;
    r->failed = true;
    int n = snprintf(r->err, sizeof r->err, "offset %llu: ", (unsigned long long)at);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- input ------------------------------------------------------------------------------- */

/* Copies up to n bytes; returns how many (fewer only at the end of the file). */
static size_t in_read(gm_trace_reader *r, uint8_t *dst, size_t n)
{
    size_t got = 0;
    if (r->fd < 0) {
        size_t avail = r->mem_len - (size_t)r->off;
        got = n < avail ? n : avail;
        memcpy(dst, r->mem + r->off, got);
        r->off += got;
        return got;
    }
    while (got < n) {
        if (r->in_pos == r->in_len) {
            ssize_t k = read(r->fd, r->in, IN_CAP);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) return fail(r, r->off, "read: %s", strerror(errno)), got;
            if (k == 0) break;
            r->in_pos = 0;
            r->in_len = (size_t)k;
        }
        size_t take = r->in_len - r->in_pos < n - got ? r->in_len - r->in_pos : n - got;
        memcpy(dst + got, r->in + r->in_pos, take);
        r->in_pos += take;
        got += take;
        r->off += take;
    }
    return got;
}

/* Grows a gm_map buffer to at least n bytes (n is already bounded by the chunk limit). */
static uint8_t *buf_reserve(gm_trace_reader *r, uint8_t *p, size_t *cap, size_t n)
{
    if (n <= *cap) return p;
    size_t want = *cap ? *cap : 4096;
    while (want < n) want *= 2;
    p = gm_remap(p, *cap, want);
    r->mapped += want - *cap;
    *cap = want;
    return p;
}

/* Points *p at the next n bytes (n <= GM_TRACE_CHUNK_MAX); -1 if the file ends first. */
static int in_take(gm_trace_reader *r, size_t n, const uint8_t **p)
{
    if (r->fd < 0) {
        if (r->mem_len - r->off < n) return -1;
        *p = r->mem + r->off;
        r->off += n;
        return 0;
    }
    r->payload = buf_reserve(r, r->payload, &r->payload_cap, n);
    *p = r->payload;
    return in_read(r, r->payload, n) == n ? 0 : -1;
}

/* ---- opening ----------------------------------------------------------------------------- */

static int read_meta_string(gm_trace_reader *r, const uint8_t *m, size_t len, size_t *pos,
                            const char **out)
{
    uint64_t at = GM_TRACE_FIXED_LEN + *pos;
    if (len - *pos < 2) return fail(r, at, "meta section ends inside a string length");
    size_t n = (size_t)gm_le_get(m + *pos, 2);
    if (n > GM_TRACE_META_MAX || n > len - *pos - 2)
        return fail(r, at, "meta string of %zu bytes does not fit the meta section", n);
    if (memchr(m + *pos + 2, 0, n)) return fail(r, at, "meta string contains a NUL byte");
    char *s = gm_arena_alloc(r->arena, n + 1);
    memcpy(s, m + *pos + 2, n);
    *out = s;
    *pos += 2 + n;
    return 0;
}

static int check_header_summary(gm_trace_reader *r)
{
    const gm_trace_summary *s = &r->hdr.summary;
    uint64_t sum = 0;
    for (int k = GM_TR_ALLOC; k <= GM_TR_MARK; k++) sum += s->count[k];
    if (sum != s->records || s->peak_live_objects > s->count[GM_TR_ALLOC] ||
        s->invalid > s->count[GM_TR_FREE] + s->count[GM_TR_REALLOC] ||
        s->threads > GM_TRACE_MAX_THREADS || s->sites > GM_TRACE_MAX_SITES)
        return fail(r, 16, "header summary is inconsistent (counts, peak, invalid or tables)");
    return 0;
}

static int read_header(gm_trace_reader *r)
{
    uint8_t fixed[GM_TRACE_FIXED_LEN];
    size_t got = in_read(r, fixed, sizeof fixed);
    if (r->failed) return -1;
    if (memcmp(fixed, GM_TRACE_MAGIC, got < 8 ? got : 8) != 0)
        return fail(r, 0, "not a gomalloc trace (bad magic)");
    if (got < sizeof fixed)
        return fail(r, got, "file ends inside the header (%zu of %u bytes)", got,
                    GM_TRACE_FIXED_LEN);
    uint64_t at;
    const char *why = gm_trace_header_get(fixed, &r->hdr, &at);
    if (why && at == 8)
        return fail(r, 8, "trace version %u is not supported by this reader (version %u)",
                    r->hdr.version, GM_TRACE_VERSION);
    if (why) return fail(r, at, "%s", why);
    size_t rest = r->hdr.meta_len + 4;
    uint8_t *m = gm_arena_alloc(r->arena, GM_TRACE_FIXED_LEN + rest);
    memcpy(m, fixed, sizeof fixed);
    if (in_read(r, m + GM_TRACE_FIXED_LEN, rest) != rest)
        return fail(r, r->off, "file ends inside the header's meta section");
    size_t hl = GM_TRACE_FIXED_LEN + r->hdr.meta_len;
    if (gm_crc32c(0, m, hl) != (uint32_t)gm_le_get(m + hl, 4))
        return fail(r, hl, "header checksum mismatch (corrupt header)");
    size_t pos = 0;
    const char *cmd = NULL;
    if (read_meta_string(r, m + GM_TRACE_FIXED_LEN, r->hdr.meta_len, &pos, &r->meta.source) ||
        read_meta_string(r, m + GM_TRACE_FIXED_LEN, r->hdr.meta_len, &pos, &cmd))
        return -1;
    if (pos != r->hdr.meta_len)
        return fail(r, GM_TRACE_FIXED_LEN + pos, "junk in the meta section");
    r->meta.command = cmd[0] ? cmd : NULL;
    r->meta.timestamps = r->codec.times = r->hdr.flags & GM_TRF_TIMESTAMPS;
    r->meta.compress = r->hdr.flags & GM_TRF_COMPRESSED ? 1 : 0;
    if (r->hdr.flags & GM_TRF_SUMMARY) return check_header_summary(r);
    memset(&r->hdr.summary, 0, sizeof r->hdr.summary);
    return 0;
}

static int open_zstd(gm_trace_reader *r)
{
    if (!r->meta.compress) return 0;
#ifdef GM_HAVE_ZSTD
    r->dctx = ZSTD_createDCtx_advanced(gm_trace_zstd_mem());
    r->mapped += ZSTD_sizeof_DCtx(r->dctx);
    return 0;
#else
    return fail(r, 10,
                "the trace is zstd-compressed and this build has no zstd (install the Debian "
                "package libzstd-dev and rebuild)");
#endif
}

static gm_trace_reader *reader_new(void)
{
    gm_arena *a = gm_arena_create();
    gm_trace_reader *r = gm_arena_alloc(a, sizeof *r);
    r->arena = a;
    r->fd = -1;
    r->mapped = 1u << 20; /* the arena's first chunk */
    return r;
}

static gm_trace_reader *reader_start(gm_trace_reader *r, char *err, size_t errlen)
{
    if (read_header(r) == 0 && open_zstd(r) == 0) return r;
    gm_trace_seterr(err, errlen, "%s", r->err);
    gm_trace_close(r);
    return NULL;
}

gm_trace_reader *gm_trace_open(const char *path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        gm_trace_seterr(err, errlen, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    gm_trace_reader *r = reader_new();
    r->fd = fd;
    r->in = gm_map(IN_CAP, 0);
    r->mapped += IN_CAP;
    return reader_start(r, err, errlen);
}

gm_trace_reader *gm_trace_open_mem(const void *buf, size_t len, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    gm_trace_reader *r = reader_new();
    r->mem = buf;
    r->mem_len = len;
    return reader_start(r, err, errlen);
}

void gm_trace_close(gm_trace_reader *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    if (r->in) gm_unmap(r->in, IN_CAP);
    gm_unmap(r->payload, r->payload_cap);
    gm_unmap(r->raw, r->raw_cap);
    gm_unmap(r->threads.names, r->threads.cap * sizeof(char *));
    gm_unmap(r->sites.names, r->sites.cap * sizeof(char *));
#ifdef GM_HAVE_ZSTD
    if (r->dctx) ZSTD_freeDCtx(r->dctx);
#endif
    gm_arena_destroy(r->arena);
}

/* ---- chunks ------------------------------------------------------------------------------ */

static int table_chunk(gm_trace_reader *r, uint8_t type, const uint8_t *p, size_t n, uint64_t at)
{
    bool thr = type == GM_TRC_THREAD;
    table *t = thr ? &r->threads : &r->sites;
    uint32_t first = thr ? 0 : 1, max = thr ? GM_TRACE_MAX_THREADS : GM_TRACE_MAX_SITES;
    uint64_t index, len;
    size_t pos = 0;
    if (gm_varint_get(p, n, &pos, &index) || gm_varint_get(p, n, &pos, &len))
        return fail(r, at, "malformed %s chunk", thr ? "thread" : "site");
    if (index != (uint64_t)t->n + first)
        return fail(r, at, "%s %llu out of order (expected %u)", thr ? "thread" : "site",
                    (unsigned long long)index, t->n + first);
    if (t->n >= max) return fail(r, at, "more than %u %ss", max, thr ? "thread" : "site");
    if (len > GM_TRACE_NAME_MAX || len != n - pos || memchr(p + pos, 0, (size_t)len))
        return fail(r, at, "bad %s name (length %llu, limit %u, no NUL bytes)",
                    thr ? "thread" : "site", (unsigned long long)len, GM_TRACE_NAME_MAX);
    if ((r->names_bytes += len) > GM_TRACE_NAMES_MAX)
        return fail(r, at, "table names exceed %u bytes", GM_TRACE_NAMES_MAX);
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? 2 * t->cap : 256;
        t->names = gm_remap(t->names, t->cap * sizeof(char *), cap * sizeof(char *));
        r->mapped += (cap - t->cap) * sizeof(char *);
        t->cap = cap;
    }
    char *s = gm_arena_alloc(r->arena, (size_t)len + 1);
    memcpy(s, p + pos, (size_t)len);
    t->names[t->n++] = s;
    r->mapped += len + 1;
    return 0;
}

static int ops_chunk(gm_trace_reader *r, uint8_t type, const uint8_t *p, size_t n, uint64_t at)
{
    uint64_t nrec, raw_len = 0;
    size_t pos = 0;
    if (gm_varint_get(p, n, &pos, &nrec) ||
        (type == GM_TRC_OPS_ZSTD && gm_varint_get(p, n, &pos, &raw_len)))
        return fail(r, at, "malformed ops chunk header");
    if (type == GM_TRC_OPS) raw_len = n - pos;
    if (raw_len > GM_TRACE_CHUNK_MAX || nrec == 0 || nrec > raw_len / 2)
        return fail(r, at, "ops chunk claims %llu records in %llu bytes", (unsigned long long)nrec,
                    (unsigned long long)raw_len);
    r->recs_zstd = type == GM_TRC_OPS_ZSTD;
    if (r->recs_zstd && !r->meta.compress)
        return fail(r, at, "compressed chunk in a trace whose header does not allow them");
    r->recs_base = r->recs_zstd ? at : r->off - 4 - (n - pos);
    r->recs = p + pos;
    if (r->recs_zstd) {
#ifdef GM_HAVE_ZSTD
        r->raw = buf_reserve(r, r->raw, &r->raw_cap, (size_t)raw_len);
        size_t got = ZSTD_decompressDCtx(r->dctx, r->raw, (size_t)raw_len, p + pos, n - pos);
        if (ZSTD_isError(got) || got != raw_len)
            return fail(r, at, "compressed ops chunk does not decompress to %llu bytes: %s",
                        (unsigned long long)raw_len,
                        ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong length");
        r->recs = r->raw;
#else
        return fail(r, at, "compressed chunk in a build without zstd");
#endif
    }
    r->recs_len = (size_t)raw_len;
    r->recs_pos = 0;
    r->recs_left = nrec;
    r->rec_crc = gm_crc32c(r->rec_crc, r->recs, r->recs_len);
    return 0;
}

static int end_chunk(gm_trace_reader *r, const uint8_t *p, size_t n, uint64_t at)
{
    uint32_t crc;
    uint64_t a, b;
    r->end_at = at;
    if (gm_trace_end_get(p, n, &r->end, &crc) != 0) return fail(r, at, "malformed END chunk");
    r->seen.threads = r->threads.n;
    r->seen.sites = r->sites.n;
    gm_trace_summary s = r->end;
    s.peak_live_objects = r->seen.peak_live_objects; /* the scan's business */
    s.peak_live_bytes = r->seen.peak_live_bytes;
    s.invalid = r->seen.invalid;
    const char *f = gm_trace_summary_diff(&s, &r->seen, &a, &b);
    if (f)
        return fail(r, at, "END chunk says %s = %llu, the trace has %llu", f, (unsigned long long)a,
                    (unsigned long long)b);
    if (crc != r->rec_crc) return fail(r, at, "END chunk: checksum of all records mismatch");
    if ((r->hdr.flags & GM_TRF_SUMMARY) &&
        (f = gm_trace_summary_diff(&r->hdr.summary, &r->end, &a, &b)))
        return fail(r, 16, "header says %s = %llu, the END chunk %llu", f, (unsigned long long)a,
                    (unsigned long long)b);
    uint8_t extra;
    if (in_read(r, &extra, 1) != 0) return fail(r, r->off - 1, "data after the END chunk");
    r->at_end = true;
    return 0;
}

/* Reads the chunk header; 1: a chunk (type, length, payload in *p, checksum checked), 0: end of
 * file at a chunk boundary, -1: error. */
static int chunk_read(gm_trace_reader *r, uint8_t *type, const uint8_t **p, size_t *n, uint64_t *at)
{
    uint8_t h[11];
    size_t nh = 0;
    uint64_t len;
    *at = r->off;
    if (in_read(r, h, 1) != 1) return r->failed ? -1 : 0;
    *type = h[0];
    for (nh = 1;; nh++) {
        size_t pos = 1;
        if (in_read(r, h + nh, 1) != 1) return fail(r, *at, "file ends inside a chunk header");
        int e = gm_varint_get(h, nh + 1, &pos, &len);
        if (e == 0) break;
        if (e == -2 || nh == 10) return fail(r, *at, "malformed chunk length");
    }
    nh++;
    if (len > GM_TRACE_CHUNK_MAX)
        return fail(r, *at, "chunk (type 0x%02x) of %llu bytes exceeds the %u-byte limit", *type,
                    (unsigned long long)len, GM_TRACE_CHUNK_MAX);
    if (in_take(r, (size_t)len + 4, p) != 0)
        return fail(r, *at, "file ends inside a chunk (type 0x%02x, %llu bytes)%s", *type,
                    (unsigned long long)len, r->failed ? "" : " (truncated?)");
    *n = (size_t)len;
    uint32_t crc = gm_crc32c(gm_crc32c(0, h, nh), *p, *n);
    if (crc != (uint32_t)gm_le_get(*p + *n, 4))
        return fail(r, *at, "chunk checksum mismatch (type 0x%02x, %zu bytes): corrupt data", *type,
                    *n);
    return 1;
}

/* Reads chunks until records are available or the trace ends. */
static int next_chunk(gm_trace_reader *r)
{
    while (!r->recs_left && !r->at_end && !r->failed) {
        uint8_t type = 0;
        const uint8_t *p = NULL;
        size_t n = 0;
        uint64_t at = 0;
        int e = chunk_read(r, &type, &p, &n, &at);
        if (e == 0) return fail(r, at, "trace ends without an END chunk (truncated?)");
        if (e < 0) return -1;
        if (type == GM_TRC_THREAD || type == GM_TRC_SITE)
            table_chunk(r, type, p, n, at);
        else if (type == GM_TRC_OPS || type == GM_TRC_OPS_ZSTD)
            ops_chunk(r, type, p, n, at);
        else if (type == GM_TRC_END)
            end_chunk(r, p, n, at);
        else if (type < 0x40 || type > 0x7f)
            fail(r, at, "unknown chunk type 0x%02x", type);
    }
    return r->failed ? -1 : 0;
}

void gm_trace_last_record_at(const gm_trace_reader *r, char *buf, size_t len)
{
    if (r->recs_zstd)
        snprintf(buf, len, "offset %llu (byte %zu of the compressed chunk's records)",
                 (unsigned long long)r->recs_base, r->last_start);
    else
        snprintf(buf, len, "offset %llu", (unsigned long long)(r->recs_base + r->last_start));
}

static int rec_fail(gm_trace_reader *r, size_t start, const char *why)
{
    unsigned long long ix = (unsigned long long)r->seen.records;
    if (r->recs_zstd)
        return fail(r, r->recs_base,
                    "record %llu (byte %zu of the chunk's decompressed records): %s", ix, start,
                    why);
    return fail(r, r->recs_base + start, "record %llu: %s", ix, why);
}

int gm_trace_next(gm_trace_reader *r, gm_trace_rec *rec)
{
    if (r->failed) return -1;
    if (!r->recs_left && next_chunk(r) != 0) return -1;
    if (r->at_end) return 0;
    size_t start = r->recs_pos;
    const char *why = gm_trace_decode(&r->codec, r->recs, r->recs_len, &r->recs_pos, rec);
    if (!why && rec->thread >= r->threads.n) why = "thread not in the thread table";
    if (!why && rec->site > r->sites.n) why = "site not in the site table";
    if (!why && --r->recs_left == 0 && r->recs_pos != r->recs_len)
        why = "bytes left over after the chunk's last record";
    if (why) return rec_fail(r, start, why);
    r->last_start = start;
    r->seen.records++;
    r->seen.count[rec->kind]++;
    if (rec->time_ns > r->seen.duration_ns) r->seen.duration_ns = rec->time_ns;
    return 1;
}

/* ---- accessors --------------------------------------------------------------------------- */

const gm_trace_summary *gm_trace_header_summary(const gm_trace_reader *r, bool *complete)
{
    if (complete) *complete = r->hdr.flags & GM_TRF_SUMMARY;
    return &r->hdr.summary;
}

const gm_trace_meta *gm_trace_get_meta(const gm_trace_reader *r)
{
    return &r->meta;
}

const char *gm_trace_error(const gm_trace_reader *r)
{
    return r->failed ? r->err : NULL;
}

uint32_t gm_trace_nthreads(const gm_trace_reader *r)
{
    return r->threads.n;
}

const char *gm_trace_thread_name(const gm_trace_reader *r, uint32_t thread)
{
    return thread < r->threads.n ? r->threads.names[thread] : NULL;
}

uint32_t gm_trace_nsites(const gm_trace_reader *r)
{
    return r->sites.n;
}

const char *gm_trace_site_name(const gm_trace_reader *r, uint32_t site)
{
    return site >= 1 && site <= r->sites.n ? r->sites.names[site - 1] : NULL;
}

uint64_t gm_trace_offset(const gm_trace_reader *r)
{
    return r->off;
}

const gm_trace_summary *gm_trace_end_summary(const gm_trace_reader *r)
{
    return r->at_end ? &r->end : NULL;
}

uint64_t gm_trace_mapped_bytes(const gm_trace_reader *r)
{
    return r->mapped;
}

/* ---- scan -------------------------------------------------------------------------------- */

static void stats_add(gm_trace_stats *st, const gm_trace_rec *rec)
{
    if (rec->kind != GM_TR_ALLOC) return;
    unsigned k = rec->size ? 63 - (unsigned)__builtin_clzll(rec->size) : 0;
    st->size_histogram[k]++;
    uint64_t b = st->bytes_allocated + rec->size;
    st->bytes_allocated = b < rec->size ? UINT64_MAX : b;
}

/* The computed summary against the END chunk's and a patched header's. */
static int scan_compare(gm_trace_reader *r, const gm_trace_summary *s, char *err, size_t errlen)
{
    uint64_t a, b;
    const char *f = gm_trace_summary_diff(&r->end, s, &a, &b);
    if (f) {
        gm_trace_seterr(err, errlen, "offset %llu: END chunk says %s = %llu, the records give %llu",
                        (unsigned long long)r->end_at, f, (unsigned long long)a,
                        (unsigned long long)b);
        return -1;
    }
    return 0; /* the reader compared the header with END */
}

int gm_trace_scan(const char *path, gm_trace_stats *stats, char *err, size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    gm_trace_reader *r = gm_trace_open(path, err, errlen);
    if (!r) return -1;
    gm_trace_tally t;
    gm_trace_tally_init(&t, NULL);
    gm_trace_rec rec;
    int e;
    while ((e = gm_trace_next(r, &rec)) == 1) {
        gm_trace_tally_add(&t, &rec);
        stats_add(stats, &rec);
    }
    t.s.threads = r->threads.n;
    t.s.sites = r->sites.n;
    stats->summary = t.s;
    stats->header_patched = r->hdr.flags & GM_TRF_SUMMARY;
    if (e < 0)
        gm_trace_seterr(err, errlen, "%s", r->err);
    else
        e = scan_compare(r, &t.s, err, errlen);
    gm_trace_tally_destroy(&t);
    gm_trace_close(r);
    return e < 0 ? -1 : 0;
}
