/*
 * api_fuzzer.c — the whole public API (malloc, calloc, realloc, free, aligned allocation,
 * usable size, explicit flags, GC, MemStats) on a private heap, through the gm_heap_* entry
 * points the public functions wrap, against the shadow table of fuzz_shadow.h:
 *   - no two live objects overlap; usable size >= requested; alignment holds (Go's tiny
 *     alignment by size, 8 bytes for every class object, the asked alignment for aligned
 *     allocation);
 *   - every object keeps the bytes written into it until it is freed (verified before every
 *     free and realloc); realloc keeps the old prefix; zeroed requests read as zeros;
 *   - after every forced cycle, MemStats' HeapAlloc and HeapObjects equal the shadow's sums;
 *   - gm_heap_check after every operation (heap profiling's checker included: private heaps
 *     sample at rate 0, 1 or 4096 by the mode byte, each M its own site).
 * Two Ms share a heap of one to three Ps, so operations land on different mcaches. One
 * input in four runs instead through the public functions themselves (gm_malloc, gm_calloc,
 * gm_realloc, gm_free, gm_aligned_alloc, gm_posix_memalign, gm_usable_size, gm_gc,
 * gm_read_memstats) on the process heap, which outlives the input: everything the input
 * allocated is freed and swept at its end, so the next input starts from an empty heap.
 */
#include <errno.h>

#include "fuzz_shadow.h"

static bool public_api; /* this input drives the process heap through gomalloc.h */

static void *api_alloc_call(gm_mheap *h, gm_m *m, size_t size, unsigned flags)
{
    if (!public_api) return gm_heap_alloc(h, m, size ? size : 1, flags);
    if (flags == GM_NOSCAN) return gm_malloc(size);
    if (flags == (GM_NOSCAN | GM_ZERO)) /* calloc, split into nmemb x size when it divides */
        return size % 4 == 0 ? gm_calloc(4, size / 4) : gm_calloc(size, 1);
    return gm_alloc(size ? size : 1, flags);
}

static void *api_aligned_call(gm_mheap *h, gm_m *m, size_t align, size_t size)
{
    if (!public_api) return gm_heap_alloc_aligned(h, m, align, size, GM_NOSCAN);
    void *v = NULL;
    if (size % 2) return gm_aligned_alloc(align, size);
    FUZZ_ASSERT(gm_posix_memalign(&v, align, size) == 0, "posix_memalign(%zu, %zu)", align, size);
    return v;
}

static void api_free_call(gm_mheap *h, gm_m *m, void *p)
{
    if (public_api)
        gm_free(p);
    else
        gm_heap_free(h, m, p);
}

static void *api_realloc_call(gm_mheap *h, gm_m *m, void *p, size_t size)
{
    return public_api ? gm_realloc(p, size) : gm_heap_realloc(h, m, p, size);
}

static size_t api_usable(gm_mheap *h, void *p)
{
    return public_api ? gm_usable_size(p) : gm_heap_usable_size(h, p);
}

static void api_gc(gm_mheap *h, gm_m *m)
{
    if (public_api)
        gm_gc();
    else
        gm_heap_gc(h, m);
}

/* A request size: mostly small, with class boundaries, tiny sizes and a few large ones. */
static size_t api_size(fuzz_input *in)
{
    uint8_t sel = fuzz_u8(in) % 16;
    if (sel < 4) return fuzz_range(in, 1, GM_TINY_SIZE - 1);
    if (sel < 9) return fuzz_range(in, 16, 1024);
    if (sel < 12) return fuzz_range(in, 1025, GM_MAX_SMALL_SIZE);
    if (sel == 12) {
        size_t c = fuzz_range(in, 1, GM_NUM_SIZE_CLASSES - 1);
        return gm_class_to_size[c] + fuzz_range(in, 0, 2) - 1; /* size-1, size, size+1 */
    }
    if (sel < 15) return fuzz_range(in, GM_MAX_SMALL_SIZE + 1, 256 << 10);
    return 0;
}

static void check_alignment(uintptr_t p, size_t size, size_t usable, bool tiny)
{
    size_t want = tiny ? tiny_align(size) : usable >= 8 ? 8 : 1;
    FUZZ_ASSERT(p % want == 0, "object %p of size %zu: not %zu-aligned", (void *)p, size, want);
}

/* Record a fresh object: checks, then pattern-fill. zeroed: the request asked for zeros. */
static void api_record(gm_mheap *h, shadow *sh, void *v, size_t size, bool zeroed)
{
    uintptr_t p = (uintptr_t)v;
    size_t usable = api_usable(h, v);
    if (size == 0) size = 1; /* gm_malloc(0) asks for one byte */
    check_alignment(p, size, usable, tiny_block_of(h, p) != 0);
    if (zeroed) shadow_verify_zero(p, size);
    shadow_fill(shadow_add(sh, p, size, usable), 0);
}

static void api_alloc(gm_mheap *h, gm_m *m, shadow *sh, fuzz_input *in, uint8_t op)
{
    size_t size = api_size(in);
    unsigned flags = GM_NOSCAN;
    if (op == 1) flags = (fuzz_u8(in) & 1 ? GM_SCAN : GM_NOSCAN) | GM_ZERO; /* gm_alloc */
    if (op == 2) flags = GM_NOSCAN | GM_ZERO;                               /* calloc */
    errno = 0;
    void *v = api_alloc_call(h, m, size, flags);
    FUZZ_ASSERT(v, "allocation of %zu bytes failed (errno %d)", size, errno);
    api_record(h, sh, v, size, flags & GM_ZERO);
}

