/*
 * test_backend.c — the backends (harness/backend.c) and the environment record (harness/env.c).
 *
 * Run plainly (nothing preloaded, as CTest does), it checks the table, that glibc, gomodel and
 * bump prove their identity here while every installed competitor fails step 1 naming libc,
 * the allocation interface of the backends that can serve this process, their statistics, the
 * library search, the dpkg lookup and gm_env_write.
 *
 *   test_backend --prove NAME
 * checks instead that this process is served by backend NAME (its library preloaded), exercises
 * its allocation interface and prints its proof and statistics; exit 0 = proven and working:
 *   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 test_backend --prove jemalloc
 */
#include <stdint.h>

#include "backend.h"
#include "env.h"
#include "gm_test.h"
#include "gm_workload.h"

static const char *const expected_names[] = {"gomodel",  "gomodel-gc", "glibc",     "jemalloc",
                                             "mimalloc", "tcmalloc",   "tbbmalloc", "bump"};
enum { NBACKENDS = sizeof expected_names / sizeof expected_names[0] };

static void test_table(void)
{
    const gm_backend *const *list = gm_backends();
    int n = 0;
    while (list[n]) n++;
    CHECK_EQ(n, NBACKENDS);
    for (int i = 0; i < n && i < NBACKENDS; i++) {
        const gm_backend *b = list[i];
        CHECK(strcmp(b->name, expected_names[i]) == 0);
        CHECK(gm_backend_find(expected_names[i]) == b);
        CHECK(b->description && b->package && b->alloc && b->alloc_aligned && b->realloc &&
              b->free && b->prove);
        CHECK(b->internal == (strcmp(b->name, "bump") == 0));
        /* Only the in-tree backends have no library to preload. */
        bool in_tree = !strncmp(b->name, "gomodel", 7) || !strcmp(b->name, "bump");
        CHECK(in_tree == (b->soname == NULL));
    }
    CHECK(gm_backend_find("nosuchalloc") == NULL);
    CHECK(gm_backend_find("") == NULL);
}

static bool filled_with(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return false;
    return true;
}

static void check_alloc_plain(const gm_backend *b)
{
    static const size_t sizes[] = {1, 8, 16, 24, 100, 1000, 4096, 40000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = b->alloc(n, 0);
        CHECK(p && (uintptr_t)p % sizeof(void *) == 0);
        if (!p) continue;
        memset(p, 0xab, n);
        b->free(p);
        /* The same size again, zeroed: likely the block just dirtied. */
        unsigned char *z = b->alloc(n, GM_OPF_ZERO | GM_OPF_SCAN);
        CHECK(z && filled_with(z, n, 0));
        if (z) b->free(z);
    }
    void *p0 = b->alloc(0, 0); /* malloc(0) is legal; the result only has to be freeable */
    b->free(p0);
}

static void check_alloc_aligned(const gm_backend *b)
{
    for (size_t align = sizeof(void *); align <= ((size_t)1 << 21); align <<= 1) {
        size_t n = align < 4096 ? 3 * align + 5 : 100;
        unsigned char *p = b->alloc_aligned(align, n, 0);
        CHECK(p && (uintptr_t)p % align == 0);
        if (p) {
            memset(p, 0xcd, n);
            b->free(p);
        }
        unsigned char *z = b->alloc_aligned(align, n, GM_OPF_ZERO);
        CHECK(z && (uintptr_t)z % align == 0 && filled_with(z, n, 0));
        if (z) b->free(z);
    }
}

static void check_realloc(const gm_backend *b)
{
    unsigned char *p = b->alloc(100, 0);
    CHECK(p != NULL);
    if (!p) return;
    for (int i = 0; i < 100; i++) p[i] = (unsigned char)i;
    p = b->realloc(p, 100000); /* grows into another size class or a large object */
    CHECK(p != NULL);
    if (!p) return;
    bool same = true;
    for (int i = 0; i < 100; i++) same &= p[i] == (unsigned char)i;
    CHECK(same);
    memset(p + 100, 0xee, 100000 - 100);
    p = b->realloc(p, 50);
    CHECK(p != NULL);
    if (!p) return;
    same = true;
    for (int i = 0; i < 50; i++) same &= p[i] == (unsigned char)i;
    CHECK(same);
    b->free(p);
    void *q = b->realloc(NULL, 64); /* realloc(NULL, n) is malloc(n) */
    CHECK(q != NULL);
    b->free(q);
}

