/*
 * test_gc.c — the GC mode (gc.c; Go: mgc.go, mgcpacer.go), reference §6, §9.2, §10.1.
 *
 * In GC mode gm_free holds the object (pending) until the next GC cycle: HeapAlloc keeps it
 * and its slot is not reused; the cycle applies the frees and the sweeper reclaims them.
 * Cycles start as Go 1.19's pacer starts them; the pacer cases recompute the heap goal and
 * trigger here, independently, from the reference's formulas (§6.2, §6.3) and compare the
 * heap size at every cycle start for a deterministic single-thread sequence of large
 * allocations (the model's heapLive is exact for them: +pages at each allocation).
 *
 * Every case uses a private heap and checks gm_heap_check after every step.
 */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <string.h>

#include "gm_test.h"
#include "gm_testing.h"

#define OBJ ((size_t)64 << 10) /* a large object of exactly 8 pages */

static gm_mheap *gc_heap(gm_m *m, int nprocs, int gc_percent, bool trace)
{
    gm_heap_config cfg = {.nprocs = nprocs,
                          .gc_percent = gc_percent,
                          .gc_mode = true,
                          .gctrace = trace,
                          .arena_hints = false};
    return gm_test_heap_cfg(m, &cfg);
}

static uint64_t cycles(gm_mheap *h)
{
    return atomic_load(&h->num_cycles);
}

/* ---- the pacer, recomputed from the reference ------------------------------------------- */

typedef struct {
    int gogc;
    uint64_t globals; /* globalsScan (gm_set_globals_scan) */
    uint64_t marked, goal, trigger;
} pacer;

/* §6.3 with runway 0 (no cons/mark estimate in the model). */
static uint64_t ref_trigger(uint64_t marked, uint64_t goal, uint64_t min_trigger)
{
    if (marked >= goal) return goal;
    uint64_t mn = min_trigger;
    if (mn < marked) mn = marked;
    if (mn < marked + (goal - marked) / 64 * 45) mn = marked + (goal - marked) / 64 * 45;
    uint64_t mx = marked + (goal - marked) / 64 * 61;
    if (goal > 4 * MiB && goal - 4 * MiB > mx) mx = goal - 4 * MiB;
    if (mx < mn) mx = mn;
    uint64_t t = goal; /* goal - runway */
    return t < mn ? mn : t > mx ? mx : t;
}

/* §6.2 without a memory limit; sweep_min = sweepDistMinTrigger. */
static void ref_commit(pacer *p, uint64_t sweep_min)
{
    uint64_t minimum = 4 * MiB * (uint64_t)p->gogc / 100;
    uint64_t goal = p->marked + (p->marked + p->globals) * (uint64_t)p->gogc / 100;
    if (goal < minimum) goal = minimum;
    if (goal < sweep_min) goal = sweep_min;
    p->goal = goal;
    p->trigger = ref_trigger(p->marked, goal, sweep_min);
}

/* What the cycle hook (gm_gc_hook) saw: the last cycle. */
static gm_gc_cycle hooked;
static uint64_t nhooked;

static void on_cycle(const gm_gc_cycle *c, void *arg)
{
    CHECK(arg == &hooked);
    hooked = *c;
    nhooked++;
}

/* Allocate OBJ-sized objects; object i dies (is freed) right after its allocation unless
 * i % keep_every == 0. After each allocation, compare cycles with the reference pacer, and
 * each cycle's hook record with the reference. */
