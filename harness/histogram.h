/*
 * histogram.h — log-linear latency histograms (the HdrHistogram layout).
 *
 * Values below 2^GM_HIST_SUB_BITS are counted exactly. Above, each power-of-two range
 * [2^k, 2^(k+1)) is split into 2^(GM_HIST_SUB_BITS-1) equal buckets, so a bucket's width is at
 * most 2^-(GM_HIST_SUB_BITS-1) of its values: with 7 bits a reported percentile is within 1/128
 * (0.8%) of the exact sample it stands for, over the whole 64-bit range, in 3,776 buckets.
 * Recording is a count increment (no allocation, no lock: one histogram per thread, merged at
 * the end).
 */
#ifndef GM_HISTOGRAM_H
#define GM_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define GM_HIST_SUB_BITS  7
#define GM_HIST_SUB_COUNT (1u << GM_HIST_SUB_BITS) /* 128 */
#define GM_HIST_HALF      (GM_HIST_SUB_COUNT / 2)  /* 64 */
/* Exact buckets [0, SUB_COUNT), then HALF buckets per power of two from 2^SUB_BITS to 2^63. */
#define GM_HIST_NBUCKETS (GM_HIST_SUB_COUNT + (64 - GM_HIST_SUB_BITS) * GM_HIST_HALF)

typedef struct gm_hist {
    uint64_t count;
    uint64_t min, max; /* exact; min = UINT64_MAX when empty */
    double sum;        /* for the mean */
    uint64_t buckets[GM_HIST_NBUCKETS];
} gm_hist;

void gm_hist_init(gm_hist *h);

static inline unsigned gm_hist_bucket(uint64_t v)
{
    if (v < GM_HIST_SUB_COUNT) return (unsigned)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* 2^k <= v, k >= SUB_BITS */
    unsigned shift = k - (GM_HIST_SUB_BITS - 1);     /* keep the top SUB_BITS bits */
    return GM_HIST_SUB_COUNT + (k - GM_HIST_SUB_BITS) * GM_HIST_HALF +
           (unsigned)((v >> shift) - GM_HIST_HALF);
}

static inline void gm_hist_record(gm_hist *h, uint64_t v)
{
    h->buckets[gm_hist_bucket(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

/* Smallest and largest value a bucket holds. */
uint64_t gm_hist_bucket_low(unsigned b);
uint64_t gm_hist_bucket_high(unsigned b);
void gm_hist_merge(gm_hist *dst, const gm_hist *src);
/* The p-th percentile (0 < p <= 100) by the nearest-rank definition: the value of the
 * ceil(p/100 * count)-th smallest sample, reported as the midpoint of its bucket clamped to
 * [min, max] (exact below 2^SUB_BITS, and exact for p = 100). 0 when empty. */
uint64_t gm_hist_percentile(const gm_hist *h, double p);

#endif
