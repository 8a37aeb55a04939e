/*
 * tiny_fuzzer.c — the tiny allocator (mcache.c; the tiny branch of Go's mallocgc) on a
 * one-P private heap, against a model of Go's tinyoffset rule:
 *   - packing: an object that fits the current block after aligning tinyoffset (8 if
 *     size%8 == 0, 4 if %4, 2 if even) lands exactly at block + offset; otherwise a new,
 *     16-byte aligned block is started, which becomes current only if size < tinyoffset or
 *     there was none (Go keeps the block with more room left);
 *   - every tiny object reads as zeros when handed out and keeps its bytes until freed;
 *   - a new block never is a block that still holds a live object, the current block, or the
 *     block a cycle keeps alive;
 *   - block death: freeing the last live object of a block that is not current marks its slot
 *     dead at once; a block with a live object (or that is current) stays allocated;
 *   - after every forced cycle, MemStats agree with the shadow; gm_heap_check after every
 *     operation.
 * Cache flushes, sweep cycles the pacer starts and forced cycles all drop the current block;
 * the model follows by watching the cycle count.
 */
#include "fuzz_shadow.h"

typedef struct {
    uintptr_t block, off; /* Go's mcache.tiny and tinyoffset; block 0 = none */
} tiny_model;

static bool block_has_live(const shadow *sh, uintptr_t b)
{
    for (size_t k = 0; k < sh->n; k++)
        if (sh->o[k].p - sh->o[k].p % GM_TINY_SIZE == b) return true;
    return false;
}

static void tiny_alloc(gm_mheap *h, gm_m *m, shadow *sh, tiny_model *tm, size_t size)
{
    uint64_t cycles = atomic_load(&h->num_cycles);
    uintptr_t off = (tm->off + tiny_align(size) - 1) & ~(tiny_align(size) - 1);
    uintptr_t p = (uintptr_t)gm_heap_alloc(h, m, size, GM_NOSCAN);
    FUZZ_ASSERT(p, "tiny allocation of %zu failed", size);
    FUZZ_ASSERT(p % tiny_align(size) == 0, "tiny %zu-byte object %p misaligned", size, (void *)p);
    if (tm->block && off + size <= GM_TINY_SIZE) {
        FUZZ_ASSERT(p == tm->block + off, "tiny %zu bytes at %p, model packs it at %p", size,
                    (void *)p, (void *)(tm->block + off));
        tm->off = off + size;
    } else {
        FUZZ_ASSERT(p % GM_TINY_SIZE == 0, "new tiny block %p not 16-byte aligned", (void *)p);
        FUZZ_ASSERT(p != tm->block && !block_has_live(sh, p), "new tiny block %p is still in use",
                    (void *)p);
        gm_p *pp = &h->allp[0];
        FUZZ_ASSERT(!pp->tiny_survivor ||
                        p != pp->tiny_survivor->base + pp->tiny_survivor_block * GM_TINY_SIZE,
                    "new tiny block %p is the block the last cycle kept alive", (void *)p);
        if (size < tm->off || !tm->block) {
            tm->block = p;
            tm->off = size;
        }
    }
    if (atomic_load(&h->num_cycles) != cycles) tm->block = 0; /* the cycle dropped it */
    shadow_verify_zero(p, size);
    shadow_fill(shadow_add(sh, p, size, gm_heap_usable_size(h, (void *)p)), 0);
}

static void tiny_free(gm_mheap *h, gm_m *m, shadow *sh, tiny_model *tm, fuzz_input *in)
{
    if (!sh->n) return;
    shadow_obj *o = &sh->o[fuzz_range(in, 0, sh->n - 1)];
    uintptr_t b = o->p - o->p % GM_TINY_SIZE;
    shadow_verify(o, o->size);
    gm_heap_free(h, m, (void *)o->p);
    shadow_remove(sh, o);
    gm_mspan *s = gm_mheap_span_of(h, b);
    FUZZ_ASSERT(s && s->tiny_meta, "tiny block %p lost its span", (void *)b);
    uintptr_t idx = (b - s->base) / GM_TINY_SIZE;
    bool dead = (atomic_load(&s->freed_bits[idx / 64]) >> (idx % 64)) & 1;
    bool live = block_has_live(sh, b) || b == tm->block;
    FUZZ_ASSERT(dead == !live, "tiny block %p: dead %d, model says live %d (word %#x)", (void *)b,
                dead, live, atomic_load(&s->tiny_meta[idx]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    gm_mheap *h = fuzz_heap(1, fuzz_gc_percent(&in));
    gm_m m;
    gm_m_init(&m, h);
    static shadow sh;
    memset(&sh, 0, sizeof sh);
    tiny_model tm = {0, 0};
    for (int ops = 0; ops < FUZZ_MAX_OPS && fuzz_more(&in); ops++) {
        uint8_t op = fuzz_u8(&in) % 16;
        if (op < 8) {
            if (sh.n < SHADOW_MAX) tiny_alloc(h, &m, &sh, &tm, fuzz_range(&in, 1, 15));
        } else if (op < 13) {
            tiny_free(h, &m, &sh, &tm, &in);
        } else if (op == 13) {
            gm_heap_gc(h, &m);
            tm.block = 0;
            shadow_check_memstats(h, &m, &sh, true);
        } else if (op == 14) {
            gm_p *pp = gm_acquirep(&m); /* a cache flush (releaseAll) */
            gm_mcache_release_all(h, pp);
            gm_releasep(&m);
            tm.block = 0;
        } else {
            shadow_check_memstats(h, &m, &sh, false); /* flushes the cache too */
            tm.block = 0;
        }
        FUZZ_CHECK_HEAP(h);
    }
    gm_heap_destroy(h);
    return 0;
}
