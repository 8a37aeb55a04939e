/*
 * test_stack.c — goroutine stacks (stack.c; Go: stack.go), reference §7.
 *
 *   - stackalloc by order (2, 4, 8, 16 KiB) from the P's stack cache, refilled to 16 KiB and
 *     released down to 16 KiB once it holds 32 KiB; the global pool's 4-page spans hand out
 *     their highest address first; large stacks are spans of their own, parked in stackLarge
 *     while a GC runs and freed by freeStackSpans at mark termination;
 *   - goroutines: 2 KiB at creation, growth by doubling (further doubled until the frame and
 *     the 928-byte guard fit) with the used part copied, shrinking to half at a GC cycle when
 *     less than a quarter is used (and not otherwise; not at all with gcshrinkstackoff), the
 *     deferred shrink of a running goroutine, non-escaping allocations in the frame;
 *   - StackInuse in MemStats and not in HeapInuse; gm_free of a stack pointer is misuse;
 *   - threads: goroutines on several threads while others force GC cycles.
 *
 * Every case uses a private heap and runs the whole-heap checker (which includes
 * gm_stack_check) after every step.
 */
#include <pthread.h>
#include <setjmp.h>

#include "gm_test.h"
#include "gm_testing.h"

#define STACK_CHECK(h) CHECK_INVARIANTS(gm_stack_check((h), GM_CHECKBUF))

static gm_mheap *stack_heap(gm_m *m, int nprocs, bool shrinkoff)
{
    gm_heap_config cfg = {
        .nprocs = nprocs, .gc_percent = -1, .arena_hints = false, .gcshrinkstackoff = shrinkoff};
    return gm_test_heap_cfg(m, &cfg);
}

static gm_mspan *span_of_stack(gm_mheap *h, uintptr_t p)
{
    return gm_mheap_manual_span_of(h, p);
}

static size_t cache_size(gm_mheap *h, int p, unsigned order)
{
    return h->allp[p].mcache.stackcache[order].size;
}

/* ---- stackalloc / stackfree ---------------------------------------------------------------- */

