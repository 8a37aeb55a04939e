/*
 * synth_threads.c — the cross-thread workloads: producer-consumer (objects freed by another
 * thread than the one that allocated them, through a queue) and larson (server-style churn in
 * per-thread slices whose ownership rotates between threads).
 *
 * Cross-thread frees are what remote-free queues, per-thread caches that fill with foreign
 * objects, and ownership transfer in per-thread heaps are for; these two workloads make them
 * the common case rather than the exception. The driver orders an op on an id after every
 * earlier op on that id, so the stream alone fixes which thread frees what.
 */
#include <stdio.h>

#include "synth.h"

/* ---- producer-consumer ------------------------------------------------------------------- */

enum { PC_DEPTH, PC_DIST, PC_MIN, PC_MAX, PC_ALPHA, PC_NPARAMS };

static const gm_wl_param pc_params[PC_NPARAMS] = {
    {"depth", GM_PARAM_INT, "1000", 1, 1 << 24, NULL,
     "queue length: an object is freed after this many further allocations of its producer"},
    {"dist", GM_PARAM_ENUM, "uniform", 0, 0, gm_dist_names, "object size distribution"},
    {"min", GM_PARAM_SIZE, "16", 0, 1 << 30, NULL, "smallest object (the size, for fixed)"},
    {"max", GM_PARAM_SIZE, "1K", 0, 1 << 30, NULL, "largest object"},
    {"alpha", GM_PARAM_REAL, "1.5", 0.01, 100, NULL, "powerlaw shape"},
};

typedef struct pc_cfg {
    uint32_t depth;
    gm_dist dist;
} pc_cfg;

/* The pair's queue: ids in allocation order, a ring of depth + 1. */
typedef struct pc_lane {
    uint32_t *ring;
    uint32_t head, count;
} pc_lane;

static uint32_t pc_pop(const pc_cfg *c, pc_lane *q)
{
    uint32_t id = q->ring[q->head];
    if (++q->head == c->depth + 1) q->head = 0;
    q->count--;
    return id;
}

static void pc_step(gm_wl_gen *g, gm_lane *l, gm_op *op)
{
    const pc_cfg *c = ((gm_synth *)g->priv)->wl;
    pc_lane *q = l->priv;
    if (q->count > c->depth) {
        gm_lane_free(l, op, pc_pop(c, q));
        return;
    }
    uint32_t tail = q->head + q->count;
    if (tail >= c->depth + 1) tail -= c->depth + 1;
    q->ring[tail] = gm_lane_alloc_dist(l, op, &c->dist);
    q->count++;
}

/* The consumer drains the queue in order. */
static uint32_t pc_teardown(gm_wl_gen *g, gm_lane *l, uint16_t *thread)
{
    const pc_cfg *c = ((gm_synth *)g->priv)->wl;
    *thread = l->free_thread;
    return pc_pop(c, l->priv);
}

static int pc_init(gm_wl_gen *g, char *err, size_t errlen)
{
    pc_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    c->depth = (uint32_t)g->cfg.values[PC_DEPTH].i;
    gm_synth_read_dist(g, &c->dist, PC_DIST, PC_MIN, PC_MAX, PC_ALPHA);
    if (gm_dist_init(&c->dist, (gm_dist_flagnames){"min", "max"}, err, errlen)) return -1;
    unsigned npairs = g->cfg.threads / 2;
    if (g->cfg.threads % 2) {
        snprintf(err, errlen,
                 "workload producer-consumer pairs its threads; --threads must be even (got %u)",
                 g->cfg.threads);
        return -1;
    }
    if (gm_synth_need_ops(g, 4 * (uint64_t)c->depth * npairs,
                          "fill each queue, pass --depth objects through, drain it", err, errlen))
        return -1;
    gm_synth *s = gm_synth_create(g, npairs, pc_step, c);
    s->teardown = pc_teardown;
    for (unsigned i = 0; i < npairs; i++) {
        gm_lane *l = gm_synth_lane_init(g, i, c->depth + 1);
        pc_lane *q = gm_arena_alloc(g->arena, sizeof *q);
        q->ring = gm_arena_alloc(g->arena, (c->depth + 1) * sizeof *q->ring);
        l->thread = (uint16_t)(2 * i);
        l->free_thread = (uint16_t)(2 * i + 1);
        l->priv = q;
    }
    return 0;
}

const gm_workload gm_wl_producer_consumer = {
    .name = "producer-consumer",
    .purpose = "Threads in pairs: the producer (even thread) allocates, the consumer (the next "
               "thread) frees each object after --depth further allocations of its producer, "
               "like a queue of messages. Every free is on another thread than its allocation: "
               "remote frees and the return of memory to the thread that allocated it.",
    .params = pc_params,
    .nparams = PC_NPARAMS,
    .min_threads = 2,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 4000,
    .default_ops = 5000000,
    .init = pc_init,
    .next = gm_synth_next,
};

/* ---- larson -------------------------------------------------------------------------------- */

enum { LS_LIVE, LS_DIST, LS_MIN, LS_MAX, LS_ALPHA, LS_ROUND, LS_NPARAMS };

