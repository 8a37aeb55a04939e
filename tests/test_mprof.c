/*
 * test_mprof.c — heap profiling (mprof.c; Go: mprof.go, malloc.go's profilealloc, pprof.go's
 * legacy text writer), reference §8.
 *
 *  - rate 1: every allocation that is not combined into a tiny block is recorded, in buckets
 *    keyed by (site, rounded size), with exact counts and bytes; frees move the in-use counts
 *    when a cycle publishes them;
 *  - the default rate (512 KiB): the number of samples for B bytes allocated lies within six
 *    standard deviations of B / (rate + size/2) (a renewal process with exponential gaps);
 *  - GC mode: the profile shows the heap as of the last completed cycle (Go's three slots);
 *  - the legacy text format line by line, and the public API's error paths.
 *
 * Private heaps throughout (nprocs 1, a fixed RNG seed); gm_heap_check (which includes
 * gm_mprof_check) runs after every step.
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "gm_test.h"
#include "gm_testing.h"

static gm_mheap *prof_heap(gm_m *m, int rate, bool gc_mode, uint64_t seed)
{
    gm_heap_config cfg = {.nprocs = 1,
                          .gc_percent = gc_mode ? 100 : -1,
                          .gc_mode = gc_mode,
                          .arena_hints = false,
                          .mem_profile_rate = rate,
                          .mprof_seed = seed};
    return gm_test_heap_cfg(m, &cfg);
}

static void reg(gm_mheap *h, uint32_t site, const char *f0, const char *f1)
{
    const char *frames[2] = {f0, f1};
    CHECK_EQ(gm_mprof_register_site_on(h, site, frames, f1 ? 2 : 1), 0);
}

static void *alloc_at(gm_mheap *h, gm_m *m, uint32_t site, size_t size, unsigned flags)
{
    m->site = site;
    void *p = gm_heap_alloc(h, m, size, flags);
    CHECK(p != NULL);
    return p;
}

/* The published record of (site, size), all zero when the bucket does not exist. */
static gm_mprof_record rec(gm_mheap *h, uint32_t site, uint64_t size)
{
    gm_mprof_record r = {0};
    gm_mprof_lookup(h, site, size, &r);
    return r;
}

#define CHECK_REC(h, site, size, a, f)                                                             \
    do {                                                                                           \
        gm_mprof_record r_ = rec((h), (site), (size));                                             \
        CHECK_EQ(r_.allocs, (a));                                                                  \
        CHECK_EQ(r_.frees, (f));                                                                   \
        CHECK_EQ(r_.alloc_bytes, (uint64_t)(a) * (size));                                          \
        CHECK_EQ(r_.free_bytes, (uint64_t)(f) * (size));                                           \
    } while (0)

/* ---- rate 1: every allocation, exact --------------------------------------------------------- */

