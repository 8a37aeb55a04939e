/*
 * gc.c — GC cycles (the cycle half of mgc.go and mgcsweep.go) in both modes, and the GC mode:
 * pending frees, Go 1.19's pacer (mgcpacer.go) and the gctrace line. See malloc.c for the
 * overview; § numbers refer to shared/design/go-runtime-reference.md.
 *
 * A cycle (gm_heap_start_cycle) runs with the world stopped: sweep termination finishes the
 * previous cycle's sweeping; "mark" applies the pending frees (GC mode) and retires the tiny
 * blocks as gcMarkTinyAllocs would; mark termination bumps sweepgen, flushes every mcache and
 * re-paces. Marking is perfect and, by default, instantaneous: no assist, no allocate-black,
 * and the mark's CPU fields are 0.
 *
 * Sweeping in GC mode (mgcsweep.go): besides the lazy sweeping of both modes (cacheSpan, the
 * reclaimer, sweep termination), the proportional sweeper paces it. Each commit computes
 * sweepPagesPerByte = unswept pages / (trigger − heapLive − 1 MiB) (gcPaceSweeper), and each
 * span allocation first sweeps until pages swept this cycle >= sweepPagesPerByte × (heapLive
 * growth since the commit + its own bytes) − the pages it reclaims itself (deductSweepCredit),
 * so sweeping is done before the next trigger. Go's background sweeper (bgsweep) sweeps with
 * a P's idle time; the model has no idle time to give it, so what bgsweep would have done is
 * done by the proportional sweeper and, at the latest, by sweep termination.
 *
 * Concurrent mark (gm_heap_config.concurrent_mark, GC mode; used by trace-driven replays such
 * as gmbench fidelity): the cycle starts at the trigger (sweep termination) and the world
 * restarts; its mark lasts until gm_heap_mark_done (or a gm_gc). Allocation meanwhile is black
 * (gcmarknewobject): each span an allocator takes during the mark records the mark cycle and
 * its freeindex (gm_gc_blacken_span: spans cached at the start, refills, large spans), and a
 * pending free of a black object is kept for the next cycle. Mark termination then measures
 * cons/mark as endCycle does — (heapLive − trigger) × u / (scan work × (1 − u)), u = 0.25 (no
 * assists, no idle workers), scan work = live bytes of scan spans + globals, smoothed by Go's
 * PI controller (kp 0.9, ti 4, tt 1000, ±1000) — and the next trigger uses the runway
 * consMark × 3 × (lastHeapScan + lastStackScan + globals), converted to uint64 as Go 1.19
 * does (a runway of −1 or less becomes huge: the trigger drops to 45/64). gm_heap_set_mark_inputs
 * replaces the measured cons/mark and scan work with given ones. Go's tiny block marking at
 * gcStart is done at mark termination here (the block current then survives).
 *
 * GC mode. gm_free validates the object at once (invalid, interior and double frees are
 * reported as in the default mode; a second free of a pending object too), sets its pending
 * bit and appends it to the P's buffer (4 KiB buffers from the heap's own fixalloc; a full
 * buffer goes to a heap-wide list under gc.lock). The object stays allocated: HeapAlloc
 * includes it and its slot is not reused. The cycle applies every pending free exactly as the
 * default mode's gm_free does (freed bit; a large object's pages go back to the heap, as the
 * sweeper frees large spans), then the ordinary lazy sweep runs.
 *
 * Pacer (§6; Go 1.19 formulas, uint64 arithmetic, multiply first):
 *   heapMinimum   = 4 MiB × GOGC / 100
 *   gcPercentGoal = GOGC < 0 ? ∞ : max(marked + (marked + globals) × GOGC / 100, heapMinimum)
 *                   (globals: gm_set_globals_scan, 0 by default; goroutine stacks are 0: the
 *                   model has no goroutines in its heap)
 *   memLimitGoal  = §6.2 from MemStats: nonHeap = (Sys − HeapReleased) − (HeapIdle −
 *                   HeapReleased) − HeapAlloc, overage, 1 MiB headroom, at least marked
 *   sweepDistMinTrigger = sweep done ? 0 : heapLive + 1 MiB (always the latter at a cycle end)
 *   goal, minTrigger and trigger exactly as §6.2/§6.3 (45/64 and 61/64 of the way, goal − 4 MiB)
 * heapLive moves as in Go: + span bytes − used bytes at refill, + pages at a large
 * allocation, − unused slots when a (non-stale) span leaves an mcache, = marked at the end of
 * a cycle. The trigger is tested where Go tests it (after a refill and after every large
 * allocation, malloc.c). Simplifications: with an instantaneous mark runway is 0 (no cons/mark
 * to measure), so the trigger is always maxTrigger — which is what Go computes for its first
 * cycle; the memory-limit goal is computed at commit (cycle end, GOGC or GOMEMLIMIT
 * change), not at every trigger test; no periodic (2-minute) GC.
 *
 * Invariants (gm_gc_check): every buffered object is allocated, not freed, and has its
 * pending bit set; no other pending bit is set; Σ per-P pending counts and bytes equal a
 * recount of the buffers; HeapAlloc >= pending bytes; dead_unswept == Σ freed bits × elemsize.
 *
 * Locking: pending buffers belong to the P holding them; gc.lock guards the full list (a leaf,
 * taken with a P held); bufalloc is under mheap.lock; pacer state changes with the world
 * stopped (heap_live atomically).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gm_testing.h"

#define HEAP_MINIMUM      ((uint64_t)4 << 20) /* defaultHeapMinimum */
#define SWEEP_MIN_DIST    ((uint64_t)1 << 20) /* sweepMinHeapDistance */
#define MEMLIMIT_HEADROOM ((uint64_t)1 << 20) /* memoryLimitHeapGoalHeadroom */
#define MAX_TRIGGER_DIST  ((uint64_t)4 << 20) /* fixed, not GOGC-scaled (§6.3) */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* gcPercentGoal (§6.2): marked + (marked + roots) × GOGC/100, roots being the stack and
 * globals scan sizes, at least heapMinimum = 4 MiB × GOGC/100; none (UINT64_MAX) with GOGC
 * off. uint64 arithmetic, multiply first, as Go. */
