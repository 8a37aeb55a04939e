/*
 * import.c — what the Go and mtrace importers share (import_internal.h): opening the log and
 * the trace, the live-address map, the site table and the record helpers.
 *
 * The record helpers keep one rule for both formats: an address names at most one live object.
 * An allocation at a live address first writes a free of the object that was there (the log
 * lost that free: st.implicit_frees); a free of an address with no live object writes nothing
 * (st.unmatched_frees). So the trace the writer receives never frees a dead object, and its
 * summary.invalid stays 0.
 *
 * Memory: the address map is the trace code's gm_trace_map (trace_internal.h), sized by the
 * live objects; the site table is a gm_map region grown by rehashing into one twice the size;
 * site names go to a gm_arena. Nothing here is sized by the log's
 * length. Not thread-safe (one importer per call).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "import_internal.h"

enum { SITETAB_MIN_CAP = 256 };

/* ---- site table ---------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static void sitetab_init(gm_imp_sitetab *t, size_t cap)
{
    t->cap = cap;
    t->n = 0;
    t->ent = gm_map(cap * sizeof *t->ent, 0);
}

static gm_imp_site_ent *sitetab_slot(gm_imp_sitetab *t, uint64_t h, const char *s, size_t len)
{
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        gm_imp_site_ent *e = &t->ent[i];
        if (!e->name) return e;
        if (e->hash == h && e->len == len && memcmp(e->name, s, len) == 0) return e;
    }
}

static void sitetab_grow(gm_imp_sitetab *t)
{
    gm_imp_sitetab old = *t;
    sitetab_init(t, old.cap * 2);
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.ent[i].name) continue;
        *sitetab_slot(t, old.ent[i].hash, old.ent[i].name, old.ent[i].len) = old.ent[i];
        t->n++;
    }
    gm_unmap(old.ent, old.cap * sizeof *old.ent);
}

uint32_t gm_importer_site(gm_importer *im, const char *name, size_t len)
{
    if (len == 0) return GM_TRACE_NO_SITE;
    gm_imp_sitetab *t = &im->sites;
    if ((t->n + 1) * 2 > t->cap) sitetab_grow(t);
    uint64_t h = hash_bytes(name, len);
    gm_imp_site_ent *e = sitetab_slot(t, h, name, len);
    if (e->name) return e->site;
    char *copy = gm_arena_alloc(im->arena, len + 1);
    memcpy(copy, name, len);
    e->hash = h;
    e->name = copy;
    e->len = len;
    e->site = gm_trace_add_site(im->w, copy);
    t->n++;
    im->st.sites++;
    return e->site;
}

/* ---- records ------------------------------------------------------------------------------- */

static void importer_write(gm_importer *im, const gm_trace_rec *rec, uint64_t *obj)
{
    uint64_t id = gm_trace_write(im->w, rec);
    if (obj) *obj = id;
    im->st.records++;
}

static void importer_write_free(gm_importer *im, uint64_t obj, uint32_t site)
{
    gm_trace_rec rec = {.kind = GM_TR_FREE, .thread = im->thread, .site = site, .obj = obj};
    importer_write(im, &rec, NULL);
    im->st.frees++;
}

void gm_importer_alloc(gm_importer *im, uint64_t addr, uint64_t size, uint8_t flags, uint32_t site)
{
    uint64_t old;
    if (gm_trace_map_get(&im->live, addr, &old)) {
        importer_write_free(im, old, GM_TRACE_NO_SITE);
        im->st.implicit_frees++;
    }
    gm_trace_rec rec = {
        .kind = GM_TR_ALLOC, .flags = flags, .thread = im->thread, .site = site, .size = size};
    uint64_t id;
    importer_write(im, &rec, &id);
    im->st.allocs++;
    gm_trace_map_put(&im->live, addr, id);
}

bool gm_importer_free(gm_importer *im, uint64_t addr, uint32_t site)
{
    uint64_t obj;
    if (!gm_trace_map_get(&im->live, addr, &obj)) {
        im->st.unmatched_frees++;
        return false;
    }
    gm_trace_map_del(&im->live, addr, &obj);
    importer_write_free(im, obj, site);
    return true;
}

