/*
 * test_large.c — objects over 32 KiB (malloc.c alloc_large, mheap.c; Go: mallocgc's large
 * branch, mcache.allocLarge, mheap.alloc/grow), reference §4, §5.2, §5.6, §5.7.
 *
 * A large object is its own span of ceil(size/8 KiB) pages, class 0 (spc 0 scan, 1 noscan),
 * reported as npages×8 KiB. The model returns its pages to the page heap at once on free (Go
 * does it when the span is swept). Spans under 16 pages come from the P's 64-page cache, the
 * rest from the page allocator's lowest-address fit; the heap grows in whole 4 MiB chunks.
 * Every case uses a private one-P heap with GOGC off and runs gm_heap_check after every step.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gm_test.h"
#include "gm_testing.h"

static bool all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != v) return false;
    return true;
}

static bool central_empty(gm_mheap *h, uint8_t spc)
{
    gm_mcentral *c = &h->central[spc];
    return !c->partial[0].n && !c->partial[1].n && !c->full[0].n && !c->full[1].n;
}

/* ---- sizes and spans ------------------------------------------------------------------------ */

static void test_sizes(void)
{
    static const struct {
        size_t size, npages;
    } cases[] = {
        {32769, 5}, /* one byte over the largest class */
        {40000, 5}, /* Go reports 0xa000 (Appendix A item 2) */
        {40960, 5}, /* exactly 5 pages */
        {40961, 6}, {65536, 8}, {100000, 13}, {1 << 20, 128}, {(1 << 20) + 1, 129}, {8 << 20, 1024},
    };
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uint64_t allocs = 0, bytes = 0, inuse = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (unsigned scan = 0; scan < 2; scan++) {
            size_t size = cases[i].size, np = cases[i].npages;
            void *p = gm_heap_alloc(h, &m, size, scan ? GM_SCAN : GM_NOSCAN);
            CHECK(p != NULL);
            if (!p) return;
            CHECK_HEAP(h);
            gm_mspan *s = gm_mheap_span_of(h, (uintptr_t)p);
            CHECK(s != NULL);
            if (!s) return;
            CHECK_EQ((uintptr_t)p, s->base);
            CHECK_EQ((uintptr_t)p % GM_PAGE_SIZE, 0);
            CHECK_EQ(s->npages, np);
            CHECK_EQ(s->elemsize, np * GM_PAGE_SIZE);
            CHECK_EQ(s->nelems, 1);
            CHECK_EQ(s->spanclass, gm_make_spanclass(0, !scan));
            CHECK_EQ(gm_heap_usable_size(h, p), np * GM_PAGE_SIZE);
            CHECK_EQ(gm_heap_usable_size(h, (char *)p + 1), 0);
            /* Every page of the span maps to it; the byte after it does not. */
            CHECK(gm_mheap_span_of(h, s->base + np * GM_PAGE_SIZE - 1) == s);
            CHECK(gm_mheap_span_of(h, s->base + np * GM_PAGE_SIZE) != s);
            memset(p, 0x11, size); /* the whole object is writable */
            allocs++;
            bytes += np * GM_PAGE_SIZE;
            inuse += np * GM_PAGE_SIZE;
            CHECK_EQ(h->heap_inuse, inuse);
        }
    }
    CHECK_EQ(gm_heap_usable_size(h, gm_heap_alloc(h, &m, 32768, GM_NOSCAN)), 32768); /* small */
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.large_alloc_count, allocs);
    CHECK_EQ(ms.by_size[0].mallocs, allocs);
    CHECK_EQ(ms.total_alloc, bytes + 32768);
    CHECK_EQ(ms.heap_alloc, bytes + 32768);
    /* Large spans never enter an mcentral (the model frees them directly). */
    CHECK(central_empty(h, 0));
    CHECK(central_empty(h, 1));
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- free returns the pages at once; placement ---------------------------------------------- */

