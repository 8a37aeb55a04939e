/*
 * test_pagealloc.c — the page allocator (alloc/pagealloc.c) against brute force and a
 * reference model.
 *
 *   - summary encoding: the all-free root value is bit 63 alone; leaves and every level above
 *     them equal start/max/end recomputed page by page from the bitmaps;
 *   - chunk searches (find1, findSmallN, findLargeN) against a brute-force first fit on random
 *     bitmaps, including their scavenged-byte counts;
 *   - fixed scenarios restated from Go's mpagealloc_test.go and mpagecache_test.go;
 *   - discontiguous heaps, runs straddling chunk and summary-entry boundaries up to the root;
 *   - metadata accounting (nothing mapped twice, destroy gives back every byte) and OS failure
 *     during init and grow;
 *   - a long seeded differential run against a byte-per-page model with the checker after
 *     every step.
 *
 * The page allocator never touches the pages it manages, so every heap here is made of fake
 * addresses that are never mapped.
 */
#include <stdint.h>
#include <string.h>

#include "gm_test.h"
#include "gm_testing.h"
#include "pagealloc_model.h"

#define PAGE        ((uintptr_t)GM_PAGE_SIZE)
#define CHUNK       ((uintptr_t)GM_CHUNK_BYTES)
#define CPAGES      ((size_t)GM_CHUNK_PAGES)
#define TBASE       ((uintptr_t)0xc000000000)   /* Go's first arena hint; 16 GiB aligned */
#define FAR         ((uintptr_t)0x7f0000000000) /* also 16 GiB aligned: a root boundary */
#define MAX_OFF     (((uintptr_t)1 << GM_HEAP_ADDR_BITS) - 1)
#define LOG_PACKED  21
#define PACKED_MASK (((uint64_t)1 << LOG_PACKED) - 1)

/* ---------------------------------------------------------------------------------------------
 * Helpers: our own decoding of the documented layout, direct views of the metadata
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    uint64_t start, max, end;
} tsum;

/* Decode a pallocSum by the layout in internal.h: start 0-20, max 21-41, end 42-62, bit 63
 * alone = all three 2^21. */
static tsum tsum_decode(gm_pallocsum s)
{
    if (s == (uint64_t)1 << 63) return (tsum){1u << 21, 1u << 21, 1u << 21};
    return (tsum){s & PACKED_MASK, (s >> LOG_PACKED) & PACKED_MASK,
                  (s >> 2 * LOG_PACKED) & PACKED_MASK};
}

static bool tsum_eq(tsum a, tsum b)
{
    return a.start == b.start && a.max == b.max && a.end == b.end;
}

static uintptr_t toff(uintptr_t addr)
{
    return addr - GM_ARENA_BASE_OFFSET;
}
static uintptr_t tchunk_index(uintptr_t addr)
{
    return toff(addr) >> GM_CHUNK_SHIFT;
}

static gm_pallocdata *tchunk(const gm_pagealloc *p, uintptr_t addr)
{
    uintptr_t ci = tchunk_index(addr);
    return &p->chunks[ci >> GM_CHUNK_L2_BITS][ci & (((uintptr_t)1 << GM_CHUNK_L2_BITS) - 1)];
}

static const unsigned tshift[GM_SUMMARY_LEVELS] = {34, 31, 28, 25, 22};

static gm_pallocsum tsummary(const gm_pagealloc *p, int level, uintptr_t addr)
{
    return p->summary[level][toff(addr) >> tshift[level]];
}

/* Brute force: start/max/end of free (false) pages in used[0..n). */
static tsum brute_summary(const bool *used, size_t n)
{
    tsum s = {0, 0, 0};
    while (s.start < n && !used[s.start]) s.start++;
    while (s.end < n && !used[n - 1 - s.end]) s.end++;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        run = used[i] ? 0 : run + 1;
        if (run > s.max) s.max = run;
    }
    return s;
}

/* Brute force first fit of npages free pages in used[0..n); n if none. */
static size_t brute_first_fit(const bool *used, size_t n, size_t npages)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        run = used[i] ? 0 : run + 1;
        if (run == npages) return i + 1 - npages;
    }
    return n;
}

static uint64_t xs_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    xs_state ^= xs_state >> 12;
    xs_state ^= xs_state << 25;
    xs_state ^= xs_state >> 27;
    return xs_state * 0x2545f4914f6cdd1dull;
}
static size_t rnd_range(size_t lo, size_t hi)
{
    return lo + (size_t)(rnd() % (hi - lo + 1));
}

static void check_ok(const gm_pagealloc *p, int line)
{
    char buf[512];
    const char *err = gm_pagealloc_check(p, buf, sizeof buf);
    gm_test_checks++;
    if (err) {
        fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, line, err);
        exit(1);
    }
}
#define CHECK_OK(p) check_ok((p), __LINE__)

/* ---------------------------------------------------------------------------------------------
 * Setting a heap to a given state (Go's NewPageAlloc, done through the API)
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    unsigned i, n;
} brange;

typedef struct {
    uintptr_t chunk; /* chunk number relative to TBASE */
    brange alloc[4]; /* pages in use; n == 0 ends the list */
    brange scav[4];  /* scavenged pages (only free ones keep the bit, as in Go) */
} chunk_spec;

static void pattern_set(uint64_t *bits, const brange *r)
{
    for (; r->n; r++)
        for (unsigned k = r->i; k < r->i + r->n; k++) bits[k / 64] |= (uint64_t)1 << (k % 64);
}

/* Make chunk `base` hold alloc pattern `a` and scavenged pattern `s & ~a`. The first free
 * page X is poked in use with the rest and then freed through the API, which recomputes every
 * summary above the chunk and lowers search_addr to X. That keeps every invariant as long as
 * no other chunk has a free page below X (tests start from a heap that is all in use). */
static void chunk_set(gm_pagealloc *p, uintptr_t base, const uint64_t *a, const uint64_t *s)
{
    gm_pallocdata *d = tchunk(p, base);
    size_t x = CPAGES;
    for (size_t i = 0; i < CPAGES && x == CPAGES; i++)
        if (!(a[i / 64] >> (i % 64) & 1)) x = i;
    if (x == CPAGES) {
        if (tsummary(p, 4, base) == 0) return; /* all in use already */
        /* Free only page 0, then take it back (it is the lowest free page). */
        uint64_t a0[CPAGES / 64];
        memcpy(a0, a, sizeof a0);
        a0[0] &= ~1ull;
        chunk_set(p, base, a0, s);
        CHECK_EQ(gm_pagealloc_alloc(p, 1, NULL), base);
        return;
    }
    for (size_t k = 0; k < CPAGES / 64; k++) {
        d->alloc[k] = a[k];
        d->scavenged[k] = s[k] & ~a[k];
    }
    d->alloc[x / 64] |= (uint64_t)1 << (x % 64);
    gm_pagealloc_free(p, base + x * PAGE, 1);
}

