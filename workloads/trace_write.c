/*
 * trace_write.c — gm_trace_writer: records in, a trace file out (TRACE_FORMAT.md).
 *
 * Records are encoded into a 64 KiB OPS buffer that becomes one chunk (zstd-compressed when
 * asked and when that is smaller); table entries are written as their own chunks the moment
 * they are added, ahead of the buffered records (which cannot name an entry that did not exist
 * yet), so a reader always meets an entry before its first use. The writer tallies the summary
 * as it goes (a live set of id → size for the peaks), writes it in the END chunk, and patches
 * the header with it when the output is a file.
 *
 * A file is written under a temporary name in the same directory and renamed at close, after
 * fsync, like harness/json.c's gm_write_file_atomic: a crash or an error never leaves a partial
 * trace under the final name. Errors are sticky: the first one is kept, later calls do nothing,
 * and close reports it and removes the temporary file. Memory: gm_arena and gm_map only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gm_arena.h"
#include "trace_internal.h"

enum { OUT_CAP = 256u << 10 };

struct gm_trace_writer {
    gm_arena *arena;
    int fd;
    bool to_stdout;
    const char *path, *tmp; /* tmp: NULL for stdout */
    gm_trace_header hdr;
    uint8_t *head; /* fixed header, meta, CRC: rewritten at close */
    size_t head_len;
    gm_trace_codec codec;
    uint8_t *ops; /* raw records of the pending OPS chunk */
    size_t ops_len;
    uint64_t ops_nrec;
    uint8_t *out; /* bytes waiting for write(2) */
    size_t out_len;
    uint8_t *zbuf; /* compressed OPS payload */
    size_t zcap;
    uint32_t rec_crc; /* over every record's bytes, uncompressed */
    gm_trace_tally tally;
    uint64_t names_bytes;
    int compress;
#ifdef GM_HAVE_ZSTD
    ZSTD_CCtx *cctx;
#endif
    char err[256];
};

static void write_all(gm_trace_writer *w, const void *p, size_t n)
{
    const char *c = p;
    while (n && !w->err[0]) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            gm_trace_seterr(w->err, sizeof w->err, "write %s: %s", w->tmp ? w->tmp : "stdout",
                            k < 0 ? strerror(errno) : "no progress");
            return;
        }
        c += k;
        n -= (size_t)k;
    }
}

static void out_flush(gm_trace_writer *w)
{
    write_all(w, w->out, w->out_len);
    w->out_len = 0;
}

static void out_put(gm_trace_writer *w, const void *p, size_t n)
{
    if (!n) return;
    if (w->out_len + n > OUT_CAP) out_flush(w);
    if (n > OUT_CAP) return write_all(w, p, n);
    memcpy(w->out + w->out_len, p, n);
    w->out_len += n;
}

/* One chunk: type, varint length, payload = pre ‖ body, CRC32C of everything before it. */
static void chunk_emit(gm_trace_writer *w, uint8_t type, const uint8_t *pre, size_t npre,
                       const uint8_t *body, size_t nbody)
{
    uint8_t h[16];
    h[0] = type;
    size_t nh = 1 + gm_varint_put(h + 1, npre + nbody);
    uint32_t crc = gm_crc32c(gm_crc32c(gm_crc32c(0, h, nh), pre, npre), body, nbody);
    uint8_t c[4];
    gm_le_put(c, crc, 4);
    out_put(w, h, nh);
    out_put(w, pre, npre);
    out_put(w, body, nbody);
    out_put(w, c, 4);
}

/* Compresses the pending records when that makes them smaller; returns the payload length in
 * w->zbuf after pre (nrec, raw length), or 0 to write them plain. */
static size_t ops_compress(gm_trace_writer *w, uint8_t *pre, size_t *npre)
{
#ifdef GM_HAVE_ZSTD
    if (!w->compress) return 0;
    size_t z = ZSTD_compressCCtx(w->cctx, w->zbuf, w->zcap, w->ops, w->ops_len, w->compress);
    if (ZSTD_isError(z) || z + 5 >= w->ops_len) return 0;
    *npre += gm_varint_put(pre + *npre, w->ops_len);
    return z;
#else
    (void)w, (void)pre, (void)npre;
    return 0;
#endif
}

static void ops_flush(gm_trace_writer *w)
{
    if (!w->ops_nrec) return;
    uint8_t pre[24];
    size_t npre = gm_varint_put(pre, w->ops_nrec);
    size_t z = ops_compress(w, pre, &npre);
    if (z)
        chunk_emit(w, GM_TRC_OPS_ZSTD, pre, npre, w->zbuf, z);
    else
        chunk_emit(w, GM_TRC_OPS, pre, gm_varint_put(pre, w->ops_nrec), w->ops, w->ops_len);
    w->ops_len = 0;
    w->ops_nrec = 0;
}

