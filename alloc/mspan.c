/*
 * mspan.c — one span: a run of pages cut into equal slots (mheap.go: mspan; mbitmap.go:
 * allocBits, allocCache, nextFreeIndex; mgcsweep.go: the bitmap half of sweep).
 *
 * Model of Go (see malloc.c for the whole picture):
 *   - alloc_bits is Go's allocBits: 1 = the slot was allocated when the span was last swept.
 *   - freeindex and alloc_cache are Go's: every slot below freeindex is allocated; alloc_cache
 *     holds the complement of alloc_bits for the 64-slot window at freeindex, shifted so bit 0
 *     is slot freeindex. Slots are handed out in increasing address order, and after a sweep
 *     the lowest freed slot is reused first.
 *   - freed_bits stands where Go's gcmarkBits stand. Go learns what is live by marking; the
 *     model learns what died from gm_free. Sweeping is the same equation with the sign turned:
 *         Go:    allocBits' = gcmarkBits
 *         model: alloc_bits' = (alloc_bits | below(freeindex)) & ~freed_bits
 *
 * Invariants (checked by gm_mspan_check):
 *   alloc_count == popcount(alloc_bits | below(freeindex)) over [0, nelems)
 *   freeindex <= nelems; limit == base + nelems*elemsize; nelems*elemsize <= npages*8192
 *   freed_bits ⊆ alloc_bits | below(freeindex)            (only live objects can be freed)
 *   alloc_cache == ~alloc_bits[window] >> (freeindex % 64) in the bits still inside the window
 *
 * Concurrency: the span's owner (the P whose mcache holds it, or the thread that claimed it
 * for sweeping via sweepgen) is the only writer of freeindex, alloc_cache, alloc_bits and
 * alloc_count. gm_free on any thread only sets freed_bits (atomic OR) and reads freeindex and
 * alloc_bits to validate the pointer; the sweeper publishes alloc_bits before it resets
 * freeindex (release), and gm_free reads freeindex first (acquire), so a live object is never
 * mistaken for a free slot while its span is being swept.
 */
#include <string.h>

#include "gm_testing.h"

/* Shift that gives 0 for n == 64, as Go's >> does (C leaves it undefined). */
static inline uint64_t shr64(uint64_t x, unsigned n)
{
    return n >= 64 ? 0 : x >> n;
}

/* below(fi) restricted to word w: bits for slots [w*64, min(fi, w*64+64)). */
static inline uint64_t below_mask(uintptr_t fi, unsigned w)
{
    uintptr_t lo = (uintptr_t)w * 64;
    if (fi <= lo) return 0;
    if (fi >= lo + 64) return ~(uint64_t)0;
    return ((uint64_t)1 << (fi - lo)) - 1;
}

/* Bits for slots [w*64, nelems) of word w. */
static inline uint64_t nelems_mask(uintptr_t nelems, unsigned w)
{
    return below_mask(nelems, w);
}

static void mspan_reset_bits(gm_mspan *s)
{
    for (unsigned w = 0; w < GM_ALLOC_BITS_WORDS; w++) {
        atomic_store_explicit(&s->alloc_bits[w], 0, memory_order_relaxed);
        atomic_store_explicit(&s->freed_bits[w], 0, memory_order_relaxed);
    }
    atomic_store_explicit(&s->freeindex, 0, memory_order_relaxed);
    s->alloc_cache = ~(uint64_t)0;
    s->alloc_count = 0;
    s->alloc_count_before_cache = 0;
}

void gm_mspan_init_small(gm_mspan *s, uint8_t spanclass)
{
    uint8_t sc = gm_spanclass_sizeclass(spanclass);
    GM_ASSERT(sc != 0 && s->npages == gm_class_to_allocnpages[sc]);
    s->spanclass = spanclass;
    s->elemsize = gm_class_to_size[sc];
    s->div_mul = gm_class_to_divmagic[sc];
    /* nelems = npages*8192 / elemsize through divMul, exactly as mcentral.grow does. */
    s->nelems = (uintptr_t)(((uint64_t)(s->npages * GM_PAGE_SIZE) * s->div_mul) >> 32);
    s->limit = s->base + s->nelems * s->elemsize;
    mspan_reset_bits(s);
}

void gm_mspan_init_large(gm_mspan *s, uint8_t spanclass)
{
    s->spanclass = spanclass;
    s->elemsize = s->npages * GM_PAGE_SIZE;
    s->div_mul = 0; /* every interior pointer maps to slot 0 */
    s->nelems = 1;
    s->limit = s->base + s->elemsize;
    mspan_reset_bits(s);
    /* allocLarge: the one object is handed out at once. */
    atomic_store_explicit(&s->freeindex, 1, memory_order_release);
    s->alloc_count = 1;
    s->alloc_cache = 0;
}