/* Grow every chunk of specs, take all pages, then set each chunk's patterns. */
static void make_heap(gm_pagealloc *p, const chunk_spec *specs, size_t nspecs)
{
    CHECK(gm_pagealloc_init(p, NULL) == 0);
    for (size_t k = 0; k < nspecs; k++)
        CHECK(gm_pagealloc_grow(p, TBASE + specs[k].chunk * CHUNK, CHUNK) == 0);
    for (size_t k = 0; k < nspecs; k++) CHECK(gm_pagealloc_alloc(p, CPAGES, NULL) != 0);
    CHECK_EQ(gm_pagealloc_alloc(p, 1, NULL), 0);
    for (size_t k = 0; k < nspecs; k++) {
        uint64_t a[CPAGES / 64] = {0}, s[CPAGES / 64] = {0};
        pattern_set(a, specs[k].alloc);
        pattern_set(s, specs[k].scav);
        chunk_set(p, TBASE + specs[k].chunk * CHUNK, a, s);
    }
    CHECK_OK(p);
}

/* The chunk's alloc (or scavenged) bitmap equals the pattern given by ranges. */
static bool chunk_is(const gm_pagealloc *p, uintptr_t chunk, const brange *r, bool scav)
{
    uint64_t want[CPAGES / 64] = {0};
    pattern_set(want, r);
    const gm_pallocdata *d = tchunk(p, TBASE + chunk * CHUNK);
    return memcmp(scav ? d->scavenged : d->alloc, want, sizeof want) == 0;
}

#define PB(chunk, page) (TBASE + (uintptr_t)(chunk)*CHUNK + (uintptr_t)(page)*PAGE)

typedef struct {
    size_t npages;
    uintptr_t base;
    size_t scav_pages;
} hit;

static void run_hits(gm_pagealloc *p, const hit *h, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t scav = 12345;
        uintptr_t a = gm_pagealloc_alloc(p, h[k].npages, &scav);
        CHECK_EQ(a, h[k].base);
        CHECK_EQ(scav, h[k].base ? h[k].scav_pages * PAGE : 0);
        CHECK_OK(p);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Summary encoding and merging
 * ------------------------------------------------------------------------------------------ */

static void test_summary_encoding(void)
{
    gm_pagealloc p;
    CHECK(gm_pagealloc_init(&p, NULL) == 0);
    CHECK_EQ(p.search_addr, MAX_OFF); /* nothing free yet */
    CHECK(gm_pagealloc_grow(&p, TBASE, CHUNK) == 0);
    uint64_t free_chunk = 512 | (uint64_t)512 << 21 | (uint64_t)512 << 42;
    CHECK_EQ(tsummary(&p, 4, TBASE), free_chunk); /* freeChunkSum, packed as documented */
    /* One free chunk first in an 8-chunk entry: start 512, max 512, end 0. */
    CHECK_EQ(tsummary(&p, 3, TBASE), 512 | (uint64_t)512 << 21);
    CHECK_EQ(tsummary(&p, 0, TBASE), 512 | (uint64_t)512 << 21);
    CHECK_OK(&p);
    gm_pagealloc_destroy(&p);

    /* A whole free root entry (16 GiB = 2^21 pages) is bit 63 alone. */
    CHECK(gm_pagealloc_init(&p, NULL) == 0);
    CHECK(gm_pagealloc_grow(&p, FAR, (size_t)1 << 34) == 0);
    CHECK_EQ(tsummary(&p, 0, FAR), (uint64_t)1 << 63);
    CHECK_EQ(tsummary(&p, 1, FAR), (uint64_t)1 << 18 | (uint64_t)1 << 39 | (uint64_t)1 << 60);
    CHECK_OK(&p);
    size_t scav;
    CHECK_EQ(gm_pagealloc_alloc(&p, (size_t)1 << 21, &scav), FAR);
    CHECK_EQ(scav, (size_t)1 << 34);
    CHECK_EQ(tsummary(&p, 0, FAR), 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, 1, NULL), 0);
    CHECK_EQ(p.search_addr, MAX_OFF); /* a failed 1-page alloc marks the heap exhausted */
    gm_pagealloc_free(&p, FAR, (size_t)1 << 21);
    CHECK_EQ(tsummary(&p, 0, FAR), (uint64_t)1 << 63);
    CHECK_EQ(gm_pagealloc_alloc(&p, 1, &scav), FAR);
    CHECK_EQ(scav, 0); /* freed pages keep their RAM */
    uint64_t m = ((uint64_t)1 << 21) - 1;
    CHECK_EQ(tsummary(&p, 0, FAR), m << 21 | m << 42);
    CHECK_OK(&p);
    CHECK_EQ(gm_pagealloc_free_pages(&p), m);
    CHECK_EQ(gm_pagealloc_scavenged_pages(&p), 0);
    gm_pagealloc_destroy(&p);
}

/* Fill used[] with a random pattern: runs of up to `scale` pages, or coin flips. */
static void random_pattern(bool *used, size_t n, size_t scale)
{
    if (scale == 0) {
        for (size_t i = 0; i < n; i++) used[i] = rnd() & 1;
        return;
    }
    bool u = rnd() & 1;
    for (size_t i = 0; i < n;) {
        size_t len = rnd_range(1, scale);
        for (size_t k = 0; k < len && i < n; k++, i++) used[i] = u;
        u = !u;
    }
}

