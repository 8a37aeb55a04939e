/*
 * test_tiny.c — the tiny allocator (mcache.c; Go: the tiny branch of mallocgc, malloc.go
 * 933-1005), reference §3, §10.1, §10.2 and Appendix A items 2, 3 and 6.
 *
 * Pointer-free requests under 16 bytes share 16-byte blocks of span class 5, aligned by size;
 * a new block becomes current only if it keeps more room than the old one. The model adds
 * per-block metadata so that explicit frees can kill a block once all of its objects are
 * freed and it is no longer current; usable_size is exact per object; misuse aborts naming the
 * pointer (checked in fork() death tests). Every case uses a private one-P heap with GOGC off
 * and runs gm_heap_check after every step.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gm_test.h"
#include "gm_testing.h"

static gm_mcache *mc(gm_mheap *h)
{
    return &h->allp[0].mcache;
}
static uintptr_t tiny_alloc(gm_mheap *h, gm_m *m, size_t n)
{
    return (uintptr_t)gm_heap_alloc(h, m, n, GM_NOSCAN);
}
/* Is the 16-byte slot holding address b recorded as freed (dead, not yet swept)? */
static bool slot_freed(gm_mheap *h, uintptr_t b)
{
    gm_mspan *s = gm_mheap_span_of(h, b);
    uintptr_t i = (b - s->base) / GM_TINY_SIZE;
    return (atomic_load(&s->freed_bits[i / 64]) >> (i % 64)) & 1;
}

/* ---- placement ----------------------------------------------------------------------------- */

/* Reference §3 worked example and Appendix A item 3 (verified against go1.19.8). */
static void test_worked_example(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    static const size_t sizes[8] = {12, 12, 12, 4, 1, 8, 2, 16};
    static const uintptr_t want[8] = {0, 16, 32, 12, 48, 56, 64, 80};
    uintptr_t p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = tiny_alloc(h, &m, sizes[i]);
        CHECK_EQ(p[i] - p[0], want[i]);
        CHECK_HEAP(h);
    }
    gm_mspan *s = gm_mheap_span_of(h, p[0]);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ(s->spanclass, GM_TINY_SPANCLASS);
    CHECK_EQ(p[0], s->base);               /* X is the first slot of a fresh span */
    CHECK(gm_mheap_span_of(h, p[7]) == s); /* the 16-byte object shares spc 5 */
    CHECK_EQ(s->alloc_count, 6);           /* X, Y, Z, W, V and the 16-byte object */
    CHECK_EQ(mc(h)->tiny, p[0] + 64);      /* V is current ... */
    CHECK_EQ(mc(h)->tinyoffset, 2);        /* ... holding the 2-byte object */
    CHECK_EQ(mc(h)->tiny_allocs, 2);       /* the 4 and the 8 were combined */
    for (int i = 0; i < 8; i++) CHECK_EQ(gm_heap_usable_size(h, (void *)p[i]), sizes[i]);
    CHECK_EQ(gm_heap_usable_size(h, (void *)(p[0] + 1)), 0); /* not an object start */
    CHECK_EQ(gm_heap_usable_size(h, (void *)(p[0] + 13)), 0);
    gm_heap_destroy(h);
}

typedef struct {
    size_t sizes[6];
    intptr_t want[6]; /* offset from the first object */
} tiny_case;

