/*
 * synth_fragment.c — fragment: grow a large set of small objects, free most of them at random,
 * then allocate larger objects to the same byte volume, then tear down.
 *
 * The survivors pin pages all over the small-object spans, and the new objects do not fit the
 * freed slots, so an allocator only keeps its footprint flat if it returns or reuses memory
 * that is mostly (not entirely) empty. Peak RSS against peak live bytes is the number to read.
 */
#include <stdio.h>

#include "synth.h"

enum {
    FR_FREE,
    FR_DIST_A,
    FR_MIN_A,
    FR_MAX_A,
    FR_DIST_B,
    FR_MIN_B,
    FR_MAX_B,
    FR_ALPHA,
    FR_NPARAMS
};

static const gm_wl_param fragment_params[FR_NPARAMS] = {
    {"free-fraction", GM_PARAM_REAL, "0.9", 0, 1, NULL,
     "fraction of the small objects freed (at random) after the growth phase"},
    {"dist-a", GM_PARAM_ENUM, "uniform", 0, 0, gm_dist_names,
     "size distribution of the small "
     "objects"},
    {"min-a", GM_PARAM_SIZE, "16", 0, 1 << 30, NULL, "smallest small object"},
    {"max-a", GM_PARAM_SIZE, "64", 0, 1 << 30, NULL, "largest small object"},
    {"dist-b", GM_PARAM_ENUM, "uniform", 0, 0, gm_dist_names,
     "size distribution of the objects allocated after the frees"},
    {"min-b", GM_PARAM_SIZE, "128", 0, 1 << 30, NULL, "smallest later object"},
    {"max-b", GM_PARAM_SIZE, "512", 0, 1 << 30, NULL, "largest later object"},
    {"alpha", GM_PARAM_REAL, "1.5", 0.01, 100, NULL, "powerlaw shape (both distributions)"},
};

/* Smallest growth phase per lane that still makes a heap worth fragmenting: some hundreds of
 * pages of small objects. */
enum { FR_MIN_GROW = 16384 };
/* Fraction of a lane's ops planned for the phases; the rest absorbs the randomness of how many
 * B objects it takes to reach the freed volume (see the hold phase). */
#define FR_PLANNED 0.97

enum { PH_GROW, PH_FREE, PH_REFILL, PH_HOLD };

typedef struct fragment_cfg {
    double free_fraction;
    gm_dist a, b;
    double ops_per_grown; /* ops of the whole cycle per object grown: 2 + 2 f meanA/meanB */
} fragment_cfg;

typedef struct fragment_lane {
    int phase;
    uint64_t grow;        /* objects to grow */
    uint64_t to_free;     /* objects to free */
    uint64_t done;        /* ops of the current phase so far */
    uint64_t freed_bytes; /* bytes freed by the free phase */
    uint64_t refilled;    /* bytes allocated by the refill phase */
    uint32_t hold_live;   /* live objects the hold phase keeps */
} fragment_lane;

static void fragment_next_phase(fragment_lane *fl, int phase)
{
    fl->phase = phase;
    fl->done = 0;
}

/* The few ops between the refill and the teardown (the planning margin, a few percent):
 * short-lived B objects, each freed right after its allocation, so that the heap stays as the
 * refill left it. */
static void fragment_hold(const fragment_cfg *c, gm_lane *l, fragment_lane *fl, gm_op *op)
{
    if (l->live.n > fl->hold_live)
        gm_lane_free(l, op, gm_liveset_last(&l->live));
    else
        gm_lane_alloc_dist(l, op, &c->b);
}

static void fragment_step(gm_wl_gen *g, gm_lane *l, gm_op *op)
{
    const fragment_cfg *c = ((gm_synth *)g->priv)->wl;
    fragment_lane *fl = l->priv;
    switch (fl->phase) {
    case PH_GROW:
        gm_lane_alloc_dist(l, op, &c->a);
        if (++fl->done == fl->grow) fragment_next_phase(fl, fl->to_free ? PH_FREE : PH_REFILL);
        return;
    case PH_FREE: {
        uint32_t id = gm_liveset_pick(&l->live, &l->rng);
        fl->freed_bytes += gm_liveset_size(&l->live, id);
        gm_lane_free(l, op, id);
        if (++fl->done == fl->to_free) fragment_next_phase(fl, PH_REFILL);
        return;
    }
    case PH_REFILL:
        if (fl->refilled < fl->freed_bytes) {
            gm_lane_alloc_dist(l, op, &c->b);
            fl->refilled += op->size;
            return;
        }
        fl->hold_live = l->live.n;
        fragment_next_phase(fl, PH_HOLD);
        /* fall through */
    default:
        fragment_hold(c, l, fl, op);
    }
}