static uint64_t percent_goal(uint64_t marked, uint64_t roots, int gcp)
{
    if (gcp < 0) return UINT64_MAX;
    uint64_t goal = marked + (marked + roots) * (uint64_t)gcp / 100;
    uint64_t minimum = HEAP_MINIMUM * (uint64_t)gcp / 100;
    return goal > minimum ? goal : minimum;
}

/* ---- default-mode pacing --------------------------------------------------------------- */

void gm_heap_pace(gm_mheap *h, uint64_t live_bytes, const uint64_t *heap_inuse_at_mark)
{
    int64_t trigger = INT64_MAX;
    if (h->gc_percent >= 0) {
        uint64_t basis = live_bytes > HEAP_MINIMUM ? live_bytes : HEAP_MINIMUM;
        trigger = (int64_t)(basis / 100 * (uint64_t)h->gc_percent);
        if (trigger < (int64_t)GM_PAGE_SIZE) trigger = GM_PAGE_SIZE;
    }
    atomic_store(&h->sweep_trigger, trigger);
    /* The scavenger paces against the goal a Go program with this live heap would have. */
    gm_scavenge_pace(h, percent_goal(live_bytes, 0, h->gc_percent), 0, heap_inuse_at_mark);
}

/* ---- the pacer (GC mode) --------------------------------------------------------------- */

/* memoryLimitHeapGoal (§6.2). World stopped. */
static uint64_t memory_limit_goal(gm_mheap *h)
{
    gm_gcstate *g = &h->gc;
    uint64_t limit = (uint64_t)g->memory_limit, marked = g->heap_marked;
    gm_memstats ms;
    gm_mstats_collect(h, &ms);
    uint64_t mapped_ready = ms.sys - ms.heap_released;
    uint64_t heap_free = ms.heap_idle - ms.heap_released;
    uint64_t non_heap = mapped_ready - heap_free - ms.heap_alloc;
    uint64_t overage = mapped_ready > limit ? mapped_ready - limit : 0;
    if (non_heap + overage >= limit) return marked;
    uint64_t goal = limit - non_heap - overage;
    if (goal < MEMLIMIT_HEADROOM || goal - MEMLIMIT_HEADROOM < MEMLIMIT_HEADROOM)
        goal = MEMLIMIT_HEADROOM;
    else
        goal -= MEMLIMIT_HEADROOM;
    return goal > marked ? goal : marked;
}

/* gcControllerState.trigger (§6.3). */
static uint64_t pacer_trigger(uint64_t marked, uint64_t goal, uint64_t min_trigger, uint64_t runway)
{
    if (marked >= goal) return goal;
    uint64_t lo = marked + ((goal - marked) / 64) * 45;
    if (min_trigger < marked) min_trigger = marked;
    if (min_trigger < lo) min_trigger = lo;
    uint64_t max_trigger = marked + ((goal - marked) / 64) * 61;
    if (goal > MAX_TRIGGER_DIST && goal - MAX_TRIGGER_DIST > max_trigger)
        max_trigger = goal - MAX_TRIGGER_DIST;
    if (max_trigger < min_trigger) max_trigger = min_trigger;
    uint64_t trigger = runway > goal ? min_trigger : goal - runway;
    if (trigger < min_trigger) trigger = min_trigger;
    if (trigger > max_trigger) trigger = max_trigger;
    return trigger;
}

/* gcPaceSweeper: spread the sweeping of this cycle's unswept pages over the heap growth left
 * before the trigger (less 1 MiB of margin), so that sweeping is done when the next cycle
 * starts. World stopped. */
