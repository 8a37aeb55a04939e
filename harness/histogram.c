/*
 * histogram.c — bucket bounds, merging and percentiles for the log-linear histograms of
 * histogram.h (recording is inline there, because it runs once per measured operation).
 *
 * Layout (HdrHistogram's, with 7 significant bits):
 *   buckets [0, 128)                        the values 0..127, one each (exact);
 *   bucket 128 + (k - 7) * 64 + s, s < 64   the values [(64 + s) << (k - 6), (65 + s) << (k - 6))
 *                                           for 2^k <= v < 2^(k+1), k = 7..63.
 * A bucket of the second kind is 2^(k-6) wide and holds values >= 2^k, so any value in it is
 * within 2^(k-7) / 2^k = 1/128 of the bucket's midpoint.
 *
 * Invariants: count == sum of buckets; count == 0 <=> min == UINT64_MAX; min <= max when
 * count > 0; every recorded value v has min <= v <= max and lies in bucket gm_hist_bucket(v).
 */
#include "histogram.h"

#include <math.h>
#include <string.h>

_Static_assert(GM_HIST_NBUCKETS == 3776, "128 exact buckets + 57 powers of two * 64 buckets");

void gm_hist_init(gm_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

/* k (2^k <= v < 2^(k+1)) and the position s within the power of two, for a log bucket. */
static void hist_bucket_split(unsigned b, unsigned *k, unsigned *s)
{
    unsigned i = b - GM_HIST_SUB_COUNT;
    *k = i / GM_HIST_HALF + GM_HIST_SUB_BITS;
    *s = i % GM_HIST_HALF;
}

uint64_t gm_hist_bucket_low(unsigned b)
{
    if (b < GM_HIST_SUB_COUNT) return b;
    unsigned k, s;
    hist_bucket_split(b, &k, &s);
    return (uint64_t)(GM_HIST_HALF + s) << (k - (GM_HIST_SUB_BITS - 1));
}

uint64_t gm_hist_bucket_high(unsigned b)
{
    if (b < GM_HIST_SUB_COUNT) return b;
    unsigned k, s;
    hist_bucket_split(b, &k, &s);
    uint64_t width = (uint64_t)1 << (k - (GM_HIST_SUB_BITS - 1));
    /* low + (width - 1): written this way the top bucket ends at UINT64_MAX without wrapping. */
    return gm_hist_bucket_low(b) + (width - 1);
}

void gm_hist_merge(gm_hist *dst, const gm_hist *src)
{
    if (src->count == 0) return;
    for (unsigned b = 0; b < GM_HIST_NBUCKETS; b++) dst->buckets[b] += src->buckets[b];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

/* ceil(p/100 * count), clamped to [1, count]. p is a decimal such as 99.9 that has no exact
 * binary value, so p * count / 100 can land a hair above an integer it should equal (99.9 * 1000
 * / 100 = 999.0000000000001 would pick rank 1000); products within a relative 1e-12 of an
 * integer are taken to be that integer. Counts stay far below 2^53, so the double is exact
 * otherwise. */
static uint64_t hist_rank(uint64_t count, double p)
{
    double x = p * (double)count / 100.0;
    double r = nearbyint(x);
    if (fabs(x - r) <= 1e-12 * (r > 1.0 ? r : 1.0))
        x = r;
    else
        x = ceil(x);
    if (!(x >= 1.0)) /* also catches NaN */
        return 1;
    if (x >= (double)count) return count;
    return (uint64_t)x;
}

uint64_t gm_hist_percentile(const gm_hist *h, double p)
{
    if (h->count == 0) return 0;
    if (p >= 100.0) return h->max;
    uint64_t rank = hist_rank(h->count, p), seen = 0;
    unsigned b = 0;
    for (; b < GM_HIST_NBUCKETS - 1; b++) {
        seen += h->buckets[b];
        if (seen >= rank) break;
    }
    if (b < GM_HIST_SUB_COUNT) return b; /* an exact bucket holds one value */
    uint64_t lo = gm_hist_bucket_low(b), hi = gm_hist_bucket_high(b);
    uint64_t mid = lo + (hi - lo + 1) / 2;
    /* The sample is between min and max, so clamping only moves the answer towards it (and
     * makes a histogram of one repeated value report that value exactly). */
    if (mid < h->min) mid = h->min;
    if (mid > h->max) mid = h->max;
    return mid;
}
