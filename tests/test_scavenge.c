/*
 * test_scavenge.c — the scavenger (scavenge.c; Go: mgcscavenge.go), reference §5.8, §5.7.
 *
 * Free pages go back to the OS from the top of the heap down, 64 KiB at a time in the
 * background, to the goal gcPaceScavenger computes; HeapReleased follows; the released pages
 * are no longer resident (mincore) and read as zero when reused. Every case uses a private heap
 * and runs the heap checker (which recounts scavenged pages against HeapReleased) after every
 * step.
 */
#include <regex.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gm_test.h"
#include "gm_testing.h"

#define BIG ((size_t)1 << 20) /* a large object of 128 pages */

static gm_mheap *heap(gm_m *m, bool gc_mode, int64_t limit)
{
    gm_heap_config cfg = {
        .nprocs = 1, .gc_percent = 100, .gc_mode = gc_mode, .memory_limit = limit};
    return gm_test_heap_cfg(m, &cfg);
}

/* Resident 4 KiB pages of [p, p+n) (mincore). */
static size_t resident(const void *p, size_t n)
{
    unsigned char vec[4096];
    size_t pages = n / 4096, r = 0;
    CHECK(pages <= sizeof vec);
    CHECK(mincore((void *)p, n, vec) == 0);
    for (size_t i = 0; i < pages; i++) r += vec[i] & 1;
    return r;
}

static uint64_t released(gm_mheap *h)
{
    pthread_mutex_lock(&h->lock);
    uint64_t r = h->heap_released;
    pthread_mutex_unlock(&h->lock);
    return r;
}

/* gm_scavenge releases the highest free pages first, one run at a time, and the pages stop
 * being resident; reusing them makes them Ready again and they read as zero. */
