/*
 * test_mspan.c — one span on its own (mspan.c; Go: mheap.go mspan, mbitmap.go nextFreeIndex /
 * refillAllocCache, the bitmap half of mgcsweep.go), reference §2.2, §2.3, §2.8.
 *
 * Most cases build a span struct in a static buffer (base = an 8 KiB-aligned static array,
 * npages from the class table) and drive gm_mspan_* directly, keeping alloc_count the way the
 * allocator does (nextFree increments it, sweep recomputes it). A reference model of "which
 * slots are allocated" is kept beside the span and compared bit for bit after every step, and
 * gm_mspan_check runs after every step. The last cases go through a private heap to show the
 * same order on the real allocation path (nextFreeFast + nextFree), and fork() death tests
 * show the internal-bug throws.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gm_test.h"
#include "gm_testing.h"

/* "objects" column of reference §1.2 (npages*8192/size); index 0 unused. */
static const uint16_t go_objects[68] = {
    0,  1024, 512, 341, 256, 170, 128, 102, 85, 73, 64, 56, 51, 46, 42, 39, 36,
    34, 32,   28,  25,  23,  21,  19,  18,  17, 16, 14, 12, 11, 10, 9,  8,  7,
    6,  11,   5,   9,   4,   7,   3,   8,   5,  7,  2,  5,  3,  4,  5,  6,  7,
    1,  6,    5,   4,   3,   2,   3,   4,   1,  4,  3,  2,  3,  1,  3,  2,  1,
};

/* Backing store for hand-built spans: the largest span (class 65) has 10 pages. */
static uint8_t span_mem[10 * 8192] __attribute__((aligned(8192)));
static gm_mspan span, bad;

/* The allocator's view of a span handed to an mcache: fresh, all slots free. */
static void init_span(gm_mspan *s, uint8_t sizeclass)
{
    memset(s, 0, sizeof *s);
    s->base = (uintptr_t)span_mem;
    s->npages = gm_class_to_allocnpages[sizeclass];
    gm_mspan_init_small(s, gm_make_spanclass(sizeclass, true));
    s->in_cache = 1; /* so gm_mspan_check also verifies the allocCache window */
}

/* nextFree as malloc.c does it: take the next index and count it. */
static uintptr_t take(gm_mspan *s)
{
    uintptr_t i = gm_mspan_next_free_index(s);
    if (i < s->nelems) s->alloc_count++;
    return i;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    return gm_test_splitmix(&rng_state);
}

/* ---- nextFreeIndex on a fresh span, every class ------------------------------------------- */

static void test_fresh_every_class(void)
{
    for (uint8_t sc = 1; sc < GM_NUM_SIZE_CLASSES; sc++) {
        init_span(&span, sc);
        CHECK_EQ(span.nelems, go_objects[sc]);
        CHECK_EQ(span.elemsize, gm_class_to_size[sc]);
        CHECK_EQ(span.limit, span.base + span.nelems * span.elemsize);
        CHECK_EQ(span.freeindex, 0);
        CHECK_EQ(span.alloc_cache, ~(uint64_t)0);
        CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
        uintptr_t prev_addr = 0;
        for (uintptr_t i = 0; i < span.nelems; i++) {
            uintptr_t got = take(&span);
            CHECK_EQ(got, i); /* increasing index, no gaps */
            CHECK_EQ(span.freeindex, i + 1);
            uintptr_t addr = span.base + got * span.elemsize;
            CHECK(addr > prev_addr || i == 0);
            prev_addr = addr;
            /* Crossing a 64-slot window boundary refills the cache from alloc_bits (all 0). */
            if ((i + 1) % 64 == 0 && i + 1 != span.nelems) CHECK_EQ(span.alloc_cache, ~(uint64_t)0);
            CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
        }
        /* Full: nextFreeIndex reports nelems, every time, without moving anything. */
        CHECK_EQ(take(&span), span.nelems);
        CHECK_EQ(take(&span), span.nelems);
        CHECK_EQ(span.freeindex, span.nelems);
        CHECK_EQ(span.alloc_count, span.nelems);
        CHECK_EQ(gm_mspan_count_alloc(&span), span.nelems);
        CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
    }
}