static void run_pacer(int gogc, int n, int keep_every, int want_min_cycles, uint64_t globals)
{
    gm_m m;
    gm_heap_config cfg = {.nprocs = 1,
                          .gc_percent = gogc,
                          .gc_mode = true,
                          .globals_scan = globals,
                          .cycle_hook = on_cycle,
                          .cycle_hook_arg = &hooked};
    gm_mheap *h = gm_test_heap_cfg(&m, &cfg);
    nhooked = 0;
    pacer ref = {.gogc = gogc, .globals = globals};
    ref_commit(&ref, 0); /* at init the sweep is done: sweepDistMinTrigger = 0 */
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.next_gc, ref.goal);
    CHECK_EQ(ms.gc_trigger, ref.trigger);
    uint64_t live = 0, heap_live = 0, ncycles = 0;
    for (int i = 0; i < n; i++) {
        void *p = gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
        CHECK(p != NULL);
        live += OBJ;
        heap_live += OBJ;
        if (heap_live >= ref.trigger) { /* the reference's cycle: its start, then its mark */
            ncycles++;
            uint64_t start = heap_live, goal = ref.goal, trigger = ref.trigger;
            ref.marked = heap_live = live;
            ref_commit(&ref, heap_live + MiB);
            CHECK_EQ(nhooked, ncycles);
            CHECK_EQ(hooked.num, ncycles);
            CHECK_EQ(hooked.forced, 0);
            CHECK_EQ(hooked.trigger, trigger);
            CHECK_EQ(hooked.heap_start, start);
            CHECK_EQ(hooked.heap_marked, ref.marked);
            CHECK_EQ(hooked.heap_goal, goal);
            CHECK_EQ(hooked.next_goal, ref.goal);
            CHECK_EQ(hooked.next_trigger, ref.trigger);
            CHECK_EQ(cycles(h), ncycles);
            ms = gm_test_memstats(h, &m);
            CHECK_EQ(ms.num_gc, ncycles);
            CHECK_EQ(ms.last_heap_start, start);
            CHECK_EQ(ms.last_heap_goal, goal);
            CHECK_EQ(ms.last_heap_marked, ref.marked);
            CHECK_EQ(ms.next_gc, ref.goal);
            CHECK_EQ(ms.gc_trigger, ref.trigger);
            CHECK_EQ(ms.heap_alloc, live);
        }
        CHECK_EQ(cycles(h), ncycles);
        CHECK_EQ(atomic_load(&h->gc.heap_live), heap_live);
        if (i % keep_every != 0) {
            gm_heap_free(h, &m, p);
            live -= OBJ;
        }
        if (i % 16 == 0) CHECK_HEAP(h);
    }
    CHECK(ncycles >= (uint64_t)want_min_cycles);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_pacer(void)
{
    /* GOGC=100 from an empty heap: the first cycle starts at 61/64 of the 4 MiB minimum,
     * 3 997 696 bytes (the reference's verified value), i.e. at the 61st 64 KiB object. */
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, 100, false);
    for (int i = 0; i < 60; i++) gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
    CHECK_EQ(cycles(h), 0);
    gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
    CHECK_EQ(cycles(h), 1);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.last_heap_start, 3997696);
    CHECK_EQ(ms.last_heap_goal, 4 * MiB);
    CHECK_HEAP(h);
    gm_heap_destroy(h);

    run_pacer(100, 2000, 3, 5, 0); /* a growing live heap */
    run_pacer(100, 1500, 1, 3, 0); /* nothing dies */
    run_pacer(100, 3000, 50, 10, 0);
    run_pacer(50, 2000, 4, 5, 0);
    run_pacer(300, 2000, 2, 2, 0);
    /* Go 1.18+: the program's globals are part of the goal (§6.2). With 5 MiB of globals and
     * GOGC=100 the first goal is 0 + (0 + 5 MiB) = 5 MiB, above the 4 MiB minimum; with 3 MiB
     * and GOGC=200 it is 6 MiB, below that run's 8 MiB minimum until the live heap grows. */
    run_pacer(200, 3000, 3, 3, 3 * MiB);
    run_pacer(100, 3000, 2, 5, 5 * MiB);
}

/* heapMinimum = 4 MiB × GOGC/100: with GOGC=50 the first cycle starts at 61/64 of 2 MiB. */
static void test_heap_minimum(void)
{
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, 50, false);
    uint64_t want = 2 * MiB / 64 * 61, n = (want + OBJ - 1) / OBJ;
    for (uint64_t i = 0; i + 1 < n; i++) gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
    CHECK_EQ(cycles(h), 0);
    gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
    CHECK_EQ(cycles(h), 1);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.last_heap_goal, 2 * MiB);
    CHECK_EQ(ms.last_heap_start, n * OBJ);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- frees are held until a cycle ------------------------------------------------------ */

static bool in_set(void *const *set, int n, void *p)
{
    for (int i = 0; i < n; i++)
        if (set[i] == p) return true;
    return false;
}