static void pace_sweeper(gm_mheap *h, uint64_t trigger)
{
    gm_gcstate *g = &h->gc;
    if (atomic_load(&g->sweep_done)) {
        atomic_store(&g->proportional, false);
        return;
    }
    int64_t live = atomic_load(&g->heap_live);
    int64_t distance = (int64_t)trigger - live - ((int64_t)1 << 20);
    if (distance < (int64_t)GM_PAGE_SIZE) distance = GM_PAGE_SIZE;
    pthread_mutex_lock(&h->lock);
    int64_t in_use = (int64_t)h->pages_in_use;
    pthread_mutex_unlock(&h->lock);
    int64_t swept = atomic_load(&g->pages_swept_cycle), unswept = in_use - swept;
    if (unswept <= 0) {
        atomic_store(&g->proportional, false);
        return;
    }
    g->sweep_pages_per_byte = (double)unswept / (double)distance;
    g->sweep_live_basis = live > 0 ? (uint64_t)live : 0;
    g->pages_swept_basis = (uint64_t)swept;
    atomic_store(&g->proportional, true);
}

void gm_gc_deduct_sweep_credit(gm_mheap *h, gm_p *pp, uint64_t span_bytes, uint64_t caller_pages)
{
    gm_gcstate *g = &h->gc;
    if (!atomic_load_explicit(&g->proportional, memory_order_relaxed)) return;
    int64_t live = atomic_load_explicit(&g->heap_live, memory_order_relaxed);
    uint64_t grown = span_bytes;
    if (live > 0 && (uint64_t)live > g->sweep_live_basis)
        grown += (uint64_t)live - g->sweep_live_basis;
    int64_t target = (int64_t)(g->sweep_pages_per_byte * (double)grown) - (int64_t)caller_pages;
    while (target > atomic_load(&g->pages_swept_cycle) - (int64_t)g->pages_swept_basis) {
        if (gm_mcentral_sweep_one(h, pp) < 0) { /* sweeping is done */
            atomic_store(&g->proportional, false);
            break;
        }
    }
}

void gm_gc_commit(gm_mheap *h, const uint64_t *heap_inuse_at_mark)
{
    gm_gcstate *g = &h->gc;
    uint64_t marked = g->heap_marked;
    uint64_t goal = percent_goal(marked, g->last_stack_scan + g->globals_scan, h->gc_percent);
    int64_t live = atomic_load(&g->heap_live);
    bool swept = !heap_inuse_at_mark && atomic_load(&g->sweep_done);
    uint64_t sweep_min = swept ? 0 : (uint64_t)(live > 0 ? live : 0) + SWEEP_MIN_DIST;
    uint64_t mem_goal = memory_limit_goal(h), min_trigger = 0;
    if (mem_goal < goal) {
        goal = mem_goal; /* memory-limited regime */
    } else {
        if (goal < sweep_min) goal = sweep_min;
        min_trigger = sweep_min;
    }
    g->heap_goal = goal;
    g->sweep_dist_min = sweep_min;
    gm_scavenge_pace(h, goal, g->memory_limit, heap_inuse_at_mark);
    /* runway = consMark × (1 − 0.25)/0.25 × (lastHeapScan + lastStackScan + globals); 0
     * without a concurrent mark to measure consMark over. The PI controller's output can be
     * negative, and Go 1.19 converts the product to uint64 unchecked: on amd64 that is a
     * truncation to int64, so a runway of -1 or less becomes enormous and the trigger drops
     * to its minimum, 45/64 of the way to the goal (seen in real gcpacertrace logs: every
     * cycle after a negative cons/mark triggers there). */
    double runway =
        g->cons_mark * 3.0 * (double)(g->last_heap_scan + g->last_stack_scan + g->globals_scan);
    g->runway = !g->concurrent ? 0 : runway >= 0 ? (uint64_t)runway : (uint64_t)(int64_t)runway;
    atomic_store(&g->trigger, pacer_trigger(marked, goal, min_trigger, g->runway));
    pace_sweeper(h, atomic_load(&g->trigger));
}

int gm_heap_set_gc_percent(gm_mheap *h, gm_m *m, int percent)
{
    gm_stop_the_world(m);
    int old = h->gc_percent;
    h->gc_percent = percent < 0 ? -1 : percent;
    if (h->gc.enabled) {
        gm_gc_commit(h, NULL);
    } else {
        gm_memstats ms;
        gm_mstats_collect(h, &ms);
        gm_heap_pace(h, ms.heap_alloc, NULL);
    }
    gm_start_the_world(m);
    return old;
}

int64_t gm_heap_set_memory_limit(gm_mheap *h, gm_m *m, int64_t limit)
{
    if (limit < 0) return h->gc.memory_limit;
    gm_stop_the_world(m);
    int64_t old = h->gc.memory_limit;
    h->gc.memory_limit = limit;
    if (h->gc.enabled) gm_gc_commit(h, NULL);
    gm_start_the_world(m);
    return old;
}

