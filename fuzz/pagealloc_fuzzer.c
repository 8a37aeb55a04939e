/*
 * pagealloc_fuzzer.c — Go's page allocator (pagealloc.c: mpagealloc.go, mpallocbits.go,
 * mpagecache.go) against the naive first-fit model of tests/pagealloc_model.h, driven by
 * the input: grows at a low frontier, a far one (across a root-summary boundary) or an
 * address the input names; allocations of 1 to thousands of pages; frees of whole runs or
 * pieces of them; two per-P page caches filled, drawn from and flushed.
 *   - every allocation returns the model's address and scavenged byte count (identical
 *     addresses: both are address-ordered first fit);
 *   - after every operation gm_pagealloc_check (every radix summary equals the summary
 *     recomputed from the bitmaps, search_addr, in_use) and the free/scavenged page counts
 *     equal the model's.
 * The page allocator never touches the pages it manages, so the addresses are made up.
 */
#include "fuzz_input.h"
#include "pagealloc_model.h"

#define CHUNK      ((uintptr_t)GM_CHUNK_BYTES)
#define TBASE      ((uintptr_t)0xc000000000)   /* 16 GiB aligned: Go's first arena hint */
#define FAR        ((uintptr_t)0x7f0000000000) /* a root-summary boundary */
#define MAX_GROWN  16
#define MAX_CHUNKS 32
#define MAX_LIVE   256

typedef struct {
    gm_pagealloc p;
    model m;
    struct {
        uintptr_t addr;
        size_t npages;
    } live[MAX_LIVE];
    size_t nlive;
    gm_pagecache cache[2], mcache[2];
    uintptr_t grown[MAX_GROWN][2];
    size_t ngrown, chunks;
    uintptr_t low_next, far_next;
} pa_state;

static void live_add(pa_state *s, uintptr_t addr, size_t n)
{
    if (s->nlive == MAX_LIVE) return; /* forgotten: it simply stays allocated */
    s->live[s->nlive].addr = addr;
    s->live[s->nlive++].npages = n;
}

static void pa_grow(pa_state *s, fuzz_input *in)
{
    size_t nch = fuzz_range(in, 1, 12);
    if (s->chunks + nch > MAX_CHUNKS || s->ngrown == MAX_GROWN) return;
    uintptr_t base, size = nch * CHUNK;
    switch (fuzz_u8(in) % 3) {
    case 0:
        base = s->low_next, s->low_next += size;
        break;
    case 1:
        base = s->far_next - size, s->far_next -= size;
        break;
    default: /* anywhere between, at a chunk the input names */
        base = TBASE + (uintptr_t)fuzz_u32(in) % ((FAR - TBASE) / CHUNK) * CHUNK;
    }
    for (size_t k = 0; k < s->ngrown; k++)
        if (base < s->grown[k][1] && s->grown[k][0] < base + size) return; /* not fresh */
    FUZZ_ASSERT(gm_pagealloc_grow(&s->p, base, size) == 0, "grow(%#lx, %zu) failed",
                (unsigned long)base, (size_t)size);
    model_grow(&s->m, base, nch * GM_CHUNK_PAGES);
    s->grown[s->ngrown][0] = base;
    s->grown[s->ngrown++][1] = base + size;
    s->chunks += nch;
}

static size_t pa_npages(fuzz_input *in)
{
    switch (fuzz_u8(in) % 6) {
    case 0:
    case 1:
        return 1;
    case 2:
        return fuzz_range(in, 2, 16);
    case 3:
        return fuzz_range(in, 17, 64);
    case 4:
        return fuzz_range(in, 65, 600);
    default:
        return fuzz_range(in, 601, 6000);
    }
}

static void pa_alloc(pa_state *s, fuzz_input *in)
{
    size_t n = pa_npages(in), scav = 1, mscav;
    uintptr_t a = gm_pagealloc_alloc(&s->p, n, &scav);
    uintptr_t ma = model_alloc(&s->m, n, &mscav);
    FUZZ_ASSERT(a == ma, "alloc(%zu pages) = %#lx, first fit says %#lx", n, (unsigned long)a,
                (unsigned long)ma);
    FUZZ_ASSERT(!a || scav == mscav, "alloc(%zu pages) at %#lx: scavenged %zu, model %zu", n,
                (unsigned long)a, scav, mscav);
    if (a) live_add(s, a, n);
}

