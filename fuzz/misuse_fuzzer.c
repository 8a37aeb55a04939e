/*
 * misuse_fuzzer.c — caller misuse is always detected (malloc.c's gm_heap_free and
 * gm_heap_realloc, mcache.c's gm_tiny_free, mheap.c's large-object free). The misuse hook of
 * gm_testing.h longjmps back here instead of aborting, so one input can commit many
 * mistakes in a row on one heap. The input mixes tiny, small and large objects with frees of
 * pointers that are freed already (before and after sweeps, so slots get reused), interior
 * to live or dead objects, just past an object, into freed large pages, or outside any heap,
 * and reallocs of such pointers.
 *   - exactly the frees the shadow calls invalid are reported: free(q) is legitimate if and
 *     only if q is the start of a live object (a freed slot handed out again is a live
 *     object again, so freeing it is fine and frees the new one);
 *   - a reported misuse leaves the heap untouched: gm_heap_check after every operation, and
 *     every live object keeps its bytes.
 */
#include <setjmp.h>

#include "fuzz_shadow.h"

static jmp_buf misuse_jmp;
static const char *misuse_what;

static void on_misuse(const char *what, const void *p)
{
    (void)p;
    misuse_what = what;
    longjmp(misuse_jmp, 1);
}

typedef struct {
    uintptr_t dead[64]; /* recently freed objects, for double frees */
    size_t ndead;
} graveyard;

static size_t mu_size(fuzz_input *in)
{
    switch (fuzz_u8(in) % 4) {
    case 0:
        return fuzz_range(in, 1, 15);
    case 1:
    case 2:
        return fuzz_range(in, 16, 4096);
    default:
        return fuzz_range(in, GM_MAX_SMALL_SIZE + 1, 128 << 10);
    }
}

/* A pointer to free: often wrong, sometimes right. */
static uintptr_t mu_target(shadow *sh, graveyard *g, fuzz_input *in)
{
    static uint8_t not_heap[64];
    uint8_t how = fuzz_u8(in) % 8;
    if ((how <= 1 || how == 5) && g->ndead) {
        uintptr_t d = g->dead[fuzz_range(in, 0, g->ndead - 1)];
        return how == 5 ? d + fuzz_range(in, 1, 64) : d; /* double free, or into dead memory */
    }
    if (how == 6) return (uintptr_t)&not_heap[fuzz_range(in, 0, 63)];
    if (how == 7) return (uintptr_t)fuzz_u64(in);
    if (!sh->n) return 0;
    shadow_obj *o = &sh->o[fuzz_range(in, 0, sh->n - 1)];
    if (how == 2) return o->p; /* legitimate */
    if (how == 3) return o->p + fuzz_range(in, 1, o->usable - 1 ? o->usable - 1 : 1); /* inside */
    return o->p + o->usable; /* just past its end */
}

static void bury(graveyard *g, uintptr_t p)
{
    if (g->ndead < 64)
        g->dead[g->ndead++] = p;
    else
        g->dead[p % 64] = p;
}

/* Free (or realloc) q: detected as misuse exactly when q starts no live object. */
static void mu_free(gm_mheap *h, gm_m *m, shadow *sh, graveyard *g, uintptr_t q, bool realloc,
                    size_t realloc_size)
{
    volatile uintptr_t moved = 0;
    if (!q) return; /* free(NULL) does nothing; realloc(NULL, 0) allocates (api_fuzzer) */
    shadow_obj *volatile o = shadow_find(sh, q);
    if (o) shadow_verify(o, o->size);
    volatile bool caught = false;
    misuse_what = NULL;
    if (setjmp(misuse_jmp) == 0) {
        if (realloc) { /* realloc(q, 0) frees q; otherwise q moves or stays */
            void *v = gm_heap_realloc(h, m, (void *)q, realloc_size);
            FUZZ_ASSERT(!v == !realloc_size, "realloc(%p, %zu) returned %p", (void *)q,
                        realloc_size, v);
            moved = (uintptr_t)v;
        } else {
            gm_heap_free(h, m, (void *)q);
        }
    } else {
        caught = true;
    }
    FUZZ_ASSERT(caught == !o, "%s(%p): %s, but the shadow says it %s a live object",
                realloc ? "realloc" : "free", (void *)q, caught ? misuse_what : "accepted",
                o ? "starts" : "starts no");
    if (!o) return;
    shadow_obj old = *o;
    shadow_remove(sh, o);
    if (moved) { /* the new object keeps the old prefix; q is dead unless it stayed */
        shadow_obj *n = shadow_add(sh, moved, realloc_size, gm_heap_usable_size(h, (void *)moved));
        shadow_verify_fill(moved, old.seed, old.size, realloc_size);
        shadow_fill(n, 0);
    }
    if (moved != q) bury(g, q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    gm_misuse_handler prev = gm_set_misuse_handler(on_misuse);
    gm_mheap *h = fuzz_heap(1, fuzz_gc_percent(&in));
    gm_m m;
    gm_m_init(&m, h);
    static shadow sh;
    static graveyard g;
    memset(&sh, 0, sizeof sh);
    memset(&g, 0, sizeof g);
    for (int ops = 0; ops < FUZZ_MAX_OPS && fuzz_more(&in); ops++) {
        uint8_t op = fuzz_u8(&in) % 8;
        if (op < 3) {
            if (sh.n < SHADOW_MAX) {
                size_t n = mu_size(&in);
                void *v = gm_heap_alloc(h, &m, n, GM_NOSCAN);
                FUZZ_ASSERT(v, "allocation of %zu failed", n);
                shadow_fill(shadow_add(&sh, (uintptr_t)v, n, gm_heap_usable_size(h, v)), 0);
            }
        } else if (op < 7) {
            uintptr_t q = mu_target(&sh, &g, &in);
            mu_free(h, &m, &sh, &g, q, op == 6, op == 6 ? mu_size(&in) * (fuzz_u8(&in) & 1) : 0);
        } else {
            gm_heap_gc(h, &m); /* dead slots become free and can be handed out again */
        }
        FUZZ_CHECK_HEAP(h);
    }
    for (size_t k = 0; k < sh.n; k++) shadow_verify(&sh.o[k], sh.o[k].size);
    gm_heap_destroy(h);
    gm_set_misuse_handler(prev);
    return 0;
}
