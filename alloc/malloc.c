/*
 * malloc.c — entry points of the Go-model allocator, and the one overview of the whole design
 * (malloc.go plays this role in Go; the other files say "see malloc.c").
 *
 * Overview
 * ========
 * gomalloc models the Go 1.19 runtime allocator (linux/amd64) and adds what C needs: an
 * explicit free. Exact facts about Go are in shared/design/go-runtime-reference.md; section
 * numbers (§) below refer to it.
 *
 * Structures (one instance of each per heap; the process heap serves the public API):
 *   mheap      (mheap.c)     arenas of 64 MiB, the page -> span map, span alloc/free, growth
 *   pageAlloc  (pagealloc.c) 8 KiB pages in 4 MiB chunks, radix summaries, address-ordered
 *                            first fit, and per-P 64-page caches
 *   mcentral   (mcentral.c)  per span class: FIFO sets of partial/full × swept/unswept spans
 *   mcache     (mcache.c)    per P: one span per span class, the tiny block
 *   mspan      (mspan.c)     alloc bits, freeindex, the 64-bit allocCache, freed bits
 *   size classes (sizeclass.c, generated sizeclasses.h): Go's 68-entry table
 *   stacks     (stack.c)     goroutine stacks in manual spans (StackInuse, not HeapInuse):
 *                            pools by order, per-P stack caches, growth and GC shrinking
 *
 * Allocation (mallocgc, §2.4):
 *   1. size 0 (gm_alloc) returns zerobase. gm_malloc(0) asks for 1 byte instead, so every C
 *      caller gets a distinct pointer.
 *   2. Pointer-free requests under 16 bytes use the tiny allocator (mcache.c, §3).
 *   3. Other requests up to 32 KiB: class = size_to_class(size), span class =
 *      class<<1 | noscan; take the next free slot of the P's cached span (nextFreeFast, then
 *      nextFreeIndex); when the span is full, mcache.refill swaps it for one from mcentral,
 *      which sweeps unswept spans or grows from mheap.
 *   4. Larger requests get their own span of ceil(size/8 KiB) pages (§4), from the P's page
 *      cache when under 16 pages.
 *   5. Memory is zeroed only when asked (GM_ZERO / calloc) and the span's needzero says the
 *      slot may hold old data; fresh pages from the OS are already zero.
 *
 * Free (the model's addition; Go has none):
 *   gm_free finds the span through the span map, checks that p is the start of a live object
 *   (otherwise it aborts naming p: invalid pointer, interior pointer, double free), and sets
 *   the object's bit in the span's freed bitmap. Nothing else happens at once, exactly as a
 *   dead object in Go stays in its slot until its span is swept. Exceptions: a tiny object
 *   frees its 16-byte block only when the block's last object is freed; a large object
 *   returns its pages to the page heap at once (the page heap then treats them as free,
 *   still backed by RAM, as Go's freeSpan does). Misuse is detected before any lock is taken
 *   or any state changes, so a test handler (gm_set_misuse_handler) may longjmp out of
 *   gm_misuse. Under ASan/Valgrind a freed slot is poisoned at once (internal.h).
 *
 * When sweeping happens (mgcsweep.go with a perfect mark):
 *   The heap runs sweep cycles. A cycle starts — as a GC cycle does in Go — with the world
 *   stopped (every P held): the previous cycle's sweeping is finished, sweepgen += 2, which
 *   turns every span into an unswept span, and every mcache is flushed back to its mcentral
 *   (the spans it held are swept on the way, as Go sweeps stale spans at uncache). Sweeping a
 *   span applies its freed bits: alloc_bits' = allocated & ~freed, freeindex = 0, so the
 *   lowest freed slot is reused first. Spans are then swept lazily:
 *     - by mcentral.cacheSpan when a P needs a span of that class (swept spans are reused in
 *       place, even when everything in them died);
 *     - by the reclaimer before the heap takes new pages (mheap.reclaim): it sweeps unswept
 *       spans, in Go's sweep order, until enough pages were freed; a span found entirely dead
 *       goes back to the page heap here;
 *     - all remaining ones when the next cycle starts, or at once by gm_gc().
 *   A cycle starts when the bytes freed since the last one (large objects included: their pages
 *   go back at once, but a Go program churning them runs GC cycles) reach GOGC% of the live heap
 *   measured at the last cycle (minimum 4 MiB × GOGC/100, Go's heapMinimum), checked where Go
 *   checks its GC trigger: after a refill and after every large allocation. GOGC=off leaves
 *   only gm_gc(). This is the model's pacing for explicit frees; it keeps the heap within
 *   about (1 + GOGC/100) × live, as Go's pacer does. The cycle is in gc.c.
 *
 * Returning memory to the OS (scavenge.c, §5.8): free pages keep their RAM until the
 *   scavenger madvises them (HeapReleased). Its goal comes from the heap goal at every pacer
 *   commit; its background work runs when sweeping ends (on the next allocation slow path,
 *   with no lock or P held); allocations that grow the heap past the goal or exceed GOMEMLIMIT
 *   scavenge synchronously; gm_release_os_memory is debug.FreeOSMemory.
 *
 * GC mode (gc.c; GOMALLOC_MODE=gc, gm_set_gc_mode, gm_heap_config.gc_mode):
 *   gm_free validates the object as above but does not apply the free: it sets the object's
 *   pending bit (a second free of it is a double free) and appends it to the P's pending
 *   buffer. The object stays allocated (HeapAlloc counts it, its slot is not reused) until
 *   the next cycle, which applies every pending free as the mark result — freed bits, and a
 *   large object's pages — before the sweepgen bump; sweeping is then the same as above.
 *   Cycles start when the pacer's heapLive reaches Go 1.19's trigger (§6.2-6.3, in gc.c),
 *   tested at the same points; gm_gc() forces one. The default mode pays one predictable
 *   branch in gm_free and on the refill/large-allocation paths.
 *
 * Heap profiling (mprof.c, §8): as in Go, every allocation not combined into a tiny block
 *   counts its rounded size against its P's countdown (mcache.next_sample, drawn with
 *   fastexprand around MemProfileRate, default 512 KiB, 1 = every allocation); a sampled
 *   object is recorded in a bucket keyed by (call site's stack, rounded size) and gets a
 *   special on its span, so its death — at gm_free in the default mode, when a cycle applies
 *   it in GC mode — is recorded too. Cycles publish the records with Go's three slots, so a
 *   profile shows the heap as of the last completed cycle. Call sites are the caller's
 *   (gm_set_alloc_site, gm_mprof_register_site); their PCs are synthetic. The profile is
 *   written in runtime/pprof's legacy text format (gm_write_heap_profile).
 *
 * Threads and Ps (proc.go):
 *   A heap has GOMAXPROCS Ps (default: online CPUs), each with an mcache and a page cache. A
 *   thread must hold a P to allocate, like an M running Go code; it takes one for the length
 *   of each call (a CAS on p->owner, preferring the P it used last) and gives it back before
 *   returning, so threads never block each other across calls and any number of threads
 *   works: with more threads than Ps, a thread whose P is busy takes another idle one, or
 *   waits (yielding) until one is released, as goroutines wait for a P. gm_free needs no P.
 *   Stopping the world takes every P. A thread that exits (or calls gm_thread_detach) flushes
 *   its pending free counter and the cache of the P it used last, as Go flushes a P's mcache
 *   when the P is destroyed.
 *
 * Memory layout: see mheap.c (arenas at Go's hint addresses 0x00c000000000...).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gm_testing.h"

#define FREED_FLUSH_BYTES (64 << 10) /* per-thread batch for freed_pending */

