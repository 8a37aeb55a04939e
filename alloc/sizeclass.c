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
