/*
 * test_hooks.c — the hooks the fuzz targets rely on:
 *   - gm_set_misuse_handler: every kind of misuse (invalid, interior, double free of small,
 *     tiny and large objects; realloc of a freed object) reaches the handler with the pointer
 *     and the same text the abort message carries; the handler may longjmp out, after which
 *     the heap checks clean and keeps working; a handler that returns still aborts with the
 *     message naming the pointer; NULL restores the default;
 *   - under ASan (the asan preset): free slots are poisoned — a freed small object, a slot not
 *     handed out yet, a dead tiny block, a freed large object's pages — and a live object is
 *     addressable over its whole usable size; reading freed memory is reported by ASan; a
 *     destroyed heap leaves no poisoned shadow behind. Other builds print that they skip this
 *     part (the annotations compile to nothing there).
 */
#include <setjmp.h>

#include "gm_test.h"

#if defined(GM_ASAN)
#include <sanitizer/asan_interface.h>
#endif

static jmp_buf jb;
static const char *seen_what;
static const void *seen_ptr;
static int seen_count;

static void catch_misuse(const char *what, const void *p)
{
    seen_what = what;
    seen_ptr = p;
    seen_count++;
    longjmp(jb, 1);
}

enum { DO_FREE, DO_REALLOC };

/* Run one call that must be reported as misuse of p, with text containing want. */
static void expect_caught(gm_mheap *h, gm_m *m, int how, void *p, const char *want)
{
    int before = seen_count;
    seen_what = NULL;
    if (setjmp(jb) == 0) {
        if (how == DO_FREE)
            gm_heap_free(h, m, p);
        else
            (void)gm_heap_realloc(h, m, p, 100);
    }
    CHECK_EQ(seen_count, before + 1);
    CHECK(seen_ptr == p);
    CHECK(seen_what && strstr(seen_what, want));
    if (!seen_what || !strstr(seen_what, want))
        fprintf(stderr, "  misuse of %p: got \"%s\", want \"%s\"\n", p,
                seen_what ? seen_what : "(none)", want);
    CHECK_HEAP(h);
}

static void test_misuse_handler(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 100);
    CHECK(gm_set_misuse_handler(catch_misuse) == NULL);
    static char not_ours[64];
    char *small = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    char *keep = gm_heap_alloc(h, &m, 64, GM_NOSCAN); /* keeps small's span in use */
    char *large = gm_heap_alloc(h, &m, 100000, GM_NOSCAN);
    char *ta = gm_heap_alloc(h, &m, 4, GM_NOSCAN), *tb = gm_heap_alloc(h, &m, 4, GM_NOSCAN);
    expect_caught(h, &m, DO_FREE, not_ours + 8, "not allocated by gomalloc");
    expect_caught(h, &m, DO_FREE, small + 8, "interior pointer");
    expect_caught(h, &m, DO_FREE, large + 8192, "interior pointer into a large object");
    gm_heap_free(h, &m, small);
    expect_caught(h, &m, DO_FREE, small, "double free (object already freed)");
    expect_caught(h, &m, DO_REALLOC, small, "freed object");
    gm_heap_gc(h, &m);
    expect_caught(h, &m, DO_FREE, small, "already freed and swept");
    gm_heap_free(h, &m, large);
    expect_caught(h, &m, DO_FREE, large, "not allocated by gomalloc");
    gm_heap_free(h, &m, ta);
    expect_caught(h, &m, DO_FREE, ta, "double free of a tiny object");
    /* The heap is intact after all that: it frees and allocates as before. */
    gm_heap_free(h, &m, tb);
    gm_heap_free(h, &m, keep);
    void *again = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    CHECK(again != NULL);
    gm_heap_free(h, &m, again);
    gm_heap_gc(h, &m);
    CHECK_HEAP(h);
    CHECK(gm_set_misuse_handler(NULL) == catch_misuse);
    gm_heap_destroy(h);
}

