/*
 * test_api.c — the public API (include/gomalloc.h) on the process heap, and on private heaps
 * where a scenario needs isolation (OS fault injection).
 *
 *   - sizes 0..4096 and a spread up to 40 MiB: usable_size >= request, the full usable size
 *     can be written without disturbing any other live object (a shadow of patterns is
 *     verified at the end of every phase, and live ranges never overlap); malloc(0) gives
 *     distinct pointers, gm_alloc(0) always Go's zerobase, whose free is a no-op;
 *   - calloc and GM_ZERO read as zero, also on slots and pages reused dirty after free + gm_gc;
 *     calloc overflow is ENOMEM;
 *   - realloc keeps contents through tiny, small and large sizes, stays in place within a
 *     class, follows glibc for NULL and 0, and leaves the block intact when it fails;
 *   - gm_aligned_alloc / gm_posix_memalign for every power of two up to 4 MiB, and their
 *     EINVAL cases;
 *   - impossible sizes give NULL + ENOMEM;
 *   - OS failure injected at every OS call of a mixed scenario on a private heap;
 *   - misuse (invalid, interior and double frees of small, large and tiny objects, before and
 *     after a sweep; realloc of an interior or freed pointer) dies by SIGABRT in a forked
 *     child with a message naming the pointer and the error;
 *   - memstats counters for a known sequence, the tiny block that survives one cycle,
 *     gm_set_gc_percent and GOGC=off; gm_thread_detach.
 *
 * The test is single-threaded, so the process heap is quiescent between calls and
 * gm_heap_check runs after every step.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gm_test.h"
#include "gm_testing.h"

/* Sanitizers make every heap check some 50 times slower: fewer random steps there. */
#define RANDOM_MIX_STEPS (GM_TEST_SANITIZED ? 2000 : 5000)

/* The process heap must satisfy every invariant (called after every step). */
#define HEAP_OK() CHECK_INVARIANTS(gm_heap_check(gm_process_heap(), GM_CHECKBUF))

/* ---------------------------------------------------------------------------------------------
 * Patterns and the shadow of live objects
 * ------------------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    return gm_test_splitmix(&rng_state);
}

/* Word i of an object's pattern; bytes are taken from it little-end first. */
static inline uint64_t pattern_word(uint64_t seed, size_t i)
{
    return seed ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull);
}

static void fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_word(seed, i / 8);
        memcpy(b + i, &w, 8);
    }
    uint64_t w = pattern_word(seed, i / 8);
    for (unsigned k = 0; i < n; i++, k++) b[i] = (unsigned char)(w >> (8 * k));
}

/* Offset of the first byte that differs from the pattern, or n when all match. */
static size_t pattern_mismatch(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != pattern_word(seed, i / 8)) break;
    }
    uint64_t w = pattern_word(seed, i / 8);
    for (unsigned k = 0; i < n; i++, k = (k + 1) % 8) {
        if (k == 0) w = pattern_word(seed, i / 8);
        if (b[i] != (unsigned char)(w >> (8 * k))) return i;
    }
    return n;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

typedef struct {
    unsigned char *p;
    size_t size, usable;
    uint64_t seed;
} obj;

#define MAX_LIVE 8192
static obj live[MAX_LIVE];
static size_t nlive;

/* Record a fresh allocation: check its usable size and fill all of it. */
static void track(void *p, size_t size)
{
    CHECK(p != NULL);
    if (!p) return;
    size_t u = gm_usable_size(p);
    CHECK(u >= (size ? size : 1));
    if (nlive == MAX_LIVE) {
        fprintf(stderr, "shadow table full\n");
        exit(1);
    }
    obj *o = &live[nlive++];
    *o = (obj){.p = p, .size = size, .usable = u, .seed = rng()};
    fill(p, u, o->seed);
}

static void verify_obj(const obj *o)
{
    size_t at = pattern_mismatch(o->p, o->usable, o->seed);
    if (at != o->usable) {
        fprintf(stderr, "object %p (size %zu, usable %zu): byte %zu overwritten\n", (void *)o->p,
                o->size, o->usable, at);
    }
    CHECK(at == o->usable);
}

