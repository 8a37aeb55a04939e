/*
 * record.c — `gmbench record`: run a command under libgmrecord.so and convert the raw logs it
 * writes (recorder/raw.h) into traces (gm_trace.h). The recording side and what it guarantees
 * are described at the top of recorder/preload.c; the user's view is in README.md, "Recording
 * real programs".
 *
 * Conversion, per process image (a process, or the program an exec put in it):
 *   1. Its thread files are merged by sequence number: a k-way merge over a binary heap, each
 *      file read through a small buffer (re-opened per refill, so thousands of threads do not
 *      need thousands of descriptors). Memory: one buffer per thread.
 *   2. Addresses become objects: a map address → object id of the live objects. An allocation
 *      creates an object (the writer numbers it); a free ends it; a realloc keeps the id whether
 *      or not the block moved. An address freed and handed out again is a new object.
 *      realloc(NULL, n) is an allocation; realloc(p, 0) returning NULL is a free (glibc frees p);
 *      a call that returned NULL allocated nothing and is skipped (counted); a free of an address
 *      never seen allocated (allocated before the recorder loaded, or by the bootstrap arena)
 *      is skipped (counted). calloc sets GM_OPF_ZERO; aligned calls set align_log2 (clamped to
 *      the format's 3..26; below 8 bytes means malloc's own alignment).
 *   3. Threads enter the thread table in the order of their first call, named "tid N" (the
 *      image's first thread, when its tid is the pid: "tid N (main)"). Call sites are return
 *      addresses, named module+offset from the load base ("libc.so.6+0x9a0b1"), resolved with
 *      the image's copy of /proc/<pid>/maps; an address outside every mapping is named "0x...".
 *   4. Times (when recorded) are CLOCK_MONOTONIC minus the image's start.
 *
 * Nothing here calls malloc (gm_arena.h): directories are listed with getdents64, and sorting
 * is done by hand (glibc's qsort may allocate).
 */
#define _GNU_SOURCE
#include "gm_record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gm_arena.h"
#include "recorder/raw.h"
#include "trace_internal.h"

extern char **environ;

enum {
    MERGE_BUDGET_BYTES = 8 << 20, /* read buffers of one image's threads together */
    MERGE_MIN_EVENTS = 64,
    MERGE_MAX_EVENTS = 4096,
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- finding the library ---- */

static bool file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

bool gm_record_library(char *path, size_t len)
{
    const char *env = getenv("GMBENCH_RECORDER");
    if (env && *env) {
        snprintf(path, len, "%s", env);
        return file_exists(path) && strlen(env) < len;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return false;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return false;
    *slash = 0;
    static const char *const rel[] = {"/../workloads/recorder/libgmrecord.so", "/libgmrecord.so",
                                      "/../lib/libgmrecord.so"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        int k = snprintf(path, len, "%s%s", self, rel[i]);
        if (k > 0 && (size_t)k < len && file_exists(path)) {
            char real[PATH_MAX];
            if (realpath(path, real) && strlen(real) < len) snprintf(path, len, "%s", real);
            return true;
        }
    }
    return false;
}

/* ---- the raw directory ---- */

typedef struct rec_src { /* one thread file */
    char *path;
    uint64_t off, end; /* next unread byte; end of the whole events */
    gm_rec_event *buf;
    uint32_t n, i, cap;
    int32_t tid;
    uint32_t thread;    /* index in the trace, UINT32_MAX before the first call */
    bool pending;       /* a REALLOC_BEGIN was seen, its REALLOC not yet */
    bool pending_known; /* ... and its block was a live object */
    uint64_t pending_obj, pending_ptr;
} rec_src;

typedef struct rec_image {
    char name[64]; /* "<pid>-<start_ns>" */
    int pid;
    uint64_t start_ns;
    rec_src *srcs;
    unsigned nsrcs, capsrcs;
    uint64_t events;                /* whole events in the thread files */
    bool tsc;                       /* times are TSC ticks, converted with clock_ns / clock_units */
    uint64_t clock_ns, clock_units; /* the latest CLOCK event of any thread: the calibration */
    uint64_t torn;                  /* events cut short */
    bool has_maps;
} rec_image;

typedef struct rec_dir {
    gm_arena *arena;
    const char *path;
    rec_image *images;
    unsigned nimages, cap;
} rec_dir;

/* Lists a directory with getdents64 (opendir allocates). Calls fn for every plain name. */
static int list_dir(const char *path, int (*fn)(void *, const char *), void *ctx, char *err,
                    size_t errlen)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    _Alignas(8) char buf[16384];
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) {
            seterr(err, errlen, "reading directory %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0) break;
        for (long at = 0; at < n;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + at);
            at += d->reclen;
            if (strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0) continue;
            if (fn(ctx, d->name) != 0) {
                close(fd);
                return 0;
            }
        }
    }
    close(fd);
    return 0;
}

