/*
 * stack_fuzzer.c — goroutine stacks (stack.c, Go's stack.go) on a private heap: goroutines
 * created, parked, run and exited; calls with frames from 8 bytes to 40 KiB, returns,
 * non-escaping allocations, forced GC cycles (which shrink parked stacks and ask running ones
 * to shrink), ReadMemStats (which empties the stack caches), and raw stackalloc/stackfree of
 * every order and of large stacks, with or without a P, inside and outside a "GC running"
 * window.
 *   - every frame keeps its bytes (a per-frame pattern, addressed from the top of the stack, so
 *     it survives growth and shrinking by copying; its ends are checked after every operation);
 *     gm_g_alloc objects likewise;
 *   - a stack is a power of two >= 2048 and its used part equals the shadow's frame sizes;
 *   - raw stacks are disjoint from each other and keep their first and last bytes;
 *   - gm_stack_check after every operation, gm_heap_check (span map, StackInuse) after every
 *     16th and at the end.
 */
#include "fuzz_input.h"

enum { MAX_G = 6, MAX_FRAMES = 48, MAX_RAW = 24 };

typedef struct frame {
    size_t off, size; /* the frame (or object) is [hi - off, hi - off + size) */
    uint8_t seed;
} frame;

typedef struct gshadow {
    gm_g *g;
    bool running;
    size_t nf, used; /* frames and objects, in push order; hi - sp */
    frame f[MAX_FRAMES];
    bool is_obj[MAX_FRAMES];
} gshadow;

/* Writes a frame's pattern, or checks it: its first and last 64 bytes (where a copy that is
 * misplaced, short or not top-aligned shows), so checking every frame after every operation
 * stays cheap. */
static void pattern(uint8_t *p, size_t n, uint8_t seed, bool check, size_t what)
{
    for (size_t i = 0; i < n; i++) {
        if (check && i == 64 && n > 128) i = n - 64;
        uint8_t want = (uint8_t)(seed + i * 31);
        if (check)
            FUZZ_ASSERT(p[i] == want, "frame %zu: byte %zu is %#x, want %#x", what, i, p[i], want);
        else
            p[i] = want;
    }
}

static void verify_g(const gshadow *s)
{
    gm_g *g = s->g;
    size_t size = g->stack.hi - g->stack.lo;
    FUZZ_ASSERT(size >= 2048 && !(size & (size - 1)), "stack of %zu bytes", size);
    FUZZ_ASSERT(g->stack.hi - g->sp == s->used, "stack uses %zu bytes, shadow says %zu",
                (size_t)(g->stack.hi - g->sp), s->used);
    for (size_t i = 0; i < s->nf; i++)
        pattern((uint8_t *)(g->stack.hi - s->f[i].off), s->f[i].size, s->f[i].seed, true, i);
}

static void push(gm_mheap *h, gm_m *m, gshadow *s, fuzz_input *in, bool obj)
{
    (void)h;
    if (s->nf == MAX_FRAMES) return;
    size_t n = fuzz_u8(in) % 8 == 0 ? fuzz_range(in, 4096, 40000) : fuzz_range(in, 1, 600);
    if (obj && !s->g->frame_off) return; /* no frame to put it in */
    void *p = obj ? gm_heap_g_alloc(m, s->g, n, GM_NOSCAN) : gm_heap_g_push(m, s->g, n);
    FUZZ_ASSERT(p, "%s of %zu bytes failed", obj ? "gm_g_alloc" : "gm_g_push", n);
    size_t rounded = (n + 7) & ~(size_t)7;
    s->used += rounded + (obj ? 0 : 8);
    frame *f = &s->f[s->nf];
    f->off = s->used;
    f->size = n;
    f->seed = fuzz_u8(in);
    s->is_obj[s->nf++] = obj;
    FUZZ_ASSERT((uintptr_t)p == s->g->stack.hi - f->off, "frame at %p, want hi - %zu", p, f->off);
    pattern(p, n, f->seed, false, 0);
}

static void pop(gm_m *m, gshadow *s)
{
    if (!s->g->frame_off) return;
    /* Return drops the innermost frame and every object allocated in it. */
    while (s->nf && s->is_obj[s->nf - 1]) s->nf--;
    if (!s->nf) return;
    s->nf--;
    gm_heap_g_pop(m, s->g);
    s->used = s->nf ? s->f[s->nf - 1].off : 0;
}