static void test_free_returns_pages_at_once(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    char *a = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    char *b = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    char *c = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    CHECK_HEAP(h);
    /* Page runs of 16+ pages: lowest address first, packed upward from the chunk base. */
    CHECK_EQ((uintptr_t)a % GM_CHUNK_BYTES, 0);
    CHECK(b == a + MiB);
    CHECK(c == b + MiB);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.heap_inuse, 3 * MiB);
    CHECK_EQ(ms.heap_sys, 4 * MiB);
    gm_heap_free(h, &m, a);
    CHECK_HEAP(h);
    CHECK_EQ(h->heap_inuse, 2 * MiB); /* no cycle needed */
    CHECK(gm_mheap_span_of(h, (uintptr_t)a) == NULL);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.heap_inuse, 2 * MiB);
    CHECK_EQ(ms.heap_idle, 2 * MiB);
    CHECK_EQ(ms.heap_idle - ms.heap_released, MiB); /* free, still backed: not released */
    CHECK_EQ(ms.large_free_count, 1);
    CHECK_EQ(ms.heap_alloc, 2 * MiB);
    CHECK_EQ(ms.num_gc, 0);
    gm_heap_free(h, &m, b);
    CHECK_HEAP(h);
    /* The lowest free run is reused: a 2 MiB object takes a..b, then 1 MiB objects go above. */
    char *d = gm_heap_alloc(h, &m, 2 * MiB, GM_NOSCAN);
    CHECK(d == a);
    CHECK_HEAP(h);
    gm_heap_free(h, &m, d);
    char *e = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    char *f = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    CHECK(e == a);
    CHECK(f == b);
    CHECK_HEAP(h);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.large_alloc_count, 6);
    CHECK_EQ(ms.large_free_count, 3);
    CHECK_EQ(ms.heap_objects, 3);
    CHECK_EQ(ms.heap_sys, 4 * MiB); /* no growth: freed pages were enough */
    gm_heap_destroy(h);
}

/* Spans under 16 pages come from the P's page cache (§5.6): freed pages go back to the page
 * allocator, not to the cache, so the next small-large object continues in the cache. */
static void test_small_spans_use_page_cache(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    char *a = gm_heap_alloc(h, &m, 40000, GM_NOSCAN); /* the first span: global, chunk base */
    char *b = gm_heap_alloc(h, &m, 40000, GM_NOSCAN); /* cache refilled with block 0..63 */
    CHECK_EQ((uintptr_t)a % GM_CHUNK_BYTES, 0);
    CHECK(b == a + 0xa000);
    CHECK_HEAP(h);
    gm_heap_free(h, &m, a);
    CHECK_HEAP(h);
    char *c = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK(c == b + 0xa000); /* from the cache, not a's pages */
    CHECK_HEAP(h);
    /* A 16-page object bypasses the cache; the cache's block counts as in use for the page
     * allocator, so the lowest run that fits is above it. */
    char *d = gm_heap_alloc(h, &m, 16 * GM_PAGE_SIZE, GM_NOSCAN);
    CHECK(d == a + 64 * GM_PAGE_SIZE);
    /* a's pages are free, but the cache still has room and is asked first. */
    char *e = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK(e == c + 0xa000);
    CHECK_HEAP(h);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.heap_inuse, 3 * 0xa000 + 16 * GM_PAGE_SIZE); /* b, c, e and d */
    CHECK_EQ(ms.heap_sys, 4 * MiB);
    gm_heap_destroy(h);
}

/* ---- zeroing ----------------------------------------------------------------------------------- */