static void test_frees_held(void)
{
    enum { N = 200 };
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, -1, false);
    void *p[N], *freed[N / 2], *q[N / 2];
    for (int i = 0; i < N; i++) p[i] = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    void *big[3];
    for (int i = 0; i < 3; i++) big[i] = gm_heap_alloc(h, &m, 100 * KiB, GM_NOSCAN);
    gm_memstats before = gm_test_memstats(h, &m);
    CHECK_HEAP(h);
    int nf = 0;
    for (int i = 0; i < N; i += 2) gm_heap_free(h, &m, freed[nf++] = p[i]);
    gm_heap_free(h, &m, big[1]);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.heap_alloc, before.heap_alloc); /* still allocated */
    CHECK_EQ(ms.heap_inuse, before.heap_inuse); /* the large object's pages too */
    CHECK_EQ(ms.frees, before.frees);
    CHECK_EQ(ms.pending_frees, N / 2 + 1);
    CHECK_EQ(ms.pending_bytes, N / 2 * 64 + 13 * GM_PAGE_SIZE);
    CHECK(gm_heap_usable_size(h, freed[0]) == 64);
    CHECK_HEAP(h);
    /* Their slots are not reused before the cycle. */
    for (int i = 0; i < N / 2; i++) {
        q[i] = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
        CHECK(!in_set(freed, nf, q[i]));
    }
    CHECK_HEAP(h);
    CHECK_EQ(cycles(h), 0); /* GOGC=off */
    for (int i = 0; i < N / 2; i++) gm_heap_free(h, &m, q[i]);
    /* The cycle applies them; the forced cycle sweeps everything. */
    gm_heap_gc(h, &m);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.num_gc, 1);
    CHECK_EQ(ms.num_forced_gc, 1);
    CHECK_EQ(ms.pending_frees, 0);
    CHECK_EQ(ms.pending_bytes, 0);
    CHECK_EQ(ms.heap_alloc, before.heap_alloc - N / 2 * 64 - 13 * GM_PAGE_SIZE);
    CHECK(ms.heap_inuse <= before.heap_inuse + GM_PAGE_SIZE - 13 * GM_PAGE_SIZE);
    CHECK_EQ(ms.large_free_count, 1);
    CHECK_EQ(ms.last_heap_marked, ms.heap_alloc);
    CHECK(ms.pages_swept >= 13);
    CHECK_HEAP(h);
    /* Swept: the freed slots are handed out again, lowest first. */
    void *r = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    CHECK(in_set(freed, nf, r) || in_set(q, N / 2, r));
    CHECK_HEAP(h);

    /* Tiny objects: held too; the block dies only when the cycle frees its last object. */
    char *t[8];
    for (int i = 0; i < 8; i++) t[i] = gm_heap_alloc(h, &m, 2, GM_NOSCAN);
    for (int i = 0; i < 8; i++) gm_heap_free(h, &m, t[i]);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.pending_frees, 8);
    CHECK_EQ(ms.pending_bytes, 16);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.pending_frees, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* A cycle triggered by allocation (not forced) applies the frees; the sweeper reclaims them
 * lazily, through refills. */
static void test_cycle_then_lazy_sweep(void)
{
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, 100, false);
    enum { N = 20000 };
    static void *p[N];
    for (int i = 0; i < N; i++) p[i] = gm_heap_alloc(h, &m, 512, GM_NOSCAN);
    for (int i = 0; i < N; i++) gm_heap_free(h, &m, p[i]);
    gm_memstats ms = gm_test_memstats(h, &m);
    uint64_t c0 = ms.num_gc, held = ms.heap_alloc;
    CHECK(ms.pending_frees > 0);
    CHECK_HEAP(h);
    /* Allocate until a cycle starts; then keep allocating: the freed slots are reused. */
    for (int i = 0; i < N && cycles(h) == c0; i++) p[i] = gm_heap_alloc(h, &m, 512, GM_NOSCAN);
    CHECK(cycles(h) > c0);
    ms = gm_test_memstats(h, &m);
    CHECK(ms.last_heap_marked < held / 2);
    uint64_t inuse = ms.heap_inuse;
    for (int i = 0; i < 2000; i++) gm_heap_alloc(h, &m, 512, GM_NOSCAN);
    ms = gm_test_memstats(h, &m);
    /* Served from swept slots, not new pages; the proportional sweeper may meanwhile have
     * returned spans found empty. */
    CHECK(ms.heap_inuse <= inuse);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* gcPaceSweeper / deductSweepCredit: after a cycle, every span allocation first sweeps
 * sweepPagesPerByte × (heapLive growth + its own bytes) pages, so that sweeping finishes
 * within the heap growth left before the next trigger (less 1 MiB). */
