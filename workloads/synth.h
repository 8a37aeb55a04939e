/*
 * synth.h — the machinery every synthetic generator shares: a stream split into lanes.
 *
 * A lane is one independent share of the activity: its own live set (a range of ids), its own
 * random generator, its own quota of ops. gm_synth_next interleaves the lanes round-robin, op
 * by op, so lane i emits exactly ops/nlanes ops (one more for the first ops % nlanes lanes) and
 * all lanes run side by side for the whole stream. Most workloads have one lane per thread;
 * producer-consumer has one per thread pair and larson one for everything.
 *
 * The workload supplies a step that writes one op of a lane. The machinery around it keeps the
 * stream exactly cfg.ops long and ending with nothing live:
 *   - teardown: when a lane's remaining ops equal its live objects, it frees them all (by
 *     default the most recent allocation first, on the lane's free thread);
 *   - parity: allocs and frees come in pairs, so a lane with an odd quota needs one op that
 *     changes neither count; it is a realloc of the lane's first object to its own size,
 *     emitted right after that object's allocation.
 * So a step is only called with left - live >= 2 and even: an alloc always fits.
 */
#ifndef GM_SYNTH_H
#define GM_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "dist.h"
#include "gm_workload.h"
#include "liveset.h"
#include "rng.h"

typedef struct gm_lane gm_lane;

/* Writes one op of lane l (an alloc always fits; a free needs a live object). */
typedef void (*gm_lane_step_fn)(gm_wl_gen *g, gm_lane *l, gm_op *op);
/* Teardown override: returns the id to free next (live) and sets *thread. */
typedef uint32_t (*gm_lane_teardown_fn)(gm_wl_gen *g, gm_lane *l, uint16_t *thread);

struct gm_lane {
    gm_liveset live;
    gm_rng rng;
    uint64_t quota;       /* ops this lane emits in all */
    uint64_t left;        /* ops it still emits */
    uint16_t thread;      /* thread of its allocations */
    uint16_t free_thread; /* thread of its frees (producer-consumer: the consumer) */
    bool parity_pending;  /* odd quota, realloc not yet scheduled */
    bool parity_due;      /* the next op is that realloc */
    uint16_t parity_thread;
    uint32_t parity_id;
    unsigned index;
    void *priv; /* the workload's per-lane state */
};

typedef struct gm_synth {
    gm_lane *lanes;
    unsigned nlanes, cursor;
    gm_lane_step_fn step;
    gm_lane_teardown_fn teardown; /* NULL: free the last live id on free_thread */
    const void *wl;               /* the workload's parsed parameters */
} gm_synth;

/* Sets g->priv to a synth of nlanes lanes (not yet given ids) and g->nslots to 0. */
gm_synth *gm_synth_create(gm_wl_gen *g, unsigned nlanes, gm_lane_step_fn step, const void *wl);
/* Gives lane i the next cap ids, its quota, its generator and thread i; adds cap to nslots. */
gm_lane *gm_synth_lane_init(gm_wl_gen *g, unsigned i, uint32_t cap);
/* The quota of lane i of nlanes for cfg.ops. */
uint64_t gm_synth_quota(uint64_t ops, unsigned nlanes, unsigned i);
/* Round-robin over the lanes; the gm_workload.next of every synthetic workload. */
size_t gm_synth_next(gm_wl_gen *g, gm_op *ops, size_t max);
/* Checks cfg.ops >= need; -1 with a message naming need and why when it is not. */
int gm_synth_need_ops(const gm_wl_gen *g, uint64_t need, const char *why, char *err, size_t errlen);
/* Reads a workload's dist from cfg.values at the indices of its kind, min, max and alpha
 * parameters (alpha < 0: none, 1.5 is used). SCAN/ZERO fractions and alignment are off. */
void gm_synth_read_dist(const gm_wl_gen *g, gm_dist *d, int kind, int min, int max, int alpha);

/* Share i of total split n ways (the first total % n shares get one more): quotas of ops,
 * per-thread parts of --live. */
static inline uint64_t gm_share(uint64_t total, unsigned n, unsigned i)
{
    return total / n + (i < total % n);
}

static inline void lane_put(gm_op *op, uint8_t kind, uint32_t id, uint64_t size, uint16_t thread,
                            uint8_t flags, uint8_t align_log2)
{
    *op = (gm_op){.size = size,
                  .id = id,
                  .thread = thread,
                  .kind = kind,
                  .flags = flags,
                  .align_log2 = align_log2};
}

/* Allocates a dead id of the lane on its thread; returns the id. */
static inline uint32_t gm_lane_alloc(gm_lane *l, gm_op *op, uint64_t size, uint8_t flags,
                                     uint8_t align_log2)
{
    uint32_t id = gm_liveset_add(&l->live, size);
    lane_put(op, GM_OP_ALLOC, id, size, l->thread, flags, align_log2);
    return id;
}

static inline void gm_lane_alloc_id(gm_lane *l, gm_op *op, uint32_t id, uint64_t size,
                                    uint8_t flags, uint8_t align_log2)
{
    gm_liveset_add_id(&l->live, id, size);
    lane_put(op, GM_OP_ALLOC, id, size, l->thread, flags, align_log2);
}

static inline uint32_t gm_lane_alloc_dist(gm_lane *l, gm_op *op, const gm_dist *d)
{
    uint8_t flags;
    uint64_t size = gm_dist_draw(d, &l->rng, &flags);
    return gm_lane_alloc(l, op, size, flags, d->align_log2);
}

/* Frees a live id of the lane on its free thread. */
static inline void gm_lane_free(gm_lane *l, gm_op *op, uint32_t id)
{
    gm_liveset_remove(&l->live, id);
    lane_put(op, GM_OP_FREE, id, 0, l->free_thread, 0, 0);
}

/* The built-in workloads (registry.c lists them). */
extern const gm_workload gm_wl_sizeclass_sweep, gm_wl_batch, gm_wl_churn, gm_wl_fragment,
    gm_wl_producer_consumer, gm_wl_larson, gm_wl_large, gm_wl_tiny, gm_wl_goroutines;

#endif
