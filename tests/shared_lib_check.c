/*
 * shared_lib_check.c — libgomalloc.so exports the public API of gomalloc.h (and only through
 * it: the library is built with hidden visibility). Loads the library with dlopen and calls
 * through what dlsym finds.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* Not gm_test.h: that header reaches into the static library's internals, and this test must
 * see only what the shared library exports. */
static int failures;
#define CHECK(c)                                                                                   \
    ((c) ? (void)0                                                                                 \
         : (void)(failures++,                                                                      \
                  fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c)))

static const char *const api[] = {"gm_malloc",
                                  "gm_calloc",
                                  "gm_realloc",
                                  "gm_free",
                                  "gm_aligned_alloc",
                                  "gm_posix_memalign",
                                  "gm_usable_size",
                                  "gm_alloc",
                                  "gm_read_memstats",
                                  "gm_gc",
                                  "gm_set_gc_percent",
                                  "gm_gomaxprocs",
                                  "gm_thread_detach",
                                  "gm_set_gc_mode",
                                  "gm_gc_mode",
                                  "gm_set_memory_limit",
                                  NULL};

int main(void)
{
    void *lib = dlopen(GM_SHARED_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    CHECK(lib != NULL);
    if (!lib) {
        fprintf(stderr, "dlopen %s: %s\n", GM_SHARED_LIBRARY, dlerror());
        return 1;
    }
    for (int i = 0; api[i]; i++) {
        void *sym = dlsym(lib, api[i]);
        if (!sym) fprintf(stderr, "%s is not exported\n", api[i]);
        CHECK(sym != NULL);
    }
    /* An internal function stays internal. */
    CHECK(dlsym(lib, "gm_heap_create") == NULL);
    void *(*m)(size_t) = (void *(*)(size_t))dlsym(lib, "gm_malloc");
    size_t (*us)(const void *) = (size_t(*)(const void *))dlsym(lib, "gm_usable_size");
    void (*f)(void *) = (void (*)(void *))dlsym(lib, "gm_free");
    if (m && us && f) {
        char *p = m(100);
        CHECK(p != NULL);
        CHECK(us(p) >= 100);
        memset(p, 1, 100);
        f(p);
    }
    printf("shared_lib_check: %d failed\n", failures);
    return failures != 0;
}
