/*
 * synth_churn.c — steady-state workloads: churn (a live set of random lifetimes), large (the
 * same with 32 KiB..8 MiB objects) and tiny (1..15-byte pointer-free objects plus bursts of
 * short-lived ones).
 *
 * All three ramp a live set up to its target, then replace a uniformly random live object with
 * a new one at every step, so that lifetimes are geometric (memoryless) and the heap holds
 * objects of every age. --live is the total over all threads: each thread keeps its own share
 * (live / threads), so --threads changes the concurrency, not the size of the heap.
 */
#include <stdio.h>

#include "synth.h"

typedef struct churn_cfg {
    uint32_t live;
    gm_dist dist;
    uint32_t burst;       /* tiny: objects per burst; 0 = none */
    uint64_t burst_every; /* tiny: replacements between bursts */
} churn_cfg;

typedef struct churn_lane {
    uint32_t target; /* this lane's share of --live */
    bool ramped;     /* the live set has reached target once */
    bool in_burst;
    uint32_t burst_pos;  /* op within the burst: [0, burst) allocs, then frees */
    uint64_t replaced;   /* replacements since the ramp */
    uint32_t *burst_ids; /* the burst in allocation order */
} churn_lane;

/* A burst: `burst` allocations, then their frees in allocation order, as a function's
 * temporaries die; the steady live set is untouched meanwhile. */
static void churn_burst_op(const churn_cfg *c, gm_lane *l, churn_lane *cl, gm_op *op)
{
    uint32_t p = cl->burst_pos++;
    if (p < c->burst) {
        cl->burst_ids[p] = gm_lane_alloc_dist(l, op, &c->dist);
        return;
    }
    gm_lane_free(l, op, cl->burst_ids[p - c->burst]);
    if (cl->burst_pos == 2 * c->burst) {
        cl->burst_pos = 0;
        cl->in_burst = false;
    }
}

static void churn_step(gm_wl_gen *g, gm_lane *l, gm_op *op)
{
    const churn_cfg *c = ((gm_synth *)g->priv)->wl;
    churn_lane *cl = l->priv;
    if (cl->in_burst) {
        churn_burst_op(c, l, cl, op);
        return;
    }
    if (l->live.n >= cl->target) {
        gm_lane_free(l, op, gm_liveset_pick(&l->live, &l->rng));
        return;
    }
    gm_lane_alloc_dist(l, op, &c->dist);
    if (!cl->ramped)
        cl->ramped = l->live.n == cl->target;
    else if (c->burst && ++cl->replaced % c->burst_every == 0)
        cl->in_burst = true;
}

/* Lanes for a churn-like workload once c is filled in. */
static int churn_setup(gm_wl_gen *g, churn_cfg *c, char *err, size_t errlen)
{
    unsigned n = g->cfg.threads;
    if (c->live < n) {
        snprintf(err, errlen, "workload %s: --live %u is smaller than --threads %u", g->wl->name,
                 c->live, n);
        return -1;
    }
    uint64_t per_lane = gm_share(c->live, n, 0);
    if (gm_synth_need_ops(g, 4 * per_lane * n, "ramp up to --live, replace it once, tear down", err,
                          errlen))
        return -1;
    gm_synth_create(g, n, churn_step, c);
    for (unsigned i = 0; i < n; i++) {
        uint32_t target = (uint32_t)gm_share(c->live, n, i);
        gm_lane *l = gm_synth_lane_init(g, i, target + c->burst);
        churn_lane *cl = gm_arena_alloc(g->arena, sizeof *cl);
        cl->target = target;
        if (c->burst) cl->burst_ids = gm_arena_alloc(g->arena, c->burst * sizeof *cl->burst_ids);
        l->priv = cl;
    }
    return 0;
}

/* ---- churn -------------------------------------------------------------------------------- */

enum { CH_LIVE, CH_DIST, CH_MIN, CH_MAX, CH_ALPHA, CH_SCAN, CH_CALLOC, CH_ALIGN, CH_NPARAMS };

static const gm_wl_param churn_params[CH_NPARAMS] = {
    {"live", GM_PARAM_INT, "10000", 1, 1 << 26, NULL, "live objects, all threads together"},
    {"dist", GM_PARAM_ENUM, "golike", 0, 0, gm_dist_names, "object size distribution"},
    {"min", GM_PARAM_SIZE, "8", 0, 1 << 30, NULL, "smallest object (the size, for fixed)"},
    {"max", GM_PARAM_SIZE, "256K", 0, 1 << 30, NULL, "largest object"},
    {"alpha", GM_PARAM_REAL, "1.5", 0.01, 100, NULL, "powerlaw shape"},
    {"scan-fraction", GM_PARAM_REAL, "-1", -1, 1, NULL,
     "fraction of objects holding pointers; -1: golike's mix decides (about half), 0 for the "
     "other distributions"},
    {"calloc-fraction", GM_PARAM_REAL, "0", 0, 1, NULL,
     "fraction of allocations that must be zeroed (calloc)"},
    {"align", GM_PARAM_SIZE, "0", 0, 1 << GM_OP_MAX_ALIGN_LOG2, NULL,
     "alignment of every allocation (posix_memalign): 0 = none, else a power of two >= 8"},
};

static int align_log2_of(uint64_t align, uint8_t *out, char *err, size_t errlen)
{
    if (align == 0) {
        *out = 0;
        return 0;
    }
    if (align < 8 || (align & (align - 1))) {
        snprintf(err, errlen, "--align: %llu is not 0 or a power of two of at least 8",
                 (unsigned long long)align);
        return -1;
    }
    *out = (uint8_t)__builtin_ctzll(align);
    return 0;
}