static void test_proportional_sweep(void)
{
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, 100, false);
    enum { N = 20000 };
    static void *p[N];
    for (int i = 0; i < N; i++) p[i] = gm_heap_alloc(h, &m, 512, GM_NOSCAN);
    for (int i = 0; i < N; i++)
        if (i % 4) gm_heap_free(h, &m, p[i]);
    uint64_t c0 = cycles(h);
    while (cycles(h) == c0) CHECK(gm_heap_alloc(h, &m, OBJ, GM_NOSCAN) != NULL);
    gm_gcstate *g = &h->gc;
    CHECK(atomic_load(&g->proportional));
    /* The rate: unswept pages over (trigger − heapLive − 1 MiB), from the bases. */
    pthread_mutex_lock(&h->lock);
    uint64_t in_use = h->pages_in_use;
    pthread_mutex_unlock(&h->lock);
    double want = (double)(in_use - g->pages_swept_basis) /
                  (double)(atomic_load(&g->trigger) - g->sweep_live_basis - MiB);
    CHECK(g->sweep_pages_per_byte > want * (1 - 1e-9) &&
          g->sweep_pages_per_byte < want * (1 + 1e-9));
    for (int k = 0; k < 8 && atomic_load(&g->proportional); k++) {
        CHECK(gm_heap_alloc(h, &m, OBJ, GM_NOSCAN) != NULL);
        int64_t live = atomic_load(&g->heap_live);
        double due = g->sweep_pages_per_byte * (double)((uint64_t)live - g->sweep_live_basis);
        int64_t swept = atomic_load(&g->pages_swept_cycle) - (int64_t)g->pages_swept_basis;
        CHECK((double)swept >= due - (double)(OBJ / GM_PAGE_SIZE) - 1);
        CHECK_HEAP(h);
    }
    /* Before the next cycle starts, everything has been swept. */
    uint64_t c1 = cycles(h);
    while (cycles(h) == c1) {
        if (atomic_load(&g->heap_live) + (int64_t)OBJ >= (int64_t)atomic_load(&g->trigger))
            CHECK(atomic_load(&g->sweep_done));
        CHECK(gm_heap_alloc(h, &m, OBJ, GM_NOSCAN) != NULL);
    }
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* GOGC=off: no cycle until gm_heap_gc, whatever is allocated and freed. */
static void test_gogc_off(void)
{
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, -1, false);
    for (int i = 0; i < 400; i++) gm_heap_free(h, &m, gm_heap_alloc(h, &m, OBJ, GM_NOSCAN));
    for (int i = 0; i < 20000; i++) gm_heap_free(h, &m, gm_heap_alloc(h, &m, 1000, GM_NOSCAN));
    CHECK_EQ(cycles(h), 0);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.pending_frees, 20400);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_EQ(cycles(h), 1);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.pending_frees, 0);
    CHECK_EQ(ms.heap_alloc, 0);
    CHECK_HEAP(h);
    /* Turning GOGC on again commits a goal: the 4 MiB minimum for an empty heap. */
    CHECK_EQ(gm_heap_set_gc_percent(h, &m, 100), -1);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.next_gc, 4 * MiB);
    CHECK_EQ(ms.gc_trigger, ref_trigger(0, 4 * MiB, 0));
    gm_heap_destroy(h);
}

