/*
 * probe.c — libgmprobe.so: the proof of which allocator served a real program (programs.c).
 *
 * `gmbench program` preloads it after the allocator under test
 * (LD_PRELOAD=<allocator library>:libgmprobe.so) with GMBENCH_PROBE_OUT naming a file. When a
 * process of the program exits normally, the probe's ELF destructor (after the program's own
 * atexit handlers and destructors) appends one line to that file:
 *
 *     pid <pid> provider <file defining malloc> check <what was observed> ok <0|1>
 *
 * The provider is dladdr() of the malloc the dynamic linker bound (dlsym(RTLD_DEFAULT)), as
 * backend.c's step 1; the check is step 2, the allocator's own introspection seeing an
 * allocation just made, chosen by the provider's file name: the Go model's Mallocs counter
 * (gm_preload_read_memstats) moves, jemalloc's thread.allocated moves, mimalloc's
 * mi_is_in_heap_region accepts the pointer, tcmalloc's generic.current_allocated_bytes moves,
 * tbbmalloc's scalable_msize sizes it, glibc's mallinfo2 in-use bytes move. For the Go model
 * the line also carries the program's totals (mallocs, frees, sweep cycles, heap bytes), so a
 * result shows how much of the program the model served.
 *
 * Every process of the program that inherits LD_PRELOAD (a compiler driver's cc1 and as, a
 * shell make starts) writes its own line; the harness requires every line to name the claimed
 * allocator. One write(2) per line with O_APPEND, so lines of concurrent processes never mix.
 * Built without sanitizers; links nothing of ours.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gomalloc.h" /* gm_memstats only: nothing of the model is linked */