static void *grow(gm_arena *a, void *old, size_t elem, unsigned n, unsigned *cap)
{
    if (n < *cap) return old;
    unsigned ncap = *cap ? *cap * 2 : 16;
    void *p = gm_arena_alloc(a, (size_t)ncap * elem);
    if (old) memcpy(p, old, (size_t)n * elem);
    *cap = ncap;
    return p;
}

static rec_image *image_get(rec_dir *d, const char *name, size_t namelen)
{
    for (unsigned i = 0; i < d->nimages; i++)
        if (strlen(d->images[i].name) == namelen && memcmp(d->images[i].name, name, namelen) == 0)
            return &d->images[i];
    if (namelen >= sizeof d->images[0].name) return NULL;
    char tmp[64];
    memcpy(tmp, name, namelen);
    tmp[namelen] = 0;
    int pid;
    unsigned long long start;
    char extra;
    if (sscanf(tmp, "%d-%llu%c", &pid, &start, &extra) != 2) return NULL;
    d->images = grow(d->arena, d->images, sizeof(rec_image), d->nimages, &d->cap);
    rec_image *im = &d->images[d->nimages++];
    memset(im, 0, sizeof *im);
    memcpy(im->name, tmp, namelen + 1);
    im->pid = pid;
    im->start_ns = start;
    return im;
}

/* Names: "<image>.t<serial>.ev", "<image>.maps", "<image>.proc"; anything else is ignored. */
static int raw_entry(void *ctx, const char *name)
{
    rec_dir *d = ctx;
    const char *dot = strchr(name, '.');
    if (!dot) return 0;
    bool ev =
        strncmp(dot, ".t", 2) == 0 && strlen(dot) > 5 && strcmp(dot + strlen(dot) - 3, ".ev") == 0;
    bool maps = strcmp(dot, ".maps") == 0;
    if (!ev && !maps && strcmp(dot, ".proc") != 0) return 0;
    rec_image *im = image_get(d, name, (size_t)(dot - name));
    if (!im) return 0;
    if (maps) im->has_maps = true;
    if (!ev) return 0;
    im->srcs = grow(d->arena, im->srcs, sizeof(rec_src), im->nsrcs, &im->capsrcs);
    rec_src *s = &im->srcs[im->nsrcs++];
    memset(s, 0, sizeof *s);
    size_t len = strlen(d->path) + 1 + strlen(name) + 1;
    s->path = gm_arena_alloc(d->arena, len);
    snprintf(s->path, len, "%s/%s", d->path, name);
    return 0;
}