static void test_needzero(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    char *a = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    gm_mspan *s = gm_mheap_span_of(h, (uintptr_t)a);
    CHECK_EQ(s->needzero, 0); /* fresh from the OS */
    CHECK(all_bytes(a, MiB, 0));
    memset(a, 0xab, MiB);
    gm_heap_free(h, &m, a);
    CHECK_HEAP(h);
    char *b = gm_heap_alloc(h, &m, MiB, GM_ZERO);
    CHECK(b == a);
    s = gm_mheap_span_of(h, (uintptr_t)b);
    CHECK_EQ(s->needzero, 1); /* reused pages: below the arena's zeroedBase */
    CHECK(all_bytes(b, MiB, 0));
    CHECK_HEAP(h);
    memset(b, 0xcd, MiB);
    gm_heap_free(h, &m, b);
    /* Without GM_ZERO the old bytes may remain (not asserted); with a larger request that
     * spans reused and fresh pages, GM_ZERO zeroes all of it. */
    char *c = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    CHECK(c == a);
    CHECK_EQ(gm_mheap_span_of(h, (uintptr_t)c)->needzero, 1);
    memset(c, 0xef, MiB);
    gm_heap_free(h, &m, c);
    char *d = gm_heap_alloc(h, &m, 2 * MiB, GM_ZERO | GM_SCAN);
    CHECK(d == a);
    CHECK_EQ(gm_mheap_span_of(h, (uintptr_t)d)->needzero, 1);
    CHECK(all_bytes(d, 2 * MiB, 0));
    CHECK_HEAP(h);
    /* Fresh pages above everything used so far: needzero 0, and zero. */
    char *e = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    CHECK(e == d + 2 * MiB);
    CHECK_EQ(gm_mheap_span_of(h, (uintptr_t)e)->needzero, 0);
    CHECK(all_bytes(e, MiB, 0));
    /* Pages from the P's cache: fresh ones need no zeroing either. */
    char *f = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    char *g = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    CHECK_EQ(gm_mheap_span_of(h, (uintptr_t)g)->needzero, 0);
    CHECK(all_bytes(g, 40000, 0));
    memset(g, 0x77, 40000);
    gm_heap_free(h, &m, g);
    (void)f;
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- growth ------------------------------------------------------------------------------------ */

static void test_growth_in_chunks(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.heap_sys, 0);
    static const struct {
        size_t size;
        uint64_t heap_sys;
    } steps[] = {
        {8 * MiB, 8 * MiB},                 /* ask = alignUp(1024 pages, 512) = 8 MiB */
        {MiB, 12 * MiB},                    /* no room left: one more 4 MiB chunk */
        {3 * MiB, 12 * MiB},                /* fits the rest of that chunk exactly */
        {4 * MiB + 1, 20 * MiB},            /* 513 pages: alignUp(513, 512) = 1024 pages */
        {40000, 20 * MiB},                  /* 5 pages from what is left */
        {4 * MiB - GM_PAGE_SIZE, 24 * MiB}, /* 511 pages; 448 free at the top: grow 4 MiB */
        {GM_PAGE_SIZE * 400, 24 * MiB},     /* 449 pages are left at the top: fits */
        {GM_PAGE_SIZE * 1000, 32 * MiB},    /* 1000 pages: alignUp(1000, 512) = 8 MiB */
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        void *p = gm_heap_alloc(h, &m, steps[i].size, GM_NOSCAN);
        CHECK(p != NULL);
        CHECK_HEAP(h);
        ms = gm_test_memstats(h, &m);
        if (ms.heap_sys != steps[i].heap_sys)
            fprintf(stderr, "  step %zu: HeapSys %llu, want %llu\n", i,
                    (unsigned long long)ms.heap_sys, (unsigned long long)steps[i].heap_sys);
        CHECK_EQ(ms.heap_sys, steps[i].heap_sys);
        CHECK_EQ(ms.heap_sys % (4 * MiB), 0);
        CHECK_EQ(ms.heap_sys, ms.heap_inuse + ms.heap_idle);
        /* Nothing was ever freed: every idle page is fresh, i.e. released. */
        CHECK_EQ(ms.heap_idle, ms.heap_released);
    }
    gm_heap_destroy(h);
}

/* ---- out of memory ----------------------------------------------------------------------------- */

static void test_enomem(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    void *keep = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    gm_memstats before = gm_test_memstats(h, &m);
    static const size_t sizes[] = {SIZE_MAX,
                                   SIZE_MAX / 2,
                                   SIZE_MAX - 8191,
                                   SIZE_MAX - 8192,
                                   (size_t)1 << 47,
                                   (size_t)1 << 41,
                                   ((size_t)1 << 40) + GM_PAGE_SIZE};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (unsigned fl = 0; fl < 2; fl++) {
            errno = 0;
            void *p = gm_heap_alloc(h, &m, sizes[i], fl ? GM_ZERO | GM_SCAN : GM_NOSCAN);
            CHECK(p == NULL);
            CHECK_EQ(errno, ENOMEM);
            CHECK_HEAP(h);
        }
        errno = 0;
        CHECK(gm_heap_alloc_aligned(h, &m, 1 << 16, sizes[i], 0) == NULL);
        CHECK_EQ(errno, ENOMEM);
        CHECK_HEAP(h);
    }
    gm_memstats after = gm_test_memstats(h, &m);
    CHECK_EQ(after.heap_sys, before.heap_sys); /* nothing was mapped for them */
    CHECK_EQ(after.mallocs, before.mallocs);
    /* The heap still works. */
    void *p = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    CHECK(p != NULL && p != keep);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- aligned large allocations --------------------------------------------------------------- */