uint64_t gm_heap_set_globals_scan(gm_mheap *h, gm_m *m, uint64_t bytes)
{
    gm_stop_the_world(m);
    uint64_t old = h->gc.globals_scan;
    h->gc.globals_scan = bytes;
    if (h->gc.enabled) gm_gc_commit(h, NULL);
    gm_start_the_world(m);
    return old;
}

void gm_heap_set_gc_hook(gm_mheap *h, gm_m *m, gm_gc_hook fn, void *arg)
{
    gm_stop_the_world(m);
    h->gc.hook = fn;
    h->gc.hook_arg = arg;
    gm_start_the_world(m);
}

int64_t gm_parse_memory_limit(const char *v)
{
    static const struct {
        const char *sfx;
        unsigned shift;
    } units[] = {{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}, {"", 0}};
    if (strcmp(v, "off") == 0) return INT64_MAX;
    uint64_t n = 0;
    const char *p = v;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (uint64_t)INT64_MAX / 10) return -1;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].sfx) != 0) continue;
        if (n > ((uint64_t)INT64_MAX >> units[i].shift)) return -1;
        return (int64_t)(n << units[i].shift);
    }
    return -1;
}

/* ---- pending frees ------------------------------------------------------------------------ */

int gm_gc_init(gm_mheap *h, const gm_heap_config *cfg)
{
    gm_gcstate *g = &h->gc;
    g->enabled = cfg->gc_mode;
    g->gctrace = cfg->gctrace;
    g->memory_limit = cfg->memory_limit > 0 ? cfg->memory_limit : INT64_MAX;
    g->globals_scan = cfg->globals_scan;
    g->concurrent = cfg->gc_mode && cfg->concurrent_mark;
    g->hook = cfg->cycle_hook;
    g->hook_arg = cfg->cycle_hook_arg;
    pthread_mutex_init(&g->lock, NULL);
    gm_fixalloc_init(&g->bufalloc, sizeof(gm_gcbuf), &h->sys.other_sys);
    atomic_store(&g->sweep_done, true);
    g->start_ns = now_ns();
    return 0;
}

void gm_gc_destroy(gm_mheap *h)
{
    gm_fixalloc_destroy(&h->gc.bufalloc);
    pthread_mutex_destroy(&h->gc.lock);
}

/* Is p a tiny object sharing its 16-byte block (rather than an ordinary 16-byte object)? */
static inline bool tiny_sub(const gm_mspan *s, uintptr_t p, uintptr_t idx)
{
    if (!s->tiny_pending) return false;
    uint32_t word = atomic_load_explicit(&s->tiny_meta[idx], memory_order_acquire);
    return !(word == 0 && p == s->base + idx * GM_TINY_SIZE);
}

static inline bool bit_set(_Atomic uint64_t *bits, uintptr_t i)
{
    uint64_t bit = (uint64_t)1 << (i % 64);
    return !(atomic_fetch_or_explicit(&bits[i / 64], bit, memory_order_relaxed) & bit);
}
static inline void bit_clear(_Atomic uint64_t *bits, uintptr_t i)
{
    atomic_fetch_and_explicit(&bits[i / 64], ~((uint64_t)1 << (i % 64)), memory_order_relaxed);
}
static inline bool bit_test(const _Atomic uint64_t *bits, uintptr_t i)
{
    return (atomic_load_explicit(&bits[i / 64], memory_order_relaxed) >> (i % 64)) & 1;
}

bool gm_gc_is_pending(const gm_mspan *s, uintptr_t p)
{
    if (s->div_mul == 0) return bit_test(s->pending_bits, 0);
    uintptr_t idx = gm_mspan_obj_index(s, p);
    if (tiny_sub(s, p, idx)) return bit_test(s->tiny_pending, p - s->base);
    return bit_test(s->pending_bits, idx);
}

/* A buffer with room for the P, flushing its full one; NULL when out of memory. */
static gm_gcbuf *gcbuf_get(gm_mheap *h, gm_p *pp)
{
    gm_gcstate *g = &h->gc;
    pthread_mutex_lock(&h->lock);
    gm_gcbuf *b = gm_fixalloc_alloc(&g->bufalloc);
    pthread_mutex_unlock(&h->lock);
    if (!b) return NULL;
    gm_gcbuf *old = pp->gcbuf;
    if (old) {
        pthread_mutex_lock(&g->lock);
        old->next = g->full;
        g->full = old;
        pthread_mutex_unlock(&g->lock);
    }
    pp->gcbuf = b;
    return b;
}