/* Reads a thread file's header and size. -1 with err when the file is not a raw log. */
static int src_open(rec_image *im, rec_src *s, char *err, size_t errlen)
{
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    gm_rec_file_header h;
    if (fd < 0 || fstat(fd, &st) != 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        seterr(err, errlen, "%s: %s", s->path, fd < 0 ? strerror(errno) : "no raw header");
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    if (memcmp(h.magic, GM_REC_MAGIC, 8) != 0 || h.version != GM_REC_VERSION ||
        h.event_size != sizeof(gm_rec_event)) {
        seterr(err, errlen, "%s: not a gmrecord raw log (magic, version or event size)", s->path);
        return -1;
    }
    uint64_t body = (uint64_t)st.st_size - sizeof h;
    s->tid = h.tid;
    s->off = sizeof h;
    s->end = sizeof h + body / sizeof(gm_rec_event) * sizeof(gm_rec_event);
    s->thread = UINT32_MAX;
    im->events += body / sizeof(gm_rec_event);
    im->torn += body % sizeof(gm_rec_event) ? 1 : 0;
    im->tsc = (h.flags & GM_REC_F_TSC) != 0;
    /* Every write ends with a CLOCK event: the file's last one is its latest calibration. */
    gm_rec_event last;
    fd = s->end > s->off ? open(s->path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        if (pread(fd, &last, sizeof last, (off_t)(s->end - sizeof last)) == (ssize_t)sizeof last &&
            GM_REC_KIND(&last) == GM_REC_CLOCK && GM_REC_SIZE(&last) > im->clock_units) {
            im->clock_units = GM_REC_SIZE(&last);
            im->clock_ns = GM_REC_PTR(&last);
        }
        close(fd);
    }
    return 0;
}

/* Refills s->buf; false at the end of the file (or when it cannot be read any more). */
static bool src_refill(rec_src *s)
{
    if (s->off >= s->end) return false;
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    uint64_t want = s->end - s->off;
    if (want > (uint64_t)s->cap * sizeof(gm_rec_event))
        want = (uint64_t)s->cap * sizeof(gm_rec_event);
    ssize_t k = pread(fd, s->buf, (size_t)want, (off_t)s->off);
    close(fd);
    if (k < (ssize_t)sizeof(gm_rec_event)) return false;
    s->n = (uint32_t)((size_t)k / sizeof(gm_rec_event));
    s->i = 0;
    s->off += (uint64_t)s->n * sizeof(gm_rec_event);
    return true;
}

/* ---- call sites ---- */

typedef struct rec_mapping {
    uint64_t start, end, base; /* base: the module's load address (its first mapping) */
    const char *name;          /* basename of the path, or NULL (anonymous) */
} rec_mapping;

typedef struct rec_maps {
    rec_mapping *m;
    unsigned n, cap;
} rec_maps;

static void maps_load(gm_arena *a, const char *path, rec_maps *maps)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[65536], line[4096];
    size_t used = 0;
    const char *prev_path = NULL;
    uint64_t prev_base = 0;
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < k; i++) {
            if (buf[i] != '\n') {
                if (used < sizeof line - 1) line[used++] = buf[i];
                continue;
            }
            line[used] = 0;
            used = 0;
            unsigned long long s, e, off;
            int pos = 0;
            if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &s, &e, &off, &pos) < 3 || !pos)
                continue;
            const char *file = line + pos;
            maps->m = grow(a, maps->m, sizeof(rec_mapping), maps->n, &maps->cap);
            rec_mapping *m = &maps->m[maps->n++];
            m->start = s;
            m->end = e;
            m->name = NULL;
            m->base = s - off;
            if (*file) {
                const char *slash = strrchr(file, '/');
                const char *base = slash ? slash + 1 : file;
                if (prev_path && strcmp(prev_path, file) == 0) {
                    m->base = prev_base;
                } else {
                    prev_path = gm_arena_strdup(a, file);
                    prev_base = s - off;
                }
                m->name = gm_arena_strdup(a, *base ? base : file);
            } else {
                prev_path = NULL;
            }
        }
    }
    close(fd);
}

