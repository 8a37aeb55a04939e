/*
 * pagealloc.c — Go's page allocator: which 8 KiB pages of the heap are free, and the
 * address-ordered first-fit search over them (mpagealloc.go, mpagealloc_64bit.go,
 * mpallocbits.go, mpagecache.go, and the addrRanges of mranges.go they rely on). The
 * reference is §5.4-5.6 of go-runtime-reference.md; malloc.c has the whole-allocator overview.
 *
 * Structures (linux/amd64):
 *   - chunks: one gm_pallocdata per 4 MiB chunk (512 pages): an alloc bitmap (1 = in use) and
 *     a scavenged bitmap (1 = released to the OS). A sparse two-level map, as Go's
 *     pageAlloc.chunks: an L1 of 2^13 pointers mapped at init, each to an L2 array of 2^13
 *     chunks (1 MiB) mapped the first time grow reaches it.
 *   - summary[0..4]: the radix tree of pallocSum values (start, max, end: free pages at the
 *     low end, longest free run, free pages at the high end). Level l is one flat array over
 *     the whole 48-bit offset address space: entry i covers offset addresses
 *     [i << level_shift[l], (i+1) << level_shift[l]), 16 GiB at the root down to one chunk at
 *     the leaves, and each non-leaf entry is the merge of the 8 entries below it. Each array is
 *     reserved PROT_NONE at init and its OS pages are mapped when grow first needs them;
 *     summary_mapped[l] has one bit per OS page so nothing is mapped (or charged) twice.
 *   - search_addr: an offset address below which every page is known to be in use.
 *   - in_use: every range ever passed to grow, sorted and coalesced (Go's inUse addrRanges).
 *
 * Addresses: Go linearises the address space by subtracting arenaBaseOffset, so that the
 * search can treat it as one contiguous range; an "offset address" here is
 * addr - GM_ARENA_BASE_OFFSET, the order Go's offAddr compares in. search_addr is kept as an
 * offset address; in_use holds real addresses, as Go's addrRange does.
 *
 * How this differs from Go:
 *   - Go publishes L2 chunk pointers atomically for readers that skip the heap lock; here
 *     every access is under the caller's lock, so plain stores suffice.
 *   - Where Go throws because the OS refused metadata memory (sysMap/sysAlloc in grow), grow
 *     returns -1 (errno ENOMEM) before anything becomes visible: the range is not registered.
 *     Summary pages or L2 arrays mapped before the failure stay mapped and zero, which the
 *     next grow reuses, exactly as if Go had mapped them and then grown no further.
 *   - No scavenger index (scavengeIndex): gm_pagealloc_scavenge_take scans the grown chunks
 *     from the top down instead, which finds the same pages (the index only skips chunks
 *     known to hold nothing). No 2 MiB huge-page extension of a candidate run (Linux
 *     transparent huge pages are not modelled). Scavenged bits are otherwise kept exactly as
 *     Go keeps them.
 *   - findMappedAddr always consults in_use (Go's test path); Go's fast path asks the arena
 *     map, which this file does not see. Both give the same address.
 *   - in_use doubles like Go's addrRanges, but the old array is unmapped rather than leaked
 *     (Go's comes from persistentalloc); everything init and grow map is released by destroy.
 *   - alloc of 0 pages or of more pages than the address space holds, and page-cache requests
 *     of 0 or more than 64 pages, return 0 instead of being undefined.
 *
 * Invariants (gm_pagealloc_check, in check.c, verifies each one):
 *   summary[4][ci] == summarize(alloc bits of chunk ci)    for every grown chunk ci
 *   summary[l][i]  == merge(summary[l+1][8i .. 8i+7])      for l < 4, i covering grown memory
 *   summary[l][i]  == 0                                    for every other mapped entry
 *   scavenged & alloc == 0                                 (only free pages are scavenged)
 *   offset(q) >= search_addr for every free page q; search_addr lies in in_use or == max
 *   start == chunk_index(in_use[0].base), end == chunk_index(in_use[last].limit)
 *
 * Locking: the caller holds mheap.lock for every function here except gm_pagecache_alloc,
 * which touches only the P-owned cache (Go: pageCache.alloc runs without the heap lock).
 * This file takes no lock itself.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "pagealloc_impl.h" /* constants and helpers shared with the checker in check.c */

#define FREE_CHUNK_SUM                                                                             \
    ((gm_pallocsum)GM_CHUNK_PAGES | (gm_pallocsum)GM_CHUNK_PAGES << LOG_MAX_PACKED |               \
     (gm_pallocsum)GM_CHUNK_PAGES << (2 * LOG_MAX_PACKED)) /* freeChunkSum */
#define L1_ENTRIES      ((uintptr_t)1 << GM_CHUNK_L1_BITS)
#define L2_BYTES        (L2_ENTRIES * sizeof(gm_pallocdata))                  /* 1 MiB */
#define MAX_NPAGES      ((uintptr_t)1 << (GM_HEAP_ADDR_BITS - GM_PAGE_SHIFT)) /* whole space */
#define NOT_FOUND       (~(size_t)0)                                          /* Go's ^uint(0) */
#define IN_USE_INIT_CAP 16                                                    /* addrRanges.init */
#define CACHE_BYTES     (GM_PAGE_CACHE_PAGES * GM_PAGE_SIZE)

_Static_assert(GM_CHUNK_L1_BITS + GM_CHUNK_L2_BITS + GM_CHUNK_SHIFT == GM_HEAP_ADDR_BITS,
               "the chunk map covers the whole address space");
_Static_assert(sizeof(gm_pallocdata) == 128, "pallocData: 512 + 512 bits");
_Static_assert(GM_ARENA_BASE_OFFSET % GM_CHUNK_BYTES == 0, "offsets keep chunk alignment");