static void test_rate1_exact(void)
{
    gm_m m;
    gm_mheap *h = prof_heap(&m, 1, false, 1);
    reg(h, 1, "main.alpha a.go:10", NULL);
    reg(h, 2, "main.beta", NULL);
    void *small[10], *large[3];
    for (int i = 0; i < 10; i++) small[i] = alloc_at(h, &m, 1, 100, GM_NOSCAN);  /* class 112 */
    for (int i = 0; i < 3; i++) large[i] = alloc_at(h, &m, 1, 40000, GM_NOSCAN); /* 5 pages */
    /* Seven 8-byte tiny objects: a new block for every other one (4 blocks of 16 bytes). */
    void *tiny[7];
    for (int i = 0; i < 7; i++) tiny[i] = alloc_at(h, &m, 2, 8, GM_NOSCAN);
    /* The same site with a scan 8-byte object: class 8, its own bucket. */
    void *scan = alloc_at(h, &m, 2, 8, GM_SCAN);
    /* An unregistered site gets its own one-frame stack. */
    void *anon = alloc_at(h, &m, 7, 500, GM_NOSCAN); /* class 512 */
    CHECK_HEAP(h);
    /* Nothing published yet: the profile folds every slot (no cycle has run). */
    CHECK_REC(h, 1, 112, 10, 0);
    CHECK_REC(h, 1, 40960, 3, 0);
    CHECK_REC(h, 2, 16, 4, 0);
    CHECK_REC(h, 2, 8, 1, 0);
    CHECK_REC(h, 7, 512, 1, 0);
    CHECK_REC(h, 1, 16, 0, 0);
    /* Frees now count toward the next cycle: invisible until it completes. */
    for (int i = 0; i < 4; i++) gm_heap_free(h, &m, small[i]);
    gm_heap_free(h, &m, large[0]);
    for (int i = 0; i < 7; i++) gm_heap_free(h, &m, tiny[i]);
    CHECK_HEAP(h);
    CHECK_REC(h, 1, 112, 10, 0);
    CHECK_REC(h, 1, 40960, 3, 0);
    /* A further allocation is invisible too. */
    void *late = alloc_at(h, &m, 1, 100, GM_NOSCAN);
    CHECK_REC(h, 1, 112, 10, 0);
    gm_heap_gc(h, &m); /* runtime.GC: publishes everything up to now */
    CHECK_HEAP(h);
    CHECK_REC(h, 1, 112, 11, 4);
    CHECK_REC(h, 1, 40960, 3, 1);
    /* Three blocks died with their last object; the fourth was current and empty when the
     * cycle started, so it survives that cycle (gcMarkTinyAllocs) and dies at the next. */
    CHECK_REC(h, 2, 16, 4, 3);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_REC(h, 2, 16, 4, 4);
    for (int i = 4; i < 10; i++) gm_heap_free(h, &m, small[i]);
    gm_heap_free(h, &m, large[1]);
    gm_heap_free(h, &m, large[2]);
    gm_heap_free(h, &m, scan);
    gm_heap_free(h, &m, anon);
    gm_heap_free(h, &m, late);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_REC(h, 1, 112, 11, 11);
    CHECK_REC(h, 1, 40960, 3, 3);
    CHECK_REC(h, 2, 8, 1, 1);
    CHECK_REC(h, 7, 512, 1, 1);
    gm_heap_destroy(h);
}

/* realloc and aligned allocations are sampled as what they allocate. */
static void test_rate1_realloc_aligned(void)
{
    gm_m m;
    gm_mheap *h = prof_heap(&m, 1, false, 1);
    reg(h, 3, "main.grow", NULL);
    m.site = 3;
    void *p = gm_heap_alloc(h, &m, 24, GM_NOSCAN);                /* class 24 */
    p = gm_heap_realloc(h, &m, p, 1000);                          /* class 1024, the 24 freed */
    void *q = gm_heap_alloc_aligned(h, &m, 4096, 100, GM_NOSCAN); /* class 4096 */
    void *big = gm_heap_alloc_aligned(h, &m, 65536, 70000, GM_NOSCAN); /* 9 pages */
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_REC(h, 3, 24, 1, 1);
    CHECK_REC(h, 3, 1024, 1, 0);
    CHECK_REC(h, 3, 4096, 1, 0);
    CHECK_REC(h, 3, 9 * 8192, 1, 0);
    gm_heap_free(h, &m, p);
    gm_heap_free(h, &m, q);
    gm_heap_free(h, &m, big);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_REC(h, 3, 1024, 1, 1);
    CHECK_REC(h, 3, 9 * 8192, 1, 1);
    gm_heap_destroy(h);
}

/* ---- the default rate: sampling statistics ---------------------------------------------- */

/* Allocate (and free at once) objects of `size` until `bytes` were allocated; the samples
 * form a renewal process whose gaps are Exp(rate)+1 bytes rounded up to whole objects, so
 * E[bytes per sample] = rate + 1 + size/2 (± a fraction of a byte) and the count K is close
 * to Poisson: |K - E[K]| <= 6 sqrt(E[K]) fails with probability below 1e-8 per seed. */
