/*
 * test_import.c — the Go allocfreetrace and glibc mtrace importers (workloads/import*.c) and
 * their line reader.
 *
 * Real logs (tests/data/import/, produced by the commands in its README.md) are imported and
 * the trace read back: record counts by kind equal what the log says (the log is scanned here
 * independently: its record lines counted and its live addresses simulated), the call sites,
 * scan/zero flags and requested sizes of known allocations are what the import rules promise,
 * GC markers equal the tracegc blocks, unmatched frees are counted. Then hand-made logs:
 * malformed records give errors naming the line and leave no trace file; empty logs give
 * empty, valid traces; unrelated lines are skipped; the line reader cuts over-long lines and
 * refills across its buffer.
 */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "../workloads/linereader.h"
#include "gm_import.h"
#include "gm_test.h"
#include "gm_trace.h"

static char data_dir[4096], tmp_dir[4096];

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- an independent reading of the logs ------------------------------------------------------ */

/* What a log says, counted the simplest way: record lines by kind, frees matched against a
 * list of live addresses (the logs are small). */
typedef struct log_counts {
    uint64_t allocs, frees, unmatched, reallocs, marks;
    char first_caller[256]; /* mtrace: caller of the first '+' line */
    int64_t tiny_index;     /* Go: index of the first untyped 16-byte block opened by a */
    uint64_t tiny_request;  /* request below 16 bytes (mallocgc's first argument), or -1 */
} log_counts;

enum { MAX_LIVE = 8192 };
static uint64_t live_addr[MAX_LIVE];
static unsigned nlive;

static void live_add(uint64_t a)
{
    if (nlive == MAX_LIVE) exit(2);
    live_addr[nlive++] = a;
}

static bool live_del(uint64_t a)
{
    for (unsigned i = 0; i < nlive; i++)
        if (live_addr[i] == a) {
            live_addr[i] = live_addr[--nlive];
            return true;
        }
    return false;
}

static log_counts count_go_log(const char *path)
{
    log_counts c = {.tiny_index = -1};
    char line[8192];
    unsigned long long a, size, req;
    int64_t tiny_candidate = -1;
    nlive = 0;
    FILE *f = fopen(path, "r");
    if (!f) exit(2);
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "tracealloc(%llx, %llx", &a, &size) == 2) {
            if (c.tiny_index < 0 && size == 16 && strstr(line, ", 0x10)\n")) /* untyped */
                tiny_candidate = (int64_t)c.allocs;
            c.allocs++;
            live_add(a);
        } else if (tiny_candidate >= 0 && sscanf(line, "runtime.mallocgc(%llx,", &req) == 1) {
            if (req < 16) {
                c.tiny_index = tiny_candidate;
                c.tiny_request = req;
            }
            tiny_candidate = -1;
        } else if (sscanf(line, "tracefree(%llx,", &a) == 1) {
            if (live_del(a))
                c.frees++;
            else
                c.unmatched++;
        } else if (strcmp(line, "tracegc()\n") == 0) {
            c.marks++;
        }
    }
    fclose(f);
    return c;
}

static log_counts count_mtrace_log(const char *path)
{
    log_counts c = {0};
    char line[8192];
    unsigned long long a, b, size;
    nlive = 0;
    FILE *f = fopen(path, "r");
    if (!f) exit(2);
    while (fgets(line, sizeof line, f)) {
        char *op = strstr(line, "] ");
        if (strncmp(line, "@ ", 2) != 0 || !op) continue;
        op += 2;
        if (sscanf(op, "+ %llx %llx", &a, &size) == 2) {
            if (c.allocs++ == 0)
                snprintf(c.first_caller, sizeof c.first_caller, "%.*s", (int)(op - 1 - (line + 2)),
                         line + 2);
            live_add(a);
        } else if (sscanf(op, "- %llx", &a) == 1) {
            if (live_del(a))
                c.frees++;
            else
                c.unmatched++;
        } else if (sscanf(op, "< %llx", &a) == 1) {
            c.reallocs++;
            if (!fgets(line, sizeof line, f)) exit(2);
            op = strstr(line, "] ");
            if (!op || sscanf(op + 2, "> %llx %llx", &b, &size) != 2) exit(2);
            live_del(a);
            live_add(b);
        }
    }
    fclose(f);
    return c;
}

/* ---- reading a trace back -------------------------------------------------------------------- */

typedef struct trace_counts {
    uint64_t records, count[5];
    uint32_t nthreads, nsites;
    char thread0[64];
} trace_counts;

