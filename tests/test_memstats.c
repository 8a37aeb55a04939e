/*
 * test_memstats.c — MemStats and the sweep-cycle trigger (mstats.c, malloc.c pacing; Go:
 * mstats.go readmemstats_m, mgcpacer.go), reference §5.3, §6, §10.1.
 *
 * Go's definitions: HeapSys = HeapInuse + HeapIdle; fresh memory from grow is HeapReleased
 * until spans take it; Mallocs/Frees/TotalAlloc/HeapAlloc are sums of per-class counters that
 * move when spans leave caches (allocations) and when spans are swept (frees), so HeapAlloc
 * includes freed objects until they are swept. The model's large objects are freed at once,
 * and count as freed at once. The model's cycle trigger: bytes freed since the last cycle
 * reach GOGC% of max(live heap, 4 MiB), tested after a refill or a large allocation.
 *
 * Each case uses a private one-P heap and checks gm_heap_check after every step (every few
 * hundred operations inside bulk loops).
 */
#include <string.h>

#include "gm_test.h"
#include "gm_testing.h"

/* Relations that hold for every reading. */
static void check_identities(const gm_memstats *ms)
{
    CHECK_EQ(ms->heap_sys, ms->heap_inuse + ms->heap_idle);
    CHECK(ms->heap_released <= ms->heap_idle);
    CHECK_EQ(ms->alloc, ms->heap_alloc);
    CHECK_EQ(ms->heap_objects, ms->mallocs - ms->frees);
    CHECK_EQ(ms->sys, ms->heap_sys + ms->mspan_sys + ms->gc_sys + ms->other_sys);
    CHECK(ms->sys >= ms->heap_sys);
    CHECK(ms->heap_alloc <= ms->heap_inuse);
    CHECK_EQ(ms->heap_sys % (4 * MiB), 0); /* grown in whole palloc chunks */
    uint64_t mallocs = ms->tiny_allocs, frees = ms->tiny_allocs;
    for (int c = 0; c < GM_MEMSTATS_NUM_CLASSES; c++) {
        CHECK_EQ(ms->by_size[c].size, gm_class_to_size[c]);
        mallocs += ms->by_size[c].mallocs;
        frees += ms->by_size[c].frees;
    }
    CHECK_EQ(ms->mallocs, mallocs);
    CHECK_EQ(ms->frees, frees);
    CHECK_EQ(ms->by_size[0].mallocs, ms->large_alloc_count);
    CHECK_EQ(ms->by_size[0].frees, ms->large_free_count);
}

static gm_memstats checked_stats(gm_mheap *h, gm_m *m)
{
    gm_memstats ms = gm_test_memstats(h, m);
    check_identities(&ms);
    CHECK_HEAP(h);
    return ms;
}

/* ---- heap sizes ------------------------------------------------------------------------------ */

static void test_fresh_and_first_growth(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    gm_memstats ms = checked_stats(h, &m);
    CHECK_EQ(ms.heap_sys, 0);
    CHECK_EQ(ms.heap_inuse, 0);
    CHECK_EQ(ms.heap_idle, 0);
    CHECK_EQ(ms.mallocs, 0);
    CHECK_EQ(ms.total_alloc, 0);
    CHECK_EQ(ms.num_gc, 0);
    CHECK(ms.sys > 0); /* the heap's own metadata */

    /* The first span grows the heap by one 4 MiB chunk, all of it Prepared (released) until
     * spans take it. */
    gm_heap_alloc(h, &m, 100, GM_NOSCAN); /* class 9, 112 bytes */
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.heap_sys, 4 * MiB);
    CHECK_EQ(ms.heap_inuse, GM_PAGE_SIZE);
    CHECK_EQ(ms.heap_idle, 4 * MiB - GM_PAGE_SIZE);
    CHECK_EQ(ms.heap_released, 4 * MiB - GM_PAGE_SIZE);
    CHECK_EQ(ms.total_alloc, 112);
    CHECK_EQ(ms.heap_alloc, 112);
    CHECK_EQ(ms.by_size[9].mallocs, 1);
    CHECK(ms.mspan_sys > 0);

    /* A second class: the P's page cache takes a 64-page block, whose pages still count as
     * idle and released until a span uses them. */
    gm_heap_alloc(h, &m, 1024, GM_NOSCAN);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.heap_inuse, 2 * GM_PAGE_SIZE);
    CHECK_EQ(ms.heap_released, 4 * MiB - 2 * GM_PAGE_SIZE);

    /* A large object: HeapInuse up, released down, by its pages. */
    void *big = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.heap_inuse, MiB + 2 * GM_PAGE_SIZE);
    CHECK_EQ(ms.heap_released, 3 * MiB - 2 * GM_PAGE_SIZE);
    CHECK_EQ(ms.heap_sys, 4 * MiB);

    /* Freed pages are idle but keep their RAM: free, not released (no scavenger). */
    gm_heap_free(h, &m, big);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.heap_inuse, 2 * GM_PAGE_SIZE);
    CHECK_EQ(ms.heap_idle - ms.heap_released, MiB);
    CHECK_EQ(ms.heap_sys, 4 * MiB);

    /* Reusing those pages moves them from free to in use; released is unchanged. */
    uint64_t released = ms.heap_released;
    gm_heap_alloc(h, &m, MiB / 2, GM_NOSCAN);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.heap_released, released);
    CHECK_EQ(ms.heap_idle - ms.heap_released, MiB / 2);
    gm_heap_destroy(h);
}