/* The element type of in_use (internal.h declares it inline as Go's addrRange). */
typedef gm_addrrange addr_range;

/* ---------------------------------------------------------------------------------------------
 * Addresses, chunk indices (chunkIndex, chunkBase, chunkPageIndex)
 * ------------------------------------------------------------------------------------------ */

/* off_of, addr_of, chunk_index, chunk_base, chunk_of and align_up are in pagealloc_impl.h. */

static inline size_t chunk_page_index(uintptr_t addr)
{
    return (size_t)(addr % GM_CHUNK_BYTES / GM_PAGE_SIZE);
}

/* addrsToSummaryRange: entries [*lo, *hi) of level l covering [base, limit). */
static void summary_range(int l, uintptr_t base, uintptr_t limit, uintptr_t *lo, uintptr_t *hi)
{
    *lo = off_of(base) >> level_shift[l];
    *hi = (off_of(limit - 1) >> level_shift[l]) + 1;
}

/* ---------------------------------------------------------------------------------------------
 * pallocSum packing and merging (mpagealloc.go)
 * ------------------------------------------------------------------------------------------ */

/* sum_parts, pallocsum_pack and pallocsum_unpack are in pagealloc_impl.h. */

static inline uint64_t pallocsum_max(gm_pallocsum s)
{
    return pallocsum_unpack(s).max;
}

/* mergeSummaries: one summary for n consecutive entries of 2^log_pages pages each. */
gm_pallocsum gm_pallocsum_merge(const gm_pallocsum *sums, size_t n, unsigned log_pages)
{
    const uint64_t whole = (uint64_t)1 << log_pages;
    sum_parts r = pallocsum_unpack(sums[0]);
    for (size_t i = 1; i < n; i++) {
        sum_parts c = pallocsum_unpack(sums[i]);
        /* The child's start extends ours only while everything so far is free. */
        if (r.start == i * whole) r.start += c.start;
        /* The longest run is inside the child or crosses the boundary into it. */
        if (r.end + c.start > r.max) r.max = r.end + c.start;
        if (c.max > r.max) r.max = c.max;
        r.end = c.end == whole ? r.end + whole : c.end;
    }
    return pallocsum_pack(r.start, r.max, r.end);
}

/* ---------------------------------------------------------------------------------------------
 * Bitmaps of one chunk (pageBits, pallocBits, pallocData in mpallocbits.go)
 * ------------------------------------------------------------------------------------------ */

/* tz64 and lz64 (Go's bits.TrailingZeros64/LeadingZeros64) are in pagealloc_impl.h. */