typedef bool (*rec_visit)(const gm_trace_reader *r, const gm_trace_rec *rec, void *arg);

/* Reads the whole trace; calls visit on every record when given. */
static trace_counts read_trace(const char *path, rec_visit visit, void *arg)
{
    trace_counts t = {0};
    char err[512];
    gm_trace_reader *r = gm_trace_open(path, err, sizeof err);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "gm_trace_open(%s): %s\n", path, err);
        return t;
    }
    gm_trace_rec rec;
    int rc;
    while ((rc = gm_trace_next(r, &rec)) == 1) {
        t.records++;
        if (rec.kind < 5) t.count[rec.kind]++;
        if (visit) visit(r, &rec, arg);
    }
    CHECK_EQ(rc, 0);
    if (rc < 0) fprintf(stderr, "%s: %s\n", path, gm_trace_error(r));
    t.nthreads = gm_trace_nthreads(r);
    t.nsites = gm_trace_nsites(r);
    if (t.nthreads > 0) snprintf(t.thread0, sizeof t.thread0, "%s", gm_trace_thread_name(r, 0));
    gm_trace_close(r);
    return t;
}

static const char *site_of(const gm_trace_reader *r, const gm_trace_rec *rec)
{
    return rec->site == GM_TRACE_NO_SITE ? "" : gm_trace_site_name(r, rec->site);
}

/* ---- the real Go log ---------------------------------------------------------------------------- */

typedef struct go_seen {
    uint64_t build, build_bad;     /* main.build allocations; those not 24 bytes scan+zero */
    uint64_t buffers, buffers_bad; /* main.buffers allocations; those not noscan+zero */
    uint64_t buffer_sizes;         /* bit i: the i-th expected size was seen */
    uint64_t free_with_site, marks;
    int64_t tiny_index; /* from the log: this object should be a tiny request */
    uint64_t tiny_request;
    bool first_ok, tiny_ok, runtime_site;
} go_seen;

static bool go_visit(const gm_trace_reader *r, const gm_trace_rec *rec, void *arg)
{
    go_seen *s = arg;
    const char *site = site_of(r, rec);
    if (rec->thread != 0 || rec->align_log2 != 0) s->first_ok = false;
    if (rec->kind == GM_TR_MARK) {
        s->marks++;
        if (rec->mark != GM_TR_MARK_GC) s->first_ok = false;
    }
    if (rec->kind == GM_TR_FREE && rec->site != GM_TRACE_NO_SITE) s->free_with_site++;
    if (rec->kind != GM_TR_ALLOC) return true;
    /* Record 1: tracealloc(.., 0x8, *runtime.p) from runtime.mallocgc(0x8, .., 0x1) in
     * makeslice in procresize: the allp slice, a slice of pointers. */
    if (rec->obj == 0)
        s->first_ok = rec->size == 8 && rec->flags == (GM_OPF_SCAN | GM_OPF_ZERO) &&
                      strcmp(site, "runtime.procresize") == 0;
    /* A tiny block: tracealloc(.., 0x10) from runtime.mallocgc(0x4, 0x0, 0x0) is the whole
     * block, a 16-byte pointer-free object (import_go.c). */
    if ((int64_t)rec->obj == s->tiny_index)
        s->tiny_ok = s->tiny_request < 16 && rec->size == 16 && rec->flags == 0;
    if (strncmp(site, "runtime.", 8) == 0) s->runtime_site = true;
    if (strcmp(site, "main.build") == 0) {
        s->build++;
        if (rec->size != 24 || rec->flags != (GM_OPF_SCAN | GM_OPF_ZERO)) s->build_bad++;
    }
    if (strcmp(site, "main.buffers") == 0) {
        static const uint64_t sizes[] = {100, 1000, 5000, 40000};
        s->buffers++;
        if (rec->flags != GM_OPF_ZERO) s->buffers_bad++;
        for (unsigned i = 0; i < 4; i++)
            if (rec->size == sizes[i]) s->buffer_sizes |= 1u << i;
    }
    return true;
}

