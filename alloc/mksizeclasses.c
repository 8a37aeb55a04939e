/*
 * mksizeclasses.c — generates alloc/sizeclasses.h, the size-class tables of the Go model
 * (models runtime/mksizeclasses.go of Go 1.19; its output models runtime/sizeclasses.go).
 *
 * Usage:  mksizeclasses > alloc/sizeclasses.h
 * It writes the complete header to stdout and exits 0, or prints why to stderr and exits 1.
 * The CTest test sizeclasses_regenerate reruns it and compares with the checked-in file byte
 * for byte, the way Go keeps sizeclasses.go honest with `go generate`.
 *
 * The algorithm is Go's, restated (reference §1.3):
 *   1. Walk candidate sizes 8, 16, 24, ... up to 32768, widening the step at powers of two
 *      (16 from 32 on, size/8 from 128 on, 256 from 2048 on).
 *   2. Give each candidate the smallest span (a multiple of 8 KiB) that wastes at most 1/8 of
 *      itself at the tail.
 *   3. A candidate with the same span length and object count as the previous class replaces
 *      that class's size: the class keeps the largest size that packs the same way.
 *   4. Second pass: raise each size to the largest multiple of 128 that still fits the same
 *      number of objects in the span (more usable bytes for free; the 128 granule keeps the
 *      second lookup table exact).
 *   5. Exactly 68 classes (with the dummy class 0), or the tables below are not Go 1.19's.
 *   6. Prove that the 32-bit reciprocal divMul = 0xFFFFFFFF/size + 1 divides exactly for every
 *      offset a span can hold: Lemire's bound first, then by brute force, as Go does.
 *
 * Differences from Go:
 *   - It emits C (a header of static const arrays) rather than Go, and prints divMul as the
 *     computed number rather than as the expression Go writes.
 *   - The class table comment is emitted as `//` lines that are byte-identical to the comment
 *     Go puts at the top of sizeclasses.go, so the two files can be diffed directly.
 *   - It checks a few more properties than Go before writing anything (granules of the sizes,
 *     objects per span, the lookup tables), because a wrong table here would silently change
 *     every span the model builds.
 *
 * It is a standalone program: it must build before, and without, the library it feeds.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Constants the generator decides with and hands to the runtime (Go's names in comments). */
