/*
 * mcache.c — the per-P cache of spans and the tiny allocator (mcache.go; the tiny branch of
 * mallocgc in malloc.go). See malloc.c for the overview.
 *
 * As in Go 1.19: a P's mcache holds one span per span class; every slot starts at a shared
 * empty span, so the first allocation of each class refills. refill returns the full span to
 * its mcentral and takes one with a free slot; statistics (smallAllocCount, tinyAllocs) move
 * to the P's shard only when a span leaves the cache, which is why MemStats flushes caches.
 *
 * The tiny allocator packs pointer-free objects under 16 bytes into 16-byte blocks of span
 * class 5, aligned by size (8 if size%8 == 0, 4 if %4, 2 if even), and starts a new block
 * when the current one cannot take the object; the new block becomes current only if it keeps
 * more free space than the old one (§3).
 *
 * Difference from Go, forced by explicit free: Go frees a tiny block when nothing points into
 * it. The model keeps one 32-bit word per block of a tiny span (tiny_meta; 2 KiB per 8 KiB
 * span, charged to OtherSys):
 *     bits 0..15   an object starts at byte i
 *     bits 16..30  an object ends at byte i-16 (0..14); the last object may run to byte 15
 *     bit 31       the block is a P's current tiny block (Go keeps that block alive by marking
 *                  it at every GC start; a block current and empty when a cycle starts likewise
 *                  survives that cycle and dies when the next one starts: gm_mcache_mark_tiny)
 * gm_free clears the object's start and end bits; the block dies, exactly once, when the word
 * becomes 0, i.e. when its last object is freed and it is no longer current. Its slot is then
 * freed like any object and reclaimed by the sweeper. A block allocated as an ordinary 16-byte
 * object keeps word 0. The ends make gm_usable_size exact for tiny objects.
 *
 * Invariants (gm_mcache_check): alloc[spc] is the empty span or an in-use span of class spc
 * with sweepgen == sg+3; tiny != 0 implies tinyoffset <= 16, tiny lies in tiny_span (class 5)
 * and its word has bit 31 set; no start bit at or above tinyoffset in the current block.
 *
 * Under ASan/Valgrind a tiny block is poisoned whole when it dies (internal.h): a freed tiny
 * object whose block still holds a live one stays addressable.
 *
 * Misuse: gm_tiny_free reports a free that starts no live object before it changes the word.
 * Its second report can only fire when two threads free the same object at once; the loser's
 * fetch_and cleared bits the winner had cleared already, so nothing is half-updated.
 *
 * Locking: the caller holds the P; spans and words shared with gm_free use atomics.
 */
#include <string.h>

#include "gm_testing.h"

gm_mspan gm_emptymspan; /* nelems 0, alloc_cache 0: every allocation from it refills */

void gm_mcache_init(gm_mcache *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < GM_NUM_SPAN_CLASSES; i++) c->alloc[i] = &gm_emptymspan;
}

/* Move a cached span's allocation counts to the P's statistics shard. */
static void flush_span_stats(gm_p *pp, gm_mspan *s)
{
    pp->stats.small_alloc_count[gm_spanclass_sizeclass(s->spanclass)] +=
        (uint64_t)(s->alloc_count - s->alloc_count_before_cache);
    s->alloc_count_before_cache = s->alloc_count;
}

static void uncache(gm_mheap *h, gm_p *pp, uint8_t spc)
{
    gm_mspan *s = pp->mcache.alloc[spc];
    if (s == &gm_emptymspan) return;
    flush_span_stats(pp, s);
    s->in_cache = 0;
    /* Undo refill's charge for slots never used; not for stale spans, as Go's releaseAll. */
    if (GM_UNLIKELY(h->gc.enabled) && atomic_load(&s->sweepgen) == atomic_load(&h->sweepgen) + 3)
        gm_gc_charge(h, -(int64_t)((s->nelems - s->alloc_count) * s->elemsize));
    gm_mcentral_uncache_span(h, &h->central[spc], pp, s);
    pp->mcache.alloc[spc] = &gm_emptymspan;
}

