/*
 * clock.h — the cycle counter used for per-op latency.
 *
 * x86-64: RDTSC (invariant TSC on every CPU this runs on; checked at calibration through
 * /proc/cpuinfo's constant_tsc/nonstop_tsc flags and reported). The read before an operation is
 * fenced so that earlier instructions are not counted (LFENCE; RDTSC); the read after uses
 * RDTSCP, which waits for the operation to finish, then LFENCE so later work does not start
 * before the read. aarch64: CNTVCT_EL0 behind ISB. Elsewhere: CLOCK_MONOTONIC_RAW in ns.
 *
 * Calibration measures ticks per nanosecond against CLOCK_MONOTONIC_RAW, and the overhead of an
 * empty begin/end pair over many back-to-back pairs (median and minimum); the driver subtracts
 * the minimum (the fixed cost of the timed region) from every latency it records, clamping at
 * zero, and reports both.
 */
#ifndef GM_CLOCK_H
#define GM_CLOCK_H

#include <stdint.h>

typedef struct gm_clock {
    const char *source; /* "rdtsc", "cntvct" or "clock_gettime" */
    double ticks_per_ns;
    uint64_t overhead_ticks; /* median cost of an empty gm_ticks_begin/gm_ticks_end pair */
    double overhead_ns;
    uint64_t overhead_min_ticks;
    uint64_t resolution_ticks; /* smallest step seen between two consecutive reads */
    int invariant;             /* 1: the counter is known to be constant-rate and synchronised */
} gm_clock;

/* Takes about 100 ms. */
void gm_clock_calibrate(gm_clock *c);
uint64_t gm_clock_now_ns(void); /* CLOCK_MONOTONIC_RAW */

static inline uint64_t gm_ticks_begin(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v)::"memory");
    return v;
#else
    return gm_clock_now_ns();
#endif
}

static inline uint64_t gm_ticks_end(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi, aux;
    __asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0\n\tisb" : "=r"(v)::"memory");
    return v;
#else
    return gm_clock_now_ns();
#endif
}

#endif
