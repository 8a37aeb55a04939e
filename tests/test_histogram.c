/*
 * test_histogram.c — the latency histogram reports what histogram.h promises, and the clock
 * calibrates to something sane.
 *
 * Percentiles are checked against the exact nearest-rank sample of the sorted input, computed
 * here with integer arithmetic (the rank for p = 99.9 is ceil(999 * n / 1000), not a product of
 * doubles), for distributions that exercise the exact range, many orders of magnitude, a single
 * repeated value and the top of the 64-bit range. The clock checks assert only what cannot fail
 * on a slow or loaded machine: no timing thresholds.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gm_test.h"
#include "histogram.h"

/* p as parts per million, so nearest rank can be computed exactly. */
static const struct {
    double p;
    uint64_t ppm;
} percentiles[] = {
    {50, 500000}, {90, 900000}, {99, 990000}, {99.9, 999000}, {99.99, 999900}, {100, 1000000},
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* |got - want| <= want / 128, without overflow near 2^64. */
static bool within_1_128(uint64_t got, uint64_t want)
{
    uint64_t d = got > want ? got - want : want - got;
    return d <= want / 128;
}

/* Records v[0..n), then checks every listed percentile against the sorted samples. */
static void check_distribution(const char *name, uint64_t *v, size_t n)
{
    gm_hist *h = malloc(sizeof *h);
    gm_hist_init(h);
    for (size_t i = 0; i < n; i++) gm_hist_record(h, v[i]);
    qsort(v, n, sizeof v[0], cmp_u64);
    CHECK_EQ(h->count, n);
    CHECK_EQ(h->min, v[0]);
    CHECK_EQ(h->max, v[n - 1]);
    for (size_t k = 0; k < sizeof percentiles / sizeof percentiles[0]; k++) {
        unsigned __int128 num = (unsigned __int128)percentiles[k].ppm * n;
        uint64_t rank = (uint64_t)((num + 999999) / 1000000); /* ceil */
        if (rank < 1) rank = 1;
        uint64_t want = v[rank - 1];
        uint64_t got = gm_hist_percentile(h, percentiles[k].p);
        bool ok = want < GM_HIST_SUB_COUNT || percentiles[k].p == 100 ? got == want
                                                                      : within_1_128(got, want);
        if (!ok)
            fprintf(stderr, "  %s: p%g of %zu samples: got %llu, exact %llu\n", name,
                    percentiles[k].p, n, (unsigned long long)got, (unsigned long long)want);
        CHECK(ok);
        CHECK(got >= h->min && got <= h->max);
    }
    free(h);
}

static void test_percentiles(void)
{
    uint64_t seed = 42;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);

    /* Uniform over the exact range: every answer exact. */
    for (size_t i = 0; i < n; i++) v[i] = gm_test_splitmix(&seed) % 100;
    check_distribution("uniform < 100", v, n);

    /* Uniform over [0, 5000): both the exact buckets and the first log ranges. */
    for (size_t i = 0; i < n; i++) v[i] = gm_test_splitmix(&seed) % 5000;
    check_distribution("uniform < 5000", v, n);

    /* Exponential-ish: a random power of two up to 2^63 times a random mantissa. */
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)(gm_test_splitmix(&seed) % 64);
        v[i] = (gm_test_splitmix(&seed) | (uint64_t)1 << 63) >> (63 - k); /* in [2^k, 2^(k+1)) */
    }
    check_distribution("exponential", v, n);

    /* Long-tailed latencies in ns: mostly 20..200, a tail to seconds. */
    for (size_t i = 0; i < n; i++) {
        double u = (double)(gm_test_splitmix(&seed) >> 11) / 0x1p53;
        v[i] = 20 + (uint64_t)(-log1p(-u * 0.999999999) * 60.0 * (u > 0.999 ? 1e6 : 1));
    }
    check_distribution("latency tail", v, n);

    for (size_t i = 0; i < n; i++) v[i] = 123456789;
    check_distribution("constant", v, n);

    v[0] = 987654321;
    check_distribution("single sample", v, 1);
    v[0] = 7;
    check_distribution("single small sample", v, 1);

    /* Near the top of the range, including UINT64_MAX itself. */
    for (size_t i = 0; i < n; i++)
        v[i] = ((uint64_t)1 << 63) - 1000 + gm_test_splitmix(&seed) % ((uint64_t)1 << 62);
    v[17] = UINT64_MAX;
    check_distribution("near 2^63", v, n);

    /* Sizes that are not multiples of 1000, so ranks round up. */
    for (size_t m = 1; m <= 37; m++) {
        for (size_t i = 0; i < m; i++) v[i] = 1000 + gm_test_splitmix(&seed) % 100000;
        check_distribution("small counts", v, m);
    }
    free(v);

    gm_hist h;
    gm_hist_init(&h);
    CHECK_EQ(h.min, UINT64_MAX);
    CHECK_EQ(h.count, 0);
    CHECK_EQ(gm_hist_percentile(&h, 50), 0);
    CHECK_EQ(gm_hist_percentile(&h, 100), 0);
}

