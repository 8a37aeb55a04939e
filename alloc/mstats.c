/*
 * mstats.c — MemStats (mstats.go): the counters behind gm_read_memstats, with Go 1.19's
 * definitions (reference §5.3 and §10.1).
 *
 * As in Go, allocation counts live in per-P shards (heapStatsDelta) that move there only when
 * a span leaves an mcache, and frees are counted when a span is swept; reading the statistics
 * stops the world and flushes every mcache (releaseAll), so the result is exact at that moment
 * and perturbs later placement exactly as ReadMemStats does. HeapAlloc therefore includes
 * objects freed but not yet swept, as Go's includes unreachable objects not yet swept.
 *
 * Invariant (gm_heap_check): after a flush, per class,
 *     Σ alloc_count of its in-use spans == mallocs[class] - frees[class]
 * and HeapAlloc == Σ alloc_count × elemsize + Σ large span bytes.
 * GC mode: pending frees are still allocated, so HeapAlloc includes pending_bytes (gm_gc_check);
 * the pacer fields come from gc.c.
 */
#include <string.h>

#include "gm_testing.h"

void gm_mstats_collect(gm_mheap *h, gm_memstats *ms)
{
    memset(ms, 0, sizeof *ms);
    uint64_t tiny = 0, small_alloc_bytes = 0, small_free_bytes = 0;
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++) ms->by_size[c].size = gm_class_to_size[c];
    for (uint32_t i = 0; i < h->nprocs; i++) {
        const gm_pstats *st = &h->allp[i].stats;
        for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
            ms->by_size[c].mallocs += st->small_alloc_count[c];
            ms->by_size[c].frees += st->small_free_count[c];
        }
        tiny += st->tiny_alloc_count;
        ms->pages_swept += st->pages_swept;
        ms->pending_frees += h->allp[i].pending_count;
        ms->pending_bytes += h->allp[i].pending_bytes;
    }
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        ms->mallocs += ms->by_size[c].mallocs;
        ms->frees += ms->by_size[c].frees;
        small_alloc_bytes += ms->by_size[c].mallocs * gm_class_to_size[c];
        small_free_bytes += ms->by_size[c].frees * gm_class_to_size[c];
    }
    pthread_mutex_lock(&h->lock);
    ms->large_alloc_count = h->large_alloc_count;
    ms->large_free_count = h->large_free_count;
    ms->by_size[0].mallocs = h->large_alloc_count;
    ms->by_size[0].frees = h->large_free_count;
    ms->total_alloc = small_alloc_bytes + h->large_alloc;
    ms->heap_alloc = ms->total_alloc - (small_free_bytes + h->large_free);
    ms->heap_inuse = h->heap_inuse;
    ms->heap_idle = h->heap_free + h->heap_released;
    ms->heap_released = h->heap_released;
    ms->stack_inuse = ms->stack_sys = h->stack.inuse; /* no stacks from the OS (StackSys) */
    pthread_mutex_unlock(&h->lock);
    /* Tiny-combined allocations count as allocated and freed at once (§10.1). */
    ms->tiny_allocs = tiny;
    ms->mallocs += ms->large_alloc_count + tiny;
    ms->frees += ms->large_free_count + tiny;
    ms->alloc = ms->heap_alloc;
    ms->heap_objects = ms->mallocs - ms->frees;
    ms->heap_sys = ms->heap_inuse + ms->heap_idle;
    ms->mspan_sys = atomic_load(&h->sys.mspan_sys);
    ms->gc_sys = atomic_load(&h->sys.gc_sys);
    ms->other_sys = atomic_load(&h->sys.other_sys);
    ms->sys = ms->heap_sys + ms->stack_sys + ms->mspan_sys + ms->gc_sys + ms->other_sys;
    ms->num_gc = atomic_load(&h->num_cycles);
    ms->num_forced_gc = h->gc.num_forced;
    if (h->gc.enabled) {
        int64_t live = atomic_load(&h->gc.heap_live);
        ms->next_gc = h->gc.heap_goal;
        ms->gc_trigger = atomic_load(&h->gc.trigger);
        ms->heap_live = live > 0 ? (uint64_t)live : 0;
        ms->last_heap_goal = h->gc.last_goal;
        ms->last_heap_start = h->gc.last_live_start;
        ms->last_heap_marked = h->gc.heap_marked;
    }
}

void gm_heap_read_memstats(gm_mheap *h, gm_m *m, gm_memstats *ms)
{
    gm_stop_the_world(m);
    for (uint32_t i = 0; i < h->nprocs; i++) {
        gm_mcache_release_all(h, &h->allp[i]);
        gm_stackcache_clear(h, &h->allp[i]); /* flushmcache: stackcache_clear too */
    }
    gm_mstats_collect(h, ms);
    gm_start_the_world(m);
}