static const gm_wl_param larson_params[LS_NPARAMS] = {
    {"live", GM_PARAM_INT, "1000", 1, 1 << 24, NULL, "slots per thread (its slice)"},
    {"dist", GM_PARAM_ENUM, "uniform", 0, 0, gm_dist_names, "object size distribution"},
    {"min", GM_PARAM_SIZE, "16", 0, 1 << 30, NULL, "smallest object (the size, for fixed)"},
    {"max", GM_PARAM_SIZE, "1K", 0, 1 << 30, NULL, "largest object"},
    {"alpha", GM_PARAM_REAL, "1.5", 0.01, 100, NULL, "powerlaw shape"},
    {"round", GM_PARAM_INT, "0", 0, 4e18, NULL,
     "ops between rotations of slice ownership; 0 = ops / 10"},
};

#define LARSON_NONE UINT32_MAX

typedef struct larson_cfg {
    uint32_t live; /* slots per slice */
    unsigned threads;
    uint64_t round;
    gm_dist dist;
    uint32_t *filled; /* per slice: slots allocated by the first fill */
    unsigned turn;    /* thread whose step is next */
    uint32_t pending; /* slot just freed, allocated again by the same thread next */
    uint16_t pending_thread;
} larson_cfg;

/* Thread t owns slice (t + epoch) % threads, epoch = op index / round: every round each slice
 * passes to the previous thread, as larson's threads hand their arrays to a successor. */
static unsigned larson_slice(const larson_cfg *c, const gm_lane *l, unsigned t)
{
    uint64_t epoch = (l->quota - l->left) / c->round;
    return (unsigned)((t + epoch) % c->threads);
}

static void larson_alloc(larson_cfg *c, gm_lane *l, gm_op *op, uint32_t id, uint16_t t)
{
    uint8_t flags;
    uint64_t size = gm_dist_draw(&c->dist, &l->rng, &flags);
    l->thread = t;
    gm_lane_alloc_id(l, op, id, size, flags, c->dist.align_log2);
    if (++c->turn == c->threads) c->turn = 0;
}

static void larson_step(gm_wl_gen *g, gm_lane *l, gm_op *op)
{
    larson_cfg *c = (larson_cfg *)((gm_synth *)g->priv)->wl;
    if (c->pending != LARSON_NONE) {
        larson_alloc(c, l, op, c->pending, c->pending_thread);
        c->pending = LARSON_NONE;
        return;
    }
    uint16_t t = (uint16_t)c->turn;
    unsigned s = larson_slice(c, l, t);
    uint32_t id;
    if (c->filled[s] < c->live) {
        id = s * c->live + c->filled[s]++;
    } else {
        id = s * c->live + (uint32_t)gm_rng_below(&l->rng, c->live);
        if (gm_liveset_is_live(&l->live, id)) {
            l->free_thread = t;
            gm_lane_free(l, op, id);
            c->pending = id;
            c->pending_thread = t;
            return;
        }
    }
    larson_alloc(c, l, op, id, t);
}

/* Each object is freed by the thread that owns its slice when the run ends. */
static uint32_t larson_teardown(gm_wl_gen *g, gm_lane *l, uint16_t *thread)
{
    const larson_cfg *c = ((gm_synth *)g->priv)->wl;
    uint32_t id = gm_liveset_last(&l->live);
    unsigned s = id / c->live, t0 = larson_slice(c, l, 0);
    *thread = (uint16_t)((s + c->threads - t0) % c->threads);
    return id;
}

static int larson_init(gm_wl_gen *g, char *err, size_t errlen)
{
    larson_cfg *c = gm_arena_alloc(g->arena, sizeof *c);
    const gm_wl_value *v = g->cfg.values;
    c->live = (uint32_t)v[LS_LIVE].i;
    c->threads = g->cfg.threads;
    gm_synth_read_dist(g, &c->dist, LS_DIST, LS_MIN, LS_MAX, LS_ALPHA);
    if (gm_dist_init(&c->dist, (gm_dist_flagnames){"min", "max"}, err, errlen)) return -1;
    uint64_t nslots = (uint64_t)c->live * c->threads;
    if (nslots > UINT32_MAX / 2) {
        snprintf(err, errlen, "workload larson: --live %u times --threads %u is too many slots",
                 c->live, c->threads);
        return -1;
    }
    if (gm_synth_need_ops(g, 4 * nslots, "fill every slice, replace it once, tear down", err,
                          errlen))
        return -1;
    c->round = v[LS_ROUND].i ? (uint64_t)v[LS_ROUND].i : g->cfg.ops / 10;
    if (c->round == 0) c->round = 1;
    c->filled = gm_arena_alloc(g->arena, c->threads * sizeof *c->filled);
    c->pending = LARSON_NONE;
    gm_synth *s = gm_synth_create(g, 1, larson_step, c);
    s->teardown = larson_teardown;
    gm_synth_lane_init(g, 0, (uint32_t)nslots);
    return 0;
}

const gm_workload gm_wl_larson = {
    .name = "larson",
    .purpose = "Larson-style server churn: each thread owns a slice of --live slots and, at "
               "each step, frees the object in a random slot of its slice and allocates a new "
               "one there. Every --round ops the slices pass to other threads, so objects "
               "allocated by one thread are freed by another, as when larson's threads hand "
               "their arrays to a successor.",
    .params = larson_params,
    .nparams = LS_NPARAMS,
    .min_threads = 2,
    .max_threads = GM_WL_MAX_THREADS,
    .min_ops = 8000,
    .default_ops = 10000000,
    .init = larson_init,
    .next = gm_synth_next,
};