/* The header: fixed part, meta strings (u16 length + bytes each), CRC32C of both. */
static void head_build(gm_trace_writer *w, const char *source, const char *command)
{
    size_t ls = strlen(source), lc = strlen(command);
    w->hdr.meta_len = (uint32_t)(4 + ls + lc);
    w->head_len = GM_TRACE_FIXED_LEN + w->hdr.meta_len + 4;
    w->head = gm_arena_alloc(w->arena, w->head_len);
    uint8_t *m = w->head + GM_TRACE_FIXED_LEN;
    gm_le_put(m, ls, 2);
    memcpy(m + 2, source, ls);
    gm_le_put(m + 2 + ls, lc, 2);
    memcpy(m + 4 + ls, command, lc);
}

static void head_seal(gm_trace_writer *w)
{
    gm_trace_header_put(w->head, &w->hdr);
    size_t n = w->head_len - 4;
    gm_le_put(w->head + n, gm_crc32c(0, w->head, n), 4);
}

static int writer_open_fd(gm_trace_writer *w, const char *path, char *err, size_t errlen)
{
    if (!strcmp(path, "-")) {
        w->fd = STDOUT_FILENO;
        w->to_stdout = true;
        return 0;
    }
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof buf) {
        gm_trace_seterr(err, errlen, "%s: path too long", path);
        return -1;
    }
    w->path = gm_arena_strdup(w->arena, path);
    w->tmp = gm_arena_strdup(w->arena, buf);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (w->fd < 0) {
        gm_trace_seterr(err, errlen, "open %s: %s", w->tmp, strerror(errno));
        return -1;
    }
    return 0;
}

static int writer_compression(gm_trace_writer *w, int level, char *err, size_t errlen)
{
    if (!level) return 0;
#ifdef GM_HAVE_ZSTD
    if (level < 1 || level > ZSTD_maxCLevel()) {
        gm_trace_seterr(err, errlen, "zstd level %d out of range 1..%d", level, ZSTD_maxCLevel());
        return -1;
    }
    w->compress = level;
    w->hdr.flags |= GM_TRF_COMPRESSED;
    w->cctx = ZSTD_createCCtx_advanced(gm_trace_zstd_mem());
    w->zcap = ZSTD_compressBound(GM_TRACE_OPS_TARGET + GM_TRACE_REC_MAX);
    w->zbuf = gm_arena_alloc(w->arena, w->zcap);
    return 0;
#else
    (void)w;
    gm_trace_seterr(err, errlen,
                    "zstd compression (level %d) is not available: this build has no zstd "
                    "(install the Debian package libzstd-dev and rebuild)",
                    level);
    return -1;
#endif
}

gm_trace_writer *gm_trace_writer_open(const char *path, const gm_trace_meta *meta, char *err,
                                      size_t errlen)
{
    if (err && errlen) err[0] = 0;
    const char *source = meta && meta->source ? meta->source : "";
    const char *command = meta && meta->command ? meta->command : "";
    if (strlen(source) > GM_TRACE_META_MAX || strlen(command) > GM_TRACE_META_MAX) {
        gm_trace_seterr(err, errlen, "trace meta strings are limited to %u bytes",
                        GM_TRACE_META_MAX);
        return NULL;
    }
    gm_arena *a = gm_arena_create();
    gm_trace_writer *w = gm_arena_alloc(a, sizeof *w);
    w->arena = a;
    w->fd = -1;
    w->hdr.version = GM_TRACE_VERSION;
    w->hdr.flags = meta && meta->timestamps ? GM_TRF_TIMESTAMPS : 0;
    w->codec.times = meta && meta->timestamps;
    if (writer_compression(w, meta ? meta->compress : 0, err, errlen) != 0 ||
        writer_open_fd(w, path, err, errlen) != 0) {
        gm_trace_writer_abort(w);
        return NULL;
    }
    w->ops = gm_arena_alloc(a, GM_TRACE_OPS_TARGET + GM_TRACE_REC_MAX);
    w->out = gm_arena_alloc(a, OUT_CAP);
    gm_trace_tally_init(&w->tally, NULL);
    head_build(w, source, command);
    head_seal(w); /* unpatched: a reader of a pipe sees a header without a summary */
    out_put(w, w->head, w->head_len);
    return w;
}

/* A table entry: its own chunk (index, name). */
static uint32_t table_add(gm_trace_writer *w, uint8_t type, uint32_t *count, uint32_t first,
                          uint32_t max, const char *name)
{
    const char *what = type == GM_TRC_THREAD ? "thread" : "site";
    size_t len = strlen(name ? name : "");
    uint32_t index = *count + first;
    if (*count >= max)
        gm_trace_seterr(w->err, sizeof w->err, "more than %u %ss", max, what);
    else if (len > GM_TRACE_NAME_MAX)
        gm_trace_seterr(w->err, sizeof w->err, "%s %u: name longer than %u bytes", what, index,
                        GM_TRACE_NAME_MAX);
    else if ((w->names_bytes += len) > GM_TRACE_NAMES_MAX)
        gm_trace_seterr(w->err, sizeof w->err, "table names exceed %u bytes", GM_TRACE_NAMES_MAX);
    if (w->err[0]) return index;
    uint8_t pre[16];
    size_t npre = gm_varint_put(pre, index);
    npre += gm_varint_put(pre + npre, len);
    chunk_emit(w, type, pre, npre, (const uint8_t *)(name ? name : ""), len);
    ++*count;
    return index;
}