static void check_alloc(const gm_backend *b)
{
    check_alloc_plain(b);
    check_alloc_aligned(b);
    check_realloc(b);
}

/* Runs b->stats inside an object and parses the text back: members must form valid JSON and
 * include every key in keys (NULL-terminated). */
static void check_stats(const gm_backend *b, const char *const *keys, bool print)
{
    gm_json j;
    gm_json_init(&j, false);
    gm_json_object_begin(&j, NULL);
    if (b->stats) b->stats(&j);
    gm_json_object_end(&j);
    gm_arena *a = gm_arena_create();
    char err[128];
    gm_jval *v = gm_json_parse(a, j.buf, j.len, err, sizeof err);
    CHECK(v && v->type == GM_JOBJ);
    if (!v)
        fprintf(stderr, "  %s stats do not parse (%s): %.*s\n", b->name, err, (int)j.len, j.buf);
    for (; v && *keys; keys++) {
        const gm_jval *m = gm_json_get(v, *keys);
        CHECK(m && (m->type == GM_JNUM));
        if (!m) fprintf(stderr, "  %s stats lack %s: %.*s\n", b->name, *keys, (int)j.len, j.buf);
    }
    if (print) printf("%s stats: %.*s\n", b->name, (int)j.len, j.buf);
    gm_arena_destroy(a);
    gm_json_free(&j);
}

static void test_in_process_backends(void)
{
    static const char *const gomodel_keys[] = {
        "heap_alloc", "heap_inuse", "heap_idle", "heap_released", "heap_sys", "sys",
        "mallocs",    "frees",      "num_gc",    "frag_own",      NULL};
    static const char *const glibc_keys[] = {"arena",    "hblkhd",   "uordblks", "fordblks",
                                             "keepcost", "frag_own", NULL};
    static const char *const bump_keys[] = {"ring", "bumped_this_thread", NULL};
    static const char *const names[] = {"gomodel", "glibc", "bump"};
    for (int i = 0; i < 3; i++) {
        const gm_backend *b = gm_backend_find(names[i]);
        if (b->init) b->init();
        if (b->thread_init) b->thread_init();
        char why[256] = "";
        int rc = gm_backend_prove(b, why, sizeof why);
        printf("prove %s: %s: %s\n", b->name, rc == 0 ? "ok" : "FAILED", why);
        /* Under ASan/TSan the sanitizer's malloc serves the process: it stands in for libc's
         * for gomodel and bump, but it is not glibc. */
        if (GM_TEST_SANITIZED && strcmp(b->name, "glibc") == 0)
            CHECK(rc != 0 && strstr(why, "malloc is served by"));
        else
            CHECK(rc == 0);
        check_alloc(b);
    }
    /* gomodel-gc needs a process whose heap starts in GC mode: here gomodel made it first, so
     * its identity proof must refuse (the mode is part of the identity). */
    const gm_backend *gc = gm_backend_find("gomodel-gc");
    gc->init();
    char why[256] = "";
    CHECK(gm_backend_prove(gc, why, sizeof why) != 0 && strstr(why, "gm_gc_mode() = 0"));
    printf("prove gomodel-gc (heap already in free mode): %s\n", why);
    void *keep = gm_malloc(1000); /* so that heap_alloc, and frag_own, are not 0 */
    check_stats(gm_backend_find("gomodel"), gomodel_keys, false);
    gm_free(keep);
    check_stats(gm_backend_find("bump"), bump_keys, false);
    if (!GM_TEST_SANITIZED) {
        void *p = malloc(4096);
        check_stats(gm_backend_find("glibc"), glibc_keys, false);
        free(p);
    }
}

/* Nothing is preloaded here, so every installed competitor must fail step 1 naming libc. */
static void test_competitors_refuse(void)
{
    for (const gm_backend *const *bp = gm_backends(); *bp; bp++) {
        const gm_backend *b = *bp;
        char path[512], why[512] = "";
        if (!b->soname || strcmp(b->name, "glibc") == 0 || !gm_backend_locate(b, path, sizeof path))
            continue;
        int rc = gm_backend_prove(b, why, sizeof why);
        printf("prove %s (not preloaded): %s\n", b->name, why);
        CHECK(rc != 0);
        CHECK(strstr(why, "malloc is served by") && strstr(why, b->soname));
        if (!GM_TEST_SANITIZED) CHECK(strstr(why, "libc.so.6") != NULL);
    }
}

