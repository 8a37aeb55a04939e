/*
 * stack.c — goroutine stacks (stack.go; reference §7): the stack allocator (pools by order,
 * per-P stack caches, large stacks) and the goroutines that use it (growth by copying,
 * shrinking at GC). See malloc.c for the overview of the allocator.
 *
 * As in Go 1.19 on linux/amd64:
 *   - stackalloc(n), n a power of two. n < 32 KiB (orders 0..3 = 2, 4, 8, 16 KiB): from the
 *     P's mcache.stackcache[order]; an empty cache is refilled from the global pool until it
 *     holds 16 KiB (half of _StackCacheSize). Without a P, straight from the pool. The pool
 *     stackpool[order] lists spans that still have free stacks (new ones at the front); a new
 *     pool span is a 4-page manual span sliced into 32768/n stacks pushed in address order,
 *     so the highest address is handed out first; a span whose last stack is taken leaves the
 *     list. n >= 32 KiB: a span from stackLarge.free[log2(npages)] if any, else a new manual
 *     span of n/8 KiB pages.
 *   - stackfree: small stacks go to the P's cache, after releasing it down to 16 KiB when it
 *     already holds >= 32 KiB; without a P to the pool. A pool span whose last stack comes
 *     back goes to the page heap at once while no GC runs, and waits for freeStackSpans
 *     otherwise. A large stack's span goes to the page heap at once, or to stackLarge while a
 *     GC runs.
 *   - Mark termination (gm_stack_mark_termination, one hook in gc.c): every goroutine is
 *     scanned: a parked one is shrunk on the spot, a running one gets preemptShrink and
 *     shrinks at its next safe point (mgcmark.go scanstack, stack.go shrinkstack). Shrinking:
 *     new = old/2 if new >= 2048 and (hi - sp) + 800 < old/4; GODEBUG=gcshrinkstackoff=1
 *     disables it. Then freeStackSpans frees empty pool spans and all of stackLarge, and every
 *     P's stack cache is emptied (prepareForSweep); ReadMemStats empties them too.
 *   - Growth (newstack): new = 2 × old, doubled until new - used >= frame + 928 (_StackGuard);
 *     beyond maxstacksize (1e9) Go throws "stack overflow", the model returns NULL/ENOMEM.
 *     copystack copies the used part [sp, hi) to the top of the new stack and frees the old.
 *   - Stack spans are manual spans (mheap.c): counted in StackInuse, never in HeapInuse; they
 *     are in the span map with their own state, so gm_free rejects any pointer into a stack.
 *
 * Differences from Go, on purpose:
 *   - Frames. A Go frame's size is fixed by the compiler; here gm_g_push(g, n) is a call with
 *     an n-byte frame plus an 8-byte return-address slot, which holds the caller's frame
 *     offset from hi (so gm_g_pop needs no size and the chain survives copying). The split
 *     check is Go's amd64 prologue: grow when sp - lo <= 928 (frame <= 128 bytes) or
 *     sp - lo <= frame + 800 (frame = n + 8). Nothing rewrites pointers into a moved stack
 *     (Go adjusts them): frame addresses are valid until the next call on the g.
 *     Non-escaping objects (gm_g_alloc) extend the innermost frame, as the compiler lays them
 *     out in the frame of their function; they die when it returns.
 *   - Initial size. Every g starts with 2048 bytes, as malg(_StackMin) for a new g. Go 1.19's
 *     adaptive starting size (adaptivestackstart) only applies to dead gs reused from the
 *     free list; the model never reuses a g, so it has none.
 *   - Parked and running. A g's status is PARKED or RUNNING (the owner switches with
 *     gm_g_park / gm_g_run), and SCAN while a cycle shrinks it. The GC shrinks only parked gs;
 *     a running g is "not safe to shrink" and takes Go's deferred path (preemptShrink). The
 *     fast path of push/pop/alloc takes no P; growth and shrinking take one (stackalloc uses
 *     the P's cache). For stacks a cycle is instantaneous (world stopped), so "a GC is
 *     running" is only true inside mark termination, even with gc.c's optional concurrent
 *     mark: stackLarge and deferred pool-span frees happen there.
 *   - gm_g structs come from a fixalloc (OtherSys), not from the heap as Go's new(g).
 *
 * Invariants (gm_stack_check): every pool span is a manual span of 4 pages whose free list
 * holds 16 - alloc_count stacks of its order, inside it, aligned; a pool span with no free
 * stack is on no list; every cached stack lies in a manual span of its order and the cache
 * size equals the list length × stack size; every stackLarge span is manual with no stacks in
 * use and only exists while a GC runs; every g's stack lies in one manual span; StackInuse ==
 * Σ manual span bytes (span map walk, check.c).
 *
 * Locking: per-P caches belong to the P's holder. stackpool[order].lock is held across
 * stackpoolalloc's manual span allocation and stackpoolfree's freeManual (mheap.lock inside);
 * the stackLarge lock and allg_lock are leaves. A g's fields belong to its running thread;
 * a GC cycle (world stopped) touches a g only after CASing its status PARKED -> SCAN.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "gm_testing.h"

#define POOL_SPAN_PAGES (GM_STACK_CACHE_SIZE / GM_PAGE_SIZE) /* 4 */