static int churn_init(gm_wl_gen *g, char *err, size_t errlen)
{
    const gm_wl_value *v = g->cfg.values;
    churn_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    c->live = (uint32_t)v[CH_LIVE].i;
    gm_synth_read_dist(g, &c->dist, CH_DIST, CH_MIN, CH_MAX, CH_ALPHA);
    double scan = v[CH_SCAN].r;
    if (scan < 0 && scan != -1) {
        snprintf(err, errlen, "--scan-fraction: %g must be -1 (automatic) or in [0, 1]", scan);
        return -1;
    }
    c->dist.scan_fraction = scan;
    c->dist.zero_fraction = v[CH_CALLOC].r;
    if (align_log2_of((uint64_t)v[CH_ALIGN].i, &c->dist.align_log2, err, errlen) ||
        gm_dist_init(&c->dist, (gm_dist_flagnames){"min", "max"}, err, errlen))
        return -1;
    return churn_setup(g, c, err, errlen);
}

const gm_workload gm_wl_churn = {
    .name = "churn",
    .purpose = "A steady live set with random lifetimes: ramp up to --live objects, then free a "
               "random live object and allocate a new one at every step, then tear down. Sizes "
               "from --dist (by default a synthetic Go-like mix). Measures steady-state speed, "
               "fragmentation and RSS under a realistic-looking heap. --live is split between "
               "the threads, each churning its own share.",
    .params = churn_params,
    .nparams = CH_NPARAMS,
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 40000,
    .default_ops = 5000000,
    .init = churn_init,
    .next = gm_synth_next,
};

/* ---- large -------------------------------------------------------------------------------- */

enum { LA_LIVE, LA_DIST, LA_MIN, LA_MAX, LA_ALPHA, LA_NPARAMS };

static const gm_wl_param large_params[LA_NPARAMS] = {
    {"live", GM_PARAM_INT, "32", 1, 1 << 20, NULL, "live objects, all threads together"},
    {"dist", GM_PARAM_ENUM, "loguniform", 0, 0, gm_dist_names, "object size distribution"},
    {"min", GM_PARAM_SIZE, "32K", 32768, 1 << 30, NULL, "smallest object (the size, for fixed)"},
    {"max", GM_PARAM_SIZE, "8M", 32768, 1 << 30, NULL, "largest object"},
    {"alpha", GM_PARAM_REAL, "1.5", 0.01, 100, NULL, "powerlaw shape"},
};

static int large_init(gm_wl_gen *g, char *err, size_t errlen)
{
    churn_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    c->live = (uint32_t)g->cfg.values[LA_LIVE].i;
    gm_synth_read_dist(g, &c->dist, LA_DIST, LA_MIN, LA_MAX, LA_ALPHA);
    if (gm_dist_init(&c->dist, (gm_dist_flagnames){"min", "max"}, err, errlen)) return -1;
    return churn_setup(g, c, err, errlen);
}

const gm_workload gm_wl_large = {
    .name = "large",
    .purpose = "Large objects (32 KiB to 8 MiB, log-uniform): a small live set (--live, all "
               "threads together) churned as in `churn`. Exercises the page heap, large-object "
               "spans, mmap thresholds and returning memory to the OS.",
    .params = large_params,
    .nparams = LA_NPARAMS,
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 128,
    .default_ops = 100000,
    .init = large_init,
    .next = gm_synth_next,
};

/* ---- tiny --------------------------------------------------------------------------------- */

enum { TI_LIVE, TI_MIN, TI_MAX, TI_BURST, TI_EVERY, TI_NPARAMS };

static const gm_wl_param tiny_params[TI_NPARAMS] = {
    {"live", GM_PARAM_INT, "10000", 1, 1 << 26, NULL, "steady live objects, all threads together"},
    {"min", GM_PARAM_SIZE, "1", 1, 15, NULL, "smallest object"},
    {"max", GM_PARAM_SIZE, "15", 1, 15, NULL, "largest object"},
    {"burst", GM_PARAM_INT, "64", 0, 1 << 20, NULL,
     "short-lived objects per burst (allocated, then freed in order); 0 = no bursts"},
    {"burst-every", GM_PARAM_INT, "256", 1, 1 << 30, NULL, "steady replacements between bursts"},
};

static int tiny_init(gm_wl_gen *g, char *err, size_t errlen)
{
    const gm_wl_value *v = g->cfg.values;
    churn_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    c->live = (uint32_t)v[TI_LIVE].i;
    c->dist = (gm_dist){.kind = GM_DIST_UNIFORM,
                        .min = (uint64_t)v[TI_MIN].i,
                        .max = (uint64_t)v[TI_MAX].i,
                        .scan_fraction = 0};
    c->burst = (uint32_t)v[TI_BURST].i;
    c->burst_every = (uint64_t)v[TI_EVERY].i;
    if (gm_dist_init(&c->dist, (gm_dist_flagnames){"min", "max"}, err, errlen)) return -1;
    return churn_setup(g, c, err, errlen);
}

const gm_workload gm_wl_tiny = {
    .name = "tiny",
    .purpose = "Pointer-free objects of 1 to 15 bytes, the territory of Go's tiny allocator "
               "(16-byte blocks shared by several objects): a churned live set plus bursts of "
               "short-lived objects. Shows how block sharing trades memory for speed, and how "
               "long one survivor keeps a block alive.",
    .params = tiny_params,
    .nparams = TI_NPARAMS,
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 40000,
    .default_ops = 20000000,
    .init = tiny_init,
    .next = gm_synth_next,
};
