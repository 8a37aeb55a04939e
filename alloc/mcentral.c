/*
 * mcentral.c — the central free lists, one per span class, and sweeping (mcentral.go,
 * mspanset.go, the span half of mgcsweep.go). See malloc.c for the overview.
 *
 * As in Go 1.19, each mcentral keeps four FIFO span sets: partial (has a free slot) and full,
 * each split into swept and unswept by the parity of the heap's sweepgen (§2.7). Starting a
 * sweep cycle adds 2 to sweepgen, which turns every swept set into an unswept one without
 * moving a span. cacheSpan prefers a swept partial span, then sweeps unswept partial spans,
 * then unswept full ones (within a budget of 100), and only then grows the heap. A span is
 * claimed for sweeping by a CAS of its sweepgen from sg-2 to sg-1, as Go does.
 *
 * Differences from Go: the span sets are mutex-protected FIFO lists, not lock-free spanSets
 * (same order, simpler to check); every mcache is flushed while the world is still stopped,
 * right after the sweepgen bump (Go flushes each P lazily after the world restarts; the order
 * of the resulting stale sweeps is the same); large objects are freed at once by gm_free (in
 * GC mode by the cycle that applies their pending free, gc.c) and never enter a central list.
 * The reclaimer (gm_mheap_reclaim) sweeps unswept spans in sweep order until enough pages
 * came free, where Go's mheap.reclaim scans pageInUse &^ pageMarks for spans with no live
 * object in address order: the model may sweep live spans earlier than Go and free fewer
 * dead ones per call; each span is still swept exactly once per cycle.
 *
 * Invariants (gm_mcentral_check): every span in c's sets has spanclass c and state in-use; a
 * span in a swept set has sweepgen == sg and in an unswept set sg-2; partial spans have
 * alloc_count < nelems, swept full spans alloc_count == nelems; no span is in two places.
 *
 * Locking: c->lock protects the four sets and is never held while calling out.
 */
#include "gm_testing.h"

#define SWEEP_BUDGET 100 /* spans cacheSpan may sweep before growing (mcentral.go) */

static void spanset_push(gm_spanset *ss, gm_mspan *s)
{
    s->next = NULL;
    if (ss->tail)
        ss->tail->next = s;
    else
        ss->head = s;
    ss->tail = s;
    ss->n++;
}

static gm_mspan *spanset_pop(gm_spanset *ss)
{
    gm_mspan *s = ss->head;
    if (!s) return NULL;
    ss->head = s->next;
    if (!ss->head) ss->tail = NULL;
    s->next = NULL;
    ss->n--;
    return s;
}

static inline unsigned swept_idx(uint32_t sg)
{
    return (sg / 2) % 2;
}

/* Pop from one of c's sets under its lock. */
static gm_mspan *pop_locked_set(gm_mcentral *c, gm_spanset *ss)
{
    pthread_mutex_lock(&c->lock);
    gm_mspan *s = spanset_pop(ss);
    pthread_mutex_unlock(&c->lock);
    return s;
}

static void push_locked_set(gm_mcentral *c, gm_spanset *ss, gm_mspan *s)
{
    pthread_mutex_lock(&c->lock);
    spanset_push(ss, s);
    pthread_mutex_unlock(&c->lock);
}

void gm_mcentral_init(gm_mcentral *c, uint8_t spanclass)
{
    *c = (gm_mcentral){.spanclass = spanclass};
    pthread_mutex_init(&c->lock, NULL);
}

bool gm_span_try_claim(gm_mheap *h, gm_mspan *s)
{
    uint32_t sg = atomic_load(&h->sweepgen), want = sg - 2;
    return atomic_compare_exchange_strong(&s->sweepgen, &want, sg - 1);
}

/* Queue a swept span where it belongs: back to the heap when nothing in it is live. */
static bool sweep_dispose(gm_mheap *h, gm_mspan *s, uint32_t sg)
{
    gm_mcentral *c = &h->central[s->spanclass];
    atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
    if (s->alloc_count == 0) {
        gm_mheap_free_span(h, s);
        return true;
    }
    gm_spanset *set =
        s->alloc_count == s->nelems ? &c->full[swept_idx(sg)] : &c->partial[swept_idx(sg)];
    push_locked_set(c, set, s);
    return false;
}

bool gm_sweep_span(gm_mheap *h, gm_p *pp, gm_mspan *s, bool preserve)
{
    uint32_t sg = atomic_load(&h->sweepgen);
    if (atomic_load(&s->sweepgen) != sg - 1)
        gm_throw("sweep of span %p: sweepgen %u, heap %u (not claimed)", (void *)s->base,
                 atomic_load(&s->sweepgen), sg);
    uintptr_t nfreed = gm_mspan_sweep_bits(s);
    /* smallFreeCount is charged to the sweeping P's shard, as Go's heapStats deltas are. */
    pp->stats.small_free_count[gm_spanclass_sizeclass(s->spanclass)] += nfreed;
    pp->stats.pages_swept += s->npages;
    if (GM_UNLIKELY(h->gc.enabled)) {
        atomic_fetch_add_explicit(&h->gc.pages_swept_cycle, (int64_t)s->npages,
                                  memory_order_relaxed);
        if (nfreed) atomic_fetch_sub(&h->gc.dead_unswept, (int64_t)(nfreed * s->elemsize));
    }
    if (preserve) {
        atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
        return false;
    }
    return sweep_dispose(h, s, sg);
}