static inline uint64_t low_mask(size_t n)
{
    return n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

/* setRange / clearRange: bits [i, i+n), n >= 1. */
static void bits_set_range(uint64_t *b, size_t i, size_t n)
{
    size_t j = i + n - 1;
    if (i / 64 == j / 64) {
        b[i / 64] |= low_mask(n) << (i % 64);
        return;
    }
    b[i / 64] |= ~(uint64_t)0 << (i % 64);
    for (size_t k = i / 64 + 1; k < j / 64; k++) b[k] = ~(uint64_t)0;
    b[j / 64] |= low_mask(j % 64 + 1);
}

static void bits_clear_range(uint64_t *b, size_t i, size_t n)
{
    size_t j = i + n - 1;
    if (i / 64 == j / 64) {
        b[i / 64] &= ~(low_mask(n) << (i % 64));
        return;
    }
    b[i / 64] &= ~(~(uint64_t)0 << (i % 64));
    for (size_t k = i / 64 + 1; k < j / 64; k++) b[k] = 0;
    b[j / 64] &= ~low_mask(j % 64 + 1);
}

/* popcntRange: set bits in [i, i+n), n >= 1. */
static size_t bits_popcnt_range(const uint64_t *b, size_t i, size_t n)
{
    size_t j = i + n - 1;
    if (i / 64 == j / 64)
        return (size_t)__builtin_popcountll((b[i / 64] >> (i % 64)) & low_mask(n));
    size_t s = (size_t)__builtin_popcountll(b[i / 64] >> (i % 64));
    for (size_t k = i / 64 + 1; k < j / 64; k++) s += (size_t)__builtin_popcountll(b[k]);
    return s + (size_t)__builtin_popcountll(b[j / 64] & low_mask(j % 64 + 1));
}

/* findBitRange64: index of the lowest run of n (>= 1) one bits in c, or >= 64. Each round ANDs
 * c with itself shifted down, which trims the top of every run of ones; the shift doubles as
 * the runs of zeros it creates grow, so n-1 bits are trimmed in O(log n) steps. */
static size_t find_bit_range64(uint64_t c, size_t n)
{
    size_t p = n - 1, k = 1; /* p: ones still to trim; k: shortest run of zeros so far */
    while (p > 0) {
        if (p <= k) {
            c &= c >> (p & 63);
            break;
        }
        c &= c >> (k & 63);
        if (c == 0) return 64;
        p -= k;
        k *= 2;
    }
    return tz64(c); /* trimming from the top leaves each surviving run's lowest bit in place */
}

/* Longest run of zeros strictly inside word x (x != 0), if longer than max: the interior
 * part of pallocBits.summarize. Runs of zeros are shrunk by max; any survivor is longer. */
static uint64_t word_interior_max(uint64_t x, uint64_t max)
{
    x >>= tz64(x) & 63; /* the low zeros were counted already */
    if ((x & (x + 1)) == 0) return max;
    uint64_t p = max, k = 1; /* p: zeros still to remove per run; k: shortest run of ones */
    for (;;) {
        while (p > 0) {
            uint64_t sh = p <= k ? p : k;
            x |= x >> (sh & 63);
            if ((x & (x + 1)) == 0) return max;
            if (p <= k) break;
            p -= k;
            k *= 2;
        }
        /* The lowest surviving run of zeros is longer than max by its remaining length. */
        unsigned j = tz64(~x);
        x >>= j & 63;
        j = tz64(x);
        x >>= j & 63;
        max += j;
        if ((x & (x + 1)) == 0) return max;
        p = j;
    }
}

/* pallocBits.summarize: start = free pages at the bottom, end = at the top, max = longest. */
gm_pallocsum gm_pallocbits_summarize(const uint64_t *b)
{
    const uint64_t not_set = ~(uint64_t)0;
    uint64_t start = not_set, max = 0, cur = 0;
    for (size_t i = 0; i < CHUNK_WORDS; i++) {
        uint64_t x = b[i];
        if (x == 0) {
            cur += 64;
            continue;
        }
        cur += tz64(x); /* finish the run that reaches into this word */
        if (start == not_set) start = cur;
        if (cur > max) max = cur;
        cur = lz64(x); /* the run that may continue into the next word */
    }
    if (start == not_set) return pallocsum_pack(GM_CHUNK_PAGES, GM_CHUNK_PAGES, GM_CHUNK_PAGES);
    if (cur > max) max = cur;
    if (max < 64 - 2) /* otherwise no run inside a single word can beat max */
        for (size_t i = 0; i < CHUNK_WORDS; i++) max = word_interior_max(b[i], max);
    return pallocsum_pack(start, max, cur);
}

/* find1: the first free page at or after search_idx's word. */
static size_t pallocbits_find1(const uint64_t *b, size_t search_idx)
{
    for (size_t i = search_idx / 64; i < CHUNK_WORDS; i++)
        if (~b[i] != 0) return i * 64 + tz64(~b[i]);
    return NOT_FOUND;
}

/* findSmallN (2 <= npages <= 64): such a run crosses at most one word boundary, so per word
 * try the previous word's free top plus this word's free bottom, then the word's inside. */
static size_t pallocbits_find_small_n(const uint64_t *b, size_t npages, size_t search_idx,
                                      size_t *new_search_idx)
{
    size_t end = 0;
    *new_search_idx = NOT_FOUND;
    for (size_t i = search_idx / 64; i < CHUNK_WORDS; i++) {
        uint64_t bi = b[i];
        if (~bi == 0) {
            end = 0;
            continue;
        }
        if (*new_search_idx == NOT_FOUND) *new_search_idx = i * 64 + tz64(~bi);
        if (end + tz64(bi) >= npages) return i * 64 - end;
        size_t j = find_bit_range64(~bi, npages);
        if (j < 64) return i * 64 + j;
        end = lz64(bi);
    }
    return NOT_FOUND;
}

/* findLargeN (npages > 64): count a run across words, restarting at each word's free top. */
static size_t pallocbits_find_large_n(const uint64_t *b, size_t npages, size_t search_idx,
                                      size_t *new_search_idx)
{
    size_t start = NOT_FOUND, size = 0;
    *new_search_idx = NOT_FOUND;
    for (size_t i = search_idx / 64; i < CHUNK_WORDS; i++) {
        uint64_t x = b[i];
        if (x == ~(uint64_t)0) {
            size = 0;
            continue;
        }
        if (*new_search_idx == NOT_FOUND) *new_search_idx = i * 64 + tz64(~x);
        if (size == 0) {
            size = lz64(x);
            start = i * 64 + 64 - size;
            continue;
        }
        size_t s = tz64(x);
        if (s + size >= npages) return start;
        if (s < 64) {
            size = lz64(x);
            start = i * 64 + 64 - size;
            continue;
        }
        size += 64;
    }
    return size < npages ? NOT_FOUND : start;
}

/* pallocBits.find: the lowest run of npages free pages at or after search_idx, and in
 * *new_search_idx the first free page seen (the next search may start there). */
static size_t pallocbits_find(const uint64_t *b, size_t npages, size_t search_idx,
                              size_t *new_search_idx)
{
    if (npages == 1) return *new_search_idx = pallocbits_find1(b, search_idx);
    if (npages <= 64) return pallocbits_find_small_n(b, npages, search_idx, new_search_idx);
    return pallocbits_find_large_n(b, npages, search_idx, new_search_idx);
}

/* pallocData.allocRange: mark [i, i+n) in use and unscavenged; returns how many of those pages
 * were scavenged (the caller must make them Ready again: sysUsed). */
static size_t pallocdata_alloc_range(gm_pallocdata *d, size_t i, size_t n)
{
    size_t scav = bits_popcnt_range(d->scavenged, i, n);
    GM_ASSERT(bits_popcnt_range(d->alloc, i, n) == 0);
    bits_set_range(d->alloc, i, n);
    bits_clear_range(d->scavenged, i, n);
    return scav;
}

/* ---------------------------------------------------------------------------------------------
 * Metadata mappings: summary pages, L2 chunk arrays, the in_use array
 * ------------------------------------------------------------------------------------------ */

/* level_reserve_bytes and summary_page_mapped are in pagealloc_impl.h. */

static size_t level_mapped_bitmap_bytes(int l)
{
    return (level_reserve_bytes(l) / gm_sys_phys_page_size() + 7) / 8;
}

/* Map OS pages [pg, pg_end) of summary level l that are not mapped yet, one sysMap per run. */
static int summary_map_pages(gm_pagealloc *p, int l, size_t pg, size_t pg_end)
{
    const size_t phys = gm_sys_phys_page_size();
    while (pg < pg_end) {
        if (summary_page_mapped(p, l, pg)) {
            pg++;
            continue;
        }
        size_t run = pg;
        while (run < pg_end && !summary_page_mapped(p, l, run)) run++;
        if (gm_sys_map((char *)p->summary[l] + pg * phys, (run - pg) * phys, p->sys_stat) != 0)
            return -1;
        for (; pg < run; pg++) p->summary_mapped[l][pg / 8] |= (uint8_t)(1u << (pg % 8));
    }
    return 0;
}

/* sysGrow: map the summaries [base, limit) needs at every level, widened to whole 8-entry
 * blocks (blockAlignSummaryRange), because find() and update() read a block at a time. At the
 * root the block is the whole level, so level 0 is mapped entirely on the first grow. */
static int pagealloc_map_summaries(gm_pagealloc *p, uintptr_t base, uintptr_t limit)
{
    const size_t phys = gm_sys_phys_page_size();
    for (int l = 0; l < GM_SUMMARY_LEVELS; l++) {
        uintptr_t lo, hi, block = (uintptr_t)1 << level_bits[l];
        summary_range(l, base, limit, &lo, &hi);
        lo &= ~(block - 1);
        hi = align_up(hi, block);
        size_t pg_lo = lo * sizeof(gm_pallocsum) / phys;
        size_t pg_hi = (hi * sizeof(gm_pallocsum) + phys - 1) / phys;
        if (summary_map_pages(p, l, pg_lo, pg_hi) != 0) return -1;
    }
    return 0;
}

/* The L2 arrays of chunks [base, limit) (grow's sysAlloc of p.chunks entries). */
static int pagealloc_map_chunks(gm_pagealloc *p, uintptr_t base, uintptr_t limit)
{
    uintptr_t first = chunk_index(base) >> GM_CHUNK_L2_BITS;
    uintptr_t last = (chunk_index(limit) - 1) >> GM_CHUNK_L2_BITS;
    for (uintptr_t i = first; i <= last; i++) {
        if (p->chunks[i]) continue;
        p->chunks[i] = gm_sys_alloc(L2_BYTES, p->sys_stat);
        if (!p->chunks[i]) return -1;
    }
    return 0;
}

/* addrRanges.findSucc: the first index whose range starts above addr. */
static size_t in_use_find_succ(const gm_pagealloc *p, uintptr_t addr)
{
    size_t lo = 0, hi = p->n_in_use;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (off_of(addr) < off_of(p->in_use[mid].base))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Make room for one more range; the doubling of addrRanges.add, done before anything changes
 * so that grow can still fail cleanly. */
static int in_use_reserve(gm_pagealloc *p)
{
    if (p->n_in_use < p->cap_in_use) return 0;
    size_t cap = p->cap_in_use * 2;
    addr_range *r = gm_sys_alloc(cap * sizeof *r, p->sys_stat);
    if (!r) return -1;
    memcpy(r, p->in_use, p->n_in_use * sizeof *r);
    gm_sys_free(p->in_use, p->cap_in_use * sizeof *r, p->sys_stat);
    p->in_use = (void *)r;
    p->cap_in_use = cap;
    return 0;
}

/* addrRanges.add: insert [base, limit), merging with a neighbour it touches. */
static void in_use_add(gm_pagealloc *p, uintptr_t base, uintptr_t limit)
{
    size_t i = in_use_find_succ(p, base);
    bool down = i > 0 && p->in_use[i - 1].limit == base;
    bool up = i < p->n_in_use && p->in_use[i].base == limit;
    if (down && up) {
        p->in_use[i - 1].limit = p->in_use[i].limit;
        memmove(&p->in_use[i], &p->in_use[i + 1], (p->n_in_use - i - 1) * sizeof *p->in_use);
        p->n_in_use--;
    } else if (down) {
        p->in_use[i - 1].limit = limit;
    } else if (up) {
        p->in_use[i].base = base;
    } else {
        GM_ASSERT(p->n_in_use < p->cap_in_use);
        memmove(&p->in_use[i + 1], &p->in_use[i], (p->n_in_use - i) * sizeof *p->in_use);
        p->in_use[i].base = base;
        p->in_use[i].limit = limit;
        p->n_in_use++;
    }
}

/* findMappedAddr: the lowest grown offset address >= off, or MAX_OFF_ADDR. */
uintptr_t gm_pagealloc_find_mapped_addr(const gm_pagealloc *p, uintptr_t off)
{
    size_t i = in_use_find_succ(p, addr_of(off));
    if (i == 0) return p->n_in_use ? off_of(p->in_use[0].base) : MAX_OFF_ADDR;
    if (off < off_of(p->in_use[i - 1].limit)) return off;
    if (i < p->n_in_use) return off_of(p->in_use[i].base);
    return MAX_OFF_ADDR;
}

/* ---------------------------------------------------------------------------------------------
 * init / destroy / grow
 * ------------------------------------------------------------------------------------------ */

int gm_pagealloc_init(gm_pagealloc *p, _Atomic uint64_t *sys_stat)
{
    memset(p, 0, sizeof *p);
    p->sys_stat = sys_stat;
    p->search_addr = MAX_OFF_ADDR; /* no free memory yet */
    p->chunks = gm_sys_alloc(L1_ENTRIES * sizeof *p->chunks, sys_stat);
    if (!p->chunks) goto fail;
    p->in_use = gm_sys_alloc(IN_USE_INIT_CAP * sizeof *p->in_use, sys_stat);
    if (!p->in_use) goto fail;
    p->cap_in_use = IN_USE_INIT_CAP;
    for (int l = 0; l < GM_SUMMARY_LEVELS; l++) { /* sysInit */
        p->summary[l] = gm_sys_reserve(NULL, level_reserve_bytes(l));
        if (!p->summary[l]) goto fail;
        p->summary_mapped[l] = gm_sys_alloc(level_mapped_bitmap_bytes(l), sys_stat);
        if (!p->summary_mapped[l]) goto fail;
    }
    return 0;
fail:
    gm_pagealloc_destroy(p);
    errno = ENOMEM;
    return -1;
}

/* Safe on a partly initialised (or zeroed) struct. */
void gm_pagealloc_destroy(gm_pagealloc *p)
{
    const size_t phys = gm_sys_phys_page_size();
    for (int l = 0; l < GM_SUMMARY_LEVELS; l++) {
        if (p->summary_mapped[l]) {
            /* One munmap releases the reservation with its mapped pages; uncharge those
             * pages by hand, as Go's FreePageAlloc does with summaryMappedReady. */
            uint64_t mapped = 0;
            for (size_t i = 0; i < level_mapped_bitmap_bytes(l); i++)
                mapped += (uint64_t)__builtin_popcount(p->summary_mapped[l][i]) * phys;
            if (p->sys_stat) atomic_fetch_sub_explicit(p->sys_stat, mapped, memory_order_relaxed);
            gm_sys_free(p->summary_mapped[l], level_mapped_bitmap_bytes(l), p->sys_stat);
        }
        if (p->summary[l]) gm_sys_unreserve(p->summary[l], level_reserve_bytes(l));
    }
    if (p->chunks) {
        for (uintptr_t i = 0; i < L1_ENTRIES; i++)
            if (p->chunks[i]) gm_sys_free(p->chunks[i], L2_BYTES, p->sys_stat);
        gm_sys_free(p->chunks, L1_ENTRIES * sizeof *p->chunks, p->sys_stat);
    }
    if (p->in_use) gm_sys_free(p->in_use, p->cap_in_use * sizeof *p->in_use, p->sys_stat);
    memset(p, 0, sizeof *p);
}

static void pagealloc_update(gm_pagealloc *p, uintptr_t base, uintptr_t npages, bool contig,
                             bool alloc);

/* grow is only ever given fresh address space by mheap; anything else is an internal bug. */
static void grow_validate(const gm_pagealloc *p, uintptr_t base, size_t size_bytes)
{
    uintptr_t ob = off_of(base);
    if (size_bytes == 0 || ob >= MAX_OFF_ADDR || size_bytes > MAX_OFF_ADDR + 1 - ob)
        gm_throw("pagealloc: grow [%#lx, +%#zx) is empty or outside the address space",
                 (unsigned long)base, size_bytes);
    uintptr_t lo = base & ~(GM_CHUNK_BYTES - 1);
    uintptr_t hi = addr_of(align_up(ob + size_bytes, GM_CHUNK_BYTES));
    size_t i = in_use_find_succ(p, lo);
    if ((i > 0 && off_of(p->in_use[i - 1].limit) > off_of(lo)) ||
        (i < p->n_in_use && off_of(p->in_use[i].base) < off_of(hi)))
        gm_throw("pagealloc: grow [%#lx, %#lx) overlaps memory grown before", (unsigned long)lo,
                 (unsigned long)hi);
}

int gm_pagealloc_grow(gm_pagealloc *p, uintptr_t base, size_t size_bytes)
{
    grow_validate(p, base, size_bytes);
    /* Round out to whole chunks, as Go does; mheap always passes aligned ranges. */
    uintptr_t limit = addr_of(align_up(off_of(base) + size_bytes, GM_CHUNK_BYTES));
    base &= ~(GM_CHUNK_BYTES - 1);

    /* Everything that can fail comes first, so a failure leaves no visible change. */
    size_t i = in_use_find_succ(p, base);
    bool merges = (i > 0 && p->in_use[i - 1].limit == base) ||
                  (i < p->n_in_use && p->in_use[i].base == limit);
    if ((!merges && in_use_reserve(p) != 0) || pagealloc_map_summaries(p, base, limit) != 0 ||
        pagealloc_map_chunks(p, base, limit) != 0) {
        errno = ENOMEM;
        return -1;
    }

    uintptr_t cs = chunk_index(base), ce = chunk_index(limit);
    if (p->start == 0 || cs < p->start) p->start = cs; /* start == 0: nothing grown yet */
    if (ce > p->end) p->end = ce;
    in_use_add(p, base, limit);
    /* Like a free: the new pages may lie below search_addr. */
    if (off_of(base) < p->search_addr) p->search_addr = off_of(base);
    /* Fresh memory is free (the L2 arrays were zeroed) and counts as scavenged: Prepared,
     * not yet backed by RAM. */
    for (uintptr_t c = cs; c < ce; c++)
        memset(chunk_of(p, c)->scavenged, 0xff, sizeof chunk_of(p, c)->scavenged);
    pagealloc_update(p, base, (limit - base) / GM_PAGE_SIZE, true, false);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Summary maintenance (update)
 * ------------------------------------------------------------------------------------------ */

/* Re-merge the levels above the leaves over [base, limit), stopping at the first level where
 * nothing changed: the levels above it cannot change either. */
static void summary_update_upper(gm_pagealloc *p, uintptr_t base, uintptr_t limit)
{
    bool changed = true;
    for (int l = LEAF - 1; l >= 0 && changed; l--) {
        uintptr_t lo, hi;
        changed = false;
        summary_range(l, base, limit, &lo, &hi);
        for (uintptr_t i = lo; i < hi; i++) {
            const gm_pallocsum *children = p->summary[l + 1] + (i << level_bits[l + 1]);
            gm_pallocsum sum = gm_pallocsum_merge(children, (size_t)1 << level_bits[l + 1],
                                                  level_log_pages[l + 1]);
            if (p->summary[l][i] != sum) {
                changed = true;
                p->summary[l][i] = sum;
            }
        }
    }
}

/* update: after the bitmaps of [base, base + npages pages) changed. contig: one contiguous
 * alloc (alloc) or free happened, so whole chunks inside it are all in use or all free. */
static void pagealloc_update(gm_pagealloc *p, uintptr_t base, uintptr_t npages, bool contig,
                             bool alloc)
{
    uintptr_t limit = base + npages * GM_PAGE_SIZE - 1; /* inclusive */
    uintptr_t sc = chunk_index(base), ec = chunk_index(limit);
    gm_pallocsum *leaf = p->summary[LEAF];
    if (sc == ec) {
        /* One chunk: if its summary did not change, no summary above it does. */
        gm_pallocsum y = gm_pallocbits_summarize(chunk_of(p, sc)->alloc);
        if (leaf[sc] == y) return;
        leaf[sc] = y;
    } else if (contig) {
        leaf[sc] = gm_pallocbits_summarize(chunk_of(p, sc)->alloc);
        for (uintptr_t c = sc + 1; c < ec; c++) leaf[c] = alloc ? 0 : FREE_CHUNK_SUM;
        leaf[ec] = gm_pallocbits_summarize(chunk_of(p, ec)->alloc);
    } else {
        for (uintptr_t c = sc; c <= ec; c++)
            leaf[c] = gm_pallocbits_summarize(chunk_of(p, c)->alloc);
    }
    summary_update_upper(p, base, limit + 1);
}

/* allocRange (alloc) or the bitmap half of free: set or clear the alloc bits of
 * [base, base + npages pages), chunk by chunk. Returns the scavenged pages it allocated. */
static size_t pagealloc_mark_range(gm_pagealloc *p, uintptr_t base, uintptr_t npages, bool alloc)
{
    uintptr_t last = base + npages * GM_PAGE_SIZE - 1;
    uintptr_t sc = chunk_index(base), ec = chunk_index(last);
    size_t scav = 0;
    for (uintptr_t c = sc; c <= ec; c++) {
        size_t i = c == sc ? chunk_page_index(base) : 0;
        size_t e = c == ec ? chunk_page_index(last) + 1 : GM_CHUNK_PAGES;
        gm_pallocdata *d = chunk_of(p, c);
        if (alloc) {
            scav += pallocdata_alloc_range(d, i, e - i);
        } else {
            GM_ASSERT(bits_popcnt_range(d->alloc, i, e - i) == e - i);
            bits_clear_range(d->alloc, i, e - i); /* scavenged bits stay: freed pages keep RAM */
        }
    }
    pagealloc_update(p, base, npages, true, alloc);
    return scav;
}

/* ---------------------------------------------------------------------------------------------
 * find / alloc / free
 * ------------------------------------------------------------------------------------------ */

/* find's firstFree: the narrowest window [base, bound] (offsets, inclusive) known to hold the
 * first free page of the heap; its base becomes the next search_addr. */
typedef struct {
    uintptr_t base, bound;
} free_window;

/* foundFree: free memory was seen in [off, off+size); narrow the window if it lies inside. */
static void found_free(free_window *w, uintptr_t off, uintptr_t size)
{
    uintptr_t last = off + size - 1;
    if (w->base <= off && last <= w->bound) {
        w->base = off;
        w->bound = last;
    } else if (!(last < w->base || w->bound < off)) {
        gm_throw("pagealloc: free range [%#lx, %#lx] partially overlaps window [%#lx, %#lx]",
                 (unsigned long)off, (unsigned long)last, (unsigned long)w->base,
                 (unsigned long)w->bound);
    }
}

enum { SCAN_DESCEND, SCAN_FOUND, SCAN_NONE };

/* One level of find(): scan the block of entries starting at *i (the whole root level, or
 * the 8 children of the entry chosen above) for npages free pages, keeping a run that may
 * straddle entries. SCAN_FOUND: *found_off is where that run starts. SCAN_DESCEND: entry *i
 * holds such a run inside it. */
static int find_scan_block(const gm_pagealloc *p, int l, uintptr_t *i, uint64_t npages,
                           free_window *w, uintptr_t *found_off)
{
    const uintptr_t per_block = (uintptr_t)1 << level_bits[l];
    const unsigned log_pages = level_log_pages[l];
    const uint64_t whole = (uint64_t)1 << log_pages;
    const gm_pallocsum *entries = p->summary[l] + *i;
    uintptr_t j0 = 0, search_idx = p->search_addr >> level_shift[l];
    if ((search_idx & ~(per_block - 1)) == *i) j0 = search_idx & (per_block - 1);
    uint64_t base = 0, size = 0; /* current run: first page (relative to the block), length */
    for (uintptr_t j = j0; j < per_block; j++) {
        gm_pallocsum sum = entries[j];
        if (sum == 0) { /* fully in use: breaks any run */
            size = 0;
            continue;
        }
        found_free(w, (*i + j) << level_shift[l], (uintptr_t)whole * GM_PAGE_SIZE);
        sum_parts s = pallocsum_unpack(sum);
        if (size + s.start >= npages) { /* the run completes across the boundary */
            if (size == 0) base = (uint64_t)j << log_pages;
            size += s.start;
            break;
        }
        if (s.max >= npages) { /* the run lies inside entry j */
            *i += j;
            return SCAN_DESCEND;
        }
        if (size == 0 || s.start < whole) { /* restart the run at the entry's free top */
            size = s.end;
            base = ((uint64_t)(j + 1) << log_pages) - size;
        } else {
            size += whole; /* entirely free: the run goes on */
        }
    }
    if (size < npages) return SCAN_NONE;
    *found_off = (*i << level_shift[l]) + (uintptr_t)base * GM_PAGE_SIZE;
    return SCAN_FOUND;
}

/* find: descend the radix tree for the lowest run of npages free pages. Returns its address
 * (0 if none) and in *new_search a search_addr candidate (findMappedAddr of the first-free
 * window). */
static uintptr_t pagealloc_find(const gm_pagealloc *p, uint64_t npages, uintptr_t *new_search)
{
    free_window w = {0, MAX_OFF_ADDR};
    uintptr_t i = 0, off = 0;
    for (int l = 0; l < GM_SUMMARY_LEVELS; l++) {
        i <<= level_bits[l];
        int r = find_scan_block(p, l, &i, npages, &w, &off);
        if (r == SCAN_DESCEND) continue;
        if (r == SCAN_FOUND) {
            *new_search = gm_pagealloc_find_mapped_addr(p, w.base);
            return addr_of(off);
        }
        if (l == 0) { /* the whole heap has no such run */
            *new_search = MAX_OFF_ADDR;
            return 0;
        }
        gm_throw("pagealloc: bad summary data: summary[%d] block at %#lx has no run of %lu pages "
                 "its parent promised (search_addr %#lx)",
                 l, (unsigned long)i, (unsigned long)npages, (unsigned long)p->search_addr);
    }
    /* i is now a chunk whose leaf summary promised a run inside it. */
    size_t sidx, j = pallocbits_find(chunk_of(p, i)->alloc, npages, 0, &sidx);
    if (j == NOT_FOUND)
        gm_throw("pagealloc: bad summary data: chunk %#lx summary %#llx, no run of %lu pages",
                 (unsigned long)i, (unsigned long long)p->summary[LEAF][i], (unsigned long)npages);
    uintptr_t first_free = chunk_base(i) + sidx * GM_PAGE_SIZE;
    found_free(&w, off_of(first_free), chunk_base(i + 1) - first_free);
    *new_search = gm_pagealloc_find_mapped_addr(p, w.base);
    return chunk_base(i) + j * GM_PAGE_SIZE;
}

uintptr_t gm_pagealloc_alloc(gm_pagealloc *p, size_t npages, size_t *scav_bytes)
{
    if (scav_bytes) *scav_bytes = 0;
    if (npages == 0 || npages > MAX_NPAGES) return 0;
    /* search_addr beyond every chunk: nothing is free (the caller grows the heap). */
    uintptr_t ci = p->search_addr >> GM_CHUNK_SHIFT;
    if (ci >= p->end) return 0;
    uintptr_t addr, new_search = 0;
    size_t pi = chunk_page_index(addr_of(p->search_addr));
    /* Fast path: the run may fit in the chunk holding search_addr, from search_addr up. */
    if (GM_CHUNK_PAGES - pi >= npages && pallocsum_max(p->summary[LEAF][ci]) >= npages) {
        size_t sidx, j = pallocbits_find(chunk_of(p, ci)->alloc, npages, pi, &sidx);
        if (j == NOT_FOUND)
            gm_throw(
                "pagealloc: bad summary data: chunk %#lx max %lu, no run of %zu pages from %zu",
                (unsigned long)ci, (unsigned long)pallocsum_max(p->summary[LEAF][ci]), npages, pi);
        addr = chunk_base(ci) + j * GM_PAGE_SIZE;
        new_search = off_of(chunk_base(ci) + sidx * GM_PAGE_SIZE);
    } else {
        addr = pagealloc_find(p, npages, &new_search);
        if (!addr) {
            /* Not even one page anywhere: remember the heap is exhausted. A larger request
             * may only have lacked a long enough run. */
            if (npages == 1) p->search_addr = MAX_OFF_ADDR;
            return 0;
        }
    }
    size_t scav = pagealloc_mark_range(p, addr, npages, true);
    if (scav_bytes) *scav_bytes = scav * GM_PAGE_SIZE;
    /* Everything below the first free page the search saw is now known to be in use. */
    if (p->search_addr < new_search) p->search_addr = new_search;
    return addr;
}

void gm_pagealloc_free(gm_pagealloc *p, uintptr_t base, size_t npages)
{
    if (npages == 0) return;
    if (off_of(base) < p->search_addr) p->search_addr = off_of(base);
    pagealloc_mark_range(p, base, npages, false);
}

/* ---------------------------------------------------------------------------------------------
 * Per-P page cache (mpagecache.go)
 * ------------------------------------------------------------------------------------------ */

/* allocToCache: hand a P the aligned 64-page block holding the heap's first free page, with
 * all of that block's free pages. */
gm_pagecache gm_pagealloc_alloc_to_cache(gm_pagealloc *p)
{
    gm_pagecache c = {0, 0, 0};
    uintptr_t ci = p->search_addr >> GM_CHUNK_SHIFT, first;
    if (ci >= p->end) return c;
    if (p->summary[LEAF][ci] != 0) {
        /* Fast path: the chunk at search_addr has a free page, and nothing below is free. */
        size_t sidx, j = pallocbits_find(chunk_of(p, ci)->alloc, 1,
                                         chunk_page_index(addr_of(p->search_addr)), &sidx);
        if (j == NOT_FOUND)
            gm_throw("pagealloc: bad summary data: chunk %#lx summary %#llx but no free page",
                     (unsigned long)ci, (unsigned long long)p->summary[LEAF][ci]);
        first = chunk_base(ci) + j * GM_PAGE_SIZE;
    } else {
        uintptr_t unused;
        first = pagealloc_find(p, 1, &unused);
        if (!first) {
            p->search_addr = MAX_OFF_ADDR;
            return c;
        }
    }
    gm_pallocdata *d = chunk_of(p, chunk_index(first));
    size_t w = chunk_page_index(first) / 64;
    c.base = first & ~(uintptr_t)(CACHE_BYTES - 1);
    c.cache = ~d->alloc[w];
    c.scav = d->scavenged[w];
    /* The free pages now belong to the cache: in use here, their scavenged state kept there. */
    d->alloc[w] |= c.cache;
    d->scavenged[w] &= ~(c.cache & c.scav);
    pagealloc_update(p, c.base, GM_PAGE_CACHE_PAGES, false, true);
    /* The last page of the block, not the one after: search_addr must stay in grown memory. */
    p->search_addr = off_of(c.base + (GM_PAGE_CACHE_PAGES - 1) * GM_PAGE_SIZE);
    return c;
}

/* pageCache.alloc: the lowest free run of npages in the cache, or 0 (the caller then asks
 * the global allocator). */
uintptr_t gm_pagecache_alloc(gm_pagecache *c, size_t npages, size_t *scav_bytes)
{
    if (scav_bytes) *scav_bytes = 0;
    if (c->cache == 0 || npages == 0 || npages > GM_PAGE_CACHE_PAGES) return 0;
    size_t i = npages == 1 ? tz64(c->cache) : find_bit_range64(c->cache, npages);
    if (i >= 64) return 0;
    uint64_t mask = low_mask(npages) << i;
    if (scav_bytes) *scav_bytes = (size_t)__builtin_popcountll(c->scav & mask) * GM_PAGE_SIZE;
    c->cache &= ~mask;
    c->scav &= ~mask;
    return c->base + i * GM_PAGE_SIZE;
}

/* pageCache.flush: give the cache's free pages back, scavenged state restored. */
void gm_pagecache_flush(gm_pagecache *c, gm_pagealloc *p)
{
    if (c->cache != 0) {
        gm_pallocdata *d = chunk_of(p, chunk_index(c->base));
        size_t w = chunk_page_index(c->base) / 64;
        d->alloc[w] &= ~c->cache;
        d->scavenged[w] |= c->scav;
        if (off_of(c->base) < p->search_addr) p->search_addr = off_of(c->base);
        pagealloc_update(p, c->base, GM_PAGE_CACHE_PAGES, false, false);
    }
    *c = (gm_pagecache){0, 0, 0};
}

/* ---------------------------------------------------------------------------------------------
 * Scavenging (mgcscavenge.go: scavengeOne, findScavengeCandidate)
 * ------------------------------------------------------------------------------------------ */

/* Highest page of chunk d that is free and not scavenged, or NOT_FOUND. */
static size_t highest_candidate(const gm_pallocdata *d)
{
    for (size_t w = CHUNK_WORDS; w-- > 0;) {
        uint64_t x = ~d->alloc[w] & ~d->scavenged[w];
        if (x) return w * 64 + 63 - (size_t)__builtin_clzll(x);
    }
    return NOT_FOUND;
}

uintptr_t gm_pagealloc_scavenge_take(gm_pagealloc *p, size_t max_pages, size_t *npages)
{
    *npages = 0;
    if (max_pages == 0) return 0;
    for (size_t r = p->n_in_use; r-- > 0;) {
        uintptr_t lo = chunk_index(p->in_use[r].base), c = chunk_index(p->in_use[r].limit);
        while (c-- > lo) {
            gm_pallocdata *d = chunk_of(p, c);
            size_t top = highest_candidate(d);
            if (top == NOT_FOUND) continue;
            /* Extend the run downward while the pages are free and unscavenged. */
            size_t first = top;
            while (first > 0 && top - first + 1 < max_pages) {
                size_t q = first - 1;
                if ((d->alloc[q / 64] | d->scavenged[q / 64]) >> (q % 64) & 1) break;
                first = q;
            }
            *npages = top - first + 1;
            uintptr_t base = chunk_base(c) + first * GM_PAGE_SIZE;
            pagealloc_mark_range(p, base, *npages, true); /* held while the lock is dropped */
            return base;
        }
    }
    return 0;
}

void gm_pagealloc_scavenge_return(gm_pagealloc *p, uintptr_t base, size_t npages)
{
    gm_pagealloc_free(p, base, npages);
    uintptr_t c = chunk_index(base);
    bits_set_range(chunk_of(p, c)->scavenged, chunk_page_index(base), npages);
}

/* ---------------------------------------------------------------------------------------------
 * Recounts for checkers
 * ------------------------------------------------------------------------------------------ */

/* Set bits of the alloc (or scavenged) bitmaps of every grown chunk. */
static size_t pagealloc_count_bits(const gm_pagealloc *p, bool scavenged)
{
    size_t n = 0;
    for (size_t r = 0; r < p->n_in_use; r++) {
        for (uintptr_t c = chunk_index(p->in_use[r].base); c < chunk_index(p->in_use[r].limit);
             c++) {
            const gm_pallocdata *d = chunk_of(p, c);
            const uint64_t *b = scavenged ? d->scavenged : d->alloc;
            for (size_t k = 0; k < CHUNK_WORDS; k++) n += (size_t)__builtin_popcountll(b[k]);
        }
    }
    return n;
}

static size_t pagealloc_grown_pages(const gm_pagealloc *p)
{
    size_t n = 0;
    for (size_t r = 0; r < p->n_in_use; r++)
        n += (p->in_use[r].limit - p->in_use[r].base) / GM_PAGE_SIZE;
    return n;
}

size_t gm_pagealloc_free_pages(const gm_pagealloc *p)
{
    return pagealloc_grown_pages(p) - pagealloc_count_bits(p, false);
}

size_t gm_pagealloc_scavenged_pages(const gm_pagealloc *p)
{
    return pagealloc_count_bits(p, true);
}
