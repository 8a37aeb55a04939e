/*
 * fuzz_input.h — what every fuzz target shares (the zstd tests/fuzz habit): a small reader
 * that turns the input bytes into operations, an always-on assert that prints the checker's
 * description of the first violation and aborts (libFuzzer then keeps the input as a crash),
 * and a private heap per input.
 *
 * Inputs are read front to back; an exhausted input reads as zeros, so every prefix of an
 * input is itself a valid input and libFuzzer's mutations (truncation, insertion) keep
 * meaning. Every target caps its operations at FUZZ_MAX_OPS so that one input stays cheap.
 */
#ifndef GM_FUZZ_INPUT_H
#define GM_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm_testing.h"

#define FUZZ_MAX_OPS 256

typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_input;

static inline int fuzz_more(const fuzz_input *in)
{
    return in->n > 0;
}

static inline uint8_t fuzz_u8(fuzz_input *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_input *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(fuzz_input *in)
{
    uint32_t lo = fuzz_u16(in);
    return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(fuzz_input *in)
{
    uint64_t lo = fuzz_u32(in);
    return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* A value in [lo, hi] (hi - lo < 2^32). */
static inline size_t fuzz_range(fuzz_input *in, size_t lo, size_t hi)
{
    size_t span = hi - lo + 1;
    uint32_t r = span <= 256 ? fuzz_u8(in) : span <= 65536 ? fuzz_u16(in) : fuzz_u32(in);
    return lo + (size_t)r % span;
}

/* Always on, in every build: a fuzz target that stops checking in release finds nothing. */
#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT(%s) failed: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Run a checker of check.c; abort with its description of the first violation. */
#define FUZZ_CHECK(call)                                                                           \
    do {                                                                                           \
        char fuzz_buf_[512];                                                                       \
        const char *fuzz_err_ = (call);                                                            \
        if (fuzz_err_) {                                                                           \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, fuzz_err_);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#define FUZZ_CHECKBUF      fuzz_buf_, sizeof fuzz_buf_
#define FUZZ_CHECK_HEAP(h) FUZZ_CHECK(gm_heap_check((h), FUZZ_CHECKBUF))

/* A private heap without arena hints; a real OS failure here is not a finding. */
static inline gm_mheap *fuzz_heap(int nprocs, int gc_percent)
{
    gm_heap_config cfg = {.nprocs = nprocs, .gc_percent = gc_percent, .arena_hints = false};
    gm_mheap *h = gm_heap_create(&cfg);
    FUZZ_ASSERT(h, "gm_heap_create failed");
    return h;
}

/* GOGC for a fuzzed heap: 0xff turns cycles off; half the other values give GOGC 0..3, whose
 * trigger (8 KiB .. 120 KiB freed) small inputs reach, so paced cycles and the lazy sweeping
 * after them happen often; the rest 0..63. */
static inline int fuzz_gc_percent(fuzz_input *in)
{
    uint8_t b = fuzz_u8(in);
    return b == 0xff ? -1 : b & 0x80 ? b % 4 : b % 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
