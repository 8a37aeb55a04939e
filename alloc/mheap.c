/*
 * mheap.c — the page heap: arenas, the pointer -> span map, span allocation and freeing, heap
 * growth (mheap.go; arena hints and sysAlloc from malloc.go). See malloc.c for the overview.
 *
 * As in Go 1.19 on linux/amd64:
 *   - Address space is reserved in 64 MiB arenas (heapArenaBytes), preferably at Go's hint
 *     addresses 0x00c000000000, 0x01c000000000, ... so a fresh process heap starts where a Go
 *     program's does. Each arena has a heapArena record: the span map (one entry per 8 KiB
 *     page), the pageInUse bitmap and the zeroedBase watermark. The arena map is a single L2
 *     array of 2^22 entries (arenaL1Bits = 0), reserved up front and touched on demand.
 *   - grow() hands address space to the page allocator in whole 4 MiB chunks from curArena,
 *     mapping it first (Prepared state, counted as HeapReleased: fresh pages are not backed).
 *   - allocSpan takes spans of fewer than 16 pages from the P's page cache (64-page blocks)
 *     and everything else from the page allocator's address-ordered first fit.
 *   - needzero comes from zeroedBase: pages handed out before may hold old data.
 *
 * Differences from Go, on purpose:
 *   - One lock covers pages, span structs and heap statistics. Go allocates from the P's page
 *     cache and mspan cache without the heap lock; the model takes the lock anyway (span map,
 *     statistics) but keeps the page cache, because it decides *where* spans land.
 *   - Freeing a span clears its span-map entries (Go leaves stale entries and relies on the
 *     span state), so a stale pointer can never reach a recycled span struct.
 *   - Under ASan/TSan the hints are skipped: those runtimes own the address ranges Go uses.
 *   - gm_mheap_alloc_aligned exists because C has aligned_alloc and Go does not: it takes a
 *     larger run and gives the unaligned head and tail back to the page allocator.
 *   - Running out of memory returns NULL (Go throws).
 *   - Manual spans (allocManual/freeManual, for stack.c) are in the span map with state
 *     GM_SPAN_MANUAL, so gm_mheap_span_of never returns them and gm_free rejects pointers into
 *     stacks; their bytes count in StackInuse (h->stack.inuse), not heap_inuse.
 *   - Under ASan/Valgrind, span pages that hold no handed-out object are poisoned (the
 *     annotation points are listed in internal.h).
 *
 * Invariants (gm_mheap_check):
 *   heap_inuse == Σ npages×8192 of in-use heap spans; pages_in_use == Σ npages
 *   heap_inuse + stack.inuse + heap_free + heap_released == bytes handed to the page
 *   allocator by grow; stack.inuse == Σ npages×8192 of manual spans
 *   heap_free + heap_released == (free pages in pageAlloc + pages in P page caches) × 8192
 *   heap_released == scavenged pages × 8192
 *   spans[page] == s for every page of every in-use span, NULL for every free page
 *
 * Locking: every function here takes h->lock itself except those ending in _locked.
 */
#include <errno.h>
#include <string.h>

#include "gm_testing.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GM_SANITIZED 1
#endif
#endif

#define ARENA_MAP_ENTRIES ((size_t)1 << GM_ARENA_L2_BITS)
#define HINT_COUNT        0x80

static inline size_t arena_index(uintptr_t p)
{
    return (p - GM_ARENA_BASE_OFFSET) >> GM_ARENA_SHIFT;
}
static inline uintptr_t align_up(uintptr_t n, uintptr_t a)
{
    return (n + a - 1) & ~(a - 1);
}

/* ---- arenas ------------------------------------------------------------------------------ */

static bool record_reservation_locked(gm_mheap *h, uintptr_t base, size_t size)
{
    if (h->n_reservations == h->cap_reservations) {
        size_t ncap = h->cap_reservations ? h->cap_reservations * 2 : 64;
        void *n = gm_sys_alloc(ncap * sizeof *h->reservations, &h->sys.other_sys);
        if (!n) return false;
        if (h->reservations) {
            memcpy(n, h->reservations, h->n_reservations * sizeof *h->reservations);
            gm_sys_free(h->reservations, h->cap_reservations * sizeof *h->reservations,
                        &h->sys.other_sys);
        }
        h->reservations = n;
        h->cap_reservations = ncap;
    }
    h->reservations[h->n_reservations].base = base;
    h->reservations[h->n_reservations].size = size;
    h->n_reservations++;
    return true;
}