static uint64_t zerobase; /* Go's runtime.zerobase: the address of every 0-byte allocation */

/* ---- errors ------------------------------------------------------------------------------- */

static void write_all(const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static _Atomic(gm_misuse_handler) misuse_handler;

gm_misuse_handler gm_set_misuse_handler(gm_misuse_handler fn)
{
    return atomic_exchange(&misuse_handler, fn);
}

_Noreturn void gm_misuse(const char *what, const void *p)
{
    gm_misuse_handler fn = atomic_load_explicit(&misuse_handler, memory_order_relaxed);
    if (fn) fn(what, p); /* may longjmp: see gm_testing.h */
    char buf[256];       /* error paths never allocate */
    int n = snprintf(buf, sizeof buf, "gomalloc: free(%p): %s\n", p, what);
    write_all(buf, n > 0 ? (size_t)n : 0);
    abort();
}

_Noreturn void gm_throw(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(buf, sizeof buf, "gomalloc: fatal error: ");
    n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    write_all(buf, (size_t)n);
    abort();
}

/* ---- Ps and Ms ------------------------------------------------------------------------------ */

void gm_m_init(gm_m *m, gm_mheap *h)
{
    *m = (gm_m){.heap = h};
    m->phint = atomic_fetch_add(&h->next_phint, 1) % h->nprocs;
}

static bool try_acquire(gm_m *m, gm_p *pp)
{
    void *idle = NULL;
    if (atomic_load_explicit(&pp->owner, memory_order_relaxed) != NULL) return false;
    return atomic_compare_exchange_strong_explicit(&pp->owner, &idle, m, memory_order_acquire,
                                                   memory_order_relaxed);
}

gm_p *gm_acquirep(gm_m *m)
{
    gm_mheap *h = m->heap;
    gm_p *pp = &h->allp[m->phint];
    if (GM_LIKELY(try_acquire(m, pp))) return m->p = pp;
    for (unsigned spins = 0;; spins++) {
        for (uint32_t k = 1; k <= h->nprocs; k++) {
            uint32_t i = (m->phint + k) % h->nprocs;
            if (try_acquire(m, &h->allp[i])) {
                m->phint = i;
                return m->p = &h->allp[i];
            }
        }
        if (spins > 16) sched_yield(); /* every P busy: wait for one, as a goroutine would */
    }
}

void gm_releasep(gm_m *m)
{
    atomic_store_explicit(&m->p->owner, NULL, memory_order_release);
    m->p = NULL;
}

void gm_stop_the_world(gm_m *m)
{
    gm_mheap *h = m->heap;
    pthread_mutex_lock(&h->stw_lock);
    for (uint32_t i = 0; i < h->nprocs; i++)
        for (unsigned spins = 0; !try_acquire(m, &h->allp[i]); spins++)
            if (spins > 16) sched_yield();
    m->p = &h->allp[0];
}

void gm_start_the_world(gm_m *m)
{
    gm_mheap *h = m->heap;
    for (uint32_t i = 0; i < h->nprocs; i++)
        atomic_store_explicit(&h->allp[i].owner, NULL, memory_order_release);
    m->p = NULL;
    pthread_mutex_unlock(&h->stw_lock);
}

void gm_note_freed(gm_mheap *h, gm_m *m, size_t bytes)
{
    if (!m) {
        if (h->gc.enabled) /* GC mode frees arrive here only (gc.c): exact dead bytes */
            atomic_fetch_add_explicit(&h->gc.dead_unswept, (int64_t)bytes, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&h->freed_pending, (int64_t)bytes, memory_order_relaxed);
        return;
    }
    m->freed_bytes += (int64_t)bytes;
    if (m->freed_bytes >= FREED_FLUSH_BYTES) {
        atomic_fetch_add_explicit(&h->freed_pending, m->freed_bytes, memory_order_relaxed);
        m->freed_bytes = 0;
    }
}

void gm_m_detach(gm_m *m)
{
    gm_mheap *h = m->heap;
    if (!h) return;
    gm_note_freed(h, NULL, (size_t)m->freed_bytes);
    m->freed_bytes = 0;
    /* Flush the cache this thread filled last so its free slots serve every P. */
    gm_p *pp = &h->allp[m->phint];
    for (unsigned spins = 0; !try_acquire(m, pp); spins++)
        if (spins > 16) sched_yield();
    m->p = pp;
    gm_mcache_release_all(h, pp);
    gm_releasep(m);
}

/* Sweep and GC cycles: gc.c. */

/* ---- allocation ----------------------------------------------------------------------------- */

/* nextFreeFast (malloc.go): the next free slot inside the current allocCache window. */
static inline uintptr_t next_free_fast(gm_mspan *s)
{
    uint64_t cache = s->alloc_cache;
    if (!cache) return 0;
    unsigned bit = (unsigned)__builtin_ctzll(cache);
    uintptr_t fi = atomic_load_explicit(&s->freeindex, memory_order_relaxed);
    uintptr_t result = fi + bit;
    if (result >= s->nelems) return 0;
    uintptr_t freeidx = result + 1;
    if (freeidx % 64 == 0 && freeidx != s->nelems) return 0; /* the slow path refills */
    s->alloc_cache = bit == 63 ? 0 : cache >> (bit + 1);
    atomic_store_explicit(&s->freeindex, freeidx, memory_order_relaxed);
    s->alloc_count++;
    return s->base + result * s->elemsize;
}

/* nextFree (malloc.go): the general search, refilling the cache when the span is full. */
static __attribute__((noinline)) uintptr_t next_free(gm_mheap *h, gm_p *pp, uint8_t spc,
                                                     bool *refilled)
{
    gm_mspan *s = pp->mcache.alloc[spc];
    uintptr_t idx = gm_mspan_next_free_index(s);
    if (idx == s->nelems) {
        if (!gm_mcache_refill(h, pp, spc)) return 0;
        *refilled = true;
        s = pp->mcache.alloc[spc];
        idx = gm_mspan_next_free_index(s);
    }
    if (idx >= s->nelems) gm_throw("freshly refilled span %p is full", (void *)s->base);
    s->alloc_count++;
    return s->base + idx * s->elemsize;
}

static void *alloc_small(gm_mheap *h, gm_p *pp, gm_m *m, uint8_t sizeclass, unsigned flags,
                         bool *refilled)
{
    uint8_t spc = gm_make_spanclass(sizeclass, !(flags & GM_SCAN));
    gm_mspan *s = pp->mcache.alloc[spc];
    uintptr_t v = next_free_fast(s);
    if (!v) {
        if (!(v = next_free(h, pp, spc, refilled))) return NULL;
        s = pp->mcache.alloc[spc];
    }
    GM_MEM_ALLOC(v, s->elemsize, !s->needzero);
    if ((flags & GM_ZERO) && s->needzero) memset((void *)v, 0, s->elemsize);
    gm_mprof_count(h, pp, m, (void *)v, s->elemsize);
    return (void *)v;
}

static void *alloc_large(gm_mheap *h, gm_p *pp, gm_m *m, size_t size, size_t align, unsigned flags)
{
    if (size > SIZE_MAX - GM_PAGE_SIZE) return NULL;
    size_t npages = (size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE;
    uint8_t spc = gm_make_spanclass(0, !(flags & GM_SCAN));
    if (GM_UNLIKELY(h->gc.enabled)) /* largeAlloc: deductSweepCredit(npages×8 KiB, npages) */
        gm_gc_deduct_sweep_credit(h, pp, npages * GM_PAGE_SIZE, npages);
    gm_mheap_reclaim(h, pp, npages);
    gm_mspan *s = align > GM_PAGE_SIZE ? gm_mheap_alloc_aligned(h, npages, align, spc)
                                       : gm_mheap_alloc(h, pp, npages, spc);
    if (!s) return NULL;
    if (GM_UNLIKELY(h->gc.enabled)) {
        gm_gc_charge(h, (int64_t)(npages * GM_PAGE_SIZE));
        gm_gc_blacken_span(h, s, true);
    }
    if ((flags & GM_ZERO) && s->needzero) memset((void *)s->base, 0, s->elemsize);
    gm_mprof_count(h, pp, m, (void *)s->base, npages * GM_PAGE_SIZE);
    return (void *)s->base;
}

/* Everything after the fast path: the P is released before a cycle may start. */
static void *alloc_finish(gm_mheap *h, gm_m *m, void *v, bool helpgc)
{
    gm_releasep(m);
    if (!v)
        errno = ENOMEM;
    else if (helpgc && gm_cycle_triggered(h))
        gm_heap_start_cycle(h, m, false);
    /* The background scavenger's work, when sweeping has woken it (scavenge.c). */
    if (GM_UNLIKELY(atomic_load_explicit(&h->scav.wake, memory_order_relaxed)))
        gm_scavenge_background(h);
    return v;
}

void *gm_heap_alloc(gm_mheap *h, gm_m *m, size_t size, unsigned flags)
{
    if (size == 0) return &zerobase;
    gm_p *pp = gm_acquirep(m);
    bool refilled = false;
    void *v;
    if (GM_LIKELY(size <= GM_MAX_SMALL_SIZE)) {
        if (!(flags & GM_SCAN) && size < GM_TINY_SIZE) {
            v = gm_mcache_tiny_alloc(h, pp, size, &refilled);
            /* A new block starts 16-byte aligned; an object combined into the current block
             * never does (tinyoffset >= 1), and is not counted (size 0). */
            if (v)
                gm_mprof_count(h, pp, m, v, ((uintptr_t)v & (GM_TINY_SIZE - 1)) ? 0 : GM_TINY_SIZE);
        } else {
            v = alloc_small(h, pp, m, gm_size_to_class(size), flags, &refilled);
        }
        if (GM_LIKELY(!refilled && v)) {
            gm_releasep(m);
            return v;
        }
        return alloc_finish(h, m, v, refilled);
    }
    v = alloc_large(h, pp, m, size, GM_PAGE_SIZE, flags);
    return alloc_finish(h, m, v, true);
}

void *gm_heap_alloc_aligned(gm_mheap *h, gm_m *m, size_t align, size_t size, unsigned flags)
{
    /* Go has no aligned allocation. A class whose size is a multiple of align has every slot
     * aligned (span bases are 8 KiB aligned), so pick the smallest such class that fits;
     * beyond 8 KiB alignment only page-run alignment can help. The tiny allocator is skipped:
     * it aligns by size only. */
    size_t want = size > align ? size : align;
    if (want == 0) want = 1;
    if (want <= GM_MAX_SMALL_SIZE && align <= GM_PAGE_SIZE) {
        uint8_t c = gm_size_to_class(want);
        while (gm_class_to_size[c] % align) c++; /* ends at 8192·k classes at the latest */
        gm_p *pp = gm_acquirep(m);
        bool refilled = false;
        void *v = alloc_small(h, pp, m, c, flags, &refilled);
        return alloc_finish(h, m, v, refilled);
    }
    gm_p *pp = gm_acquirep(m);
    void *v = alloc_large(h, pp, m, size ? size : 1, align, flags);
    return alloc_finish(h, m, v, true);
}

/* ---- free ----------------------------------------------------------------------------------- */

void gm_heap_free(gm_mheap *h, gm_m *m, void *ptr)
{
    if (!ptr || ptr == &zerobase) return;
    if (GM_UNLIKELY(h->gc.enabled)) { /* held until the next cycle (gc.c) */
        gm_gc_free(h, m, ptr);
        return;
    }
    gm_heap_free_now(h, m, ptr);
}

void gm_heap_free_now(gm_mheap *h, gm_m *m, void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    gm_mspan *s = gm_mheap_span_of(h, p);
    if (GM_UNLIKELY(!s))
        gm_misuse(gm_mheap_manual_span_of(h, p)
                      ? "pointer into a goroutine stack (stack.c)"
                      : "pointer not allocated by gomalloc, or already freed",
                  ptr);
    if (GM_UNLIKELY(s->div_mul == 0)) { /* large object: its pages go back at once */
        if (p != s->base) gm_misuse("interior pointer into a large object", ptr);
        gm_mprof_note_free(h, s, p); /* finds nothing on a double free: the first took it */
        size_t bytes = s->npages * GM_PAGE_SIZE; /* read before s can be reused */
        if (!gm_mheap_free_large(h, s, p)) gm_misuse("double free of a large object", ptr);
        if (!h->gc.enabled)
            atomic_fetch_add_explicit(&h->freed_large, (int64_t)bytes, memory_order_relaxed);
        return;
    }
    uintptr_t idx = gm_mspan_obj_index(s, p);
    if (s->tiny_meta && gm_tiny_free(h, s, p, idx, m)) return;
    size_t elemsize = s->elemsize;
    if (GM_UNLIKELY(p != s->base + idx * elemsize))
        gm_misuse("interior pointer (not the start of an object)", ptr);
    if (GM_UNLIKELY(!gm_mspan_is_allocated(s, idx)))
        gm_misuse("double free (object already freed and swept)", ptr);
    gm_mprof_note_free(h, s, p); /* while the slot cannot be reused */
    /* Poison first: once the freed bit is set the slot may be swept and handed out again by
     * another thread. A double free found below poisons a slot that was dead already. */
    GM_MEM_FREE(p, elemsize);
    /* After this the span may be swept and released at any moment: touch it no more. */
    if (GM_UNLIKELY(!gm_mspan_set_freed(s, idx)))
        gm_misuse("double free (object already freed)", ptr);
    gm_note_freed(h, m, elemsize);
}

size_t gm_heap_usable_size(gm_mheap *h, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!ptr || ptr == &zerobase) return 0;
    gm_mspan *s = gm_mheap_span_of(h, p);
    if (!s) gm_misuse("usable_size of a pointer not allocated by gomalloc", ptr);
    if (s->div_mul == 0) return p == s->base ? s->elemsize : 0;
    uintptr_t idx = gm_mspan_obj_index(s, p);
    if (s->tiny_meta) return gm_tiny_usable_size(s, p, idx);
    return p == s->base + idx * s->elemsize ? s->elemsize : 0;
}

/* Is the object starting at p (its usable size is known to be > 0) still allocated? */
static bool object_is_live(gm_mspan *s, uintptr_t p)
{
    if (s->div_mul == 0 ||
        (s->tiny_meta && gm_tiny_usable_size(s, p, gm_mspan_obj_index(s, p)) < GM_TINY_SIZE))
        return true; /* large objects and tiny objects are checked by their own lookups */
    uintptr_t i = gm_mspan_obj_index(s, p);
    uint64_t freed = atomic_load_explicit(&s->freed_bits[i / 64], memory_order_relaxed);
    return gm_mspan_is_allocated(s, i) && !((freed >> (i % 64)) & 1);
}

/* realloc stays in place when Go would pick the same slot for the new size: the same class,
 * the same page count, or a tiny object that already has the room. */
static bool fits_in_place(const gm_mspan *s, size_t have, size_t size, bool noscan)
{
    if (s->div_mul == 0)
        return size > GM_MAX_SMALL_SIZE && (size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE == s->npages;
    if (s->tiny_meta && have < GM_TINY_SIZE) return size <= have;
    if (size > GM_MAX_SMALL_SIZE || (noscan && size < GM_TINY_SIZE)) return false;
    return gm_size_to_class(size) == gm_spanclass_sizeclass(s->spanclass);
}

void *gm_heap_realloc(gm_mheap *h, gm_m *m, void *ptr, size_t size)
{
    if (!ptr || ptr == &zerobase) return gm_heap_alloc(h, m, size ? size : 1, GM_NOSCAN);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        gm_heap_free(h, m, ptr);
        return NULL;
    }
    size_t have = gm_heap_usable_size(h, ptr);
    gm_mspan *s = gm_mheap_span_of(h, (uintptr_t)ptr);
    if (have == 0 || !object_is_live(s, (uintptr_t)ptr) ||
        (h->gc.enabled && gm_gc_is_pending(s, (uintptr_t)ptr)))
        gm_misuse("realloc of an interior pointer or a freed object", ptr);
    bool noscan = gm_spanclass_noscan(s->spanclass);
    if (fits_in_place(s, have, size, noscan)) return ptr;
    unsigned flags = noscan ? GM_NOSCAN : GM_SCAN;
    void *n = gm_heap_alloc(h, m, size, flags);
    if (!n) return NULL; /* the old block is untouched, as C requires */
    memcpy(n, ptr, have < size ? have : size);
    gm_heap_free(h, m, ptr);
    return n;
}

/* ---- the process heap and the public API ------------------------------------------------ */

static gm_mheap *process_heap;
static _Atomic int process_heap_state;  /* 0 none, 1 being created, 2 ready */
static _Atomic int requested_mode = -1; /* gm_set_gc_mode: -1 = GOMALLOC_MODE decides */
static pthread_key_t detach_key;
static __thread gm_m tls_m __attribute__((tls_model("initial-exec")));

static int env_int(const char *name, int dflt, int lo, int hi, bool allow_off)
{
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    if (allow_off && strcmp(v, "off") == 0) return -1;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        char buf[160];
        int len = snprintf(buf, sizeof buf, "gomalloc: ignoring %s=%s (want %d..%d%s)\n", name, v,
                           lo, hi, allow_off ? " or off" : "");
        write_all(buf, len > 0 ? (size_t)len : 0);
        return dflt;
    }
    return (int)n;
}