static void test_aligned(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    static const size_t aligns[] = {1 << 14, 1 << 16, 1 << 20, 1 << 21};
    static const size_t sizes[] = {100000, 100, 40000, MiB, 3 * GM_PAGE_SIZE};
    static void *ptrs[64];
    int n = 0;
    /* Something first so the aligned runs must skip over used pages. */
    void *pad = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    for (size_t ai = 0; ai < sizeof aligns / sizeof aligns[0]; ai++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t al = aligns[ai], size = sizes[si];
            char *p = gm_heap_alloc_aligned(h, &m, al, size, 0);
            CHECK(p != NULL);
            if (!p) return;
            CHECK_EQ((uintptr_t)p % al, 0);
            size_t np = (size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE;
            CHECK_EQ(gm_heap_usable_size(h, p), np * GM_PAGE_SIZE);
            gm_mspan *s = gm_mheap_span_of(h, (uintptr_t)p);
            CHECK(s && s->base == (uintptr_t)p && s->npages == np && s->spanclass == 1);
            memset(p, 0x3c, np * GM_PAGE_SIZE);
            ptrs[n++] = p;
            CHECK_HEAP(h);
        }
    }
    /* The brief's case: 100000 bytes at 64 KiB. */
    char *q = gm_heap_alloc_aligned(h, &m, 1 << 16, 100000, 0);
    CHECK_EQ((uintptr_t)q % (1 << 16), 0);
    CHECK_EQ(gm_heap_usable_size(h, q), 13 * GM_PAGE_SIZE);
    CHECK_HEAP(h);
    gm_heap_free(h, &m, q);
    CHECK_HEAP(h);
    /* Free every other one, then the rest; the heap ends with only pad in use. */
    for (int i = 0; i < n; i += 2) {
        gm_heap_free(h, &m, ptrs[i]);
        CHECK_HEAP(h);
    }
    for (int i = 1; i < n; i += 2) {
        gm_heap_free(h, &m, ptrs[i]);
        CHECK_HEAP(h);
    }
    CHECK_EQ(h->heap_inuse, 5 * GM_PAGE_SIZE);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.large_alloc_count, (uint64_t)n + 2);
    CHECK_EQ(ms.large_free_count, (uint64_t)n + 1);
    CHECK_EQ(ms.heap_alloc, 5 * GM_PAGE_SIZE);
    /* Aligned again after all that: still aligned, still sound. */
    char *r = gm_heap_alloc_aligned(h, &m, 1 << 20, 5 * MiB, 0);
    CHECK(r && (uintptr_t)r % (1 << 20) == 0);
    CHECK_HEAP(h);
    (void)pad;
    gm_heap_destroy(h);
}

/* ---- misuse: fork death tests ------------------------------------------------------------- */

static void test_misuse_aborts(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    char *a = gm_heap_alloc(h, &m, 40000, GM_NOSCAN);
    char *b = gm_heap_alloc(h, &m, MiB, GM_NOSCAN);
    CHECK_HEAP(h);
    gm_expect_free_aborts(h, &m, a + 8, "interior pointer");
    gm_expect_free_aborts(h, &m, a + GM_PAGE_SIZE, "interior pointer, second page");
    gm_expect_free_aborts(h, &m, a + 40000, "past the requested size, inside the span");
    gm_expect_free_aborts(h, &m, b + MiB - 1, "last byte");
    gm_heap_free(h, &m, a);
    gm_heap_free(h, &m, b);
    CHECK_HEAP(h);
    gm_expect_free_aborts(h, &m, a, "double free");
    gm_expect_free_aborts(h, &m, b, "double free, 1 MiB");
    gm_expect_free_aborts(h, &m, b + 8, "interior pointer of a freed object");
    /* The parent's heap is as it was. */
    CHECK_EQ(h->heap_inuse, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

int main(void)
{
    test_sizes();
    test_free_returns_pages_at_once();
    test_small_spans_use_page_cache();
    test_needzero();
    test_growth_in_chunks();
    test_enomem();
    test_aligned();
    test_misuse_aborts();
    return gm_test_finish("test_large");
}
