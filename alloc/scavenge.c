/*
 * scavenge.c — returning free pages to the OS (mgcscavenge.go; reference §5.8, §5.7 step 5).
 * See malloc.c for the overview.
 *
 * Free pages keep their RAM until the scavenger releases them with madvise(MADV_DONTNEED)
 * (sysUnused; only sys.c calls the OS). Released pages are "scavenged" in the page allocator
 * (pagealloc.c) and counted in HeapReleased; allocating them again makes them Ready (mheap.c).
 *
 * Goals (gcPaceScavenger, recomputed whenever the pacer commits):
 *   gcPercentGoal = lastHeapInUse × heapGoal / lastHeapGoal, + 10% (retainExtraPercent),
 *                   rounded up to a 4 KiB OS page; none (∞) before the first cycle has ended,
 *                   or when heapRetained (HeapInuse + heapFree) is already within a page of it.
 *   memoryLimitGoal = memoryLimit × 95: Go 1.19's units bug (the intent was × 0.95), kept: with
 *                   any realistic limit mappedReady never exceeds it, so the background
 *                   scavenger never works for GOMEMLIMIT in 1.19; the allocation path below
 *                   enforces the limit.
 * In the default mode (no heap goal: cycles are paced by freed bytes, gc.c) the goal the pacer
 * would have — the live heap × (1 + GOGC/100), at least heapMinimum — stands in for heapGoal.
 *
 * Who scavenges:
 *   - The background scavenger (bgscavenge). Go wakes its goroutine when sweeping finishes
 *     (and at sweep termination) and lets it work at 1% of the CPU, 64 KiB at a time, until
 *     heapRetained <= gcPercentGoal and mappedReady <= memoryLimitGoal. The model has no
 *     goroutines: the wake-up sets a flag, and the next allocation slow path that finds it
 *     (with no lock and no P held) does the work at once, to the goal, in 64 KiB quanta. So
 *     RSS falls in one step after a cycle where Go's falls over some milliseconds; what is
 *     released, and from where, is the same.
 *   - The allocation path (allocSpan step 5), synchronously, after the heap lock is dropped:
 *     when GOMEMLIMIT is set, mappedReady + the scavenged bytes just reused − the limit; when
 *     the call grew the heap and the gcPercent goal is set, min(growth, heapRetained + growth −
 *     goal). The larger of the two.
 *   - gm_release_os_memory (debug.FreeOSMemory): a forced cycle, then everything free.
 * Each quantum takes the highest free unscavenged run (pagealloc.c; at most 8 pages), marks
 * it allocated, drops the lock for madvise, and frees it back scavenged, as scavengeOne does.
 *
 * GODEBUG=scavtrace=1 (or GOMALLOC_DEBUG) prints Go's line when the background scavenger has
 * run: "scav <work KiB> KiB work, <released total KiB> KiB total, <HeapInuse×100/retained>% util".
 *
 * Invariants (checked with the heap's: check.c): heap_released == scavenged pages × 8192;
 * heap_free + heap_released == (free pages in pageAlloc and the P caches) × 8192 +
 * inflight_bytes (runs taken for release, marked in use while the lock is dropped).
 *
 * Locking: goals and counters under mheap.lock (goals are read atomically without it); one
 * background scavenger at a time (run_lock, try-locked: a thread finding it busy leaves the
 * work to it).
 */
#include <stdio.h>
#include <unistd.h>

#include "gm_testing.h"

#define QUANTUM_BYTES ((uint64_t)64 << 10) /* the background scavenger's unit of work */
#define OS_PAGE       ((uint64_t)4096)     /* physPageSize on linux/amd64 */
#define NO_GOAL       UINT64_MAX

/* heapRetained: memory the heap holds that is (or may be) backed by RAM. */
static uint64_t retained_locked(const gm_mheap *h)
{
    return h->heap_inuse + h->heap_free;
}

/* mappedReady: everything mapped and Ready (Sys less what is released). */
static uint64_t mapped_ready_locked(const gm_mheap *h)
{
    uint64_t sys = h->heap_inuse + h->heap_free + h->heap_released + h->stack.inuse +
                   atomic_load(&h->sys.gc_sys) + atomic_load(&h->sys.mspan_sys) +
                   atomic_load(&h->sys.other_sys);
    return sys - h->heap_released;
}

void gm_scavenge_pace(gm_mheap *h, uint64_t heap_goal, int64_t memory_limit,
                      const uint64_t *heap_inuse_at_mark)
{
    gm_scavstate *sc = &h->scav;
    pthread_mutex_lock(&h->lock);
    /* lastHeapGoal: the goal in effect until now (0 until the first cycle has ended);
     * lastHeapInUse: HeapInuse at the last mark termination. */
    uint64_t last_heap_goal = sc->ended_cycle ? sc->goal_in_effect : 0;
    if (heap_inuse_at_mark) {
        sc->last_heap_inuse = *heap_inuse_at_mark;
        last_heap_goal = sc->goal_in_effect;
        sc->ended_cycle = true;
    }
    uint64_t last_heap_inuse = sc->last_heap_inuse;
    sc->goal_in_effect = heap_goal;
    uint64_t mem_goal = NO_GOAL;
    if (memory_limit > 0 && (uint64_t)memory_limit < NO_GOAL / 95) {
        uint64_t g = (uint64_t)memory_limit * 95; /* sic: Go 1.19 (see the top) */
        if (mapped_ready_locked(h) > g) mem_goal = g;
    }
    uint64_t gc_goal = NO_GOAL;
    if (last_heap_goal && heap_goal != NO_GOAL) {
        double g = (double)last_heap_inuse * ((double)heap_goal / (double)last_heap_goal);
        uint64_t goal = g >= 1.8e19 ? NO_GOAL : (uint64_t)g;
        if (goal != NO_GOAL) {
            goal += goal / 10;
            goal = (goal + OS_PAGE - 1) & ~(OS_PAGE - 1);
            uint64_t now = retained_locked(h);
            if (now > goal && now - goal >= OS_PAGE) gc_goal = goal;
        }
    }
    atomic_store(&sc->gc_goal, gc_goal);
    atomic_store(&sc->mem_goal, mem_goal);
    pthread_mutex_unlock(&h->lock);
}