static void warn_env(const char *name, const char *v, const char *want)
{
    char buf[200];
    int len = snprintf(buf, sizeof buf, "gomalloc: ignoring %s=%s (want %s)\n", name, v, want);
    write_all(buf, len > 0 ? (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1 : 0);
}

/* GOMALLOC_MODE: "gc" or "free" (the default). */
static bool env_gc_mode(void)
{
    int req = atomic_load(&requested_mode);
    if (req >= 0) return req != 0;
    const char *v = getenv("GOMALLOC_MODE");
    if (!v || !*v || strcmp(v, "free") == 0) return false;
    if (strcmp(v, "gc") == 0) return true;
    warn_env("GOMALLOC_MODE", v, "gc or free");
    return false;
}

/* A byte count with an optional B/KiB/MiB/GiB/TiB suffix (GOMEMLIMIT's syntax); 0 if unset. */
static int64_t env_bytes(const char *name, bool off_ok)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    int64_t n = gm_parse_memory_limit(v);
    if (n < 0 || (!off_ok && strcmp(v, "off") == 0)) {
        warn_env(name, v,
                 off_ok ? "bytes with an optional B/KiB/MiB/GiB/TiB suffix, or off"
                        : "bytes with an optional B/KiB/MiB/GiB/TiB suffix");
        return 0;
    }
    return n;
}

