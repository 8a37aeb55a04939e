/*
 * trace_text.c — the text form of a trace (TRACE_FORMAT.md, "Text form"): gm_trace_from_text
 * (hand-written traces, `gmbench trace from-text`) and gm_trace_to_text (`gmbench trace dump`).
 *
 * One line per table entry or record; objects are named by labels, which the converter binds
 * to the trace's object ids (an alloc binds its label to the new object; free and realloc name
 * the object a label was last bound to; a label never bound that reads x<N> names object N, so
 * that dump's output, which names object N "xN", converts back to the same trace, invalid frees
 * included). Errors name the line.
 *
 * The text file is mapped read-only (mmap) and parsed line by line through a fixed buffer;
 * labels live in an open-addressing string table in gm_map memory. No malloc, no stdio streams.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm_arena.h"
#include "trace_internal.h"

enum { LINE_MAX_BYTES = 16384, MAX_TOKENS = 16 };

/* ---- labels ------------------------------------------------------------------------------ */

typedef struct label {
    const char *name; /* NULL: empty entry */
    uint64_t hash, id;
} label;

typedef struct labels {
    gm_arena *arena; /* the names */
    label *t;
    size_t cap, n;
} labels;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static label *labels_find(labels *l, const char *name, uint64_t h)
{
    size_t i = (size_t)h & (l->cap - 1);
    while (l->t[i].name && (l->t[i].hash != h || strcmp(l->t[i].name, name)))
        i = (i + 1) & (l->cap - 1);
    return &l->t[i];
}

static void labels_grow(labels *l)
{
    labels old = *l;
    l->cap = old.cap ? 2 * old.cap : 1024;
    l->t = gm_map(l->cap * sizeof(label), 0);
    for (size_t i = 0; i < old.cap; i++)
        if (old.t[i].name) *labels_find(l, old.t[i].name, old.t[i].hash) = old.t[i];
    if (old.t) gm_unmap(old.t, old.cap * sizeof(label));
}

static void labels_bind(labels *l, const char *name, uint64_t id)
{
    if (2 * (l->n + 1) > l->cap) labels_grow(l);
    uint64_t h = fnv1a(name);
    label *e = labels_find(l, name, h);
    if (!e->name) {
        e->name = gm_arena_strdup(l->arena, name);
        e->hash = h;
        l->n++;
    }
    e->id = id;
}

/* The object a label names; -1 when it was never bound and is not of the form x<N>. */
static int labels_get(labels *l, const char *name, uint64_t *id)
{
    label *e = l->cap ? labels_find(l, name, fnv1a(name)) : NULL;
    if (e && e->name) return *id = e->id, 0;
    return name[0] == 'x' && gm_parse_u64(name + 1, 0, id) == 0 ? 0 : -1;
}

/* ---- parsing ----------------------------------------------------------------------------- */

typedef struct parser {
    gm_trace_writer *w;
    labels lab;
    uint64_t line;
    uint32_t threads, sites;
    uint64_t time_ns; /* of the last record: a record without @T keeps it */
    char *err;
    size_t errlen;
} parser;

static int perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parser *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gm_trace_seterr(p->err, p->errlen, "line %llu: %s", (unsigned long long)p->line, msg);
    return -1;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Undoes to-text's escapes (\\ and \xHH, HH not 00) in place. */
static int unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s != '\\') {
            *o++ = *s;
        } else if (s[1] == '\\') {
            *o++ = *++s;
        } else if (s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0 &&
                   (s[2] != '0' || s[3] != '0')) {
            *o++ = (char)(hexval(s[2]) * 16 + hexval(s[3]));
            s += 3;
        } else {
            return -1;
        }
    }
    *o = 0;
    return 0;
}

/* `thread N name` / `site N symbol`: N must be the next index. */
static int parse_table(parser *p, bool thr, char *tok1, char *rest)
{
    uint64_t n;
    uint32_t *count = thr ? &p->threads : &p->sites, next = *count + (thr ? 0 : 1);
    if (!tok1 || gm_parse_u64(tok1, 0, &n) != 0)
        return perr(p, "%s needs an index", thr ? "thread" : "site");
    if (n != next)
        return perr(p, "%s %llu out of order: the next one is %u", thr ? "thread" : "site",
                    (unsigned long long)n, next);
    if (unescape(rest) != 0) return perr(p, "bad escape in the name (\\\\ or \\xHH)");
    if (thr)
        gm_trace_add_thread(p->w, rest);
    else
        gm_trace_add_site(p->w, rest);
    ++*count;
    return 0;
}