/* ---- sweep with a given freed set, then reuse -------------------------------------------- */

static bool model[GM_MAX_OBJS_PER_SPAN]; /* true = slot allocated */

/* alloc_bits must equal the model exactly, with nothing set past nelems. */
static void check_bits_equal_model(const gm_mspan *s)
{
    for (unsigned w = 0; w < GM_ALLOC_BITS_WORDS; w++) {
        uint64_t want = 0;
        for (unsigned b = 0; b < 64; b++)
            if (w * 64 + b < s->nelems && model[w * 64 + b]) want |= (uint64_t)1 << b;
        CHECK_EQ(atomic_load(&s->alloc_bits[w]), want);
        CHECK_EQ(atomic_load(&s->freed_bits[w]), 0);
    }
}

/* Free the slots of `freed` (in the order given), sweep, and check the equation
 * alloc_bits' = (alloc_bits | below(freeindex)) & ~freed. */
static void free_and_sweep(gm_mspan *s, const uintptr_t *freed, size_t nfreed)
{
    for (size_t k = 0; k < nfreed; k++) {
        CHECK(model[freed[k]]);
        CHECK(gm_mspan_set_freed(s, freed[k]));
        CHECK(!gm_mspan_set_freed(s, freed[k])); /* a second free of the same slot is seen */
        model[freed[k]] = false;
        CHECK_INVARIANTS(gm_mspan_check(s, GM_CHECKBUF));
    }
    uint8_t needzero_before = s->needzero;
    uintptr_t live = 0;
    for (uintptr_t i = 0; i < s->nelems; i++) live += model[i];
    CHECK_EQ(gm_mspan_sweep_bits(s), nfreed);
    CHECK_EQ(s->alloc_count, live);
    CHECK_EQ(s->freeindex, 0);
    CHECK_EQ(s->needzero, nfreed ? 1 : needzero_before);
    check_bits_equal_model(s);
    CHECK_EQ(s->alloc_cache, ~atomic_load(&s->alloc_bits[0]));
    CHECK_INVARIANTS(gm_mspan_check(s, GM_CHECKBUF));
}

/* Take n slots (or until full): each must be the lowest free slot of the model. */
static void take_lowest_first(gm_mspan *s, uintptr_t n)
{
    uintptr_t from = 0;
    for (uintptr_t k = 0; k < n; k++) {
        while (from < s->nelems && model[from]) from++;
        uintptr_t got = take(s);
        CHECK_EQ(got, from);
        if (got >= s->nelems) return;
        model[got] = true;
        CHECK_INVARIANTS(gm_mspan_check(s, GM_CHECKBUF));
    }
}

static void fill(gm_mspan *s, uint8_t sc)
{
    init_span(s, sc);
    memset(model, 0, sizeof model);
    take_lowest_first(s, s->nelems);
    CHECK_EQ(take(s), s->nelems);
}

enum { PAT_NONE, PAT_ALL, PAT_LAST, PAT_WINDOWS, PAT_EVERY3, PAT_RANDOM, PAT_HIGH_FIRST, NPAT };

/* Build a freed set of the allocated slots; returns its size. */
static size_t make_pattern(int pat, uintptr_t nelems, uintptr_t *out)
{
    size_t n = 0;
    switch (pat) {
    case PAT_NONE:
        break;
    case PAT_ALL:
        for (uintptr_t i = 0; i < nelems; i++) out[n++] = i;
        break;
    case PAT_LAST:
        out[n++] = nelems - 1;
        break;
    case PAT_WINDOWS: { /* both sides of every 64-slot boundary, and the last slot */
        static const uintptr_t cand[] = {63, 64, 127, 128, 191, 192, 255, 256, 319, 320, 1023};
        for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++)
            if (cand[k] < nelems) out[n++] = cand[k];
        if (nelems > 1 && (n == 0 || out[n - 1] != nelems - 1)) out[n++] = nelems - 1;
        break;
    }
    case PAT_EVERY3:
        for (uintptr_t i = 0; i < nelems; i += 3) out[n++] = i;
        break;
    case PAT_RANDOM:
        for (uintptr_t i = 0; i < nelems; i++)
            if (rng() & 1) out[n++] = i;
        break;
    case PAT_HIGH_FIRST: /* freed in decreasing order: reuse must still go up */
        for (uintptr_t i = nelems; i-- > 0;)
            if (i % 5 == 1) out[n++] = i;
        break;
    }
    return n;
}