/* Validate p and set its pending bit: NULL and *bytes, or what is wrong with it. */
static const char *pend(gm_mheap *h, uintptr_t p, size_t *bytes)
{
    gm_mspan *s = gm_mheap_span_of(h, p);
    if (!s) return "pointer not allocated by gomalloc, or already freed";
    if (s->div_mul == 0) {
        if (p != s->base) return "interior pointer into a large object";
        if (!bit_set(s->pending_bits, 0)) return "double free of a large object (free pending)";
        *bytes = s->npages * GM_PAGE_SIZE;
        GM_MEM_FREE(p, *bytes);
        return NULL;
    }
    uintptr_t idx = gm_mspan_obj_index(s, p);
    if (tiny_sub(s, p, idx)) {
        uint32_t word = atomic_load_explicit(&s->tiny_meta[idx], memory_order_acquire);
        if (!(word & (uint32_t)1 << (p - (s->base + idx * GM_TINY_SIZE))))
            return "double free of a tiny object, or an interior pointer (no live tiny object "
                   "starts here)";
        if (!bit_set(s->tiny_pending, p - s->base))
            return "double free of a tiny object (free pending)";
        *bytes = gm_tiny_usable_size(s, p, idx);
        return NULL;
    }
    if (p != s->base + idx * s->elemsize) return "interior pointer (not the start of an object)";
    if (!gm_mspan_is_allocated(s, idx)) return "double free (object already freed and swept)";
    if (bit_test(s->freed_bits, idx)) return "double free (object already freed)";
    if (!bit_set(s->pending_bits, idx)) return "double free (object already freed, free pending)";
    *bytes = s->elemsize;
    GM_MEM_FREE(p, *bytes); /* dead from now on; the slot is not reused before the cycle */
    return NULL;
}

void gm_gc_free(gm_mheap *h, gm_m *m, void *ptr)
{
    gm_p *pp = gm_acquirep(m);
    gm_gcbuf *b = pp->gcbuf;
    if (GM_UNLIKELY(!b || b->n == GM_GCBUF_CAP) && !(b = gcbuf_get(h, pp))) {
        /* No memory for a buffer: apply this free at once, as the default mode does. */
        gm_releasep(m);
        gm_heap_free_now(h, NULL, ptr);
        return;
    }
    size_t bytes = 0;
    const char *why = pend(h, (uintptr_t)ptr, &bytes);
    if (GM_UNLIKELY(why)) {
        gm_releasep(m); /* nothing changed: the handler may longjmp */
        gm_misuse(why, ptr);
    }
    b->obj[b->n++] = ptr;
    pp->pending_count++;
    pp->pending_bytes += bytes;
    gm_releasep(m);
}

/* Allocated during the running concurrent mark (allocate-black)? Such an object survives the
 * cycle even if it is already dead; its free waits for the next one. */
static bool is_black(gm_gcstate *g, const gm_mspan *s, uintptr_t p)
{
    uint64_t cycle = atomic_load_explicit(&g->marking, memory_order_relaxed);
    if (!cycle || s->black_cycle != cycle) return false;
    if (s->div_mul == 0) return true;
    uintptr_t idx = gm_mspan_obj_index(s, p);
    return idx >= s->black_from && !bit_test(s->alloc_bits, idx);
}

/* Bytes a pending object holds (what pend counted for it). */
static uint64_t pending_size(const gm_mspan *s, uintptr_t p)
{
    if (s->div_mul == 0) return (uint64_t)s->npages * GM_PAGE_SIZE;
    uintptr_t idx = gm_mspan_obj_index(s, p);
    return tiny_sub(s, p, idx) ? gm_tiny_usable_size(s, p, idx) : s->elemsize;
}

/* Apply one pending free as the default mode's gm_free applies it. */
static void apply_one(gm_mheap *h, gm_p *pp, gm_mspan *s, void *obj)
{
    uintptr_t p = (uintptr_t)obj;
    if (s->div_mul == 0) {
        bit_clear(s->pending_bits, 0);
        pp->stats.pages_swept += s->npages; /* the sweeper frees large spans */
    } else {
        uintptr_t idx = gm_mspan_obj_index(s, p);
        if (tiny_sub(s, p, idx))
            bit_clear(s->tiny_pending, p - s->base);
        else
            bit_clear(s->pending_bits, idx);
    }
    gm_heap_free_now(h, NULL, obj);
}

/* The mark result: every pending free is applied, except those of black objects, which stay
 * pending (in the buffer they are in; the heap-wide list's are counted on pp). Returns the
 * frees applied. World stopped; pp is the collector's P. */