/* Does the comma-separated setting list in env var name contain key=1? */
static bool env_debug(const char *name, const char *key)
{
    const char *v = getenv(name);
    size_t kn = strlen(key);
    for (const char *p = v; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == kn + 2 && strncmp(p, key, kn) == 0 && p[kn] == '=' && p[kn + 1] == '1')
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* MemProfileRate: GM_MEMPROFILERATE, else memprofilerate=N in GODEBUG, else Go's default. */
static int env_mem_profile_rate(void)
{
    const char *v = getenv("GM_MEMPROFILERATE");
    const char *name = "GM_MEMPROFILERATE";
    char buf[24];
    if (!v || !*v) {
        const char *d = getenv("GODEBUG");
        const char *key = "memprofilerate=";
        for (const char *p = d; p && *p;) {
            size_t len = strcspn(p, ",");
            if (len > strlen(key) && strncmp(p, key, strlen(key)) == 0 &&
                len - strlen(key) < sizeof buf) {
                memcpy(buf, p + strlen(key), len - strlen(key));
                buf[len - strlen(key)] = '\0';
                v = buf;
                name = "GODEBUG memprofilerate";
            }
            p += len + (p[len] == ',');
        }
    }
    if (!v || !*v) return GM_MPROF_DEFAULT_RATE;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > INT32_MAX) {
        warn_env(name, v, "bytes per sample, 0..2147483647");
        return GM_MPROF_DEFAULT_RATE;
    }
    return (int)n;
}