static void bools_to_bits(const bool *b, uint64_t *bits)
{
    memset(bits, 0, CPAGES / 8);
    for (size_t i = 0; i < CPAGES; i++)
        if (b[i]) bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static const size_t scales[] = {0, 1, 2, 3, 5, 8, 13, 30, 63, 64, 65, 120, 300, 600};
#define NSCALES (sizeof scales / sizeof scales[0])

/* 64 chunks = one level-2 entry: every level's summary against brute force. */
static void test_summary_levels_brute(void)
{
    enum { NCH = 64 };
    static bool used[NCH * 512];
    for (int trial = 0; trial < 12; trial++) {
        gm_pagealloc p;
        CHECK(gm_pagealloc_init(&p, NULL) == 0);
        CHECK(gm_pagealloc_grow(&p, TBASE, NCH * CHUNK) == 0);
        CHECK_EQ(gm_pagealloc_alloc(&p, NCH * CPAGES, NULL), TBASE);
        for (size_t c = 0; c < NCH; c++) {
            bool *u = used + c * CPAGES;
            size_t kind = rnd() % 8;
            if (kind == 0)
                memset(u, 0, CPAGES); /* all free */
            else if (kind == 1)
                memset(u, 1, CPAGES); /* all in use */
            else
                random_pattern(u, CPAGES, scales[rnd() % NSCALES]);
            uint64_t a[8], s[8];
            bools_to_bits(u, a);
            for (int k = 0; k < 8; k++) s[k] = rnd();
            chunk_set(&p, TBASE + c * CHUNK, a, s);
        }
        CHECK_OK(&p);
        for (size_t c = 0; c < NCH; c++)
            CHECK(tsum_eq(tsum_decode(tsummary(&p, 4, TBASE + c * CHUNK)),
                          brute_summary(used + c * CPAGES, CPAGES)));
        for (size_t e = 0; e < NCH / 8; e++)
            CHECK(tsum_eq(tsum_decode(tsummary(&p, 3, TBASE + e * 8 * CHUNK)),
                          brute_summary(used + e * 8 * CPAGES, 8 * CPAGES)));
        tsum whole = brute_summary(used, NCH * CPAGES);
        CHECK(tsum_eq(tsum_decode(tsummary(&p, 2, TBASE)), whole));
        /* Above: the rest of the entry is not grown, which counts as in use. */
        tsum up = {whole.start, whole.max, 0};
        CHECK(tsum_eq(tsum_decode(tsummary(&p, 1, TBASE)), up));
        CHECK(tsum_eq(tsum_decode(tsummary(&p, 0, TBASE)), up));
        /* First fit across the 64 chunks, any size. */
        for (int k = 0; k < 6; k++) {
            size_t n = k < 2 ? rnd_range(1, 64) : k < 4 ? rnd_range(65, 600) : rnd_range(1, 3000);
            size_t want = brute_first_fit(used, NCH * CPAGES, n);
            uintptr_t a = gm_pagealloc_alloc(&p, n, NULL);
            CHECK_EQ(a, want == NCH * CPAGES ? 0 : TBASE + want * PAGE);
            if (a) memset(used + want, 1, n);
            CHECK_OK(&p);
        }
        gm_pagealloc_destroy(&p);
    }
}

/* One chunk, random bitmap: the chunk searches against brute force, with scavenged counts. */
static void test_chunk_search_brute(void)
{
    static const size_t sizes[] = {1,  2,  3,  4,   7,   8,   15,  31,  32,  33,  62,  63,
                                   64, 65, 66, 100, 127, 128, 129, 200, 256, 300, 511, 512};
    gm_pagealloc p;
    CHECK(gm_pagealloc_init(&p, NULL) == 0);
    CHECK(gm_pagealloc_grow(&p, TBASE, CHUNK) == 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, CPAGES, NULL), TBASE);
    for (int trial = 0; trial < 3000; trial++) {
        bool used[512], scav[512];
        random_pattern(used, CPAGES, scales[trial % NSCALES]);
        random_pattern(scav, CPAGES, scales[rnd() % NSCALES]);
        uint64_t a[8], s[8];
        bools_to_bits(used, a);
        bools_to_bits(scav, s);
        chunk_set(&p, TBASE, a, s);
        CHECK(tsum_eq(tsum_decode(tsummary(&p, 4, TBASE)), brute_summary(used, CPAGES)));
        size_t n = sizes[rnd() % (sizeof sizes / sizeof sizes[0])];
        size_t want = brute_first_fit(used, CPAGES, n), got_scav = 99;
        uintptr_t got = gm_pagealloc_alloc(&p, n, &got_scav);
        if (want == CPAGES) {
            CHECK_EQ(got, 0);
        } else {
            size_t ws = 0;
            for (size_t i = want; i < want + n; i++) ws += scav[i] && !used[i];
            CHECK_EQ(got, TBASE + want * PAGE);
            CHECK_EQ(got_scav, ws * PAGE);
        }
        CHECK_OK(&p);
    }
    gm_pagealloc_destroy(&p);
}

/* ---------------------------------------------------------------------------------------------
 * Go's scenarios (mpagealloc_test.go TestPageAllocAlloc, ...AllocAndFree; mpagecache_test.go)
 * ------------------------------------------------------------------------------------------ */

