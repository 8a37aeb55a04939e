/*
 * synth_goroutines.c — the `goroutines` workload: many goroutines, each running call trees on
 * its own stack, allocating as it goes; the escape-analysis parameter --noescape moves a share
 * of those allocations from the heap into the frames of the goroutines' stacks.
 *
 * Each thread (lane) keeps its share of --goroutines alive. A goroutine starts (GO), runs
 * --units call trees and exits (GOEXIT); a new one takes its place. A call tree descends to a
 * depth drawn from --depth-dist (mean --mean-depth, at most --max-depth), one CALL per level
 * with a frame of --frame-min..--frame-max bytes (log-uniform), and makes about --allocs
 * allocations in each frame (sizes from --dist/--min/--max, dist.c), then ascends: each level
 * frees its objects and returns (RET). An allocation does not escape with probability
 * --noescape: it is then made in the frame (ALLOC with GM_OPF_NOESCAPE) and dies with it. An
 * escaping one lives until its frame returns, or, with probability --retain, until its
 * goroutine exits (objects handed to longer-lived data). The thread switches to a random one
 * of its goroutines every --slice ops, so many goroutines are mid-call at once, as goroutines
 * blocked on I/O are: stack memory is Σ of their stacks, heap memory their objects.
 *
 * Exact length: an op that adds to what must still be undone (a GO, CALL or ALLOC: its
 * GOEXIT, RET or FREE) is emitted only while the lane's remaining ops exceed that debt by 2;
 * otherwise the lane unwinds (frees, returns, exits), one op of debt per op. A lane with an
 * odd quota makes one heap allocation early and reallocates it to its own size (the parity op
 * of synth.c) in its first four ops (GO, CALL, ALLOC, REALLOC), so that what is left minus
 * the debt is even and the stream ends exactly with nothing live.
 *
 * Threads: every op of a goroutine is on its lane's thread (the driver keeps a goroutine on
 * the thread that runs it). Memory: the arena only.
 */
#include <stdio.h>

#include "synth.h"

enum {
    GR_GOROUTINES,
    GR_DEPTH_DIST,
    GR_MEAN_DEPTH,
    GR_MAX_DEPTH,
    GR_FRAME_MIN,
    GR_FRAME_MAX,
    GR_ALLOCS,
    GR_DIST,
    GR_MIN,
    GR_MAX,
    GR_NOESCAPE,
    GR_RETAIN,
    GR_UNITS,
    GR_SLICE,
    GR_NPARAMS
};

static const char *const depth_dists[] = {"geometric", "uniform", NULL};

static const gm_wl_param goroutine_params[GR_NPARAMS] = {
    {"goroutines", GM_PARAM_INT, "1000", 1, 1 << 20, NULL,
     "goroutines alive at once, all threads together"},
    {"depth-dist", GM_PARAM_ENUM, "geometric", 0, 0, depth_dists,
     "call depth of a call tree: geometric or uniform in [1, 2*mean-1]"},
    {"mean-depth", GM_PARAM_REAL, "8", 1, 256, NULL, "mean call depth"},
    {"max-depth", GM_PARAM_INT, "32", 1, 4096, NULL, "deepest call"},
    {"frame-min", GM_PARAM_SIZE, "64", 8, 1 << 20, NULL, "smallest frame (log-uniform)"},
    {"frame-max", GM_PARAM_SIZE, "512", 8, 1 << 24, NULL, "largest frame"},
    {"allocs", GM_PARAM_REAL, "1.5", 0, 8, NULL, "mean allocations per call (at most 9)"},
    {"dist", GM_PARAM_ENUM, "golike", 0, 0, gm_dist_names, "object size distribution"},
    {"min", GM_PARAM_SIZE, "8", 1, 1 << 30, NULL, "smallest object"},
    {"max", GM_PARAM_SIZE, "4K", 1, 1 << 30, NULL, "largest object"},
    {"noescape", GM_PARAM_REAL, "0", 0, 1, NULL,
     "share of allocations that do not escape: made in the goroutine's frame, not the heap"},
    {"retain", GM_PARAM_REAL, "0.1", 0, 1, NULL,
     "share of escaping allocations that live until their goroutine exits"},
    {"units", GM_PARAM_INT, "8", 1, 1 << 20, NULL, "call trees a goroutine runs before it exits"},
    {"slice", GM_PARAM_INT, "16", 1, 1 << 20, NULL,
     "ops a goroutine runs before its thread switches to another"},
};

