/*
 * dist.c — size distributions (see dist.h). The golike mix lives here.
 */
#include "dist.h"

#include <math.h>
#include <stdio.h>

/* Contraction of a*b+c into one fused operation would change results between CPUs that have
 * FMA and those that do not; the whole point of det_log2/det_exp2 is to give the same bits
 * everywhere. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

const char *const gm_dist_names[] = {"fixed", "uniform", "loguniform", "powerlaw", "golike", NULL};

/*
 * The go-like mix: a synthetic approximation of what Go programs allocate — dominated by small
 * objects, about half of them pointerful. It is NOT measured from any particular program; it
 * only has the broad shape that allocation profiles of typical Go services show (most objects
 * under 128 bytes, a long thin tail into large objects). Within a bucket, sizes are
 * log-uniform.
 */
static const struct {
    uint64_t lo, hi;
    double weight, scan;
} golike_buckets[GM_DIST_MAX_BUCKETS] = {
    {8, 32, 0.50, 0.50},       {33, 128, 0.25, 0.60},       {129, 1024, 0.15, 0.50},
    {1025, 32768, 0.08, 0.40}, {32769, 262144, 0.02, 0.20},
};

/* log2(x) for x > 0 from frexp (exact) and the atanh series of ln(m), m in [sqrt(1/2), sqrt(2)):
 * |s| <= 0.172, so twelve terms reach double precision. */
