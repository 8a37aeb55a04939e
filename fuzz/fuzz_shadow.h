/*
 * fuzz_shadow.h — the reference model of the public API's targets: a table of the objects a
 * heap handed out and has not taken back. Each object is filled with its own pattern when it
 * is made, and the pattern is verified before it is freed or reallocated, so an object that
 * lost its bytes (two objects sharing memory, a slot handed out twice, a realloc that dropped
 * data) is caught at the first operation that can see it.
 *
 * Objects larger than SHADOW_FILL_ALL are filled and verified at a stride, to keep per-input
 * work bounded; their first and last SHADOW_FILL_EDGE bytes always.
 */
#ifndef GM_FUZZ_SHADOW_H
#define GM_FUZZ_SHADOW_H

#include "fuzz_input.h"

#define SHADOW_MAX       128
#define SHADOW_FILL_ALL  (64 << 10)
#define SHADOW_FILL_EDGE 256
#define SHADOW_STRIDE    4096

typedef struct {
    uintptr_t p;
    size_t size;   /* requested */
    size_t usable; /* what gm_heap_usable_size said at allocation */
    uint8_t seed;  /* pattern: byte i holds seed + i*31 (mod 256) */
} shadow_obj;

typedef struct {
    shadow_obj o[SHADOW_MAX];
    size_t n;
    uint32_t next_seed;
} shadow;

static inline uint8_t shadow_byte(uint8_t seed, size_t i)
{
    return (uint8_t)(seed + i * 31);
}

/* Visit the bytes of [0, size) the pattern covers; fn(obj, i) for each. */
#define SHADOW_FOR_EACH(size, i, body)                                                             \
    do {                                                                                           \
        size_t n_ = (size);                                                                        \
        for (size_t i = 0; i < n_;) {                                                              \
            body;                                                                                  \
            if (n_ <= SHADOW_FILL_ALL || i < SHADOW_FILL_EDGE || i + SHADOW_FILL_EDGE >= n_)       \
                i++;                                                                               \
            else if (i + SHADOW_STRIDE < n_ - SHADOW_FILL_EDGE)                                    \
                i += SHADOW_STRIDE;                                                                \
            else                                                                                   \
                i = n_ - SHADOW_FILL_EDGE;                                                         \
        }                                                                                          \
    } while (0)

static inline void shadow_fill(const shadow_obj *o, size_t from)
{
    uint8_t *b = (uint8_t *)o->p;
    SHADOW_FOR_EACH(o->size, i, if (i >= from) b[i] = shadow_byte(o->seed, i));
}

/* The bytes shadow_fill wrote into an object of `filled` bytes with this seed, below upto.
 * After a realloc the new object is checked against the old one's fill (whose sampled
 * positions depend on its size), then filled again whole. */
static inline void shadow_verify_fill(uintptr_t p, uint8_t seed, size_t filled, size_t upto)
{
    const uint8_t *b = (const uint8_t *)p;
    SHADOW_FOR_EACH(filled, i,
                    if (i < upto) FUZZ_ASSERT(b[i] == shadow_byte(seed, i),
                                              "object %p (filled %zu bytes): byte %zu is %#x, "
                                              "want %#x",
                                              (void *)p, filled, i, b[i], shadow_byte(seed, i)));
}

static inline void shadow_verify(const shadow_obj *o, size_t upto)
{
    shadow_verify_fill(o->p, o->seed, o->size, upto);
}

/* The bytes of [p, p+n) are all zero (sampled the same way). */
static inline void shadow_verify_zero(uintptr_t p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    SHADOW_FOR_EACH(n, i,
                    FUZZ_ASSERT(b[i] == 0, "zeroed object %p (size %zu): byte %zu is %#x",
                                (void *)p, n, i, b[i]));
}

static inline shadow_obj *shadow_find(shadow *sh, uintptr_t p)
{
    for (size_t k = 0; k < sh->n; k++)
        if (sh->o[k].p == p) return &sh->o[k];
    return NULL;
}