static void test_sweep_and_reuse(void)
{
    /* nelems 1024, 512, 341, 256, 170, 128, 85, 64, 11, 5, 1: multiples of 64 and not. */
    static const uint8_t classes[] = {1, 2, 3, 4, 5, 6, 8, 10, 35, 36, 67};
    static uintptr_t freed[GM_MAX_OBJS_PER_SPAN];
    for (size_t ci = 0; ci < sizeof classes; ci++) {
        for (int pat = 0; pat < NPAT; pat++) {
            uint8_t sc = classes[ci];
            fill(&span, sc);
            CHECK_EQ(span.needzero, 0);
            size_t n = make_pattern(pat, span.nelems, freed);
            free_and_sweep(&span, freed, n);
            /* The freed slots come back lowest first, then the span is full again. */
            take_lowest_first(&span, n + 1);
            CHECK_EQ(span.alloc_count, span.nelems);
            CHECK_EQ(span.freeindex, span.nelems);

            /* Second round from the middle of the span: reuse only half the free slots, so
             * freeindex stops part way, then free a mix of old and new objects. */
            size_t n2 = make_pattern(PAT_RANDOM, span.nelems, freed);
            free_and_sweep(&span, freed, n2);
            take_lowest_first(&span, n2 / 2);
            size_t n3 = 0;
            for (uintptr_t i = 0; i < span.nelems; i++)
                if (model[i] && (rng() % 3 == 0)) freed[n3++] = i;
            free_and_sweep(&span, freed, n3);
            CHECK_EQ(span.needzero, n || n2 || n3 ? 1 : 0);
            take_lowest_first(&span, span.nelems + 1);
            CHECK_EQ(span.alloc_count, span.nelems);
        }
    }
}

/* A window that is entirely allocated is skipped (ctz == 64 loop), and the free bits the
 * cache shows past nelems never produce a slot. */
static void test_window_skips(void)
{
    static const uint8_t classes[] = {1, 3, 5, 8};
    for (size_t ci = 0; ci < sizeof classes; ci++) {
        uint8_t sc = classes[ci];
        /* Only the very last slot free: every earlier window is full. */
        fill(&span, sc);
        uintptr_t last = span.nelems - 1;
        free_and_sweep(&span, &last, 1);
        CHECK_EQ(take(&span), last);
        CHECK_EQ(span.freeindex, span.nelems);
        model[last] = true;
        CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
        /* Nothing free at all after a sweep: alloc_bits past nelems are 0 (free-looking) in
         * the last window, and nextFreeIndex must still answer nelems. */
        free_and_sweep(&span, NULL, 0);
        CHECK_EQ(take(&span), span.nelems);
        CHECK_EQ(span.freeindex, span.nelems);
        CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
        /* The first slot of a later window. */
        if (span.nelems > 64) {
            fill(&span, sc);
            uintptr_t s64 = 64;
            free_and_sweep(&span, &s64, 1);
            CHECK_EQ(take(&span), 64);
            CHECK_EQ(span.freeindex, 65);
            CHECK_EQ(take(&span), span.nelems);
            model[64] = true;
            CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
        }
    }
}

/* ---- objIndex ----------------------------------------------------------------------------- */

static void test_obj_index(void)
{
    for (uint8_t sc = 1; sc < GM_NUM_SIZE_CLASSES; sc++) {
        init_span(&span, sc);
        size_t bytes = span.npages * GM_PAGE_SIZE;
        size_t bad_count = 0;
        for (uintptr_t off = 0; off < bytes; off++)
            if (gm_mspan_obj_index(&span, span.base + off) != off / span.elemsize) bad_count++;
        CHECK_EQ(bad_count, 0);
        for (uintptr_t i = 0; i < span.nelems; i++) {
            CHECK_EQ(gm_mspan_obj_index(&span, span.base + i * span.elemsize), i);
            CHECK_EQ(gm_mspan_obj_index(&span, span.base + (i + 1) * span.elemsize - 1), i);
        }
    }
}

