/*
 * sizeclass.c — size classes: which class serves a request, and how big the block it gets is
 * (models msize.go; the tables themselves model sizeclasses.go and are generated).
 *
 * The tables live in sizeclasses.h, written by mksizeclasses.c with the algorithm of Go's
 * mksizeclasses.go (never edit them by hand; the test sizeclasses_regenerate compares the
 * checked-in header with a fresh run). The lookups that sit on the allocation fast path
 * (gm_size_to_class, the span-class helpers) are inline in internal.h; this file holds what
 * is not hot: roundupsize and the table checker.
 *
 * Differences from Go:
 *   - The tables are `static const` arrays in a header rather than package variables, so every
 *     file that indexes them has its own copy (a few hundred bytes, folded by the compiler).
 *   - divMul is stored as the computed number; Go writes the expression ^uint32(0)/size + 1.
 *   - gm_roundupsize returns size_t and never wraps: like Go it returns the size unchanged
 *     when rounding up to a page would overflow (callers reject such sizes before using it).
 *
 * Invariants of the tables (checked by gm_sizeclass_check; class 0 is the dummy "large
 * object" class with size, npages and divmagic all 0):
 *   - sizes strictly increase; each is a multiple of 8, and above 1024 of 128 (the lookup
 *     tables' granules; otherwise a bucket would straddle two classes); the last is 32768;
 *   - nelems = npages*8192/size satisfies 1 <= nelems <= 1024 (the span bitmaps' capacity);
 *   - tail waste npages*8192 - nelems*size <= npages*8192/8 (mksizeclasses.go's 12.5% bound);
 *   - divmagic = 0xFFFFFFFF/size + 1 and (off*divmagic)>>32 == off/size for every offset
 *     0 <= off <= npages*8192, so object indexes never need a divide;
 *   - gm_size_to_class(s) is the smallest class whose size is >= s, for 1 <= s <= 32768.
 *
 * Locking: none. Everything here is immutable data and pure functions.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

_Static_assert(GM_NUM_SIZE_CLASSES == 68, "Go 1.19 has 67 size classes plus the dummy class 0");
_Static_assert(GM_MAX_SMALL_SIZE % GM_PAGE_SIZE == 0, "the largest class fills whole pages");
_Static_assert(GM_SMALL_SIZE_MAX % GM_LARGE_SIZE_DIV == 0, "size_to_class128 starts on its grid");

/*
 * roundupsize (msize.go): the number of bytes Go actually hands out for a request of `size`
 * bytes: its class's size when it is small, else whole pages. Go's `append` uses it to pick
 * capacities; the model uses it for usable sizes and realloc-in-place decisions.
 *
 * Note the strict `<`: a 32768-byte request goes through the page-rounding branch, which gives
 * the same answer (32768 is page aligned) without the table lookup, as in Go.
 */
size_t gm_roundupsize(size_t size)
{
    if (size < GM_MAX_SMALL_SIZE) return gm_class_to_size[gm_size_to_class(size)];
    /* Go returns the size itself when adding a page would wrap; so do we, rather than 0. */
    if (size + GM_PAGE_SIZE < size) return size;
    return (size + GM_PAGE_SIZE - 1) & ~(GM_PAGE_SIZE - 1);
}

/* ---- checker: moves to check.c ---- */

/* Formats the first violation into buf and returns it. A zero-length buffer still gets a
 * non-NULL answer, because NULL would mean "all invariants hold". */