static void test_top_down(void)
{
    gm_m m;
    gm_mheap *h = heap(&m, false, 0);
    char *obj[8];
    for (int i = 0; i < 8; i++) {
        obj[i] = gm_heap_alloc(h, &m, BIG, GM_NOSCAN);
        memset(obj[i], 0xab, BIG); /* resident */
    }
    CHECK(obj[7] > obj[0]);
    uint64_t before = released(h);
    gm_heap_free(h, &m, obj[2]);
    gm_heap_free(h, &m, obj[6]);
    CHECK_HEAP(h);
    /* 64 KiB: the top 8 pages of the highest free run, obj[6]'s end (the heap's own free
     * tail above obj[7] was never touched and is scavenged already). */
    CHECK_EQ(gm_scavenge(h, 64 * KiB), 64 * KiB);
    CHECK_EQ(released(h), before + 64 * KiB);
    CHECK_EQ(resident(obj[6] + BIG - 64 * KiB, 64 * KiB), 0);
    CHECK_EQ(resident(obj[6], BIG - 64 * KiB), (BIG - 64 * KiB) / 4096);
    CHECK_EQ(resident(obj[2], BIG), BIG / 4096);
    CHECK_HEAP(h);
    /* The rest of obj[6], then obj[2]: two runs of 128 pages. */
    CHECK_EQ(gm_scavenge(h, 2 * BIG), 2 * BIG - 64 * KiB);
    CHECK_EQ(resident(obj[6], BIG), 0);
    CHECK_EQ(resident(obj[2], BIG), 0);
    CHECK_EQ(gm_scavenge(h, BIG), 0); /* nothing free is left unscavenged */
    CHECK_HEAP(h);
    /* Reused: Ready again (HeapReleased falls) and zero. */
    uint64_t rel = released(h);
    char *again = gm_heap_alloc(h, &m, BIG, GM_NOSCAN | GM_ZERO);
    CHECK(again == obj[2]); /* lowest-address first fit */
    CHECK_EQ(released(h), rel - BIG);
    bool zero = true;
    for (size_t i = 0; i < BIG; i++) zero &= again[i] == 0;
    CHECK(zero);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* gcPaceScavenger: after a cycle, retained memory is brought down to lastHeapInUse ×
 * goal / lastGoal + 10% by the background scavenger, which the end of sweeping wakes. */
static void test_background_goal(void)
{
    gm_m m;
    gm_mheap *h = heap(&m, true, 0); /* GC mode: Go's goals exactly */
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++) memset(p[i] = gm_heap_alloc(h, &m, BIG, GM_NOSCAN), 1, BIG);
    for (int i = 0; i < N; i++)
        if (i % 8) gm_heap_free(h, &m, p[i]);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m); /* applies the frees, sweeps everything: the scavenger runs */
    gm_memstats ms = gm_test_memstats(h, &m);
    uint64_t goal = atomic_load(&h->scav.gc_goal);
    CHECK(goal != UINT64_MAX);
    /* lastHeapInUse × heapGoal / lastHeapGoal, + 10%, rounded up to 4 KiB. */
    double want = (double)h->scav.last_heap_inuse * (double)ms.next_gc / (double)ms.last_heap_goal;
    uint64_t w = (uint64_t)want;
    w += w / 10;
    w = (w + 4095) & ~(uint64_t)4095;
    CHECK_EQ(goal, w);
    /* Down to the goal, unless nothing free is left to release. */
    uint64_t retained = ms.heap_inuse + (ms.heap_idle - ms.heap_released);
    CHECK(retained <= goal || ms.heap_idle == ms.heap_released);
    CHECK(h->scav.released_total > 0);
    CHECK_HEAP(h);
    /* A goal between HeapInuse and what the heap retains, set through gcPaceScavenger's own
     * entry (goal in effect g1, new goal g2, HeapInuse at the mark = HeapInuse now): the
     * background scavenger stops within one quantum below it. */
    gm_heap_destroy(h);
    h = heap(&m, false, 0); /* default mode: freed pages are free at once, nothing wakes */
    for (int i = 0; i < N; i++) memset(p[i] = gm_heap_alloc(h, &m, BIG, GM_NOSCAN), 1, BIG);
    for (int i = 0; i < N; i += 8) gm_heap_free(h, &m, p[i]);
    ms = gm_test_memstats(h, &m);
    uint64_t inuse = ms.heap_inuse;
    retained = ms.heap_inuse + (ms.heap_idle - ms.heap_released);
    CHECK(retained > inuse + 2 * MiB);
    uint64_t g1 = inuse + inuse / 10, g2 = inuse + (retained - inuse) / 2;
    gm_scavenge_pace(h, g1, 0, NULL);
    gm_scavenge_pace(h, g2, 0, &inuse);
    goal = (uint64_t)((double)inuse * ((double)g2 / (double)g1));
    goal += goal / 10;
    goal = (goal + 4095) & ~(uint64_t)4095;
    CHECK_EQ(atomic_load(&h->scav.gc_goal), goal);
    CHECK(goal > ms.heap_inuse && goal < retained);
    atomic_store(&h->scav.wake, true);
    gm_scavenge_background(h);
    ms = gm_test_memstats(h, &m);
    retained = ms.heap_inuse + (ms.heap_idle - ms.heap_released);
    CHECK(retained <= goal && retained + 64 * KiB > goal);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* The default mode: freeing large objects counts toward the cycle trigger (as a Go program
 * churning large objects runs GC cycles), so a large-object churn runs cycles and the
 * scavenger keeps what the heap retains near its goal: RSS follows the live heap. */
