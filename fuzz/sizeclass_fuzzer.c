/*
 * sizeclass_fuzzer.c — size classes (sizeclass.c, sizeclasses.h; Go's msize.go and
 * sizeclasses.go) for arbitrary sizes, against brute force:
 *   - gm_size_to_class(s) is the smallest class whose size is >= s, for 1 <= s <= 32 KiB;
 *   - gm_roundupsize(s) is that class's size for small s, s rounded up to whole pages beyond
 *     (or s itself where that would wrap), and never below s;
 *   - the division by multiplication: for any class and any offset a span can present,
 *     offset * divMagic >> 32 == offset / size, through gm_mspan_obj_index on a span of that
 *     class, and the slot it names contains the offset.
 * The whole table is checked once (gm_sizeclass_check) at start: it walks every offset of
 * every class, too slow to repeat per input.
 */
#include "fuzz_input.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    FUZZ_CHECK(gm_sizeclass_check(FUZZ_CHECKBUF));
    return 0;
}

static size_t smallest_fitting(size_t s)
{
    for (size_t c = 1; c < GM_NUM_SIZE_CLASSES; c++)
        if (gm_class_to_size[c] >= s) return c;
    return 0;
}

/* A size: small, near a class or page boundary, or anything at all. */
static size_t pick_size(fuzz_input *in)
{
    switch (fuzz_u8(in) % 4) {
    case 0:
        return fuzz_range(in, 1, GM_MAX_SMALL_SIZE);
    case 1: {
        size_t c = fuzz_range(in, 1, GM_NUM_SIZE_CLASSES - 1);
        return gm_class_to_size[c] + fuzz_range(in, 0, 2) - 1;
    }
    case 2:
        return fuzz_u32(in);
    default:
        return (size_t)fuzz_u64(in);
    }
}

static void check_size(size_t s)
{
    size_t r = gm_roundupsize(s);
    if (s >= 1 && s <= GM_MAX_SMALL_SIZE) {
        size_t c = gm_size_to_class(s), want = smallest_fitting(s);
        FUZZ_ASSERT(c == want, "size_to_class(%zu) = %zu, want %zu", s, c, want);
        FUZZ_ASSERT(r == gm_class_to_size[c], "roundupsize(%zu) = %zu, class %zu is %u", s, r, c,
                    gm_class_to_size[c]);
        return;
    }
    if (s == 0) {
        FUZZ_ASSERT(r == 0, "roundupsize(0) = %zu", r);
        return;
    }
    size_t want = s + GM_PAGE_SIZE < s ? s : (s + GM_PAGE_SIZE - 1) & ~(GM_PAGE_SIZE - 1);
    FUZZ_ASSERT(r == want && r >= s, "roundupsize(%zu) = %zu, want %zu", s, r, want);
}

static void check_divmagic(size_t c, size_t off)
{
    gm_mspan span = {.base = 0xc000000000, .npages = gm_class_to_allocnpages[c]};
    gm_mspan_init_small(&span, gm_make_spanclass((uint8_t)c, true));
    size_t span_bytes = span.npages * GM_PAGE_SIZE, size = gm_class_to_size[c];
    off %= span_bytes + 1; /* the span's end included, as Go's generator checks */
    uintptr_t idx = gm_mspan_obj_index(&span, span.base + off);
    FUZZ_ASSERT(idx == off / size, "class %zu: obj_index(offset %zu) = %zu, want %zu", c, off,
                (size_t)idx, off / size);
    FUZZ_ASSERT(span.nelems == span_bytes / size, "class %zu: nelems %zu, want %zu", c,
                (size_t)span.nelems, span_bytes / size);
    FUZZ_CHECK(gm_mspan_check(&span, FUZZ_CHECKBUF));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    for (int ops = 0; ops < FUZZ_MAX_OPS && fuzz_more(&in); ops++) {
        size_t s = pick_size(&in);
        check_size(s);
        check_divmagic(fuzz_range(&in, 1, GM_NUM_SIZE_CLASSES - 1), s);
    }
    return 0;
}