static void raw_step(gm_mheap *h, gm_m *m, gm_stack *raw, size_t *nraw, fuzz_input *in)
{
    bool with_p = fuzz_u8(in) & 1;
    gm_p *pp = with_p ? gm_acquirep(m) : NULL;
    if (*nraw < MAX_RAW && fuzz_u8(in) % 3) {
        size_t n = (size_t)2048 << fuzz_range(in, 0, 6); /* 2 KiB .. 128 KiB */
        gm_stack st = gm_stackalloc(h, pp, n);
        FUZZ_ASSERT(st.lo && st.hi - st.lo == n, "stackalloc(%zu) failed", n);
        for (size_t i = 0; i < *nraw; i++)
            FUZZ_ASSERT(st.hi <= raw[i].lo || st.lo >= raw[i].hi, "stack %#lx overlaps %#lx",
                        (unsigned long)st.lo, (unsigned long)raw[i].lo);
        *(uint8_t *)st.lo = (uint8_t)n;
        *(uint8_t *)(st.hi - 1) = (uint8_t)(n >> 8);
        raw[(*nraw)++] = st;
    } else if (*nraw) {
        size_t i = fuzz_range(in, 0, *nraw - 1), n = raw[i].hi - raw[i].lo;
        FUZZ_ASSERT(*(uint8_t *)raw[i].lo == (uint8_t)n &&
                        *(uint8_t *)(raw[i].hi - 1) == (uint8_t)(n >> 8),
                    "raw stack %#lx lost its bytes", (unsigned long)raw[i].lo);
        gm_stackfree(h, pp, raw[i]);
        raw[i] = raw[--*nraw];
    }
    if (pp) gm_releasep(m);
}

static void step(gm_mheap *h, gm_m *m, gshadow *gs, gm_stack *raw, size_t *nraw, fuzz_input *in,
                 int n)
{
    uint8_t op = fuzz_u8(in) % 12;
    gshadow *s = &gs[fuzz_range(in, 0, MAX_G - 1)];
    if (op == 0 || !s->g) {
        if (!s->g) {
            s->g = gm_heap_g_create(h, m);
            FUZZ_ASSERT(s->g, "gm_g_create failed");
            s->running = true;
            s->nf = s->used = 0;
        } else if (s->running) {
            gm_heap_g_exit(m, s->g);
            s->g = NULL;
        }
    } else if (op == 1) {
        if (s->running)
            gm_heap_g_park(s->g);
        else
            gm_heap_g_run(s->g);
        s->running = !s->running;
    } else if (op <= 4 && s->running) {
        push(h, m, s, in, false);
    } else if (op <= 6 && s->running) {
        pop(m, s);
    } else if (op == 7 && s->running) {
        push(h, m, s, in, true);
    } else if (op == 8) {
        gm_heap_gc(h, m);
    } else if (op == 9) {
        gm_memstats ms;
        gm_heap_read_memstats(h, m, &ms);
        FUZZ_ASSERT(ms.stack_inuse == h->stack.inuse && ms.stack_sys == ms.stack_inuse,
                    "StackInuse %llu, stack spans %llu", (unsigned long long)ms.stack_inuse,
                    (unsigned long long)h->stack.inuse);
    } else if (op == 10) {
        /* A window in which a GC runs: frees park empty spans and large stacks. */
        atomic_store(&h->stack.gc_running, true);
        raw_step(h, m, raw, nraw, in);
        raw_step(h, m, raw, nraw, in);
        atomic_store(&h->stack.gc_running, false);
        gm_free_stack_spans(h); /* mark termination's freeStackSpans */
    } else {
        raw_step(h, m, raw, nraw, in);
    }
    for (int i = 0; i < MAX_G; i++)
        if (gs[i].g && gs[i].running) verify_g(&gs[i]);
    FUZZ_CHECK(gm_stack_check(h, FUZZ_CHECKBUF));
    if (n % 16 == 15) FUZZ_CHECK_HEAP(h); /* the whole heap is the slow part: now and then */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    gm_mheap *h = fuzz_heap((int)fuzz_range(&in, 1, 2), -1);
    gm_m m;
    gm_m_init(&m, h);
    static gshadow gs[MAX_G];
    static gm_stack raw[MAX_RAW];
    size_t nraw = 0;
    memset(gs, 0, sizeof gs);
    for (int ops = 0; ops < FUZZ_MAX_OPS && fuzz_more(&in); ops++)
        step(h, &m, gs, raw, &nraw, &in, ops);
    for (int i = 0; i < MAX_G; i++) {
        if (!gs[i].g) continue;
        if (!gs[i].running) gm_heap_g_run(gs[i].g);
        verify_g(&gs[i]);
        gm_heap_g_exit(&m, gs[i].g);
    }
    gm_p *pp = gm_acquirep(&m);
    for (size_t i = 0; i < nraw; i++) gm_stackfree(h, pp, raw[i]);
    gm_releasep(&m);
    gm_heap_gc(h, &m);
    FUZZ_ASSERT(h->stack.inuse == 0, "%llu bytes of stack spans left after every stack was freed",
                (unsigned long long)h->stack.inuse);
    FUZZ_CHECK_HEAP(h);
    gm_heap_destroy(h);
    return 0;
}