static void api_aligned(gm_mheap *h, gm_m *m, shadow *sh, fuzz_input *in)
{
    size_t align = (size_t)1 << fuzz_range(in, 3, 16), size = api_size(in);
    void *v = api_aligned_call(h, m, align, size);
    FUZZ_ASSERT(v, "aligned_alloc(%zu, %zu) failed", align, size);
    FUZZ_ASSERT((uintptr_t)v % align == 0, "aligned_alloc(%zu, %zu) = %p", align, size, v);
    api_record(h, sh, v, size, false);
}

static void api_free(gm_mheap *h, gm_m *m, shadow *sh, fuzz_input *in)
{
    if (!sh->n) return;
    shadow_obj *o = &sh->o[fuzz_range(in, 0, sh->n - 1)];
    shadow_verify(o, o->size);
    api_free_call(h, m, (void *)o->p);
    shadow_remove(sh, o);
}

static void api_realloc(gm_mheap *h, gm_m *m, shadow *sh, fuzz_input *in)
{
    size_t size = api_size(in);
    if (!sh->n || fuzz_u8(in) % 8 == 0) { /* realloc(NULL, n) allocates */
        void *v = api_realloc_call(h, m, NULL, size);
        FUZZ_ASSERT(v, "realloc(NULL, %zu) failed", size);
        api_record(h, sh, v, size, false);
        return;
    }
    shadow_obj *o = &sh->o[fuzz_range(in, 0, sh->n - 1)];
    shadow_verify(o, o->size);
    shadow_obj old = *o;
    void *v = api_realloc_call(h, m, (void *)o->p, size);
    shadow_remove(sh, o);
    if (size == 0) { /* realloc(p, 0) frees p and returns NULL */
        FUZZ_ASSERT(!v, "realloc(%p, 0) returned %p", (void *)old.p, v);
        return;
    }
    FUZZ_ASSERT(v, "realloc(%p, %zu) failed", (void *)old.p, size);
    shadow_obj *n = shadow_add(sh, (uintptr_t)v, size, api_usable(h, v));
    shadow_verify_fill(n->p, old.seed, old.size, size); /* the old prefix survived the move */
    shadow_fill(n, 0);
}

static void api_step(gm_mheap *h, gm_m *ms, shadow *sh, fuzz_input *in)
{
    uint8_t b = fuzz_u8(in);
    gm_m *m = &ms[b >> 7];
    uint8_t op = b % 12;
    switch (op) {
    case 0:
    case 1:
    case 2:
        if (sh->n < SHADOW_MAX) api_alloc(h, m, sh, in, op);
        break;
    case 3:
        if (sh->n < SHADOW_MAX) api_aligned(h, m, sh, in);
        break;
    case 4:
    case 5:
    case 6:
        api_free(h, m, sh, in);
        break;
    case 7:
    case 8:
        if (sh->n < SHADOW_MAX) api_realloc(h, m, sh, in);
        break;
    case 9:
        if (sh->n) {
            shadow_obj *o = &sh->o[fuzz_range(in, 0, sh->n - 1)];
            FUZZ_ASSERT(api_usable(h, (void *)o->p) == o->usable, "usable size of %p changed",
                        (void *)o->p);
        }
        break;
    case 10:
        api_gc(h, m);
        shadow_check_memstats(h, m, sh, true);
        break;
    default:
        shadow_check_memstats(h, m, sh, false);
    }
    FUZZ_CHECK_HEAP(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    int nprocs = (int)fuzz_range(&in, 1, 3), gc_percent = fuzz_gc_percent(&in);
    public_api = mode % 4 == 3;
    gm_mheap *h = public_api ? gm_process_heap() : fuzz_heap(nprocs, gc_percent);
    gm_m ms[2];
    gm_m_init(&ms[0], h); /* with the process heap, only shadow_check_memstats uses them */
    gm_m_init(&ms[1], h);
    if (!public_api) { /* heap profiling: off, every allocation, or one per 4 KiB */
        static const int rates[3] = {0, 1, 4096};
        atomic_store(&h->prof.rate, rates[(mode >> 2) % 3]);
        ms[0].site = 1;
        ms[1].site = 2;
    }
    static shadow sh;
    memset(&sh, 0, sizeof sh);
    for (int ops = 0; ops < FUZZ_MAX_OPS && fuzz_more(&in); ops++) api_step(h, ms, &sh, &in);
    while (sh.n) { /* every object still holds its bytes at the end */
        shadow_verify(&sh.o[sh.n - 1], sh.o[sh.n - 1].size);
        api_free_call(h, &ms[0], (void *)sh.o[sh.n - 1].p);
        sh.n--;
    }
    api_gc(h, &ms[0]);
    shadow_check_memstats(h, &ms[0], &sh, true);
    FUZZ_CHECK_HEAP(h);
    if (public_api) {
        gm_m_detach(&ms[0]);
        gm_m_detach(&ms[1]);
        gm_thread_detach(); /* flushes this thread's M: the next input starts clean */
    } else {
        gm_heap_destroy(h);
    }
    return 0;
}