static void test_default_rate_statistics(void)
{
    const size_t size = 4096;
    const double rate = GM_MPROF_DEFAULT_RATE;
    const uint64_t bytes = (uint64_t)1000 * (GM_MPROF_DEFAULT_RATE + size / 2);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        gm_m m;
        gm_mheap *h = prof_heap(&m, GM_MPROF_DEFAULT_RATE, false, seed * 0x1234567);
        reg(h, 1, "main.churn", NULL);
        for (uint64_t done = 0; done < bytes; done += size)
            gm_heap_free(h, &m, alloc_at(h, &m, 1, size, GM_NOSCAN));
        CHECK_HEAP(h);
        gm_heap_gc(h, &m);
        CHECK_HEAP(h);
        gm_mprof_record r = rec(h, 1, size);
        double want = (double)bytes / (rate + 1 + size / 2.0);
        double dev = fabs((double)r.allocs - want);
        if (dev > 6 * sqrt(want))
            fprintf(stderr, "seed %llu: %llu samples, expected %.1f\n", (unsigned long long)seed,
                    (unsigned long long)r.allocs, want);
        CHECK(dev <= 6 * sqrt(want));
        CHECK_EQ(r.alloc_bytes, r.allocs * size);
        CHECK_EQ(r.frees, r.allocs); /* every object was freed */
        gm_heap_destroy(h);
    }
    /* Rate 0: nothing is sampled. */
    gm_m m;
    gm_mheap *h = prof_heap(&m, 0, false, 1);
    for (int i = 0; i < 1000; i++) gm_heap_free(h, &m, alloc_at(h, &m, 0, 100000, GM_NOSCAN));
    CHECK_EQ(h->prof.nbuckets, 0);
    gm_heap_destroy(h);
}

/* ---- GC mode: the heap as of the last completed cycle ----------------------------------- */

#define BIG ((size_t)64 << 10)

static void test_gc_mode_cycles(void)
{
    gm_m m;
    gm_mheap *h = prof_heap(&m, 1, true, 1);
    reg(h, 1, "main.keep", NULL);
    reg(h, 2, "main.later", NULL);
    reg(h, 3, "main.churn", NULL);
    void *a[10], *b[5];
    for (int i = 0; i < 10; i++) a[i] = alloc_at(h, &m, 1, BIG, GM_NOSCAN);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_REC(h, 1, BIG, 10, 0);
    for (int i = 0; i < 5; i++) b[i] = alloc_at(h, &m, 2, BIG, GM_NOSCAN);
    for (int i = 0; i < 3; i++) gm_heap_free(h, &m, a[i]); /* pending until a cycle */
    CHECK_HEAP(h);
    CHECK_REC(h, 1, BIG, 10, 0);
    CHECK_REC(h, 2, BIG, 0, 0);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_REC(h, 1, BIG, 10, 3);
    CHECK_REC(h, 2, BIG, 5, 0);
    /* Paced cycles (not runtime.GC): after cycle k the profile shows the heap as of cycle
     * k-1's mark. */
    gm_heap_free(h, &m, b[0]);
    gm_heap_free(h, &m, b[1]);
    uint64_t c0 = atomic_load(&h->num_cycles), n1 = 0;
    void *p;
    for (;;) { /* until cycle k starts; the object that triggers it stays live */
        p = alloc_at(h, &m, 3, BIG, GM_NOSCAN);
        n1++;
        if (atomic_load(&h->num_cycles) != c0) break;
        gm_heap_free(h, &m, p);
        CHECK(n1 < 10000);
    }
    CHECK_EQ(atomic_load(&h->num_cycles), c0 + 1);
    CHECK_HEAP(h);
    CHECK_REC(h, 2, BIG, 5, 0); /* b's frees were applied by cycle k: not published yet */
    CHECK_REC(h, 3, BIG, 0, 0); /* allocated after cycle k-1 */
    uint64_t n2 = 0;
    void *q;
    for (;;) { /* until cycle k+1 */
        q = alloc_at(h, &m, 3, BIG, GM_NOSCAN);
        n2++;
        if (atomic_load(&h->num_cycles) != c0 + 1) break;
        gm_heap_free(h, &m, q);
        CHECK(n2 < 10000);
    }
    CHECK_HEAP(h);
    CHECK_REC(h, 2, BIG, 5, 2);
    CHECK_REC(h, 3, BIG, n1, n1 - 1); /* as of cycle k: p live, the others freed by it */
    gm_heap_free(h, &m, p);
    gm_heap_free(h, &m, q);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_REC(h, 3, BIG, n1 + n2, n1 + n2);
    gm_heap_destroy(h);
}