/* Declares threads (or sites) up to index n that no line declared: unnamed. */
static int declare_up_to(parser *p, bool thr, uint64_t n)
{
    uint32_t *count = thr ? &p->threads : &p->sites;
    uint64_t have = thr ? *count : (uint64_t)*count + 1;
    if (n >= (thr ? GM_TRACE_MAX_THREADS : GM_TRACE_MAX_SITES))
        return perr(p, "%s %llu is over the limit", thr ? "thread" : "site", (unsigned long long)n);
    for (; have <= n; have++, ++*count)
        thr ? gm_trace_add_thread(p->w, "") : gm_trace_add_site(p->w, "");
    return 0;
}

static int parse_align(parser *p, const char *v, gm_trace_rec *r)
{
    uint64_t a;
    if (gm_parse_u64(v, 1, &a) != 0 || a < 8 || a > (1u << GM_OP_MAX_ALIGN_LOG2) || (a & (a - 1)))
        return perr(p, "align=%s: a power of two from 8 to 64M", v);
    r->align_log2 = (uint8_t)__builtin_ctzll(a);
    return 0;
}

/* One option token of a record. */
static int parse_option(parser *p, char *t, gm_trace_rec *r, bool *have_size)
{
    uint64_t v;
    bool sized = r->kind == GM_TR_ALLOC || r->kind == GM_TR_REALLOC;
    if (t[0] == 't' && gm_parse_u64(t + 1, 0, &v) == 0) {
        if (declare_up_to(p, true, v) != 0) return -1;
        r->thread = (uint32_t)v;
    } else if (t[0] == '@') {
        if (gm_parse_u64(t + 1, 0, &r->time_ns) != 0) return perr(p, "bad time %s", t);
    } else if (sized && !strcmp(t, "scan")) {
        r->flags |= GM_OPF_SCAN;
    } else if (sized && !strcmp(t, "zero")) {
        r->flags |= GM_OPF_ZERO;
    } else if (sized && !strcmp(t, "noscan")) {
        r->flags &= (uint8_t)~GM_OPF_SCAN;
    } else if (sized && !strncmp(t, "align=", 6)) {
        return parse_align(p, t + 6, r);
    } else if (sized && !strncmp(t, "site=", 5)) {
        if (gm_parse_u64(t + 5, 0, &v) != 0) return perr(p, "bad %s", t);
        if (v && declare_up_to(p, false, v) != 0) return -1;
        r->site = (uint32_t)v;
    } else if (sized && !*have_size && gm_parse_u64(t, 1, &r->size) == 0) {
        *have_size = true;
    } else {
        return perr(p, "unexpected '%s'", t);
    }
    return 0;
}

static int parse_mark(parser *p, const char *t, gm_trace_rec *r)
{
    uint64_t v;
    if (t && !strcmp(t, "gc"))
        r->mark = GM_TR_MARK_GC;
    else if (t && gm_parse_u64(t, 0, &v) == 0 && v >= 1 && v <= 255)
        r->mark = (uint8_t)v;
    else
        return perr(p, "mark needs gc or a number from 1 to 255");
    return 0;
}

static int parse_record(parser *p, gm_trace_rec *r, char **tok, int ntok)
{
    bool have_size = false;
    if (ntok < 2) return perr(p, "%s needs an object label", tok[0]);
    if (r->kind == GM_TR_MARK ? parse_mark(p, tok[1], r) != 0
                              : r->kind != GM_TR_ALLOC && labels_get(&p->lab, tok[1], &r->obj) != 0)
        return r->kind == GM_TR_MARK ? -1 : perr(p, "object %s was never allocated", tok[1]);
    for (int i = 2; i < ntok; i++)
        if (parse_option(p, tok[i], r, &have_size) != 0) return -1;
    if ((r->kind == GM_TR_ALLOC || r->kind == GM_TR_REALLOC) && !have_size)
        return perr(p, "%s needs a size", tok[0]);
    if (r->kind == GM_TR_REALLOC && r->size == 0) return perr(p, "realloc to size 0");
    p->time_ns = r->time_ns;
    uint64_t id = gm_trace_write(p->w, r);
    if (r->kind == GM_TR_ALLOC) labels_bind(&p->lab, tok[1], id);
    return 0;
}

static int split(char *s, char **tok)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r') *s++ = 0;
        if (!*s || n == MAX_TOKENS) return n;
        tok[n++] = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r') s++;
    }
}