/* Reserve n bytes (a multiple of 64 MiB) of arena-aligned address space, as mheap.sysAlloc:
 * at the next hint if hints are on, else wherever the kernel puts an aligned range. */
static uintptr_t reserve_arena_space_locked(gm_mheap *h, size_t n)
{
    while (h->hint_addr && h->next_hint <= HINT_COUNT) {
        uintptr_t want = h->hint_addr;
        if (want + n > ((uintptr_t)1 << 47) || want + n < want) goto next;
        if (gm_sys_reserve((void *)want, n)) {
            h->hint_addr += n; /* the hint moves up past what it handed out */
            return want;
        }
    next:
        /* Go's hints for linux/amd64, in order: i<<40 | 0x00c0<<32 for i = 0 .. 0x7f. */
        if (++h->next_hint >= HINT_COUNT)
            h->hint_addr = 0;
        else
            h->hint_addr = (uintptr_t)h->next_hint << 40 | (uintptr_t)0x00c0 << 32;
    }
    /* sysReserveAligned: over-reserve by one arena and trim to alignment. */
    uint8_t *v = gm_sys_reserve(NULL, n + GM_ARENA_BYTES);
    if (!v) return 0;
    uintptr_t base = align_up((uintptr_t)v, GM_ARENA_BYTES);
    if (base > (uintptr_t)v) gm_sys_unreserve(v, base - (uintptr_t)v);
    uintptr_t end = (uintptr_t)v + n + GM_ARENA_BYTES;
    if (end > base + n) gm_sys_unreserve((void *)(base + n), end - (base + n));
    return base;
}

/* mheap.sysAlloc: reserve address space for at least n bytes and create the heapArena
 * records for it. Returns the base, 0 on failure; *size = bytes reserved. */
static uintptr_t sys_alloc_arena_locked(gm_mheap *h, size_t n, size_t *size)
{
    n = align_up(n, GM_ARENA_BYTES);
    uintptr_t v = reserve_arena_space_locked(h, n);
    if (!v) return 0;
    if (arena_index(v + n - 1) >= ARENA_MAP_ENTRIES || !record_reservation_locked(h, v, n)) {
        gm_sys_unreserve((void *)v, n);
        return 0;
    }
    for (uintptr_t a = v; a < v + n; a += GM_ARENA_BYTES) {
        gm_heaparena *r = gm_sys_alloc(sizeof *r, &h->sys.gc_sys);
        if (!r) return 0; /* the reservation stays recorded (freed at destroy), unused */
        atomic_store_explicit(&h->arenas[arena_index(a)], r, memory_order_release);
    }
    *size = n;
    return v;
}

/* Map [v, v+size) and hand it to the page allocator as free, scavenged pages. */
static bool add_to_pages_locked(gm_mheap *h, uintptr_t v, size_t size)
{
    if (gm_sys_map((void *)v, size, NULL) != 0) return false;
    if (gm_pagealloc_grow(&h->pages, v, size) != 0) return false;
    h->heap_released += size; /* Prepared memory: HeapReleased until touched (§5.2) */
    h->grown_bytes += size;
    return true;
}

/* mheap.grow: add at least npages of memory to the page allocator, in whole chunks. */
static bool mheap_grow_locked(gm_mheap *h, size_t npages)
{
    size_t ask = align_up(npages, GM_CHUNK_PAGES) * GM_PAGE_SIZE;
    if (npages > ((size_t)1 << 40) / GM_PAGE_SIZE) return false; /* beyond any address space */
    uintptr_t nbase = align_up(h->cur_arena_base + ask, gm_sys_phys_page_size());
    if (!h->cur_arena_end || nbase > h->cur_arena_end || nbase < h->cur_arena_base) {
        size_t asize;
        uintptr_t av = sys_alloc_arena_locked(h, ask, &asize);
        if (!av) return false;
        if (av == h->cur_arena_end) {
            h->cur_arena_end = av + asize; /* contiguous: extend the current region */
        } else {
            /* Hand the rest of the old region to the page allocator before moving on. */
            if (h->cur_arena_end > h->cur_arena_base &&
                !add_to_pages_locked(h, h->cur_arena_base, h->cur_arena_end - h->cur_arena_base))
                return false;
            h->cur_arena_base = av;
            h->cur_arena_end = av + asize;
        }
        nbase = align_up(h->cur_arena_base + ask, gm_sys_phys_page_size());
    }
    uintptr_t v = h->cur_arena_base;
    if (!add_to_pages_locked(h, v, nbase - v)) return false;
    h->cur_arena_base = nbase;
    return true;
}