/* ---- large spans -------------------------------------------------------------------------- */

static void test_init_large(void)
{
    memset(&span, 0, sizeof span);
    span.base = (uintptr_t)span_mem;
    span.npages = 5;
    gm_mspan_init_large(&span, gm_make_spanclass(0, true));
    CHECK_EQ(span.elemsize, 0xa000); /* npages*8192, as Go reports 40000 */
    CHECK_EQ(span.nelems, 1);
    CHECK_EQ(span.freeindex, 1);
    CHECK_EQ(span.alloc_count, 1);
    CHECK_EQ(span.div_mul, 0);
    CHECK_EQ(span.limit, span.base + 0xa000);
    CHECK(gm_mspan_is_allocated(&span, 0));
    CHECK_EQ(gm_mspan_next_free_index(&span), 1); /* already full */
    CHECK_EQ(gm_mspan_obj_index(&span, span.base + 0x9fff), 0);
    CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
}

/* ---- the checker catches corruption --------------------------------------------------------- */

static void expect_caught(const char *what, const char *needle)
{
    char buf[512];
    const char *e = gm_mspan_check(&bad, buf, sizeof buf);
    CHECK(e != NULL);
    if (!e) {
        fprintf(stderr, "  corruption not caught: %s\n", what);
        return;
    }
    char base[32];
    snprintf(base, sizeof base, "%#lx", (unsigned long)bad.base);
    if (!strstr(e, needle) || !strstr(e, base)) {
        fprintf(stderr, "  %s: message \"%s\" lacks \"%s\" or \"%s\"\n", what, e, needle, base);
        CHECK(0);
    }
    memcpy(&bad, &span, sizeof bad); /* back to the sound copy for the next case */
}

static void test_checker_catches_corruption(void)
{
    init_span(&span, 5); /* 48-byte objects, 170 slots */
    memset(model, 0, sizeof model);
    take_lowest_first(&span, 100);
    uintptr_t fr[3] = {3, 40, 99};
    for (int k = 0; k < 3; k++) CHECK(gm_mspan_set_freed(&span, fr[k]));
    CHECK_INVARIANTS(gm_mspan_check(&span, GM_CHECKBUF));
    memcpy(&bad, &span, sizeof bad);
    CHECK_INVARIANTS(gm_mspan_check(&bad, GM_CHECKBUF)); /* the copy itself is sound */

    bad.alloc_count++;
    expect_caught("alloc_count + 1", "alloc_count");
    bad.alloc_count--;
    expect_caught("alloc_count - 1", "alloc_count");
    atomic_store(&bad.freeindex, bad.nelems + 1);
    expect_caught("freeindex > nelems", "freeindex");
    bad.limit += 48;
    expect_caught("limit", "limit");
    bad.base += 16;
    bad.limit += 16;
    expect_caught("base not page aligned", "page aligned");
    bad.elemsize = 32; /* class 4's size: fits the page, wrong class */
    bad.limit = bad.base + bad.nelems * 32;
    expect_caught("elemsize of another class", "class");
    bad.nelems = 200;
    bad.limit = bad.base + 200 * 48;
    expect_caught("nelems beyond the span", "exceed");
    atomic_fetch_or(&bad.freed_bits[2], (uint64_t)1 << 20); /* slot 148: never allocated */
    expect_caught("freed bit on a free slot", "freed but not allocated");
    bad.alloc_cache ^= 1; /* slot freeindex: the window no longer matches alloc_bits */
    expect_caught("allocCache window", "allocCache");
    atomic_store(&bad.alloc_bits[1], ~(uint64_t)0); /* count no longer matches */
    expect_caught("alloc_bits without alloc_count", "alloc_count");

    /* Large span with a small span's counters. */
    memset(&span, 0, sizeof span);
    span.base = (uintptr_t)span_mem;
    span.npages = 5;
    gm_mspan_init_large(&span, gm_make_spanclass(0, true));
    memcpy(&bad, &span, sizeof bad);
    bad.alloc_count = 0;
    expect_caught("large span alloc_count 0", "large span");
    bad.nelems = 2;
    bad.limit = bad.base + 2 * bad.elemsize;
    bad.npages = 10;
    expect_caught("large span with 2 slots", "large span");
}