static void thread_exit(void *arg)
{
    gm_m *m = arg;
    gm_m_detach(m);
    m->heap = NULL; /* allocations by later destructors register again */
}

gm_mheap *gm_process_heap(void)
{
    int st = atomic_load_explicit(&process_heap_state, memory_order_acquire);
    if (GM_LIKELY(st == 2)) return process_heap;
    int zero = 0;
    if (atomic_compare_exchange_strong(&process_heap_state, &zero, 1)) {
        gm_heap_config cfg = {
            .nprocs = env_int("GOMAXPROCS", 0, 1, 1024, false),
            .gc_percent = env_int("GOGC", 100, 0, 1000000, true),
            .arena_hints = true,
            .gc_mode = env_gc_mode(),
            .gctrace = env_debug("GODEBUG", "gctrace") || env_debug("GOMALLOC_DEBUG", "gctrace"),
            .scavtrace =
                env_debug("GODEBUG", "scavtrace") || env_debug("GOMALLOC_DEBUG", "scavtrace"),
            .memory_limit = env_bytes("GOMEMLIMIT", true),
            .globals_scan = (uint64_t)env_bytes("GOMALLOC_GLOBALS", false),
            .mem_profile_rate = env_mem_profile_rate(),
            .gcshrinkstackoff = env_debug("GODEBUG", "gcshrinkstackoff"),
        };
        pthread_key_create(&detach_key, thread_exit);
        process_heap = gm_heap_create(&cfg);
        if (!process_heap) gm_throw("cannot create the heap: out of memory");
        atomic_store_explicit(&process_heap_state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&process_heap_state, memory_order_acquire) != 2) sched_yield();
    }
    return process_heap;
}

