/*
 * synth.c — lanes, teardown and parity for every synthetic generator (see synth.h).
 */
#include "synth.h"

#include <stdio.h>

gm_synth *gm_synth_create(gm_wl_gen *g, unsigned nlanes, gm_lane_step_fn step, const void *wl)
{
    gm_synth *s = gm_arena_alloc(g->arena, sizeof *s);
    s->lanes = gm_arena_alloc(g->arena, nlanes * sizeof *s->lanes);
    s->nlanes = nlanes;
    s->step = step;
    s->wl = wl;
    g->priv = s;
    g->nslots = 0;
    return s;
}

uint64_t gm_synth_quota(uint64_t ops, unsigned nlanes, unsigned i)
{
    return gm_share(ops, nlanes, i);
}

gm_lane *gm_synth_lane_init(gm_wl_gen *g, unsigned i, uint32_t cap)
{
    gm_synth *s = g->priv;
    gm_lane *l = &s->lanes[i];
    gm_liveset_init(&l->live, g->arena, g->nslots, cap);
    g->nslots += cap;
    /* One generator per lane, keyed by the lane's index: a lane's numbers do not depend on
     * how the other lanes consume theirs. */
    gm_rng_seed(&l->rng, g->cfg.seed, i);
    l->quota = l->left = gm_synth_quota(g->cfg.ops, s->nlanes, i);
    l->thread = l->free_thread = (uint16_t)i;
    l->parity_pending = l->quota & 1;
    l->index = i;
    return l;
}

static void lane_parity_realloc(gm_lane *l, gm_op *op)
{
    l->parity_due = false;
    uint64_t size = gm_liveset_size(&l->live, l->parity_id);
    lane_put(op, GM_OP_REALLOC, l->parity_id, size ? size : 1, l->parity_thread, 0, 0);
    gm_liveset_resize(&l->live, l->parity_id, size ? size : 1);
}

static void lane_teardown(gm_wl_gen *g, gm_synth *s, gm_lane *l, gm_op *op)
{
    if (s->teardown) {
        uint16_t thread;
        uint32_t id = s->teardown(g, l, &thread);
        gm_liveset_remove(&l->live, id);
        lane_put(op, GM_OP_FREE, id, 0, thread, 0, 0);
        return;
    }
    gm_lane_free(l, op, gm_liveset_last(&l->live));
}

static inline void lane_emit(gm_wl_gen *g, gm_synth *s, gm_lane *l, gm_op *op)
{
    if (l->parity_due) {
        lane_parity_realloc(l, op);
    } else if (l->left == l->live.n) {
        lane_teardown(g, s, l, op);
    } else {
        s->step(g, l, op);
        if (l->parity_pending && op->kind == GM_OP_ALLOC) {
            l->parity_pending = false;
            l->parity_due = true;
            l->parity_id = op->id;
            l->parity_thread = op->thread;
        }
    }
    l->left--;
}

size_t gm_synth_next(gm_wl_gen *g, gm_op *ops, size_t max)
{
    gm_synth *s = g->priv;
    unsigned cursor = s->cursor;
    for (size_t i = 0; i < max; i++) {
        lane_emit(g, s, &s->lanes[cursor], &ops[i]);
        if (++cursor == s->nlanes) cursor = 0;
    }
    s->cursor = cursor;
    return max;
}

int gm_synth_need_ops(const gm_wl_gen *g, uint64_t need, const char *why, char *err, size_t errlen)
{
    if (g->cfg.ops >= need) return 0;
    snprintf(err, errlen,
             "workload %s needs --ops >= %llu with these parameters and --threads %u (%s); "
             "got %llu",
             g->wl->name, (unsigned long long)need, g->cfg.threads, why,
             (unsigned long long)g->cfg.ops);
    return -1;
}

void gm_synth_read_dist(const gm_wl_gen *g, gm_dist *d, int kind, int min, int max, int alpha)
{
    const gm_wl_value *v = g->cfg.values;
    *d = (gm_dist){.kind = (gm_dist_kind)v[kind].i,
                   .min = (uint64_t)v[min].i,
                   .max = (uint64_t)v[max].i,
                   .alpha = alpha >= 0 ? v[alpha].r : 1.5,
                   .scan_fraction = 0};
}