/* ---- threads: samples on every P, frees from other threads ----------------------------- */

#define THREADS    4
#define PER_THREAD 3000

typedef struct {
    gm_mheap *h;
    uint32_t site;
    void **objs;   /* this thread's objects; the next thread frees them */
    void **others; /* the previous thread's */
    pthread_barrier_t *bar;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *a = arg;
    gm_m m;
    gm_m_init(&m, a->h);
    m.site = a->site;
    for (int i = 0; i < PER_THREAD; i++)
        a->objs[i] = gm_heap_alloc(a->h, &m, 16 + (size_t)(i % 4) * 100, GM_SCAN);
    pthread_barrier_wait(a->bar);
    for (int i = 0; i < PER_THREAD; i++) gm_heap_free(a->h, &m, a->others[i]);
    gm_m_detach(&m);
    return NULL;
}

static void test_threads(void)
{
    gm_m m;
    gm_heap_config cfg = {.nprocs = 2, .gc_percent = 100, .mem_profile_rate = 1, .mprof_seed = 1};
    gm_mheap *h = gm_test_heap_cfg(&m, &cfg);
    static void *objs[THREADS][PER_THREAD];
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, THREADS);
    for (uint32_t i = 0; i < THREADS; i++) {
        reg(h, i + 1, i % 2 ? "main.odd" : "main.even", NULL); /* two stacks, shared */
        args[i] = (worker_arg){h, i + 1, objs[i], objs[(i + THREADS - 1) % THREADS], &bar};
    }
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, &args[i]);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    /* Sizes 16, 116, 216, 316 -> classes 16, 128, 224, 320; each site sees PER_THREAD / 4 of
     * each, and sites 1, 3 (and 2, 4) share a stack. */
    static const uint64_t cls[4] = {16, 128, 224, 320};
    for (int c = 0; c < 4; c++) {
        CHECK_REC(h, 1, cls[c], 2 * PER_THREAD / 4, 2 * PER_THREAD / 4);
        CHECK_REC(h, 2, cls[c], 2 * PER_THREAD / 4, 2 * PER_THREAD / 4);
    }
    gm_heap_destroy(h);
}

/* ---- the text format ------------------------------------------------------------------------ */

/* The profile of h as a NUL-terminated string in buf. */
static size_t profile_text(gm_mheap *h, gm_m *m, char *buf, size_t n)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return 0;
    CHECK_EQ(gm_heap_write_heap_profile(h, m, fileno(f), GM_PROFILE_TEXT), 0);
    rewind(f);
    size_t len = fread(buf, 1, n - 1, f);
    buf[len] = '\0';
    fclose(f);
    return len;
}

static void check_line(char **cur, const char *want)
{
    char *nl = strchr(*cur, '\n');
    size_t len = nl ? (size_t)(nl - *cur) : strlen(*cur);
    bool ok = strlen(want) == len && strncmp(*cur, want, len) == 0;
    if (!ok) fprintf(stderr, "line: got '%.*s'\n      want '%s'\n", (int)len, *cur, want);
    CHECK(ok);
    *cur += len + (nl ? 1 : 0);
}

