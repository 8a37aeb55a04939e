/*
 * test_record.c — `gmbench record` end to end (gm_record_run): records tests/data/record/calls.c
 * (record_calls, built beside this test) under libgmrecord.so and reads the traces back.
 *
 * The recorded program counts its own calls into a file; the test keeps only the records whose
 * call site is in record_calls (libc's own allocations, stdio's, the loader's, are recorded
 * too, at other sites) plus the frees and reallocs of those objects, and requires the counts by
 * kind to be equal. Also checked: calloc's zero flag, the alignment of each aligned call,
 * pvalloc's page rounding, a free made on another thread than its allocation lands on that
 * thread, fork children (exit() and _exit()) have their own traces, an exec'd image of the same
 * pid, timestamps on and off, exit codes and signals propagated, a missing command refused.
 *
 * The recorder and record_calls are built without sanitizers in every preset (a sanitizer
 * runtime cannot be preloaded after the fact), so this test runs in the asan and tsan presets
 * too and checks the converter under them.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm_arena.h"
#include "gm_record.h"
#include "gm_test.h"
#include "gm_trace.h"

#define PROG "record_calls"

static char g_dir[256];     /* scratch directory */
static char g_helper[4200]; /* record_calls */

typedef struct counts {
    unsigned allocs, frees, reallocs, zero;
} counts;

typedef struct seen {
    counts c;              /* records attributed to record_calls */
    unsigned align_mask;   /* 1 << align_log2 of its aligned allocations */
    uint64_t pvalloc_size; /* size of its 4 KiB-aligned allocation with a 4 KiB multiple */
    int cross_free_ok;     /* the 333-byte object was freed on another, non-main thread */
    uint32_t threads;
    bool any_time;
    bool times_sorted;
    uint64_t records;
} seen;

static bool read_counts(const char *path, counts *c)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fscanf(f, "%u %u %u %u", &c->allocs, &c->frees, &c->reallocs, &c->zero) == 4;
    fclose(f);
    return ok;
}

/* Reads a trace, keeping the objects allocated at a site in record_calls. */
static bool analyze(const char *path, seen *s)
{
    char err[512];
    memset(s, 0, sizeof *s);
    s->times_sorted = true;
    gm_trace_reader *r = gm_trace_open(path, err, sizeof err);
    if (!r) {
        fprintf(stderr, "  %s: %s\n", path, err);
        return false;
    }
    enum { MAXOBJ = 1 << 22 };
    uint8_t *mine = gm_map(MAXOBJ, 0);       /* per object id: allocated by record_calls */
    uint32_t *owner = gm_map(MAXOBJ * 4, 0); /* per object id: allocating thread */
    uint64_t big = UINT64_MAX, last_time = 0;
    gm_trace_rec rec;
    int rc;
    while ((rc = gm_trace_next(r, &rec)) == 1) {
        s->records++;
        if (rec.time_ns) s->any_time = true;
        if (rec.time_ns < last_time) s->times_sorted = false;
        last_time = rec.time_ns;
        if (rec.obj >= MAXOBJ) continue;
        if (rec.kind == GM_TR_ALLOC) {
            const char *site = rec.site ? gm_trace_site_name(r, rec.site) : "";
            if (strncmp(site, PROG "+0x", strlen(PROG) + 3) != 0) continue;
            mine[rec.obj] = 1;
            owner[rec.obj] = rec.thread;
            s->c.allocs++;
            if (rec.flags & GM_OPF_ZERO) s->c.zero++;
            if (rec.align_log2) s->align_mask |= 1u << rec.align_log2;
            if (rec.align_log2 == 12 && rec.size % 4096 == 0) s->pvalloc_size = rec.size;
            if (rec.size == 333) big = rec.obj;
        } else if (rec.kind == GM_TR_FREE && mine[rec.obj]) {
            s->c.frees++;
            mine[rec.obj] = 0;
            if (rec.obj == big) {
                const char *name = gm_trace_thread_name(r, rec.thread);
                s->cross_free_ok = rec.thread != owner[rec.obj] && name &&
                                   strncmp(name, "tid ", 4) == 0 && !strstr(name, "main");
            }
        } else if (rec.kind == GM_TR_REALLOC && mine[rec.obj]) {
            s->c.reallocs++;
        }
    }
    if (rc < 0) fprintf(stderr, "  %s: %s\n", path, gm_trace_error(r));
    s->threads = gm_trace_nthreads(r);
    gm_trace_close(r);
    gm_unmap(mine, MAXOBJ);
    gm_unmap(owner, MAXOBJ * 4);
    return rc == 0;
}

static void check_counts(const char *what, const counts *want, const counts *got)
{
    CHECK_EQ(got->allocs, want->allocs);
    CHECK_EQ(got->frees, want->frees);
    CHECK_EQ(got->reallocs, want->reallocs);
    CHECK_EQ(got->zero, want->zero);
    if (memcmp(got, want, sizeof *got) != 0)
        fprintf(stderr,
                "  %s: trace %u/%u/%u/%u, program %u/%u/%u/%u (allocs/frees/reallocs/zero)\n", what,
                got->allocs, got->frees, got->reallocs, got->zero, want->allocs, want->frees,
                want->reallocs, want->zero);
}

static int record(const char *out, char *const *argv, bool times, gm_record_result *res, char *err,
                  size_t errlen)
{
    gm_record_config cfg = {.out = out, .argv = argv, .timestamps = times};
    return gm_record_run(&cfg, res, err, errlen);
}

static gm_record_result *g_res; /* ~270 KiB: mapped, not on the stack */

