/*
 * mcentral_fuzzer.c — the span traffic between mcaches, mcentrals and the page heap
 * (mcache.c refill/releaseAll, mcentral.c cacheSpan/uncacheSpan/sweepone, the reclaimer,
 * sweep cycles: Go's mcache.go, mcentral.go, mgcsweep.go). The input picks four span classes
 * (with many objects per span, so spans fill, empty and change sets often), a heap of one to
 * three Ps and GOGC, then drives three Ms through:
 *   - bursts of allocations of one class on one M's P (refill when a span fills);
 *   - frees of any live object from any M (spans become partially or wholly dead);
 *   - releaseAll of a P's cache (uncacheSpan of fresh and stale spans), sweepone, reclaim,
 *     an M's detach (its freed bytes reach the pacer) with the paced cycle that may follow,
 *     and forced cycles (the sweepgen += 2 transitions), MemStats;
 * with gm_heap_check (every span in exactly one set or cache, sweepgen of each set, counts
 * recounted against statistics) after every operation, and after every forced cycle the
 * live count per size class from MemStats equal to the shadow's.
 */
#include "fuzz_shadow.h"

#define MC_MAX_LIVE 2048

typedef struct {
    uintptr_t p[MC_MAX_LIVE];
    uint8_t cls[MC_MAX_LIVE]; /* index into classes[] */
    size_t n;
    uint8_t classes[4];
    bool scan[4];
} mc_state;

static void mc_alloc(gm_mheap *h, gm_m *m, mc_state *st, fuzz_input *in)
{
    uint8_t k = fuzz_u8(in) % 4;
    size_t count = fuzz_range(in, 1, 64), size = gm_class_to_size[st->classes[k]];
    for (size_t i = 0; i < count && st->n < MC_MAX_LIVE; i++) {
        uintptr_t p = (uintptr_t)gm_heap_alloc(h, m, size, st->scan[k] ? GM_SCAN : GM_NOSCAN);
        FUZZ_ASSERT(p, "allocation of %zu bytes failed", size);
        gm_mspan *s = gm_mheap_span_of(h, p);
        FUZZ_ASSERT(s && s->spanclass == gm_make_spanclass(st->classes[k], !st->scan[k]) &&
                        (p - s->base) % size == 0,
                    "object %p of class %u is not a slot of a span of its class", (void *)p,
                    st->classes[k]);
        /* A slot handed out twice would be two equal pointers (spans are disjoint). */
        for (size_t j = 0; j < st->n; j++)
            FUZZ_ASSERT(st->p[j] != p, "slot %p handed out twice", (void *)p);
        st->p[st->n] = p;
        st->cls[st->n++] = k;
    }
}

static void mc_free(gm_mheap *h, gm_m *m, mc_state *st, fuzz_input *in)
{
    size_t count = fuzz_range(in, 1, 32);
    for (size_t i = 0; i < count && st->n; i++) {
        size_t j = fuzz_range(in, 0, st->n - 1);
        gm_heap_free(h, m, (void *)st->p[j]);
        st->n--;
        st->p[j] = st->p[st->n];
        st->cls[j] = st->cls[st->n];
    }
}

/* After a forced cycle everything dead is swept: per class, mallocs - frees == live. */
static void mc_check_counts(gm_mheap *h, gm_m *m, const mc_state *st)
{
    gm_memstats ms;
    gm_heap_read_memstats(h, m, &ms);
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        uint64_t live = 0;
        for (size_t j = 0; j < st->n; j++) live += st->classes[st->cls[j]] == c;
        uint64_t got = ms.by_size[c].mallocs - ms.by_size[c].frees;
        FUZZ_ASSERT(got == live, "class %d: MemStats say %llu live, shadow %llu", c,
                    (unsigned long long)got, (unsigned long long)live);
    }
}

static void mc_step(gm_mheap *h, gm_m *ms, mc_state *st, fuzz_input *in)
{
    uint8_t b = fuzz_u8(in);
    gm_m *m = &ms[(b >> 4) % 3];
    switch (b % 16) {
    case 0 ... 5:
        mc_alloc(h, m, st, in);
        break;
    case 6 ... 9:
        mc_free(h, m, st, in);
        break;
    case 10: { /* releaseAll: the P's spans go back to their mcentrals */
        gm_p *pp = gm_acquirep(m);
        gm_mcache_release_all(h, pp);
        gm_releasep(m);
        break;
    }
    case 11: {
        gm_p *pp = gm_acquirep(m);
        gm_mcentral_sweep_one(h, pp);
        gm_releasep(m);
        break;
    }
    case 12: {
        gm_p *pp = gm_acquirep(m);
        gm_mheap_reclaim(h, pp, fuzz_range(in, 1, 8));
        gm_releasep(m);
        break;
    }
    case 13:
        /* As a thread exit: flush the M's freed bytes to the pacer (they are batched per M,
         * 64 KiB at a time) and its P's cache; then a cycle starts if the pacer says so, and
         * the spans it leaves unswept are swept lazily by cacheSpan and the reclaimer. */
        gm_m_detach(m);
        gm_heap_start_cycle(h, m, false);
        break;
    case 14:
        gm_heap_gc(h, m);
        mc_check_counts(h, m, st);
        break;
    default: {
        gm_memstats s;
        gm_heap_read_memstats(h, m, &s);
    }
    }
    FUZZ_CHECK_HEAP(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    static mc_state st;
    memset(&st, 0, sizeof st);
    for (int k = 0; k < 4; k++) {
        /* Classes 2..40 (16 B .. 2 KiB, 4 to 512 objects per span) and one up to 32 KiB (so
         * frees add up to the pacer's trigger); 16-byte noscan objects
         * share span class 5 with the tiny allocator's blocks. */
        st.classes[k] = (uint8_t)fuzz_range(&in, 2, k < 3 ? 40 : GM_NUM_SIZE_CLASSES - 1);
        st.scan[k] = fuzz_u8(&in) & 1;
    }
    gm_mheap *h = fuzz_heap((int)fuzz_range(&in, 1, 3), fuzz_gc_percent(&in));
    gm_m ms[3];
    for (int i = 0; i < 3; i++) gm_m_init(&ms[i], h);
    for (int ops = 0; ops < FUZZ_MAX_OPS && fuzz_more(&in); ops++) mc_step(h, ms, &st, &in);
    gm_heap_gc(h, &ms[0]);
    mc_check_counts(h, &ms[0], &st);
    FUZZ_CHECK_HEAP(h);
    gm_heap_destroy(h);
    return 0;
}