/* ---- heap creation ------------------------------------------------------------------------ */

gm_mheap *gm_heap_create(const gm_heap_config *cfg)
{
    _Atomic uint64_t other = 0;
    gm_mheap *h = gm_sys_alloc(sizeof *h, &other);
    if (!h) return NULL;
    atomic_store(&h->sys.other_sys, atomic_load(&other));
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->stw_lock, NULL);
    h->arenas = gm_sys_reserve(NULL, ARENA_MAP_ENTRIES * sizeof *h->arenas);
    if (!h->arenas || gm_sys_map((void *)h->arenas, ARENA_MAP_ENTRIES * sizeof *h->arenas, NULL)) {
        if (h->arenas) gm_sys_unreserve((void *)h->arenas, ARENA_MAP_ENTRIES * sizeof *h->arenas);
        gm_sys_free(h, sizeof *h, NULL);
        return NULL;
    }
    if (gm_pagealloc_init(&h->pages, &h->sys.gc_sys) != 0) {
        gm_sys_unreserve((void *)h->arenas, ARENA_MAP_ENTRIES * sizeof *h->arenas);
        gm_sys_free(h, sizeof *h, NULL);
        return NULL;
    }
    gm_fixalloc_init(&h->spanalloc, sizeof(gm_mspan), &h->sys.mspan_sys);
    /* GC mode: a tiny span's pending bits (one per byte) follow its metadata words. */
    gm_fixalloc_init(&h->tinymetaalloc,
                     (GM_PAGE_SIZE / GM_TINY_SIZE) * sizeof(uint32_t) +
                         (cfg->gc_mode ? GM_PAGE_SIZE / 8 : 0),
                     &h->sys.other_sys);
    gm_gc_init(h, cfg);
    gm_scavenge_init(h, cfg->scavtrace);
    gm_stack_init(h, cfg);
#ifdef GM_SANITIZED
    h->hint_addr = 0;
#else
    h->hint_addr = cfg->arena_hints ? (uintptr_t)0x00c0 << 32 : 0;
#endif
    for (int i = 0; i < GM_NUM_SPAN_CLASSES; i++) gm_mcentral_init(&h->central[i], (uint8_t)i);
    h->gc_percent = cfg->gc_percent;
    h->nprocs = (uint32_t)(cfg->nprocs > 0 ? cfg->nprocs : gm_sys_ncpu());
    if (h->nprocs > 1024) h->nprocs = 1024; /* Go caps GOMAXPROCS at _MaxGomaxprocs = 256..1024 */
    h->allp = gm_sys_alloc(h->nprocs * sizeof(gm_p), &h->sys.other_sys);
    if (!h->allp) {
        gm_heap_destroy(h);
        return NULL;
    }
    for (uint32_t i = 0; i < h->nprocs; i++) {
        h->allp[i].id = i;
        gm_mcache_init(&h->allp[i].mcache);
    }
    if (gm_mprof_init(h, cfg) != 0) {
        gm_heap_destroy(h);
        return NULL;
    }
    gm_heap_pace(h, 0, NULL);                 /* the first sweep trigger: nothing is live yet */
    if (h->gc.enabled) gm_gc_commit(h, NULL); /* the first heap goal and trigger */
    return h;
}