static void test_main_program(void)
{
    char out[512], cnt[512], err[512];
    snprintf(out, sizeof out, "%s/main.trace", g_dir);
    snprintf(cnt, sizeof cnt, "%s/counts", g_dir);
    char *argv[] = {g_helper, "main", cnt, NULL};
    gm_record_result *res = g_res;
    int rc = record(out, argv, true, res, err, sizeof err);
    if (rc != 0) fprintf(stderr, "  record: %s\n", err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(res->status, 0);
    CHECK_EQ(res->exit_code, 0);
    CHECK_EQ(res->ntraces, 3);              /* the program and its two children */
    CHECK(access(res->raw_dir, F_OK) != 0); /* removed */
    if (rc != 0 || res->ntraces != 3) return;

    CHECK(res->traces[0].main && strcmp(res->traces[0].path, out) == 0);
    CHECK(res->traces[0].exited);
    counts want;
    seen s;
    CHECK(read_counts(cnt, &want));
    CHECK(analyze(out, &s));
    check_counts("main", &want, &s.c);
    CHECK_EQ(s.align_mask, 1u << 6 | 1u << 7 | 1u << 8 | 1u << 12);
    CHECK_EQ(s.pvalloc_size, 4096);
    CHECK(s.cross_free_ok);
    CHECK(s.threads >= 3);
    CHECK(s.any_time);
    CHECK_EQ(s.records, res->traces[0].summary.records);

    for (unsigned i = 1; i < res->nlisted; i++) {
        const gm_record_trace *t = &res->traces[i];
        char path[600], name[600];
        snprintf(path, sizeof path, "%s.%d", cnt, t->pid);
        snprintf(name, sizeof name, "%s.%d", out, t->pid);
        CHECK(!t->main);
        CHECK(strcmp(t->path, name) == 0);
        CHECK(t->exited); /* exit() and _exit() both flush */
        CHECK(read_counts(path, &want));
        CHECK(analyze(t->path, &s));
        check_counts(t->path, &want, &s.c);
        if (want.frees == 6) CHECK(t->unknown_frees >= 1); /* the parent's p2 */
    }
}

/* exec keeps the pid: the last image is the main trace, the earlier one out.<pid>.1. */
static void test_exec(void)
{
    char out[512], cnt[512], err[512];
    snprintf(out, sizeof out, "%s/exec.trace", g_dir);
    snprintf(cnt, sizeof cnt, "%s/exec.counts", g_dir);
    char *argv[] = {g_helper, "exec", cnt, NULL};
    gm_record_result *res = g_res;
    int rc = record(out, argv, false, res, err, sizeof err);
    if (rc != 0) fprintf(stderr, "  record: %s\n", err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(res->status, 0);
    CHECK_EQ(res->ntraces, 2);
    if (rc != 0 || res->ntraces != 2) return;
    counts want;
    seen s;
    CHECK(read_counts(cnt, &want));
    CHECK(analyze(out, &s));
    check_counts("exec leaf", &want, &s.c);
    CHECK(!s.any_time); /* recorded without timestamps */
    char first[600];
    snprintf(first, sizeof first, "%s.%d.1", out, res->traces[0].pid);
    CHECK(strcmp(res->traces[1].path, first) == 0);
    CHECK_EQ(res->traces[1].pid, res->traces[0].pid);
    CHECK(analyze(first, &s));
    CHECK_EQ(s.c.allocs, 2);
    CHECK_EQ(s.c.frees, 0);
}

static void test_status(void)
{
    char out[512], err[512];
    gm_record_result *res = g_res;
    snprintf(out, sizeof out, "%s/fail.trace", g_dir);
    char *fail[] = {g_helper, "fail", NULL};
    CHECK_EQ(record(out, fail, true, res, err, sizeof err), 0);
    CHECK_EQ(res->exit_code, 3);
    CHECK_EQ(res->status, 3);
    CHECK_EQ(res->signal, 0);
    CHECK(access(out, F_OK) == 0);

    char *t[] = {"true", NULL};
    snprintf(out, sizeof out, "%s/true.trace", g_dir);
    CHECK_EQ(record(out, t, true, res, err, sizeof err), 0);
    CHECK_EQ(res->status, 0);
    CHECK(res->ntraces >= 1 && res->traces[0].main);
    seen s;
    CHECK(analyze(out, &s));

    char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
    snprintf(out, sizeof out, "%s/killed.trace", g_dir);
    int rc = record(out, killed, true, res, err, sizeof err);
    if (rc != 0) fprintf(stderr, "  record: %s\n", err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(res->signal, 9);
    CHECK_EQ(res->status, 128 + 9);
    CHECK_EQ(res->exit_code, -1);
    CHECK(res->nlisted >= 1 && !res->traces[0].exited);

    char *missing[] = {"/nonexistent/gm-no-such-program", NULL};
    snprintf(out, sizeof out, "%s/missing.trace", g_dir);
    CHECK_EQ(record(out, missing, true, res, err, sizeof err), -1);
    CHECK(strstr(err, "cannot run") != NULL);
    CHECK(access(out, F_OK) != 0);
}

int main(void)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = 0;
    *strrchr(self, '/') = 0;
    snprintf(g_helper, sizeof g_helper, "%s/" PROG, self);
    char lib[4096];
    if (!gm_record_library(lib, sizeof lib) || access(g_helper, X_OK) != 0) {
        fprintf(stderr, "test_record: libgmrecord.so or %s not built\n", g_helper);
        return 1;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/gm_test_record.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    g_res = gm_map(sizeof *g_res, 0);
    test_main_program();
    test_exec();
    test_status();
    int rc = gm_test_finish("test_record");
    if (rc == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    } else {
        fprintf(stderr, "test_record: files kept in %s\n", g_dir);
    }
    return rc;
}