static void test_orders(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    gm_p *pp = gm_acquirep(&m);
    gm_stack st[4];
    for (unsigned order = 0; order < GM_NUM_STACK_ORDERS; order++) {
        size_t n = (size_t)GM_FIXED_STACK << order;
        st[order] = gm_stackalloc(h, pp, n);
        CHECK_EQ(st[order].hi - st[order].lo, n);
        CHECK_EQ(st[order].lo % n, 0);
        gm_mspan *s = span_of_stack(h, st[order].lo);
        CHECK(s && s->elemsize == n && s->npages == 4);
        /* The refill took 16 KiB worth of stacks; one is handed out. */
        CHECK_EQ(cache_size(h, 0, order), GM_STACK_CACHE_SIZE / 2 - n);
        memset((void *)st[order].lo, 0xa5, n); /* the whole stack is usable */
        CHECK_HEAP(h);
    }
    CHECK_EQ(h->stack.inuse, 4 * GM_STACK_CACHE_SIZE);
    CHECK_EQ(h->heap_inuse, 0);
    for (unsigned order = 0; order < GM_NUM_STACK_ORDERS; order++) {
        gm_stackfree(h, pp, st[order]);
        CHECK_EQ(cache_size(h, 0, order), GM_STACK_CACHE_SIZE / 2);
        CHECK_HEAP(h);
    }
    gm_releasep(&m);
    /* MemStats empties the stack caches: every pool span is empty and goes back. */
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.stack_inuse, 0);
    CHECK_EQ(h->allp[0].mcache.stackcache[0].size, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_cache_thresholds(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    gm_p *pp = gm_acquirep(&m);
    enum { N = 40 };
    gm_stack st[N];
    for (int i = 0; i < N; i++) {
        st[i] = gm_stackalloc(h, pp, GM_FIXED_STACK);
        /* Empty -> refilled to 16 KiB (8 stacks), then one taken. */
        CHECK_EQ(cache_size(h, 0, 0), (size_t)(7 - i % 8) * GM_FIXED_STACK);
        CHECK_HEAP(h);
    }
    size_t want = 0;
    for (int i = 0; i < N; i++) {
        gm_stackfree(h, pp, st[i]);
        /* At >= 32 KiB the cache is released down to 16 KiB before the push. */
        if (want >= GM_STACK_CACHE_SIZE) want = GM_STACK_CACHE_SIZE / 2;
        want += GM_FIXED_STACK;
        CHECK_EQ(cache_size(h, 0, 0), want);
        CHECK(want <= GM_STACK_CACHE_SIZE);
        CHECK_HEAP(h);
    }
    gm_stackcache_clear(h, pp);
    CHECK_EQ(cache_size(h, 0, 0), 0);
    CHECK_EQ(h->stack.inuse, 0); /* no GC running: empty pool spans went back at once */
    gm_releasep(&m);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_pool_order(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    /* Without a P: straight from the pool. */
    gm_stack a = gm_stackalloc(h, NULL, 4096), b = gm_stackalloc(h, NULL, 4096);
    gm_mspan *s = span_of_stack(h, a.lo);
    CHECK(s != NULL);
    CHECK_EQ(a.lo, s->base + GM_STACK_CACHE_SIZE - 4096); /* highest address first */
    CHECK_EQ(b.lo, a.lo - 4096);
    CHECK_EQ(s->alloc_count, 2);
    CHECK(h->stack.pool[1].first == s);
    CHECK_HEAP(h);
    /* Take the span's last stacks: it leaves the pool list; a new span comes next. */
    gm_stack rest[6];
    for (int i = 0; i < 6; i++) rest[i] = gm_stackalloc(h, NULL, 4096);
    CHECK_EQ(rest[5].lo, s->base);
    CHECK(h->stack.pool[1].first == NULL);
    CHECK_HEAP(h);
    gm_stack c = gm_stackalloc(h, NULL, 4096);
    CHECK(span_of_stack(h, c.lo) != s);
    CHECK_HEAP(h);
    gm_stackfree(h, NULL, b); /* s has a free stack again: back on the list, at the front */
    CHECK(h->stack.pool[1].first == s);
    CHECK_HEAP(h);
    gm_stack b2 = gm_stackalloc(h, NULL, 4096);
    CHECK_EQ(b2.lo, b.lo);
    gm_stackfree(h, NULL, a);
    gm_stackfree(h, NULL, b2);
    for (int i = 0; i < 6; i++) gm_stackfree(h, NULL, rest[i]);
    CHECK_EQ(h->stack.inuse, GM_STACK_CACHE_SIZE); /* s went back to the heap at once */
    gm_stackfree(h, NULL, c);
    CHECK_EQ(h->stack.inuse, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_large_and_gc(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    gm_p *pp = gm_acquirep(&m);
    gm_stack big = gm_stackalloc(h, pp, 64 * KiB);
    gm_mspan *s = span_of_stack(h, big.lo);
    CHECK(s && s->base == big.lo && s->npages == 8);
    CHECK_EQ(h->stack.inuse, 64 * KiB);
    CHECK_HEAP(h);
    gm_stackfree(h, pp, big); /* no GC running: straight back to the heap */
    CHECK_EQ(h->stack.inuse, 0);
    CHECK_HEAP(h);

    /* While a GC runs, a freed large stack waits in stackLarge and is reused from there;
     * an emptied pool span waits too. */
    big = gm_stackalloc(h, pp, 64 * KiB);
    gm_stack small = gm_stackalloc(h, NULL, 8192);
    atomic_store(&h->stack.gc_running, true);
    gm_stackfree(h, pp, big);
    CHECK(h->stack.large_free[3] == span_of_stack(h, big.lo));
    CHECK_EQ(h->stack.inuse, 64 * KiB + GM_STACK_CACHE_SIZE);
    CHECK_HEAP(h);
    gm_stack again = gm_stackalloc(h, pp, 64 * KiB);
    CHECK_EQ(again.lo, big.lo);
    CHECK(h->stack.large_free[3] == NULL);
    gm_stackfree(h, pp, again);
    gm_stackfree(h, NULL, small);
    CHECK_EQ(h->stack.inuse, 64 * KiB + GM_STACK_CACHE_SIZE);
    CHECK_HEAP(h);
    atomic_store(&h->stack.gc_running, false);
    gm_releasep(&m);
    /* Mark termination's freeStackSpans returns both. */
    gm_heap_gc(h, &m);
    CHECK_EQ(h->stack.inuse, 0);
    CHECK(h->stack.large_free[3] == NULL && h->stack.pool[2].first == NULL);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- goroutines ---------------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7);
}
static bool same(const uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(seed + i * 7)) return false;
    return true;
}

static void test_growth(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    gm_g *g = gm_heap_g_create(h, &m);
    CHECK(g != NULL);
    CHECK_EQ(g->stack.hi - g->stack.lo, 2048);
    CHECK_EQ(g->sp, g->stack.hi);
    CHECK_HEAP(h);
    /* Frames that fit leave the stack where it is. */
    uint8_t *f1 = gm_heap_g_push(&m, g, 200);
    fill(f1, 200, 1);
    uintptr_t off1 = g->stack.hi - (uintptr_t)f1;
    CHECK_EQ(off1, 208); /* frame + return address */
    uint8_t *f2 = gm_heap_g_push(&m, g, 500);
    fill(f2, 500, 2);
    uintptr_t off2 = g->stack.hi - (uintptr_t)f2;
    CHECK_EQ(g->stack.hi - g->stack.lo, 2048);
    CHECK_HEAP(h);
    /* 2048 - 720 used = 1328 available; a 608-byte frame needs more than 608 + 800: grow to
     * 4096, which has room (4096 - 720 >= 608 + 928). */
    uintptr_t old_lo = g->stack.lo;
    uint8_t *f3 = gm_heap_g_push(&m, g, 600);
    CHECK(f3 != NULL);
    CHECK_EQ(g->stack.hi - g->stack.lo, 4096);
    CHECK(g->stack.lo != old_lo);
    CHECK(same((uint8_t *)(g->stack.hi - off1), 200, 1)); /* copied, top-aligned */
    CHECK(same((uint8_t *)(g->stack.hi - off2), 500, 2));
    CHECK_EQ(atomic_load(&h->stack.grows), 1);
    CHECK_HEAP(h);
    /* A frame much larger than the stack: doubled until new - used >= frame + 928. */
    uintptr_t used = g->stack.hi - g->sp;
    uint8_t *f4 = gm_heap_g_push(&m, g, 20000);
    CHECK(f4 != NULL);
    size_t want = 8192;
    while (want - used < 20008 + GM_STACK_GUARD) want *= 2;
    CHECK_EQ(g->stack.hi - g->stack.lo, want); /* 32 KiB: a large stack span */
    CHECK(same((uint8_t *)(g->stack.hi - off1), 200, 1));
    CHECK(same((uint8_t *)(g->stack.hi - off2), 500, 2));
    CHECK_HEAP(h);
    /* Non-escaping allocations extend the innermost frame and die with it. */
    uintptr_t sp = g->sp;
    uint64_t *x = gm_heap_g_alloc(&m, g, 12, GM_ZERO);
    CHECK(x && (uintptr_t)x == sp - 16 && x[0] == 0 && x[1] == 0);
    CHECK_HEAP(h);
    gm_heap_g_pop(&m, g); /* f4 and x */
    gm_heap_g_pop(&m, g); /* f3 */
    CHECK_EQ(g->stack.hi - g->sp, off2);
    CHECK(same((uint8_t *)(g->stack.hi - off2), 500, 2));
    gm_heap_g_pop(&m, g);
    gm_heap_g_pop(&m, g);
    CHECK_EQ(g->sp, g->stack.hi);
    CHECK_EQ(g->nframes, 0);
    CHECK(gm_heap_g_alloc(&m, g, 8, 0) == NULL); /* no frame to put it in */
    CHECK_HEAP(h);
    /* Stack overflow: beyond maxstacksize. */
    errno = 0;
    CHECK(gm_heap_g_push(&m, g, (size_t)2 << 30) == NULL && errno == ENOMEM);
    CHECK_HEAP(h);
    gm_heap_g_exit(&m, g);
    gm_memstats ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.stack_inuse, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* A goroutine whose stack has grown to `size` and now uses `used` bytes (frames of 8 + 8). */
static gm_g *grown_g(gm_mheap *h, gm_m *m, size_t size, size_t used)
{
    gm_g *g = gm_heap_g_create(h, m);
    gm_heap_g_push(m, g, size - GM_STACK_GUARD - 8 - 1024);
    CHECK_EQ(g->stack.hi - g->stack.lo, size);
    gm_heap_g_pop(m, g);
    while (g->stack.hi - g->sp < used) gm_heap_g_push(m, g, 8);
    return g;
}

static void test_shrink(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    gm_g *idle = grown_g(h, &m, 16 * KiB, 0);
    gm_g *busy = grown_g(h, &m, 16 * KiB, 4096); /* 4096 + 800 >= 16K/4: keeps its stack */
    gm_g *edge = grown_g(h, &m, 8 * KiB, 1232);  /* 1232 + 800 = 2032 < 2048: shrinks once */
    gm_heap_g_park(idle);
    gm_heap_g_park(busy);
    gm_heap_g_park(edge);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_EQ(idle->stack.hi - idle->stack.lo, 8 * KiB);
    CHECK_EQ(busy->stack.hi - busy->stack.lo, 16 * KiB);
    CHECK_EQ(edge->stack.hi - edge->stack.lo, 4 * KiB);
    CHECK_EQ(atomic_load(&h->stack.shrinks), 2);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_EQ(idle->stack.hi - idle->stack.lo, 4 * KiB);
    CHECK_EQ(edge->stack.hi - edge->stack.lo, 4 * KiB); /* 2032 >= 1024 */
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    gm_heap_gc(h, &m);
    CHECK_EQ(idle->stack.hi - idle->stack.lo, 2 * KiB); /* never below 2048 */
    CHECK_HEAP(h);
    /* A running goroutine is not shrunk by the cycle but at its next safe point. */
    gm_g *run = grown_g(h, &m, 16 * KiB, 0);
    gm_heap_g_push(&m, run, 16);
    gm_heap_gc(h, &m);
    CHECK_EQ(run->stack.hi - run->stack.lo, 16 * KiB);
    CHECK(atomic_load(&run->preempt_shrink));
    CHECK_HEAP(h);
    gm_heap_g_pop(&m, run);
    CHECK_EQ(run->stack.hi - run->stack.lo, 8 * KiB);
    CHECK(!atomic_load(&run->preempt_shrink));
    CHECK_HEAP(h);
    gm_heap_g_run(idle);
    gm_heap_g_run(busy);
    gm_heap_g_run(edge);
    gm_heap_g_exit(&m, idle);
    gm_heap_g_exit(&m, busy);
    gm_heap_g_exit(&m, edge);
    gm_heap_g_exit(&m, run);
    gm_heap_gc(h, &m);
    CHECK_EQ(h->stack.inuse, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_shrink_off(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, true); /* GODEBUG=gcshrinkstackoff=1 */
    gm_g *g = grown_g(h, &m, 16 * KiB, 0);
    gm_heap_g_park(g);
    gm_heap_gc(h, &m);
    gm_heap_gc(h, &m);
    CHECK_EQ(g->stack.hi - g->stack.lo, 16 * KiB);
    CHECK(!atomic_load(&g->preempt_shrink));
    CHECK_HEAP(h);
    gm_heap_g_run(g);
    gm_heap_g_exit(&m, g);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_memstats(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    gm_g *gs[100];
    for (int i = 0; i < 100; i++) {
        gs[i] = gm_heap_g_create(h, &m);
        gm_heap_g_push(&m, gs[i], 6000); /* 8 KiB stacks: 6008 + 928 <= 8192 */
    }
    void *obj = gm_heap_alloc(h, &m, 1000, GM_NOSCAN);
    gm_memstats ms = gm_test_memstats(h, &m);
    /* 100 live 8 KiB stacks fill 25 pool spans exactly (refills take 2 at a time); the 2 KiB
     * stacks they replaced were freed and MemStats empties the caches. */
    CHECK_EQ(ms.stack_inuse, 100 * 8 * KiB);
    CHECK_EQ(ms.stack_sys, ms.stack_inuse);
    CHECK_EQ(ms.heap_inuse, 8 * KiB); /* the one span of class 1024, no stacks */
    CHECK_EQ(ms.sys, ms.heap_sys + ms.stack_sys + ms.mspan_sys + ms.gc_sys + ms.other_sys);
    CHECK_HEAP(h);
    gm_heap_free(h, &m, obj);
    for (int i = 0; i < 100; i++) gm_heap_g_exit(&m, gs[i]);
    ms = gm_test_memstats(h, &m);
    CHECK_EQ(ms.stack_inuse, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- misuse ---------------------------------------------------------------------------------- */

static jmp_buf jb;
static const char *seen_what;
static const void *seen_ptr;

static void catch_misuse(const char *what, const void *p)
{
    seen_what = what;
    seen_ptr = p;
    longjmp(jb, 1);
}

/* what: 0 pop without a frame, 1 park twice, 2 run twice (g ends running either way). */
static void expect_g_misuse(gm_mheap *h, gm_m *m, gm_g *g, int what, const char *want)
{
    seen_what = NULL;
    if (setjmp(jb) == 0) {
        if (what == 0) gm_heap_g_pop(m, g);
        if (what == 1) {
            gm_heap_g_park(g);
            gm_heap_g_park(g);
        }
        if (what == 2) gm_heap_g_run(g);
    }
    if (what == 1) gm_heap_g_run(g);
    CHECK(seen_what && strstr(seen_what, want));
    CHECK(seen_ptr == g);
    CHECK_HEAP(h);
}

static void test_free_of_stack(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 1, false);
    gm_g *g = gm_heap_g_create(h, &m);
    void *frame = gm_heap_g_push(&m, g, 64);
    void *lo = (void *)g->stack.lo;
    gm_set_misuse_handler(catch_misuse);
    void *ptrs[] = {frame, lo};
    for (int i = 0; i < 2; i++) {
        seen_what = NULL;
        if (setjmp(jb) == 0) gm_heap_free(h, &m, ptrs[i]);
        CHECK(seen_what && strstr(seen_what, "goroutine stack"));
        CHECK(seen_ptr == ptrs[i]);
        CHECK(m.p == NULL);
        CHECK_HEAP(h);
    }
    /* Misuse of goroutines: reported before anything changes. */
    gm_heap_g_pop(&m, g);
    expect_g_misuse(h, &m, g, 0, "no frame");
    expect_g_misuse(h, &m, g, 1, "not running");
    expect_g_misuse(h, &m, g, 2, "running goroutine");
    CHECK_EQ(atomic_load(&g->status), GM_G_RUNNING);
    frame = gm_heap_g_push(&m, g, 64);
    gm_set_misuse_handler(NULL);
    gm_expect_free_aborts(h, &m, frame, "free of a stack frame");
    CHECK_EQ(g->stack.hi - g->stack.lo, 2048); /* nothing changed */
    gm_heap_g_pop(&m, g);
    gm_heap_g_exit(&m, g);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- threads ------------------------------------------------------------------------------- */

typedef struct {
    gm_mheap *h;
    int id;
    int failures;
} thr_arg;

static void *g_worker(void *arg)
{
    thr_arg *a = arg;
    gm_m m;
    gm_m_init(&m, a->h);
    uint64_t rng = (uint64_t)a->id * 977 + 1;
    enum { NG = 8 };
    gm_g *gs[NG];
    for (int i = 0; i < NG; i++) {
        gs[i] = gm_heap_g_create(a->h, &m);
        gm_heap_g_park(gs[i]);
    }
    for (int round = 0; round < 300; round++) {
        gm_g *g = gs[gm_test_splitmix(&rng) % NG];
        gm_heap_g_run(g);
        int depth = (int)(gm_test_splitmix(&rng) % 40);
        for (int d = 0; d < depth; d++) {
            size_t fs = 16 + gm_test_splitmix(&rng) % 600;
            uint8_t *f = gm_heap_g_push(&m, g, fs);
            if (!f) {
                a->failures++;
                break;
            }
            f[0] = (uint8_t)d;
            if (d % 3 == 0 && !gm_heap_g_alloc(&m, g, 40, GM_ZERO)) a->failures++;
            void *o = gm_heap_alloc(a->h, &m, 64, GM_NOSCAN);
            gm_heap_free(a->h, &m, o);
        }
        while (g->nframes) gm_heap_g_pop(&m, g);
        gm_heap_g_park(g);
        if (round % 50 == a->id) gm_heap_gc(a->h, &m);
    }
    for (int i = 0; i < NG; i++) {
        gm_heap_g_run(gs[i]);
        gm_heap_g_exit(&m, gs[i]);
    }
    gm_m_detach(&m);
    return NULL;
}

static void test_threads(void)
{
    gm_m m;
    gm_mheap *h = stack_heap(&m, 2, false);
    enum { NT = 4 };
    pthread_t t[NT];
    thr_arg args[NT];
    for (int i = 0; i < NT; i++) {
        args[i] = (thr_arg){h, i, 0};
        pthread_create(&t[i], NULL, g_worker, &args[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(args[i].failures, 0);
    }
    CHECK_EQ(h->stack.ngs, 0);
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_EQ(h->stack.inuse, 0);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* The public API on the process heap. */
static void test_public(void)
{
    gm_g *g = gm_g_create();
    CHECK(g && gm_g_stack_size(g) == 2048 && gm_g_stack_used(g) == 0);
    char *f = gm_g_push(g, 4000);
    CHECK(f && gm_g_stack_size(g) == 8192);
    memset(f, 1, 4000);
    CHECK(gm_g_alloc(g, 100, 0) != NULL);
    CHECK_EQ(gm_g_stack_used(g), 4008 + 104);
    gm_g_pop(g);
    gm_g_park(g);
    gm_gc();
    gm_g_run(g);
    CHECK_EQ(gm_g_stack_size(g), 4096);
    gm_memstats ms;
    gm_read_memstats(&ms);
    CHECK(ms.stack_inuse >= 4096);
    gm_g_exit(g);
    CHECK_HEAP(gm_process_heap());
}

int main(void)
{
    struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {
        {"orders", test_orders},
        {"cache_thresholds", test_cache_thresholds},
        {"pool_order", test_pool_order},
        {"large_and_gc", test_large_and_gc},
        {"growth", test_growth},
        {"shrink", test_shrink},
        {"shrink_off", test_shrink_off},
        {"memstats", test_memstats},
        {"free_of_stack", test_free_of_stack},
        {"threads", test_threads},
        {"public", test_public},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        printf("-- %s\n", cases[i].name);
        cases[i].fn();
    }
    return gm_test_finish("test_stack");
}