void gm_heap_destroy(gm_mheap *h)
{
    for (size_t i = 0; i < h->n_reservations; i++) {
        uintptr_t b = h->reservations[i].base, e = b + h->reservations[i].size;
        for (uintptr_t a = b; a < e; a += GM_ARENA_BYTES) {
            gm_heaparena *r = atomic_load(&h->arenas[arena_index(a)]);
            if (!r) continue;
            /* Every page below zeroed_base may be poisoned; the addresses outlive us. */
            GM_MEM_FORGET(a, r->zeroed_base);
            gm_sys_free(r, sizeof *r, &h->sys.gc_sys);
        }
        gm_sys_unreserve((void *)b, h->reservations[i].size);
    }
    if (h->reservations)
        gm_sys_free(h->reservations, h->cap_reservations * sizeof *h->reservations, NULL);
    gm_fixalloc_destroy(&h->spanalloc);
    gm_fixalloc_destroy(&h->tinymetaalloc);
    gm_gc_destroy(h);
    gm_scavenge_destroy(h);
    gm_mprof_destroy(h);
    gm_stack_destroy(h);
    gm_pagealloc_destroy(&h->pages);
    gm_sys_unreserve((void *)h->arenas, ARENA_MAP_ENTRIES * sizeof *h->arenas);
    for (int i = 0; i < GM_NUM_SPAN_CLASSES; i++) pthread_mutex_destroy(&h->central[i].lock);
    if (h->allp) gm_sys_free(h->allp, h->nprocs * sizeof(gm_p), NULL);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->stw_lock);
    gm_sys_free(h, sizeof *h, NULL);
}

/* ---- span allocation ---------------------------------------------------------------------- */

static bool alloc_needs_zero_locked(gm_mheap *h, uintptr_t base, size_t npages)
{
    bool needzero = false;
    while (npages > 0) {
        gm_heaparena *ha =
            atomic_load_explicit(&h->arenas[arena_index(base)], memory_order_relaxed);
        uintptr_t arena_off = base % GM_ARENA_BYTES;
        if (arena_off < ha->zeroed_base) needzero = true;
        uintptr_t arena_limit = arena_off + npages * GM_PAGE_SIZE;
        if (arena_limit > GM_ARENA_BYTES) arena_limit = GM_ARENA_BYTES;
        /* Raise the watermark past this allocation: everything below it has been used. */
        if (arena_limit > ha->zeroed_base) ha->zeroed_base = arena_limit;
        base += arena_limit - arena_off;
        npages -= (arena_limit - arena_off) / GM_PAGE_SIZE;
    }
    return needzero;
}

static void set_spans_locked(gm_mheap *h, uintptr_t base, size_t npages, gm_mspan *s)
{
    for (size_t i = 0; i < npages; i++) {
        uintptr_t p = base + i * GM_PAGE_SIZE;
        gm_heaparena *ha = atomic_load_explicit(&h->arenas[arena_index(p)], memory_order_relaxed);
        atomic_store_explicit(&ha->spans[(p / GM_PAGE_SIZE) % GM_PAGES_PER_ARENA], s,
                              memory_order_release);
    }
}

static void page_in_use_locked(gm_mheap *h, uintptr_t base, bool on)
{
    gm_heaparena *ha = atomic_load_explicit(&h->arenas[arena_index(base)], memory_order_relaxed);
    size_t pg = (base / GM_PAGE_SIZE) % GM_PAGES_PER_ARENA;
    if (on)
        ha->page_in_use[pg / 64] |= (uint64_t)1 << (pg % 64);
    else
        ha->page_in_use[pg / 64] &= ~((uint64_t)1 << (pg % 64));
}

/* Pages for a span: the P's page cache for small spans (Go: npages < pageCachePages/4),
 * otherwise the page allocator, growing the heap when it has nothing that fits. */
static uintptr_t alloc_pages_locked(gm_mheap *h, gm_p *pp, size_t npages, size_t *scav)
{
    uintptr_t base = 0;
    *scav = 0;
    if (pp && npages < GM_PAGE_CACHE_PAGES / 4) {
        if (pp->pcache.cache == 0) pp->pcache = gm_pagealloc_alloc_to_cache(&h->pages);
        base = gm_pagecache_alloc(&pp->pcache, npages, scav);
    }
    if (!base) base = gm_pagealloc_alloc(&h->pages, npages, scav);
    if (!base) {
        if (!mheap_grow_locked(h, npages)) return 0;
        base = gm_pagealloc_alloc(&h->pages, npages, scav);
        if (!base) gm_throw("mheap: grew by %zu pages and still cannot allocate them", npages);
    }
    return base;
}