static void test_go_alloc_scenarios(void)
{
    gm_pagealloc p;
    { /* AllFree5: runs of 5 over a partly scavenged chunk. */
        chunk_spec s[] = {{0, {{0, 0}}, {{0, 8}, {9, 1}, {17, 5}}}};
        hit h[] = {{5, PB(0, 0), 5},
                   {5, PB(0, 5), 4},
                   {5, PB(0, 10), 0},
                   {5, PB(0, 15), 3},
                   {5, PB(0, 20), 2}};
        make_heap(&p, s, 1);
        run_hits(&p, h, 5);
        CHECK(chunk_is(&p, 0, (brange[]){{0, 25}, {0, 0}}, false));
        gm_pagealloc_destroy(&p);
    }
    { /* AllFree64 and AllFree65: findSmallN's widest case, findLargeN's narrowest. */
        chunk_spec s[] = {{0, {{0, 0}}, {{21, 1}, {63, 65}}}};
        hit h[] = {{64, PB(0, 0), 2}, {64, PB(0, 64), 64}, {64, PB(0, 128), 0}};
        make_heap(&p, s, 1);
        run_hits(&p, h, 3);
        gm_pagealloc_destroy(&p);
        chunk_spec s2[] = {{0, {{0, 0}}, {{129, 1}}}};
        hit h2[] = {{65, PB(0, 0), 0}, {65, PB(0, 65), 1}, {65, PB(0, 130), 0}};
        make_heap(&p, s2, 1);
        run_hits(&p, h2, 3);
        CHECK(chunk_is(&p, 0, (brange[]){{0, 195}, {0, 0}}, false));
        gm_pagealloc_destroy(&p);
    }
    { /* Straddle2: a 2-page run that exists only across the chunk boundary. */
        chunk_spec s[] = {{0, {{0, 511}}, {{511, 1}}}, {1, {{1, 511}}, {{0, 0}}}};
        hit h[] = {{2, PB(0, 511), 1}, {1, 0, 0}};
        make_heap(&p, s, 2);
        run_hits(&p, h, 2);
        gm_pagealloc_destroy(&p);
    }
    { /* ExhaustPallocChunkPages-3 */
        chunk_spec s[] = {{0, {{0, 0}}, {{10, 1}}}};
        hit h[] = {{509, PB(0, 0), 1}, {509, 0, 0}, {1, PB(0, 509), 0},
                   {2, PB(0, 510), 0}, {1, 0, 0},   {509, 0, 0}};
        make_heap(&p, s, 1);
        run_hits(&p, h, 6);
        gm_pagealloc_destroy(&p);
    }
    { /* StraddlePallocChunkPages+1 */
        chunk_spec s[] = {{0, {{0, 256}}, {{0, 512}}}, {1, {{0, 0}}, {{0, 512}}}};
        hit h[] = {{513, PB(0, 256), 513}, {512, 0, 0}, {1, PB(1, 257), 1}};
        make_heap(&p, s, 2);
        run_hits(&p, h, 3);
        CHECK(chunk_is(&p, 1, (brange[]){{0, 258}, {0, 0}}, false));
        gm_pagealloc_destroy(&p);
    }
    { /* NotContiguousPallocChunkPages*2: 1024 pages only fit in the far pair of chunks. */
        chunk_spec s[] = {
            {0, {{0, 0}}, {{0, 512}}}, {0x40, {{0, 0}}, {{0, 0}}}, {0x41, {{0, 0}}, {{0, 0}}}};
        hit h[] = {{1024, PB(0x40, 0), 0}, {21, PB(0, 0), 21}, {1, PB(0, 21), 1}};
        make_heap(&p, s, 3);
        run_hits(&p, h, 3);
        gm_pagealloc_destroy(&p);
    }
    { /* StraddlePallocChunkPages*5/4: the first fit crosses chunks 2 and 3. */
        chunk_spec s[] = {{0, {{0, 512}}, {{0, 512}}},
                          {1, {{0, 384}}, {{256, 129}}},
                          {2, {{0, 384}}, {{170, 1}}},
                          {3, {{0, 0}}, {{341, 1}}}};
        hit h[] = {{640, PB(2, 384), 1}, {640, 0, 0}, {1, PB(1, 384), 1}};
        make_heap(&p, s, 4);
        run_hits(&p, h, 3);
        CHECK(chunk_is(&p, 1, (brange[]){{0, 385}, {0, 0}}, false));
        CHECK(chunk_is(&p, 3, (brange[]){{0, 512}, {0, 0}}, false));
        gm_pagealloc_destroy(&p);
    }
    { /* AllFreePallocChunkPages*7+5: one run over 8 chunks, crossing a level-3 entry. */
        chunk_spec s[8];
        static const unsigned sp[8] = {50, 31, 7, 200, 3, 51, 20, 1};
        memset(s, 0, sizeof s);
        for (int k = 0; k < 8; k++) {
            s[k].chunk = 5 + (uintptr_t)k; /* chunks 5..12: across the 8-chunk boundary */
            s[k].scav[0] = (brange){sp[k], 1};
        }
        hit h[] = {{512 * 7 + 5, PB(5, 0), 8}, {512 * 7 + 5, 0, 0}, {1, PB(12, 5), 0}};
        make_heap(&p, s, 8);
        run_hits(&p, h, 3);
        gm_pagealloc_destroy(&p);
    }
    { /* DiscontiguousMappedSumBoundary: a leaf summary at the very end of an OS page of the
       * leaf level, and another chunk 4 TiB away. */
        uintptr_t per_page = gm_sys_phys_page_size() / 8;
        uintptr_t c0 = per_page - 1; /* TBASE's chunk index is a multiple of 512 */
        CHECK_EQ(tchunk_index(TBASE) % per_page, 0);
        chunk_spec s[] = {{c0, {{0, 0}}, {{0, 0}}}, {0x100000, {{0, 0}}, {{0, 0}}}};
        hit h[] = {{511, PB(c0, 0), 0},
                   {1, PB(c0, 511), 0},
                   {1, PB(0x100000, 0), 0},
                   {511, PB(0x100000, 1), 0},
                   {1, 0, 0}};
        make_heap(&p, s, 2);
        run_hits(&p, h, 5);
        gm_pagealloc_destroy(&p);
    }
    { /* AllocAndFree Chunks8: the same 8-chunk run, taken and given back. */
        CHECK(gm_pagealloc_init(&p, NULL) == 0);
        CHECK(gm_pagealloc_grow(&p, TBASE, 8 * CHUNK) == 0);
        for (int k = 0; k < 3; k++) {
            CHECK_EQ(gm_pagealloc_alloc(&p, 8 * CPAGES, NULL), TBASE);
            gm_pagealloc_free(&p, TBASE, 8 * CPAGES);
            CHECK_OK(&p);
        }
        CHECK_EQ(gm_pagealloc_alloc(&p, 1, NULL), TBASE);
        gm_pagealloc_free(&p, TBASE, 1);
        CHECK_EQ(gm_pagealloc_alloc(&p, 8 * CPAGES, NULL), TBASE);
        CHECK_OK(&p);
        gm_pagealloc_destroy(&p);
    }
}

static void check_cache(gm_pagecache c, uintptr_t base, uint64_t cache, uint64_t scav)
{
    CHECK_EQ(c.base, base);
    CHECK_EQ(c.cache, cache);
    CHECK_EQ(c.scav, scav);
}