bool gm_mcache_refill(gm_mheap *h, gm_p *pp, uint8_t spc)
{
    gm_mcache *c = &pp->mcache;
    gm_mspan *s = c->alloc[spc];
    if (s->alloc_count != s->nelems)
        gm_throw("refill of span %p that still has free slots (%u of %zu)", (void *)s->base,
                 s->alloc_count, (size_t)s->nelems);
    if (spc == GM_TINY_SPANCLASS) {
        pp->stats.tiny_alloc_count += c->tiny_allocs;
        c->tiny_allocs = 0;
    }
    uncache(h, pp, spc);
    s = gm_mcentral_cache_span(h, &h->central[spc], pp);
    if (!s) return false;
    /* Cached: sweepgen = sg+3 marks "swept, then cached" (§2.6). */
    atomic_store_explicit(&s->sweepgen, atomic_load(&h->sweepgen) + 3, memory_order_relaxed);
    s->alloc_count_before_cache = s->alloc_count;
    s->in_cache = 1;
    c->alloc[spc] = s;
    gm_gc_blacken_span(h, s, false); /* allocations from it during a mark are black */
    /* heapLive: the span's free room counts as allocated until it leaves the cache. */
    if (GM_UNLIKELY(h->gc.enabled))
        gm_gc_charge(h, (int64_t)(s->npages * GM_PAGE_SIZE) -
                            (int64_t)((uintptr_t)s->alloc_count * s->elemsize));
#ifdef GM_DEBUG
    char buf[256];
    const char *e = gm_mspan_check(s, buf, sizeof buf);
    if (e) gm_throw("refill: %s", e);
#endif
    return true;
}

/* The block at address b of tiny span s stops being current; it dies if it holds nothing. */
static void tiny_retire(gm_mheap *h, gm_mspan *s, uintptr_t b)
{
    uintptr_t idx = (b - s->base) / GM_TINY_SIZE;
    uint32_t old = atomic_fetch_and(&s->tiny_meta[idx], ~GM_TINY_CURRENT);
    if (old == GM_TINY_CURRENT) {
        gm_mprof_note_free(h, s, b);
        GM_MEM_FREE(b, GM_TINY_SIZE); /* before the freed bit: see gm_heap_free */
        if (!gm_mspan_set_freed(s, idx)) gm_throw("tiny block %p died twice", (void *)b);
        gm_note_freed(h, NULL, GM_TINY_SIZE);
    }
}

void gm_mcache_release_all(gm_mheap *h, gm_p *pp)
{
    gm_mcache *c = &pp->mcache;
    for (int spc = 0; spc < GM_NUM_SPAN_CLASSES; spc++) uncache(h, pp, (uint8_t)spc);
    /* Go clears tiny here too: the block can die once its objects are freed. */
    if (c->tiny) tiny_retire(h, c->tiny_span, c->tiny);
    c->tiny = 0;
    c->tinyoffset = 0;
    c->tiny_span = NULL;
    pp->stats.tiny_alloc_count += c->tiny_allocs;
    c->tiny_allocs = 0;
}

void gm_mcache_mark_tiny(gm_mheap *h, gm_p *pp)
{
    gm_mcache *c = &pp->mcache;
    if (pp->tiny_survivor) { /* kept through the last cycle; now it may die */
        gm_mspan *s = pp->tiny_survivor;
        uintptr_t idx = pp->tiny_survivor_block;
        atomic_fetch_and(&s->tiny_meta[idx], ~GM_TINY_CURRENT);
        gm_mprof_note_free(h, s, s->base + idx * GM_TINY_SIZE);
        GM_MEM_FREE(s->base + idx * GM_TINY_SIZE, GM_TINY_SIZE);
        if (!gm_mspan_set_freed(s, idx))
            gm_throw("tiny block %p died twice", (void *)(s->base + idx * GM_TINY_SIZE));
        gm_note_freed(h, NULL, GM_TINY_SIZE);
        pp->tiny_survivor = NULL;
    }
    if (!c->tiny) return;
    gm_mspan *s = c->tiny_span;
    uintptr_t idx = (c->tiny - s->base) / GM_TINY_SIZE;
    uint32_t w = atomic_load(&s->tiny_meta[idx]);
    for (;;) {
        if (w == GM_TINY_CURRENT) {
            /* Empty but marked: it outlives this cycle. Its CURRENT bit stays set, so a
             * second free of its old objects is still caught as a double free. */
            pp->tiny_survivor = s;
            pp->tiny_survivor_block = idx;
            break;
        }
        /* Live objects remain: no longer current, it dies with its last free (a CAS, so
         * that a free racing with us cannot leave it unowned). */
        if (atomic_compare_exchange_weak(&s->tiny_meta[idx], &w, w & ~GM_TINY_CURRENT)) break;
    }
    c->tiny = 0;
    c->tinyoffset = 0;
    c->tiny_span = NULL;
}

static inline uint32_t tiny_bits(uintptr_t off, size_t size)
{
    uintptr_t last = off + size - 1; /* the object's last byte */
    return (uint32_t)1 << off | (last < 15 ? (uint32_t)1 << (GM_TINY_END_SHIFT + last) : 0);
}

