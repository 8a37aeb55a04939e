/*
 * test_sizeclass.c — the size-class tables are Go 1.19's, entry for entry, and the functions
 * built on them (gm_size_to_class, divmagic division, gm_roundupsize, gm_sizeclass_check) do
 * what Go's do.
 *
 * The golden values below are typed in from Go 1.19's runtime/sizeclasses.go (reference
 * Appendix B and the objects/divMul columns of §1.2), independently of the generator, so a bug
 * in mksizeclasses.c that changed both the header and its own checks would still be caught.
 */
#include <stdint.h>
#include <string.h>

#include "gm_test.h"
#include "gm_testing.h"

static const uint16_t go_class_to_size[68] = {
    0,     8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,
    160,   176,   192,   208,   224,   240,   256,   288,   320,   352,   384,   416,
    448,   480,   512,   576,   640,   704,   768,   896,   1024,  1152,  1280,  1408,
    1536,  1792,  2048,  2304,  2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144,
    6528,  6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384,
    18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768,
};

static const uint8_t go_class_to_allocnpages[68] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2,  3, 1, 3,
    2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4,
};

/* "objects" column of §1.2 (npages*8192/size); index 0 unused. */
static const uint16_t go_objects[68] = {
    0,  1024, 512, 341, 256, 170, 128, 102, 85, 73, 64, 56, 51, 46, 42, 39, 36,
    34, 32,   28,  25,  23,  21,  19,  18,  17, 16, 14, 12, 11, 10, 9,  8,  7,
    6,  11,   5,   9,   4,   7,   3,   8,   5,  7,  2,  5,  3,  4,  5,  6,  7,
    1,  6,    5,   4,   3,   2,   3,   4,   1,  4,  3,  2,  3,  1,  3,  2,  1,
};

/* "divMul" column of §1.2 (0xFFFFFFFF/size + 1); 0 for class 0. */
static const uint32_t go_divmagic[68] = {
    0,        536870912, 268435456, 178956971, 134217728, 89478486, 67108864, 53687092, 44739243,
    38347923, 33554432,  29826162,  26843546,  24403224,  22369622, 20648882, 19173962, 17895698,
    16777216, 14913081,  13421773,  12201612,  11184811,  10324441, 9586981,  8947849,  8388608,
    7456541,  6710887,   6100806,   5592406,   4793491,   4194304,  3728271,  3355444,  3050403,
    2796203,  2396746,   2097152,   1864136,   1597831,   1398102,  1342178,  1242757,  1048576,
    883012,   798916,    699051,    657931,    633103,    621379,   524288,   453439,   441506,
    419431,   394759,    349526,    316552,    299594,    262144,   233017,   225198,   209716,
    197380,   174763,    157533,    149797,    131072,
};

static const uint8_t go_size_to_class8[129] = {
    0,  1,  2,  3,  4,  5,  5,  6,  6,  7,  7,  8,  8,  9,  9,  10, 10, 11, 11, 12, 12, 13,
    13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 19, 19, 20, 20, 20, 20, 21, 21, 21,
    21, 22, 22, 22, 22, 23, 23, 23, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27,
    27, 27, 27, 27, 27, 27, 27, 28, 28, 28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29,
    29, 30, 30, 30, 30, 30, 30, 30, 30, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31,
    31, 31, 31, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
};

static const uint8_t go_size_to_class128[249] = {
    32, 33, 34, 35, 36, 37, 37, 38, 38, 39, 39, 40, 40, 40, 41, 41, 41, 42, 43, 43, 44, 44, 44,
    44, 44, 45, 45, 45, 45, 45, 45, 46, 46, 46, 46, 47, 47, 47, 47, 47, 47, 48, 48, 48, 49, 49,
    50, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 53, 53,
    54, 54, 54, 54, 55, 55, 55, 55, 55, 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 57, 57, 57,
    57, 57, 57, 57, 57, 57, 57, 58, 58, 58, 58, 58, 58, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59,
    59, 59, 59, 59, 59, 59, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 61,
    61, 61, 61, 61, 62, 62, 62, 62, 62, 62, 62, 62, 62, 62, 62, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67,
    67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67,
};

/* Every exported constant and every table entry equals Go's. */
static void test_tables_equal_go(void)
{
    CHECK_EQ(GM_MAX_SMALL_SIZE, 32768);
    CHECK_EQ(GM_SMALL_SIZE_DIV, 8);
    CHECK_EQ(GM_SMALL_SIZE_MAX, 1024);
    CHECK_EQ(GM_LARGE_SIZE_DIV, 128);
    CHECK_EQ(GM_NUM_SIZE_CLASSES, 68);
    CHECK_EQ(sizeof gm_size_to_class8, sizeof go_size_to_class8);
    CHECK_EQ(sizeof gm_size_to_class128, sizeof go_size_to_class128);

    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++) {
        CHECK_EQ(gm_class_to_size[c], go_class_to_size[c]);
        CHECK_EQ(gm_class_to_allocnpages[c], go_class_to_allocnpages[c]);
        CHECK_EQ(gm_class_to_divmagic[c], go_divmagic[c]);
        if (c > 0)
            CHECK_EQ(gm_class_to_allocnpages[c] * GM_PAGE_SIZE / gm_class_to_size[c],
                     go_objects[c]);
    }
    for (size_t i = 0; i < sizeof go_size_to_class8; i++)
        CHECK_EQ(gm_size_to_class8[i], go_size_to_class8[i]);
    for (size_t i = 0; i < sizeof go_size_to_class128; i++)
        CHECK_EQ(gm_size_to_class128[i], go_size_to_class128[i]);
}