static uint64_t apply_pending(gm_mheap *h, gm_p *pp)
{
    gm_gcstate *g = &h->gc;
    uint64_t applied = 0, full_count = 0, full_bytes = 0;
    gm_gcbuf *full = g->full, **keep = &g->full;
    g->full = NULL;
    for (uint32_t i = 0; i <= h->nprocs; i++) {
        gm_gcbuf *b = i < h->nprocs ? h->allp[i].gcbuf : full;
        uint64_t kept_count = 0, kept_bytes = 0;
        for (gm_gcbuf *next; b; b = next) {
            next = i < h->nprocs ? NULL : b->next;
            uint64_t kept = 0;
            for (uint64_t k = 0; k < b->n; k++) {
                gm_mspan *s = gm_mheap_span_of(h, (uintptr_t)b->obj[k]);
                if (!s) gm_throw("pending free of %p: no span", b->obj[k]);
                if (is_black(g, s, (uintptr_t)b->obj[k])) {
                    kept_bytes += pending_size(s, (uintptr_t)b->obj[k]);
                    b->obj[kept++] = b->obj[k];
                } else {
                    apply_one(h, pp, s, b->obj[k]);
                }
            }
            applied += b->n - kept;
            kept_count += kept;
            b->n = kept;
            if (i < h->nprocs) continue;
            if (kept) { /* back on the list, in its order */
                *keep = b;
                keep = &b->next;
                b->next = NULL;
            } else {
                pthread_mutex_lock(&h->lock);
                gm_fixalloc_free(&g->bufalloc, b);
                pthread_mutex_unlock(&h->lock);
            }
        }
        if (i < h->nprocs) {
            h->allp[i].pending_count = kept_count;
            h->allp[i].pending_bytes = kept_bytes;
        } else {
            full_count = kept_count;
            full_bytes = kept_bytes;
        }
    }
    pp->pending_count += full_count;
    pp->pending_bytes += full_bytes;
    return applied;
}

/* ---- gctrace (§9.2) ------------------------------------------------------------------------ */

/* itoaDiv: val / 10^dec with dec decimals. */
static int fmt_div(char *out, size_t n, uint64_t val, int dec)
{
    if (dec == 0) return snprintf(out, n, "%llu", (unsigned long long)val);
    uint64_t p = 1;
    for (int i = 0; i < dec; i++) p *= 10;
    return snprintf(out, n, "%llu.%0*llu", (unsigned long long)(val / p), dec,
                    (unsigned long long)(val % p));
}

/* fmtNSAsMS: >= 10 ms whole, else two significant digits with at most 3 decimals. */
static void fmt_ms(char *out, size_t n, uint64_t ns)
{
    if (ns >= 10000000) {
        fmt_div(out, n, ns / 1000000, 0);
        return;
    }
    uint64_t x = ns / 1000;
    if (x == 0) {
        snprintf(out, n, "0");
        return;
    }
    int dec = 3;
    for (; x >= 100; dec--) x /= 10;
    fmt_div(out, n, x, dec);
}

typedef struct {
    uint64_t num, at_ns, pct, wall[3], cpu[5], h0, h1, h2, goal, globals;
    uint32_t nprocs;
    bool forced;
} trace_line;

static void print_trace(const trace_line *t)
{
    char at[32], f[8][24], line[512];
    fmt_div(at, sizeof at, t->at_ns / 1000000, 3);
    for (int i = 0; i < 3; i++) fmt_ms(f[i], sizeof f[i], t->wall[i]);
    for (int i = 0; i < 5; i++) fmt_ms(f[3 + i], sizeof f[3 + i], t->cpu[i]);
    int len = snprintf(line, sizeof line,
                       "gc %llu @%ss %llu%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
                       "%llu->%llu->%llu MB, %llu MB goal, 0 MB stacks, %llu MB globals, %u P%s\n",
                       (unsigned long long)t->num, at, (unsigned long long)t->pct, f[0], f[1], f[2],
                       f[3], f[4], f[5], f[6], f[7], (unsigned long long)(t->h0 >> 20),
                       (unsigned long long)(t->h1 >> 20), (unsigned long long)(t->h2 >> 20),
                       (unsigned long long)(t->goal >> 20), (unsigned long long)(t->globals >> 20),
                       t->nprocs, t->forced ? " (forced)" : "");
    if (len <= 0) return;
    const char *s = line;
    for (size_t left = (size_t)len < sizeof line ? (size_t)len : sizeof line - 1; left;) {
        ssize_t w = write(2, s, left);
        if (w <= 0) return;
        s += w;
        left -= (size_t)w;
    }
}

/* ---- the cycle ------------------------------------------------------------------------------ */

/* endCycle's cons/mark update (§6.3) at the end of a concurrent mark. The model has no assists
 * and no idle workers, so utilization is the 25% background goal; heap scan work is the live
 * bytes of scan spans (Go scans only up to each object's last pointer, so this is an upper
 * bound of Go's). World stopped. */
static void update_cons_mark(gm_gcstate *g, int64_t live_end, uint64_t heap_scan)
{
    const double u = 0.25, kp = 0.9, ti = 4.0, tt = 1000, lo = -1000, hi = 1000;
    uint64_t work = heap_scan + g->globals_scan;
    g->last_heap_scan = heap_scan;
    if (live_end <= (int64_t)g->mark_trigger) return; /* Go: "ignore this case" */
    if (work == 0) { /* Go divides by zero: the controller resets, consMark = 0 */
        g->cons_mark = g->cons_integral = 0;
        return;
    }
    double current = (double)((uint64_t)live_end - g->mark_trigger) * u / ((double)work * (1 - u));
    /* piController{kp, ti, tt, min, max}.next(consMark, current, period 1) */
    double raw = kp * (current - g->cons_mark) + g->cons_integral;
    double out = raw < lo ? lo : raw > hi ? hi : raw;
    g->cons_integral += kp / ti * (current - g->cons_mark) + (out - raw) / tt;
    g->cons_mark = out;
}