static void test_alignment_and_block_choice(void)
{
    static const tiny_case cases[] = {
        {{1, 2}, {0, 2}},               /* even: 2-aligned */
        {{1, 4}, {0, 4}},               /* %4: 4-aligned */
        {{1, 8}, {0, 8}},               /* %8: 8-aligned */
        {{1, 6}, {0, 2}},               /* 6 is even, not %4 */
        {{1, 12}, {0, 4}},              /* 12 is %4, not %8 (on 64-bit) */
        {{3, 3, 3}, {0, 3, 6}},         /* odd: unaligned */
        {{5, 5, 5, 1}, {0, 5, 10, 15}}, /* fills the block to byte 15 */
        {{2, 4, 8}, {0, 4, 8}},
        {{7, 8}, {0, 8}},
        {{9, 7}, {0, 9}}, /* 9+7 = 16 exactly fits */
        {{15, 1}, {0, 15}},
        {{15, 2}, {0, 16}},         /* 2 cannot follow at 16: new block, now current */
        {{4, 13, 4}, {0, 16, 4}},   /* 13 < 4 is false: old block stays current */
        {{12, 8, 8}, {0, 16, 24}},  /* 8 < 12: the new block becomes current */
        {{12, 12, 4}, {0, 16, 12}}, /* 12 < 12 is false: X stays current */
        {{9, 8, 7}, {0, 16, 24}},   /* 8 < 9: the new block is current, 7 follows 8 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gm_m m;
        gm_mheap *h = gm_test_heap(&m, 1, -1);
        uintptr_t first = 0;
        for (int i = 0; i < 6 && cases[c].sizes[i]; i++) {
            uintptr_t p = tiny_alloc(h, &m, cases[c].sizes[i]);
            if (i == 0) first = p;
            if ((intptr_t)(p - first) != cases[c].want[i]) {
                fprintf(stderr, "  case %zu object %d (size %zu): offset %ld, want %ld\n", c, i,
                        cases[c].sizes[i], (long)(p - first), (long)cases[c].want[i]);
                CHECK(0);
            }
            CHECK_EQ(gm_heap_usable_size(h, (void *)p), cases[c].sizes[i]);
            CHECK_HEAP(h);
        }
        gm_heap_destroy(h);
    }
}

static void test_not_tiny(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t x = tiny_alloc(h, &m, 4); /* block X, offset 4 */
    /* 16 bytes is not tiny: its own slot of class 2 noscan, even with room left in X. */
    uintptr_t s16 = tiny_alloc(h, &m, 16);
    CHECK_EQ(s16, x + 16);
    CHECK_EQ(gm_heap_usable_size(h, (void *)s16), 16);
    CHECK_EQ(mc(h)->tinyoffset, 4);
    CHECK_EQ(tiny_alloc(h, &m, 4), x + 4); /* X still current */
    CHECK_HEAP(h);
    /* Scan objects never use it: class 1 scan (spc 2) and class 2 scan (spc 4). */
    uintptr_t a = (uintptr_t)gm_heap_alloc(h, &m, 4, GM_SCAN);
    uintptr_t b = (uintptr_t)gm_heap_alloc(h, &m, 4, GM_SCAN);
    CHECK_EQ(gm_mheap_span_of(h, a)->spanclass, gm_make_spanclass(1, false));
    CHECK_EQ(b, a + 8);
    CHECK_EQ(gm_heap_usable_size(h, (void *)a), 8);
    uintptr_t c = (uintptr_t)gm_heap_alloc(h, &m, 12, GM_SCAN);
    CHECK_EQ(gm_mheap_span_of(h, c)->spanclass, gm_make_spanclass(2, false));
    CHECK_EQ(gm_heap_usable_size(h, (void *)c), 16);
    /* Aligned requests skip it too (they need alignment by class size). */
    uintptr_t d = (uintptr_t)gm_heap_alloc_aligned(h, &m, 4, 4, GM_NOSCAN);
    CHECK_EQ(gm_mheap_span_of(h, d)->spanclass, gm_make_spanclass(1, true));
    /* Size 0 is zerobase, not a tiny object. */
    void *z0 = gm_heap_alloc(h, &m, 0, GM_NOSCAN), *z1 = gm_heap_alloc(h, &m, 0, GM_NOSCAN);
    CHECK(z0 == z1 && z0 != NULL);
    CHECK(gm_mheap_span_of(h, (uintptr_t)z0) == NULL);
    CHECK_EQ(mc(h)->tiny, x);
    CHECK_EQ(mc(h)->tinyoffset, 8);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_usable_size_every_size(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    for (size_t n = 1; n < 16; n++) {
        gm_memstats ms;
        gm_heap_read_memstats(h, &m, &ms); /* drops the current block: the next one is new */
        uintptr_t p = tiny_alloc(h, &m, n);
        CHECK_EQ(p % 16, 0);
        CHECK_EQ(gm_heap_usable_size(h, (void *)p), n);
        /* The rest of the block after a 1-byte object, at its aligned offset. */
        if (n < 15) {
            uintptr_t q = tiny_alloc(h, &m, 1);
            CHECK_EQ(q, p + n);
            CHECK_EQ(gm_heap_usable_size(h, (void *)q), 1);
            CHECK_EQ(gm_heap_usable_size(h, (void *)p), n);
        }
        CHECK_HEAP(h);
    }
    gm_heap_destroy(h);
}

/* A new tiny block is zeroed even when its slot held old data. */
static void test_new_block_zeroed(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t a = tiny_alloc(h, &m, 8), b = tiny_alloc(h, &m, 8);
    memset((void *)a, 0xee, 16);
    uintptr_t keep = tiny_alloc(h, &m, 12); /* a fresh block, so X is not current */
    gm_heap_free(h, &m, (void *)a);
    gm_heap_free(h, &m, (void *)b);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    uintptr_t c = tiny_alloc(h, &m, 3);
    CHECK_EQ(c, a); /* the dead block's slot, lowest first */
    for (int i = 0; i < 16; i++) CHECK_EQ(((unsigned char *)c)[i], 0);
    (void)keep;
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- block death ----------------------------------------------------------------------------- */

static void test_current_block_kept(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t a = tiny_alloc(h, &m, 4);
    gm_heap_free(h, &m, (void *)a);
    CHECK_HEAP(h);
    CHECK(!slot_freed(h, a));              /* current: not dead though empty */
    CHECK_EQ(tiny_alloc(h, &m, 4), a + 4); /* the bump pointer goes on; offset 0 stays used */
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_block_dies_when_replaced(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t x = tiny_alloc(h, &m, 12);
    gm_heap_free(h, &m, (void *)x);
    CHECK(!slot_freed(h, x));
    uintptr_t y = tiny_alloc(h, &m, 8); /* 8 < 12: Y becomes current, X is retired empty */
    CHECK_EQ(y, x + 16);
    CHECK_EQ(mc(h)->tiny, y);
    CHECK(slot_freed(h, x));
    CHECK(!slot_freed(h, y));
    CHECK_HEAP(h);
    gm_memstats ms;
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.by_size[2].frees, 0); /* dead but unswept */
    CHECK_EQ(ms.heap_alloc, 32);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.by_size[2].frees, 1);
    CHECK_EQ(ms.heap_alloc, 16); /* Y lives */
    CHECK_EQ(gm_heap_usable_size(h, (void *)y), 8);
    /* X's slot is the lowest free one: the next new block reuses it. */
    CHECK_EQ(tiny_alloc(h, &m, 12), x);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

static void test_block_lives_while_any_object_lives(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t a = tiny_alloc(h, &m, 4), b = tiny_alloc(h, &m, 4), c = tiny_alloc(h, &m, 8);
    CHECK_EQ(b, a + 4);
    CHECK_EQ(c, a + 8);
    uintptr_t y = tiny_alloc(h, &m, 2); /* X is full: Y current */
    CHECK_EQ(y, a + 16);
    gm_heap_free(h, &m, (void *)a);
    gm_heap_free(h, &m, (void *)c);
    CHECK(!slot_freed(h, a));
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    gm_memstats ms;
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.by_size[2].frees, 0);
    CHECK_EQ(gm_heap_usable_size(h, (void *)b), 4);
    memset((void *)b, 0x5a, 4);
    gm_heap_free(h, &m, (void *)b); /* the last object: X dies now */
    CHECK(slot_freed(h, a));
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.by_size[2].frees, 1);
    gm_heap_destroy(h);
}

/* Go marks every P's current tiny block when a cycle starts, so a block that is current at
 * the start of a cycle survives that cycle even if nothing points into it; it can die at the
 * earliest in the next one (reference §3, verified: Appendix A item 2). */
static void test_current_block_survives_the_cycle(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t a = tiny_alloc(h, &m, 4);
    gm_heap_free(h, &m, (void *)a);
    gm_heap_gc(h, &m); /* X was current when this cycle started */
    CHECK_HEAP(h);
    gm_memstats ms;
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.by_size[2].frees, 0); /* model: 1 — the block dies in this cycle */
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.by_size[2].frees, 1);
    CHECK_EQ(ms.heap_alloc, 0);
    gm_heap_destroy(h);

    /* The surviving slot is not handed out during that cycle; after the next one it is the
     * lowest free slot again. */
    h = gm_test_heap(&m, 1, -1);
    a = tiny_alloc(h, &m, 4);
    uintptr_t keep = (uintptr_t)gm_heap_alloc(h, &m, 16, GM_NOSCAN); /* keeps the span */
    CHECK_EQ(keep, a + 16);
    gm_heap_free(h, &m, (void *)a);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_EQ(tiny_alloc(h, &m, 12), a + 32); /* not a: it lives through this cycle */
    CHECK_HEAP(h);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK_EQ(tiny_alloc(h, &m, 12), a); /* dead at the second cycle, lowest slot first */
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- statistics ----------------------------------------------------------------------------- */