/* GOMEMLIMIT lowers the goal (§6.2's memoryLimitHeapGoal, recomputed from MemStats). */
static void test_memory_limit(void)
{
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, 100, false);
    for (int i = 0; i < 96; i++) gm_heap_alloc(h, &m, OBJ, GM_NOSCAN); /* 6 MiB live */
    gm_heap_gc(h, &m);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.last_heap_marked, 6 * MiB);
    CHECK_EQ(ms.next_gc, 12 * MiB);
    CHECK_EQ(gm_heap_set_memory_limit(h, &m, -1), INT64_MAX);
    CHECK_EQ(gm_heap_set_memory_limit(h, &m, 10 * MiB), INT64_MAX);
    ms = gm_test_memstats(h, &m);
    uint64_t limit = 10 * MiB, marked = 6 * MiB;
    uint64_t ready = ms.sys - ms.heap_released, idle_ready = ms.heap_idle - ms.heap_released;
    uint64_t non_heap = ready - idle_ready - ms.heap_alloc;
    uint64_t over = ready > limit ? ready - limit : 0;
    uint64_t goal = marked;
    if (non_heap + over < limit) {
        goal = limit - non_heap - over;
        goal = goal < MiB || goal - MiB < MiB ? MiB : goal - MiB;
        if (goal < marked) goal = marked;
    }
    CHECK(goal < 12 * MiB);
    CHECK_EQ(ms.next_gc, goal);
    CHECK_EQ(ms.gc_trigger, ref_trigger(marked, goal, 0));
    /* A limit below the live heap: the goal is the live heap, the trigger the goal. */
    CHECK_EQ(gm_heap_set_memory_limit(h, &m, 1 * MiB), 10 * MiB);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.next_gc, marked);
    CHECK_EQ(ms.gc_trigger, marked);
    /* The next allocation past the trigger starts a cycle. */
    uint64_t c = cycles(h);
    gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
    CHECK_EQ(cycles(h), c + 1);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
    CHECK(gm_parse_memory_limit("off") == INT64_MAX);
    CHECK(gm_parse_memory_limit("10MiB") == (int64_t)(10 * MiB));
    CHECK(gm_parse_memory_limit("123") == 123 && gm_parse_memory_limit("5B") == 5);
    CHECK(gm_parse_memory_limit("1GiB") == (int64_t)1 << 30);
    CHECK(gm_parse_memory_limit("12x") < 0 && gm_parse_memory_limit("") < 0);
}

/* ---- misuse ---------------------------------------------------------------------------------- */

static jmp_buf jb;
static const char *seen_what;
static int seen_count;

static void catch_misuse(const char *what, const void *p)
{
    (void)p;
    seen_what = what;
    seen_count++;
    longjmp(jb, 1);
}

static void expect_caught(gm_mheap *h, gm_m *m, void *p, bool realloc_it, const char *want)
{
    int before = seen_count;
    seen_what = NULL;
    if (setjmp(jb) == 0) {
        if (realloc_it)
            (void)gm_heap_realloc(h, m, p, 100);
        else
            gm_heap_free(h, m, p);
    }
    CHECK_EQ(seen_count, before + 1);
    CHECK(seen_what && strstr(seen_what, want));
    if (!seen_what || !strstr(seen_what, want))
        fprintf(stderr, "  misuse of %p: got \"%s\", want \"%s\"\n", p,
                seen_what ? seen_what : "(none)", want);
    CHECK(m->p == NULL); /* the P was given back before the report */
    CHECK_HEAP(h);
}

static void test_double_free_pending(void)
{
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, -1, false);
    gm_set_misuse_handler(catch_misuse);
    char *small = gm_heap_alloc(h, &m, 100, GM_NOSCAN);
    char *large = gm_heap_alloc(h, &m, 200 * KiB, GM_NOSCAN);
    char *t1 = gm_heap_alloc(h, &m, 3, GM_NOSCAN), *t2 = gm_heap_alloc(h, &m, 5, GM_NOSCAN);
    gm_heap_free(h, &m, small);
    gm_heap_free(h, &m, large);
    gm_heap_free(h, &m, t1);
    expect_caught(h, &m, small, false, "pending");
    expect_caught(h, &m, large, false, "pending");
    expect_caught(h, &m, t1, false, "pending");
    expect_caught(h, &m, small, true, "freed object");
    expect_caught(h, &m, small + 8, false, "interior");
    expect_caught(h, &m, large + 8, false, "interior");
    /* After the cycle, the same frees are the default mode's double frees. */
    gm_heap_gc(h, &m);
    expect_caught(h, &m, large, false, "not allocated");
    expect_caught(h, &m, t1, false, "tiny");
    gm_heap_free(h, &m, t2);
    gm_set_misuse_handler(NULL);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- gctrace ---------------------------------------------------------------------------------- */