enum { RETAIN_CAP = 16, NOESCAPE_BIT = 1u << 31 };
enum { PH_DESCEND, PH_ASCEND, PH_EXIT };

typedef struct gr_cfg {
    uint32_t goroutines, max_depth, units, slice, max_allocs;
    bool uniform_depth;
    double mean_depth, allocs, noescape, retain;
    gm_dist objs, frames;
} gr_cfg;

typedef struct gor {
    bool alive;
    uint8_t phase;
    uint32_t gid;
    uint32_t depth, target, pending, units_left;
    uint32_t nobjs, nret;
    uint32_t *objs;   /* ids of the objects of the active frames, NOESCAPE_BIT marks stack ones */
    uint32_t *fstart; /* fstart[d]: index in objs of frame d's first object */
    uint32_t *ret;    /* retained escaping objects */
} gor;

typedef struct gr_lane {
    gm_rng rng;
    uint16_t thread;
    uint32_t ngs, cur, slice_left, scan;
    gor *gs;
    uint64_t left, debt;
    uint32_t *free_ids, nfree; /* dead ids of the lane */
    bool parity_pending, parity_due;
    uint32_t parity_id;
    uint64_t parity_size;
    uint64_t *sizes; /* per lane id (offset base): size of a heap object */
    uint32_t base;
} gr_lane;

typedef struct gr_state {
    const gr_cfg *c;
    gr_lane *lanes;
    unsigned nlanes, cursor;
} gr_state;

static uint32_t id_get(gr_lane *l)
{
    return l->free_ids[--l->nfree];
}
static void id_put(gr_lane *l, uint32_t id)
{
    l->free_ids[l->nfree++] = id;
}

static void put(gm_op *op, uint8_t kind, uint32_t id, uint64_t size, const gr_lane *l,
                uint8_t flags, uint32_t g)
{
    *op = (gm_op){.size = size, .id = id, .thread = l->thread, .kind = kind, .flags = flags};
    op->g = g;
}

static uint32_t draw_depth(const gr_cfg *c, gm_rng *r)
{
    uint32_t d;
    if (c->uniform_depth) {
        uint64_t hi = (uint64_t)(2 * c->mean_depth - 1);
        d = (uint32_t)gm_rng_range(r, 1, hi < 1 ? 1 : hi);
    } else { /* geometric on 1, 2, ... with mean m: continue with probability 1 - 1/m */
        double p_more = 1.0 - 1.0 / c->mean_depth;
        for (d = 1; d < c->max_depth && gm_rng_unit(r) < p_more; d++) {
        }
    }
    return d > c->max_depth ? c->max_depth : d;
}

static uint32_t draw_allocs(const gr_cfg *c, gm_rng *r)
{
    uint32_t k = (uint32_t)c->allocs;
    if (gm_rng_unit(r) < c->allocs - (double)k) k++;
    return k;
}

static void start_unit(const gr_cfg *c, gr_lane *l, gor *g)
{
    g->phase = PH_DESCEND;
    g->target = draw_depth(c, &l->rng);
    g->pending = 0;
}

/* An allocation in g's innermost frame. */
static void emit_alloc(const gr_cfg *c, gr_lane *l, gor *g, gm_op *op)
{
    g->pending--;
    uint8_t flags;
    uint64_t size = gm_dist_draw(&c->objs, &l->rng, &flags);
    bool noescape = gm_rng_unit(&l->rng) < c->noescape && !l->parity_pending;
    bool retain = !noescape && gm_rng_unit(&l->rng) < c->retain && g->nret < RETAIN_CAP;
    uint32_t id = id_get(l);
    l->debt++;
    if (noescape) {
        g->objs[g->nobjs++] = id | NOESCAPE_BIT;
        put(op, GM_OP_ALLOC, id, size, l, (uint8_t)((flags & GM_OPF_ZERO) | GM_OPF_NOESCAPE),
            g->gid);
        return;
    }
    if (retain)
        g->ret[g->nret++] = id;
    else
        g->objs[g->nobjs++] = id;
    l->sizes[id - l->base] = size;
    put(op, GM_OP_ALLOC, id, size, l, flags, 0);
    if (l->parity_pending) {
        l->parity_pending = false;
        l->parity_due = true;
        l->parity_id = id;
        l->parity_size = size ? size : 1;
    }
}

/* One unwinding op of g (its debt > 0): free an object of the innermost frame, return, free
 * a retained object, exit. restart: after the last return, start the next call tree. */