/* Turn pages [base, base+npages) into an in-use span of class spc; NULL if no span struct. */
static gm_mspan *init_span_locked(gm_mheap *h, uintptr_t base, size_t npages, size_t scav,
                                  uint8_t spc)
{
    size_t nbytes = npages * GM_PAGE_SIZE;
    gm_mspan *s = gm_fixalloc_alloc(&h->spanalloc);
    _Atomic uint32_t *meta = NULL;
    if (s && spc == GM_TINY_SPANCLASS && !(meta = gm_fixalloc_alloc(&h->tinymetaalloc))) {
        gm_fixalloc_free(&h->spanalloc, s);
        s = NULL;
    }
    if (!s) {
        gm_pagealloc_free(&h->pages, base, npages);
        /* The pages lost their scavenged bits in alloc; they are now plain free pages. */
        h->heap_released -= scav;
        h->heap_free += scav;
        return NULL;
    }
    s->base = base;
    s->npages = npages;
    s->tiny_meta = meta;
    s->tiny_pending = meta && h->gc.enabled
                          ? (_Atomic uint64_t *)(void *)(meta + GM_PAGE_SIZE / GM_TINY_SIZE)
                          : NULL;
    s->needzero = alloc_needs_zero_locked(h, base, npages);
    if (gm_spanclass_sizeclass(spc) == 0) {
        gm_mspan_init_large(s, spc);
        h->large_alloc += nbytes;
        h->large_alloc_count++;
        GM_MEM_ALLOC(base, nbytes, !s->needzero); /* the one object is handed out now */
    } else {
        gm_mspan_init_small(s, spc);
        GM_MEM_FREE(base, nbytes); /* no slot is handed out yet (internal.h) */
    }
    /* Statistics as allocSpan: scavenged pages become Ready (sysUsed). */
    h->heap_released -= scav;
    h->heap_free -= nbytes - scav;
    h->heap_inuse += nbytes;
    h->pages_in_use += npages;
    atomic_store_explicit(&s->sweepgen, atomic_load(&h->sweepgen), memory_order_relaxed);
    atomic_store_explicit(&s->state, GM_SPAN_IN_USE, memory_order_relaxed);
    page_in_use_locked(h, base, true);
    set_spans_locked(h, base, npages, s); /* publish last: gm_free may look it up at once */
    return s;
}

gm_mspan *gm_mheap_alloc(gm_mheap *h, gm_p *pp, size_t npages, uint8_t spanclass)
{
    if (npages == 0) return NULL;
    pthread_mutex_lock(&h->lock);
    size_t scav;
    uint64_t grown = h->grown_bytes;
    uintptr_t base = alloc_pages_locked(h, pp, npages, &scav);
    gm_mspan *s = base ? init_span_locked(h, base, npages, scav, spanclass) : NULL;
    grown = h->grown_bytes - grown;
    pthread_mutex_unlock(&h->lock);
    /* allocSpan step 5: synchronous scavenging for growth past the scavenger's goal or for
     * the memory limit, with the lock dropped (scavenge.c). */
    if (s && (grown || (h->gc.enabled && h->gc.memory_limit != INT64_MAX)))
        gm_scavenge_alloc_path(h, grown);
    return s;
}

gm_mspan *gm_mheap_alloc_aligned(gm_mheap *h, size_t npages, size_t align_bytes, uint8_t spc)
{
    size_t extra = align_bytes / GM_PAGE_SIZE - 1, total = npages + extra;
    if (npages == 0 || total < npages) return NULL;
    pthread_mutex_lock(&h->lock);
    size_t scav;
    gm_mspan *s = NULL;
    uintptr_t base = alloc_pages_locked(h, NULL, total, &scav);
    if (base) {
        uintptr_t abase = align_up(base, align_bytes);
        size_t head = (abase - base) / GM_PAGE_SIZE, tail = extra - head;
        /* Give back the unaligned ends; they are plain free pages now (scavenged bits were
         * cleared by the allocation and the whole run's scav bytes are accounted as used). */
        h->heap_released -= scav;
        h->heap_free += scav;
        if (head) gm_pagealloc_free(&h->pages, base, head);
        if (tail) gm_pagealloc_free(&h->pages, abase + npages * GM_PAGE_SIZE, tail);
        s = init_span_locked(h, abase, npages, 0, spc);
    }
    pthread_mutex_unlock(&h->lock);
    return s;
}