static void test_text_format(void)
{
    gm_m m;
    gm_mheap *h = prof_heap(&m, 1, false, 1);
    /* Function entries in first-registration order: main.alpha 0x401000, main.main 0x402000,
     * main.beta 0x403000, runtime.mallocgc 0x404000, main.gamma 0x405000; a frame's PC is
     * entry + 0x14 + 4 * line + 1. Header totals are over the records printed. */
    reg(h, 1, "main.alpha a.go:10", "main.main a.go:3");
    reg(h, 2, "main.beta", NULL);
    reg(h, 3, "runtime.mallocgc malloc.go:2", "main.gamma g.go:5");
    reg(h, 4, "main.alpha a.go:10", "main.main a.go:3"); /* same frames as site 1 */
    CHECK_EQ(gm_mprof_register_site_on(h, 9, (const char *[]){"main.alpha a.go:10"}, 1), 0);
    void *keep[8];
    int k = 0;
    for (int i = 0; i < 3; i++) keep[k++] = alloc_at(h, &m, 1, 1000, GM_SCAN); /* 3 × 1024 */
    keep[k++] = alloc_at(h, &m, 4, 1000, GM_SCAN);  /* site 4 shares site 1's bucket */
    keep[k++] = alloc_at(h, &m, 2, 40000, GM_SCAN); /* 40960 */
    keep[k++] = alloc_at(h, &m, 3, 100, GM_SCAN);   /* 112 */
    void *gone = alloc_at(h, &m, 2, 48, GM_SCAN);   /* 48, freed: in-use 0, not printed */
    gm_heap_free(h, &m, gone);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    static char text[1 << 16];
    profile_text(h, &m, text, sizeof text);
    char *cur = text;
    check_line(&cur, "heap profile: 6: 45168 [6: 45168] @ heap/2");
    check_line(&cur, "1: 40960 [1: 40960] @ 0x403015");
    check_line(&cur, "#\t0x403014\tmain.beta+0x14\t?:0");
    check_line(&cur, "");
    check_line(&cur, "4: 4096 [4: 4096] @ 0x40103d 0x402021");
    check_line(&cur, "#\t0x40103c\tmain.alpha+0x3c\ta.go:10");
    check_line(&cur, "#\t0x402020\tmain.main+0x20\ta.go:3");
    check_line(&cur, "");
    check_line(&cur, "1: 112 [1: 112] @ 0x40401d 0x405029");
    check_line(&cur, "#\t0x405028\tmain.gamma+0x28\tg.go:5"); /* runtime.* hidden here */
    check_line(&cur, "");
    check_line(&cur, "");
    check_line(&cur, "# runtime.MemStats");
    CHECK(strncmp(cur, "# Alloc = ", 10) == 0);
    CHECK(strstr(cur, "\n# NumGC = 1\n") != NULL);
    for (int i = 0; i < k; i++) gm_heap_free(h, &m, keep[i]);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    profile_text(h, &m, text, sizeof text);
    cur = text;
    check_line(&cur, "heap profile: 0: 0 [0: 0] @ heap/2");
    check_line(&cur, "");
    check_line(&cur, "# runtime.MemStats");
    gm_heap_destroy(h);
}

/* Only runtime frames: all are printed (printStackRecord's second pass). */
static void test_text_runtime_only(void)
{
    gm_m m;
    gm_mheap *h = prof_heap(&m, 1, false, 1);
    reg(h, 1, "runtime.malg", "runtime.newproc1");
    void *p = alloc_at(h, &m, 1, 416, GM_SCAN);
    static char text[1 << 14];
    profile_text(h, &m, text, sizeof text);
    char *cur = text;
    check_line(&cur, "heap profile: 1: 416 [1: 416] @ heap/2");
    check_line(&cur, "1: 416 [1: 416] @ 0x401015 0x402015");
    check_line(&cur, "#\t0x401014\truntime.malg+0x14\t?:0");
    check_line(&cur, "#\t0x402014\truntime.newproc1+0x14\t?:0");
    gm_heap_free(h, &m, p);
    gm_heap_destroy(h);
}

