/*
 * sysfail_fuzzer.c — OS failure (sys.c's gm_sys_fail_after; Go's sysAlloc/sysReserve/sysMap
 * failing). The input arms the (n+1)-th OS call from now to fail — during heap creation, or
 * before any operation — and runs allocations that need OS calls: new spans of many classes
 * (fixalloc chunks, tiny metadata), large objects that grow the page heap (chunk maps,
 * summary pages) and now and then a huge one that needs a new 64 MiB arena reservation.
 *   - a request that meets the failure returns NULL with errno == ENOMEM; no other request
 *     fails (the heap has no other reason to);
 *   - gm_heap_check after every operation, failed ones included: every invariant is intact;
 *   - once disarmed, the same heap serves allocations of every kind again;
 *   - a heap whose creation met the failure is NULL, or a heap that checks clean.
 */
#include <errno.h>

#include "fuzz_shadow.h"

static size_t sf_size(fuzz_input *in)
{
    switch (fuzz_u8(in) % 8) {
    case 0:
        return fuzz_range(in, 1, 15);
    case 1:
    case 2:
    case 3:
        return gm_class_to_size[fuzz_range(in, 1, GM_NUM_SIZE_CLASSES - 1)];
    case 4:
    case 5:
        return fuzz_range(in, GM_MAX_SMALL_SIZE + 1, 2 << 20);
    case 6:
        return fuzz_range(in, 4, 40) << 20; /* several chunks: grow maps summaries */
    default:
        return fuzz_range(in, 65, 80) << 20; /* past one arena: a new reservation */
    }
}

/* Allocate; NULL only with ENOMEM and only while a failure is armed (or just fired). */
static void sf_alloc(gm_mheap *h, gm_m *m, shadow *sh, size_t size, bool armed)
{
    errno = 0;
    void *v = gm_heap_alloc(h, m, size, GM_NOSCAN);
    if (!v) {
        FUZZ_ASSERT(armed, "allocation of %zu failed with no OS failure armed", size);
        FUZZ_ASSERT(errno == ENOMEM, "allocation of %zu failed with errno %d", size, errno);
        return;
    }
    /* Touch only the ends: the huge ones are never written whole. */
    ((volatile uint8_t *)v)[0] = 1;
    ((volatile uint8_t *)v)[size - 1] = 1;
    shadow_add(sh, (uintptr_t)v, size, gm_heap_usable_size(h, v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    gm_sys_fail_after(-1);
    uint8_t first = fuzz_u8(&in);
    gm_heap_config cfg = {.nprocs = 1 + (first & 1), .gc_percent = 50, .arena_hints = false};
    if (first & 2) gm_sys_fail_after(fuzz_range(&in, 0, 15)); /* during creation */
    gm_mheap *h = gm_heap_create(&cfg);
    gm_sys_fail_after(-1);
    if (!h) return 0; /* creation may fail; everything it mapped was given back */
    FUZZ_CHECK_HEAP(h);
    gm_m m;
    gm_m_init(&m, h);
    static shadow sh;
    memset(&sh, 0, sizeof sh);
    bool armed = false;
    for (int ops = 0; ops < FUZZ_MAX_OPS / 4 && fuzz_more(&in); ops++) {
        uint8_t op = fuzz_u8(&in) % 8;
        if (op == 0) {
            gm_sys_fail_after(fuzz_range(&in, 0, 40));
            armed = true;
        } else if (op < 5) {
            if (sh.n < SHADOW_MAX) sf_alloc(h, &m, &sh, sf_size(&in), armed);
        } else if (op < 7) {
            if (sh.n) {
                shadow_obj *o = &sh.o[fuzz_range(&in, 0, sh.n - 1)];
                gm_heap_free(h, &m, (void *)o->p);
                shadow_remove(&sh, o);
            }
        } else {
            gm_heap_gc(h, &m);
        }
        FUZZ_CHECK_HEAP(h);
    }
    gm_sys_fail_after(-1);
    /* Disarmed: every kind of request succeeds again on the same heap. */
    static const size_t again[] = {8, 16, 24, 512, 8192, 32768, 40000, 5 << 20};
    for (size_t k = 0; k < sizeof again / sizeof again[0] && sh.n < SHADOW_MAX; k++)
        sf_alloc(h, &m, &sh, again[k], false);
    FUZZ_CHECK_HEAP(h);
    gm_heap_destroy(h);
    return 0;
}