static void test_locate_and_version(void)
{
    char path[512], version[128];
    const gm_backend *glibc = gm_backend_find("glibc"), *gomodel = gm_backend_find("gomodel");
    CHECK(gm_backend_locate(glibc, path, sizeof path) && path[0] == '/' && access(path, R_OK) == 0);
    CHECK(gm_backend_locate(gomodel, path, sizeof path) && path[0] == 0);
    if (access("/var/lib/dpkg/status", R_OK) == 0) {
        gm_backend_version(glibc, version, sizeof version);
        printf("glibc package version: %s\n", version);
        CHECK(version[0] != 0 && strchr(version, '\n') == NULL);
    }
    gm_backend_version(gomodel, version, sizeof version);
    CHECK(strncmp(version, "0.1.0 (git ", 11) == 0);
    /* Too small a buffer truncates, never overflows. */
    char tiny[4] = "xxx";
    gm_backend_version(glibc, tiny, sizeof tiny);
    CHECK(strlen(tiny) < sizeof tiny);
    const gm_backend *je = gm_backend_find("jemalloc");
    if (gm_backend_locate(je, path, sizeof path)) {
        printf("jemalloc library: %s\n", path);
        CHECK(path[0] == '/' && access(path, R_OK) == 0 && strstr(path, "libjemalloc.so.2"));
    } else {
        printf("jemalloc not installed: locate check skipped\n");
        CHECK(path[0] == 0);
    }
}

static void test_env(void)
{
    static const char *const keys[] = {"env.time_utc",
                                       "env.hostname",
                                       "env.cpu_model",
                                       "env.logical_cpus",
                                       "env.kernel",
                                       "env.glibc",
                                       "env.compiler",
                                       "env.build_type",
                                       "env.cflags",
                                       "env.sanitize",
                                       "env.git_commit",
                                       "env.thp_enabled",
                                       "env.thp_defrag",
                                       "env.allocators.gomodel.version",
                                       "env.allocators.glibc.library",
                                       "env.allocators.bump.installed",
                                       NULL};
    gm_json j;
    gm_json_init(&j, true);
    gm_json_object_begin(&j, NULL);
    gm_env_write(&j, "env", NULL);
    gm_json_object_end(&j);
    gm_arena *a = gm_arena_create();
    char err[128];
    gm_jval *v = gm_json_parse(a, j.buf, j.len, err, sizeof err);
    CHECK(v && v->type == GM_JOBJ);
    for (const char *const *k = keys; v && *k; k++) {
        bool has = gm_json_get(v, *k) != NULL;
        CHECK(has);
        if (!has) fprintf(stderr, "  env lacks %s\n", *k);
    }
    if (v) {
        const gm_jval *allocs = gm_json_get(v, "env.allocators");
        CHECK(allocs && allocs->type == GM_JOBJ && allocs->n == NBACKENDS);
        CHECK(gm_json_get_num(v, "env.logical_cpus", 0) >= 1);
        const char *t = gm_json_get_str(v, "env.time_utc", "");
        CHECK(strlen(t) == 20 && t[10] == 'T' && t[19] == 'Z');
        const gm_jval *installed = gm_json_get(v, "env.allocators.glibc.installed");
        CHECK(installed && installed->type == GM_JBOOL && installed->b);
    }
    printf("%.*s\n", (int)j.len, j.buf);
    gm_arena_destroy(a);
    gm_json_free(&j);
}

/* --prove NAME: this process, with NAME's library preloaded, must be served by it. */
static int prove_mode(const char *name)
{
    const gm_backend *b = gm_backend_find(name);
    if (!b) {
        fprintf(stderr, "test_backend: no backend %s\n", name);
        return 2;
    }
    if (b->init) b->init();
    if (b->thread_init) b->thread_init();
    char why[512] = "";
    int rc = gm_backend_prove(b, why, sizeof why);
    printf("malloc provider: %s\nprove %s: %s: %s\n", gm_malloc_provider(), name,
           rc == 0 ? "ok" : "FAILED", why);
    if (rc != 0) return 1;
    check_alloc(b);
    static const char *const none[] = {NULL};
    void *keep = b->alloc(100000, 0); /* live bytes for the statistics to show */
    check_stats(b, none, true);
    b->free(keep);
    return gm_test_finish("test_backend --prove") ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--prove") == 0) return prove_mode(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_backend [--prove NAME]\n");
        return 2;
    }
    test_table();
    test_in_process_backends();
    test_competitors_refuse();
    test_locate_and_version();
    test_env();
    return gm_test_finish("test_backend");
}
