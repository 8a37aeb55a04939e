/*
 * gm-sizeclasses — prints the model's size-class table in the exact form of the comment at the
 * top of Go's runtime/sizeclasses.go, computed from the tables the allocator really uses
 * (sizeclasses.h), not from the generator.
 *
 * Usage: gm-sizeclasses [--help]
 *
 * Output: byte for byte what mksizeclasses.go's printComment writes, which is also the block of
 * sizeclasses.go from the line "// class  bytes/obj ..." up to (not including) "const (":
 *     // class  bytes/obj  bytes/span  objects  tail waste  max waste  min align
 *     //     1          8        8192     1024           0     87.50%          8
 *     ... one line per class ...
 *     <empty line>
 *     // alignment  bits  min obj size
 *     //         8     3             8
 *     ... one line per alignment step ...
 *     <empty line>
 * The leading "// " is kept so that Go's file needs no editing to compare:
 *     G=/usr/lib/go-1.19/src/runtime/sizeclasses.go
 *     diff <(gm-sizeclasses) <(sed -n '/^\/\/ class/,/^const/p' $G | sed '$d')
 * (the CTest test sizeclasses_vs_go does exactly this comparison).
 *
 * Columns (as Go defines them): bytes/span = npages*8192; objects = bytes/span / size;
 * tail waste = bytes/span - objects*size; max waste = the fraction of the span lost when every
 * slot holds an object one byte larger than the previous class's size; min align = the largest
 * power of two dividing the size, capped at 8192 (spans are page aligned). The alignment
 * summary gives, per alignment, the smallest size from which every larger class has it.
 *
 * Exit status: 0 on success, 1 on a write error, 2 on a usage error.
 */
#include <stdio.h>
#include <string.h>

#include "gm_testing.h"

/* Largest power-of-two exponent dividing x > 0, capped at the page shift. */
static int sizeclasses_align_bits(unsigned x)
{
    int b = 0;
    while (b < GM_PAGE_SHIFT && !(x & 1u)) {
        x >>= 1;
        b++;
    }
    return b;
}

/* The per-class table, then the alignment summary. The arithmetic, integer and floating, is
 * Go's, so the rounded percentages come out identical. */
static void sizeclasses_print(FILE *w)
{
    fprintf(w, "// %-5s  %-9s  %-10s  %-7s  %-10s  %-9s  %-9s\n", "class", "bytes/obj",
            "bytes/span", "objects", "tail waste", "max waste", "min align");
    int prev_size = 0;
    int min_aligns[GM_PAGE_SHIFT + 1] = {0};
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        int size = gm_class_to_size[c];
        int span_bytes = gm_class_to_allocnpages[c] * (int)GM_PAGE_SIZE;
        int nelems = span_bytes / size;
        int tail_waste = span_bytes - nelems * size;
        double max_waste = (double)((size - prev_size - 1) * nelems + tail_waste) / span_bytes;
        int align_bits = sizeclasses_align_bits((unsigned)size);
        /* An alignment counts from the first class that has it; a class without it resets it,
         * so what survives holds for every larger class. */
        for (int b = 0; b <= GM_PAGE_SHIFT; b++) {
            if (b > align_bits)
                min_aligns[b] = 0;
            else if (min_aligns[b] == 0)
                min_aligns[b] = size;
        }
        prev_size = size;
        fprintf(w, "// %5d  %9d  %10d  %7d  %10d  %8.2f%%  %9d\n", c, size, span_bytes, nelems,
                tail_waste, 100 * max_waste, 1 << align_bits);
    }
    fprintf(w, "\n");

    fprintf(w, "// %-9s  %-4s  %-12s\n", "alignment", "bits", "min obj size");
    for (int b = 0; b <= GM_PAGE_SHIFT && min_aligns[b] != 0; b++) {
        /* Alignments that start at the same size as the next one add nothing. */
        if (b < GM_PAGE_SHIFT && min_aligns[b] == min_aligns[b + 1]) continue;
        fprintf(w, "// %9d  %4d  %12d\n", 1 << b, b, min_aligns[b]);
    }
    fprintf(w, "\n");
}

static void sizeclasses_usage(FILE *w)
{
    fprintf(w, "usage: gm-sizeclasses [--help]\n"
               "Prints the size-class table exactly as the comment at the top of Go's\n"
               "runtime/sizeclasses.go (lines kept with their leading \"// \"). Compare with:\n"
               "  diff <(gm-sizeclasses) \\\n"
               "       <(sed -n '/^\\/\\/ class/,/^const/p' GOROOT/src/runtime/sizeclasses.go | "
               "sed '$d')\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sizeclasses_usage(stdout);
            return 0;
        }
        fprintf(stderr, "gm-sizeclasses: unknown argument '%s'\n", argv[i]);
        sizeclasses_usage(stderr);
        return 2;
    }
    sizeclasses_print(stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("gm-sizeclasses: write error");
        return 1;
    }
    return 0;
}