static const char *sizeclass_violation(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *sizeclass_violation(char *buf, size_t n, const char *fmt, ...)
{
    if (buf == NULL || n == 0) return "size-class table invariant violated";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return buf;
}

/* Every per-class invariant of one class c >= 1 (the header comment lists them). */
static const char *sizeclass_check_class(int c, char *buf, size_t n)
{
    uint64_t size = gm_class_to_size[c], prev = gm_class_to_size[c - 1];
    uint64_t npages = gm_class_to_allocnpages[c], divmagic = gm_class_to_divmagic[c];
    uint64_t granule = size <= GM_SMALL_SIZE_MAX ? GM_SMALL_SIZE_DIV : GM_LARGE_SIZE_DIV;

    if (size <= prev)
        return sizeclass_violation(buf, n, "sizeclass %d: size %llu not above class %d's %llu", c,
                                   (unsigned long long)size, c - 1, (unsigned long long)prev);
    if (size % granule != 0)
        return sizeclass_violation(buf, n, "sizeclass %d: size %llu not a multiple of %llu", c,
                                   (unsigned long long)size, (unsigned long long)granule);
    if (npages == 0) return sizeclass_violation(buf, n, "sizeclass %d: span of 0 pages", c);

    uint64_t span_bytes = npages * GM_PAGE_SIZE, nelems = span_bytes / size;
    uint64_t tail = span_bytes - nelems * size;
    if (nelems < 1 || nelems > GM_MAX_OBJS_PER_SPAN)
        return sizeclass_violation(buf, n, "sizeclass %d: %llu objects per %llu-byte span", c,
                                   (unsigned long long)nelems, (unsigned long long)span_bytes);
    if (tail > span_bytes / 8)
        return sizeclass_violation(buf, n, "sizeclass %d: tail waste %llu > %llu/8", c,
                                   (unsigned long long)tail, (unsigned long long)span_bytes);
    if (divmagic != (uint64_t)(UINT32_MAX / (uint32_t)size + 1))
        return sizeclass_violation(buf, n, "sizeclass %d: divmagic %llu, want 0xFFFFFFFF/%llu+1", c,
                                   (unsigned long long)divmagic, (unsigned long long)size);
    /* Exactly the multiply gm_mspan_obj_index does, over every offset a span can present
     * (its end included, as Go's generator checks). */
    for (uint64_t off = 0; off <= span_bytes; off++) {
        if (((off * divmagic) >> 32) != off / size)
            return sizeclass_violation(buf, n,
                                       "sizeclass %d: offset %llu * divmagic >> 32 = %llu, "
                                       "want %llu",
                                       c, (unsigned long long)off,
                                       (unsigned long long)((off * divmagic) >> 32),
                                       (unsigned long long)(off / size));
    }
    return NULL;
}

/* Smallest class whose size is >= s (the meaning of both lookup tables), or -1 if none. */
static int sizeclass_smallest_fitting(size_t s)
{
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++)
        if (gm_class_to_size[c] >= s) return c;
    return -1;
}

/* The lookup tables, entry by entry and through gm_size_to_class for every small request. */
static const char *sizeclass_check_lookup(char *buf, size_t n)
{
    for (size_t i = 0; i < sizeof gm_size_to_class8; i++) {
        int want = sizeclass_smallest_fitting(i * GM_SMALL_SIZE_DIV);
        if (gm_size_to_class8[i] != want)
            return sizeclass_violation(buf, n, "gm_size_to_class8[%zu] = %d, want class %d", i,
                                       gm_size_to_class8[i], want);
    }
    for (size_t i = 0; i < sizeof gm_size_to_class128; i++) {
        int want = sizeclass_smallest_fitting(GM_SMALL_SIZE_MAX + i * GM_LARGE_SIZE_DIV);
        if (gm_size_to_class128[i] != want)
            return sizeclass_violation(buf, n, "gm_size_to_class128[%zu] = %d, want class %d", i,
                                       gm_size_to_class128[i], want);
    }
    /* Requests ascend, so the answer can only move up: one pass, no search per size. */
    int want = 1;
    for (size_t s = 1; s <= GM_MAX_SMALL_SIZE; s++) {
        while (gm_class_to_size[want] < s) want++; /* ends: the last class is 32768 */
        if (gm_size_to_class(s) != want)
            return sizeclass_violation(buf, n, "gm_size_to_class(%zu) = %d, want class %d", s,
                                       gm_size_to_class(s), want);
    }
    return NULL;
}

const char *gm_sizeclass_check(char *buf, size_t n)
{
    if (gm_class_to_size[0] != 0 || gm_class_to_allocnpages[0] != 0 || gm_class_to_divmagic[0] != 0)
        return sizeclass_violation(buf, n, "sizeclass 0 (dummy): size %d npages %d divmagic %lu",
                                   gm_class_to_size[0], gm_class_to_allocnpages[0],
                                   (unsigned long)gm_class_to_divmagic[0]);
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        const char *err = sizeclass_check_class(c, buf, n);
        if (err) return err;
    }
    if (gm_class_to_size[GM_NUM_SIZE_CLASSES - 1] != GM_MAX_SMALL_SIZE)
        return sizeclass_violation(buf, n, "last sizeclass is %d bytes, want %d",
                                   gm_class_to_size[GM_NUM_SIZE_CLASSES - 1], GM_MAX_SMALL_SIZE);
    return sizeclass_check_lookup(buf, n);
}