static uint64_t dist_max(const gm_dist *d)
{
    return d->kind == GM_DIST_FIXED ? d->min : d->max;
}

static uint64_t dist_min(const gm_dist *d)
{
    return d->min;
}

/* Ids a lane can need: the grown set, or what survives plus the most B objects the freed
 * volume can take; never more than half its ops (each object needs an alloc and a free). */
static uint32_t fragment_cap(const fragment_cfg *c, const fragment_lane *fl, uint64_t quota)
{
    uint64_t bmin = dist_min(&c->b), kmax = quota / 2;
    if (bmin) kmax = (fl->to_free * dist_max(&c->a) + bmin - 1) / bmin + 1;
    uint64_t cap = fl->grow - fl->to_free + kmax;
    if (cap < fl->grow) cap = fl->grow;
    if (cap > quota / 2) cap = quota / 2;
    return (uint32_t)cap;
}

static int fragment_read(gm_wl_gen *g, fragment_cfg *c, char *err, size_t errlen)
{
    c->free_fraction = g->cfg.values[FR_FREE].r;
    gm_synth_read_dist(g, &c->a, FR_DIST_A, FR_MIN_A, FR_MAX_A, FR_ALPHA);
    gm_synth_read_dist(g, &c->b, FR_DIST_B, FR_MIN_B, FR_MAX_B, FR_ALPHA);
    if (gm_dist_init(&c->a, (gm_dist_flagnames){"min-a", "max-a"}, err, errlen) ||
        gm_dist_init(&c->b, (gm_dist_flagnames){"min-b", "max-b"}, err, errlen))
        return -1;
    double mean_b = gm_dist_mean(&c->b);
    double ratio = mean_b > 0 ? gm_dist_mean(&c->a) / mean_b : 0;
    c->ops_per_grown = 2 + 2 * c->free_fraction * ratio;
    return 0;
}

static int fragment_init(gm_wl_gen *g, char *err, size_t errlen)
{
    fragment_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    if (fragment_read(g, c, err, errlen)) return -1;
    unsigned n = g->cfg.threads;
    uint64_t need = (uint64_t)(FR_MIN_GROW * c->ops_per_grown / FR_PLANNED) + 2;
    if (gm_synth_need_ops(g, need * n, "a growth phase of 16384 objects per thread", err, errlen))
        return -1;
    gm_synth_create(g, n, fragment_step, c);
    for (unsigned i = 0; i < n; i++) {
        fragment_lane *fl = gm_arena_alloc(g->arena, sizeof *fl);
        uint64_t quota = gm_synth_quota(g->cfg.ops, n, i);
        fl->grow = (uint64_t)((double)quota * FR_PLANNED / c->ops_per_grown);
        if (fl->grow > UINT32_MAX / 2) fl->grow = UINT32_MAX / 2;
        fl->to_free = (uint64_t)((double)fl->grow * c->free_fraction + 0.5);
        gm_lane *l = gm_synth_lane_init(g, i, fragment_cap(c, fl, quota));
        l->priv = fl;
    }
    return 0;
}

const gm_workload gm_wl_fragment = {
    .name = "fragment",
    .purpose = "Fragmentation and memory return: grow a large set of small objects (--dist-a), "
               "free --free-fraction of them at random, allocate larger objects (--dist-b) up "
               "to the byte volume just freed, then tear down. Phase lengths come from --ops; "
               "each thread runs the cycle on its own share. Compare peak RSS with peak live "
               "bytes, and RSS after the frees.",
    .params = fragment_params,
    .nparams = FR_NPARAMS,
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 37583,
    .default_ops = 4000000,
    .init = fragment_init,
    .next = gm_synth_next,
};