/* Free a live run, or a piece of it (the rest stays live). */
static void pa_free(pa_state *s, fuzz_input *in)
{
    if (!s->nlive) return;
    size_t k = fuzz_range(in, 0, s->nlive - 1);
    uintptr_t addr = s->live[k].addr;
    size_t total = s->live[k].npages, off = 0, n = total;
    if (total > 1 && fuzz_u8(in) % 4 == 0) {
        off = fuzz_range(in, 0, total - 1);
        n = fuzz_range(in, 1, total - off);
    }
    gm_pagealloc_free(&s->p, addr + off * GM_PAGE_SIZE, n);
    model_free(&s->m, addr + off * GM_PAGE_SIZE, n);
    s->live[k] = s->live[--s->nlive];
    if (off) live_add(s, addr, off);
    if (off + n < total) live_add(s, addr + (off + n) * GM_PAGE_SIZE, total - off - n);
}

static void pa_cache(pa_state *s, fuzz_input *in)
{
    size_t k = fuzz_u8(in) & 1;
    gm_pagecache *c = &s->cache[k], *mc = &s->mcache[k];
    uint8_t op = fuzz_u8(in) % 4;
    if (c->cache == 0 && op != 3) {
        *c = gm_pagealloc_alloc_to_cache(&s->p);
        *mc = model_to_cache(&s->m);
        FUZZ_ASSERT(c->base == mc->base && c->cache == mc->cache && c->scav == mc->scav,
                    "allocToCache = (%#lx, %#llx, %#llx), model (%#lx, %#llx, %#llx)",
                    (unsigned long)c->base, (unsigned long long)c->cache,
                    (unsigned long long)c->scav, (unsigned long)mc->base,
                    (unsigned long long)mc->cache, (unsigned long long)mc->scav);
    } else if (op == 3) {
        gm_pagecache_flush(c, &s->p);
        model_flush(&s->m, mc);
    } else {
        size_t n = op == 0 ? fuzz_range(in, 0, 70) : fuzz_range(in, 1, 8), scav = 3, mscav;
        uintptr_t a = gm_pagecache_alloc(c, n, &scav);
        uintptr_t ma = model_cache_alloc(mc, n, &mscav);
        FUZZ_ASSERT(a == ma, "pageCache.alloc(%zu) = %#lx, model %#lx", n, (unsigned long)a,
                    (unsigned long)ma);
        FUZZ_ASSERT(!a || scav == mscav, "pageCache.alloc(%zu): scavenged %zu, model %zu", n, scav,
                    mscav);
        if (a) live_add(s, a, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    static pa_state s;
    free(s.m.pg);
    memset(&s, 0, sizeof s);
    s.low_next = TBASE;
    s.far_next = FAR + 4 * CHUNK; /* growing down crosses the root boundary at FAR */
    FUZZ_ASSERT(gm_pagealloc_init(&s.p, NULL) == 0, "gm_pagealloc_init failed");
    pa_grow(&s, &in);
    /* The checker recomputes every summary: fewer operations per input keep exec/s up. */
    for (int ops = 0; ops < FUZZ_MAX_OPS / 4 && fuzz_more(&in); ops++) {
        uint8_t op = fuzz_u8(&in) % 16;
        if (op < 6)
            pa_alloc(&s, &in);
        else if (op < 10)
            pa_free(&s, &in);
        else if (op < 14)
            pa_cache(&s, &in);
        else
            pa_grow(&s, &in);
        FUZZ_CHECK(gm_pagealloc_check(&s.p, FUZZ_CHECKBUF));
        FUZZ_ASSERT(gm_pagealloc_free_pages(&s.p) == s.m.nfree, "free pages %zu, model %zu",
                    gm_pagealloc_free_pages(&s.p), s.m.nfree);
        FUZZ_ASSERT(gm_pagealloc_scavenged_pages(&s.p) == s.m.nscav,
                    "scavenged pages %zu, model %zu", gm_pagealloc_scavenged_pages(&s.p),
                    s.m.nscav);
    }
    gm_pagealloc_destroy(&s.p);
    free(s.m.pg);
    s.m.pg = NULL;
    return 0;
}