/* One scavengeOne: release up to max_bytes from the top of the heap. Returns the bytes. */
static uint64_t scavenge_one(gm_mheap *h, uint64_t max_bytes)
{
    uint64_t max_pages = max_bytes / GM_PAGE_SIZE + (max_bytes % GM_PAGE_SIZE != 0);
    size_t npages;
    pthread_mutex_lock(&h->lock);
    uintptr_t base = gm_pagealloc_scavenge_take(&h->pages, (size_t)max_pages, &npages);
    uint64_t bytes = (uint64_t)npages * GM_PAGE_SIZE;
    h->scav.inflight_bytes += bytes;
    pthread_mutex_unlock(&h->lock);
    if (!base) return 0;
    gm_sys_unused((void *)base, bytes); /* without the lock: the run is marked in use */
    pthread_mutex_lock(&h->lock);
    gm_pagealloc_scavenge_return(&h->pages, base, npages);
    h->scav.inflight_bytes -= bytes;
    h->heap_free -= bytes;
    h->heap_released += bytes;
    h->scav.released_total += bytes;
    h->scav.released_since_trace += bytes;
    pthread_mutex_unlock(&h->lock);
    return bytes;
}

uint64_t gm_scavenge(gm_mheap *h, uint64_t nbytes)
{
    uint64_t done = 0;
    while (done < nbytes) {
        uint64_t n = scavenge_one(h, nbytes - done);
        if (!n) break;
        done += n;
    }
    return done;
}

/* Bytes the background scavenger still has to release to meet both goals. */
static uint64_t bg_excess(gm_mheap *h)
{
    uint64_t gc_goal = atomic_load(&h->scav.gc_goal), mem_goal = atomic_load(&h->scav.mem_goal);
    pthread_mutex_lock(&h->lock);
    uint64_t retained = retained_locked(h), ready = mapped_ready_locked(h);
    pthread_mutex_unlock(&h->lock);
    uint64_t a = retained > gc_goal ? retained - gc_goal : 0;
    uint64_t b = ready > mem_goal ? ready - mem_goal : 0;
    return a > b ? a : b;
}

static void print_scavtrace(gm_mheap *h, uint64_t work)
{
    pthread_mutex_lock(&h->lock);
    uint64_t total = h->scav.released_since_trace, retained = retained_locked(h);
    uint64_t util = retained ? h->heap_inuse * 100 / retained : 0;
    h->scav.released_since_trace = 0;
    pthread_mutex_unlock(&h->lock);
    char line[160];
    int n = snprintf(line, sizeof line, "scav %llu KiB work, %llu KiB total, %llu%% util\n",
                     (unsigned long long)(work >> 10), (unsigned long long)(total >> 10),
                     (unsigned long long)util);
    if (n > 0 && write(2, line, (size_t)n) < 0) return;
}

void gm_scavenge_background(gm_mheap *h)
{
    gm_scavstate *sc = &h->scav;
    if (!atomic_exchange(&sc->wake, false)) return;
    if (pthread_mutex_trylock(&sc->run_lock) != 0) return; /* another thread is at it */
    uint64_t work = 0;
    for (uint64_t excess; (excess = bg_excess(h)) > 0;) {
        uint64_t n = scavenge_one(h, excess < QUANTUM_BYTES ? excess : QUANTUM_BYTES);
        if (!n) break; /* nothing left to release */
        work += n;
    }
    pthread_mutex_unlock(&sc->run_lock);
    if (sc->trace && work) print_scavtrace(h, work);
}

void gm_scavenge_alloc_path(gm_mheap *h, uint64_t grown)
{
    uint64_t want = 0;
    int64_t limit = h->gc.memory_limit;
    pthread_mutex_lock(&h->lock);
    uint64_t ready = mapped_ready_locked(h), retained = retained_locked(h);
    pthread_mutex_unlock(&h->lock);
    /* The span's scavenged pages are Ready already here (mheap.c), so ready − limit is Go's
     * scav + mappedReady − limit. */
    if (h->gc.enabled && limit > 0 && limit != INT64_MAX && ready > (uint64_t)limit)
        want = ready - (uint64_t)limit;
    uint64_t goal = atomic_load(&h->scav.gc_goal);
    if (grown && goal != NO_GOAL && retained > goal) {
        uint64_t g = retained - goal < grown ? retained - goal : grown;
        if (g > want) want = g;
    }
    if (want) gm_scavenge(h, want);
}

void gm_scavenge_init(gm_mheap *h, bool trace)
{
    atomic_store(&h->scav.gc_goal, NO_GOAL);
    atomic_store(&h->scav.mem_goal, NO_GOAL);
    pthread_mutex_init(&h->scav.run_lock, NULL);
    h->scav.trace = trace;
}

void gm_scavenge_destroy(gm_mheap *h)
{
    pthread_mutex_destroy(&h->scav.run_lock);
}