/* Mark termination's pacing (GC mode): the live heap after the mark is HeapAlloc less what
 * died and is not swept yet (black objects included, as Go counts them marked); heapLive
 * restarts from it and the pacer commits. */
static void gc_mark_termination(gm_mheap *h, const gm_memstats *ms, int64_t live_end)
{
    gm_gcstate *g = &h->gc;
    if (g->inputs_set) { /* measured by the real runtime */
        g->cons_mark = g->input_cons_mark;
        g->last_heap_scan = g->input_heap_scan;
        g->last_stack_scan = g->input_stack_scan;
        g->inputs_set = false;
    } else if (g->concurrent) {
        update_cons_mark(g, live_end, gm_heap_scan_bytes(h));
    }
    g->heap_marked = ms->heap_alloc - (uint64_t)atomic_load(&g->dead_unswept);
    atomic_store(&g->heap_live, (int64_t)g->heap_marked);
    atomic_store(&g->sweep_done, false);
    gm_gc_commit(h, &ms->heap_inuse);
    g->last_goal = g->mark_goal;
    g->last_live_start = g->mark_live_start > 0 ? (uint64_t)g->mark_live_start : 0;
}

/* The gctrace line of the cycle that just ended (t: its four phase boundaries) and the
 * cumulative GC CPU time it adds. The model does no marking work, so the mark's CPU fields
 * are 0 and the GC's CPU is its two stop-the-world pauses. World stopped. */
static trace_line gc_account(gm_mheap *h, uint64_t num, const uint64_t t[4], int64_t live_end,
                             bool forced)
{
    gm_gcstate *g = &h->gc;
    trace_line tl = {
        .num = num,
        .at_ns = t[0] - g->start_ns,
        .wall = {t[1] - t[0], t[2] - t[1], t[3] - t[2]},
        .cpu = {(t[1] - t[0]) * h->nprocs, 0, 0, 0, (t[3] - t[2]) * h->nprocs},
        .h0 = g->last_live_start,
        .h1 = live_end > 0 ? (uint64_t)live_end : 0,
        .h2 = g->heap_marked,
        .goal = g->mark_goal,
        .globals = g->globals_scan,
        .nprocs = h->nprocs,
        .forced = forced,
    };
    g->cpu_ns += tl.cpu[0] + tl.cpu[4];
    uint64_t elapsed = (t[3] - g->start_ns) * h->nprocs;
    tl.pct = elapsed ? g->cpu_ns * 100 / elapsed : 0;
    return tl;
}

static void sweep_all(gm_mheap *h, gm_p *pp)
{
    while (gm_mcentral_sweep_one(h, pp) >= 0) {
    }
}

/* gcMarkTermination + gcSweep: apply the mark result, retire the tiny blocks as
 * gcMarkTinyAllocs does, sweepgen += 2, flush every mcache, pace, report. World stopped; pp is
 * the collector's P. */
static trace_line mark_termination(gm_mheap *h, gm_p *pp, bool forced)
{
    gm_gcstate *g = &h->gc;
    uint64_t t[4] = {g->mark_t0, g->mark_t1, now_ns()};
    int64_t live_end = atomic_load(&g->heap_live);
    /* Mark: the pending frees are the mark result (GC mode); then mark termination's view of
     * the tiny blocks (gcMarkTinyAllocs), so a current block emptied by them survives. */
    gm_mprof_next_cycle(h); /* mark termination: the frees applied below are this cycle's */
    uint64_t applied = g->enabled ? apply_pending(h, pp) : 0;
    for (uint32_t i = 0; i < h->nprocs; i++) gm_mcache_mark_tiny(h, &h->allp[i]);
    int64_t freed = atomic_exchange(&h->freed_pending, 0);
    atomic_store(&h->freed_large, 0);
    /* gcSweep: every span becomes unswept. */
    atomic_fetch_add(&h->sweepgen, 2);
    atomic_store(&g->pages_swept_cycle, 0);
    atomic_store(&h->sweep_cursor, 0);
    uint64_t num = atomic_fetch_add(&h->num_cycles, 1) + 1;
    if (forced) g->num_forced++;
    /* prepareForSweep: every P flushes its cache; the spans come back stale and are swept
     * on the spot, ahead of everything swept later (mcentral.uncacheSpan). */
    for (uint32_t i = 0; i < h->nprocs; i++) gm_mcache_release_all(h, &h->allp[i]);
    gm_stack_mark_termination(h, pp); /* shrink stacks, freeStackSpans, clear stack caches */
    gm_memstats ms;
    gm_mstats_collect(h, &ms);
    if (g->enabled)
        gc_mark_termination(h, &ms, live_end);
    else
        gm_heap_pace(h, ms.heap_alloc > (uint64_t)freed ? ms.heap_alloc - (uint64_t)freed : 0,
                     &ms.heap_inuse);
    atomic_store(&g->marking, 0);
    atomic_store(&g->sweep_done, false);
    gm_mprof_flush(h); /* Go flushes once the world runs again; nothing here records to C */
    if (forced) {
        sweep_all(h, pp);
        gm_mprof_post_sweep(h);
    }
#ifdef GM_DEBUG
    /* Debug builds check the whole heap at every cycle, while the world is stopped. */
    char buf[512];
    const char *e = gm_heap_check_stopped(h, buf, sizeof buf);
    if (e) gm_throw("heap check at cycle %llu: %s", (unsigned long long)num, e);
#endif
    t[3] = now_ns();
    trace_line tl = gc_account(h, num, t, live_end, forced);
    if (g->hook) {
        bool on = g->enabled;
        gm_gc_cycle c = {.num = num,
                         .forced = forced,
                         .trigger = on ? g->mark_trigger : 0,
                         .heap_start = on ? g->last_live_start : 0,
                         .heap_marked = on ? g->heap_marked : ms.heap_alloc,
                         .heap_goal = on ? g->mark_goal : 0,
                         .next_goal = on ? g->heap_goal : 0,
                         .next_trigger = on ? atomic_load(&g->trigger) : 0,
                         .heap_inuse = ms.heap_inuse,
                         .frees = applied,
                         .pause_ns = t[3] - t[0]};
        g->hook(&c, g->hook_arg);
    }
    return tl;
}