static void test_go_cache_scenarios(void)
{
    gm_pagealloc p;
    gm_pagecache c;
    { /* AllFree */
        chunk_spec s[] = {{0, {{0, 0}}, {{1, 1}, {64, 64}}}};
        make_heap(&p, s, 1);
        check_cache(gm_pagealloc_alloc_to_cache(&p), PB(0, 0), ~0ull, 0x2);
        check_cache(gm_pagealloc_alloc_to_cache(&p), PB(0, 64), ~0ull, ~0ull);
        check_cache(gm_pagealloc_alloc_to_cache(&p), PB(0, 128), ~0ull, 0);
        CHECK_EQ(p.search_addr, toff(PB(0, 191))); /* the last page of the block */
        CHECK(chunk_is(&p, 0, (brange[]){{0, 192}, {0, 0}}, false));
        CHECK_OK(&p);
        gm_pagealloc_destroy(&p);
    }
    { /* ManyArena */
        chunk_spec s[] = {
            {0, {{0, 512}}, {{0, 512}}}, {1, {{0, 512}}, {{0, 512}}}, {2, {{0, 448}}, {{0, 0}}}};
        make_heap(&p, s, 3);
        check_cache(gm_pagealloc_alloc_to_cache(&p), PB(2, 448), ~0ull, 0);
        CHECK(chunk_is(&p, 2, (brange[]){{0, 512}, {0, 0}}, false));
        gm_pagealloc_destroy(&p);
    }
    { /* NotContiguous: the far chunk; its scavenged bits move to the cache. */
        chunk_spec s[] = {{0, {{0, 512}}, {{0, 512}}}, {0xff, {{0, 0}}, {{31, 67}}}};
        make_heap(&p, s, 2);
        check_cache(gm_pagealloc_alloc_to_cache(&p), PB(0xff, 0), ~0ull, ((1ull << 33) - 1) << 31);
        CHECK(chunk_is(&p, 0xff, (brange[]){{0, 64}, {0, 0}}, false));
        CHECK(chunk_is(&p, 0xff, (brange[]){{64, 34}, {0, 0}}, true));
        CHECK_OK(&p);
        gm_pagealloc_destroy(&p);
    }
    { /* First */
        chunk_spec s[] = {{0, {{0, 32}, {33, 31}, {96, 32}}, {{1, 4}, {31, 5}, {66, 2}}}};
        make_heap(&p, s, 1);
        check_cache(gm_pagealloc_alloc_to_cache(&p), PB(0, 0), 1ull << 32, 1ull << 32);
        check_cache(gm_pagealloc_alloc_to_cache(&p), PB(0, 64), (1ull << 32) - 1, 0x3 << 2);
        CHECK(chunk_is(&p, 0, (brange[]){{0, 128}, {0, 0}}, false));
        gm_pagealloc_destroy(&p);
    }
    { /* Fail: a full heap gives empty caches. */
        chunk_spec s[] = {{0, {{0, 512}}, {{0, 0}}}};
        make_heap(&p, s, 1);
        for (int k = 0; k < 3; k++) check_cache(gm_pagealloc_alloc_to_cache(&p), 0, 0, 0);
        CHECK_EQ(p.search_addr, MAX_OFF);
        gm_pagealloc_destroy(&p);
    }
    { /* RetainScavBits, then the cache's own alloc and flush (TestPageCacheAlloc/Flush). */
        chunk_spec s[] = {{0, {{0, 1}, {10, 2}}, {{0, 4}, {11, 1}}}};
        make_heap(&p, s, 1);
        c = gm_pagealloc_alloc_to_cache(&p);
        check_cache(c, PB(0, 0), ~(0x1ull | 0x3ull << 10), 0x7 << 1);
        CHECK(chunk_is(&p, 0, (brange[]){{0, 64}, {0, 0}}, false));
        CHECK(chunk_is(&p, 0, (brange[]){{0, 0}}, true));
        size_t scav = 7;
        CHECK_EQ(gm_pagecache_alloc(&c, 2, &scav), PB(0, 1)); /* pages 1-2, both scavenged */
        CHECK_EQ(scav, 2 * PAGE);
        CHECK_EQ(gm_pagecache_alloc(&c, 1, &scav), PB(0, 3));
        CHECK_EQ(scav, PAGE);
        CHECK_EQ(gm_pagecache_alloc(&c, 7, &scav), PB(0, 12)); /* 4-9 is only 6 long */
        CHECK_EQ(scav, 0);
        CHECK_EQ(gm_pagecache_alloc(&c, 0, &scav), 0);
        CHECK_EQ(gm_pagecache_alloc(&c, 65, &scav), 0);
        CHECK_EQ(gm_pagecache_alloc(&c, 60, &scav), 0); /* no run that long: cache untouched */
        gm_pagecache_flush(&c, &p);
        check_cache(c, 0, 0, 0);
        /* In use: 0-3, 10-18 (12-18 from the cache). Page 11's scavenged bit went with its
         * allocation in Go's setup; nothing else was scavenged and free. */
        CHECK(chunk_is(&p, 0, (brange[]){{0, 4}, {10, 9}, {0, 0}}, false));
        CHECK_EQ(p.search_addr, toff(PB(0, 0)));
        CHECK_OK(&p);
        gm_pagealloc_destroy(&p);
    }
    { /* Flush restores scavenged bits; a 64-page request takes the whole block. */
        chunk_spec s[] = {{0, {{0, 0}}, {{5, 3}}}};
        make_heap(&p, s, 1);
        c = gm_pagealloc_alloc_to_cache(&p);
        gm_pagecache_flush(&c, &p);
        CHECK(chunk_is(&p, 0, (brange[]){{0, 0}}, false));
        CHECK(chunk_is(&p, 0, (brange[]){{5, 3}, {0, 0}}, true));
        c = gm_pagealloc_alloc_to_cache(&p);
        size_t scav;
        CHECK_EQ(gm_pagecache_alloc(&c, 64, &scav), PB(0, 0));
        CHECK_EQ(scav, 3 * PAGE);
        CHECK_EQ(c.cache, 0);
        CHECK_EQ(gm_pagecache_alloc(&c, 1, &scav), 0);
        gm_pagecache_flush(&c, &p); /* empty: nothing to give back */
        CHECK_OK(&p);
        gm_pagealloc_destroy(&p);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Placement: search_addr, discontiguous heaps, boundaries, bad sizes
 * ------------------------------------------------------------------------------------------ */

static void test_search_addr(void)
{
    gm_pagealloc p;
    CHECK(gm_pagealloc_init(&p, NULL) == 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, 1, NULL), 0); /* nothing grown */
    CHECK_EQ(gm_pagealloc_alloc_to_cache(&p).base, 0);
    CHECK(gm_pagealloc_grow(&p, TBASE, CHUNK) == 0);
    CHECK_EQ(p.search_addr, toff(TBASE));
    CHECK_EQ(gm_pagealloc_alloc(&p, 1, NULL), TBASE);
    CHECK_EQ(p.search_addr, toff(TBASE)); /* the first free page seen: the one taken */
    CHECK_EQ(gm_pagealloc_alloc(&p, 1, NULL), TBASE + PAGE);
    CHECK_EQ(p.search_addr, toff(TBASE + PAGE));
    gm_pagecache c = gm_pagealloc_alloc_to_cache(&p);
    check_cache(c, TBASE, ~3ull, ~3ull);
    CHECK_EQ(p.search_addr, toff(TBASE + 63 * PAGE));
    CHECK_EQ(gm_pagealloc_alloc(&p, 10, NULL), TBASE + 64 * PAGE);
    CHECK_EQ(p.search_addr, toff(TBASE + 64 * PAGE));
    gm_pagealloc_free(&p, TBASE, 1);
    CHECK_EQ(p.search_addr, toff(TBASE));
    gm_pagecache_flush(&c, &p);
    CHECK_EQ(gm_pagealloc_free_pages(&p), CPAGES - 11);
    CHECK_EQ(gm_pagealloc_scavenged_pages(&p), CPAGES - 12); /* pages 0 (freed), 1, 64-73 */
    CHECK_OK(&p);
    /* Degenerate sizes: 0 and absurdly large requests fail without touching anything. */
    size_t scav = 5;
    CHECK_EQ(gm_pagealloc_alloc(&p, 0, &scav), 0);
    CHECK_EQ(scav, 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, SIZE_MAX, &scav), 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, (size_t)1 << 35, NULL), 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, ((size_t)1 << 35) + 1, NULL), 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, (size_t)1 << 40, NULL), 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, CPAGES + 1, NULL), 0);
    gm_pagealloc_free(&p, TBASE, 0);
    CHECK_EQ(gm_pagealloc_free_pages(&p), CPAGES - 11);
    CHECK_OK(&p);
    gm_pagealloc_destroy(&p);
}