static void test_gctrace(void)
{
    enum { MAXC = 64 };
    uint64_t goals[MAXC + 1] = {0}, c = 0;
    gm_m m;
    gm_mheap *h = gc_heap(&m, 1, 100, true);
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    if (!tmp) return;
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    void *keep[400];
    for (int i = 0; i < 400; i++) {
        keep[i] = gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
        if (i % 2) gm_heap_free(h, &m, keep[i]);
        if (cycles(h) != c && cycles(h) <= MAXC) goals[c = cycles(h)] = h->gc.last_goal;
    }
    gm_heap_gc(h, &m);
    uint64_t forced_goal = h->gc.last_goal, n = cycles(h);
    dup2(saved, 2);
    close(saved);
    CHECK(n >= 3 && n <= MAXC);
    char text[16384];
    rewind(tmp);
    size_t len = fread(text, 1, sizeof text - 1, tmp);
    text[len] = 0;
    fclose(tmp);
    regex_t re;
    const char *pat =
        "^gc ([0-9]+) @[0-9]+\\.[0-9]{3}s [0-9]+%: [0-9.]+\\+[0-9.]+\\+[0-9.]+ ms clock, "
        "[0-9.]+\\+[0-9.]+/[0-9.]+/[0-9.]+\\+[0-9.]+ ms cpu, ([0-9]+)->([0-9]+)->([0-9]+) "
        "MB, ([0-9]+) MB goal, 0 MB stacks, 0 MB globals, 1 P( \\(forced\\))?$";
    CHECK(regcomp(&re, pat, REG_EXTENDED) == 0);
    uint64_t lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        regmatch_t g[7];
        bool ok = regexec(&re, line, 7, g, 0) == 0;
        CHECK(ok);
        if (!ok) {
            fprintf(stderr, "  gctrace line does not match: %s\n", line);
            continue;
        }
        lines++;
        uint64_t num = strtoull(line + g[1].rm_so, NULL, 10);
        uint64_t goal = strtoull(line + g[5].rm_so, NULL, 10);
        bool forced = g[6].rm_so >= 0;
        CHECK_EQ(num, lines); /* gc 1, gc 2, ... */
        CHECK_EQ(goal, (num == n ? forced_goal : goals[num]) >> 20);
        CHECK(forced == (num == n));
    }
    CHECK_EQ(lines, n);
    regfree(&re);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- threads ---------------------------------------------------------------------------------- */

typedef struct {
    gm_mheap *h;
    uint64_t seed;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    gm_m m;
    gm_m_init(&m, w->h);
    enum { LIVE = 256 };
    void *live[LIVE] = {0};
    for (int i = 0; i < 40000; i++) {
        uint64_t r = gm_test_splitmix(&w->seed);
        int k = (int)(r % LIVE);
        if (live[k]) gm_heap_free(w->h, &m, live[k]);
        size_t size = r >> 60 == 0 ? 40000 + (r >> 20) % 60000 : 1 + (r >> 20) % 2000;
        live[k] = gm_heap_alloc(w->h, &m, size, (r >> 40) & 1 ? GM_SCAN : GM_NOSCAN);
        if (i % 10000 == 0) gm_heap_gc(w->h, &m);
    }
    for (int k = 0; k < LIVE; k++) gm_heap_free(w->h, &m, live[k]);
    gm_m_detach(&m);
    return NULL;
}

static void test_threads(void)
{
    enum { T = 4 };
    gm_m m;
    gm_mheap *h = gc_heap(&m, 3, 100, false);
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){h, 1000 + (uint64_t)i};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.pending_frees, 0);
    CHECK(ms.num_gc > (uint64_t)T * 4);
    CHECK(ms.heap_alloc <= 3 * 2 * 16); /* at most the Ps' surviving tiny blocks */
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- the concurrent mark (gm_heap_config.concurrent_mark) -------------------------------- */

static gm_mheap *marking_heap(gm_m *m)
{
    gm_heap_config cfg = {.nprocs = 1, .gc_percent = 100, .gc_mode = true, .concurrent_mark = true};
    return gm_test_heap_cfg(m, &cfg);
}

static uint64_t marking(gm_mheap *h)
{
    return atomic_load(&h->gc.marking);
}