static void test_go_real(void)
{
    char log[4200], out[4200], err[512];
    path_in(log, sizeof log, data_dir, "go.log");
    path_in(out, sizeof out, tmp_dir, "go.trace");
    log_counts want = count_go_log(log);
    gm_import_stats st;
    int rc = gm_import_go(log, out, &st, err, sizeof err);
    CHECK_EQ(rc, 0);
    if (rc) {
        fprintf(stderr, "gm_import_go: %s\n", err);
        return;
    }
    /* The log: go.log in tests/data/import/README.md (195 allocations, 118 frees of which 3
     * are of objects allocated before schedinit turned tracing on, 2 GC cycles). */
    CHECK(want.allocs > 100 && want.marks == 2 && want.unmatched > 0);
    CHECK_EQ(st.allocs, want.allocs);
    CHECK_EQ(st.frees, want.frees);
    CHECK_EQ(st.unmatched_frees, want.unmatched);
    CHECK_EQ(st.marks, want.marks);
    CHECK_EQ(st.reallocs, 0);
    CHECK_EQ(st.implicit_frees, 0);
    CHECK_EQ(st.records, st.allocs + st.frees + st.marks);
    CHECK_EQ(st.skipped_lines, 1); /* the program's own output line, "nodes 15 ..." */
    CHECK(want.tiny_index >= 0);
    go_seen seen = {
        .first_ok = true, .tiny_index = want.tiny_index, .tiny_request = want.tiny_request};
    trace_counts t = read_trace(out, go_visit, &seen);
    CHECK_EQ(t.records, st.records);
    CHECK_EQ(t.count[GM_TR_ALLOC], want.allocs);
    CHECK_EQ(t.count[GM_TR_FREE], want.frees);
    CHECK_EQ(t.count[GM_TR_MARK], want.marks);
    CHECK_EQ(t.count[GM_TR_REALLOC], 0);
    CHECK_EQ(t.nthreads, 1);
    CHECK(strcmp(t.thread0, "go") == 0);
    CHECK_EQ(t.nsites, st.sites);
    CHECK(seen.first_ok);
    CHECK(seen.tiny_ok);
    CHECK(seen.runtime_site);
    CHECK_EQ(seen.build, 63 + 15); /* build(6) and build(4): one main.node per tree node */
    CHECK_EQ(seen.build_bad, 0);
    CHECK_EQ(seen.buffers, 4);
    CHECK_EQ(seen.buffers_bad, 0);
    CHECK_EQ(seen.buffer_sizes, 0xf);
    CHECK_EQ(seen.free_with_site, 0);
}

/* ---- the real mtrace log ------------------------------------------------------------------------ */

typedef struct mt_seen {
    const char *first_caller;
    bool first_ok, strdup_ok;
    uint64_t realloc_10, realloc_600000, flags_set;
} mt_seen;

static bool mt_visit(const gm_trace_reader *r, const gm_trace_rec *rec, void *arg)
{
    mt_seen *s = arg;
    const char *site = site_of(r, rec);
    if (rec->flags || rec->align_log2 || rec->thread) s->flags_set++;
    if (rec->kind == GM_TR_ALLOC && rec->obj == 0)
        s->first_ok = rec->size == 24 && strcmp(site, s->first_caller) == 0;
    /* strdup("hello") inside libc: "libc.so.6:(__strdup+1a)[0x...] + 0x... 0x6" */
    if (rec->kind == GM_TR_ALLOC && strncmp(site, "__strdup+", 9) == 0)
        s->strdup_ok = rec->size == 6;
    if (rec->kind == GM_TR_REALLOC && rec->size == 10) s->realloc_10++;
    if (rec->kind == GM_TR_REALLOC && rec->size == 600000) s->realloc_600000++;
    return true;
}

static void test_mtrace_real(void)
{
    char log[4200], out[4200], err[512];
    path_in(log, sizeof log, data_dir, "mtrace.log");
    path_in(out, sizeof out, tmp_dir, "mtrace.trace");
    log_counts want = count_mtrace_log(log);
    gm_import_stats st;
    int rc = gm_import_mtrace(log, out, &st, err, sizeof err);
    CHECK_EQ(rc, 0);
    if (rc) {
        fprintf(stderr, "gm_import_mtrace: %s\n", err);
        return;
    }
    /* The log: mtrace.log in tests/data/import/README.md (40 allocations, 40 frees of which
     * one is of a block allocated before mtrace(), 7 reallocs, realloc(NULL) logged as '+',
     * realloc(p, 0) as '-'). */
    CHECK(want.allocs == 40 && want.unmatched == 1 && want.reallocs == 7);
    CHECK_EQ(st.allocs, want.allocs);
    CHECK_EQ(st.frees, want.frees);
    CHECK_EQ(st.unmatched_frees, want.unmatched);
    CHECK_EQ(st.reallocs, want.reallocs);
    CHECK_EQ(st.marks, 0);
    CHECK_EQ(st.failed, 0);
    CHECK_EQ(st.skipped_lines, 0);
    mt_seen seen = {.first_caller = want.first_caller};
    trace_counts t = read_trace(out, mt_visit, &seen);
    CHECK_EQ(t.records, st.records);
    CHECK_EQ(t.count[GM_TR_ALLOC], want.allocs);
    CHECK_EQ(t.count[GM_TR_FREE], want.frees);
    CHECK_EQ(t.count[GM_TR_REALLOC], want.reallocs);
    CHECK_EQ(t.nthreads, 1);
    CHECK(strcmp(t.thread0, "mtrace") == 0);
    CHECK(seen.first_ok);
    CHECK(seen.strdup_ok);
    CHECK_EQ(seen.realloc_10, 1);
    CHECK_EQ(seen.realloc_600000, 1);
    CHECK_EQ(seen.flags_set, 0);
}