static void unwind(const gr_cfg *c, gr_lane *l, gor *g, gm_op *op, bool restart)
{
    l->debt--;
    if (g->depth > 0) {
        g->phase = PH_ASCEND;
        if (g->nobjs > g->fstart[g->depth - 1]) {
            uint32_t o = g->objs[--g->nobjs];
            uint8_t flags = o & NOESCAPE_BIT ? GM_OPF_NOESCAPE : 0;
            put(op, GM_OP_FREE, o & ~NOESCAPE_BIT, 0, l, flags, 0);
            id_put(l, o & ~NOESCAPE_BIT);
            return;
        }
        put(op, GM_OP_RET, g->gid, 0, l, 0, 0);
        if (--g->depth == 0) {
            if (restart && --g->units_left > 0)
                start_unit(c, l, g);
            else
                g->phase = PH_EXIT;
        }
        return;
    }
    if (g->nret) {
        uint32_t o = g->ret[--g->nret];
        put(op, GM_OP_FREE, o, 0, l, 0, 0);
        id_put(l, o);
        return;
    }
    put(op, GM_OP_GOEXIT, g->gid, 0, l, 0, 0);
    id_put(l, g->gid);
    g->alive = false;
}

/* The next op of g when the lane can afford to add debt. */
static void step(const gr_cfg *c, gr_lane *l, gor *g, gm_op *op)
{
    if (!g->alive) {
        g->alive = true;
        g->gid = id_get(l);
        g->units_left = c->units;
        g->nobjs = g->nret = g->depth = 0;
        start_unit(c, l, g);
        l->debt++;
        put(op, GM_OP_GO, g->gid, 0, l, 0, 0);
        return;
    }
    if (g->phase == PH_DESCEND) {
        if (l->parity_pending && g->depth > 0 && g->pending == 0) g->pending = 1;
        if (g->pending > 0) {
            emit_alloc(c, l, g, op);
            return;
        }
        if (g->depth < g->target) {
            uint8_t unused;
            uint64_t frame = gm_dist_draw(&c->frames, &l->rng, &unused);
            g->fstart[g->depth++] = g->nobjs;
            g->pending = draw_allocs(c, &l->rng);
            l->debt++;
            put(op, GM_OP_CALL, g->gid, frame, l, 0, 0);
            return;
        }
        g->phase = PH_ASCEND;
    }
    unwind(c, l, g, op, true);
}

static void lane_emit(const gr_cfg *c, gr_lane *l, gm_op *op)
{
    l->left--;
    if (l->parity_due) {
        l->parity_due = false;
        put(op, GM_OP_REALLOC, l->parity_id, l->parity_size, l, 0, 0);
        l->sizes[l->parity_id - l->base] = l->parity_size;
        return;
    }
    if (l->left + 1 >= l->debt + 2) {
        /* An odd quota: the first goroutine makes the parity allocation before any switch. */
        if (l->slice_left == 0 && !l->parity_pending) {
            l->cur = (uint32_t)gm_rng_below(&l->rng, l->ngs);
            l->slice_left = c->slice;
        }
        if (l->slice_left) l->slice_left--;
        step(c, l, &l->gs[l->cur], op);
        return;
    }
    /* Teardown: unwind some goroutine that owes ops (the current one first). */
    gor *g = &l->gs[l->cur];
    while (!g->alive) {
        l->cur = l->scan++ % l->ngs;
        g = &l->gs[l->cur];
    }
    unwind(c, l, g, op, false);
}

static size_t gr_next(gm_wl_gen *g, gm_op *ops, size_t max)
{
    gr_state *s = g->priv;
    size_t n = 0;
    uint64_t left = g->cfg.ops - g->emitted;
    if (max > left) max = (size_t)left;
    unsigned cursor = s->cursor;
    for (; n < max; cursor = (cursor + 1) % s->nlanes) {
        gr_lane *l = &s->lanes[cursor];
        if (l->left == 0) continue;
        lane_emit(s->c, l, &ops[n++]);
    }
    s->cursor = cursor;
    return n;
}

