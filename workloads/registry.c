/*
 * registry.c — the list of built-in workloads and the generic open/next/close around them.
 */
#include <stdio.h>
#include <string.h>

#include "synth.h"

static const gm_workload *const workloads[] = {
    &gm_wl_sizeclass_sweep, &gm_wl_batch, &gm_wl_churn, &gm_wl_fragment,   &gm_wl_producer_consumer,
    &gm_wl_larson,          &gm_wl_large, &gm_wl_tiny,  &gm_wl_goroutines, NULL,
};

const gm_workload *const *gm_workloads(void)
{
    return workloads;
}

const gm_workload *gm_workload_find(const char *name)
{
    for (const gm_workload *const *w = workloads; *w; w++)
        if (strcmp((*w)->name, name) == 0) return *w;
    return NULL;
}

gm_wl_gen *gm_wl_open(const gm_workload *wl, const gm_wl_config *cfg, char *err, size_t errlen)
{
    unsigned hi = wl->max_threads < GM_WL_MAX_THREADS ? wl->max_threads : GM_WL_MAX_THREADS;
    if (cfg->threads < wl->min_threads || cfg->threads > hi || cfg->threads == 0) {
        snprintf(err, errlen, "workload %s needs --threads in [%u, %u]; got %u", wl->name,
                 wl->min_threads ? wl->min_threads : 1, hi, cfg->threads);
        return NULL;
    }
    /* wl->min_ops is the minimum for the default parameters; init checks the actual ones. */
    gm_arena *a = gm_arena_create();
    gm_wl_gen *g = gm_arena_alloc(a, sizeof *g);
    g->wl = wl;
    g->cfg = *cfg;
    g->arena = a;
    if (wl->init(g, err, errlen) != 0) {
        gm_arena_destroy(a);
        return NULL;
    }
    return g;
}

size_t gm_wl_next(gm_wl_gen *g, gm_op *ops, size_t max)
{
    uint64_t left = g->cfg.ops - g->emitted;
    if (max > left) max = (size_t)left;
    if (max == 0) return 0;
    size_t n = g->wl->next(g, ops, max);
    g->emitted += n;
    return n;
}

void gm_wl_close(gm_wl_gen *g)
{
    if (!g) return;
    if (g->wl->fini) g->wl->fini(g);
    gm_arena_destroy(g->arena);
}