void gm_importer_realloc(gm_importer *im, uint64_t old_addr, uint64_t new_addr, uint64_t size,
                         uint32_t site)
{
    uint64_t obj;
    if (!gm_trace_map_get(&im->live, old_addr, &obj)) {
        im->st.unmatched_frees++;
        gm_importer_alloc(im, new_addr, size, 0, site);
        return;
    }
    if (size == 0) {
        gm_importer_free(im, old_addr, site);
        gm_importer_alloc(im, new_addr, 0, 0, site);
        return;
    }
    gm_trace_map_del(&im->live, old_addr, &obj);
    uint64_t other;
    if (gm_trace_map_get(&im->live, new_addr, &other)) {
        gm_trace_map_del(&im->live, new_addr, &other);
        importer_write_free(im, other, GM_TRACE_NO_SITE);
        im->st.implicit_frees++;
    }
    gm_trace_rec rec = {
        .kind = GM_TR_REALLOC, .thread = im->thread, .site = site, .obj = obj, .size = size};
    importer_write(im, &rec, NULL);
    im->st.reallocs++;
    gm_trace_map_put(&im->live, new_addr, obj);
}

void gm_importer_mark(gm_importer *im, uint8_t mark)
{
    gm_trace_rec rec = {.kind = GM_TR_MARK, .mark = mark, .thread = im->thread};
    importer_write(im, &rec, NULL);
    im->st.marks++;
}

/* ---- opening, errors, closing ------------------------------------------------------------ */

int gm_importer_open(gm_importer *im, const char *log_path, const char *trace_path,
                     const char *source, const char *thread_name, char *err, size_t errlen)
{
    memset(im, 0, sizeof *im);
    im->log_path = log_path;
    im->err = err;
    im->errlen = errlen;
    if (gm_linereader_open(&im->lr, log_path, GM_LINEREADER_MAX_LINE, err, errlen) < 0) return -1;
    gm_trace_meta meta = {.source = source, .command = log_path, .timestamps = false};
    im->w = gm_trace_writer_open(trace_path, &meta, err, errlen);
    if (!im->w) {
        gm_linereader_close(&im->lr);
        return -1;
    }
    im->arena = gm_arena_create();
    gm_trace_map_init(&im->live, NULL);
    sitetab_init(&im->sites, SITETAB_MIN_CAP);
    im->thread = gm_trace_add_thread(im->w, thread_name);
    return 0;
}

int gm_importer_next_line(gm_importer *im, char **line, size_t *len, bool *truncated)
{
    char msg[200];
    int rc = gm_linereader_next(&im->lr, line, len, truncated, msg, sizeof msg);
    if (rc < 0) return gm_importer_fail(im, 0, "%s", msg);
    if (rc > 0) im->st.lines++;
    return rc;
}

int gm_importer_fail(gm_importer *im, uint64_t line, const char *fmt, ...)
{
    if (im->failed) return -1; /* keep the first error */
    im->failed = true;
    int n = line
                ? snprintf(im->err, im->errlen, "%s:%llu: ", im->log_path, (unsigned long long)line)
                : snprintf(im->err, im->errlen, "%s: ", im->log_path);
    if (n >= 0 && (size_t)n < im->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(im->err + n, im->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int gm_importer_close(gm_importer *im, bool ok, gm_import_stats *st)
{
    int rc = 0;
    if (ok && !im->failed) {
        gm_trace_summary sum;
        if (gm_trace_writer_close(im->w, &sum, im->err, im->errlen) < 0) rc = -1;
    } else {
        gm_trace_writer_abort(im->w);
        rc = -1;
    }
    im->w = NULL;
    gm_linereader_close(&im->lr);
    gm_trace_map_destroy(&im->live);
    gm_unmap(im->sites.ent, im->sites.cap * sizeof *im->sites.ent);
    gm_arena_destroy(im->arena);
    if (st) *st = im->st;
    return rc;
}

/* ---- text helpers ---------------------------------------------------------------------------- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool gm_imp_parse_hex(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (s[0] != '0' || s[1] != 'x') return false;
    s += 2;
    uint64_t v = 0;
    int n = 0, d;
    for (; (d = hex_digit(*s)) >= 0; s++, n++) {
        if (n == 16) return false; /* more than 64 bits */
        v = v << 4 | (uint64_t)d;
    }
    if (n == 0) return false;
    *p = s;
    *out = v;
    return true;
}

const char *gm_imp_excerpt(const char *line, char *buf, size_t buflen)
{
    size_t n = strlen(line), max = buflen > 4 ? buflen - 4 : 0;
    if (n <= max) {
        memcpy(buf, line, n + 1);
    } else {
        memcpy(buf, line, max);
        memcpy(buf + max, "...", 4);
    }
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t') *c = '?';
    return buf;
}