enum {
    MAX_SMALL_SIZE = 32 << 10, /* _MaxSmallSize: the largest size served from a class */
    SMALL_SIZE_DIV = 8,        /* smallSizeDiv: granule of size_to_class8 */
    SMALL_SIZE_MAX = 1024,     /* smallSizeMax: where size_to_class8 stops */
    LARGE_SIZE_DIV = 128,      /* largeSizeDiv: granule of size_to_class128 */
    PAGE_SHIFT = 13,           /* _PageShift */
    PAGE_SIZE = 1 << PAGE_SHIFT,
    NUM_SIZE_CLASSES = 68, /* what Go 1.19's algorithm must produce, dummy class 0 included */
    MAX_OBJS_PER_SPAN = PAGE_SIZE / 8, /* class 1 fills one page with 8-byte objects */
    /* Enough room for every candidate size even if none were merged (32768/8 + 1). */
    MAX_CANDIDATES = MAX_SMALL_SIZE / 8 + 1,
    /* Lookup table lengths: one bucket per granule, bucket 0 included. */
    CLASS8_LEN = SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1,                     /* 129 */
    CLASS128_LEN = (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1 /* 249 */
};

/* One size class. size is the largest object it serves; npages the span length in pages. */
typedef struct {
    int size;
    int npages;
    uint32_t divmagic; /* 0xFFFFFFFF/size + 1; 0 for the dummy class 0 */
} sc_class;

static sc_class classes[MAX_CANDIDATES];
static int nclasses;
static uint8_t size_to_class8[CLASS8_LEN];
static uint8_t size_to_class128[CLASS128_LEN];

/* Every failure ends here: say what went wrong and exit 1. All checks run before the header is
 * printed, so a failed run leaves stdout empty (only a write error can stop it half way, and
 * callers check the exit status either way). */
static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("mksizeclasses: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static int is_power_of_two(int x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Number of trailing zero bits of x > 0 (Go's bits.TrailingZeros). */
static int trailing_zeros(unsigned x)
{
    int n = 0;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
}

/* Number of bits needed to represent x (Go's bits.Len): 0 for 0. */
static int bit_len(uint64_t x)
{
    int n = 0;
    while (x) {
        x >>= 1;
        n++;
    }
    return n;
}

/* Steps 1–5 of the header comment (Go's makeClasses, minus computeDivMagic). */
static void make_classes(void)
{
    nclasses = 0;
    classes[nclasses++] = (sc_class){0, 0, 0}; /* class 0: "large object, own span" */

    int align = 8;
    for (int size = align; size <= MAX_SMALL_SIZE; size += align) {
        /* The step widens at powers of two, before the candidate itself is placed, so the
         * power of two is always a candidate. The 16-byte step from 32 on exists because Go
         * 1.19's heap bitmap assumes 16-byte granularity for objects of 32 bytes and up. */
        if (is_power_of_two(size)) {
            if (size >= 2048)
                align = 256;
            else if (size >= 128)
                align = size / 8;
            else if (size >= 32)
                align = 16;
        }
        if (!is_power_of_two(align)) fail("step %d at size %d is not a power of two", align, size);

        /* Smallest span whose tail (the bytes no object fits in) is at most 1/8 of it, so the
         * chopping wastes at most 12.5%. Integer division, as Go: the bound is floor(A/8). */
        int allocsize = PAGE_SIZE;
        while (allocsize % size > allocsize / 8) allocsize += PAGE_SIZE;
        int npages = allocsize / PAGE_SIZE;

        /* Same span, same object count as the previous class: two classes would pack
         * identically, so keep only the larger size. The dummy class never merges. */
        sc_class *prev = &classes[nclasses - 1];
        if (nclasses > 1 && npages == prev->npages && allocsize / size == allocsize / prev->size) {
            prev->size = size;
            continue;
        }
        if (nclasses == MAX_CANDIDATES) fail("more candidates than sizes: the walk is broken");
        classes[nclasses++] = (sc_class){size, npages, 0};
    }

    /* Second pass: the same number of objects may fit in the span at a larger size (8448
     * becomes 9472: still 6 objects in 7 pages, 12% more bytes each). Round down to a multiple
     * of 128 so every size above 1024 stays on the size_to_class128 grid. */
    for (int i = 1; i < nclasses; i++) {
        sc_class *c = &classes[i];
        int psize = c->npages * PAGE_SIZE;
        int new_size = (psize / (psize / c->size)) & ~(LARGE_SIZE_DIV - 1);
        if (new_size > c->size) c->size = new_size;
    }

    if (nclasses != NUM_SIZE_CLASSES)
        fail("number of size classes has changed: %d, want %d", nclasses, NUM_SIZE_CLASSES);
}

/*
 * Step 6 (Go's computeDivMagic): the runtime turns a span offset n into an object index with
 * (n * divmagic) >> 32 instead of n / size. Lemire, Kaser and Kurz ("Faster Remainder by
 * Direct Computation", arXiv:1902.01961, Algorithm 2) give the fewest fractional bits F that
 * make ceil(2^F/d) exact for all N-bit n; Go requires F <= 32 and then tries every n anyway.
 * We do both: the bound explains why 32 bits suffice, the loop proves the exact expression the
 * runtime evaluates.
 */
static void compute_div_magic(sc_class *c)
{
    int d = c->size;
    if (d == 0) return; /* the dummy class divides nothing */

    uint64_t max = (uint64_t)c->npages * PAGE_SIZE; /* offsets 0..max inclusive, like Go */
    int n_bits = bit_len(max);
    int f;
    if (is_power_of_two(d)) {
        f = trailing_zeros((unsigned)d); /* exact shift, multiplier 1 */
    } else {
        /* Smallest L with d <= (2^(N+L) mod d) + 2^L; n_bits <= 17 here, so 64 bits hold it. */
        int l = 0;
        while ((uint64_t)d > ((UINT64_C(1) << (n_bits + l)) % (uint64_t)d) + (UINT64_C(1) << l))
            l++;
        f = n_bits + l;
    }
    if (f > 32)
        fail("size %d (max offset %" PRIu64 ", N=%d) needs F=%d > 32 bits of precision", d, max,
             n_bits, f);

    uint32_t m = UINT32_MAX / (uint32_t)d + 1;
    for (uint64_t n = 0; n <= max; n++) {
        if ((uint32_t)((n * m) >> 32) != (uint32_t)(n / (uint64_t)d))
            fail("bad 32-bit multiply magic: size %d max %" PRIu64 " m %" PRIu32 " n %" PRIu64, d,
                 max, m, n);
    }
    c->divmagic = m;
}

/* Smallest class whose size is >= size (the rule both lookup tables encode). */
static int class_for(int size)
{
    for (int j = 0; j < nclasses; j++)
        if (classes[j].size >= size) return j;
    fail("no class holds %d bytes", size);
}

/* Go builds these inside printClasses; we build them first so they can be checked. */
static void make_lookup_tables(void)
{
    for (int i = 0; i < CLASS8_LEN; i++) size_to_class8[i] = (uint8_t)class_for(i * SMALL_SIZE_DIV);
    for (int i = 0; i < CLASS128_LEN; i++)
        size_to_class128[i] = (uint8_t)class_for(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV);
}

/* Checks Go leaves implicit. The lookup tables bucket requests by 8 (up to 1024) and 128 bytes
 * (above), so they are only exact if every class size lies on those grids; the span bitmaps
 * are sized for at most 1024 objects. */
static void verify_tables(void)
{
    for (int i = 1; i < nclasses; i++) {
        const sc_class *c = &classes[i];
        int granule = c->size <= SMALL_SIZE_MAX ? SMALL_SIZE_DIV : LARGE_SIZE_DIV;
        if (c->size <= classes[i - 1].size) fail("class %d: size %d not increasing", i, c->size);
        if (c->size % granule) fail("class %d: size %d not a multiple of %d", i, c->size, granule);
        if (c->npages > UINT8_MAX) fail("class %d: %d pages do not fit uint8_t", i, c->npages);
        int span_bytes = c->npages * PAGE_SIZE, nelems = span_bytes / c->size;
        if (nelems < 1 || nelems > MAX_OBJS_PER_SPAN)
            fail("class %d: %d objects per span", i, nelems);
        if (span_bytes % c->size > span_bytes / 8) fail("class %d: tail waste above 1/8", i);
    }
    if (classes[nclasses - 1].size != MAX_SMALL_SIZE)
        fail("the last class is %d bytes, not %d", classes[nclasses - 1].size, MAX_SMALL_SIZE);

    /* Every request 1..32768 must land on the smallest class that holds it (the lookup the
     * runtime does, msize.go/malloc.go). */
    for (int s = 1; s <= MAX_SMALL_SIZE; s++) {
        int got =
            s <= SMALL_SIZE_MAX - 8
                ? size_to_class8[(s + SMALL_SIZE_DIV - 1) / SMALL_SIZE_DIV]
                : size_to_class128[(s - SMALL_SIZE_MAX + LARGE_SIZE_DIV - 1) / LARGE_SIZE_DIV];
        if (got != class_for(s))
            fail("lookup of %d bytes gives class %d, want %d", s, got, class_for(s));
    }
}

/*
 * The table Go prints at the top of sizeclasses.go (printComment), line for line: per class
 * its span, object count, tail waste, the worst waste when every object is one byte larger
 * than the previous class, and the alignment every object gets (largest power of two dividing
 * the size, capped at the page, since spans are page aligned); then, for each alignment, the
 * smallest size from which every larger class has at least that alignment.
 * Floating point is used exactly as Go uses it, so the percentages round identically.
 */
static void print_comment(FILE *w)
{
    fprintf(w, "// %-5s  %-9s  %-10s  %-7s  %-10s  %-9s  %-9s\n", "class", "bytes/obj",
            "bytes/span", "objects", "tail waste", "max waste", "min align");
    int prev_size = 0;
    int min_aligns[PAGE_SHIFT + 1] = {0};
    for (int i = 1; i < nclasses; i++) {
        const sc_class *c = &classes[i];
        int span_size = c->npages * PAGE_SIZE;
        int objects = span_size / c->size;
        int tail_waste = span_size - c->size * objects;
        double max_waste =
            (double)((c->size - prev_size - 1) * objects + tail_waste) / (double)span_size;
        int align_bits = trailing_zeros((unsigned)c->size);
        if (align_bits > PAGE_SHIFT) align_bits = PAGE_SHIFT;
        /* An alignment is guaranteed from the first class that has it until a class lacks it,
         * which resets it: the summary only keeps alignments that hold for all larger sizes. */
        for (int b = 0; b <= PAGE_SHIFT; b++) {
            if (b > align_bits)
                min_aligns[b] = 0;
            else if (min_aligns[b] == 0)
                min_aligns[b] = c->size;
        }
        prev_size = c->size;
        fprintf(w, "// %5d  %9d  %10d  %7d  %10d  %8.2f%%  %9d\n", i, c->size, span_size, objects,
                tail_waste, 100 * max_waste, 1 << align_bits);
    }
    fprintf(w, "\n");

    fprintf(w, "// %-9s  %-4s  %-12s\n", "alignment", "bits", "min obj size");
    for (int b = 0; b <= PAGE_SHIFT; b++) {
        if (min_aligns[b] == 0) break;
        if (b + 1 <= PAGE_SHIFT && min_aligns[b] == min_aligns[b + 1]) continue;
        fprintf(w, "// %9d  %4d  %12d\n", 1 << b, b, min_aligns[b]);
    }
    fprintf(w, "\n");
}

/* Prints one array initializer, `per_line` values to a line, each line led by a comment with
 * the index of its first value so a reader can find entry i without counting. */
static void print_array(FILE *w, const char *decl, int n, int per_line, uint64_t (*value)(int))
{
    fprintf(w, "%s = {\n", decl);
    for (int i = 0; i < n; i++) {
        if (i % per_line == 0) fprintf(w, "    /* %3d */", i);
        fprintf(w, " %" PRIu64 ",", value(i));
        if (i % per_line == per_line - 1 || i == n - 1) fprintf(w, "\n");
    }
    fprintf(w, "};\n");
}

static uint64_t class_size(int i)
{
    return (uint64_t)classes[i].size;
}
static uint64_t class_npages(int i)
{
    return (uint64_t)classes[i].npages;
}
static uint64_t class_divmagic(int i)
{
    return classes[i].divmagic;
}
static uint64_t lookup8(int i)
{
    return size_to_class8[i];
}
static uint64_t lookup128(int i)
{
    return size_to_class128[i];
}

static void print_define(FILE *w, const char *name, int value, const char *why)
{
    fprintf(w, "#define %-19s %-5d /* %s */\n", name, value, why);
}

static void print_header(FILE *w)
{
    fprintf(w, "/* Code generated by mksizeclasses.c; DO NOT EDIT. */\n");
    fprintf(
        w, "/*\n"
           " * sizeclasses.h — Go 1.19's size-class tables (runtime/sizeclasses.go), computed by\n"
           " * alloc/mksizeclasses.c with the algorithm of runtime/mksizeclasses.go. Regenerate:\n"
           " *     mksizeclasses > alloc/sizeclasses.h\n"
           " * The test sizeclasses_regenerate fails when this file and the generator disagree.\n"
           " *\n"
           " * The `//` table below is byte-identical to the comment at the top of Go's\n"
           " * sizeclasses.go. Lookups (gm_size_to_class in internal.h): a request of s bytes,\n"
           " * 1 <= s <= GM_MAX_SMALL_SIZE, uses gm_size_to_class8[(s + 7) / 8] when\n"
           " * s <= GM_SMALL_SIZE_MAX - 8, else gm_size_to_class128[(s - 1024 + 127) / 128]; both\n"
           " * give the smallest class whose size is >= s.\n"
           " */\n");
    fprintf(w, "#ifndef GM_SIZECLASSES_H\n#define GM_SIZECLASSES_H\n\n#include <stdint.h>\n\n");

    print_comment(w);

    print_define(w, "GM_MAX_SMALL_SIZE", MAX_SMALL_SIZE,
                 "_MaxSmallSize: largest size served from a class");
    print_define(w, "GM_SMALL_SIZE_DIV", SMALL_SIZE_DIV,
                 "smallSizeDiv: granule of gm_size_to_class8");
    print_define(w, "GM_SMALL_SIZE_MAX", SMALL_SIZE_MAX, "smallSizeMax: end of gm_size_to_class8");
    print_define(w, "GM_LARGE_SIZE_DIV", LARGE_SIZE_DIV,
                 "largeSizeDiv: granule of gm_size_to_class128");
    print_define(w, "GM_NUM_SIZE_CLASSES", nclasses, "_NumSizeClasses, dummy class 0 included");
    fprintf(w, "\n");

    fprintf(w, "/* Object size of each class; class 0 is the dummy \"large object\" class. */\n");
    print_array(w, "static const uint16_t gm_class_to_size[GM_NUM_SIZE_CLASSES]", nclasses, 10,
                class_size);
    fprintf(w, "\n/* Span length in 8 KiB pages of each class. */\n");
    print_array(w, "static const uint8_t gm_class_to_allocnpages[GM_NUM_SIZE_CLASSES]", nclasses,
                16, class_npages);
    fprintf(
        w,
        "\n/* 0xFFFFFFFF / size + 1: (offset * divmagic) >> 32 == offset / size for every\n"
        " * offset 0..npages*8192 of the class (verified by the generator). 0 for class 0. */\n");
    print_array(w, "static const uint32_t gm_class_to_divmagic[GM_NUM_SIZE_CLASSES]", nclasses, 8,
                class_divmagic);
    fprintf(w, "\n/* Entry i: smallest class with size >= i*8 (requests up to 1024 bytes). */\n");
    print_array(w, "static const uint8_t gm_size_to_class8[129]", CLASS8_LEN, 16, lookup8);
    fprintf(w,
            "\n/* Entry i: smallest class with size >= 1024 + i*128 (requests above 1024). */\n");
    print_array(w, "static const uint8_t gm_size_to_class128[249]", CLASS128_LEN, 16, lookup128);

    fprintf(w, "\n#endif /* GM_SIZECLASSES_H */\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            printf("usage: mksizeclasses > alloc/sizeclasses.h\n"
                   "Computes Go 1.19's size classes (mksizeclasses.go's algorithm), verifies\n"
                   "them, and writes the C header to stdout. Exit 1 if a check fails.\n");
            return 0;
        }
        fprintf(stderr, "mksizeclasses: unknown argument '%s' (try --help)\n", argv[1]);
        return 2;
    }
    _Static_assert(CLASS8_LEN == 129 && CLASS128_LEN == 249, "lengths in the emitted decls");

    make_classes();
    for (int i = 0; i < nclasses; i++) compute_div_magic(&classes[i]);
    make_lookup_tables();
    verify_tables();

    print_header(stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) fail("write error on stdout");
    return 0;
}
