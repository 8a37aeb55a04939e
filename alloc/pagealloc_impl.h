/*
 * pagealloc_impl.h — internals of the page allocator shared with check.c; not for other
 * callers. Include it only from pagealloc.c and check.c: the layout, constants and helpers
 * here are the page allocator's own and change with it (pagealloc.c's header comment
 * describes the structures). Everything else reaches the page allocator through internal.h.
 */
#ifndef GM_PAGEALLOC_IMPL_H
#define GM_PAGEALLOC_IMPL_H

#include "internal.h"

/* logMaxPackedValue: a root entry spans 2^21 pages, so each summary field needs 21 bits. */
#define LOG_MAX_PACKED (GM_CHUNK_PAGES_SHIFT + (GM_SUMMARY_LEVELS - 1) * GM_SUMMARY_LEVEL_BITS)
#define PACKED_MASK    (GM_MAX_PACKED_VALUE - 1)
#define SUM_ALL_FREE   ((gm_pallocsum)1 << 63) /* (2^21, 2^21, 2^21) does not fit in 21 bits */
#define LEAF           (GM_SUMMARY_LEVELS - 1)
#define CHUNK_WORDS    (GM_CHUNK_PAGES / 64)
#define L2_ENTRIES     ((uintptr_t)1 << GM_CHUNK_L2_BITS)
#define MAX_OFF_ADDR   (((uintptr_t)1 << GM_HEAP_ADDR_BITS) - 1) /* maxOffAddr, as an offset */

_Static_assert(LOG_MAX_PACKED == 21, "logMaxPackedValue = 9 + 4*3");
_Static_assert(((uint64_t)1 << LOG_MAX_PACKED) == GM_MAX_PACKED_VALUE, "maxPackedValue");

#define LEVEL_SHIFT(l) (GM_HEAP_ADDR_BITS - GM_SUMMARY_L0_BITS - (l)*GM_SUMMARY_LEVEL_BITS)
#define LEVEL_LOG_PAGES(l)                                                                         \
    (GM_CHUNK_PAGES_SHIFT + (GM_SUMMARY_LEVELS - 1 - (l)) * GM_SUMMARY_LEVEL_BITS)

/* levelBits, levelShift and levelLogPages of mpagealloc_64bit.go: 14,3,3,3,3 / 34,31,28,25,22
 * / 21,18,15,12,9. */
static const unsigned level_bits[GM_SUMMARY_LEVELS] = {GM_SUMMARY_L0_BITS, GM_SUMMARY_LEVEL_BITS,
                                                       GM_SUMMARY_LEVEL_BITS, GM_SUMMARY_LEVEL_BITS,
                                                       GM_SUMMARY_LEVEL_BITS};
static const unsigned level_shift[GM_SUMMARY_LEVELS] = {
    LEVEL_SHIFT(0), LEVEL_SHIFT(1), LEVEL_SHIFT(2), LEVEL_SHIFT(3), LEVEL_SHIFT(4)};
static const unsigned level_log_pages[GM_SUMMARY_LEVELS] = {LEVEL_LOG_PAGES(0), LEVEL_LOG_PAGES(1),
                                                            LEVEL_LOG_PAGES(2), LEVEL_LOG_PAGES(3),
                                                            LEVEL_LOG_PAGES(4)};
_Static_assert(LEVEL_SHIFT(4) == GM_CHUNK_SHIFT, "a leaf summary covers one chunk");
_Static_assert(LEVEL_LOG_PAGES(0) <= LOG_MAX_PACKED, "root max pages fits in a summary");

/* ---------------------------------------------------------------------------------------------
 * Addresses, chunk indices (chunkIndex, chunkBase)
 * ------------------------------------------------------------------------------------------ */

static inline uintptr_t off_of(uintptr_t addr)
{
    return addr - GM_ARENA_BASE_OFFSET;
}
static inline uintptr_t addr_of(uintptr_t off)
{
    return off + GM_ARENA_BASE_OFFSET;
}
static inline uintptr_t chunk_index(uintptr_t addr)
{
    return off_of(addr) >> GM_CHUNK_SHIFT;
}
static inline uintptr_t chunk_base(uintptr_t ci)
{
    return addr_of(ci << GM_CHUNK_SHIFT);
}
static inline gm_pallocdata *chunk_of(const gm_pagealloc *p, uintptr_t ci)
{
    return &p->chunks[ci >> GM_CHUNK_L2_BITS][ci & (L2_ENTRIES - 1)];
}
static inline uintptr_t align_up(uintptr_t x, uintptr_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* ---------------------------------------------------------------------------------------------
 * pallocSum packing and merging (mpagealloc.go)
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    uint64_t start, max, end;
} sum_parts;

static inline gm_pallocsum pallocsum_pack(uint64_t start, uint64_t max, uint64_t end)
{
    /* max == 2^21 can only mean the whole 16 GiB root entry is free. */
    if (max == GM_MAX_PACKED_VALUE) return SUM_ALL_FREE;
    return (start & PACKED_MASK) | (max & PACKED_MASK) << LOG_MAX_PACKED |
           (end & PACKED_MASK) << (2 * LOG_MAX_PACKED);
}

static inline sum_parts pallocsum_unpack(gm_pallocsum s)
{
    if (s & SUM_ALL_FREE)
        return (sum_parts){GM_MAX_PACKED_VALUE, GM_MAX_PACKED_VALUE, GM_MAX_PACKED_VALUE};
    return (sum_parts){s & PACKED_MASK, (s >> LOG_MAX_PACKED) & PACKED_MASK,
                       (s >> (2 * LOG_MAX_PACKED)) & PACKED_MASK};
}

/* mergeSummaries: one summary for n consecutive entries of 2^log_pages pages each. */
gm_pallocsum gm_pallocsum_merge(const gm_pallocsum *sums, size_t n, unsigned log_pages);

/* ---------------------------------------------------------------------------------------------
 * Bitmaps of one chunk (pallocBits in mpallocbits.go)
 * ------------------------------------------------------------------------------------------ */

/* Go's bits.TrailingZeros64/LeadingZeros64 answer 64 for 0; the builtins do not. */
static inline unsigned tz64(uint64_t x)
{
    return x ? (unsigned)__builtin_ctzll(x) : 64;
}
static inline unsigned lz64(uint64_t x)
{
    return x ? (unsigned)__builtin_clzll(x) : 64;
}

/* pallocBits.summarize: start = free pages at the bottom, end = at the top, max = longest. */
gm_pallocsum gm_pallocbits_summarize(const uint64_t *b);

/* ---------------------------------------------------------------------------------------------
 * Metadata mappings: summary pages, the in_use array
 * ------------------------------------------------------------------------------------------ */

/* Bytes reserved for summary level l: the whole address space, in whole OS pages. */
static inline size_t level_reserve_bytes(int l)
{
    size_t entries = (size_t)1 << (GM_HEAP_ADDR_BITS - level_shift[l]);
    return align_up(entries * sizeof(gm_pallocsum), gm_sys_phys_page_size());
}

/* Whether OS page pg of summary level l is mapped (summary_mapped[l]). */
static inline bool summary_page_mapped(const gm_pagealloc *p, int l, size_t pg)
{
    return p->summary_mapped[l][pg / 8] >> (pg % 8) & 1;
}

/* findMappedAddr: the lowest grown offset address >= off, or MAX_OFF_ADDR. */
uintptr_t gm_pagealloc_find_mapped_addr(const gm_pagealloc *p, uintptr_t off);

#endif