static void test_default_mode_churn(void)
{
    gm_m m;
    gm_mheap *h = heap(&m, false, 0);
    enum { SLOTS = 32 };
    char *p[SLOTS] = {0};
    uint64_t seed = 7, max_retained_after = 0;
    for (int it = 0; it < 3000; it++) {
        int i = (int)(gm_test_splitmix(&seed) % SLOTS);
        if (p[i]) gm_heap_free(h, &m, p[i]);
        /* Phases: a large live set, then a small one. */
        size_t size = (it / 500) % 2 ? 40 * KiB : BIG + (gm_test_splitmix(&seed) % BIG);
        p[i] = gm_heap_alloc(h, &m, size, GM_NOSCAN);
        memset(p[i], 1, 4096);
        if (it % 500 == 499) {
            gm_memstats ms = gm_test_memstats(h, &m);
            uint64_t goal = atomic_load(&h->scav.gc_goal);
            uint64_t retained = ms.heap_inuse + (ms.heap_idle - ms.heap_released);
            if ((it / 500) % 2) max_retained_after = retained;
            CHECK(goal == UINT64_MAX || retained <= goal + BIG + 2 * MiB);
            CHECK_HEAP(h);
        }
    }
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK(ms.num_gc > 10);
    CHECK(h->scav.released_total > 16 * MiB);
    /* After a small-object phase the heap no longer retains the large phase's memory. */
    CHECK(max_retained_after < 24 * MiB);
    for (int i = 0; i < SLOTS; i++)
        if (p[i]) gm_heap_free(h, &m, p[i]);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* debug.FreeOSMemory: every free page is released. */
static void test_release_all(void)
{
    gm_m m;
    gm_mheap *h = heap(&m, false, 0);
    void *p[16];
    for (int i = 0; i < 16; i++) memset(p[i] = gm_heap_alloc(h, &m, BIG, GM_NOSCAN), 1, BIG);
    for (int i = 0; i < 16; i += 2) gm_heap_free(h, &m, p[i]);
    gm_heap_release_os_memory(h, &m);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.heap_idle, ms.heap_released);
    for (int i = 0; i < 16; i += 2) CHECK_EQ(resident(p[i], BIG), 0);
    for (int i = 1; i < 16; i += 2) CHECK_EQ(resident(p[i], BIG), BIG / 4096);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* allocSpan step 5: with GOMEMLIMIT, an allocation that would make more memory Ready than
 * the limit scavenges the excess at once. */
static void test_memory_limit_path(void)
{
    gm_m m;
    gm_mheap *h = heap(&m, true, 48 * (int64_t)MiB);
    enum { N = 40 };
    void *p[N];
    for (int i = 0; i < N; i++) memset(p[i] = gm_heap_alloc(h, &m, BIG, GM_NOSCAN), 1, BIG);
    for (int i = 0; i < N; i++) gm_heap_free(h, &m, p[i]);
    gm_heap_gc(h, &m); /* 40 MiB free, Ready */
    CHECK_HEAP(h);
    /* 30 MiB more from fresh memory (larger than any free run): Ready would reach 70 MiB. */
    void *q = gm_heap_alloc(h, &m, 30 * MiB, GM_NOSCAN);
    CHECK(q != NULL);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK(ms.sys - ms.heap_released <= 48 * MiB);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* GODEBUG=scavtrace=1 on the process heap: Go's line after the background scavenger ran. */
static void scavtrace_child(void *arg)
{
    (void)arg;
    setenv("GODEBUG", "scavtrace=1", 1);
    void *p[32];
    for (int i = 0; i < 32; i++) memset(p[i] = gm_malloc(BIG), 1, BIG);
    for (int i = 0; i < 32; i++) gm_free(p[i]);
    gm_gc();
}

static void test_scavtrace(void)
{
    char out[4096];
    int st = gm_run_child(scavtrace_child, NULL, out, sizeof out);
    regex_t re;
    CHECK(regcomp(&re, "^scav [0-9]+ KiB work, [0-9]+ KiB total, [0-9]+% util$",
                  REG_EXTENDED | REG_NEWLINE) == 0);
    bool ok = st == 0 && regexec(&re, out, 0, NULL, 0) == 0;
    if (!ok) fprintf(stderr, "  scavtrace child: status %#x, said: %s\n", st, out);
    CHECK(ok);
    regfree(&re);
}

int main(void)
{
    test_top_down();
    test_background_goal();
    test_default_mode_churn();
    test_release_all();
    test_memory_limit_path();
    test_scavtrace();
    return gm_test_finish("test_scavenge");
}
