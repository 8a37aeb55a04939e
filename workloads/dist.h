/*
 * dist.h — object-size distributions shared by every synthetic generator, and the flags an
 * allocation carries (SCAN, ZERO, alignment), drawn from one seeded gm_rng.
 *
 * Kinds (the `--dist` choices):
 *   fixed       every object is `min` bytes (`max` is not used)
 *   uniform     integer uniform in [min, max]
 *   loguniform  log-uniform in [min, max]: as many objects in 16..32 as in 1K..2K
 *   powerlaw    truncated Pareto on [min, max] with shape `alpha`: P(size > x) ~ x^-alpha
 *   golike      a synthetic Go-program mix (see golike_buckets in dist.c and README.md),
 *               restricted to [min, max]
 *
 * Determinism: sizes come from integer arithmetic and the four IEEE operations only; the
 * logarithms and powers are computed here (det_log2, det_exp2) instead of by libm, whose
 * results may differ in the last bit between versions or CPU feature paths.
 */
#ifndef GM_DIST_H
#define GM_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "gm_workload.h"
#include "rng.h"

typedef enum gm_dist_kind {
    GM_DIST_FIXED,
    GM_DIST_UNIFORM,
    GM_DIST_LOGUNIFORM,
    GM_DIST_POWERLAW,
    GM_DIST_GOLIKE,
} gm_dist_kind;

/* The `--dist` choices, in gm_dist_kind order, NULL-terminated. */
extern const char *const gm_dist_names[];

enum { GM_DIST_MAX_BUCKETS = 5 };

typedef struct gm_dist_bucket {
    uint64_t lo, hi;   /* sizes drawn log-uniformly in [lo, hi] */
    double cum;        /* cumulative probability up to and including this bucket */
    double scan;       /* probability that an object of this bucket holds pointers */
    double llo, lspan; /* log2(lo), log2(hi + 1) - log2(lo) */
} gm_dist_bucket;

typedef struct gm_dist {
    gm_dist_kind kind;
    uint64_t min, max;
    double alpha;         /* powerlaw shape, > 0 */
    double scan_fraction; /* fraction of objects with GM_OPF_SCAN; < 0: golike's mix decides
                             (and 0 for the other kinds) */
    double zero_fraction; /* fraction with GM_OPF_ZERO (calloc) */
    uint8_t align_log2;   /* every allocation's alignment; 0 = malloc's own */
    /* Derived by gm_dist_init. */
    double lmin, lspan; /* loguniform: log2(min), log2(max + 1) - log2(min) */
    double pareto_c;    /* powerlaw: 1 - (min / (max + 1))^alpha */
    unsigned nbuckets;  /* golike: the buckets that intersect [min, max] */
    gm_dist_bucket bucket[GM_DIST_MAX_BUCKETS];
} gm_dist;

/* Names of the flags a dist was read from, for error messages ("min", "max" or "min-a"...). */
typedef struct gm_dist_flagnames {
    const char *min, *max;
} gm_dist_flagnames;

/* Checks min <= max (and min >= 1 where a logarithm is taken, and that golike keeps at least
 * one bucket) and derives the sampling constants. 0, or -1 with err set. */
int gm_dist_init(gm_dist *d, gm_dist_flagnames names, char *err, size_t errlen);

/* One object: its size, and in *flags its GM_OPF_* bits. */
uint64_t gm_dist_draw(const gm_dist *d, gm_rng *r, uint8_t *flags);

/* Mean size, estimated from a fixed number of draws of a private generator (deterministic);
 * generators use it to plan phase lengths. */
double gm_dist_mean(const gm_dist *d);

#endif