static int parse_line(parser *p, char *line)
{
    char *s = line + strspn(line, " \t\r");
    if (!*s || *s == '#') return 0;
    char *rest = s + strcspn(s, " \t");
    rest += strspn(rest, " \t");
    rest = rest + strcspn(rest, " \t"); /* after the index */
    rest += strspn(rest, " \t");
    size_t rl = strlen(rest);
    while (rl && (rest[rl - 1] == ' ' || rest[rl - 1] == '\t' || rest[rl - 1] == '\r')) rl--;
    char name[LINE_MAX_BYTES];
    memcpy(name, rest, rl);
    name[rl] = 0;
    char *tok[MAX_TOKENS + 1];
    int ntok = split(s, tok);
    if (ntok == MAX_TOKENS && strncmp(tok[0], "thread", 7) && strncmp(tok[0], "site", 5))
        return perr(p, "too many fields");
    static const char *const kinds[] = {NULL, "alloc", "free", "realloc", "mark"};
    if (!strcmp(tok[0], "thread") || !strcmp(tok[0], "site"))
        return parse_table(p, tok[0][0] == 't', ntok > 1 ? tok[1] : NULL, name);
    for (uint8_t k = GM_TR_ALLOC; k <= GM_TR_MARK; k++)
        if (!strcmp(tok[0], kinds[k])) {
            gm_trace_rec r = {.kind = k, .time_ns = p->time_ns};
            if (p->threads == 0 && declare_up_to(p, true, 0) != 0) return -1;
            return parse_record(p, &r, tok, ntok);
        }
    return perr(p, "unknown line type '%s' (thread, site, alloc, free, realloc, mark)", tok[0]);
}

/* True when a record line carries a time (@T): the trace then has timestamps. */
static bool text_has_times(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '@' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t') && s[i + 1] >= '0' &&
            s[i + 1] <= '9')
            return true;
    return false;
}

static int parse_all(parser *p, const char *s, size_t n)
{
    char line[LINE_MAX_BYTES];
    for (size_t i = 0; i < n && !p->err[0];) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t len = (nl ? (size_t)(nl - s) : n) - i;
        p->line++;
        if (len >= sizeof line) return perr(p, "line longer than %d bytes", LINE_MAX_BYTES - 1);
        if (memchr(s + i, 0, len)) return perr(p, "NUL byte in the text");
        memcpy(line, s + i, len);
        line[len] = 0;
        if (parse_line(p, line) != 0) return -1;
        i += len + 1;
    }
    return 0;
}

/* Reads the whole text (hand-written traces are small) into gm_map memory, to the end of the
 * file rather than to its stat size, so a pipe works as well as a regular file. *len 0 gives
 * NULL (an empty file is an empty trace); *cap is the mapping's size for gm_unmap. */
static const char *read_text(const char *path, size_t *len, size_t *cap, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        gm_trace_seterr(err, errlen, "open %s: %s", path, strerror(errno));
        return (const char *)-1;
    }
    char *buf = NULL;
    *len = *cap = 0;
    for (;;) {
        if (*len == *cap) {
            size_t bigger = *cap ? *cap * 2 : 1 << 16;
            buf = gm_remap(buf, *cap, bigger);
            *cap = bigger;
        }
        ssize_t n = read(fd, buf + *len, *cap - *len);
        if (n == 0) break;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            gm_trace_seterr(err, errlen, "read %s: %s", path, strerror(errno));
            close(fd);
            gm_unmap(buf, *cap);
            return (const char *)-1;
        }
        *len += (size_t)n;
    }
    close(fd);
    if (*len == 0) {
        gm_unmap(buf, *cap);
        *cap = 0;
        return NULL;
    }
    return buf;
}

int gm_trace_from_text(const char *text_path, const char *trace_path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    size_t len = 0, cap = 0;
    const char *s = read_text(text_path, &len, &cap, err, errlen);
    if (s == (const char *)-1) return -1;
    gm_trace_meta meta = {.source = "text", .command = text_path};
    meta.timestamps = text_has_times(s, len);
    parser p = {.err = err, .errlen = errlen};
    char dummy[1] = {0};
    if (!err || !errlen) p.err = dummy, p.errlen = sizeof dummy;
    p.w = gm_trace_writer_open(trace_path, &meta, err, errlen);
    int rc = -1;
    if (p.w) {
        p.lab.arena = gm_arena_create();
        rc = parse_all(&p, s, len);
        if (rc != 0)
            gm_trace_writer_abort(p.w);
        else
            rc = gm_trace_writer_close(p.w, NULL, err, errlen);
        if (p.lab.t) gm_unmap(p.lab.t, p.lab.cap * sizeof(label));
        gm_arena_destroy(p.lab.arena);
    }
    gm_unmap((void *)s, cap);
    return rc;
}