/* ---- counters against our own bookkeeping ----------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng(void)
{
    return gm_test_splitmix(&rng_state);
}

/* Smallest class whose size is >= n, by a plain scan of the class sizes. */
static int class_of(size_t n)
{
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++)
        if (gm_class_to_size[c] >= n) return c;
    return 0;
}

typedef struct {
    void *p;
    int cls; /* 0 = large */
    uint64_t bytes;
} live_obj;

typedef struct {
    uint64_t mallocs[GM_NUM_SIZE_CLASSES], swept[GM_NUM_SIZE_CLASSES], pending[GM_NUM_SIZE_CLASSES];
    uint64_t lmallocs, lfrees, lbytes, lfreed_bytes;
    uint64_t cycles;
} books;

static void compare_books(gm_mheap *h, gm_m *m, const books *b)
{
    gm_memstats ms = checked_stats(h, m);
    uint64_t mallocs = b->lmallocs, frees = b->lfrees, total = b->lbytes, freed = b->lfreed_bytes;
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        CHECK_EQ(ms.by_size[c].mallocs, b->mallocs[c]);
        CHECK_EQ(ms.by_size[c].frees, b->swept[c]);
        mallocs += b->mallocs[c];
        frees += b->swept[c];
        total += b->mallocs[c] * gm_class_to_size[c];
        freed += b->swept[c] * gm_class_to_size[c];
    }
    CHECK_EQ(ms.by_size[0].mallocs, b->lmallocs);
    CHECK_EQ(ms.by_size[0].frees, b->lfrees);
    CHECK_EQ(ms.mallocs, mallocs);
    CHECK_EQ(ms.frees, frees);
    CHECK_EQ(ms.total_alloc, total);
    CHECK_EQ(ms.heap_alloc, total - freed);
    CHECK_EQ(ms.heap_objects, mallocs - frees);
    CHECK_EQ(ms.tiny_allocs, 0);
    CHECK_EQ(ms.num_gc, b->cycles);
}

static void test_counters_match_bookkeeping(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    static live_obj live[4096];
    static books b;
    size_t nlive = 0;
    for (int op = 0; op < 6000; op++) {
        uint64_t r = rng();
        if (nlive < 4096 && (r % 10 < 6 || nlive == 0)) {
            size_t size;
            unsigned flags = (r >> 8) & 1 ? GM_SCAN : GM_NOSCAN;
            if ((r >> 16) % 100 < 4) {
                size = 32769 + (size_t)((r >> 24) % 300000);
            } else if ((r >> 16) % 100 < 60) {
                size = 1 + (size_t)((r >> 24) % 512);
            } else {
                size = 1 + (size_t)((r >> 24) % 32768);
            }
            if (size < GM_TINY_SIZE) flags = GM_SCAN; /* tiny is test_tiny.c's business */
            void *p = gm_heap_alloc(h, &m, size, flags);
            CHECK(p != NULL);
            int c = size > 32768 ? 0 : class_of(size);
            uint64_t bytes =
                c ? gm_class_to_size[c] : (size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE * GM_PAGE_SIZE;
            CHECK_EQ(gm_heap_usable_size(h, p), bytes);
            live[nlive++] = (live_obj){p, c, bytes};
            if (c)
                b.mallocs[c]++;
            else {
                b.lmallocs++;
                b.lbytes += bytes;
            }
        } else {
            size_t i = (size_t)(r >> 32) % nlive;
            gm_heap_free(h, &m, live[i].p);
            if (live[i].cls)
                b.pending[live[i].cls]++;
            else {
                b.lfrees++;
                b.lfreed_bytes += live[i].bytes;
            }
            live[i] = live[--nlive];
        }
        if (op % 256 == 0) CHECK_HEAP(h);
        if (op % 1000 == 999) compare_books(h, &m, &b); /* frees still pending */
        if (op % 2000 == 1999) {
            gm_heap_gc(h, &m);
            b.cycles++;
            for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++) {
                b.swept[c] += b.pending[c];
                b.pending[c] = 0;
            }
            compare_books(h, &m, &b);
            /* After a full sweep HeapAlloc is exactly the live objects' rounded sizes. */
            uint64_t sum = 0;
            for (size_t i = 0; i < nlive; i++) sum += live[i].bytes;
            gm_memstats ms = gm_test_memstats(h, &m);
            CHECK_EQ(ms.heap_alloc, sum);
            CHECK_EQ(ms.heap_objects, nlive);
        }
    }
    gm_heap_destroy(h);
}