static void test_bucket_bounds(void)
{
    CHECK_EQ(gm_hist_bucket_low(0), 0);
    CHECK_EQ(gm_hist_bucket_high(GM_HIST_NBUCKETS - 1), UINT64_MAX);
    CHECK_EQ(gm_hist_bucket(UINT64_MAX), GM_HIST_NBUCKETS - 1);
    int bad = 0;
    for (unsigned b = 0; b < GM_HIST_NBUCKETS; b++) {
        uint64_t lo = gm_hist_bucket_low(b), hi = gm_hist_bucket_high(b);
        bool ok = lo <= hi && gm_hist_bucket(lo) == b && gm_hist_bucket(hi) == b;
        if (b + 1 < GM_HIST_NBUCKETS)
            ok = ok && gm_hist_bucket_low(b + 1) == hi + 1; /* contiguous */
        /* A bucket is at most 1/64 of its low end wide, so its midpoint is within 1/128. */
        if (b >= GM_HIST_SUB_COUNT)
            ok = ok && hi - lo + 1 <= lo / 64;
        else
            ok = ok && lo == b && hi == b;
        if (!ok && bad++ < 5)
            fprintf(stderr, "  bucket %u: [%llu, %llu]\n", b, (unsigned long long)lo,
                    (unsigned long long)hi);
        CHECK(ok);
    }
    /* Every power of two and its neighbours land inside their bucket's bounds. */
    for (unsigned k = 0; k < 64; k++) {
        uint64_t p2 = (uint64_t)1 << k;
        uint64_t vals[3] = {p2 - 1, p2, p2 + 1};
        for (int i = 0; i < 3; i++) {
            unsigned b = gm_hist_bucket(vals[i]);
            CHECK(b < GM_HIST_NBUCKETS);
            CHECK(gm_hist_bucket_low(b) <= vals[i] && vals[i] <= gm_hist_bucket_high(b));
        }
    }
}

static void test_merge(void)
{
    gm_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *all = malloc(sizeof *all);
    gm_hist_init(a);
    gm_hist_init(b);
    gm_hist_init(all);
    uint64_t seed = 7;
    for (int i = 0; i < 50000; i++) {
        uint64_t v = gm_test_splitmix(&seed) >> (gm_test_splitmix(&seed) % 64);
        gm_hist_record(i % 3 ? a : b, v);
        gm_hist_record(all, v);
    }
    gm_hist_merge(a, b);
    CHECK_EQ(a->count, all->count);
    CHECK_EQ(a->min, all->min);
    CHECK_EQ(a->max, all->max);
    CHECK(memcmp(a->buckets, all->buckets, sizeof a->buckets) == 0);
    /* Sums of doubles added in another order may differ in the last bits. */
    CHECK(fabs(a->sum - all->sum) <= 1e-12 * all->sum);

    /* Merging an empty histogram changes nothing; merging into one copies. */
    gm_hist_init(b);
    gm_hist_merge(a, b);
    CHECK_EQ(a->count, all->count);
    CHECK_EQ(a->min, all->min);
    gm_hist_merge(b, all);
    CHECK(memcmp(b, all, sizeof *b) == 0);
    free(a);
    free(b);
    free(all);
}

static void test_clock(void)
{
    gm_clock c;
    gm_clock_calibrate(&c);
    printf("clock: %s, %.4f ticks/ns, overhead %llu ticks (min %llu, %.1f ns), invariant %d\n",
           c.source, c.ticks_per_ns, (unsigned long long)c.overhead_ticks,
           (unsigned long long)c.overhead_min_ticks, c.overhead_ns, c.invariant);
    CHECK(c.source != NULL);
    CHECK(c.ticks_per_ns > 0 && isfinite(c.ticks_per_ns));
    CHECK(c.overhead_min_ticks <= c.overhead_ticks);
    CHECK(c.overhead_ns >= 0 && isfinite(c.overhead_ns));
    CHECK(c.invariant == 0 || c.invariant == 1);

    uint64_t n0 = gm_clock_now_ns(), prev = n0;
    for (int i = 0; i < 100000; i++) {
        uint64_t n = gm_clock_now_ns();
        CHECK(n >= prev);
        prev = n;
    }
    /* Consecutive reads on one thread; a counter that is not known to be synchronised across
     * CPUs may step back on a migration, so only an invariant one is held to this. */
    if (c.invariant) {
        int backwards = 0;
        uint64_t t = gm_ticks_begin();
        for (int i = 0; i < 100000; i++) {
            uint64_t u = i % 2 ? gm_ticks_begin() : gm_ticks_end();
            backwards += u < t;
            t = u;
        }
        CHECK_EQ(backwards, 0);
    }
    /* The counter moves while time passes. */
    uint64_t t0 = gm_ticks_begin();
    uint64_t start = gm_clock_now_ns();
    while (gm_clock_now_ns() - start < 1000000) {
    }
    CHECK(gm_ticks_end() != t0);
}

int main(void)
{
    test_bucket_bounds();
    test_percentiles();
    test_merge();
    test_clock();
    return gm_test_finish("test_histogram");
}