void gm_mspan_refill_alloc_cache(gm_mspan *s, uintptr_t whichbyte)
{
    GM_ASSERT(whichbyte % 8 == 0);
    unsigned w = (unsigned)(whichbyte / 8);
    uint64_t bits =
        w < GM_ALLOC_BITS_WORDS ? atomic_load_explicit(&s->alloc_bits[w], memory_order_relaxed) : 0;
    s->alloc_cache = ~bits;
}

uintptr_t gm_mspan_next_free_index(gm_mspan *s)
{
    uintptr_t sfreeindex = atomic_load_explicit(&s->freeindex, memory_order_relaxed);
    uintptr_t snelems = s->nelems;
    if (sfreeindex == snelems) return sfreeindex;
    if (sfreeindex > snelems)
        gm_throw("span %p: freeindex %zu > nelems %zu", (void *)s->base, (size_t)sfreeindex,
                 (size_t)snelems);
    uint64_t acache = s->alloc_cache;
    unsigned bit = acache ? (unsigned)__builtin_ctzll(acache) : 64;
    while (bit == 64) {
        /* Nothing free in this window: move to the next 64-slot window. */
        sfreeindex = (sfreeindex + 64) & ~(uintptr_t)63;
        if (sfreeindex >= snelems) {
            atomic_store_explicit(&s->freeindex, snelems, memory_order_relaxed);
            return snelems;
        }
        gm_mspan_refill_alloc_cache(s, sfreeindex / 8);
        acache = s->alloc_cache;
        bit = acache ? (unsigned)__builtin_ctzll(acache) : 64;
    }
    uintptr_t result = sfreeindex + bit;
    if (result >= snelems) { /* bits past nelems read as free */
        atomic_store_explicit(&s->freeindex, snelems, memory_order_relaxed);
        return snelems;
    }
    s->alloc_cache = shr64(s->alloc_cache, bit + 1);
    sfreeindex = result + 1;
    if (sfreeindex % 64 == 0 && sfreeindex != snelems)
        gm_mspan_refill_alloc_cache(s, sfreeindex / 8);
    atomic_store_explicit(&s->freeindex, sfreeindex, memory_order_relaxed);
    return result;
}

bool gm_mspan_is_allocated(const gm_mspan *s, uintptr_t i)
{
    /* freeindex first (acquire): see the sweep-ordering note at the top of the file. */
    if (i < atomic_load_explicit(&s->freeindex, memory_order_acquire)) return true;
    uint64_t w = atomic_load_explicit(&s->alloc_bits[i / 64], memory_order_relaxed);
    return (w >> (i % 64)) & 1;
}

uintptr_t gm_mspan_count_alloc(const gm_mspan *s)
{
    uintptr_t fi = atomic_load_explicit(&s->freeindex, memory_order_relaxed), n = 0;
    for (unsigned w = 0; w * 64 < s->nelems; w++) {
        uint64_t a = atomic_load_explicit(&s->alloc_bits[w], memory_order_relaxed);
        n += (uintptr_t)__builtin_popcountll((a | below_mask(fi, w)) & nelems_mask(s->nelems, w));
    }
    return n;
}

uintptr_t gm_mspan_sweep_bits(gm_mspan *s)
{
    uintptr_t fi = atomic_load_explicit(&s->freeindex, memory_order_relaxed);
    uintptr_t nalloc = 0, nfreed = 0;
    for (unsigned w = 0; w * 64 < s->nelems; w++) {
        /* Frees that land after this exchange stay for the next sweep: the objects they name
         * are still allocated in the new alloc_bits, so nothing is lost. */
        uint64_t dead = atomic_exchange_explicit(&s->freed_bits[w], 0, memory_order_acquire);
        uint64_t was =
            (atomic_load_explicit(&s->alloc_bits[w], memory_order_relaxed) | below_mask(fi, w)) &
            nelems_mask(s->nelems, w);
        if (dead & ~was)
            gm_throw("sweep of span %p: word %u frees %#llx that were never allocated",
                     (void *)s->base, w, (unsigned long long)(dead & ~was));
        uint64_t live = was & ~dead;
        atomic_store_explicit(&s->alloc_bits[w], live, memory_order_relaxed);
        nalloc += (uintptr_t)__builtin_popcountll(live);
        nfreed += (uintptr_t)__builtin_popcountll(dead);
    }
    if (s->alloc_count != nalloc + nfreed)
        gm_throw("sweep of span %p: alloc_count %u but %zu allocated slots", (void *)s->base,
                 s->alloc_count, (size_t)(nalloc + nfreed));
    s->alloc_count = (uint16_t)nalloc;
    if (nfreed) s->needzero = 1;
    /* Publish the new alloc_bits before freeindex drops to 0 (gm_mspan_is_allocated). */
    atomic_store_explicit(&s->freeindex, 0, memory_order_release);
    gm_mspan_refill_alloc_cache(s, 0);
    return nfreed;
}