static inline gm_m *current_m(void)
{
    gm_m *m = &tls_m;
    if (GM_UNLIKELY(!m->heap)) {
        gm_m_init(m, gm_process_heap());
        pthread_setspecific(detach_key, m); /* runs thread_exit when the thread ends */
    }
    return m;
}

gm_m *gm_current_m(void)
{
    return current_m();
}

void *gm_alloc(size_t size, unsigned flags)
{
    gm_m *m = current_m();
    return gm_heap_alloc(m->heap, m, size, flags);
}

void *gm_malloc(size_t size)
{
    gm_m *m = current_m();
    return gm_heap_alloc(m->heap, m, size ? size : 1, GM_NOSCAN);
}

void *gm_calloc(size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    gm_m *m = current_m();
    return gm_heap_alloc(m->heap, m, total ? total : 1, GM_NOSCAN | GM_ZERO);
}

void *gm_realloc(void *p, size_t size)
{
    gm_m *m = current_m();
    return gm_heap_realloc(m->heap, m, p, size);
}

void gm_free(void *p)
{
    if (!p) return;
    gm_m *m = current_m();
    gm_heap_free(m->heap, m, p);
}

static bool is_pow2(size_t a)
{
    return a && !(a & (a - 1));
}

void *gm_aligned_alloc(size_t alignment, size_t size)
{
    if (!is_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    gm_m *m = current_m();
    return gm_heap_alloc_aligned(m->heap, m, alignment, size, GM_NOSCAN);
}

int gm_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!is_pow2(alignment) || alignment % sizeof(void *)) return EINVAL;
    int saved = errno;
    void *p = gm_aligned_alloc(alignment, size);
    if (!p) {
        errno = saved; /* posix_memalign reports through its return value only */
        return ENOMEM;
    }
    *out = p;
    return 0;
}