/* A cycle starts at the trigger and marks until gm_heap_mark_done; objects allocated meanwhile
 * are black (survive it even when already freed), objects allocated before die at its end. */
static void test_concurrent_mark(void)
{
    gm_m m;
    gm_mheap *h = marking_heap(&m);
    void *white_small = gm_heap_alloc(h, &m, 48, GM_NOSCAN);
    void *white_big = NULL;
    for (int i = 0; i < 61; i++) { /* the 61st 64 KiB object reaches 3 997 696 (§6.3) */
        CHECK_EQ(marking(h), 0);
        void *p = gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
        if (i == 0) white_big = p;
    }
    CHECK_EQ(marking(h), 1);
    CHECK_EQ(cycles(h), 0); /* started, not ended */
    CHECK_HEAP(h);
    /* More allocation past the trigger does not start another cycle. */
    void *black_small = gm_heap_alloc(h, &m, 48, GM_NOSCAN);
    void *black_big = gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
    CHECK_EQ(marking(h), 1);
    gm_heap_free(h, &m, white_small);
    gm_heap_free(h, &m, white_big);
    gm_heap_free(h, &m, black_small);
    gm_heap_free(h, &m, black_big);
    gm_memstats before = gm_test_memstats(h, &m);
    CHECK_EQ(before.pending_frees, 4);
    CHECK_HEAP(h);
    gm_heap_mark_done(h, &m);
    CHECK_EQ(marking(h), 0);
    CHECK_EQ(cycles(h), 1);
    gm_memstats ms = gm_test_memstats(h, &m);
    /* The white objects died; the black ones stay pending, allocated and counted as marked. */
    CHECK_EQ(ms.pending_frees, 2);
    CHECK_EQ(ms.pending_bytes, 48 + OBJ);
    /* The dead small object stays in HeapAlloc until its span is swept; the large one's pages
     * are freed by the cycle (as Go's sweeper frees large spans at once). */
    CHECK_EQ(ms.heap_alloc, before.heap_alloc - OBJ);
    CHECK_EQ(ms.last_heap_marked, 60 * OBJ + 48 + OBJ);    /* 60 white live + the two black */
    CHECK_EQ(ms.last_heap_start, 61 * OBJ + GM_PAGE_SIZE); /* + the 48-byte class's span */
    CHECK_HEAP(h);
    gm_heap_mark_done(h, &m); /* no cycle running: nothing happens */
    CHECK_EQ(cycles(h), 1);
    /* The next cycle frees them. */
    gm_heap_gc(h, &m);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.pending_frees, 0);
    CHECK_EQ(cycles(h), 2);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* endCycle's cons/mark (§6.3) from the heap allocated during the mark, and the runway it gives
 * the next trigger; inputs given as measured (gm_heap_set_mark_inputs), including Go 1.19's
 * unchecked conversion of a negative runway. */