/* Appendix A item 6: 400 × make([]byte, 4) gave ΔMallocs 401, ΔFrees 300, ΔHeapObjects 101,
 * ΔTotalAlloc 1728 in Go, one of the objects and 128 bytes being the runtime's own. The model
 * has no runtime objects: 100 blocks + 300 combined. */
static void test_tiny_statistics(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    static uintptr_t p[400];
    for (int i = 0; i < 400; i++) p[i] = tiny_alloc(h, &m, 4);
    CHECK_HEAP(h);
    CHECK_EQ(p[399] - p[0], 99 * 16 + 12);
    /* Not flushed yet (metrics.Read sees +3 in Go, §10.2): the counts live in the mcache. */
    CHECK_EQ(mc(h)->tiny_allocs, 300);
    CHECK_EQ(h->allp[0].stats.tiny_alloc_count, 0);
    gm_memstats ms;
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.tiny_allocs, 300);
    CHECK_EQ(ms.mallocs, 400);
    CHECK_EQ(ms.frees, 300);
    CHECK_EQ(ms.heap_objects, 100);
    CHECK_EQ(ms.by_size[2].mallocs, 100);
    CHECK_EQ(ms.by_size[2].frees, 0);
    CHECK_EQ(ms.total_alloc, 1600);
    CHECK_EQ(ms.heap_alloc, 1600);
    CHECK_EQ(mc(h)->tiny_allocs, 0);
    CHECK_EQ(mc(h)->tiny, 0); /* ReadMemStats drops the current block */
    CHECK_HEAP(h);
    /* Free everything: blocks die as their last object goes (the read made the last one
     * non-current), but count as frees only once swept. */
    for (int i = 0; i < 400; i++) gm_heap_free(h, &m, (void *)p[i]);
    CHECK_HEAP(h);
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.frees, 300);
    CHECK_EQ(ms.heap_alloc, 1600);
    CHECK_EQ(ms.heap_inuse, GM_PAGE_SIZE);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.mallocs, 400);
    CHECK_EQ(ms.frees, 400);
    CHECK_EQ(ms.by_size[2].frees, 100);
    CHECK_EQ(ms.heap_objects, 0);
    CHECK_EQ(ms.heap_alloc, 0);
    CHECK_EQ(ms.heap_inuse, 0); /* the whole tiny span went back to the page heap */
    gm_heap_destroy(h);
}