static void site_name(const rec_maps *maps, uint64_t addr, char *buf, size_t len)
{
    unsigned lo = 0, hi = maps->n;
    while (lo < hi) { /* the first mapping ending above addr */
        unsigned mid = (lo + hi) / 2;
        if (maps->m[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < maps->n && maps->m[lo].start <= addr) {
        const rec_mapping *m = &maps->m[lo];
        if (m->name)
            snprintf(buf, len, "%s+0x%llx", m->name, (unsigned long long)(addr - m->base));
        else
            snprintf(buf, len, "[anon:0x%llx]+0x%llx", (unsigned long long)m->start,
                     (unsigned long long)(addr - m->start));
        return;
    }
    snprintf(buf, len, "0x%llx", (unsigned long long)addr);
}

/* ---- converting one image ---- */

typedef struct rec_ev { /* a raw event, unpacked */
    unsigned kind, align;
    uint64_t ptr, size, site, time_ns;
} rec_ev;

typedef struct rec_conv {
    gm_trace_writer *w;
    rec_image *im;
    rec_maps maps;
    gm_trace_map addr;  /* live block address → object id */
    gm_trace_map sites; /* return address → site index */
    bool times;
    gm_record_trace *out;
} rec_conv;

static uint32_t conv_site(rec_conv *c, uint64_t ra)
{
    uint64_t idx;
    if (!ra) return GM_TRACE_NO_SITE;
    if (gm_trace_map_get(&c->sites, ra, &idx)) return (uint32_t)idx;
    char name[512];
    site_name(&c->maps, ra, name, sizeof name);
    idx = gm_trace_add_site(c->w, name);
    gm_trace_map_put(&c->sites, ra, idx);
    return (uint32_t)idx;
}

static unsigned conv_align(unsigned a)
{
    if (a < 3) return 0;
    return a > GM_OP_MAX_ALIGN_LOG2 ? GM_OP_MAX_ALIGN_LOG2 : a;
}

static void conv_alloc(rec_conv *c, gm_trace_rec *r, const rec_ev *e, uint8_t flags, unsigned align)
{
    uint64_t stale;
    r->kind = GM_TR_ALLOC;
    r->flags = flags;
    r->align_log2 = (uint8_t)conv_align(align);
    r->size = e->size;
    r->site = conv_site(c, e->site);
    uint64_t id = gm_trace_write(c->w, r);
    if (gm_trace_map_del(&c->addr, e->ptr, &stale)) c->out->reused_addresses++;
    gm_trace_map_put(&c->addr, e->ptr, id);
}

static void conv_free(rec_conv *c, gm_trace_rec *r, uint64_t obj)
{
    r->kind = GM_TR_FREE;
    r->obj = obj;
    gm_trace_write(c->w, r);
}

/* REALLOC: obj is the object of the block passed in (known), or the address was never seen. */
static void conv_realloc(rec_conv *c, gm_trace_rec *r, const rec_ev *e, bool known, uint64_t obj,
                         uint64_t old_ptr)
{
    bool had_old = e->align & GM_REC_HAD_OLD;
    if (!had_old || !known) { /* realloc(NULL, n), or of an unknown block */
        if (had_old) c->out->unknown_frees++;
        if (!e->ptr) {
            if (e->size) c->out->failed_calls++;
            return;
        }
        if (had_old) c->out->unknown_reallocs++;
        conv_alloc(c, r, e, 0, 0);
        return;
    }
    if (!e->ptr) {
        if (e->size == 0) { /* realloc(p, 0): glibc freed p */
            conv_free(c, r, obj);
        } else { /* failed: p is untouched */
            c->out->failed_calls++;
            gm_trace_map_put(&c->addr, old_ptr, obj);
        }
        return;
    }
    if (e->size == 0) { /* an allocator that returns a block for realloc(p, 0) */
        conv_free(c, r, obj);
        conv_alloc(c, r, e, 0, 0);
        return;
    }
    uint64_t stale;
    r->kind = GM_TR_REALLOC;
    r->obj = obj;
    r->size = e->size;
    r->site = conv_site(c, e->site);
    gm_trace_write(c->w, r);
    if (gm_trace_map_del(&c->addr, e->ptr, &stale)) c->out->reused_addresses++;
    gm_trace_map_put(&c->addr, e->ptr, obj);
}

static void conv_event(rec_conv *c, rec_src *s, const gm_rec_event *raw)
{
    rec_ev ev = {.kind = GM_REC_KIND(raw),
                 .align = GM_REC_ALIGN(raw),
                 .ptr = GM_REC_PTR(raw),
                 .size = GM_REC_SIZE(raw),
                 .site = GM_REC_SITE(raw)};
    const rec_ev *e = &ev;
    if (ev.kind == GM_REC_CLOCK) return;
    if (c->times) {
        uint64_t t = GM_REC_TIME(raw);
        if (c->im->tsc)
            ev.time_ns =
                c->im->clock_units
                    ? (uint64_t)((unsigned __int128)t * c->im->clock_ns / c->im->clock_units)
                    : 0;
        else
            ev.time_ns = t;
    }
    if (s->thread == UINT32_MAX) {
        char name[64];
        snprintf(name, sizeof name, s->tid == c->im->pid ? "tid %d (main)" : "tid %d", s->tid);
        s->thread = gm_trace_add_thread(c->w, name);
    }
    gm_trace_rec r;
    memset(&r, 0, sizeof r);
    r.thread = s->thread;
    r.time_ns = e->time_ns;
    uint64_t obj = 0;
    unsigned kind = e->kind;
    switch (kind) {
    case GM_REC_MALLOC:
    case GM_REC_CALLOC:
    case GM_REC_POSIX_MEMALIGN:
    case GM_REC_ALIGNED_ALLOC:
    case GM_REC_MEMALIGN:
    case GM_REC_VALLOC:
    case GM_REC_PVALLOC:
        if (!e->ptr) {
            c->out->failed_calls++;
            return;
        }
        conv_alloc(c, &r, e, kind == GM_REC_CALLOC ? GM_OPF_ZERO : 0, e->align);
        return;
    case GM_REC_FREE:
        if (gm_trace_map_del(&c->addr, e->ptr, &obj))
            conv_free(c, &r, obj);
        else
            c->out->unknown_frees++;
        return;
    case GM_REC_REALLOC_BEGIN: /* the block stops being the object's address now */
        s->pending = true;
        s->pending_known = gm_trace_map_del(&c->addr, e->ptr, &s->pending_obj);
        s->pending_ptr = e->ptr;
        return;
    case GM_REC_REALLOC: {
        bool known = s->pending && s->pending_known; /* no BEGIN: an unknown block */
        obj = s->pending_obj;
        s->pending = false;
        conv_realloc(c, &r, e, known, obj, s->pending_ptr);
        return;
    }
    default:
        c->out->lost_events++;
        return;
    }
}

static uint64_t src_seq(const rec_src *s)
{
    return GM_REC_SEQ(&s->buf[s->i]);
}

static void heap_down(rec_src **h, unsigned n, unsigned i)
{
    for (;;) {
        unsigned l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && src_seq(h[l]) < src_seq(h[m])) m = l;
        if (r < n && src_seq(h[r]) < src_seq(h[m])) m = r;
        if (m == i) return;
        rec_src *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* The k-way merge by sequence number. */
static void conv_merge(rec_conv *c, gm_arena *a)
{
    rec_image *im = c->im;
    rec_src **heap = gm_arena_alloc(a, (im->nsrcs + 1) * sizeof *heap);
    unsigned n = 0;
    uint32_t cap = im->nsrcs ? MERGE_BUDGET_BYTES / sizeof(gm_rec_event) / im->nsrcs : 1;
    cap = cap < MERGE_MIN_EVENTS   ? MERGE_MIN_EVENTS
          : cap > MERGE_MAX_EVENTS ? MERGE_MAX_EVENTS
                                   : cap;
    for (unsigned i = 0; i < im->nsrcs; i++) {
        rec_src *s = &im->srcs[i];
        if (s->thread != UINT32_MAX || s->end == 0) continue; /* not opened */
        s->cap = cap;
        s->buf = gm_arena_alloc(a, (size_t)cap * sizeof(gm_rec_event));
        if (src_refill(s)) heap[n++] = s;
    }
    for (unsigned i = n; i-- > 0;) heap_down(heap, n, i);
    while (n) {
        rec_src *s = heap[0];
        conv_event(c, s, &s->buf[s->i]);
        if (++s->i == s->n && !src_refill(s)) {
            heap[0] = heap[--n];
            s->buf = NULL;
        }
        heap_down(heap, n, 0);
    }
}

static void read_proc(const char *dir, const rec_image *im, char *cmd, size_t cmdlen,
                      gm_record_trace *t)
{
    char path[PATH_MAX], buf[8192];
    snprintf(path, sizeof path, "%s/%s.proc", dir, im->name);
    cmd[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[k > 0 ? k : 0] = 0;
    for (char *line = buf, *next; *line; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : line + strlen(line);
        if (nl) *nl = 0;
        if (strncmp(line, "cmdline ", 8) == 0) snprintf(cmd, cmdlen, "%s", line + 8);
        if (strncmp(line, "lost ", 5) == 0) t->lost_events += strtoull(line + 5, NULL, 10);
        /* An image that exec'd flushed its calls and handed over cleanly: it exited. */
        if (!strcmp(line, "state exit") || !strcmp(line, "state exec")) t->exited = true;
    }
}

static int convert_image(const gm_record_config *cfg, const char *dir, rec_image *im,
                         const char *out, gm_record_trace *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", out);
    t->pid = im->pid;
    t->start_ns = im->start_ns;
    t->lost_events = im->torn;

    gm_arena *a = gm_arena_create();
    char cmd[4096];
    read_proc(dir, im, cmd, sizeof cmd, t);
    gm_trace_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.source = "record";
    meta.command = cmd;
    meta.timestamps = cfg->timestamps;
    meta.compress = cfg->compress;
    rec_conv c;
    memset(&c, 0, sizeof c);
    c.im = im;
    c.out = t;
    c.times = cfg->timestamps;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.maps", dir, im->name);
    if (im->has_maps) maps_load(a, path, &c.maps);
    c.w = gm_trace_writer_open(out, &meta, err, errlen);
    if (!c.w) {
        gm_arena_destroy(a);
        return -1;
    }
    gm_trace_map_init(&c.addr, NULL);
    gm_trace_map_init(&c.sites, NULL);
    conv_merge(&c, a);
    gm_trace_map_destroy(&c.addr);
    gm_trace_map_destroy(&c.sites);
    gm_arena_destroy(a);
    return gm_trace_writer_close(c.w, &t->summary, err, errlen);
}

/* ---- the whole directory ---- */

static bool image_before(const rec_image *x, const rec_image *y)
{
    return x->pid != y->pid ? x->pid < y->pid : x->start_ns < y->start_ns;
}

static void sort_images(rec_dir *d)
{
    for (unsigned i = 1; i < d->nimages; i++) {
        rec_image im = d->images[i];
        unsigned j = i;
        for (; j > 0 && image_before(&im, &d->images[j - 1]); j--) d->images[j] = d->images[j - 1];
        d->images[j] = im;
    }
}

static void result_add(gm_record_result *res, const gm_record_trace *t)
{
    res->events += t->summary.records;
    res->lost_events += t->lost_events;
    if (res->ntraces++ < GM_RECORD_MAX_LISTED) res->traces[res->nlisted++] = *t;
}

int gm_record_convert(const gm_record_config *cfg, int main_pid, gm_record_result *res, char *err,
                      size_t errlen)
{
    const char *dir = cfg->raw_dir ? cfg->raw_dir : res->raw_dir;
    res->ntraces = res->nlisted = 0;
    res->events = res->lost_events = 0;
    rec_dir d = {.arena = gm_arena_create(), .path = dir};
    int rc = list_dir(dir, raw_entry, &d, err, errlen);
    for (unsigned i = 0; rc == 0 && i < d.nimages; i++)
        for (unsigned j = 0; rc == 0 && j < d.images[i].nsrcs; j++)
            rc = src_open(&d.images[i], &d.images[i].srcs[j], err, errlen);
    if (rc != 0) goto out;
    sort_images(&d);
    if (main_pid == 0) {
        uint64_t first = UINT64_MAX;
        for (unsigned i = 0; i < d.nimages; i++)
            if (d.images[i].start_ns < first) {
                first = d.images[i].start_ns;
                main_pid = d.images[i].pid;
            }
    }
    /* The main process's last image is cfg->out; it is written even when it made no call. */
    int main_at = -1;
    for (unsigned i = 0; i < d.nimages; i++)
        if (d.images[i].pid == main_pid) main_at = (int)i;
    if (main_at < 0) {
        seterr(err, errlen,
               "the recorder never ran in the command (pid %d): a statically linked program, "
               "or one that clears LD_PRELOAD, cannot be recorded",
               main_pid);
        rc = -1;
        goto out;
    }
    gm_record_trace *t = gm_arena_alloc(d.arena, sizeof *t);
    rc = convert_image(cfg, dir, &d.images[main_at], cfg->out, t, err, errlen);
    if (rc != 0) goto out;
    t->main = true;
    result_add(res, t);
    /* Every other image with calls: out.<pid> for a pid's last image, out.<pid>.<k> for its
     * k-th earlier one (k from 1, in exec order). */
    for (unsigned i = 0, k = 0; i < d.nimages; i++) {
        rec_image *im = &d.images[i];
        bool last = i + 1 == d.nimages || d.images[i + 1].pid != im->pid;
        if (i > 0 && d.images[i - 1].pid != im->pid) k = 0;
        if ((int)i == main_at || im->events == 0) continue;
        char path[PATH_MAX];
        if (last)
            snprintf(path, sizeof path, "%s.%d", cfg->out, im->pid);
        else
            snprintf(path, sizeof path, "%s.%d.%u", cfg->out, im->pid, ++k);
        rc = convert_image(cfg, dir, im, path, t, err, errlen);
        if (rc != 0) goto out;
        result_add(res, t);
    }
out:
    gm_arena_destroy(d.arena);
    return rc;
}

/* ---- running the command ---- */

static int unlink_entry(void *ctx, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", (const char *)ctx, name);
    unlink(path);
    return 0;
}

static void remove_raw_dir(const char *dir)
{
    char err[16];
    list_dir(dir, unlink_entry, (void *)dir, err, sizeof err);
    rmdir(dir);
}

/* The child's environment: ours without the recorder's variables, plus them. */
/* times: 0 = no timestamps, else read the clock every `times` calls of a thread. */
static char **child_env(gm_arena *a, const char *lib, const char *dir, unsigned times)
{
    size_t n = 0;
    const char *old_preload = NULL;
    while (environ[n]) n++;
    char **env = gm_arena_alloc(a, (n + 4) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "LD_PRELOAD=", 11) == 0) {
            old_preload = e + 11;
            continue;
        }
        if (strncmp(e, GM_REC_ENV_DIR "=", sizeof GM_REC_ENV_DIR) == 0 ||
            strncmp(e, GM_REC_ENV_TIME "=", sizeof GM_REC_ENV_TIME) == 0)
            continue;
        env[k++] = environ[i];
    }
    /* Our library first, so that its malloc is the one the program calls; a preloaded
     * allocator stays after it and is what the recorder forwards to. */
    size_t len = strlen(lib) + (old_preload ? strlen(old_preload) : 0) + 16;
    env[k] = gm_arena_alloc(a, len);
    snprintf(env[k++], len, "LD_PRELOAD=%s%s%s", lib, old_preload && *old_preload ? ":" : "",
             old_preload ? old_preload : "");
    len = strlen(dir) + 32;
    env[k] = gm_arena_alloc(a, len);
    snprintf(env[k++], len, GM_REC_ENV_DIR "=%s", dir);
    env[k] = gm_arena_alloc(a, 32);
    snprintf(env[k++], 32, GM_REC_ENV_TIME "=%u", times);
    env[k] = NULL;
    return env;
}

/* Forks and execs; returns the child's pid, or -1 with err (exec failures come back through a
 * close-on-exec pipe). */
static pid_t spawn(const gm_record_config *cfg, char **env, char *err, size_t errlen)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        seterr(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        seterr(err, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        execvpe(cfg->argv[0], cfg->argv, env);
        int e = errno;
        ssize_t w = write(pfd[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(pfd[1]);
    int e = 0;
    ssize_t k;
    while ((k = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR) {
    }
    close(pfd[0]);
    if (k == (ssize_t)sizeof e) {
        seterr(err, errlen, "cannot run %s: %s", cfg->argv[0], strerror(e));
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

int gm_record_run(const gm_record_config *cfg, gm_record_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    res->status = 127;
    if (!cfg->out || !*cfg->out || strcmp(cfg->out, "-") == 0) {
        seterr(err, errlen, "record needs an output file (--out FILE; not -)");
        return -1;
    }
    if (!cfg->argv || !cfg->argv[0]) {
        seterr(err, errlen, "record needs a command to run");
        return -1;
    }
    char lib[PATH_MAX];
    if (cfg->library)
        snprintf(lib, sizeof lib, "%s", cfg->library);
    else if (!gm_record_library(lib, sizeof lib)) {
        seterr(err, errlen,
               "libgmrecord.so not found (set GMBENCH_RECORDER, or build the gmrecord target)");
        return -1;
    }
    if (!file_exists(lib) || strchr(lib, ':') || strchr(lib, ' ')) {
        seterr(err, errlen, "recorder library %s: %s", lib,
               file_exists(lib) ? "LD_PRELOAD cannot hold ':' or ' '" : strerror(errno));
        return -1;
    }
    if (cfg->raw_dir) {
        snprintf(res->raw_dir, sizeof res->raw_dir, "%s", cfg->raw_dir);
        if (mkdir(cfg->raw_dir, 0755) != 0 && errno != EEXIST) {
            seterr(err, errlen, "mkdir %s: %s", cfg->raw_dir, strerror(errno));
            return -1;
        }
    } else {
        snprintf(res->raw_dir, sizeof res->raw_dir, "%s.raw.XXXXXX", cfg->out);
        if (!mkdtemp(res->raw_dir)) {
            seterr(err, errlen, "cannot create the raw directory %s: %s", res->raw_dir,
                   strerror(errno));
            return -1;
        }
    }
    gm_arena *a = gm_arena_create();
    unsigned times = !cfg->timestamps ? 0 : cfg->time_every ? cfg->time_every : 1;
    char **env = child_env(a, lib, res->raw_dir, times);
    pid_t pid = spawn(cfg, env, err, errlen);
    gm_arena_destroy(a);
    if (pid < 0) {
        if (!cfg->keep_raw) remove_raw_dir(res->raw_dir);
        return -1;
    }
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (WIFSIGNALED(st)) {
        res->signal = WTERMSIG(st);
        res->status = 128 + res->signal;
    } else {
        res->exit_code = WEXITSTATUS(st);
        res->status = res->exit_code;
    }
    gm_record_config c = *cfg;
    c.raw_dir = res->raw_dir;
    int rc = gm_record_convert(&c, pid, res, err, errlen);
    if (rc == 0 && !cfg->keep_raw) remove_raw_dir(res->raw_dir);
    return rc;
}

void gm_record_print(const gm_record_result *res, int fd)
{
    char line[8192];
    for (unsigned i = 0; i < res->nlisted; i++) {
        const gm_record_trace *t = &res->traces[i];
        const gm_trace_summary *s = &t->summary;
        int n = snprintf(line, sizeof line,
                         "%s: pid %d%s, %llu records (%llu alloc, %llu free, %llu realloc), "
                         "%u threads, %u sites",
                         t->path, t->pid, t->main ? " (main)" : "", (unsigned long long)s->records,
                         (unsigned long long)s->count[GM_TR_ALLOC],
                         (unsigned long long)s->count[GM_TR_FREE],
                         (unsigned long long)s->count[GM_TR_REALLOC], s->threads, s->sites);
        if (n > 0 && (size_t)n < sizeof line &&
            (t->unknown_frees || t->failed_calls || t->reused_addresses || t->lost_events ||
             !t->exited))
            n += snprintf(
                line + n, sizeof line - (size_t)n,
                "; skipped: %llu unknown frees, %llu failed calls; %llu reused "
                "addresses, %llu lost%s",
                (unsigned long long)t->unknown_frees, (unsigned long long)t->failed_calls,
                (unsigned long long)t->reused_addresses, (unsigned long long)t->lost_events,
                t->exited ? "" : "; did not exit normally (signal?): unflushed calls lost");
        if (n > 0 && (size_t)n < sizeof line - 1) {
            line[n++] = '\n';
            ssize_t w = write(fd, line, (size_t)n);
            (void)w;
        }
    }
    if (res->ntraces > res->nlisted) {
        int n = snprintf(line, sizeof line, "... and %u more traces (%s.<pid>)\n",
                         res->ntraces - res->nlisted, res->nlisted ? res->traces[0].path : "out");
        ssize_t w = write(fd, line, (size_t)n);
        (void)w;
    }
}