static void test_discontiguous(void)
{
    gm_pagealloc p;
    CHECK(gm_pagealloc_init(&p, NULL) == 0);
    /* Grown out of order: the far range first, then the low one below it. */
    CHECK(gm_pagealloc_grow(&p, FAR, CHUNK) == 0);
    CHECK(gm_pagealloc_grow(&p, TBASE, CHUNK) == 0);
    CHECK_EQ(p.n_in_use, 2);
    CHECK_EQ(p.start, tchunk_index(TBASE));
    CHECK_EQ(p.end, tchunk_index(FAR) + 1);
    CHECK_OK(&p);
    /* Leave 10 free pages at the top of the low chunk and 10 at the bottom of the far one:
     * they are not adjacent, so 20 pages do not fit. */
    CHECK_EQ(gm_pagealloc_alloc(&p, CPAGES - 10, NULL), TBASE);
    CHECK_EQ(gm_pagealloc_alloc(&p, 20, NULL), FAR);
    CHECK_EQ(gm_pagealloc_alloc(&p, CPAGES - 30, NULL), FAR + 20 * PAGE);
    gm_pagealloc_free(&p, FAR, 10);
    CHECK_EQ(gm_pagealloc_alloc(&p, 20, NULL), 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, 10, NULL), TBASE + (CPAGES - 10) * PAGE);
    CHECK_EQ(gm_pagealloc_alloc(&p, 10, NULL), FAR);
    CHECK_EQ(gm_pagealloc_alloc(&p, 10, NULL), FAR + (CPAGES - 10) * PAGE);
    CHECK_EQ(gm_pagealloc_alloc(&p, 1, NULL), 0);
    CHECK_EQ(p.search_addr, MAX_OFF);
    CHECK_OK(&p);
    /* Growing the chunk right after the low one coalesces the ranges: a run crosses. */
    CHECK(gm_pagealloc_grow(&p, TBASE + CHUNK, CHUNK) == 0);
    CHECK_EQ(p.n_in_use, 2);
    gm_pagealloc_free(&p, TBASE + (CPAGES - 10) * PAGE, 10);
    CHECK_EQ(gm_pagealloc_alloc(&p, 30, NULL), TBASE + (CPAGES - 10) * PAGE);
    /* And a chunk just below the far one coalesces upward. */
    CHECK(gm_pagealloc_grow(&p, FAR - CHUNK, CHUNK) == 0);
    CHECK_EQ(p.n_in_use, 2);
    CHECK_EQ(p.in_use[1].base, FAR - CHUNK);
    /* ...and one that fills the gap between two ranges merges all three. */
    CHECK(gm_pagealloc_grow(&p, FAR + 2 * CHUNK, CHUNK) == 0);
    CHECK_EQ(p.n_in_use, 3);
    CHECK(gm_pagealloc_grow(&p, FAR + CHUNK, CHUNK) == 0);
    CHECK_EQ(p.n_in_use, 2);
    CHECK_EQ(p.in_use[1].limit, FAR + 3 * CHUNK);
    CHECK_OK(&p);
    gm_pagealloc_destroy(&p);
}

/* Runs across the 16 GiB root boundary at FAR: every level's entries change there. */
static void test_root_boundary(void)
{
    gm_pagealloc p;
    CHECK(gm_pagealloc_init(&p, NULL) == 0);
    CHECK(gm_pagealloc_grow(&p, FAR - 2 * CHUNK, 4 * CHUNK) == 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, CPAGES + 400, NULL), FAR - 2 * CHUNK);
    uintptr_t a = gm_pagealloc_alloc(&p, 112 + 600, NULL);
    CHECK_EQ(a, FAR - 112 * PAGE);
    CHECK_OK(&p);
    CHECK_EQ(tsummary(&p, 0, FAR - PAGE), 0);
    tsum up = tsum_decode(tsummary(&p, 0, FAR));
    CHECK(up.start == 0 && up.max == 2 * CPAGES - 600 && up.end == 0);
    gm_pagealloc_free(&p, FAR - 12 * PAGE, 24);
    CHECK_EQ(gm_pagealloc_alloc(&p, 24, NULL), FAR - 12 * PAGE);
    gm_pagealloc_free(&p, a, 112 + 600);
    CHECK_EQ(gm_pagealloc_alloc(&p, 2 * CPAGES + 112, NULL), FAR - 112 * PAGE);
    CHECK_EQ(gm_pagealloc_free_pages(&p), 0);
    CHECK_OK(&p);
    gm_pagealloc_destroy(&p);
}

/* ---------------------------------------------------------------------------------------------
 * Metadata accounting and OS failures
 * ------------------------------------------------------------------------------------------ */