static int cmp_obj(const void *a, const void *b)
{
    const obj *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* Every live object still holds its pattern, and no two usable ranges overlap. */
static void verify_all(void)
{
    for (size_t i = 0; i < nlive; i++) verify_obj(&live[i]);
    obj *sorted = malloc(nlive * sizeof *sorted + 1);
    memcpy(sorted, live, nlive * sizeof *sorted);
    qsort(sorted, nlive, sizeof *sorted, cmp_obj);
    for (size_t i = 1; i < nlive; i++) {
        if (sorted[i - 1].p + sorted[i - 1].usable > sorted[i].p)
            fprintf(stderr, "objects %p+%zu and %p overlap\n", (void *)sorted[i - 1].p,
                    sorted[i - 1].usable, (void *)sorted[i].p);
        CHECK(sorted[i - 1].p + sorted[i - 1].usable <= sorted[i].p);
    }
    free(sorted);
}

/* Verify and free live[i] (moving the last entry into its place). */
static void untrack_free(size_t i)
{
    verify_obj(&live[i]);
    gm_free(live[i].p);
    live[i] = live[--nlive];
}

static void free_all_checked(void)
{
    while (nlive) {
        untrack_free(nlive - 1);
        HEAP_OK();
    }
}

/* With nothing live, gm_gc leaves no object in the heap. One exception, as in Go: a P's
 * current tiny block is marked when a cycle starts (gcMarkTinyAllocs), so an empty one
 * outlives that cycle and dies at the next (mcache.c). Hence two cycles. */
static void expect_empty_heap(void)
{
    gm_memstats ms;
    gm_gc();
    HEAP_OK();
    gm_read_memstats(&ms);
    HEAP_OK();
    CHECK(ms.heap_alloc <= (uint64_t)GM_TINY_SIZE * (uint64_t)gm_gomaxprocs());
    CHECK(ms.heap_objects <= (uint64_t)gm_gomaxprocs());
    gm_gc();
    HEAP_OK();
    gm_read_memstats(&ms);
    HEAP_OK();
    CHECK_EQ(ms.heap_alloc, 0);
    CHECK_EQ(ms.heap_objects, 0);
    CHECK_EQ(ms.mallocs, ms.frees);
}

/* ---------------------------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------------------------ */

static void test_every_small_size(void)
{
    for (size_t n = 0; n <= 4096; n++) {
        track(gm_malloc(n), n);
        HEAP_OK();
    }
    verify_all();
    /* Free every other one, then fill the holes again after a sweep. */
    for (size_t i = nlive; i-- > 0;)
        if (i % 2) {
            untrack_free(i);
            HEAP_OK();
        }
    gm_gc();
    HEAP_OK();
    for (size_t n = 0; n <= 4096; n += 2) {
        track(gm_malloc(n), n);
        HEAP_OK();
    }
    verify_all();
    free_all_checked();
    expect_empty_heap();
}

static void test_gm_alloc_flags(void)
{
    static const unsigned flags[] = {GM_NOSCAN, GM_SCAN, GM_ZERO, GM_SCAN | GM_ZERO};
    for (size_t n = 1; n <= 4096; n += (n < 64 ? 1 : 37)) {
        for (unsigned f = 0; f < 4; f++) {
            void *p = gm_alloc(n, flags[f]);
            HEAP_OK();
            CHECK(p != NULL);
            if (!p) continue;
            if (flags[f] & GM_ZERO) CHECK(all_zero(p, n));
            /* Pointer-bearing objects are never tiny: word aligned and at least 8 bytes. */
            if (flags[f] & GM_SCAN) CHECK((uintptr_t)p % 8 == 0 && gm_usable_size(p) >= 8);
            track(p, n);
        }
    }
    verify_all();
    free_all_checked();
    expect_empty_heap();
}

static void test_size_spread(void)
{
    static const size_t sizes[] = {
        4097,        5000,    8191,           8192,    8193,         12345,    16384,
        24577,       32767,   32768,          32769,   40000,        65535,    65536,
        65537,       100000,  131072,         262145,  1 * MiB - 1,  1 * MiB,  1 * MiB + 1,
        3 * MiB + 7, 4 * MiB, 4 * MiB + 8193, 8 * MiB, 17 * MiB + 3, 33 * MiB, 40 * MiB,
    };
    unsigned flags = GM_NOSCAN;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = gm_alloc(sizes[i], flags | GM_ZERO);
        HEAP_OK();
        CHECK(p && all_zero(p, sizes[i]));
        track(p, sizes[i]);
        track(gm_malloc(sizes[i]), sizes[i]);
        HEAP_OK();
        if (sizes[i] > 32 * KiB) CHECK_EQ(live[nlive - 1].usable % GM_PAGE_SIZE, 0);
        flags ^= GM_SCAN;
    }
    verify_all();
    /* Free the middle third, allocate across the holes, verify again. */
    size_t third = nlive / 3;
    for (size_t k = 0; k < third; k++) {
        untrack_free(third);
        HEAP_OK();
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i += 3) {
        track(gm_malloc(sizes[i] / 2 + 1), sizes[i] / 2 + 1);
        HEAP_OK();
    }
    verify_all();
    free_all_checked();
    expect_empty_heap();
}

/* A seeded random mix of every kind of size, interleaving frees, with the shadow. */
static void test_random_mix(void)
{
    for (int step = 0; step < RANDOM_MIX_STEPS; step++) {
        uint64_t r = rng();
        if (nlive > 0 && (r % 100 < 45 || nlive >= 1000)) {
            untrack_free((size_t)(rng() % nlive));
        } else {
            size_t n;
            switch (r % 8) {
            case 0:
            case 1:
            case 2:
                n = 1 + rng() % 15;
                break;
            case 3:
            case 4:
                n = 16 + rng() % 1024;
                break;
            case 5:
                n = 1024 + rng() % (31 * KiB);
                break;
            case 6:
                n = 32 * KiB + rng() % (200 * KiB);
                break;
            default:
                n = (size_t)1 << (rng() % 21);
                break;
            }
            track(gm_alloc(n, r & 64 ? GM_SCAN : GM_NOSCAN), n);
        }
        HEAP_OK();
        if (step % 500 == 499) {
            verify_all();
            gm_gc();
            HEAP_OK();
        }
    }
    verify_all();
    free_all_checked();
    expect_empty_heap();
}

static void test_zero_sizes(void)
{
    void *z = gm_alloc(0, GM_NOSCAN);
    CHECK(z != NULL);
    CHECK(gm_alloc(0, GM_SCAN) == z);
    CHECK(gm_alloc(0, GM_ZERO) == z);
    CHECK(gm_alloc(0, GM_SCAN | GM_ZERO) == z);
    CHECK_EQ(gm_usable_size(z), 0);
    gm_free(z); /* zerobase: accepted and ignored, any number of times */
    gm_free(z);
    HEAP_OK();
    CHECK(gm_alloc(0, GM_NOSCAN) == z);
    /* realloc of zerobase is an allocation. */
    void *r = gm_realloc(z, 24);
    CHECK(r != NULL && r != z);
    track(r, 24);
    HEAP_OK();

    /* gm_malloc(0): distinct, freeable, usable pointers. */
    void *ps[64];
    for (int i = 0; i < 64; i++) {
        ps[i] = gm_malloc(0);
        HEAP_OK();
        CHECK(ps[i] != NULL && ps[i] != z);
        CHECK(gm_usable_size(ps[i]) >= 1);
        for (int j = 0; j < i; j++) CHECK(ps[j] != ps[i]);
    }
    for (int i = 0; i < 64; i++) {
        gm_free(ps[i]);
        HEAP_OK();
    }
    gm_free(NULL);
    CHECK_EQ(gm_usable_size(NULL), 0);
    void *c = gm_calloc(0, 0);
    CHECK(c != NULL && c != z);
    gm_free(c);
    HEAP_OK();
    free_all_checked();
    expect_empty_heap();
}