static void test_frees_count_when_swept(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    static void *p[100];
    for (int i = 0; i < 100; i++) p[i] = gm_heap_alloc(h, &m, 1000, GM_NOSCAN); /* class 32 */
    gm_memstats ms = checked_stats(h, &m);
    CHECK_EQ(ms.by_size[32].mallocs, 100);
    CHECK_EQ(ms.heap_alloc, 100 * 1024);
    for (int i = 0; i < 100; i += 2) gm_heap_free(h, &m, p[i]);
    CHECK_HEAP(h);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.by_size[32].frees, 0); /* dead but unswept: still in HeapAlloc */
    CHECK_EQ(ms.frees, 0);
    CHECK_EQ(ms.heap_alloc, 100 * 1024);
    CHECK_EQ(ms.heap_objects, 100);
    ms = checked_stats(h, &m); /* reading again sweeps nothing */
    CHECK_EQ(ms.frees, 0);
    gm_heap_gc(h, &m);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.by_size[32].frees, 50);
    CHECK_EQ(ms.frees, 50);
    CHECK_EQ(ms.heap_alloc, 50 * 1024);
    CHECK_EQ(ms.heap_objects, 50);
    CHECK_EQ(ms.total_alloc, 100 * 1024);
    CHECK_EQ(ms.num_gc, 1);
    /* Large objects are the model's exception: their pages, and their count, go at once. */
    void *big = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    gm_heap_free(h, &m, big);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.large_alloc_count, 1);
    CHECK_EQ(ms.large_free_count, 1);
    CHECK_EQ(ms.heap_alloc, 50 * 1024);
    CHECK_EQ(ms.total_alloc, 100 * 1024 + 0xa000);
    gm_heap_destroy(h);
}

static void test_num_gc(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 100);
    gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    for (uint64_t i = 1; i <= 3; i++) {
        gm_heap_gc(h, &m);
        gm_memstats ms = checked_stats(h, &m);
        CHECK_EQ(ms.num_gc, i);
        ms = checked_stats(h, &m); /* reading does not count as a cycle */
        CHECK_EQ(ms.num_gc, i);
    }
    gm_heap_start_cycle(h, &m, false); /* the trigger is not met: no cycle */
    CHECK_EQ(checked_stats(h, &m).num_gc, 3);
    gm_heap_start_cycle(h, &m, true);
    CHECK_EQ(checked_stats(h, &m).num_gc, 4);
    gm_heap_destroy(h);
}

/* ---- the cycle trigger --------------------------------------------------------------------- */

/* Allocate n 1 KiB objects into objs[]; the heap must not start a cycle meanwhile. */
static void alloc_kib(gm_mheap *h, gm_m *m, void **objs, int n)
{
    for (int i = 0; i < n; i++) {
        objs[i] = gm_heap_alloc(h, m, 1024, GM_NOSCAN);
        if (i % 1024 == 0) CHECK_HEAP(h);
    }
    CHECK_HEAP(h);
}

static void free_all(gm_mheap *h, gm_m *m, void **objs, int from, int to)
{
    for (int i = from; i < to; i++) gm_heap_free(h, m, objs[i]);
    CHECK_HEAP(h);
}

static uint64_t cycles(gm_mheap *h)
{
    return atomic_load(&h->num_cycles);
}