static void lane_init(gm_wl_gen *g, const gr_cfg *c, gr_lane *l, unsigned i, unsigned nlanes)
{
    uint32_t per_g = 1 + c->max_depth * c->max_allocs + RETAIN_CAP;
    l->ngs = (uint32_t)gm_share(c->goroutines, nlanes, i);
    l->thread = (uint16_t)i;
    l->base = g->nslots;
    l->nfree = l->ngs * per_g;
    g->nslots += l->nfree;
    l->free_ids = gm_arena_alloc(g->arena, l->nfree * sizeof *l->free_ids);
    for (uint32_t k = 0; k < l->nfree; k++) l->free_ids[k] = l->base + l->nfree - 1 - k;
    l->sizes = gm_arena_alloc(g->arena, l->nfree * sizeof *l->sizes);
    l->gs = gm_arena_alloc(g->arena, l->ngs * sizeof *l->gs);
    for (uint32_t k = 0; k < l->ngs; k++) {
        gor *x = &l->gs[k];
        x->objs = gm_arena_alloc(g->arena, c->max_depth * c->max_allocs * sizeof *x->objs);
        x->fstart = gm_arena_alloc(g->arena, (c->max_depth + 1) * sizeof *x->fstart);
        x->ret = gm_arena_alloc(g->arena, RETAIN_CAP * sizeof *x->ret);
    }
    gm_rng_seed(&l->rng, g->cfg.seed, i);
    l->left = gm_share(g->cfg.ops, nlanes, i);
    l->parity_pending = l->left & 1;
}

static int gr_init(gm_wl_gen *g, char *err, size_t errlen)
{
    const gm_wl_value *v = g->cfg.values;
    gr_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    unsigned n = g->cfg.threads;
    c->goroutines = (uint32_t)v[GR_GOROUTINES].i;
    c->uniform_depth = v[GR_DEPTH_DIST].i == 1;
    c->mean_depth = v[GR_MEAN_DEPTH].r;
    c->max_depth = (uint32_t)v[GR_MAX_DEPTH].i;
    c->allocs = v[GR_ALLOCS].r;
    c->max_allocs = (uint32_t)c->allocs + 1;
    c->noescape = v[GR_NOESCAPE].r;
    c->retain = v[GR_RETAIN].r;
    c->units = (uint32_t)v[GR_UNITS].i;
    c->slice = (uint32_t)v[GR_SLICE].i;
    if (c->goroutines < n) {
        snprintf(err, errlen, "workload goroutines: --goroutines %u is smaller than --threads %u",
                 c->goroutines, n);
        return -1;
    }
    if ((uint64_t)c->goroutines * (1 + c->max_depth * c->max_allocs + RETAIN_CAP) > (1u << 30)) {
        snprintf(err, errlen, "workload goroutines: --goroutines × --max-depth is too large");
        return -1;
    }
    gm_synth_read_dist(g, &c->objs, GR_DIST, GR_MIN, GR_MAX, -1);
    c->objs.scan_fraction = -1; /* golike's mix decides; 0 for the other kinds */
    c->frames = (gm_dist){.kind = GM_DIST_LOGUNIFORM,
                          .min = (uint64_t)v[GR_FRAME_MIN].i,
                          .max = (uint64_t)v[GR_FRAME_MAX].i};
    if (gm_dist_init(&c->objs, (gm_dist_flagnames){"min", "max"}, err, errlen) ||
        gm_dist_init(&c->frames, (gm_dist_flagnames){"frame-min", "frame-max"}, err, errlen))
        return -1;
    /* Enough to start every goroutine and unwind it, with room to spare. */
    if (gm_synth_need_ops(g, 8 * (uint64_t)c->goroutines + 8 * n,
                          "start every goroutine, run and unwind it", err, errlen))
        return -1;
    gr_state *s = gm_arena_alloc(g->arena, sizeof *s);
    s->c = c;
    s->nlanes = n;
    s->lanes = gm_arena_alloc(g->arena, n * sizeof *s->lanes);
    g->nslots = 0;
    for (unsigned i = 0; i < n; i++) lane_init(g, c, &s->lanes[i], i, n);
    g->priv = s;
    return 0;
}

const gm_workload gm_wl_goroutines = {
    .name = "goroutines",
    .purpose =
        "Many goroutines (--goroutines) running call trees on their own stacks: call depth from "
        "--depth-dist/--mean-depth, frames of --frame-min..--frame-max bytes, --allocs "
        "allocations per call that die when the call returns (--retain of them when the "
        "goroutine exits). Reports stack memory against heap memory. --noescape is escape "
        "analysis: that share of allocations is made in the goroutine's frame instead of the "
        "heap. The Go model uses its stack allocator (2 KiB stacks, growth by copying, "
        "shrinking at GC); the C allocators run the goroutines as a C green-thread runtime "
        "does (stacks from malloc, doubled with a copy).",
    .params = goroutine_params,
    .nparams = GR_NPARAMS,
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 8008,
    .default_ops = 2000000,
    .init = gr_init,
    .next = gr_next,
};