/* ---- to text ----------------------------------------------------------------------------- */

typedef struct out {
    int fd;
    size_t len;
    int failed; /* errno of a failed write */
    char buf[64 << 10];
} out;

static void out_flush(out *o)
{
    for (size_t done = 0; done < o->len && !o->failed;) {
        ssize_t k = write(o->fd, o->buf + done, o->len - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) o->failed = k < 0 ? errno : EIO;
        done += k > 0 ? (size_t)k : 0;
    }
    o->len = 0;
}

static void out_printf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(out *o, const char *fmt, ...)
{
    if (o->len + 512 > sizeof o->buf) out_flush(o);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n < sizeof o->buf - o->len ? (size_t)n : sizeof o->buf - o->len - 1;
}

/* A name with its unprintable bytes, backslashes and edge spaces escaped: one line, and
 * from-text reads back the same bytes. */
static void out_name(out *o, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        bool edge = c == ' ' && (i == 0 || i == n - 1);
        if (c < 0x20 || c == 0x7f || c == '\\' || edge)
            out_printf(o, c == '\\' ? "\\\\" : "\\x%02x", c);
        else
            out_printf(o, "%c", c);
    }
}

static void out_tables(out *o, const gm_trace_reader *r, uint32_t *threads, uint32_t *sites)
{
    for (; *threads < gm_trace_nthreads(r); ++*threads) {
        out_printf(o, "thread %u ", *threads);
        out_name(o, gm_trace_thread_name(r, *threads));
        out_printf(o, "\n");
    }
    for (; *sites < gm_trace_nsites(r); ++*sites) {
        out_printf(o, "site %u ", *sites + 1);
        out_name(o, gm_trace_site_name(r, *sites + 1));
        out_printf(o, "\n");
    }
}

static void out_record(out *o, const gm_trace_rec *r, bool times)
{
    static const char *const kinds[] = {NULL, "alloc", "free", "realloc", "mark"};
    if (r->kind == GM_TR_MARK && r->mark == GM_TR_MARK_GC)
        out_printf(o, "mark gc t%u", r->thread);
    else if (r->kind == GM_TR_MARK)
        out_printf(o, "mark %u t%u", r->mark, r->thread);
    else
        out_printf(o, "%s x%llu t%u", kinds[r->kind], (unsigned long long)r->obj, r->thread);
    if (r->kind == GM_TR_ALLOC || r->kind == GM_TR_REALLOC) {
        out_printf(o, " %llu%s%s", (unsigned long long)r->size,
                   r->flags & GM_OPF_SCAN ? " scan" : "", r->flags & GM_OPF_ZERO ? " zero" : "");
        if (r->align_log2) out_printf(o, " align=%llu", 1ull << r->align_log2);
        if (r->site) out_printf(o, " site=%u", r->site);
    }
    if (times) out_printf(o, " @%llu", (unsigned long long)r->time_ns);
    out_printf(o, "\n");
}

int gm_trace_to_text(const char *trace_path, int fd, char *err, size_t errlen)
{
    gm_trace_reader *r = gm_trace_open(trace_path, err, errlen);
    if (!r) return -1;
    out *o = gm_map(sizeof(out), 0);
    o->fd = fd;
    const gm_trace_meta *m = gm_trace_get_meta(r);
    out_printf(o, "# gomalloc trace, format version %u, source ", GM_TRACE_VERSION);
    out_name(o, m->source);
    if (m->command) out_printf(o, ", command "), out_name(o, m->command);
    out_printf(o, "%s\n", m->timestamps ? ", timestamps" : "");
    uint32_t threads = 0, sites = 0;
    gm_trace_rec rec;
    int e;
    while ((e = gm_trace_next(r, &rec)) == 1) {
        out_tables(o, r, &threads, &sites);
        out_record(o, &rec, m->timestamps);
    }
    out_tables(o, r, &threads, &sites);
    out_flush(o);
    if (e < 0) gm_trace_seterr(err, errlen, "%s", gm_trace_error(r));
    if (e == 0 && o->failed) gm_trace_seterr(err, errlen, "write: %s", strerror(o->failed));
    int rc = e < 0 || o->failed ? -1 : 0;
    gm_unmap(o, sizeof(out));
    gm_trace_close(r);
    return rc;
}