static void test_metadata_accounting(void)
{
    _Atomic uint64_t stat = 0;
    gm_pagealloc p;
    CHECK(gm_pagealloc_init(&p, &stat) == 0);
    uint64_t after_init = stat;
    CHECK(after_init > 0);
    CHECK(gm_pagealloc_grow(&p, TBASE, CHUNK) == 0);
    uint64_t after_one = stat;
    /* One L2 array (1 MiB) plus the whole root level (128 KiB) plus one page per lower level. */
    CHECK_EQ(after_one - after_init, (1u << 20) + (128u << 10) + 4 * gm_sys_phys_page_size());
    CHECK(gm_pagealloc_grow(&p, TBASE + CHUNK, 3 * CHUNK) == 0);
    CHECK_EQ(stat, after_one); /* same pages: nothing mapped or charged twice */
    CHECK(gm_pagealloc_grow(&p, FAR, CHUNK) == 0);
    CHECK(stat > after_one);
    /* Many discontiguous ranges: the in_use array doubles. */
    for (uintptr_t k = 1; k <= 40; k++)
        CHECK(gm_pagealloc_grow(&p, TBASE + k * 16 * CHUNK, CHUNK) == 0);
    CHECK_EQ(p.n_in_use, 42);
    CHECK(p.cap_in_use >= 42);
    CHECK_OK(&p);
    gm_pagealloc_destroy(&p);
    CHECK_EQ(stat, 0); /* destroy gave back every byte it charged */
}

static void test_os_failures(void)
{
    _Atomic uint64_t stat = 0;
    gm_pagealloc p;
    int failures = 0;
    for (long k = 0;; k++) { /* fail each OS call of init in turn */
        gm_sys_fail_after(k);
        int r = gm_pagealloc_init(&p, &stat);
        gm_sys_fail_after(-1);
        if (r == 0) break;
        failures++;
        CHECK_EQ(stat, 0);
        CHECK(p.chunks == NULL && p.summary[0] == NULL);
    }
    CHECK(failures >= 3);
    for (uintptr_t k = 0; k < 16; k++)
        CHECK(gm_pagealloc_grow(&p, TBASE + k * 2 * CHUNK, CHUNK) == 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, 5, NULL), TBASE);
    /* The next grow needs a far L2 array, summary pages and a bigger in_use array. */
    failures = 0;
    for (long k = 0;; k++) {
        size_t free_before = gm_pagealloc_free_pages(&p), n_before = p.n_in_use;
        uintptr_t end_before = p.end;
        gm_sys_fail_after(k);
        int r = gm_pagealloc_grow(&p, FAR, 2 * CHUNK);
        gm_sys_fail_after(-1);
        CHECK_OK(&p);
        if (r == 0) break;
        failures++;
        CHECK_EQ(gm_pagealloc_free_pages(&p), free_before);
        CHECK_EQ(p.n_in_use, n_before);
        CHECK_EQ(p.end, end_before);
        CHECK_EQ(gm_pagealloc_alloc(&p, 600, NULL), 0); /* the far range is not there */
    }
    CHECK(failures >= 2);
    CHECK_EQ(gm_pagealloc_alloc(&p, 600, NULL), FAR);
    CHECK_OK(&p);
    gm_pagealloc_destroy(&p);
    CHECK_EQ(stat, 0);
}

/* ---------------------------------------------------------------------------------------------
 * The checker itself: each kind of corruption is reported
 * ------------------------------------------------------------------------------------------ */

static bool check_fails(const gm_pagealloc *p)
{
    char buf[512];
    return gm_pagealloc_check(p, buf, sizeof buf) != NULL;
}

static void test_checker_detects(void)
{
    gm_pagealloc p;
    CHECK(gm_pagealloc_init(&p, NULL) == 0);
    CHECK(gm_pagealloc_grow(&p, TBASE, 2 * CHUNK) == 0);
    CHECK(gm_pagealloc_grow(&p, FAR, CHUNK) == 0);
    CHECK_EQ(gm_pagealloc_alloc(&p, 10, NULL), TBASE);
    gm_pagealloc_free(&p, TBASE + 5 * PAGE, 1);
    CHECK_OK(&p);
    gm_pallocsum *leaf = &p.summary[4][toff(TBASE) >> 22];
    gm_pallocsum *mid = &p.summary[2][toff(TBASE) >> 28];
    gm_pallocsum *outside = &p.summary[4][(toff(TBASE) >> 22) + 7]; /* same page, not grown */
    gm_pallocsum saved = *leaf;
    *leaf ^= 1;
    CHECK(check_fails(&p));
    *leaf = saved;
    saved = *mid;
    *mid ^= (uint64_t)1 << 21;
    CHECK(check_fails(&p));
    *mid = saved;
    *outside = 1;
    CHECK(check_fails(&p));
    *outside = 0;
    gm_pallocdata *d = tchunk(&p, TBASE);
    d->scavenged[0] |= 1; /* page 0 is in use */
    CHECK(check_fails(&p));
    d->scavenged[0] &= ~1ull;
    uintptr_t sa = p.search_addr;
    p.search_addr = toff(TBASE + 6 * PAGE); /* page 5 is free */
    CHECK(check_fails(&p));
    p.search_addr = toff(TBASE + 100 * CHUNK); /* not grown */
    CHECK(check_fails(&p));
    p.search_addr = sa;
    p.end++;
    CHECK(check_fails(&p));
    p.end--;
    uintptr_t b = p.in_use[1].base;
    p.in_use[1].base = p.in_use[0].limit - CHUNK; /* overlaps the first range */
    CHECK(check_fails(&p));
    p.in_use[1].base = b;
    CHECK_OK(&p);
    gm_pagealloc_destroy(&p);
}

/* ---------------------------------------------------------------------------------------------
 * Differential test against the byte-per-page model of pagealloc_model.h
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    uintptr_t addr;
    size_t npages;
} live;

typedef struct {
    gm_pagealloc p;
    model m;
    live *lv;
    size_t nlive, caplive;
    gm_pagecache cache[4], mcache[4];
    uintptr_t grown[64][2]; /* ranges given to grow, to pick fresh ones */
    size_t ngrown, chunks_grown;
    uintptr_t low_next, far_next; /* growth frontiers: upward from TBASE, downward past FAR */
    size_t steps;
} diff_state;

static void live_add(diff_state *s, uintptr_t addr, size_t n)
{
    if (s->nlive == s->caplive) {
        s->caplive = s->caplive ? s->caplive * 2 : 256;
        s->lv = realloc(s->lv, s->caplive * sizeof *s->lv);
    }
    s->lv[s->nlive++] = (live){addr, n};
}