static void returning_handler(const char *what, const void *p)
{
    (void)what, (void)p;
}

static void double_free_with_returning_handler(void *arg)
{
    (void)arg;
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 100);
    gm_set_misuse_handler(returning_handler);
    void *p = gm_heap_alloc(h, &m, 48, GM_NOSCAN);
    gm_heap_free(h, &m, p);
    gm_heap_free(h, &m, p);
}

static void test_returning_handler_aborts(void)
{
    char out[1024];
    int st = gm_run_child(double_free_with_returning_handler, NULL, out, sizeof out);
    CHECK(gm_child_aborted(st));
    CHECK(strstr(out, "gomalloc: free(0x") && strstr(out, "double free"));
}

#if defined(GM_ASAN)
static void read_after_free(void *arg)
{
    (void)arg;
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 100);
    volatile char *p = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    p[0] = 1;
    gm_heap_free(h, &m, (void *)p);
    fprintf(stderr, "read %d\n", p[1]); /* ASan reports this read and exits */
}

static void test_poisoning(void)
{
    gm_m m;
    gm_mheap *h = gm_test_heap(&m, 1, 100);
    char *a = gm_heap_alloc(h, &m, 64, GM_NOSCAN), *b = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    CHECK(__asan_region_is_poisoned(a, 64) == NULL);
    CHECK(__asan_address_is_poisoned(b + 64)); /* the next slot is not handed out yet */
    memset(a, 0xab, gm_heap_usable_size(h, a));
    gm_heap_free(h, &m, a);
    CHECK(__asan_address_is_poisoned(a) && __asan_address_is_poisoned(a + 63));
    CHECK(__asan_region_is_poisoned(b, 64) == NULL);
    gm_heap_gc(h, &m); /* swept: the slot is free, still poisoned, and comes back addressable */
    CHECK(__asan_address_is_poisoned(a));
    char *c = gm_heap_alloc(h, &m, 64, GM_NOSCAN);
    CHECK(c == a && __asan_region_is_poisoned(c, 64) == NULL);

    /* Tiny: the block stays addressable while any object in it lives, dies whole. */
    char *t1 = gm_heap_alloc(h, &m, 4, GM_NOSCAN), *t2 = gm_heap_alloc(h, &m, 4, GM_NOSCAN);
    CHECK(t2 == t1 + 4);
    gm_heap_free(h, &m, t1);
    CHECK(!__asan_address_is_poisoned(t2));
    gm_heap_free(h, &m, t2);
    CHECK(!__asan_address_is_poisoned(t2)); /* still the current block */
    gm_heap_gc(h, &m);                      /* current and empty: survives this cycle */
    gm_heap_gc(h, &m);                      /* and dies at the next */
    CHECK(__asan_address_is_poisoned(t1) && __asan_address_is_poisoned(t1 + 15));

    /* Large: addressable whole while live, every page poisoned once freed. */
    size_t n = 5 * GM_PAGE_SIZE;
    char *l = gm_heap_alloc(h, &m, n, GM_NOSCAN);
    CHECK(__asan_region_is_poisoned(l, n) == NULL);
    gm_heap_free(h, &m, l);
    CHECK(__asan_address_is_poisoned(l) && __asan_address_is_poisoned(l + n - 1));
    CHECK_HEAP(h);
    gm_heap_destroy(h);
    /* Destroy forgets the poison: the next mapping at those addresses starts clean. */
    CHECK(__asan_region_is_poisoned(l, n) == NULL && !__asan_address_is_poisoned(a));

    char out[4096];
    int st = gm_run_child(read_after_free, NULL, out, sizeof out);
    CHECK(st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0));
    CHECK(strstr(out, "use-after-poison") != NULL);
}
#else
static void test_poisoning(void)
{
    printf("test_hooks: not an ASan build, poisoning checks skipped\n");
}
#endif

int main(void)
{
    test_misuse_handler();
    test_returning_handler_aborts();
    test_poisoning();
    return gm_test_finish("test_hooks");
}
