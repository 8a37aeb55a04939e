/*
 * clock.c — calibration of the cycle counter read by gm_ticks_begin/gm_ticks_end (clock.h).
 *
 * ticks_per_ns: the counter is compared with CLOCK_MONOTONIC_RAW (NTP never slews it) over five
 * 20 ms windows and the median rate is kept, so one window stretched by preemption or an SMI
 * does not skew it. Each window is bracketed by clock reads on both sides of the tick reads, so
 * both intervals cover the same span up to a few hundred ns out of 20 ms (< 0.002%).
 *
 * overhead: the median (and the minimum) of 10^5 empty begin/end pairs, after a warm-up. The
 * driver subtracts the median from every latency; the minimum is reported so a reader can see
 * how noisy the counter read itself is.
 *
 * Nothing here allocates (the process's malloc is the allocator under test): /proc/cpuinfo is
 * read with read(2) into a stack buffer and the overhead samples live in a gm_map buffer.
 */
#define _GNU_SOURCE
#include "clock.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gm_arena.h"

enum {
    CLOCK_WINDOWS = 5,
    CLOCK_WINDOW_NS = 20 * 1000 * 1000,
    CLOCK_OVERHEAD_PAIRS = 100 * 1000,
    CLOCK_OVERHEAD_WARMUP = 10 * 1000,
};

uint64_t gm_clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Quickselect: the k-th smallest of v[0..n) (v is reordered). Not qsort: glibc's qsort may
 * call malloc for its merge buffer. */
static uint64_t clock_select(uint64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        /* Three-way partition of v[lo..hi]: [lo, lt) < pivot, [lt, i) == pivot, [gt, hi] >
         * pivot. Overhead samples are mostly a few repeated values, which this handles in one
         * pass. */
        uint64_t pivot = v[lo + (hi - lo) / 2], t;
        size_t lt = lo, i = lo, gt = hi + 1;
        while (i < gt) {
            if (v[i] < pivot) {
                t = v[lt], v[lt] = v[i], v[i] = t;
                lt++, i++;
            } else if (v[i] > pivot) {
                gt--;
                t = v[gt], v[gt] = v[i], v[i] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt - 1;
        else if (k >= gt)
            lo = gt;
        else
            return pivot;
    }
    return v[k];
}

#if defined(__x86_64__)
/* Whether the flags line of the first processor in /proc/cpuinfo lists word (a whole word). */
static int clock_cpuinfo_flag(const char *buf, const char *word)
{
    const char *line = strstr(buf, "\nflags");
    if (!line) return 0;
    const char *end = strchr(line + 1, '\n');
    if (!end) /* the line was cut off by the buffer: its tail is unknown */
        end = line + strlen(line);
    size_t wlen = strlen(word);
    const char *colon = strchr(line, ':');
    for (const char *p = colon; p && p < end; p++) {
        if ((p[0] == ' ' || p[0] == ':') && strncmp(p + 1, word, wlen) == 0 &&
            (p[1 + wlen] == ' ' || p[1 + wlen] == '\n' || p[1 + wlen] == '\0'))
            return 1;
    }
    return 0;
}

/* Invariant TSC: constant_tsc (fixed rate across P-states) and nonstop_tsc (keeps counting in
 * deep C-states). The first processor's block is ~1.5 KiB, so a 16 KiB prefix holds its flags
 * line; cpuinfo lists the same flags for every CPU. */
static int clock_tsc_invariant(void)
{
    char buf[16384];
    int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return clock_cpuinfo_flag(buf, "constant_tsc") && clock_cpuinfo_flag(buf, "nonstop_tsc");
}
#endif

/* Ticks per ns over one window: clock reads outside the tick reads on both sides. */
static double clock_window_rate(void)
{
    uint64_t n0 = gm_clock_now_ns();
    uint64_t t0 = gm_ticks_begin();
    uint64_t n1;
    /* Busy-wait rather than sleep: the counter must be compared while the core runs, as it
     * does during a measurement. */
    do n1 = gm_clock_now_ns();
    while (n1 - n0 < CLOCK_WINDOW_NS);
    uint64_t t1 = gm_ticks_end();
    uint64_t n2 = gm_clock_now_ns();
    /* The ticks span [t0, t1] lies inside [n0, n2]; its best ns estimate is the midpoint of the
     * two bracketing intervals. */
    double ns = (double)(n1 - n0) / 2 + (double)(n2 - n0) / 2;
    return (double)(t1 - t0) / ns;
}

static void clock_measure_rate(gm_clock *c)
{
    double r[CLOCK_WINDOWS];
    for (int i = 0; i < CLOCK_WINDOWS; i++) {
        double x = clock_window_rate();
        int j = i; /* insertion sort: five samples */
        for (; j > 0 && r[j - 1] > x; j--) r[j] = r[j - 1];
        r[j] = x;
    }
    c->ticks_per_ns = r[CLOCK_WINDOWS / 2];
    if (!(c->ticks_per_ns > 0)) /* a counter that did not move: keep divisions finite */
        c->ticks_per_ns = 1;
}

static void clock_measure_overhead(gm_clock *c)
{
    size_t bytes = CLOCK_OVERHEAD_PAIRS * sizeof(uint64_t);
    uint64_t *d = gm_map(bytes, 1);
    for (int i = 0; i < CLOCK_OVERHEAD_WARMUP; i++) {
        uint64_t t0 = gm_ticks_begin();
        uint64_t t1 = gm_ticks_end();
        d[i] = t1 - t0;
    }
    uint64_t min = UINT64_MAX;
    for (size_t i = 0; i < CLOCK_OVERHEAD_PAIRS; i++) {
        uint64_t t0 = gm_ticks_begin();
        uint64_t t1 = gm_ticks_end();
        /* A migration between CPUs with unsynchronised counters could step backwards; such a
         * pair measured nothing, count it as free rather than as 2^64 ticks. */
        d[i] = t1 >= t0 ? t1 - t0 : 0;
        if (d[i] < min) min = d[i];
    }
    c->overhead_ticks = clock_select(d, CLOCK_OVERHEAD_PAIRS, CLOCK_OVERHEAD_PAIRS / 2);
    /* The counter's granularity: the smallest step between two reads. A virtualised TSC may
     * advance in coarse steps, and every latency is then a multiple of it; results report it. */
    uint64_t res = UINT64_MAX;
    for (size_t i = 0; i < CLOCK_OVERHEAD_PAIRS; i++) {
        uint64_t a = gm_ticks_begin(), b = gm_ticks_begin();
        if (b > a && b - a < res) res = b - a;
    }
    c->resolution_ticks = res == UINT64_MAX ? 0 : res;
    c->overhead_min_ticks = min;
    c->overhead_ns = (double)c->overhead_ticks / c->ticks_per_ns;
    gm_unmap(d, bytes);
}

void gm_clock_calibrate(gm_clock *c)
{
    memset(c, 0, sizeof *c);
#if defined(__x86_64__)
    c->source = "rdtsc";
    c->invariant = clock_tsc_invariant();
    clock_measure_rate(c);
#elif defined(__aarch64__)
    /* The architected generic timer runs at a fixed frequency (CNTFRQ_EL0) in every power
     * state and is synchronised across cores by the architecture. */
    c->source = "cntvct";
    c->invariant = 1;
    clock_measure_rate(c);
#else
    c->source = "clock_gettime";
    c->invariant = 1;
    c->ticks_per_ns = 1; /* the ticks are CLOCK_MONOTONIC_RAW nanoseconds */
#endif
    clock_measure_overhead(c);
}