static bool range_is_fresh(const diff_state *s, uintptr_t base, uintptr_t limit)
{
    for (size_t k = 0; k < s->ngrown; k++)
        if (base < s->grown[k][1] && s->grown[k][0] < limit) return false;
    return true;
}

/* Grow next to the low frontier, below the far one, or somewhere random in between. */
static void diff_grow(diff_state *s)
{
    size_t nch = rnd() % 8 == 0 ? rnd_range(9, 24) : rnd_range(1, 4);
    if (s->chunks_grown + nch > 96 || s->ngrown == 64) return;
    uintptr_t base, size = nch * CHUNK;
    switch (rnd() % 3) {
    case 0:
        base = s->low_next, s->low_next += size;
        break;
    case 1:
        base = s->far_next - size, s->far_next -= size;
        break;
    default:
        base = (uintptr_t)rnd_range(0x100000000000 / CHUNK, 0x700000000000 / CHUNK) * CHUNK;
    }
    if (!range_is_fresh(s, base, base + size)) return;
    CHECK(gm_pagealloc_grow(&s->p, base, size) == 0);
    model_grow(&s->m, base, nch * CPAGES);
    s->grown[s->ngrown][0] = base;
    s->grown[s->ngrown++][1] = base + size;
    s->chunks_grown += nch;
}

static size_t diff_size(void)
{
    unsigned r = (unsigned)(rnd() % 100);
    if (r < 35) return 1;
    if (r < 60) return rnd_range(2, 16);
    if (r < 75) return rnd_range(17, 64);
    if (r < 90) return rnd_range(65, 511);
    if (r < 97) return rnd_range(512, 1600);
    return rnd_range(2000, 20000);
}

static void diff_alloc(diff_state *s)
{
    size_t n = diff_size(), scav = 1, mscav;
    uintptr_t a = gm_pagealloc_alloc(&s->p, n, &scav);
    uintptr_t ma = model_alloc(&s->m, n, &mscav);
    CHECK_EQ(a, ma);
    CHECK_EQ(scav, a ? mscav : 0);
    if (a)
        live_add(s, a, n);
    else if (rnd() % 2)
        diff_grow(s); /* as mheap does when the page heap is out */
}

/* Free a live allocation, whole or a piece of it (the rest stays live). */
static void diff_free(diff_state *s)
{
    if (!s->nlive) return;
    size_t k = rnd() % s->nlive;
    live l = s->lv[k];
    size_t off = 0, n = l.npages;
    if (l.npages > 1 && rnd() % 4 == 0) {
        off = rnd_range(0, l.npages - 1);
        n = rnd_range(1, l.npages - off);
    }
    gm_pagealloc_free(&s->p, l.addr + off * PAGE, n);
    model_free(&s->m, l.addr + off * PAGE, n);
    s->lv[k] = s->lv[--s->nlive];
    if (off) live_add(s, l.addr, off);
    if (off + n < l.npages) live_add(s, l.addr + (off + n) * PAGE, l.npages - off - n);
}

static void diff_cache_op(diff_state *s)
{
    size_t k = rnd() % 4;
    gm_pagecache *c = &s->cache[k], *mc = &s->mcache[k];
    if (c->cache == 0) {
        *c = gm_pagealloc_alloc_to_cache(&s->p);
        *mc = model_to_cache(&s->m);
        check_cache(*c, mc->base, mc->cache, mc->scav);
    } else if (rnd() % 6 == 0) {
        gm_pagecache_flush(c, &s->p);
        model_flush(&s->m, mc);
    } else {
        size_t n = rnd() % 8 == 0 ? rnd_range(0, 70) : rnd_range(1, 8), scav = 3, mscav;
        uintptr_t a = gm_pagecache_alloc(c, n, &scav);
        CHECK_EQ(a, model_cache_alloc(mc, n, &mscav));
        CHECK_EQ(scav, a ? mscav : 0);
        if (a) live_add(s, a, n);
    }
}

static void diff_step(diff_state *s)
{
    unsigned r = (unsigned)(rnd() % 100);
    if (r < 45)
        diff_alloc(s);
    else if (r < 75)
        diff_free(s);
    else if (r < 96)
        diff_cache_op(s);
    else
        diff_grow(s);
    s->steps++;
    CHECK_OK(&s->p);
    CHECK_EQ(gm_pagealloc_free_pages(&s->p), s->m.nfree);
    CHECK_EQ(gm_pagealloc_scavenged_pages(&s->p), s->m.nscav);
}

static void test_differential(uint64_t seed, size_t nsteps)
{
    static diff_state s;
    memset(&s, 0, sizeof s);
    xs_state = seed;
    s.low_next = TBASE;
    s.far_next = FAR + 8 * CHUNK; /* growing down crosses the root boundary at FAR */
    CHECK(gm_pagealloc_init(&s.p, NULL) == 0);
    int failures_before = gm_test_failures;
    while (s.steps < nsteps && gm_test_failures == failures_before) diff_step(&s);
    if (gm_test_failures != failures_before)
        fprintf(stderr, "differential seed %#llx failed at step %zu\n", (unsigned long long)seed,
                s.steps);
    for (size_t k = 0; k < 4; k++) {
        gm_pagecache_flush(&s.cache[k], &s.p);
        model_flush(&s.m, &s.mcache[k]);
    }
    while (s.nlive) { /* free everything: back to all free */
        live l = s.lv[--s.nlive];
        gm_pagealloc_free(&s.p, l.addr, l.npages);
        model_free(&s.m, l.addr, l.npages);
    }
    CHECK_OK(&s.p);
    CHECK_EQ(gm_pagealloc_free_pages(&s.p), s.m.n);
    CHECK_EQ(gm_pagealloc_scavenged_pages(&s.p), s.m.nscav);
    gm_pagealloc_destroy(&s.p);
    free(s.m.pg);
    free(s.lv);
}

int main(void)
{
    test_summary_encoding();
    test_summary_levels_brute();
    test_chunk_search_brute();
    test_go_alloc_scenarios();
    test_go_cache_scenarios();
    test_search_addr();
    test_discontiguous();
    test_root_boundary();
    test_metadata_accounting();
    test_os_failures();
    test_checker_detects();
    test_differential(0x5eed0001, 6000);
    test_differential(0x5eed0002, 3000);
    test_differential(0xdecafbad, 3000);
    return gm_test_finish("test_pagealloc");
}