static void free_span_locked(gm_mheap *h, gm_mspan *s)
{
    size_t nbytes = s->npages * GM_PAGE_SIZE;
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != GM_SPAN_IN_USE)
        gm_throw("mheap: freeing span %p in state %d", (void *)s->base, (int)s->state);
    if (gm_spanclass_sizeclass(s->spanclass) == 0) {
        h->large_free += nbytes;
        h->large_free_count++;
    }
    GM_MEM_FREE(s->base, nbytes); /* free pages are handed out by no one */
    set_spans_locked(h, s->base, s->npages, NULL);
    page_in_use_locked(h, s->base, false);
    h->heap_inuse -= nbytes;
    h->heap_free += nbytes;
    h->pages_in_use -= s->npages;
    gm_pagealloc_free(&h->pages, s->base, s->npages);
    atomic_store_explicit(&s->state, GM_SPAN_DEAD, memory_order_relaxed);
    if (s->tiny_meta) gm_fixalloc_free(&h->tinymetaalloc, (void *)s->tiny_meta);
    gm_fixalloc_free(&h->spanalloc, s);
}

void gm_mheap_free_span(gm_mheap *h, gm_mspan *s)
{
    pthread_mutex_lock(&h->lock);
    free_span_locked(h, s);
    pthread_mutex_unlock(&h->lock);
}

/* ---- manual spans (allocManual / freeManual): goroutine stacks, stack.c ------------------ */

gm_mspan *gm_mheap_alloc_manual(gm_mheap *h, gm_p *pp, size_t npages)
{
    if (npages == 0) return NULL;
    pthread_mutex_lock(&h->lock);
    size_t scav, nbytes = npages * GM_PAGE_SIZE;
    gm_mspan *s = NULL;
    uintptr_t base = alloc_pages_locked(h, pp, npages, &scav);
    if (base && !(s = gm_fixalloc_alloc(&h->spanalloc))) {
        gm_pagealloc_free(&h->pages, base, npages);
        h->heap_released -= scav;
        h->heap_free += scav;
    }
    if (s) {
        s->base = base;
        s->npages = npages;
        s->limit = base + nbytes;
        s->needzero = alloc_needs_zero_locked(h, base, npages);
        /* allocSpan with a manual type: the pages leave the heap's free/released counts but
         * are not heapInUse; they count in StackInuse. No pageInUse bit (heap spans only). */
        h->heap_released -= scav;
        h->heap_free -= nbytes - scav;
        h->stack.inuse += nbytes;
        atomic_store_explicit(&s->state, GM_SPAN_MANUAL, memory_order_relaxed);
        set_spans_locked(h, base, npages, s);
    }
    pthread_mutex_unlock(&h->lock);
    return s;
}

void gm_mheap_free_manual(gm_mheap *h, gm_mspan *s)
{
    size_t nbytes = s->npages * GM_PAGE_SIZE;
    pthread_mutex_lock(&h->lock);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != GM_SPAN_MANUAL ||
        s->alloc_count != 0)
        gm_throw("mheap: freeManual of span %p in state %d with %u stacks in use", (void *)s->base,
                 (int)s->state, s->alloc_count);
    GM_MEM_FREE(s->base, nbytes);
    set_spans_locked(h, s->base, s->npages, NULL);
    h->stack.inuse -= nbytes;
    h->heap_free += nbytes;
    gm_pagealloc_free(&h->pages, s->base, s->npages);
    atomic_store_explicit(&s->state, GM_SPAN_DEAD, memory_order_relaxed);
    gm_fixalloc_free(&h->spanalloc, s);
    pthread_mutex_unlock(&h->lock);
}

gm_mspan *gm_mheap_manual_span_of(gm_mheap *h, uintptr_t p)
{
    size_t ai = arena_index(p);
    if (ai >= ARENA_MAP_ENTRIES) return NULL;
    gm_heaparena *ha = atomic_load_explicit(&h->arenas[ai], memory_order_acquire);
    if (!ha) return NULL;
    gm_mspan *s = atomic_load_explicit(&ha->spans[(p / GM_PAGE_SIZE) % GM_PAGES_PER_ARENA],
                                       memory_order_acquire);
    if (!s || atomic_load_explicit(&s->state, memory_order_relaxed) != GM_SPAN_MANUAL) return NULL;
    return s;
}

bool gm_mheap_free_large(gm_mheap *h, gm_mspan *s, uintptr_t p)
{
    bool ok;
    pthread_mutex_lock(&h->lock);
    /* Re-check under the lock: a racing double free may have released (and even reused)
     * the span struct since the lock-free lookup. */
    ok = gm_mheap_span_of(h, p) == s && s->base == p && gm_spanclass_sizeclass(s->spanclass) == 0;
    if (ok) free_span_locked(h, s);
    pthread_mutex_unlock(&h->lock);
    return ok;
}