static void test_cons_mark(void)
{
    gm_m m;
    gm_mheap *h = marking_heap(&m);
    for (int i = 0; i < 61; i++) CHECK(gm_heap_alloc(h, &m, OBJ, GM_SCAN) != NULL);
    CHECK_EQ(marking(h), 1);
    for (int i = 61; i < 65; i++) CHECK(gm_heap_alloc(h, &m, OBJ, GM_SCAN) != NULL); /* black */
    gm_heap_mark_done(h, &m);
    /* current = (heapLive − trigger) × 0.25 / (scan × 0.75), scan = the live scan bytes;
     * consMark = PI output from 0: kp × current (the integral starts at 0). */
    uint64_t trigger = 4 * MiB / 64 * 61, live_end = 65 * OBJ, scan = 65 * OBJ;
    double current = (double)(live_end - trigger) * 0.25 / ((double)scan * 0.75);
    double want = 0.9 * current;
    CHECK(h->gc.cons_mark > want * (1 - 1e-12) && h->gc.cons_mark < want * (1 + 1e-12));
    CHECK_EQ(h->gc.last_heap_scan, scan);
    uint64_t runway = (uint64_t)(want * 3.0 * (double)scan);
    CHECK(h->gc.runway + 1 >= runway && h->gc.runway <= runway + 1);
    gm_memstats ms = gm_test_memstats(h, &m);
    uint64_t marked = 65 * OBJ, goal = ms.next_gc;
    CHECK_EQ(goal, marked + 1 * MiB > 2 * marked ? marked + MiB : 2 * marked);
    uint64_t lo = marked + (goal - marked) / 64 * 45, hi = marked + (goal - marked) / 64 * 61;
    if (goal > 4 * MiB && goal - 4 * MiB > hi) hi = goal - 4 * MiB;
    uint64_t t = goal - runway < lo ? lo : goal - runway > hi ? hi : goal - runway;
    CHECK(ms.gc_trigger + 1 >= t && ms.gc_trigger <= t + 1);
    CHECK_HEAP(h);

    /* Measured inputs: a negative consMark whose runway is ≤ −1 becomes a huge uint64, so the
     * trigger drops to 45/64 of the way; one in (−1, 0) truncates to 0: 61/64 (or goal −
     * 4 MiB). */
    double inputs[2] = {-0.01, -1e-9};
    for (int k = 0; k < 2; k++) {
        gm_heap_gc(h, &m); /* sweep done; a fresh cycle can start */
        while (!marking(h)) CHECK(gm_heap_alloc(h, &m, OBJ, GM_NOSCAN) != NULL);
        gm_heap_set_mark_inputs(h, &m, inputs[k], 100000, 2000);
        gm_heap_mark_done(h, &m);
        ms = gm_test_memstats(h, &m);
        marked = ms.last_heap_marked;
        goal = ms.next_gc;
        lo = marked + (goal - marked) / 64 * 45;
        hi = marked + (goal - marked) / 64 * 61;
        if (goal > 4 * MiB && goal - 4 * MiB > hi) hi = goal - 4 * MiB;
        CHECK_EQ(h->gc.last_stack_scan, 2000);
        CHECK_EQ(ms.gc_trigger, k == 0 ? lo : hi);
        CHECK_HEAP(h);
    }
    gm_heap_destroy(h);
}

/* runtime.GC() during a mark finishes that cycle first, then runs its own. */
static void test_gc_during_mark(void)
{
    gm_m m;
    gm_mheap *h = marking_heap(&m);
    for (int i = 0; i < 61; i++) gm_heap_alloc(h, &m, OBJ, GM_NOSCAN);
    CHECK_EQ(marking(h), 1);
    gm_heap_gc(h, &m);
    CHECK_EQ(marking(h), 0);
    CHECK_EQ(cycles(h), 2);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.num_forced_gc, 1);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- the process heap's knobs (in a child: the process heap is created once) ------------- */

static void process_heap_child(void *arg)
{
    (void)arg;
    setenv("GOMALLOC_MODE", "gc", 1);
    setenv("GODEBUG", "madvdontneed=1,gctrace=1", 1);
    setenv("GOMEMLIMIT", "64MiB", 1);
    void *p = gm_malloc(100);
    gm_free(p);
    gm_memstats ms;
    gm_read_memstats(&ms);
    char buf[200];
    int n = snprintf(buf, sizeof buf, "mode=%d limit=%lld pending=%llu set=%d\n", gm_gc_mode(),
                     (long long)gm_set_memory_limit(-1), (unsigned long long)ms.pending_frees,
                     gm_set_gc_mode(0));
    if (write(2, buf, (size_t)n) != n) _exit(1);
    gm_gc();
}

static void test_process_heap_env(void)
{
    char out[4096];
    int st = gm_run_child(process_heap_child, NULL, out, sizeof out);
    bool ok = st == 0 && strstr(out, "mode=1 limit=67108864 pending=1 set=-1\n") &&
              strstr(out, "gc 1 @") && strstr(out, " MB goal, 0 MB stacks, 0 MB globals, ") &&
              strstr(out, " (forced)\n");
    if (!ok) fprintf(stderr, "  process heap child: status %#x, said: %s\n", st, out);
    CHECK(ok);
}

int main(void)
{
    test_pacer();
    test_heap_minimum();
    test_proportional_sweep();
    test_concurrent_mark();
    test_cons_mark();
    test_gc_during_mark();
    test_frees_held();
    test_cycle_then_lazy_sweep();
    test_gogc_off();
    test_memory_limit();
    test_double_free_pending();
    test_gctrace();
    test_threads();
    test_process_heap_env();
    return gm_test_finish("test_gc");
}