/* ---- hand-made logs ------------------------------------------------------------------------------ */

typedef int (*import_fn)(const char *, const char *, gm_import_stats *, char *, size_t);

/* Imports text; returns the importer's result with err and st filled. */
static int import_text(import_fn fn, const char *text, gm_import_stats *st, char *err,
                       size_t errlen, const char *out)
{
    char log[4200];
    path_in(log, sizeof log, tmp_dir, "in.log");
    write_file(log, text);
    unlink(out);
    return fn(log, out, st, err, errlen);
}

/* The import fails, the message names ":LINE:" and contains what, and no trace is left. */
static void expect_error(import_fn fn, const char *text, unsigned line, const char *what)
{
    char out[4200], err[512], tag[32];
    gm_import_stats st;
    path_in(out, sizeof out, tmp_dir, "bad.trace");
    int rc = import_text(fn, text, &st, err, sizeof err, out);
    snprintf(tag, sizeof tag, ":%u: ", line);
    CHECK_EQ(rc, -1);
    CHECK(strstr(err, tag) != NULL);
    CHECK(strstr(err, what) != NULL);
    CHECK(!exists(out));
    if (rc != -1 || !strstr(err, tag) || !strstr(err, what))
        fprintf(stderr, "  wanted line %u and '%s', got rc %d: %s\n", line, what, rc, err);
}

static gm_import_stats expect_ok(import_fn fn, const char *text, trace_counts *t)
{
    char out[4200], err[512];
    gm_import_stats st;
    path_in(out, sizeof out, tmp_dir, "ok.trace");
    int rc = import_text(fn, text, &st, err, sizeof err, out);
    CHECK_EQ(rc, 0);
    if (rc) fprintf(stderr, "  unexpected error: %s\n", err);
    *t = rc ? (trace_counts){0} : read_trace(out, NULL, NULL);
    return st;
}

#define GO_TB "goroutine 1 [running]:\nruntime.mallocgc(0x5, 0x0, 0x0)\n\tmalloc.go:1 +0x1\n"

static void test_go_malformed(void)
{
    expect_error(gm_import_go, "tracealloc(0xc000010000, 0x10)\n" GO_TB, 1, "cut off");
    expect_error(gm_import_go, "hello\ntracealloc(0xc00001zz00, 0x10)\n" GO_TB "\n", 2,
                 "malformed tracealloc");
    expect_error(gm_import_go, "tracefree(0xc000010000)\n" GO_TB "\n", 1, "malformed tracefree");
    expect_error(gm_import_go, "tracealloc(0xc000010000, 0x10, uint8\n" GO_TB "\n", 1, "malformed");
    expect_error(gm_import_go, "tracealloc(0x, 0x10)\n" GO_TB "\n", 1, "malformed");
    expect_error(gm_import_go, "tracealloc(0x11112222333344445, 0x10)\n" GO_TB "\n", 1,
                 "malformed");
    expect_error(gm_import_go,
                 "tracealloc(0xc000010000, 0x10)\n" GO_TB "tracefree(0xc000010000, 0x10)\n" GO_TB
                 "\n",
                 1, "not ended by a blank line");
    expect_error(gm_import_go, "tracealloc(0xc000010000, 0x10)\n\n", 1, "no goroutine header");
    expect_error(gm_import_go, "x\ntracegc()\n\ngoroutine 1 [running]:\nmain.main()\n", 2,
                 "no 'end tracegc'");
    expect_error(gm_import_go, "tracegc()\n\n" GO_TB "\ntracealloc(0xc000010000, 0x10)\n" GO_TB, 1,
                 "no 'end tracegc'");
}