size_t gm_usable_size(const void *p)
{
    if (!p) return 0;
    return gm_heap_usable_size(gm_process_heap(), p);
}

void gm_read_memstats(gm_memstats *ms)
{
    gm_m *m = current_m();
    gm_heap_read_memstats(m->heap, m, ms);
}

void gm_gc(void)
{
    gm_m *m = current_m();
    gm_heap_gc(m->heap, m);
}

int gm_set_gc_percent(int percent)
{
    gm_m *m = current_m();
    return gm_heap_set_gc_percent(m->heap, m, percent);
}

int64_t gm_set_memory_limit(int64_t limit)
{
    gm_m *m = current_m();
    return gm_heap_set_memory_limit(m->heap, m, limit);
}

void gm_release_os_memory(void)
{
    gm_m *m = current_m();
    gm_heap_release_os_memory(m->heap, m);
}

uint64_t gm_set_globals_scan(uint64_t bytes)
{
    gm_m *m = current_m();
    return gm_heap_set_globals_scan(m->heap, m, bytes);
}

void gm_set_gc_hook(gm_gc_hook fn, void *arg)
{
    gm_m *m = current_m();
    gm_heap_set_gc_hook(m->heap, m, fn, arg);
}

int gm_set_gc_mode(int gc_mode)
{
    if (atomic_load(&process_heap_state) != 0) return -1;
    atomic_store(&requested_mode, gc_mode ? 1 : 0);
    return 0;
}

