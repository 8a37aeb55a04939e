/*
 * liveset.c — setting up a gm_liveset (see liveset.h).
 */
#include "liveset.h"

void gm_liveset_init(gm_liveset *ls, gm_arena *a, uint32_t base, uint32_t cap)
{
    ls->base = base;
    ls->cap = cap;
    ls->n = 0;
    ls->bytes = 0;
    ls->dense = gm_arena_alloc(a, (size_t)cap * sizeof *ls->dense);
    ls->pos = gm_arena_alloc(a, (size_t)cap * sizeof *ls->pos);
    ls->size = gm_arena_alloc(a, (size_t)cap * sizeof *ls->size);
    /* Ascending, so that a share's first allocations take its lowest ids. */
    for (uint32_t i = 0; i < cap; i++) {
        ls->dense[i] = i;
        ls->pos[i] = i;
    }
}