/* tinyAllocs move to the P's statistics at refill of the tiny span class (mcache.refill). */
static void test_tiny_allocs_flushed_at_refill(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    for (int i = 0; i < 2048; i++) tiny_alloc(h, &m, 4); /* 512 blocks: one full span */
    CHECK_EQ(mc(h)->tiny_allocs, 1536);
    CHECK_EQ(h->allp[0].stats.tiny_alloc_count, 0);
    CHECK_HEAP(h);
    tiny_alloc(h, &m, 4); /* block 513: refill */
    CHECK_EQ(h->allp[0].stats.tiny_alloc_count, 1536);
    CHECK_EQ(mc(h)->tiny_allocs, 0);
    CHECK_HEAP(h);
    for (int i = 2049; i < 2400; i++) tiny_alloc(h, &m, 4);
    CHECK_EQ(mc(h)->tiny_allocs, 264);
    gm_memstats ms;
    gm_heap_read_memstats(h, &m, &ms);
    CHECK_EQ(ms.tiny_allocs, 1800);
    CHECK_EQ(ms.by_size[2].mallocs, 600);
    CHECK_EQ(ms.mallocs, 2400);
    CHECK_EQ(ms.heap_objects, 600);
    CHECK_EQ(ms.heap_inuse, 2 * GM_PAGE_SIZE);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* ---- misuse: fork death tests ------------------------------------------------------------- */

static void test_misuse_aborts(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t a = tiny_alloc(h, &m, 4), b = tiny_alloc(h, &m, 4), c = tiny_alloc(h, &m, 8);
    uintptr_t y = tiny_alloc(h, &m, 1); /* X (a, b, c) full, Y current */
    gm_heap_free(h, &m, (void *)a);
    CHECK_HEAP(h);
    /* Block X still holds b and c. */
    gm_expect_free_aborts(h, &m, (void *)a, "double free, block alive");
    gm_expect_free_aborts(h, &m, (void *)(b + 1), "interior pointer");
    gm_expect_free_aborts(h, &m, (void *)(c + 4), "interior pointer of 8-byte object");
    gm_expect_free_aborts(h, &m, (void *)(y + 1), "past the last object of current");
    gm_expect_free_aborts(h, &m, (void *)(a + 16 * 3), "never allocated slot");
    /* Block X dead (every object freed, not current): its metadata is gone, the slot itself
     * is a freed 16-byte object. */
    gm_heap_free(h, &m, (void *)b);
    gm_heap_free(h, &m, (void *)c);
    CHECK(slot_freed(h, a));
    CHECK_HEAP(h);
    gm_expect_free_aborts(h, &m, (void *)a, "double free, block dead");
    gm_expect_free_aborts(h, &m, (void *)b, "double free at offset 4, block dead");
    /* ... and after it was swept. */
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    gm_expect_free_aborts(h, &m, (void *)a, "double free, block swept");
    gm_expect_free_aborts(h, &m, (void *)c, "double free at offset 8, block swept");
    /* The parent is untouched by what the children did. */
    CHECK_EQ(gm_heap_usable_size(h, (void *)y), 1);
    CHECK_HEAP(h);
    gm_heap_destroy(h);
}

/* A block that was current and empty when a cycle started lives through that cycle; its
 * only object is already freed, so freeing that pointer again is a double free and must be
 * reported at the free, naming the pointer. */
static void test_double_free_of_surviving_block(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, -1);
    uintptr_t a = tiny_alloc(h, &m, 4);
    gm_heap_free(h, &m, (void *)a);
    gm_expect_free_aborts(h, &m, (void *)a, "double free, block current");
    gm_heap_gc(h, &m); /* the empty block survives this cycle */
    CHECK_HEAP(h);
    gm_expect_free_aborts(h, &m, (void *)a, "double free, block surviving a cycle");
    gm_expect_free_aborts(h, &m, (void *)(a + 4), "interior, block surviving");
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    gm_expect_free_aborts(h, &m, (void *)a, "double free, block swept");
    gm_heap_destroy(h);
}

int main(void)
{
    test_worked_example();
    test_alignment_and_block_choice();
    test_not_tiny();
    test_usable_size_every_size();
    test_new_block_zeroed();
    test_current_block_kept();
    test_block_dies_when_replaced();
    test_block_lives_while_any_object_lives();
    test_current_block_survives_the_cycle();
    test_tiny_statistics();
    test_tiny_allocs_flushed_at_refill();
    test_misuse_aborts();
    test_double_free_of_surviving_block();
    return gm_test_finish("test_tiny");
}
