/*
 * synth_sweep.c — the two fast-path workloads: sizeclass-sweep (every Go size class in turn,
 * alloc/free pairs and batches) and batch (N allocations, then N frees in a chosen order).
 *
 * Both keep nothing live between their units, so they measure the allocator's hot paths and
 * the refill/flush traffic a batch causes, not its behaviour under a large heap.
 */
#include <stdio.h>

#include "synth.h"

#include GM_SIZECLASSES_H_PATH

/* ---- sizeclass-sweep --------------------------------------------------------------------- */

enum { SW_BATCH, SW_SIZES, SW_MODE, SW_SCAN, SW_NPARAMS };
enum { SW_PAIRS, SW_BATCHES, SW_BOTH };
enum { NCLASSES = GM_NUM_SIZE_CLASSES - 1 }; /* class 0 is Go's dummy */

static const char *const sweep_sizes[] = {"exact", "within", NULL};
static const char *const sweep_modes[] = {"pairs", "batches", "both", NULL};

static const gm_wl_param sweep_params[SW_NPARAMS] = {
    {"batch", GM_PARAM_INT, "64", 1, 1 << 20, NULL,
     "objects per batch, and alloc/free pairs per visit of a class"},
    {"sizes", GM_PARAM_ENUM, "exact", 0, 0, sweep_sizes,
     "exact: the class size; within: uniform in (previous class size, class size]"},
    {"mode", GM_PARAM_ENUM, "both", 0, 0, sweep_modes,
     "per visit of a class: `batch` alloc/free pairs, one batch of allocs then frees, or both"},
    {"scan-fraction", GM_PARAM_REAL, "0", 0, 1, NULL,
     "fraction of objects flagged as holding pointers (GM_OPF_SCAN)"},
};

typedef struct sweep_cfg {
    uint32_t batch;
    bool within;
    int mode;
    double scan;
    uint64_t unit_ops; /* ops of one visit of a class */
} sweep_cfg;

/* A lane visits the classes in ascending order, sweep after sweep. With U = its ops / unit_ops
 * visits to make, it makes U / 67 full sweeps and one partial sweep of U % 67 evenly spaced
 * classes, so every class gets the same number of visits give or take one. The ops that do
 * not fill a whole visit (fewer than unit_ops) become single alloc/free pairs, still cycling
 * through the classes: the "tail". */
typedef struct sweep_lane {
    uint32_t full;  /* full sweeps planned */
    uint32_t extra; /* classes in the partial sweep */
    uint32_t sweep; /* current sweep */
    int k;          /* current class - 1 */
    bool tail;
    uint64_t pos;  /* op index within the current visit */
    uint32_t *ids; /* the current batch, in allocation order */
} sweep_lane;

static bool sweep_in_partial(uint32_t k, uint32_t extra)
{
    return (uint64_t)(k + 1) * extra / NCLASSES != (uint64_t)k * extra / NCLASSES;
}

static void sweep_advance(sweep_lane *sl)
{
    sl->pos = 0;
    do {
        if (++sl->k == NCLASSES) {
            sl->k = 0;
            sl->sweep++;
        }
    } while (sl->sweep == sl->full && !sweep_in_partial((uint32_t)sl->k, sl->extra));
    if (sl->sweep > sl->full) sl->tail = true;
}

static uint64_t sweep_size(const sweep_cfg *c, gm_lane *l, int k)
{
    uint64_t hi = gm_class_to_size[k + 1];
    return c->within ? gm_rng_range(&l->rng, gm_class_to_size[k] + 1, hi) : hi;
}

static uint8_t sweep_flags(const sweep_cfg *c, gm_lane *l)
{
    return c->scan > 0 && gm_rng_unit(&l->rng) < c->scan ? GM_OPF_SCAN : 0;
}

/* Op p of `n` alloc/free pairs, or of one batch of n allocs then n frees (first in, first
 * out: the order a consumer of a batch would release it in). */