static inline uintptr_t link_of(uintptr_t x)
{
    return *(uintptr_t *)x;
}
static inline void set_link(uintptr_t x, uintptr_t next)
{
    GM_MEM_ALLOC(x, sizeof(uintptr_t), false); /* the link word of a free stack */
    *(uintptr_t *)x = next;
}

static unsigned stack_order(size_t n)
{
    unsigned order = 0;
    for (size_t n2 = n; n2 > GM_FIXED_STACK; n2 >>= 1) order++;
    return order;
}

static unsigned stacklog2(size_t n) /* ⌊log2(n)⌋ */
{
    unsigned l = 0;
    while (n > 1) n >>= 1, l++;
    return l;
}

/* ---- span lists (mSpanList: insert at the front) ------------------------------------------ */

static void list_insert(gm_mspan **first, gm_mspan *s)
{
    s->prev = NULL;
    s->next = *first;
    if (*first) (*first)->prev = s;
    *first = s;
}

static void list_remove(gm_mspan **first, gm_mspan *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *first = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* ---- the global pool ---------------------------------------------------------------------- */

/* stackpoolalloc: a stack of order `order`; 0 when out of memory. Pool lock held. */
static uintptr_t stackpoolalloc_locked(gm_mheap *h, gm_p *pp, unsigned order)
{
    gm_stackpool *pool = &h->stack.pool[order];
    gm_mspan *s = pool->first;
    if (!s) {
        if (!(s = gm_mheap_alloc_manual(h, pp, POOL_SPAN_PAGES))) return 0;
        s->elemsize = (uintptr_t)GM_FIXED_STACK << order;
        s->alloc_count = 0;
        s->manual_free = 0;
        for (uintptr_t i = 0; i < GM_STACK_CACHE_SIZE; i += s->elemsize) {
            set_link(s->base + i, s->manual_free); /* highest address ends up first */
            s->manual_free = s->base + i;
        }
        list_insert(&pool->first, s);
    }
    uintptr_t x = s->manual_free;
    if (!x) gm_throw("stack span %p has no free stacks", (void *)s->base);
    s->manual_free = link_of(x);
    s->alloc_count++;
    if (!s->manual_free) list_remove(&pool->first, s); /* all stacks in s are allocated */
    return x;
}

/* stackpoolfree: stack x of order `order` back to its span. Pool lock held. */
static void stackpoolfree_locked(gm_mheap *h, uintptr_t x, unsigned order)
{
    gm_stackpool *pool = &h->stack.pool[order];
    gm_mspan *s = gm_mheap_manual_span_of(h, x);
    if (!s || s->elemsize != ((uintptr_t)GM_FIXED_STACK << order))
        gm_throw("freeing stack %p not in a stack span of order %u", (void *)x, order);
    if (!s->manual_free) list_insert(&pool->first, s); /* s will now have a free stack */
    set_link(x, s->manual_free);
    s->manual_free = x;
    s->alloc_count--;
    if (s->alloc_count == 0 && !atomic_load_explicit(&h->stack.gc_running, memory_order_relaxed)) {
        /* Completely free and no GC running: back to the heap at once. */
        list_remove(&pool->first, s);
        s->manual_free = 0;
        gm_mheap_free_manual(h, s);
    }
}

/* ---- per-P caches --------------------------------------------------------------------------- */

/* stackcacherefill: take stacks from the pool until the cache holds half of its capacity. */
static void stackcacherefill(gm_mheap *h, gm_p *pp, unsigned order)
{
    gm_mcache *c = &pp->mcache;
    uintptr_t list = c->stackcache[order].list;
    size_t size = c->stackcache[order].size;
    pthread_mutex_lock(&h->stack.pool[order].lock);
    while (size < GM_STACK_CACHE_SIZE / 2) {
        uintptr_t x = stackpoolalloc_locked(h, pp, order);
        if (!x) break; /* out of memory: keep what we got */
        set_link(x, list);
        list = x;
        size += (size_t)GM_FIXED_STACK << order;
    }
    pthread_mutex_unlock(&h->stack.pool[order].lock);
    c->stackcache[order].list = list;
    c->stackcache[order].size = size;
}

/* stackcacherelease: return stacks to the pool until the cache holds half of its capacity. */
static void stackcacherelease(gm_mheap *h, gm_p *pp, unsigned order)
{
    gm_mcache *c = &pp->mcache;
    uintptr_t x = c->stackcache[order].list;
    size_t size = c->stackcache[order].size;
    pthread_mutex_lock(&h->stack.pool[order].lock);
    while (size > GM_STACK_CACHE_SIZE / 2) {
        uintptr_t y = link_of(x);
        stackpoolfree_locked(h, x, order);
        x = y;
        size -= (size_t)GM_FIXED_STACK << order;
    }
    pthread_mutex_unlock(&h->stack.pool[order].lock);
    c->stackcache[order].list = x;
    c->stackcache[order].size = size;
}

void gm_stackcache_clear(gm_mheap *h, gm_p *pp)
{
    gm_mcache *c = &pp->mcache;
    for (unsigned order = 0; order < GM_NUM_STACK_ORDERS; order++) {
        pthread_mutex_lock(&h->stack.pool[order].lock);
        for (uintptr_t x = c->stackcache[order].list, y; x; x = y) {
            y = link_of(x);
            stackpoolfree_locked(h, x, order);
        }
        c->stackcache[order].list = 0;
        c->stackcache[order].size = 0;
        pthread_mutex_unlock(&h->stack.pool[order].lock);
    }
}

/* ---- stackalloc / stackfree ----------------------------------------------------------------- */

static uintptr_t stackalloc_small(gm_mheap *h, gm_p *pp, size_t n)
{
    unsigned order = stack_order(n);
    uintptr_t x;
    if (!pp) {
        pthread_mutex_lock(&h->stack.pool[order].lock);
        x = stackpoolalloc_locked(h, NULL, order);
        pthread_mutex_unlock(&h->stack.pool[order].lock);
        return x;
    }
    gm_mcache *c = &pp->mcache;
    if (!c->stackcache[order].list) stackcacherefill(h, pp, order);
    if (!(x = c->stackcache[order].list)) return 0;
    c->stackcache[order].list = link_of(x);
    c->stackcache[order].size -= n;
    return x;
}

static uintptr_t stackalloc_large(gm_mheap *h, gm_p *pp, size_t n)
{
    size_t npages = n / GM_PAGE_SIZE;
    unsigned l = stacklog2(npages);
    gm_mspan *s = NULL;
    pthread_mutex_lock(&h->stack.large_lock);
    if (h->stack.large_free[l]) {
        s = h->stack.large_free[l];
        list_remove(&h->stack.large_free[l], s);
    }
    pthread_mutex_unlock(&h->stack.large_lock);
    if (!s) {
        if (!(s = gm_mheap_alloc_manual(h, pp, npages))) return 0;
        s->elemsize = n;
    }
    s->alloc_count = 1;
    return s->base;
}

gm_stack gm_stackalloc(gm_mheap *h, gm_p *pp, size_t n)
{
    if (n < GM_FIXED_STACK || (n & (n - 1)))
        gm_throw("stackalloc: size %zu is not a power of two >= 2048", n);
    uintptr_t v = n < GM_STACK_CACHE_SIZE ? stackalloc_small(h, pp, n) : stackalloc_large(h, pp, n);
    if (!v) return (gm_stack){0, 0};
    GM_MEM_ALLOC(v, n, false);
    return (gm_stack){v, v + n};
}

void gm_stackfree(gm_mheap *h, gm_p *pp, gm_stack st)
{
    size_t n = st.hi - st.lo;
    if (n < GM_FIXED_STACK || (n & (n - 1))) gm_throw("stackfree: bad stack size %zu", n);
    GM_MEM_FREE(st.lo, n);
    if (n < GM_STACK_CACHE_SIZE) {
        unsigned order = stack_order(n);
        if (!pp) {
            pthread_mutex_lock(&h->stack.pool[order].lock);
            stackpoolfree_locked(h, st.lo, order);
            pthread_mutex_unlock(&h->stack.pool[order].lock);
            return;
        }
        gm_mcache *c = &pp->mcache;
        if (c->stackcache[order].size >= GM_STACK_CACHE_SIZE) stackcacherelease(h, pp, order);
        set_link(st.lo, c->stackcache[order].list);
        c->stackcache[order].list = st.lo;
        c->stackcache[order].size += n;
        return;
    }
    gm_mspan *s = gm_mheap_manual_span_of(h, st.lo);
    if (!s || s->base != st.lo || s->npages * GM_PAGE_SIZE != n)
        gm_throw("stackfree: %p is not a large stack span", (void *)st.lo);
    s->alloc_count = 0;
    if (!atomic_load_explicit(&h->stack.gc_running, memory_order_relaxed)) {
        gm_mheap_free_manual(h, s); /* no GC running: free it at once */
        return;
    }
    /* A GC is running: the span may not become a heap span yet; keep it in stackLarge. */
    pthread_mutex_lock(&h->stack.large_lock);
    list_insert(&h->stack.large_free[stacklog2(s->npages)], s);
    pthread_mutex_unlock(&h->stack.large_lock);
}

void gm_free_stack_spans(gm_mheap *h)
{
    for (unsigned order = 0; order < GM_NUM_STACK_ORDERS; order++) {
        gm_stackpool *pool = &h->stack.pool[order];
        pthread_mutex_lock(&pool->lock);
        for (gm_mspan *s = pool->first, *next; s; s = next) {
            next = s->next;
            if (s->alloc_count == 0) {
                list_remove(&pool->first, s);
                s->manual_free = 0;
                gm_mheap_free_manual(h, s);
            }
        }
        pthread_mutex_unlock(&pool->lock);
    }
    pthread_mutex_lock(&h->stack.large_lock);
    for (unsigned i = 0; i < GM_STACK_LARGE_LISTS; i++)
        for (gm_mspan *s; (s = h->stack.large_free[i]);) {
            list_remove(&h->stack.large_free[i], s);
            gm_mheap_free_manual(h, s);
        }
    pthread_mutex_unlock(&h->stack.large_lock);
}

/* ---- heap setup ------------------------------------------------------------------------------ */

void gm_stack_init(gm_mheap *h, const gm_heap_config *cfg)
{
    gm_stackstate *st = &h->stack;
    for (unsigned i = 0; i < GM_NUM_STACK_ORDERS; i++) pthread_mutex_init(&st->pool[i].lock, NULL);
    pthread_mutex_init(&st->large_lock, NULL);
    pthread_mutex_init(&st->allg_lock, NULL);
    gm_fixalloc_init(&st->galloc, sizeof(gm_g), &h->sys.other_sys);
    st->shrink_off = cfg->gcshrinkstackoff;
}

void gm_stack_destroy(gm_mheap *h)
{
    gm_stackstate *st = &h->stack;
    gm_fixalloc_destroy(&st->galloc); /* the stacks go with the heap's arenas */
    for (unsigned i = 0; i < GM_NUM_STACK_ORDERS; i++) pthread_mutex_destroy(&st->pool[i].lock);
    pthread_mutex_destroy(&st->large_lock);
    pthread_mutex_destroy(&st->allg_lock);
}

/* ---- goroutines ------------------------------------------------------------------------------ */

/* copystack: move g to a new stack of newsize bytes (the used part, top-aligned). */
static bool copystack(gm_mheap *h, gm_p *pp, gm_g *g, size_t newsize)
{
    gm_stack old = g->stack;
    size_t used = old.hi - g->sp;
    gm_stack n = gm_stackalloc(h, pp, newsize);
    if (!n.lo) return false;
    memcpy((void *)(n.hi - used), (void *)g->sp, used);
    g->stack = n;
    g->sp = n.hi - used;
    gm_stackfree(h, pp, old);
    return true;
}

/* shrinkstack: halve g's stack if it uses less than a quarter of it. pp held; g is parked
 * (SCAN) or is the caller's running g. */
static void shrinkstack(gm_mheap *h, gm_p *pp, gm_g *g)
{
    if (h->stack.shrink_off) return;
    size_t oldsize = g->stack.hi - g->stack.lo, newsize = oldsize / 2;
    if (newsize < GM_FIXED_STACK) return;
    if ((g->stack.hi - g->sp) + GM_STACK_LIMIT >= oldsize / 4) return;
    if (copystack(h, pp, g, newsize)) atomic_fetch_add(&h->stack.shrinks, 1);
}

/* A safe point of a running g: perform a shrink the last GC asked for. */
static void safe_point(gm_m *m, gm_g *g)
{
    if (GM_LIKELY(!atomic_load_explicit(&g->preempt_shrink, memory_order_relaxed))) return;
    atomic_store_explicit(&g->preempt_shrink, false, memory_order_relaxed);
    gm_p *pp = gm_acquirep(m);
    shrinkstack(g->heap, pp, g);
    gm_releasep(m);
}

void gm_stack_mark_termination(gm_mheap *h, gm_p *pp)
{
    atomic_store(&h->stack.gc_running, true);
    pthread_mutex_lock(&h->stack.allg_lock);
    for (gm_g *g = h->stack.allgs; g; g = g->allnext) {
        uint32_t parked = GM_G_PARKED;
        if (atomic_compare_exchange_strong(&g->status, &parked, GM_G_SCAN)) {
            shrinkstack(h, pp, g);
            atomic_store_explicit(&g->status, GM_G_PARKED, memory_order_release);
        } else if (!h->stack.shrink_off) {
            atomic_store_explicit(&g->preempt_shrink, true, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&h->stack.allg_lock);
    atomic_store(&h->stack.gc_running, false); /* setGCPhase(_GCoff) */
    gm_free_stack_spans(h);
    for (uint32_t i = 0; i < h->nprocs; i++) gm_stackcache_clear(h, &h->allp[i]);
}

gm_g *gm_heap_g_create(gm_mheap *h, gm_m *m)
{
    gm_p *pp = gm_acquirep(m);
    gm_stack st = gm_stackalloc(h, pp, GM_FIXED_STACK);
    gm_g *g = NULL;
    if (st.lo) {
        pthread_mutex_lock(&h->lock);
        g = gm_fixalloc_alloc(&h->stack.galloc);
        pthread_mutex_unlock(&h->lock);
        if (!g) gm_stackfree(h, pp, st);
    }
    gm_releasep(m);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->stack = st;
    g->sp = st.hi;
    g->heap = h;
    atomic_store_explicit(&g->status, GM_G_RUNNING, memory_order_relaxed);
    pthread_mutex_lock(&h->stack.allg_lock);
    g->allnext = h->stack.allgs;
    if (g->allnext) g->allnext->allprev = g;
    h->stack.allgs = g;
    h->stack.ngs++;
    pthread_mutex_unlock(&h->stack.allg_lock);
    return g;
}

void gm_heap_g_exit(gm_m *m, gm_g *g)
{
    gm_mheap *h = g->heap;
    if (atomic_load(&g->status) != GM_G_RUNNING) gm_misuse("gm_g_exit of a parked goroutine", g);
    pthread_mutex_lock(&h->stack.allg_lock);
    if (g->allprev)
        g->allprev->allnext = g->allnext;
    else
        h->stack.allgs = g->allnext;
    if (g->allnext) g->allnext->allprev = g->allprev;
    h->stack.ngs--;
    pthread_mutex_unlock(&h->stack.allg_lock);
    gm_p *pp = gm_acquirep(m);
    gm_stackfree(h, pp, g->stack);
    gm_releasep(m);
    pthread_mutex_lock(&h->lock);
    gm_fixalloc_free(&h->stack.galloc, g);
    pthread_mutex_unlock(&h->lock);
}

void gm_heap_g_park(gm_g *g)
{
    uint32_t running = GM_G_RUNNING;
    if (!atomic_compare_exchange_strong_explicit(&g->status, &running, GM_G_PARKED,
                                                 memory_order_release, memory_order_relaxed))
        gm_misuse("gm_g_park of a goroutine that is not running", g);
}

void gm_heap_g_run(gm_g *g)
{
    for (unsigned spins = 0;; spins++) {
        uint32_t parked = GM_G_PARKED;
        if (atomic_compare_exchange_weak_explicit(&g->status, &parked, GM_G_RUNNING,
                                                  memory_order_acquire, memory_order_relaxed))
            return;
        if (parked == GM_G_RUNNING) gm_misuse("gm_g_run of a running goroutine", g);
        if (spins > 16) sched_yield(); /* a GC cycle is shrinking it */
    }
}

/* newstack: make room for need bytes below sp (need + guard), doubling the stack. */
static bool newstack(gm_m *m, gm_g *g, size_t need)
{
    size_t oldsize = g->stack.hi - g->stack.lo, used = g->stack.hi - g->sp;
    size_t newsize = oldsize * 2;
    while (newsize - used < need + GM_STACK_GUARD) {
        newsize *= 2;
        if (newsize > 2 * (size_t)GM_MAX_STACK_SIZE) break;
    }
    if (newsize > GM_MAX_STACK_SIZE) return false; /* Go: "stack overflow" */
    gm_p *pp = gm_acquirep(m);
    bool ok = copystack(g->heap, pp, g, newsize);
    gm_releasep(m);
    if (ok) atomic_fetch_add_explicit(&g->heap->stack.grows, 1, memory_order_relaxed);
    return ok;
}

/* The function prologue's split check (amd64, stackguard0 = lo + 928): a frame of at most
 * _StackSmall bytes needs sp > stackguard0; a larger one sp - (frame - 128) > stackguard0. */
static inline bool fits(const gm_g *g, size_t frame)
{
    size_t avail = g->sp - g->stack.lo;
    if (frame <= GM_STACK_SMALL) return avail > GM_STACK_GUARD;
    return avail > frame + (GM_STACK_GUARD - GM_STACK_SMALL);
}

static bool ensure_room(gm_m *m, gm_g *g, size_t frame)
{
    safe_point(m, g);
    if (GM_LIKELY(fits(g, frame))) return true;
    if (frame > GM_MAX_STACK_SIZE || !newstack(m, g, frame)) {
        errno = ENOMEM;
        return false;
    }
    return true;
}

void *gm_heap_g_push(gm_m *m, gm_g *g, size_t frame_bytes)
{
    if (frame_bytes > GM_MAX_STACK_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t fb = (frame_bytes + 7) & ~(size_t)7;
    if (!ensure_room(m, g, fb + 8)) return NULL;
    g->sp -= 8; /* the return address slot: the caller's frame offset */
    *(uintptr_t *)g->sp = g->frame_off;
    g->frame_off = g->stack.hi - g->sp;
    g->sp -= fb;
    g->nframes++;
    return (void *)g->sp;
}

void gm_heap_g_pop(gm_m *m, gm_g *g)
{
    if (!g->frame_off) gm_misuse("gm_g_pop of a goroutine with no frame", g);
    uintptr_t link = g->stack.hi - g->frame_off;
    g->frame_off = *(uintptr_t *)link;
    g->sp = link + 8;
    g->nframes--;
    safe_point(m, g);
}

void *gm_heap_g_alloc(gm_m *m, gm_g *g, size_t size, unsigned flags)
{
    if (!g->frame_off || size > GM_MAX_STACK_SIZE) {
        errno = g->frame_off ? ENOMEM : EINVAL;
        return NULL;
    }
    size_t n = size ? (size + 7) & ~(size_t)7 : 8;
    if (!ensure_room(m, g, n)) return NULL;
    g->sp -= n;
    if (flags & GM_ZERO) memset((void *)g->sp, 0, n);
    return (void *)g->sp;
}

/* ---- the public API (process heap) ---------------------------------------------------------- */

gm_g *gm_g_create(void)
{
    gm_m *m = gm_current_m();
    return gm_heap_g_create(m->heap, m);
}
void gm_g_exit(gm_g *g)
{
    gm_heap_g_exit(gm_current_m(), g);
}
void gm_g_park(gm_g *g)
{
    gm_heap_g_park(g);
}
void gm_g_run(gm_g *g)
{
    gm_heap_g_run(g);
}
void *gm_g_push(gm_g *g, size_t frame_bytes)
{
    return gm_heap_g_push(gm_current_m(), g, frame_bytes);
}
void gm_g_pop(gm_g *g)
{
    gm_heap_g_pop(gm_current_m(), g);
}
void *gm_g_alloc(gm_g *g, size_t size, unsigned flags)
{
    return gm_heap_g_alloc(gm_current_m(), g, size, flags);
}
size_t gm_g_stack_size(const gm_g *g)
{
    return g->stack.hi - g->stack.lo;
}
size_t gm_g_stack_used(const gm_g *g)
{
    return g->stack.hi - g->sp;
}

/* ---- checker --------------------------------------------------------------------------------- */

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(buf, n, __VA_ARGS__);                                                             \
        return buf;                                                                                \
    } while (0)

static const char *pool_check(gm_mheap *h, unsigned order, char *buf, size_t n)
{
    size_t sz = (size_t)GM_FIXED_STACK << order, per = GM_STACK_CACHE_SIZE / sz;
    for (gm_mspan *s = h->stack.pool[order].first, *prev = NULL; s; prev = s, s = s->next) {
        if (s->prev != prev) FAIL("stackpool[%u]: span %#lx has a bad back link", order, s->base);
        if (atomic_load(&s->state) != GM_SPAN_MANUAL || s->npages != POOL_SPAN_PAGES ||
            s->elemsize != sz)
            FAIL("stackpool[%u]: span %#lx is not a 4-page manual span of %zu-byte stacks", order,
                 (unsigned long)s->base, sz);
        size_t nfree = 0;
        for (uintptr_t x = s->manual_free; x; x = link_of(x), nfree++) {
            if (x < s->base || x >= s->base + GM_STACK_CACHE_SIZE || (x - s->base) % sz ||
                nfree > per)
                FAIL("stackpool[%u]: span %#lx has free stack %#lx outside it or misaligned", order,
                     (unsigned long)s->base, (unsigned long)x);
        }
        if (nfree == 0 || nfree + s->alloc_count != per)
            FAIL("stackpool[%u]: span %#lx: %zu free + %u in use != %zu stacks", order,
                 (unsigned long)s->base, nfree, s->alloc_count, per);
    }
    return NULL;
}

static const char *cache_check(gm_mheap *h, gm_p *pp, char *buf, size_t n)
{
    for (unsigned order = 0; order < GM_NUM_STACK_ORDERS; order++) {
        size_t sz = (size_t)GM_FIXED_STACK << order, total = 0;
        for (uintptr_t x = pp->mcache.stackcache[order].list; x; x = link_of(x)) {
            gm_mspan *s = gm_mheap_manual_span_of(h, x);
            if (!s || s->elemsize != sz || (x - s->base) % sz)
                FAIL("P %u stackcache[%u]: %#lx is not a stack of that order", pp->id, order,
                     (unsigned long)x);
            total += sz;
            if (total > 2 * GM_STACK_CACHE_SIZE)
                FAIL("P %u stackcache[%u] holds more than 64 KiB", pp->id, order);
        }
        if (total != pp->mcache.stackcache[order].size)
            FAIL("P %u stackcache[%u]: size %zu, list holds %zu", pp->id, order,
                 pp->mcache.stackcache[order].size, total);
    }
    return NULL;
}

static const char *g_check(gm_mheap *h, gm_g *g, char *buf, size_t n)
{
    size_t size = g->stack.hi - g->stack.lo;
    gm_mspan *s = gm_mheap_manual_span_of(h, g->stack.lo);
    if (size < GM_FIXED_STACK || (size & (size - 1)) || !s || g->stack.hi > s->limit)
        FAIL("g %p: stack [%#lx, %#lx) is not a stack in a stack span", (void *)g,
             (unsigned long)g->stack.lo, (unsigned long)g->stack.hi);
    if (g->sp < g->stack.lo || g->sp > g->stack.hi)
        FAIL("g %p: sp %#lx outside its stack", (void *)g, (unsigned long)g->sp);
    uint64_t frames = 0;
    for (uintptr_t off = g->frame_off; off; frames++) {
        if (off > g->stack.hi - g->sp || off < 8 || frames > g->nframes)
            FAIL("g %p: frame link %#lx outside the used stack", (void *)g, (unsigned long)off);
        uintptr_t next = *(uintptr_t *)(g->stack.hi - off);
        if (next >= off) FAIL("g %p: frame links do not go up the stack", (void *)g);
        off = next;
    }
    if (frames != g->nframes)
        FAIL("g %p: %llu frames linked, %llu pushed", (void *)g, (unsigned long long)frames,
             (unsigned long long)g->nframes);
    return NULL;
}

const char *gm_stack_check(gm_mheap *h, char *buf, size_t n)
{
    const char *e;
    for (unsigned order = 0; order < GM_NUM_STACK_ORDERS; order++)
        if ((e = pool_check(h, order, buf, n))) return e;
    for (uint32_t i = 0; i < h->nprocs; i++)
        if ((e = cache_check(h, &h->allp[i], buf, n))) return e;
    bool running = atomic_load(&h->stack.gc_running);
    for (unsigned i = 0; i < GM_STACK_LARGE_LISTS; i++)
        for (gm_mspan *s = h->stack.large_free[i]; s; s = s->next) {
            if (!running) FAIL("stackLarge holds span %#lx while no GC runs", s->base);
            if (atomic_load(&s->state) != GM_SPAN_MANUAL || s->alloc_count ||
                stacklog2(s->npages) != i)
                FAIL("stackLarge[%u]: span %#lx is not a free manual span of 2^%u pages", i,
                     (unsigned long)s->base, i);
        }
    uint64_t ngs = 0;
    pthread_mutex_lock(&h->stack.allg_lock);
    for (gm_g *g = h->stack.allgs; g; g = g->allnext, ngs++)
        if ((e = g_check(h, g, buf, n))) break;
    pthread_mutex_unlock(&h->stack.allg_lock);
    if (e) return e;
    if (ngs != h->stack.ngs)
        FAIL("allgs holds %llu goroutines, count says %llu", (unsigned long long)ngs,
             (unsigned long long)h->stack.ngs);
    return NULL;
}
