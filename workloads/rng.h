/*
 * rng.h — the generators' random numbers: xoshiro256** seeded through splitmix64.
 *
 * Streams must be identical for the same (workload, parameters, seed, ops, threads) on any
 * machine, so nothing here touches libc's rand() or floating-point library functions: only
 * 64-bit integer arithmetic, and a double in [0, 1) made exactly from 53 random bits.
 */
#ifndef GM_RNG_H
#define GM_RNG_H

#include <stdint.h>

typedef struct gm_rng {
    uint64_t s[4];
} gm_rng;

static inline uint64_t gm_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* stream separates independent generators drawn from one seed (one per thread's share), so
 * that adding a thread does not shift the numbers the others see. */
static inline void gm_rng_seed(gm_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ gm_splitmix64(&stream);
    for (int i = 0; i < 4; i++) r->s[i] = gm_splitmix64(&x);
}

static inline uint64_t gm_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t gm_rng_next(gm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = gm_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gm_rng_rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject). */
static inline uint64_t gm_rng_below(gm_rng *r, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)gm_rng_next(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t floor = (0 - n) % n;
        while (lo < floor) {
            m = (unsigned __int128)gm_rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Uniform in [lo, hi], lo <= hi. */
static inline uint64_t gm_rng_range(gm_rng *r, uint64_t lo, uint64_t hi)
{
    if (hi - lo == UINT64_MAX) return gm_rng_next(r);
    return lo + gm_rng_below(r, hi - lo + 1);
}

/* Uniform in [0, 1), exactly representable. */
static inline double gm_rng_unit(gm_rng *r)
{
    return (double)(gm_rng_next(r) >> 11) * 0x1p-53;
}

#endif