void *gm_mcache_tiny_alloc(gm_mheap *h, gm_p *pp, size_t size, bool *refilled)
{
    gm_mcache *c = &pp->mcache;
    uintptr_t off = c->tinyoffset;
    if ((size & 7) == 0)
        off = (off + 7) & ~(uintptr_t)7;
    else if ((size & 3) == 0)
        off = (off + 3) & ~(uintptr_t)3;
    else if ((size & 1) == 0)
        off = (off + 1) & ~(uintptr_t)1;
    if (c->tiny && off + size <= GM_TINY_SIZE) {
        /* Fits in the current block: no new slot, no statistics but tinyAllocs. */
        uintptr_t idx = (c->tiny - c->tiny_span->base) / GM_TINY_SIZE;
        atomic_fetch_or(&c->tiny_span->tiny_meta[idx], tiny_bits(off, size));
        c->tinyoffset = off + size;
        c->tiny_allocs++;
        return (void *)(c->tiny + off);
    }
    /* A new 16-byte block from span class 5. */
    gm_mspan *s = c->alloc[GM_TINY_SPANCLASS];
    uintptr_t idx = gm_mspan_next_free_index(s);
    if (idx == s->nelems) {
        if (!gm_mcache_refill(h, pp, GM_TINY_SPANCLASS)) return NULL;
        *refilled = true;
        s = c->alloc[GM_TINY_SPANCLASS];
        idx = gm_mspan_next_free_index(s);
    }
    s->alloc_count++;
    uintptr_t b = s->base + idx * GM_TINY_SIZE;
    GM_MEM_ALLOC(b, GM_TINY_SIZE, false);
    memset((void *)b, 0, GM_TINY_SIZE); /* Go always zeroes a new tiny block */
    uint32_t word = tiny_bits(0, size);
    /* Keep whichever block has more room left (Go: size < tinyoffset || tiny == 0). */
    if (size < c->tinyoffset || c->tiny == 0) {
        if (c->tiny) tiny_retire(h, c->tiny_span, c->tiny);
        c->tiny = b;
        c->tinyoffset = size;
        c->tiny_span = s;
        word |= GM_TINY_CURRENT;
    }
    atomic_store_explicit(&s->tiny_meta[idx], word, memory_order_release);
    return (void *)b;
}

/* The last byte of the object starting at off: its end bit, or 15 when it has none. */
static uintptr_t tiny_last_byte(uint32_t word, uintptr_t off)
{
    uint32_t ends = (word >> GM_TINY_END_SHIFT) & 0x7fff;
    ends >>= off;
    return ends ? off + (uintptr_t)__builtin_ctz(ends) : 15;
}

bool gm_tiny_free(gm_mheap *h, gm_mspan *s, uintptr_t p, uintptr_t idx, gm_m *m)
{
    _Atomic uint32_t *wp = &s->tiny_meta[idx];
    uint32_t word = atomic_load_explicit(wp, memory_order_acquire);
    uintptr_t off = p - (s->base + idx * GM_TINY_SIZE);
    if (word == 0 && off == 0) return false; /* an ordinary 16-byte object, or a dead block */
    uint32_t start = (uint32_t)1 << off;
    if (!(word & start))
        gm_misuse("double free of a tiny object, or an interior pointer (no live tiny object "
                  "starts here)",
                  (void *)p);
    uintptr_t last = tiny_last_byte(word, off);
    uint32_t clear = start | (last < 15 ? (uint32_t)1 << (GM_TINY_END_SHIFT + last) : 0);
    uint32_t old = atomic_fetch_and(wp, ~clear);
    if (!(old & start)) gm_misuse("double free of a tiny object", (void *)p);
    if ((old & ~clear) == 0) { /* last object gone, block not current: the block dies */
        gm_mprof_note_free(h, s, p - off);
        GM_MEM_FREE(p - off, GM_TINY_SIZE); /* before the freed bit: see gm_heap_free */
        if (!gm_mspan_set_freed(s, idx)) gm_throw("tiny block %p died twice", (void *)(p - off));
        gm_note_freed(h, m, GM_TINY_SIZE);
    }
    return true;
}

size_t gm_tiny_usable_size(const gm_mspan *s, uintptr_t p, uintptr_t idx)
{
    uint32_t word = atomic_load_explicit(&s->tiny_meta[idx], memory_order_acquire);
    uintptr_t off = p - (s->base + idx * GM_TINY_SIZE);
    if (word == 0) return off == 0 ? GM_TINY_SIZE : 0; /* an ordinary 16-byte object */
    if (!(word & (uint32_t)1 << off)) return 0;
    return tiny_last_byte(word, off) - off + 1;
}