uint32_t gm_trace_add_thread(gm_trace_writer *w, const char *name)
{
    return table_add(w, GM_TRC_THREAD, &w->tally.s.threads, 0, GM_TRACE_MAX_THREADS, name);
}

uint32_t gm_trace_add_site(gm_trace_writer *w, const char *symbol)
{
    return table_add(w, GM_TRC_SITE, &w->tally.s.sites, 1, GM_TRACE_MAX_SITES, symbol);
}

/* The record as it will be read back: fields its kind does not have are zero. */
static const char *rec_normalise(const gm_trace_writer *w, const gm_trace_rec *in, gm_trace_rec *r)
{
    memset(r, 0, sizeof *r);
    r->kind = in->kind;
    r->thread = in->thread;
    r->time_ns = w->codec.times ? in->time_ns : 0;
    if (in->kind == GM_TR_MARK) r->mark = in->mark;
    if (in->kind == GM_TR_FREE || in->kind == GM_TR_REALLOC) r->obj = in->obj;
    if (in->kind == GM_TR_ALLOC || in->kind == GM_TR_REALLOC) {
        r->flags = in->flags;
        r->align_log2 = in->align_log2;
        r->site = in->site;
        r->size = in->size;
    }
    if (in->kind == GM_TR_ALLOC) r->obj = w->codec.next_id;
    const char *why = gm_trace_rec_check(r);
    if (why) return why;
    if (r->thread >= w->tally.s.threads) return "thread not in the thread table";
    if (r->site > w->tally.s.sites) return "site not in the site table";
    return NULL;
}

uint64_t gm_trace_write(gm_trace_writer *w, const gm_trace_rec *rec)
{
    gm_trace_rec r;
    if (w->err[0]) return rec->kind == GM_TR_ALLOC ? w->codec.next_id : rec->obj;
    const char *why = rec_normalise(w, rec, &r);
    if (why) {
        gm_trace_seterr(w->err, sizeof w->err,
                        "record %llu (kind %u, thread %u, site %u, align 2^%u, size %llu): %s",
                        (unsigned long long)w->tally.s.records, rec->kind, rec->thread, rec->site,
                        rec->align_log2, (unsigned long long)rec->size, why);
        return r.obj;
    }
    size_t n = gm_trace_encode(&w->codec, &r, w->ops + w->ops_len);
    w->rec_crc = gm_crc32c(w->rec_crc, w->ops + w->ops_len, n);
    w->ops_len += n;
    w->ops_nrec++;
    gm_trace_tally_add(&w->tally, &r);
    if (w->ops_len >= GM_TRACE_OPS_TARGET) ops_flush(w);
    return r.obj;
}

static void fsync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
             slash ? path : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Patches the header with the summary, makes the file durable and gives it its name. */
static void writer_finish_file(gm_trace_writer *w)
{
    w->hdr.summary = w->tally.s;
    w->hdr.flags |= GM_TRF_SUMMARY;
    head_seal(w);
    if (!w->err[0] && pwrite(w->fd, w->head, w->head_len, 0) != (ssize_t)w->head_len)
        gm_trace_seterr(w->err, sizeof w->err, "patching the header of %s: %s", w->tmp,
                        strerror(errno));
    if (!w->err[0] && fsync(w->fd) != 0)
        gm_trace_seterr(w->err, sizeof w->err, "fsync %s: %s", w->tmp, strerror(errno));
    if (close(w->fd) != 0)
        gm_trace_seterr(w->err, sizeof w->err, "close %s: %s", w->tmp, strerror(errno));
    w->fd = -1;
    if (!w->err[0] && rename(w->tmp, w->path) != 0)
        gm_trace_seterr(w->err, sizeof w->err, "rename %s to %s: %s", w->tmp, w->path,
                        strerror(errno));
    if (!w->err[0]) fsync_dir(w->path);
}

int gm_trace_writer_close(gm_trace_writer *w, gm_trace_summary *summary, char *err, size_t errlen)
{
    ops_flush(w);
    uint8_t end[128];
    size_t n = gm_trace_end_put(end, &w->tally.s, w->rec_crc);
    chunk_emit(w, GM_TRC_END, end, n, NULL, 0);
    out_flush(w);
    if (summary) *summary = w->tally.s;
    if (!w->to_stdout && !w->err[0]) writer_finish_file(w);
    if (w->err[0]) {
        gm_trace_seterr(err, errlen, "%s", w->err);
        gm_trace_writer_abort(w);
        return -1;
    }
    w->tmp = NULL; /* renamed: nothing for abort to remove */
    gm_trace_writer_abort(w);
    return 0;
}

void gm_trace_writer_abort(gm_trace_writer *w)
{
    if (!w) return;
    if (w->fd >= 0 && !w->to_stdout) close(w->fd);
    if (w->tmp) unlink(w->tmp);
    gm_trace_tally_destroy(&w->tally);
#ifdef GM_HAVE_ZSTD
    if (w->cctx) ZSTD_freeCCtx(w->cctx);
#endif
    gm_arena_destroy(w->arena);
}
