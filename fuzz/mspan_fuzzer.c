/*
 * mspan_fuzzer.c — one span's bitmaps (mspan.c; Go's mbitmap.go nextFreeIndex, allocCache,
 * and the bitmap half of sweep) against a plain array model:
 *   - the model keeps alloc (as of the last sweep), freed and freeindex per slot; the next
 *     free slot is the lowest one at or after freeindex not allocated at the last sweep;
 *   - allocation runs many slots at a time so the 64-slot allocCache windows are crossed
 *     and refilled; frees hit live slots (and, again, already freed ones: set_freed must
 *     refuse them, the double-free test of gm_free);
 *   - sweep returns the number freed, reuses the lowest freed slot first;
 *   - gm_mspan_check after every operation (with the span "cached", so the allocCache window
 *     is checked too).
 * The span is metadata only: its base is a made-up address, never touched.
 */
#include "fuzz_input.h"

typedef struct {
    bool alloc[GM_MAX_OBJS_PER_SPAN]; /* allocated as of the last sweep */
    bool freed[GM_MAX_OBJS_PER_SPAN];
    size_t freeindex, count, nelems;
} span_model;

static bool model_allocated(const span_model *m, size_t i)
{
    return i < m->freeindex || m->alloc[i];
}

static void span_init(gm_mspan *s, span_model *m, fuzz_input *in)
{
    size_t c = fuzz_range(in, 1, GM_NUM_SIZE_CLASSES - 1);
    *s = (gm_mspan){.base = 0xc000000000, .npages = gm_class_to_allocnpages[c]};
    gm_mspan_init_small(s, gm_make_spanclass((uint8_t)c, fuzz_u8(in) & 1));
    s->in_cache = 1; /* the allocCache window is live, as in an mcache */
    memset(m, 0, sizeof *m);
    m->nelems = s->nelems;
}

static void span_alloc(gm_mspan *s, span_model *m, size_t k)
{
    while (k--) {
        size_t want = m->freeindex;
        while (want < m->nelems && m->alloc[want]) want++;
        uintptr_t got = gm_mspan_next_free_index(s);
        FUZZ_ASSERT(got == want, "nextFreeIndex = %zu, model %zu (freeindex %zu)", (size_t)got,
                    want, m->freeindex);
        if (want == m->nelems) {
            FUZZ_ASSERT(atomic_load(&s->freeindex) == s->nelems, "full span: freeindex %zu",
                        (size_t)atomic_load(&s->freeindex));
            return;
        }
        s->alloc_count++; /* the caller's part, as nextFree in malloc.go */
        m->freeindex = want + 1;
        m->count++;
    }
}

static void span_free(gm_mspan *s, span_model *m, size_t i)
{
    FUZZ_ASSERT(gm_mspan_is_allocated(s, i) == model_allocated(m, i), "slot %zu: allocated %d", i,
                gm_mspan_is_allocated(s, i));
    if (!model_allocated(m, i)) return; /* gm_heap_free refuses it before set_freed */
    bool first = gm_mspan_set_freed(s, i);
    FUZZ_ASSERT(first == !m->freed[i], "slot %zu: set_freed %d, already freed %d", i, first,
                m->freed[i]);
    m->freed[i] = true;
}

static void span_sweep(gm_mspan *s, span_model *m)
{
    size_t nfreed = 0;
    for (size_t i = 0; i < m->nelems; i++) {
        bool was = model_allocated(m, i);
        if (m->freed[i]) nfreed++;
        m->alloc[i] = was && !m->freed[i];
        m->freed[i] = false;
    }
    m->freeindex = 0;
    m->count -= nfreed;
    uintptr_t got = gm_mspan_sweep_bits(s);
    FUZZ_ASSERT(got == nfreed, "sweep freed %zu, model %zu", (size_t)got, nfreed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    static gm_mspan s;
    static span_model m;
    span_init(&s, &m, &in);
    for (int ops = 0; ops < FUZZ_MAX_OPS && fuzz_more(&in); ops++) {
        uint8_t op = fuzz_u8(&in) % 8;
        if (op < 3)
            span_alloc(&s, &m, op == 0 ? fuzz_range(&in, 1, 130) : 1);
        else if (op < 6)
            span_free(&s, &m, fuzz_range(&in, 0, m.nelems - 1));
        else if (op == 6)
            span_sweep(&s, &m);
        else
            span_init(&s, &m, &in);
        FUZZ_ASSERT(s.alloc_count == m.count, "alloc_count %u, model %zu", s.alloc_count, m.count);
        FUZZ_ASSERT(gm_mspan_count_alloc(&s) == m.count, "count_alloc %zu, model %zu",
                    (size_t)gm_mspan_count_alloc(&s), m.count);
        FUZZ_CHECK(gm_mspan_check(&s, FUZZ_CHECKBUF));
    }
    return 0;
}