/* ---------------------------------------------------------------------------------------------
 * calloc and GM_ZERO on reused memory
 * ------------------------------------------------------------------------------------------ */

static void test_calloc(void)
{
    static const size_t sizes[] = {1,    3,    8,     12,    16,    24,     100,    1000,
                                   4096, 5000, 20000, 32768, 40000, 100000, 2 * MiB};
    enum { K = 40 };
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        size_t k = n > 64 * KiB ? 3 : K;
        void *old[2 * K];
        /* Allocate 2k, dirty them, free every other one: the survivors keep their spans in
         * use, so after the sweep the freed slots (or, for large objects, the freed pages)
         * are handed out again. Tiny objects share 16-byte blocks, which die only with their
         * last object: free the first half instead, so whole blocks die. */
        bool tiny = n < 16;
        for (size_t i = 0; i < 2 * k; i++) {
            old[i] = gm_malloc(n);
            CHECK(old[i] != NULL);
            memset(old[i], 0xa5, gm_usable_size(old[i]));
            HEAP_OK();
        }
        for (size_t i = 0; i < 2 * k; i++) {
            if (tiny ? i < k : i % 2 == 0) {
                gm_free(old[i]);
                old[i] = (void *)((uintptr_t)old[i] & ~(uintptr_t)(tiny ? 15 : 0));
            } else {
                /* the survivors join the shadow, with a pattern */
                size_t u = gm_usable_size(old[i]);
                live[nlive++] = (obj){.p = old[i], .size = n, .usable = u, .seed = rng()};
                fill(old[i], u, live[nlive - 1].seed);
            }
            HEAP_OK();
        }
        gm_gc();
        HEAP_OK();
        size_t reused = 0;
        for (size_t i = 0; i < k; i++) {
            unsigned char *p =
                i % 2 ? gm_calloc(n, 1) : gm_alloc(n, GM_ZERO | (i % 4 ? GM_SCAN : 0));
            HEAP_OK();
            CHECK(p != NULL);
            if (!p) continue;
            uintptr_t b = (uintptr_t)p & ~(uintptr_t)(tiny ? 15 : 0);
            for (size_t j = 0; j < 2 * k; j++)
                if (tiny ? j < k : j % 2 == 0) reused += b == (uintptr_t)old[j];
            /* The whole slot reads as zero, not just the bytes asked for. */
            size_t u = gm_usable_size(p);
            if (!all_zero(p, u)) fprintf(stderr, "calloc(%zu) = %p: dirty (usable %zu)\n", n, p, u);
            CHECK(all_zero(p, n));
            CHECK(all_zero(p, u));
            track(p, n);
        }
        /* The point of the test: memory really was reused dirty. */
        if (!reused) fprintf(stderr, "calloc(%zu): no slot was reused\n", n);
        CHECK(reused > 0);
        verify_all();
        free_all_checked();
        gm_gc();
        HEAP_OK();
    }

    /* Pages of a dirty large object, reused for small spans. */
    unsigned char *big = gm_malloc(4 * MiB);
    CHECK(big != NULL);
    memset(big, 0x5a, 4 * MiB);
    gm_free(big);
    HEAP_OK();
    size_t inside = 0;
    for (int i = 0; i < 3000; i++) {
        size_t n = 16 + (size_t)(rng() % 3000);
        unsigned char *p = gm_calloc(1, n);
        HEAP_OK();
        CHECK(p && all_zero(p, gm_usable_size(p)));
        inside += p >= big && p < big + 4 * MiB;
        track(p, n);
    }
    CHECK(inside > 0);
    verify_all();
    free_all_checked();

    /* Overflow. */
    errno = 0;
    CHECK(gm_calloc(SIZE_MAX / 2 + 1, 3) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(gm_calloc(3, SIZE_MAX / 2 + 1) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(gm_calloc((size_t)1 << 32, (size_t)1 << 32) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(gm_calloc(SIZE_MAX, 1) == NULL);
    CHECK_EQ(errno, ENOMEM);
    HEAP_OK();
    expect_empty_heap();
}

/* ---------------------------------------------------------------------------------------------
 * realloc
 * ------------------------------------------------------------------------------------------ */

static void test_realloc_chain(void)
{
    static const size_t chain[] = {1,    5,     15,    16,          17,      100,   1000,
                                   5000, 32768, 32769, 40000,       1 * MiB, 50000, 3000,
                                   200,  12,    3,     6 * MiB + 1, 9,       40000, 1};
    /* Other live objects around, to catch a copy that runs past the block. */
    for (int i = 0; i < 200; i++) track(gm_malloc(1 + rng() % 600), 0);
    HEAP_OK();
    unsigned char *p = gm_realloc(NULL, chain[0]); /* realloc(NULL, n) = malloc(n) */
    CHECK(p != NULL);
    size_t have = gm_usable_size(p);
    uint64_t seed = rng();
    fill(p, have, seed);
    for (size_t i = 1; i < sizeof chain / sizeof chain[0]; i++) {
        size_t n = chain[i];
        unsigned char *q = gm_realloc(p, n);
        HEAP_OK();
        CHECK(q != NULL);
        if (!q) break;
        size_t keep = have < n ? have : n;
        CHECK_EQ(pattern_mismatch(q, keep, seed), keep);
        p = q;
        have = gm_usable_size(p);
        CHECK(have >= n);
        seed = rng();
        fill(p, have, seed);
    }
    verify_all();
    /* realloc(p, 0) frees p and returns NULL (glibc). */
    CHECK(gm_realloc(p, 0) == NULL);
    HEAP_OK();
    free_all_checked();
    expect_empty_heap();
}

static void test_realloc_in_place(void)
{
    /* Same class: same pointer. 100 -> class 112. */
    unsigned char *p = gm_malloc(100);
    CHECK(gm_usable_size(p) == 112);
    CHECK(gm_realloc(p, 112) == p);
    CHECK(gm_realloc(p, 97) == p);
    CHECK(gm_realloc(p, 100) == p);
    HEAP_OK();
    gm_free(p);
    /* Large: same page count. */
    p = gm_malloc(40000); /* 5 pages */
    CHECK(gm_usable_size(p) == 5 * GM_PAGE_SIZE);
    CHECK(gm_realloc(p, 5 * GM_PAGE_SIZE) == p);
    CHECK(gm_realloc(p, 4 * GM_PAGE_SIZE + 1) == p);
    HEAP_OK();
    gm_free(p);
    /* A tiny object shrinking within its room. */
    p = gm_malloc(12);
    size_t u = gm_usable_size(p);
    CHECK(u >= 12 && u < 16);
    CHECK(gm_realloc(p, 7) == p);
    CHECK(gm_realloc(p, u) == p);
    HEAP_OK();
    gm_free(p);
    /* Every class boundary: the largest size of each class stays in place. */
    for (size_t n = 16; n <= 32 * KiB; n = n < 1024 ? n + 16 : n + 512) {
        p = gm_malloc(n);
        size_t cls = gm_usable_size(p);
        CHECK(gm_realloc(p, cls) == p);
        CHECK(gm_realloc(p, n) == p);
        gm_free(p);
        HEAP_OK();
    }
    expect_empty_heap();
}

static void test_realloc_failure(void)
{
    static const size_t impossible[] = {SIZE_MAX, SIZE_MAX - 8192, (size_t)1 << 60,
                                        SIZE_MAX - 4 * MiB};
    static const size_t starts[] = {7, 100, 5000, 100000};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        track(gm_malloc(starts[s]), starts[s]);
        obj *o = &live[nlive - 1];
        for (size_t i = 0; i < sizeof impossible / sizeof impossible[0]; i++) {
            errno = 0;
            CHECK(gm_realloc(o->p, impossible[i]) == NULL);
            CHECK_EQ(errno, ENOMEM);
            HEAP_OK();
            CHECK_EQ(gm_usable_size(o->p), o->usable);
            verify_obj(o);
        }
    }
    errno = 0;
    CHECK(gm_realloc(NULL, SIZE_MAX) == NULL);
    CHECK_EQ(errno, ENOMEM);
    free_all_checked();
    expect_empty_heap();
}

/* ---------------------------------------------------------------------------------------------
 * Alignment
 * ------------------------------------------------------------------------------------------ */

static void test_alignment(void)
{
    for (unsigned lg = 0; lg <= 22; lg++) {
        size_t a = (size_t)1 << lg;
        const size_t sizes[] = {0, 1, a / 2, a - 1 ? a - 1 : 1, a, a + 1, 3 * a, 100, 5000};
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            errno = 0;
            unsigned char *p = gm_aligned_alloc(a, n);
            HEAP_OK();
            CHECK(p != NULL);
            if (p) {
                if ((uintptr_t)p % a) fprintf(stderr, "aligned_alloc(%zu, %zu) = %p\n", a, n, p);
                CHECK((uintptr_t)p % a == 0);
                track(p, n);
            }
            void *q = (void *)0x1;
            int rc = gm_posix_memalign(&q, a, n);
            HEAP_OK();
            if (a % sizeof(void *)) {
                CHECK_EQ(rc, EINVAL);
                CHECK(q == (void *)0x1);
            } else {
                CHECK_EQ(rc, 0);
                CHECK(q != (void *)0x1 && (uintptr_t)q % a == 0);
                if (!rc) track(q, n);
            }
        }
        verify_all();
        free_all_checked();
    }
    expect_empty_heap();

    /* Not a power of two. */
    static const size_t bad[] = {0, 3, 24, 48, 4095, 12288, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK(gm_aligned_alloc(bad[i], 64) == NULL);
        CHECK_EQ(errno, EINVAL);
        void *q = (void *)0x1;
        CHECK_EQ(gm_posix_memalign(&q, bad[i], 64), EINVAL);
        CHECK(q == (void *)0x1);
        HEAP_OK();
    }
    /* Powers of two below sizeof(void *) are fine for aligned_alloc only. */
    for (size_t a = 1; a < sizeof(void *); a *= 2) {
        void *q = (void *)0x1;
        CHECK_EQ(gm_posix_memalign(&q, a, 64), EINVAL);
        CHECK(q == (void *)0x1);
    }
    /* Impossible sizes: ENOMEM through the return value; errno and *out untouched. */
    void *q = (void *)0x1;
    errno = 1234;
    CHECK_EQ(gm_posix_memalign(&q, 64, SIZE_MAX), ENOMEM);
    CHECK(q == (void *)0x1);
    CHECK_EQ(errno, 1234);
    CHECK_EQ(gm_posix_memalign(&q, (size_t)1 << 20, SIZE_MAX - 8192), ENOMEM);
    CHECK(q == (void *)0x1);
    errno = 0;
    CHECK(gm_aligned_alloc(16, SIZE_MAX) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(gm_aligned_alloc((size_t)1 << 22, SIZE_MAX - 8192) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(gm_aligned_alloc((size_t)1 << 62, 1) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(gm_aligned_alloc((size_t)1 << 63, 0) == NULL);
    CHECK_EQ(errno, ENOMEM);
    HEAP_OK();
    expect_empty_heap();
}

/* ---------------------------------------------------------------------------------------------
 * Impossible requests
 * ------------------------------------------------------------------------------------------ */

static void test_huge(void)
{
    static const size_t huge[] = {
        SIZE_MAX,        SIZE_MAX - 8192,       SIZE_MAX - 8191, (size_t)1 << 60,
        (size_t)1 << 47, ((size_t)1 << 48) + 1, SIZE_MAX / 2,    SIZE_MAX - 40 * 1024 * 1024};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        CHECK(gm_malloc(huge[i]) == NULL);
        CHECK_EQ(errno, ENOMEM);
        HEAP_OK();
        errno = 0;
        CHECK(gm_alloc(huge[i], GM_SCAN | GM_ZERO) == NULL);
        CHECK_EQ(errno, ENOMEM);
        HEAP_OK();
        errno = 0;
        CHECK(gm_calloc(1, huge[i]) == NULL);
        CHECK_EQ(errno, ENOMEM);
        HEAP_OK();
    }
    /* The heap is still fine afterwards. */
    track(gm_malloc(100), 100);
    track(gm_malloc(100000), 100000);
    HEAP_OK();
    free_all_checked();
    expect_empty_heap();
}

/* ---------------------------------------------------------------------------------------------
 * OS failure on a private heap
 * ------------------------------------------------------------------------------------------ */

#define FAULT_CHECK(h) CHECK_INVARIANTS(gm_heap_check((h), GM_CHECKBUF))

typedef struct {
    unsigned char *p;
    size_t usable, filled; /* filled: the pattern covers [0, filled) (capped for speed) */
    uint64_t seed;
} fobj;

#define FAULT_FILL_MAX (256 * KiB)

static fobj fobj_make(unsigned char *p, size_t usable)
{
    fobj o = {p, usable, usable < FAULT_FILL_MAX ? usable : FAULT_FILL_MAX, rng()};
    fill(p, o.filled, o.seed);
    return o;
}

static void fobj_verify(const fobj *o)
{
    CHECK_EQ(pattern_mismatch(o->p, o->filled, o->seed), o->filled);
}

/* A mixed scenario on h; returns how many allocations failed. Every failure must be ENOMEM,
 * every success a usable block. */
static unsigned fault_scenario(gm_mheap *h, gm_m *m)
{
    /* The last round also asks for more than one 64 MiB arena (heap checks before it stay
     * cheap: gm_heap_check walks every grown page). */
    static const size_t sizes[] = {8,     3, 100,     40000, 1000,  1 * MiB,  5,   16, 4096, 200000,
                                   32768, 9, 3 * MiB, 24,    20000, 65 * MiB, 640, 12, 70000};
    fobj objs[3 * sizeof sizes / sizeof sizes[0] + 8];
    size_t n = 0;
    unsigned failed = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            if (sizes[i] > 64 * MiB && round < 2) continue;
            errno = 0;
            unsigned flags = (i + (size_t)round) % 3 == 0 ? GM_SCAN : GM_NOSCAN;
            unsigned char *p = gm_heap_alloc(h, m, sizes[i], flags);
            FAULT_CHECK(h);
            if (!p) {
                CHECK_EQ(errno, ENOMEM);
                failed++;
                continue;
            }
            size_t u = gm_heap_usable_size(h, p);
            CHECK(u >= sizes[i]);
            objs[n++] = fobj_make(p, u);
        }
        /* Free every third object and start a cycle: the freed slots come back. */
        for (size_t i = 0; i < n;) {
            if (i % 3 == 0) {
                fobj_verify(&objs[i]);
                gm_heap_free(h, m, objs[i].p);
                objs[i] = objs[--n];
                FAULT_CHECK(h);
            } else {
                i++;
            }
        }
        gm_heap_gc(h, m);
        FAULT_CHECK(h);
        /* aligned and realloc paths */
        errno = 0;
        unsigned char *a = gm_heap_alloc_aligned(h, m, (size_t)1 << (14 + round), 5000, GM_NOSCAN);
        FAULT_CHECK(h);
        if (a) {
            CHECK((uintptr_t)a % ((size_t)1 << (14 + round)) == 0);
            gm_heap_free(h, m, a);
            FAULT_CHECK(h);
        } else {
            CHECK_EQ(errno, ENOMEM);
            failed++;
        }
        if (n) {
            errno = 0;
            size_t want = objs[0].usable * 3 + 50000;
            unsigned char *r = gm_heap_realloc(h, m, objs[0].p, want);
            FAULT_CHECK(h);
            if (r) {
                objs[0].p = r;
                fobj_verify(&objs[0]);
                objs[0] = fobj_make(r, gm_heap_usable_size(h, r));
            } else {
                fobj_verify(&objs[0]);
                CHECK_EQ(errno, ENOMEM);
                failed++;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        fobj_verify(&objs[i]);
        gm_heap_free(h, m, objs[i].p);
        FAULT_CHECK(h);
    }
    gm_heap_gc(h, m);
    FAULT_CHECK(h);
    return failed;
}

/* After arming gm_sys_fail_after(n) and running a scenario: did the injected failure fire?
 * If not, the countdown is still >= 0 and one of the next n+1 OS calls fails. */
static bool injected_failure_fired(long n)
{
    for (long i = 0; i <= n; i++) {
        void *v = gm_sys_alloc(4096, NULL);
        if (!v) return false;
        gm_sys_free(v, 4096, NULL);
    }
    return true;
}

static void test_fault_injection(void)
{
    gm_heap_config cfg = {.nprocs = 2, .gc_percent = 100, .arena_hints = false};
    long n;
    unsigned create_failed = 0, runs_with_failures = 0;
    for (n = 0; n < 4000; n++) {
        gm_sys_fail_after(n);
        gm_mheap *h = gm_heap_create(&cfg);
        gm_m m;
        unsigned failed = 0;
        if (h) {
            gm_m_init(&m, h);
            FAULT_CHECK(h);
            failed = fault_scenario(h, &m);
        } else {
            create_failed++;
        }
        bool fired = injected_failure_fired(n);
        gm_sys_fail_after(-1);
        runs_with_failures += failed > 0;
        if (h) {
            /* Disarmed: the same heap works normally again. */
            CHECK_EQ(fault_scenario(h, &m), 0);
            gm_memstats ms;
            gm_heap_read_memstats(h, &m, &ms);
            CHECK_EQ(ms.heap_alloc, 0);
            CHECK_EQ(ms.heap_objects, 0);
            FAULT_CHECK(h);
            gm_m_detach(&m);
            gm_heap_destroy(h);
        }
        if (!fired) break; /* the scenario made fewer than n+1 OS calls: every call was hit */
    }
    printf("fault injection: %ld OS calls covered, heap creation failed %u times, "
           "scenario saw ENOMEM in %u runs\n",
           n, create_failed, runs_with_failures);
    CHECK(n < 4000);
    CHECK(create_failed > 0);
    CHECK(runs_with_failures > 0);
    HEAP_OK();
}

/* ---------------------------------------------------------------------------------------------
 * Misuse: death tests
 * ------------------------------------------------------------------------------------------ */

enum {
    DIE_FREE,            /* gm_free(p) */
    DIE_FREE_TWICE,      /* gm_free(p); gm_free(p) */
    DIE_FREE_GC_FREE,    /* gm_free(p); gm_gc(); gm_free(p) */
    DIE_TINY_DEAD,       /* gm_free(q); gm_free(p); retire the block; gm_free(p) */
    DIE_TINY_GC,         /* gm_free(q); gm_free(p); gm_gc(); gm_free(p) */
    DIE_REALLOC,         /* gm_realloc(p, 200) */
    DIE_FREE_REALLOC,    /* gm_free(p); gm_realloc(p, gm_usable_size-sized request) */
    DIE_FREE_GC_REALLOC, /* gm_free(p); gm_gc(); gm_realloc(p, same class) */
};

typedef struct {
    int how;
    void *p, *q;
} death;

static void die(void *arg)
{
    const death *d = arg;
    switch (d->how) {
    case DIE_FREE:
        gm_free(d->p);
        break;
    case DIE_FREE_TWICE:
        gm_free(d->p);
        gm_free(d->p);
        break;
    case DIE_FREE_GC_FREE:
        gm_free(d->p);
        gm_gc();
        gm_free(d->p);
        break;
    case DIE_TINY_GC:
        gm_free(d->q);
        gm_free(d->p);
        gm_gc(); /* the block, current and empty, survives this cycle */
        gm_free(d->p);
        break;
    case DIE_TINY_DEAD: {
        gm_free(d->q);
        gm_free(d->p);
        gm_memstats ms;
        gm_read_memstats(&ms); /* drops the current tiny block: it dies, empty */
        gm_free(d->p);
        break;
    }
    case DIE_REALLOC:
        (void)gm_realloc(d->p, 200);
        break;
    case DIE_FREE_REALLOC:
        gm_free(d->p);
        (void)gm_realloc(d->p, 100); /* the same class as the freed object */
        break;
    case DIE_FREE_GC_REALLOC:
        gm_free(d->p);
        gm_gc();
        (void)gm_realloc(d->p, 100);
        break;
    }
}

/* Run d in a child; it must die by SIGABRT with "gomalloc: free(<bad>): ...<kind>...". */
static void expect_death(const char *name, death d, const void *bad, const char *kind)
{
    char out[2048];
    int st = gm_run_child(die, &d, out, sizeof out);
    char want[128];
    snprintf(want, sizeof want, "gomalloc: free(%p): ", bad);
    bool died = gm_child_aborted(st);
    bool named =
        strncmp(out, "gomalloc: free(0x", 17) == 0 && strncmp(out, want, strlen(want)) == 0;
    char *nl = strchr(out, '\n');
    if (nl) *nl = 0;
    bool kinded = strstr(out, kind) != NULL;
    if (!died || !named || !kinded)
        fprintf(stderr, "death test '%s': status %#x, message \"%s\", want \"%s...%s...\"\n", name,
                st, out, want, kind);
    CHECK(died);
    CHECK(named);
    CHECK(kinded);
}

static void test_misuse(void)
{
    char on_stack[32] = {0};
    expect_death("stack address", (death){DIE_FREE, on_stack, NULL}, on_stack,
                 "not allocated by gomalloc");
    void *libc = malloc(64);
    expect_death("libc pointer", (death){DIE_FREE, libc, NULL}, libc, "not allocated by gomalloc");
    free(libc);

    unsigned char *small = gm_malloc(100);
    unsigned char *small2 = gm_malloc(100);
    HEAP_OK();
    expect_death("middle of a small object", (death){DIE_FREE, small + 16, NULL}, small + 16,
                 "interior pointer");
    expect_death("last byte of a small object", (death){DIE_FREE, small + 111, NULL}, small + 111,
                 "interior pointer");
    expect_death("small object freed twice", (death){DIE_FREE_TWICE, small, NULL}, small,
                 "double free");
    /* small2 keeps the span alive across the sweep, so the slot is found free. */
    CHECK(gm_mheap_span_of(gm_process_heap(), (uintptr_t)small) ==
          gm_mheap_span_of(gm_process_heap(), (uintptr_t)small2));
    expect_death("small object freed twice across gm_gc", (death){DIE_FREE_GC_FREE, small, NULL},
                 small, "double free");
    expect_death("realloc of an interior pointer", (death){DIE_REALLOC, small + 8, NULL}, small + 8,
                 "realloc of an interior");
    /* realloc of a freed object must not hand the dead slot back as if it were live. */
    expect_death("realloc of a freed small object", (death){DIE_FREE_REALLOC, small, NULL}, small,
                 "freed");
    expect_death("realloc of a freed and swept small object",
                 (death){DIE_FREE_GC_REALLOC, small, NULL}, small, "freed");

    unsigned char *large = gm_malloc(100000);
    HEAP_OK();
    expect_death("pointer into a large object", (death){DIE_FREE, large + 3 * GM_PAGE_SIZE, NULL},
                 large + 3 * GM_PAGE_SIZE, "interior pointer into a large object");
    expect_death("second byte of a large object", (death){DIE_FREE, large + 1, NULL}, large + 1,
                 "interior pointer into a large object");
    expect_death("large object freed twice", (death){DIE_FREE_TWICE, large, NULL}, large,
                 "already freed");
    expect_death("realloc into a large object", (death){DIE_REALLOC, large + 64, NULL}, large + 64,
                 "realloc of an interior");

    /* Class 5 (48 bytes): 170 objects use 8160 of 8192 bytes; the 32-byte tail is no object. */
    unsigned char *o48 = gm_malloc(48);
    gm_mspan *s48 = gm_mheap_span_of(gm_process_heap(), (uintptr_t)o48);
    CHECK(s48 && s48->limit < s48->base + s48->npages * GM_PAGE_SIZE);
    void *tail = (void *)s48->limit;
    expect_death("tail waste after a span's last object", (death){DIE_FREE, tail, NULL}, tail,
                 "not allocated by gomalloc");

    /* Tiny objects: drop the current block first, so a and b share a fresh one. */
    gm_memstats ms;
    gm_read_memstats(&ms);
    unsigned char *ta = gm_malloc(8), *tb = gm_malloc(8);
    CHECK(tb == ta + 8);
    HEAP_OK();
    expect_death("tiny object freed twice", (death){DIE_FREE_TWICE, ta, NULL}, ta, "double free");
    expect_death("second tiny object freed twice", (death){DIE_FREE_TWICE, tb, NULL}, tb,
                 "double free");
    expect_death("tiny interior pointer", (death){DIE_FREE, ta + 3, NULL}, ta + 3,
                 "interior pointer");
    /* Both objects freed and the block retired: the block died; free again. */
    expect_death("tiny object (offset 0) freed twice after its block died",
                 (death){DIE_TINY_DEAD, ta, tb}, ta, "double free");
    expect_death("tiny object (offset 8) freed twice after its block died",
                 (death){DIE_TINY_DEAD, tb, ta}, tb, "double free");
    /* Both objects freed while the block is current; a cycle starts (the empty block
     * survives it, as Go marks the current tiny block); then a second free. */
    expect_death("tiny object (offset 0) freed twice across gm_gc", (death){DIE_TINY_GC, ta, tb},
                 ta, "double free");
    expect_death("tiny object (offset 8) freed twice across gm_gc", (death){DIE_TINY_GC, tb, ta},
                 tb, "double free");

    gm_free(small);
    gm_free(small2);
    gm_free(large);
    gm_free(o48);
    gm_free(ta);
    gm_free(tb);
    HEAP_OK();
    expect_empty_heap();
}

/* ---------------------------------------------------------------------------------------------
 * Statistics and pacing through the public API
 * ------------------------------------------------------------------------------------------ */

static void test_memstats(void)
{
    gm_memstats m0, m1, m2, m3, m4;
    gm_gc();
    gm_read_memstats(&m0);
    HEAP_OK();
    CHECK_EQ(m0.heap_alloc, 0);
    CHECK_EQ(m0.heap_objects, 0);
    CHECK_EQ(m0.heap_sys, m0.heap_inuse + m0.heap_idle);
    CHECK(m0.sys >= m0.heap_sys + m0.mspan_sys + m0.gc_sys);
    CHECK(m0.heap_released <= m0.heap_idle);

    /* 10 objects of class 7 (80 bytes; 67..80), 3 tiny objects in one fresh block (the block is
     * one 16-byte malloc, the other two are combined), 2 large objects of 13 pages. */
    void *p[15];
    for (int i = 0; i < 10; i++) p[i] = gm_malloc(70);
    for (int i = 10; i < 13; i++) p[i] = gm_malloc(4);
    CHECK((unsigned char *)p[11] == (unsigned char *)p[10] + 4);
    p[13] = gm_malloc(100000);
    p[14] = gm_alloc(100000, GM_SCAN);
    HEAP_OK();
    gm_read_memstats(&m1);
    HEAP_OK();
    const uint64_t large_bytes = 2 * 13 * GM_PAGE_SIZE;
    CHECK_EQ(m1.mallocs - m0.mallocs, 15);
    CHECK_EQ(m1.frees - m0.frees, 2); /* tiny-combined allocations count as freed at once */
    CHECK_EQ(m1.tiny_allocs - m0.tiny_allocs, 2);
    CHECK_EQ(m1.heap_objects, 13);
    CHECK_EQ(m1.large_alloc_count - m0.large_alloc_count, 2);
    CHECK_EQ(m1.by_size[0].mallocs - m0.by_size[0].mallocs, 2);
    CHECK_EQ(m1.by_size[7].mallocs - m0.by_size[7].mallocs, 10);
    CHECK_EQ(m1.by_size[2].mallocs - m0.by_size[2].mallocs, 1);
    CHECK_EQ(m1.by_size[7].size, 80);
    CHECK_EQ(m1.heap_alloc, 10 * 80 + 16 + large_bytes);
    CHECK_EQ(m1.total_alloc - m0.total_alloc, 10 * 80 + 16 + large_bytes);
    CHECK(m1.heap_inuse >= m1.heap_alloc);
    CHECK_EQ(m1.heap_sys, m1.heap_inuse + m1.heap_idle);
    CHECK_EQ(m1.alloc, m1.heap_alloc);

    /* Reading twice changes nothing. */
    gm_read_memstats(&m2);
    CHECK_EQ(m2.mallocs, m1.mallocs);
    CHECK_EQ(m2.frees, m1.frees);
    CHECK_EQ(m2.heap_alloc, m1.heap_alloc);
    CHECK_EQ(m2.num_gc, m1.num_gc);

    /* Free everything: large objects are freed at once, small ones when swept. */
    for (int i = 0; i < 15; i++) {
        gm_free(p[i]);
        HEAP_OK();
    }
    gm_read_memstats(&m3);
    HEAP_OK();
    CHECK_EQ(m3.frees - m1.frees, 2);
    CHECK_EQ(m3.large_free_count - m1.large_free_count, 2);
    CHECK_EQ(m3.heap_alloc, 10 * 80 + 16);
    CHECK_EQ(m3.num_gc, m1.num_gc);

    gm_gc();
    HEAP_OK();
    gm_read_memstats(&m4);
    CHECK_EQ(m4.num_gc, m3.num_gc + 1);
    CHECK_EQ(m4.frees - m0.frees, 15);
    CHECK_EQ(m4.mallocs - m0.mallocs, 15);
    CHECK_EQ(m4.by_size[7].frees - m0.by_size[7].frees, 10);
    CHECK_EQ(m4.by_size[2].frees - m0.by_size[2].frees, 1);
    CHECK_EQ(m4.heap_alloc, 0);
    CHECK_EQ(m4.heap_objects, 0);
    CHECK_EQ(m4.total_alloc, m1.total_alloc);
    CHECK(gm_gomaxprocs() >= 1);

    /* The current tiny block, empty when a cycle starts, survives that one cycle (Go marks
     * every P's tiny block at mark termination) and dies at the next. */
    void *t = gm_malloc(3);
    gm_free(t);
    HEAP_OK();
    gm_gc();
    HEAP_OK();
    gm_read_memstats(&m1);
    CHECK_EQ(m1.heap_alloc, GM_TINY_SIZE);
    CHECK_EQ(m1.heap_objects, 1);
    gm_gc();
    HEAP_OK();
    gm_read_memstats(&m2);
    CHECK_EQ(m2.heap_alloc, 0);
    CHECK_EQ(m2.heap_objects, 0);
    CHECK_EQ(m2.num_gc, m1.num_gc + 1);
}

/* Allocate and free `bytes` of 1 KiB objects; returns how many cycles started meanwhile. */
static uint64_t churn(size_t bytes)
{
    gm_memstats a, b;
    gm_read_memstats(&a);
    void *ring[64] = {0};
    for (size_t i = 0; i < bytes / KiB; i++) {
        gm_free(ring[i % 64]);
        ring[i % 64] = gm_malloc(KiB);
        CHECK(ring[i % 64] != NULL);
    }
    for (int i = 0; i < 64; i++) gm_free(ring[i]);
    gm_read_memstats(&b);
    return b.num_gc - a.num_gc;
}

static void test_gc_percent(void)
{
    int initial = 100;
    const char *env = getenv("GOGC");
    if (env && strcmp(env, "off") == 0)
        initial = -1;
    else if (env && *env)
        initial = atoi(env);
    CHECK_EQ(gm_set_gc_percent(50), initial);
    CHECK_EQ(gm_set_gc_percent(100), 50);
    HEAP_OK();
    /* GOGC=100: freeing far more than heapMinimum starts cycles on its own. */
    CHECK(churn(32 * MiB) > 0);
    HEAP_OK();
    /* Off: no cycle starts by itself ... */
    CHECK_EQ(gm_set_gc_percent(-1), 100);
    CHECK_EQ(gm_set_gc_percent(-7), -1); /* any negative value is "off", reported as -1 */
    CHECK_EQ(churn(32 * MiB), 0);
    HEAP_OK();
    /* ... but gm_gc still reclaims everything. */
    for (int i = 0; i < 500; i++) track(gm_malloc(1 + rng() % 3000), 0);
    free_all_checked();
    gm_memstats before, after;
    gm_read_memstats(&before);
    CHECK(before.heap_alloc > 0);
    gm_gc();
    HEAP_OK();
    gm_read_memstats(&after);
    CHECK_EQ(after.num_gc, before.num_gc + 1);
    CHECK_EQ(after.heap_alloc, 0);
    CHECK_EQ(after.heap_objects, 0);
    CHECK_EQ(gm_set_gc_percent(initial), -1);
    HEAP_OK();
}

static void test_thread_detach(void)
{
    track(gm_malloc(40), 40);
    track(gm_malloc(5), 5);
    gm_thread_detach();
    HEAP_OK();
    gm_thread_detach(); /* harmless twice */
    HEAP_OK();
    track(gm_malloc(40), 40); /* and the thread allocates again */
    track(gm_malloc(50000), 50000);
    HEAP_OK();
    verify_all();
    free_all_checked();
    gm_thread_detach();
    expect_empty_heap();
}

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        /* Tests that grow the heap most come last: gm_heap_check walks every grown page. */
        {"zero sizes", test_zero_sizes},
        {"every size 0..4096", test_every_small_size},
        {"gm_alloc flags", test_gm_alloc_flags},
        {"calloc", test_calloc},
        {"realloc chain", test_realloc_chain},
        {"realloc in place", test_realloc_in_place},
        {"realloc failure", test_realloc_failure},
        {"huge requests", test_huge},
        {"memstats", test_memstats},
        {"thread detach", test_thread_detach},
        {"misuse", test_misuse},
        {"alignment", test_alignment},
        {"gc percent", test_gc_percent},
        {"random mix", test_random_mix},
        {"size spread to 40 MiB", test_size_spread},
        {"fault injection", test_fault_injection},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = gm_test_failures;
        tests[i].fn();
        printf("%-24s %s\n", tests[i].name, gm_test_failures == before ? "ok" : "FAILED");
        fflush(stdout);
    }
    return gm_test_finish("test_api");
}