static void sweep_op(const sweep_cfg *c, gm_lane *l, sweep_lane *sl, gm_op *op, uint64_t p,
                     bool pairs)
{
    if (pairs ? (p & 1) == 0 : p < c->batch) {
        uint32_t slot = pairs ? 0 : (uint32_t)p;
        uint64_t size = sweep_size(c, l, sl->k);
        sl->ids[slot] = gm_lane_alloc(l, op, size, sweep_flags(c, l), 0);
    } else {
        gm_lane_free(l, op, sl->ids[pairs ? 0 : p - c->batch]);
    }
}

static void sweep_step(gm_wl_gen *g, gm_lane *l, gm_op *op)
{
    const sweep_cfg *c = ((gm_synth *)g->priv)->wl;
    sweep_lane *sl = l->priv;
    uint64_t p = sl->pos++;
    uint64_t npairs_ops = 2 * (uint64_t)c->batch;
    if (sl->tail)
        sweep_op(c, l, sl, op, p, true);
    else if (c->mode == SW_PAIRS || (c->mode == SW_BOTH && p < npairs_ops))
        sweep_op(c, l, sl, op, p, true);
    else
        sweep_op(c, l, sl, op, c->mode == SW_BOTH ? p - npairs_ops : p, false);
    if (sl->pos == (sl->tail ? 2 : c->unit_ops)) sweep_advance(sl);
}

static int sweep_init(gm_wl_gen *g, char *err, size_t errlen)
{
    const gm_wl_value *v = g->cfg.values;
    sweep_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    c->batch = (uint32_t)v[SW_BATCH].i;
    c->within = v[SW_SIZES].i == 1;
    c->mode = (int)v[SW_MODE].i;
    c->scan = v[SW_SCAN].r;
    c->unit_ops = (c->mode == SW_BOTH ? 4 : 2) * (uint64_t)c->batch;
    unsigned n = g->cfg.threads;
    if (gm_synth_need_ops(g, c->unit_ops * NCLASSES * n, "one sweep of the 67 classes per thread",
                          err, errlen))
        return -1;
    gm_synth_create(g, n, sweep_step, c);
    for (unsigned i = 0; i < n; i++) {
        gm_lane *l = gm_synth_lane_init(g, i, c->batch);
        sweep_lane *sl = gm_arena_alloc(g->arena, sizeof *sl);
        uint64_t visits = (l->quota & ~(uint64_t)1) / c->unit_ops;
        sl->full = (uint32_t)(visits / NCLASSES);
        sl->extra = (uint32_t)(visits % NCLASSES);
        sl->k = -1;
        sl->ids = gm_arena_alloc(g->arena, c->batch * sizeof *sl->ids);
        sweep_advance(sl);
        l->priv = sl;
    }
    return 0;
}

const gm_workload gm_wl_sizeclass_sweep = {
    .name = "sizeclass-sweep",
    .purpose = "Allocator fast paths across Go's 67 size classes: for each class in ascending "
               "order, alloc/free pairs (the same slot reused at once) and batches (a run of "
               "allocations that empties the per-thread cache, then frees that refill it). "
               "The sweep repeats as often as --ops allows; each thread sweeps on its own.",
    .params = sweep_params,
    .nparams = SW_NPARAMS,
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 4 * 64 * NCLASSES,
    .default_ops = 5000000,
    .init = sweep_init,
    .next = gm_synth_next,
};

/* ---- batch ------------------------------------------------------------------------------- */

enum { BA_N, BA_ORDER, BA_DIST, BA_MIN, BA_MAX, BA_ALPHA, BA_NPARAMS };
enum { ORDER_LIFO, ORDER_FIFO, ORDER_RANDOM, ORDER_MIXED };

static const char *const batch_orders[] = {"lifo", "fifo", "random", "mixed", NULL};