/* Make s ready for an mcache: the allocCache window at freeindex (havespan in Go). */
static gm_mspan *havespan(gm_mspan *s)
{
    if (s->alloc_count >= s->nelems)
        gm_throw("mcentral: span %p has no free slot (%u of %zu)", (void *)s->base, s->alloc_count,
                 (size_t)s->nelems);
    uintptr_t fi = atomic_load_explicit(&s->freeindex, memory_order_relaxed);
    gm_mspan_refill_alloc_cache(s, (fi & ~(uintptr_t)63) / 8);
    s->alloc_cache >>= fi % 64; /* fi % 64 < 64: a plain shift is defined */
    return s;
}

/* The sweeping half of cacheSpan: an unswept span with a free slot, or NULL. */
static gm_mspan *cache_span_from_unswept(gm_mheap *h, gm_mcentral *c, gm_p *pp, uint32_t sg)
{
    /* Go's loops run `for ; spanBudget >= 0; spanBudget--`: up to 101 spans over both. */
    int budget = SWEEP_BUDGET;
    gm_mspan *s;
    for (; budget >= 0 && (s = pop_locked_set(c, &c->partial[1 - swept_idx(sg)])); budget--) {
        if (gm_span_try_claim(h, s)) {
            gm_sweep_span(h, pp, s, true); /* sweeping only frees: still partial */
            return s;
        }
    }
    for (; budget >= 0 && (s = pop_locked_set(c, &c->full[1 - swept_idx(sg)])); budget--) {
        if (gm_span_try_claim(h, s)) {
            gm_sweep_span(h, pp, s, true);
            uintptr_t fi = gm_mspan_next_free_index(s);
            if (fi != s->nelems) {
                atomic_store_explicit(&s->freeindex, fi, memory_order_relaxed);
                return s;
            }
            push_locked_set(c, &c->full[swept_idx(sg)], s); /* still full: now swept */
        }
    }
    return NULL;
}

gm_mspan *gm_mcentral_cache_span(gm_mheap *h, gm_mcentral *c, gm_p *pp)
{
    if (GM_UNLIKELY(h->gc.enabled)) /* deductSweepCredit(spanBytes, 0) */
        gm_gc_deduct_sweep_credit(
            h, pp, gm_class_to_allocnpages[gm_spanclass_sizeclass(c->spanclass)] * GM_PAGE_SIZE, 0);
    uint32_t sg = atomic_load(&h->sweepgen);
    gm_mspan *s = pop_locked_set(c, &c->partial[swept_idx(sg)]);
    if (!s) s = cache_span_from_unswept(h, c, pp, sg);
    if (!s) {
        /* mcentral.grow: a fresh span from the heap; reclaim dead spans first. */
        size_t npages = gm_class_to_allocnpages[gm_spanclass_sizeclass(c->spanclass)];
        gm_mheap_reclaim(h, pp, npages);
        s = gm_mheap_alloc(h, pp, npages, c->spanclass);
        if (!s) return NULL;
    }
    return havespan(s);
}

void gm_mcentral_uncache_span(gm_mheap *h, gm_mcentral *c, gm_p *pp, gm_mspan *s)
{
    uint32_t sg = atomic_load(&h->sweepgen), ssg = atomic_load(&s->sweepgen);
    if (ssg == sg + 1) {
        /* Stale: cached before this cycle began, so it was never swept in it. Sweep it now;
         * the sweep decides where it goes (uncacheSpan). */
        atomic_store_explicit(&s->sweepgen, sg - 1, memory_order_relaxed);
        gm_sweep_span(h, pp, s, false);
        return;
    }
    if (ssg != sg + 3)
        gm_throw("uncache of span %p: sweepgen %u, heap %u", (void *)s->base, ssg, sg);
    atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
    gm_spanset *set =
        s->alloc_count == s->nelems ? &c->full[swept_idx(sg)] : &c->partial[swept_idx(sg)];
    push_locked_set(c, set, s);
}

long gm_mcentral_sweep_one(gm_mheap *h, gm_p *pp)
{
    uint32_t sg = atomic_load(&h->sweepgen);
    /* Sweep classes in Go's order (nextSpanForSweep): for each span class, its full-unswept
     * set, then its partial-unswept set. The cursor only moves forward within a cycle. */
    for (uint32_t cur = atomic_load(&h->sweep_cursor); cur < 2 * GM_NUM_SPAN_CLASSES;) {
        gm_mcentral *c = &h->central[cur / 2];
        gm_spanset *set =
            cur % 2 == 0 ? &c->full[1 - swept_idx(sg)] : &c->partial[1 - swept_idx(sg)];
        gm_mspan *s = pop_locked_set(c, set);
        if (!s) {
            atomic_compare_exchange_strong(&h->sweep_cursor, &cur, cur + 1);
            cur = atomic_load(&h->sweep_cursor);
            continue;
        }
        if (!gm_span_try_claim(h, s)) continue;
        size_t npages = s->npages;
        return gm_sweep_span(h, pp, s, false) ? (long)npages : 0;
    }
    /* Sweeping is done: wake the background scavenger (bgsweep's scavenger.ready). */
    if (!atomic_exchange_explicit(&h->gc.sweep_done, true, memory_order_relaxed))
        atomic_store_explicit(&h->scav.wake, true, memory_order_relaxed);
    return -1;
}

void gm_mheap_reclaim(gm_mheap *h, gm_p *pp, size_t npages)
{
    size_t freed = 0;
    while (freed < npages) {
        long n = gm_mcentral_sweep_one(h, pp);
        if (n < 0) return;
        freed += (size_t)n;
    }
}