/* ---- through a heap: nextFreeFast + nextFree hand out increasing addresses ----------------- */

static void test_heap_order_every_class(void)
{
    gm_heap_config cfg = {.nprocs = 1, .gc_percent = -1, .arena_hints = false};
    gm_mheap *h = gm_heap_create(&cfg);
    CHECK(h != NULL);
    if (!h) return;
    gm_m m;
    gm_m_init(&m, h);
    for (uint8_t sc = 1; sc < GM_NUM_SIZE_CLASSES; sc++) {
        size_t size = gm_class_to_size[sc];
        /* Scan objects never use the tiny allocator, so class 1 and 2 get their own slots. */
        unsigned flags = size < GM_TINY_SIZE ? GM_SCAN : GM_NOSCAN;
        uintptr_t first = 0;
        gm_mspan *s = NULL;
        for (uintptr_t i = 0; i < go_objects[sc]; i++) {
            uintptr_t p = (uintptr_t)gm_heap_alloc(h, &m, size, flags);
            if (i == 0) {
                s = gm_mheap_span_of(h, p);
                CHECK(s != NULL);
                if (!s) return;
                first = p;
                CHECK_EQ(p, s->base); /* a fresh span starts at slot 0 */
                CHECK_EQ(s->nelems, go_objects[sc]);
            }
            CHECK_EQ(p, first + i * size);
            if (i % 64 == 63 || i + 1 == go_objects[sc])
                CHECK_INVARIANTS(gm_heap_check(h, GM_CHECKBUF));
        }
        CHECK_EQ(s->alloc_count, s->nelems);
        CHECK_EQ(s->freeindex, s->nelems);
        /* The next object needs a new span. */
        uintptr_t p = (uintptr_t)gm_heap_alloc(h, &m, size, flags);
        CHECK(gm_mheap_span_of(h, p) != s);
        CHECK_INVARIANTS(gm_heap_check(h, GM_CHECKBUF));
    }
    gm_heap_destroy(h);
}

/* ---- internal-bug throws (fork death tests) ------------------------------------------------ */

static void child_sweep_unallocated(void *unused)
{
    (void)unused;
    init_span(&span, 5);
    take(&span);                  /* slot 0 only */
    gm_mspan_set_freed(&span, 7); /* slot 7 was never handed out */
    gm_mspan_sweep_bits(&span);
}

static void child_freeindex_past_nelems(void *unused)
{
    (void)unused;
    init_span(&span, 5);
    atomic_store(&span.freeindex, span.nelems + 3);
    gm_mspan_next_free_index(&span);
}

static void expect_throw(void (*fn)(void *), const char *needle)
{
    char out[2048];
    int st = gm_run_child(fn, NULL, out, sizeof out);
    CHECK(gm_child_aborted(st));
    CHECK(strstr(out, "gomalloc: fatal error: ") != NULL);
    CHECK(strstr(out, needle) != NULL);
    char base[32];
    snprintf(base, sizeof base, "%p", (void *)span_mem);
    CHECK(strstr(out, base) != NULL); /* the message names the span */
}

static void test_internal_bug_throws(void)
{
    expect_throw(child_sweep_unallocated, "never allocated");
    expect_throw(child_freeindex_past_nelems, "freeindex");
}

int main(void)
{
    test_fresh_every_class();
    test_sweep_and_reuse();
    test_window_skips();
    test_obj_index();
    test_init_large();
    test_checker_catches_corruption();
    test_heap_order_every_class();
    test_internal_bug_throws();
    return gm_test_finish("test_mspan");
}