static const gm_wl_param batch_params[BA_NPARAMS] = {
    {"n", GM_PARAM_INT, "1000", 1, 1 << 24, NULL, "objects per batch (per thread)"},
    {"order", GM_PARAM_ENUM, "mixed", 0, 0, batch_orders,
     "free order: last in first out, first in first out, random, or random, lifo, fifo in turn"},
    {"dist", GM_PARAM_ENUM, "fixed", 0, 0, gm_dist_names, "object size distribution"},
    {"min", GM_PARAM_SIZE, "64", 0, 1 << 30, NULL, "smallest object (the size, for fixed)"},
    {"max", GM_PARAM_SIZE, "64", 0, 1 << 30, NULL, "largest object"},
    {"alpha", GM_PARAM_REAL, "1.5", 0.01, 100, NULL, "powerlaw shape"},
};

typedef struct batch_cfg {
    uint32_t n;
    int order;
    gm_dist dist;
} batch_cfg;

typedef struct batch_lane {
    uint64_t cycle; /* batches done */
    uint32_t pos;   /* op within the batch: [0, n) allocs, [n, 2n) frees */
    uint32_t *ids;  /* the batch in free order once its allocations are done */
} batch_lane;

static void batch_order_ids(const batch_cfg *c, gm_lane *l, batch_lane *bl)
{
    /* mixed starts with random, so that even a one-batch run depends on the seed */
    static const int mixed[3] = {ORDER_RANDOM, ORDER_LIFO, ORDER_FIFO};
    int order = c->order == ORDER_MIXED ? mixed[bl->cycle % 3] : c->order;
    uint32_t n = c->n, *ids = bl->ids;
    if (order == ORDER_LIFO) {
        for (uint32_t i = 0, j = n - 1; i < j; i++, j--) {
            uint32_t t = ids[i];
            ids[i] = ids[j];
            ids[j] = t;
        }
    } else if (order == ORDER_RANDOM) {
        for (uint32_t i = n - 1; i > 0; i--) {
            uint32_t j = (uint32_t)gm_rng_below(&l->rng, i + 1), t = ids[i];
            ids[i] = ids[j];
            ids[j] = t;
        }
    }
}

static void batch_step(gm_wl_gen *g, gm_lane *l, gm_op *op)
{
    const batch_cfg *c = ((gm_synth *)g->priv)->wl;
    batch_lane *bl = l->priv;
    uint32_t p = bl->pos++;
    if (p < c->n) {
        bl->ids[p] = gm_lane_alloc_dist(l, op, &c->dist);
        if (p + 1 == c->n) batch_order_ids(c, l, bl);
    } else {
        gm_lane_free(l, op, bl->ids[p - c->n]);
        if (bl->pos == 2 * c->n) {
            bl->pos = 0;
            bl->cycle++;
        }
    }
}

static int batch_init(gm_wl_gen *g, char *err, size_t errlen)
{
    batch_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    c->n = (uint32_t)g->cfg.values[BA_N].i;
    c->order = (int)g->cfg.values[BA_ORDER].i;
    gm_synth_read_dist(g, &c->dist, BA_DIST, BA_MIN, BA_MAX, BA_ALPHA);
    if (gm_dist_init(&c->dist, (gm_dist_flagnames){"min", "max"}, err, errlen)) return -1;
    unsigned n = g->cfg.threads;
    if (gm_synth_need_ops(g, 2 * (uint64_t)c->n * n, "one batch per thread", err, errlen))
        return -1;
    gm_synth_create(g, n, batch_step, c);
    for (unsigned i = 0; i < n; i++) {
        gm_lane *l = gm_synth_lane_init(g, i, c->n);
        batch_lane *bl = gm_arena_alloc(g->arena, sizeof *bl);
        bl->ids = gm_arena_alloc(g->arena, c->n * sizeof *bl->ids);
        l->priv = bl;
    }
    return 0;
}

const gm_workload gm_wl_batch = {
    .name = "batch",
    .purpose = "Allocate --n objects, then free them all, over and over: last in first out, "
               "first in first out, random, or the three in turn. Shows the cost of refilling "
               "and flushing per-thread caches and how the free order affects reuse. Each "
               "thread runs its own batches.",
    .params = batch_params,
    .nparams = BA_NPARAMS,
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 2000,
    .default_ops = 20000000,
    .init = batch_init,
    .next = gm_synth_next,
};