/* GOGC=100 on a heap smaller than 4 MiB: the trigger is heapMinimum, 4 MiB of frees. */
static void test_trigger_after_5mib_freed(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 100);
    static void *objs[6144];
    alloc_kib(h, &m, objs, 6140); /* the last span keeps 4 free slots, cached */
    CHECK_EQ(cycles(h), 0);
    free_all(h, &m, objs, 0, 5120); /* 5 MiB */
    CHECK_EQ(cycles(h), 0);         /* frees alone never start a cycle */
    gm_heap_alloc(h, &m, 1024, GM_NOSCAN);
    CHECK_EQ(cycles(h), 0); /* from the cached span: no refill, no trigger test */
    CHECK_HEAP(h);
    void *big = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK_EQ(cycles(h), 1); /* a large allocation tests the trigger: it fires */
    CHECK_HEAP(h);
    CHECK_EQ(atomic_load(&h->freed_pending), 0);
    /* Live at the start: 1021 KiB + 40 KiB < 4 MiB, so the next trigger is heapMinimum. */
    CHECK_EQ(atomic_load(&h->sweep_trigger), (int64_t)((4 * MiB / 100) * 100));
    /* The cycle was paced, not forced: the dead spans wait for lazy sweeping. */
    gm_memstats ms = checked_stats(h, &m);
    CHECK_EQ(ms.num_gc, 1);
    CHECK_EQ(ms.by_size[32].frees, 0);
    gm_heap_gc(h, &m);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.num_gc, 2);
    CHECK_EQ(ms.by_size[32].frees, 5120);
    CHECK_EQ(ms.heap_alloc, 1021 * 1024 + 0xa000);
    (void)big;
    gm_heap_destroy(h);
}

static void test_no_trigger_after_1mib_freed(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 100);
    static void *objs[6144];
    alloc_kib(h, &m, objs, 6144);
    free_all(h, &m, objs, 0, 1024); /* 1 MiB */
    for (int i = 0; i < 8; i++) gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    for (int i = 0; i < 1000; i++) gm_heap_alloc(h, &m, 1024, GM_NOSCAN); /* refills */
    CHECK_HEAP(h);
    CHECK_EQ(cycles(h), 0);
    CHECK_EQ(checked_stats(h, &m).num_gc, 0);
    gm_heap_destroy(h);
}

/* GOGC scales the trigger; after a cycle it follows the live heap. */
static void test_trigger_scales(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 200); /* 8 MiB of frees at heapMinimum */
    static void *objs[12288];
    alloc_kib(h, &m, objs, 12288);
    free_all(h, &m, objs, 0, 5120);
    gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK_EQ(cycles(h), 0);
    free_all(h, &m, objs, 5120, 8192); /* 8 MiB in all */
    gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK_EQ(cycles(h), 1);
    CHECK_HEAP(h);
    gm_heap_destroy(h);

    /* GOGC=100 with 10 MiB live: the trigger is 10 MiB of frees. */
    h = gm_test_heap(&m, 1, 100);
    alloc_kib(h, &m, objs, 10240);
    gm_heap_gc(h, &m);
    CHECK_EQ(cycles(h), 1);
    CHECK_EQ(atomic_load(&h->sweep_trigger), (int64_t)((10 * MiB / 100) * 100));
    free_all(h, &m, objs, 0, 5120);
    gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK_EQ(cycles(h), 1); /* 5 MiB < 10 MiB */
    free_all(h, &m, objs, 5120, 10240);
    gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK_EQ(cycles(h), 2);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* GOGC=off: only gm_heap_gc starts a cycle; without one, freed slots are never reused. */
static void test_gc_off_never_triggers(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    static void *objs[20480];
    alloc_kib(h, &m, objs, 20480); /* 20 MiB */
    free_all(h, &m, objs, 0, 20480);
    for (int i = 0; i < 4; i++) gm_heap_alloc(h, &m, 2 * MiB, GM_NOSCAN);
    alloc_kib(h, &m, objs, 20480);
    gm_memstats ms = checked_stats(h, &m);
    CHECK_EQ(ms.num_gc, 0);
    CHECK(ms.heap_inuse >= 48 * MiB); /* nothing was reused */
    CHECK_EQ(ms.frees, 0);
    gm_heap_gc(h, &m);
    ms = checked_stats(h, &m);
    CHECK_EQ(ms.num_gc, 1);
    CHECK_EQ(ms.by_size[32].frees, 20480);
    gm_heap_destroy(h);
}

int main(void)
{
    test_fresh_and_first_growth();
    test_counters_match_bookkeeping();
    test_frees_count_when_swept();
    test_num_gc();
    test_trigger_after_5mib_freed();
    test_no_trigger_after_1mib_freed();
    test_trigger_scales();
    test_gc_off_never_triggers();
    return gm_test_finish("test_memstats");
}