/* The live object whose usable bytes contain p, or NULL. */
static inline shadow_obj *shadow_containing(shadow *sh, uintptr_t p)
{
    for (size_t k = 0; k < sh->n; k++)
        if (p >= sh->o[k].p && p < sh->o[k].p + sh->o[k].usable) return &sh->o[k];
    return NULL;
}

/* Record a new object: it overlaps no live object, its usable size covers the request. */
static inline shadow_obj *shadow_add(shadow *sh, uintptr_t p, size_t size, size_t usable)
{
    FUZZ_ASSERT(sh->n < SHADOW_MAX, "shadow table full");
    FUZZ_ASSERT(usable >= size, "object %p: usable size %zu < requested %zu", (void *)p, usable,
                size);
    for (size_t k = 0; k < sh->n; k++) {
        const shadow_obj *o = &sh->o[k];
        FUZZ_ASSERT(p + usable <= o->p || o->p + o->usable <= p,
                    "new object [%p, +%zu) overlaps live object [%p, +%zu)", (void *)p, usable,
                    (void *)o->p, o->usable);
    }
    shadow_obj *o = &sh->o[sh->n++];
    *o = (shadow_obj){.p = p, .size = size, .usable = usable, .seed = (uint8_t)++sh->next_seed};
    return o;
}

static inline void shadow_remove(shadow *sh, shadow_obj *o)
{
    *o = sh->o[--sh->n];
}

/* Go's tiny alignment (malloc.go): 8 if size%8 == 0, 4 if %4, 2 if even, else 1. */
static inline size_t tiny_align(size_t size)
{
    return size % 8 == 0 ? 8 : size % 4 == 0 ? 4 : size % 2 == 0 ? 2 : 1;
}

/* The 16-byte tiny block p lives in, or 0 if p is not a tiny object (per the span's own
 * metadata: a tiny span whose block word is non-zero). */
static inline uintptr_t tiny_block_of(gm_mheap *h, uintptr_t p)
{
    gm_mspan *s = gm_mheap_span_of(h, p);
    if (!s || !s->tiny_meta) return 0;
    uintptr_t idx = (p - s->base) / GM_TINY_SIZE;
    return atomic_load(&s->tiny_meta[idx]) ? s->base + idx * GM_TINY_SIZE : 0;
}

/* MemStats against the shadow. After a forced cycle (exact) every dead object has been
 * swept, so HeapAlloc is the sum of the live slots: each non-tiny object's slot, each tiny
 * block with a live object once, and the tiny blocks a cycle keeps alive (gcMarkTinyAllocs);
 * HeapObjects counts the same slots. At any other time dead objects not yet swept still count
 * (Go's HeapAlloc includes unswept garbage), so those sums are lower bounds. */
static inline void shadow_check_memstats(gm_mheap *h, gm_m *m, const shadow *sh, bool exact)
{
    uint64_t bytes = 0, objects = 0;
    uintptr_t blocks[SHADOW_MAX];
    size_t nblocks = 0;
    for (size_t k = 0; k < sh->n; k++) {
        uintptr_t b = tiny_block_of(h, sh->o[k].p);
        if (!b) {
            bytes += sh->o[k].usable;
            objects++;
            continue;
        }
        size_t j = 0;
        while (j < nblocks && blocks[j] != b) j++;
        if (j == nblocks) blocks[nblocks++] = b;
    }
    if (exact)
        for (uint32_t i = 0; i < h->nprocs; i++) nblocks += h->allp[i].tiny_survivor != NULL;
    bytes += nblocks * GM_TINY_SIZE;
    objects += nblocks;
    gm_memstats ms;
    gm_heap_read_memstats(h, m, &ms);
    FUZZ_ASSERT(exact ? ms.heap_alloc == bytes : ms.heap_alloc >= bytes,
                "HeapAlloc %llu, shadow says %s%llu", (unsigned long long)ms.heap_alloc,
                exact ? "" : ">= ", (unsigned long long)bytes);
    FUZZ_ASSERT(exact ? ms.heap_objects == objects : ms.heap_objects >= objects,
                "HeapObjects %llu, shadow says %s%llu", (unsigned long long)ms.heap_objects,
                exact ? "" : ">= ", (unsigned long long)objects);
}

#endif