static void test_go_edges(void)
{
    trace_counts t;
    gm_import_stats st = expect_ok(gm_import_go, "", &t);
    CHECK_EQ(st.lines, 0);
    CHECK_EQ(t.records, 0);
    CHECK_EQ(t.nthreads, 1);
    st = expect_ok(gm_import_go, "just\nprogram output\n\n", &t);
    CHECK_EQ(st.skipped_lines, 3);
    CHECK_EQ(t.records, 0);
    /* Glued output, a free of an unknown address, a reused live address (its free was lost),
     * an untyped allocation on the system stack (no mallocgc frame: rounded size, no zero),
     * a [4]int64 (noscan) and a []uint8 element (a slice: scan), a user site in another
     * package, a tracegc block, a stray line inside a traceback, and no blank line after
     * "end tracegc" at the end of the log. */
    st = expect_ok(gm_import_go,
                   "outputtracealloc(0xc000010000, 0x10, [4]int64)\n" GO_TB "main.f()\n\n"
                   "tracefree(0xc000020000, 0x20)\n" GO_TB "\n"
                   "tracealloc(0xc000010000, 0x30, []uint8)\ngoroutine 5 [running]:\n"
                   "runtime.systemstack_switch()\n\tasm.s:1\nnoise\nstrconv.Itoa(...)\n"
                   "\tx.go:1\nmain.g(0x1?)\n\n"
                   "tracealloc(0xc000030000, 0x2000)\ngoroutine 0 [idle]:\n"
                   "runtime.systemstack_switch()\nruntime.procresize(0x1)\nmain.tracefree(0x1)\n\n"
                   "tracegc()\n\n" GO_TB "runtime.tracegc()\n\ngoroutine 2 [x]:\nmain.h()\n\n"
                   "end tracegc\n",
                   &t);
    CHECK_EQ(st.allocs, 3);
    CHECK_EQ(st.frees, 1);
    CHECK_EQ(st.implicit_frees, 1);
    CHECK_EQ(st.unmatched_frees, 1);
    CHECK_EQ(st.marks, 1);
    CHECK_EQ(st.skipped_lines, 2); /* "output" and "noise" */
    CHECK_EQ(st.sites, 3);         /* main.f, strconv.Itoa, main.tracefree (runtime frames lose) */
    CHECK_EQ(t.records, 5);
}

static void test_mtrace_malformed(void)
{
    expect_error(gm_import_mtrace, "= Start\n@ ./p:[0x1] < 0x1000\n@ ./p:[0x1] + 0x2000 0x10\n", 2,
                 "not followed by its '>'");
    expect_error(gm_import_mtrace, "@ ./p:[0x1] < 0x1000\n", 1, "cut off");
    expect_error(gm_import_mtrace, "@ ./p:[0x1] < 0x1000\n= End\n", 1, "not followed");
    expect_error(gm_import_mtrace, "= Start\n@ ./p:[0x1] > 0x1000 0x10\n", 2, "without a '<'");
    expect_error(gm_import_mtrace, "@ ./p:[0x1] + 0x12g4 0x10\n", 1, "malformed mtrace record");
    expect_error(gm_import_mtrace, "\n\n@ ./p:[0x1] + 0x1000\n", 3, "malformed");
    expect_error(gm_import_mtrace, "@ ./p:[0x1] * 0x1000 0x10\n", 1, "malformed");
    expect_error(gm_import_mtrace, "@ + 0x1000 0x10\n", 1, "malformed"); /* no caller */
    expect_error(gm_import_mtrace, "- 0x0\n", 1, "malformed");
}