static void *sym(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

static inline void escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool check_gomodel(char *out, size_t len)
{
    void (*read)(gm_memstats *) = (void (*)(gm_memstats *))sym("gm_preload_read_memstats");
    if (!read) return snprintf(out, len, "gm_preload_read_memstats not found"), false;
    int (*mode)(void) = (int (*)(void))sym("gm_gc_mode");
    static gm_memstats before, after;
    read(&before);
    void *p = malloc(100);
    escape(p);
    read(&after);
    free(p);
    snprintf(out, len,
             "gm_read_memstats mallocs %llu -> %llu after malloc(100); mode %s; program totals: "
             "mallocs %llu frees %llu num_gc %llu heap_sys %llu",
             (unsigned long long)before.mallocs, (unsigned long long)after.mallocs,
             mode ? (mode() ? "gc" : "free") : "?", (unsigned long long)after.mallocs,
             (unsigned long long)after.frees, (unsigned long long)after.num_gc,
             (unsigned long long)after.heap_sys);
    return p && after.mallocs > before.mallocs;
}

static bool check_jemalloc(char *out, size_t len)
{
    int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
        (int (*)(const char *, void *, size_t *, void *, size_t))sym("mallctl");
    uint64_t before = 0, after = 0;
    size_t n = sizeof before;
    if (!mallctl || mallctl("thread.allocated", &before, &n, NULL, 0))
        return snprintf(out, len, "mallctl thread.allocated not available"), false;
    void *p = malloc(1000);
    escape(p);
    mallctl("thread.allocated", &after, &n, NULL, 0);
    free(p);
    snprintf(out, len, "mallctl thread.allocated %llu -> %llu after malloc(1000)",
             (unsigned long long)before, (unsigned long long)after);
    return p && after >= before + 1000;
}

static bool check_mimalloc(char *out, size_t len)
{
    bool (*in_heap)(const void *) = (bool (*)(const void *))sym("mi_is_in_heap_region");
    if (!in_heap) return snprintf(out, len, "mi_is_in_heap_region not found"), false;
    void *p = malloc(1000);
    escape(p);
    bool ok = p && in_heap(p);
    free(p);
    snprintf(out, len, "mi_is_in_heap_region(malloc(1000)) = %s", ok ? "true" : "false");
    return ok;
}

static bool check_tcmalloc(char *out, size_t len)
{
    int (*get)(const char *, size_t *) =
        (int (*)(const char *, size_t *))sym("MallocExtension_GetNumericProperty");
    size_t before = 0, after = 0;
    if (!get || !get("generic.current_allocated_bytes", &before))
        return snprintf(out, len, "MallocExtension_GetNumericProperty not available"), false;
    void *p = malloc(100000);
    escape(p);
    get("generic.current_allocated_bytes", &after);
    free(p);
    snprintf(out, len, "generic.current_allocated_bytes %zu -> %zu after malloc(100000)", before,
             after);
    return p && after >= before + 100000;
}

static bool check_tbbmalloc(char *out, size_t len)
{
    size_t (*msize)(void *) = (size_t(*)(void *))sym("scalable_msize");
    if (!msize) return snprintf(out, len, "scalable_msize not found"), false;
    void *p = malloc(1000);
    escape(p);
    size_t n = p ? msize(p) : 0;
    free(p);
    snprintf(out, len, "scalable_msize(malloc(1000)) = %zu", n);
    return n >= 1000;
}

static bool check_glibc(char *out, size_t len)
{
    struct mallinfo2 before = mallinfo2();
    void *p = malloc(4096);
    escape(p);
    struct mallinfo2 after = mallinfo2();
    free(p);
    size_t b = before.uordblks + before.hblkhd, a = after.uordblks + after.hblkhd;
    snprintf(out, len, "mallinfo2 uordblks+hblkhd %zu -> %zu after malloc(4096)", b, a);
    return p && a >= b + 4096;
}

static const struct {
    const char *prefix; /* of the provider's file name */
    bool (*check)(char *, size_t);
} checks[] = {
    {"libgomalloc-preload.so", check_gomodel},  {"libjemalloc.so", check_jemalloc},
    {"libmimalloc.so", check_mimalloc},         {"libtcmalloc_minimal.so", check_tcmalloc},
    {"libtbbmalloc_proxy.so", check_tbbmalloc}, {"libc.so", check_glibc},
};

/* The object that defines the malloc the program's calls reach. dlsym(RTLD_DEFAULT) is not
 * enough on its own: an executable that takes malloc's address (python3 does) owns a canonical
 * PLT entry for it, which dlsym returns though the executable defines nothing. Then the
 * definition is the first one in the global search order, which for objects loaded at start
 * is dl_iterate_phdr's order: each object is asked for its own malloc (a definition inside
 * that very file). */
enum { MAX_OBJS = 512 };
static struct {
    const char *name[MAX_OBJS];
    int n;
} objs;

static int collect(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size, (void)ctx;
    if (objs.n < MAX_OBJS && info->dlpi_name && info->dlpi_name[0])
        objs.name[objs.n++] = info->dlpi_name;
    return 0;
}

static const char *malloc_provider(void)
{
    Dl_info info;
    const ElfW(Sym) *es = NULL;
    void *m = sym("malloc");
    if (!m || !dladdr1(m, &info, (void **)&es, RTLD_DL_SYMENT) || !info.dli_fname)
        return "(unknown)";
    if (es && es->st_shndx != SHN_UNDEF) return info.dli_fname; /* a real definition */
    objs.n = 0;
    dl_iterate_phdr(collect, NULL);
    for (int i = 0; i < objs.n; i++) {
        void *h = dlopen(objs.name[i], RTLD_NOLOAD | RTLD_LAZY);
        void *s = h ? dlsym(h, "malloc") : NULL;
        Dl_info si;
        bool here = s && dladdr(s, &si) && si.dli_fname && !strcmp(si.dli_fname, objs.name[i]);
        if (h) dlclose(h);
        if (here) return objs.name[i];
    }
    return info.dli_fname;
}

__attribute__((destructor)) static void probe_report(void)
{
    const char *path = getenv("GMBENCH_PROBE_OUT");
    if (!path || !*path) return;
    static char line[2048], check[1536];
    const char *provider = malloc_provider();
    const char *slash = strrchr(provider, '/');
    const char *base = slash ? slash + 1 : provider;
    bool ok = false;
    snprintf(check, sizeof check, "no introspection known for %s", base);
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (has_prefix(base, checks[i].prefix)) {
            ok = checks[i].check(check, sizeof check);
            break;
        }
    int n = snprintf(line, sizeof line, "pid %d provider %s check %s ok %d\n", (int)getpid(),
                     provider, check, ok ? 1 : 0);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
    if (write(fd, line, (size_t)n) != n) { /* the harness reports a missing line */
    }
    close(fd);
}