int gm_gc_mode(void)
{
    return gm_process_heap()->gc.enabled ? 1 : 0;
}

int gm_gomaxprocs(void)
{
    return (int)gm_process_heap()->nprocs;
}

void gm_thread_detach(void)
{
    if (tls_m.heap) gm_m_detach(&tls_m);
}

/* ---- heap profiling (mprof.c) ------------------------------------------------------------- */

int gm_set_mem_profile_rate(int rate)
{
    if (rate < 0) {
        errno = EINVAL;
        return -1;
    }
    return atomic_exchange(&gm_process_heap()->prof.rate, rate);
}

int gm_mem_profile_rate(void)
{
    return atomic_load(&gm_process_heap()->prof.rate);
}

uint32_t gm_set_alloc_site(uint32_t site)
{
    gm_m *m = current_m();
    uint32_t old = m->site;
    m->site = site;
    return old;
}

int gm_mprof_register_site(uint32_t site, const char *const *frames, size_t nframes)
{
    return gm_mprof_register_site_on(gm_process_heap(), site, frames, nframes);
}

int gm_write_heap_profile(int fd, int format)
{
    gm_m *m = current_m();
    return gm_heap_write_heap_profile(m->heap, m, fd, format);
}

int gm_write_heap_profile_path(const char *path, int format)
{
    if (!path || !*path) {
        errno = EINVAL;
        return -1;
    }
    char tmp[4096]; /* error paths never allocate: the temporary name lives here */
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int rc = gm_write_heap_profile(fd, format);
    int err = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        errno = err;
    }
    return rc;
}