static void test_mtrace_edges(void)
{
    trace_counts t;
    gm_import_stats st = expect_ok(gm_import_mtrace, "", &t);
    CHECK_EQ(t.records, 0);
    CHECK_EQ(t.nthreads, 1);
    st = expect_ok(gm_import_mtrace, "= Start\n= End\n", &t);
    CHECK_EQ(st.skipped_lines, 0);
    CHECK_EQ(t.records, 0);
    /* Failed calls, malloc(0) (size "0"), no caller, a caller path with a space, a reused
     * live address, an unmatched realloc (becomes an alloc), a free of (nil). */
    st = expect_ok(gm_import_mtrace,
                   "= Start\n"
                   "@ ./p:[0x1] + (nil) 0x100\n"
                   "@ ./p:[0x1] ! 0x1000 0x100\n"
                   "@ ./p:[0x1] + 0x1000 0\n"
                   "+ 0x2000 0x20\n"
                   "@ /a b/c.so:(f+1a)[0x2] + 0x3000 0x30\n"
                   "hello\n"
                   "@ [0x7f0000001234] + 0x3000 0x40\n"
                   "@ ./p:[0x1] < 0x9000\n"
                   "@ ./p:[0x1] > 0x9000 0x50\n"
                   "@ ./p:[0x1] < 0x2000\n"
                   "@ ./p:[0x1] > 0x4000 0x60\n"
                   "- (nil)\n"
                   "@ ./p:[0x1] - 0x4000\n"
                   "= End\n",
                   &t);
    CHECK_EQ(st.failed, 2);
    CHECK_EQ(st.allocs, 5); /* 0x1000, 0x2000, 0x3000 twice, 0x9000 */
    CHECK_EQ(st.implicit_frees, 1);
    CHECK_EQ(st.unmatched_frees, 1);
    CHECK_EQ(st.reallocs, 1);
    CHECK_EQ(st.frees, 2);
    CHECK_EQ(st.skipped_lines, 1);
    CHECK_EQ(st.sites, 3); /* ./p:[0x1], f+1a, [0x7f0000001234] */
    CHECK_EQ(t.records, 8);
}

/* ---- the line reader ---------------------------------------------------------------------------- */

static void test_linereader(void)
{
    char path[4200], err[256], *line;
    size_t len;
    bool cut;
    path_in(path, sizeof path, tmp_dir, "lines.txt");
    write_file(path, "a\n\r\n0123456789abcd\n0123456789abcdefghijklmnopqrstuvwxyz0123456789\n"
                     "crlf\r\nlast");
    gm_linereader lr;
    CHECK_EQ(gm_linereader_open(&lr, path, 16, err, sizeof err), 0);
    static const struct {
        const char *text;
        bool cut;
    } want[] = {
        {"a", false},    {"", false},    {"0123456789abcd", false}, {"0123456789abcdef", true},
        {"crlf", false}, {"last", false}};
    for (unsigned i = 0; i < 6; i++) {
        CHECK_EQ(gm_linereader_next(&lr, &line, &len, &cut, err, sizeof err), 1);
        CHECK(strcmp(line, want[i].text) == 0);
        CHECK_EQ(len, strlen(want[i].text));
        CHECK_EQ(cut, want[i].cut);
        CHECK_EQ(lr.lineno, i + 1);
    }
    CHECK_EQ(gm_linereader_next(&lr, &line, &len, &cut, err, sizeof err), 0);
    gm_linereader_close(&lr);
    CHECK_EQ(gm_linereader_open(&lr, "/nonexistent/x.log", 0, err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent/x.log") != NULL);

    /* A line longer than the importer's buffer: skipped outside a record, an error inside. */
    static char big[(1 << 20) + 4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 2] = '\n';
    char out[4200], text[sizeof big + 256];
    snprintf(text, sizeof text,
             "%s"
             "tracealloc(0xc000010000, 0x10)\n" GO_TB "\n",
             big);
    path_in(out, sizeof out, tmp_dir, "big.trace");
    gm_import_stats st;
    CHECK_EQ(import_text(gm_import_go, text, &st, err, sizeof err, out), 0);
    CHECK_EQ(st.skipped_lines, 1);
    CHECK_EQ(st.allocs, 1);
    CHECK_EQ(st.lines, 6);
    snprintf(text, sizeof text, "tracealloc(0xc000010000, 0x10)\n" GO_TB "%s\n", big);
    CHECK_EQ(import_text(gm_import_go, text, &st, err, sizeof err, out), -1);
    CHECK(strstr(err, ":5: record line longer") != NULL);
}

int main(int argc, char **argv)
{
    /* The data folder beside this source file (or argv[1]). */
    if (argc > 1) {
        snprintf(data_dir, sizeof data_dir, "%s", argv[1]);
    } else {
        snprintf(data_dir, sizeof data_dir, "%s", __FILE__);
        char *slash = strrchr(data_dir, '/');
        snprintf(slash ? slash + 1 : data_dir,
                 sizeof data_dir - (size_t)(slash ? slash + 1 - data_dir : 0), "data/import");
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/gm_test_import.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_go_real();
    test_mtrace_real();
    test_go_malformed();
    test_go_edges();
    test_mtrace_malformed();
    test_mtrace_edges();
    test_linereader();
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return gm_test_finish("test_import");
}
