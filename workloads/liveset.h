/*
 * liveset.h — the live objects of one share of a stream, and its dead ids, in one array.
 *
 * A "sparse set": dense[0, n) are the live ids, dense[n, cap) the dead ones, and pos[] maps an
 * id back to its index, so add, remove, membership and a uniformly random live pick are all
 * O(1). Removing swaps the id to position n-1 and shrinks n, which leaves it at dense[n]: the
 * next plain add reuses the most recently freed id, as a real program's slot would be.
 *
 * Invariants: n <= cap; pos[dense[i]] == i for every i < cap; id live <=> pos[id] < n.
 * Ids are local here (0..cap); gm_liveset adds base, so that the shares of a stream partition
 * [0, nslots).
 */
#ifndef GM_LIVESET_H
#define GM_LIVESET_H

#include <stdbool.h>
#include <stdint.h>

#include "gm_arena.h"
#include "rng.h"

typedef struct gm_liveset {
    uint32_t base; /* ids are base + [0, cap) */
    uint32_t cap;
    uint32_t n;      /* live objects */
    uint32_t *dense; /* local ids: [0, n) live, [n, cap) dead */
    uint32_t *pos;   /* per local id: its index in dense */
    uint64_t *size;  /* per local id: requested bytes while live */
    uint64_t bytes;  /* sum of size[] over the live ids */
} gm_liveset;

void gm_liveset_init(gm_liveset *ls, gm_arena *a, uint32_t base, uint32_t cap);

static inline bool gm_liveset_is_live(const gm_liveset *ls, uint32_t id)
{
    return ls->pos[id - ls->base] < ls->n;
}

static inline uint64_t gm_liveset_size(const gm_liveset *ls, uint32_t id)
{
    return ls->size[id - ls->base];
}

static inline void liveset_swap(gm_liveset *ls, uint32_t i, uint32_t j)
{
    uint32_t a = ls->dense[i], b = ls->dense[j];
    ls->dense[i] = b;
    ls->dense[j] = a;
    ls->pos[b] = i;
    ls->pos[a] = j;
}

/* Makes a dead id live; the caller knows n < cap. Returns the id. */
static inline uint32_t gm_liveset_add(gm_liveset *ls, uint64_t size)
{
    uint32_t local = ls->dense[ls->n++];
    ls->size[local] = size;
    ls->bytes += size;
    return ls->base + local;
}

/* Makes the given dead id live. */
static inline void gm_liveset_add_id(gm_liveset *ls, uint32_t id, uint64_t size)
{
    uint32_t local = id - ls->base;
    liveset_swap(ls, ls->pos[local], ls->n++);
    ls->size[local] = size;
    ls->bytes += size;
}

static inline void gm_liveset_remove(gm_liveset *ls, uint32_t id)
{
    uint32_t local = id - ls->base;
    liveset_swap(ls, ls->pos[local], --ls->n);
    ls->bytes -= ls->size[local];
}

static inline void gm_liveset_resize(gm_liveset *ls, uint32_t id, uint64_t size)
{
    uint32_t local = id - ls->base;
    ls->bytes += size - ls->size[local];
    ls->size[local] = size;
}

/* A uniformly random live id; n > 0. */
static inline uint32_t gm_liveset_pick(const gm_liveset *ls, gm_rng *r)
{
    return ls->base + ls->dense[gm_rng_below(r, ls->n)];
}

/* The live id at dense[n-1]: while nothing has been removed, the most recent allocation. */
static inline uint32_t gm_liveset_last(const gm_liveset *ls)
{
    return ls->base + ls->dense[ls->n - 1];
}

#endif
