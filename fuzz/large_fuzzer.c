/*
 * large_fuzzer.c — large objects (> 32 KiB: mheap.c allocSpan/freeSpan, Go's largeAlloc) on
 * a private heap: plain, zeroed, page-aligned and over-aligned requests, frees, reallocs
 * between large sizes, reclaiming sweeps, forced cycles.
 *   - the object is the base of its own span of ceil(size/8 KiB) pages; usable size is that
 *     many pages; the asked alignment holds;
 *   - no two live objects overlap; each keeps its bytes until freed; realloc keeps the
 *     prefix; zeroed requests read as zeros, also on pages that held an earlier object;
 *   - HeapAlloc and HeapObjects equal the shadow's sums after every operation (large objects
 *     are freed at once, so there is no unswept garbage to allow for);
 *   - gm_heap_check after every operation.
 */
#include "fuzz_shadow.h"

static size_t large_size(fuzz_input *in)
{
    switch (fuzz_u8(in) % 8) {
    case 0:
        return GM_MAX_SMALL_SIZE + fuzz_range(in, 1, 16);
    case 1: /* exactly k pages, or one byte past */
        return fuzz_range(in, 5, 64) * GM_PAGE_SIZE + (fuzz_u8(in) & 1);
    case 7:
        return fuzz_range(in, 256 << 10, 1 << 20);
    default:
        return fuzz_range(in, GM_MAX_SMALL_SIZE + 1, 256 << 10);
    }
}

/* Check a fresh (or reallocated) object and record it; the caller fills it. */
static shadow_obj *large_record(gm_mheap *h, shadow *sh, void *v, size_t size, size_t align,
                                bool zeroed)
{
    uintptr_t p = (uintptr_t)v;
    size_t npages = (size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE;
    gm_mspan *s = gm_mheap_span_of(h, p);
    FUZZ_ASSERT(s && s->base == p && s->npages == npages && s->div_mul == 0,
                "large object %p (size %zu): span %p of %zu pages", v, size,
                s ? (void *)s->base : NULL, s ? s->npages : 0);
    FUZZ_ASSERT(p % align == 0, "large object %p not %zu-aligned", v, align);
    size_t usable = gm_heap_usable_size(h, v);
    FUZZ_ASSERT(usable == npages * GM_PAGE_SIZE, "large object %p: usable %zu for %zu pages", v,
                usable, npages);
    if (zeroed) shadow_verify_zero(p, usable);
    return shadow_add(sh, p, size, usable);
}

static void large_step(gm_mheap *h, gm_m *m, shadow *sh, fuzz_input *in)
{
    uint8_t op = fuzz_u8(in) % 10;
    if (op < 4 && sh->n < SHADOW_MAX) {
        size_t size = large_size(in), align = GM_PAGE_SIZE;
        void *v;
        if (op == 3) {
            align = (size_t)1 << fuzz_range(in, 13, 21);
            v = gm_heap_alloc_aligned(h, m, align, size, GM_NOSCAN | GM_ZERO);
        } else {
            v = gm_heap_alloc(h, m, size, (op == 2 ? GM_SCAN : GM_NOSCAN) | GM_ZERO * (op != 0));
        }
        FUZZ_ASSERT(v, "large allocation of %zu bytes failed", size);
        shadow_fill(large_record(h, sh, v, size, align, op != 0), 0);
    } else if (op < 7 && sh->n) {
        shadow_obj *o = &sh->o[fuzz_range(in, 0, sh->n - 1)];
        shadow_verify(o, o->size);
        gm_heap_free(h, m, (void *)o->p);
        shadow_remove(sh, o);
    } else if (op < 9 && sh->n) {
        shadow_obj *o = &sh->o[fuzz_range(in, 0, sh->n - 1)], old = *o;
        size_t size = large_size(in);
        shadow_verify(o, o->size);
        shadow_remove(sh, o);
        void *v = gm_heap_realloc(h, m, (void *)old.p, size);
        FUZZ_ASSERT(v, "realloc(%p, %zu) failed", (void *)old.p, size);
        shadow_obj *n = large_record(h, sh, v, size, GM_PAGE_SIZE, false);
        shadow_verify_fill(n->p, old.seed, old.size, size); /* the old prefix survived */
        shadow_fill(n, 0);
    } else if (op == 9) {
        gm_heap_gc(h, m);
    }
    shadow_check_memstats(h, m, sh, true);
    FUZZ_CHECK_HEAP(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    gm_mheap *h = fuzz_heap((int)fuzz_range(&in, 1, 2), fuzz_gc_percent(&in));
    gm_m m;
    gm_m_init(&m, h);
    static shadow sh;
    memset(&sh, 0, sizeof sh);
    for (int ops = 0; ops < FUZZ_MAX_OPS / 2 && fuzz_more(&in); ops++) large_step(h, &m, &sh, &in);
    gm_heap_destroy(h);
    return 0;
}