void gm_heap_start_cycle(gm_mheap *h, gm_m *m, bool forced)
{
    gm_gcstate *g = &h->gc;
    if (!forced && atomic_load(&g->marking)) return; /* a cycle is running */
    uint64_t t0 = now_ns();
    gm_stop_the_world(m);
    if (!forced && (atomic_load(&g->marking) || !gm_cycle_triggered(h))) {
        gm_start_the_world(m); /* another thread started it meanwhile */
        return;
    }
    gm_p *pp = m->p;
    bool trace = g->enabled && g->gctrace;
    trace_line before = {0};
    atomic_store(&h->scav.wake, true); /* finishsweep_m wakes the scavenger */
    /* runtime.GC() while a cycle marks: that cycle finishes first. */
    bool finished = atomic_load(&g->marking) != 0;
    if (finished) before = mark_termination(h, pp, false), t0 = now_ns();
    g->mark_live_start = atomic_load(&g->heap_live);
    sweep_all(h, pp); /* sweep termination: finish the previous cycle's sweeping */
    g->mark_t0 = t0;
    g->mark_t1 = now_ns();
    g->mark_goal = g->heap_goal;
    g->mark_trigger = atomic_load(&g->trigger);
    trace_line tl = {0};
    bool done = !(g->concurrent && !forced);
    if (done) {
        tl = mark_termination(h, pp, forced);
    } else {
        /* The mark phase runs until gm_heap_mark_done. What is allocated meanwhile is black
         * (gcmarknewobject): slots taken from the spans cached now, or from spans cached or
         * allocated later (gm_gc_blacken_span). */
        uint64_t cycle = atomic_load(&h->num_cycles) + 1;
        atomic_store(&g->marking, cycle);
        for (uint32_t i = 0; i < h->nprocs; i++)
            for (int spc = 0; spc < GM_NUM_SPAN_CLASSES; spc++)
                if (h->allp[i].mcache.alloc[spc] != &gm_emptymspan)
                    gm_gc_blacken_span(h, h->allp[i].mcache.alloc[spc], false);
    }
    gm_start_the_world(m);
    if (trace && finished) print_trace(&before);
    if (trace && done) print_trace(&tl);
}

void gm_heap_mark_done(gm_mheap *h, gm_m *m)
{
    if (!atomic_load(&h->gc.marking)) return;
    gm_stop_the_world(m);
    bool running = atomic_load(&h->gc.marking) != 0;
    trace_line tl = {0};
    if (running) tl = mark_termination(h, m->p, false);
    gm_start_the_world(m);
    if (running && h->gc.gctrace) print_trace(&tl);
}

void gm_heap_set_mark_inputs(gm_mheap *h, gm_m *m, double cons_mark, uint64_t heap_scan,
                             uint64_t stack_scan)
{
    gm_stop_the_world(m);
    h->gc.inputs_set = true;
    h->gc.input_cons_mark = cons_mark;
    h->gc.input_heap_scan = heap_scan;
    h->gc.input_stack_scan = stack_scan;
    gm_start_the_world(m);
}

void gm_heap_gc(gm_mheap *h, gm_m *m)
{
    gm_note_freed(h, NULL, (size_t)m->freed_bytes);
    m->freed_bytes = 0;
    gm_heap_start_cycle(h, m, true);
    gm_scavenge_background(h); /* the forced cycle swept everything: the scavenger runs next */
}

void gm_heap_release_os_memory(gm_mheap *h, gm_m *m)
{
    gm_heap_gc(h, m);
    gm_scavenge(h, UINT64_MAX);
}