/* ---- the public API ------------------------------------------------------------------------- */

static void test_api_errors(void)
{
    const char *ok[1] = {"main.f"};
    errno = 0;
    CHECK_EQ(gm_mprof_register_site(0, ok, 1), -1);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(gm_mprof_register_site(GM_MPROF_MAX_SITES, ok, 1), -1);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(gm_mprof_register_site(1, ok, 0), -1);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(gm_mprof_register_site(1, NULL, 1), -1);
    CHECK_EQ(errno, EINVAL);
    const char *bad[2] = {"main.f", ""};
    errno = 0;
    CHECK_EQ(gm_mprof_register_site(1, bad, 2), -1);
    CHECK_EQ(errno, EINVAL);
    const char *deep[33];
    for (int i = 0; i < 33; i++) deep[i] = "main.f";
    errno = 0;
    CHECK_EQ(gm_mprof_register_site(1, deep, 33), -1);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(gm_mprof_register_site(1, deep, 32), 0);
    errno = 0;
    CHECK_EQ(gm_set_mem_profile_rate(-1), -1);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(gm_write_heap_profile(-1, GM_PROFILE_TEXT), -1);
    CHECK_EQ(errno, EBADF);
    errno = 0;
    CHECK_EQ(gm_write_heap_profile(2, 7), -1); /* no such format */
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(gm_write_heap_profile_path("", GM_PROFILE_TEXT), -1);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(gm_write_heap_profile_path("/nonexistent-dir/heap.prof", GM_PROFILE_PROTO), -1);
    CHECK_EQ(errno, ENOENT);
}

static void test_api_process_heap(void)
{
    int old = gm_set_mem_profile_rate(1);
    CHECK(old >= 0);
    CHECK_EQ(gm_mem_profile_rate(), 1);
    const char *frames[] = {"main.processHeap p.go:42"};
    CHECK_EQ(gm_mprof_register_site(5, frames, 1), 0);
    uint32_t prev = gm_set_alloc_site(5);
    void *p[4];
    for (int i = 0; i < 4; i++) p[i] = gm_malloc(3000); /* class 3072 */
    CHECK_EQ(gm_set_alloc_site(prev), 5);
    gm_gc();
    char path[] = "test_mprof.heap.prof";
    CHECK_EQ(gm_write_heap_profile_path(path, GM_PROFILE_TEXT), 0);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        static char text[1 << 16];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        CHECK(strncmp(text, "heap profile: ", 14) == 0);
        CHECK(strstr(text, "\n4: 12288 [4: 12288] @ ") != NULL);
        CHECK(strstr(text, "\tmain.processHeap+0x") != NULL);
        CHECK(strstr(text, "@ heap/2\n") != NULL);
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0); /* renamed away */
    unlink(path);
    for (int i = 0; i < 4; i++) gm_free(p[i]);
    CHECK_INVARIANTS(gm_mprof_check(gm_process_heap(), GM_CHECKBUF));
    gm_set_mem_profile_rate(old);
}

/* The process heap reads GODEBUG's memprofilerate when it is created (GM_MEMPROFILERATE,
 * unset here, would take precedence). */
static void test_env_rate(void)
{
    CHECK_EQ(gm_mem_profile_rate(), 4096);
    CHECK_EQ(gm_set_mem_profile_rate(GM_MPROF_DEFAULT_RATE), 4096);
}

int main(void)
{
    unsetenv("GM_MEMPROFILERATE");
    setenv("GODEBUG", "gctrace=0,memprofilerate=4096,x=1", 1);
    test_env_rate();
    test_rate1_exact();
    test_rate1_realloc_aligned();
    test_default_rate_statistics();
    test_gc_mode_cycles();
    test_threads();
    test_text_format();
    test_text_runtime_only();
    test_api_errors();
    test_api_process_heap();
    return gm_test_finish("test_mprof");
}