/* gm_size_to_class is "smallest class that holds s" for every small request, found here by a
 * plain search over Go's sizes rather than by the tables under test. Checks are counted per
 * class boundary instead of per size, so a broken table reports a handful of lines. */
static void test_size_to_class(void)
{
    int bad = 0;
    for (size_t s = 1; s <= GM_MAX_SMALL_SIZE; s++) {
        int want = 1;
        while (go_class_to_size[want] < s) want++;
        if (gm_size_to_class(s) != want && bad++ < 10)
            fprintf(stderr, "gm_size_to_class(%zu) = %d, want %d\n", s, gm_size_to_class(s), want);
    }
    CHECK_EQ(bad, 0);

    /* Edges named in the reference (§1.4): the switch between the two tables is at 1016/1017,
     * and a class serves (size[c-1], size[c]]. */
    CHECK_EQ(gm_size_to_class(1), 1);
    CHECK_EQ(gm_size_to_class(8), 1);
    CHECK_EQ(gm_size_to_class(9), 2);
    CHECK_EQ(gm_size_to_class(1016), 32);
    CHECK_EQ(gm_size_to_class(1017), 32);
    CHECK_EQ(gm_size_to_class(1024), 32);
    CHECK_EQ(gm_size_to_class(1025), 33);
    CHECK_EQ(gm_size_to_class(32767), 67);
    CHECK_EQ(gm_size_to_class(32768), 67);
}

/* The multiply-shift that replaces division in gm_mspan_obj_index is exact for every offset
 * of every class's span, its end included. */
static void test_divmagic_exact(void)
{
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        uint64_t size = gm_class_to_size[c], m = gm_class_to_divmagic[c];
        uint64_t span_bytes = gm_class_to_allocnpages[c] * GM_PAGE_SIZE;
        uint64_t bad = 0;
        for (uint64_t off = 0; off <= span_bytes; off++) bad += ((off * m) >> 32) != off / size;
        CHECK_EQ(bad, 0);
    }
    /* The same through the span helper, on a span-shaped struct (only base and div_mul are
     * read): the last object's last byte maps to nelems-1. */
    gm_mspan s;
    memset(&s, 0, sizeof s);
    s.base = (uintptr_t)1 << 32;
    s.div_mul = gm_class_to_divmagic[35]; /* 1408 bytes, 11 per 2 pages */
    CHECK_EQ(gm_mspan_obj_index(&s, s.base + 11 * 1408 - 1), 10);
    CHECK_EQ(gm_mspan_obj_index(&s, s.base + 1408), 1);
}

static void test_roundupsize(void)
{
    CHECK_EQ(gm_roundupsize(0), 0); /* Go: class 0's size */
    CHECK_EQ(gm_roundupsize(1), 8);
    CHECK_EQ(gm_roundupsize(17), 24);
    CHECK_EQ(gm_roundupsize(1016), 1024);
    CHECK_EQ(gm_roundupsize(1017), 1024);
    CHECK_EQ(gm_roundupsize(1025), 1152);
    CHECK_EQ(gm_roundupsize(9000), 9472);
    CHECK_EQ(gm_roundupsize(32767), 32768);
    CHECK_EQ(gm_roundupsize(32768), 32768);
    CHECK_EQ(gm_roundupsize(32769), 40960);
    CHECK_EQ(gm_roundupsize(40960), 40960);
    CHECK_EQ(gm_roundupsize((size_t)1 << 40), (size_t)1 << 40);
    CHECK_EQ(gm_roundupsize(((size_t)1 << 40) + 1), ((size_t)1 << 40) + 8192);
    /* Near the top of the address space Go gives the size back unchanged instead of wrapping. */
    CHECK_EQ(gm_roundupsize(SIZE_MAX), SIZE_MAX);
    CHECK_EQ(gm_roundupsize(SIZE_MAX - 8191), SIZE_MAX - 8191);
    CHECK_EQ(gm_roundupsize(SIZE_MAX - 8192), SIZE_MAX - 8191); /* the largest size that rounds */

    /* Below 32768 it is the class size; it never shrinks a request. */
    int bad = 0;
    for (size_t s = 1; s < GM_MAX_SMALL_SIZE; s++) {
        size_t r = gm_roundupsize(s);
        if (r != gm_class_to_size[gm_size_to_class(s)] || r < s) bad++;
    }
    CHECK_EQ(bad, 0);
}

static void test_checker(void)
{
    CHECK_INVARIANTS(gm_sizeclass_check(GM_CHECKBUF));
    /* Tables are const, so the checker cannot be fed a broken one here; at least prove the
     * degenerate buffer contract: NULL (all good) does not depend on having room to write. */
    CHECK(gm_sizeclass_check(NULL, 0) == NULL);
}

int main(void)
{
    test_tables_equal_go();
    test_size_to_class();
    test_divmagic_exact();
    test_roundupsize();
    test_checker();
    return gm_test_finish("test_sizeclass");
}