static double det_log2(double x)
{
    int e;
    double m = frexp(x, &e);
    if (m < 0.70710678118654752) {
        m *= 2;
        e -= 1;
    }
    double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
    for (int k = 1; k <= 23; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return (double)e + 2 * sum / 0.69314718055994531;
}

/* 2^y from ldexp (exact) and the Taylor series of e^t, t = frac(y)·ln 2 in [0, 0.694): the
 * 18th term is below 2^-60. Horner form with constant coefficients (1/k!, folded exactly at
 * compile time), because this runs once per object drawn. */
static double det_exp2(double y)
{
    static const double inv_fact[18] = {
        1.0 / 1,
        1.0 / 2,
        1.0 / 6,
        1.0 / 24,
        1.0 / 120,
        1.0 / 720,
        1.0 / 5040,
        1.0 / 40320,
        1.0 / 362880,
        1.0 / 3628800,
        1.0 / 39916800,
        1.0 / 479001600,
        1.0 / 6227020800,
        1.0 / 87178291200,
        1.0 / 1307674368000,
        1.0 / 20922789888000,
        1.0 / 355687428096000,
        1.0 / 6402373705728000,
    };
    double k = floor(y), t = (y - k) * 0.69314718055994531;
    double sum = inv_fact[17];
    for (int i = 16; i >= 0; i--) sum = sum * t + inv_fact[i];
    return ldexp(sum * t + 1, (int)k);
}

static uint64_t clamp_size(double x, uint64_t lo, uint64_t hi)
{
    if (!(x >= (double)lo)) return lo;
    if (x >= (double)hi) return hi;
    uint64_t v = (uint64_t)x;
    return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t log_uniform(gm_rng *r, double llo, double lspan, uint64_t lo, uint64_t hi)
{
    return clamp_size(det_exp2(llo + gm_rng_unit(r) * lspan), lo, hi);
}

static void golike_init(gm_dist *d)
{
    double total = 0;
    d->nbuckets = 0;
    for (unsigned i = 0; i < GM_DIST_MAX_BUCKETS; i++) {
        uint64_t lo = golike_buckets[i].lo > d->min ? golike_buckets[i].lo : d->min;
        uint64_t hi = golike_buckets[i].hi < d->max ? golike_buckets[i].hi : d->max;
        if (lo > hi) continue;
        gm_dist_bucket *b = &d->bucket[d->nbuckets++];
        b->lo = lo;
        b->hi = hi;
        b->scan = golike_buckets[i].scan;
        b->llo = det_log2((double)lo);
        b->lspan = det_log2((double)hi + 1) - b->llo;
        total += golike_buckets[i].weight;
        b->cum = total;
    }
    /* A bucket cut by [min, max] keeps its whole weight; buckets outside are dropped and the
     * rest renormalised. */
    for (unsigned i = 0; i < d->nbuckets; i++) d->bucket[i].cum /= total;
    if (d->nbuckets) d->bucket[d->nbuckets - 1].cum = 1.0;
}

int gm_dist_init(gm_dist *d, gm_dist_flagnames names, char *err, size_t errlen)
{
    if (d->min > d->max && d->kind != GM_DIST_FIXED) {
        snprintf(err, errlen, "--%s (%llu) is larger than --%s (%llu)", names.min,
                 (unsigned long long)d->min, names.max, (unsigned long long)d->max);
        return -1;
    }
    bool logs = d->kind == GM_DIST_LOGUNIFORM || d->kind == GM_DIST_POWERLAW;
    if (logs && d->min == 0) {
        snprintf(err, errlen, "--%s must be at least 1 for --dist %s", names.min,
                 gm_dist_names[d->kind]);
        return -1;
    }
    if (d->kind == GM_DIST_LOGUNIFORM) {
        d->lmin = det_log2((double)d->min);
        d->lspan = det_log2((double)d->max + 1) - d->lmin;
    } else if (d->kind == GM_DIST_POWERLAW) {
        d->pareto_c =
            1 - det_exp2(d->alpha * (det_log2((double)d->min) - det_log2((double)d->max + 1)));
    } else if (d->kind == GM_DIST_GOLIKE) {
        golike_init(d);
        if (!d->nbuckets) {
            snprintf(err, errlen,
                     "--dist golike covers 8..262144 bytes; [--%s %llu, --%s %llu] leaves "
                     "none of it",
                     names.min, (unsigned long long)d->min, names.max, (unsigned long long)d->max);
            return -1;
        }
    }
    return 0;
}

static uint64_t golike_draw(const gm_dist *d, gm_rng *r, double *scan)
{
    double u = gm_rng_unit(r);
    unsigned i = 0;
    while (i + 1 < d->nbuckets && u >= d->bucket[i].cum) i++;
    const gm_dist_bucket *b = &d->bucket[i];
    *scan = b->scan;
    return log_uniform(r, b->llo, b->lspan, b->lo, b->hi);
}

static uint64_t draw_size(const gm_dist *d, gm_rng *r, double *scan)
{
    *scan = 0;
    switch (d->kind) {
    case GM_DIST_FIXED:
        return d->min;
    case GM_DIST_UNIFORM:
        return gm_rng_range(r, d->min, d->max);
    case GM_DIST_LOGUNIFORM:
        return log_uniform(r, d->lmin, d->lspan, d->min, d->max);
    case GM_DIST_POWERLAW: {
        double v = 1 - gm_rng_unit(r) * d->pareto_c; /* in ((min/(max+1))^alpha, 1] */
        return clamp_size((double)d->min * det_exp2(-det_log2(v) / d->alpha), d->min, d->max);
    }
    case GM_DIST_GOLIKE:
        return golike_draw(d, r, scan);
    }
    return d->min;
}

uint64_t gm_dist_draw(const gm_dist *d, gm_rng *r, uint8_t *flags)
{
    double scan;
    uint64_t size = draw_size(d, r, &scan);
    if (d->scan_fraction >= 0) scan = d->scan_fraction;
    uint8_t f = 0;
    if (scan > 0 && gm_rng_unit(r) < scan) f |= GM_OPF_SCAN;
    if (d->zero_fraction > 0 && gm_rng_unit(r) < d->zero_fraction) f |= GM_OPF_ZERO;
    *flags = f;
    return size;
}

double gm_dist_mean(const gm_dist *d)
{
    enum { DRAWS = 4096 };
    gm_rng r;
    gm_rng_seed(&r, 0x6d65616e /* "mean" */, 0);
    double sum = 0;
    uint8_t flags;
    for (int i = 0; i < DRAWS; i++) sum += (double)gm_dist_draw(d, &r, &flags);
    return sum / DRAWS;
}
