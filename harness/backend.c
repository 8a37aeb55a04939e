/*
 * backend.c — the allocators gmbench measures (backend.h explains the model: one allocator per
 * process, competitors preloaded, identity proven before anything is measured).
 *
 * Every backend is one row of a table built from small per-backend functions. The competitors
 * share one allocation interface — the plain malloc family — because the preloaded library
 * serves it, exactly as it would serve a program linked against it; what differs between them is
 * only how they report statistics and how their introspection recognises an allocation. Those
 * allocator-specific functions are found with dlsym(RTLD_DEFAULT, ...) at the moment of use, so
 * gmbench links none of the competitors and runs where they are not installed.
 *
 * Nothing outside the backends' own allocation functions calls malloc: statistics, proofs, the
 * library search and the dpkg lookup use the stack and read-only file mappings only, because
 * anything else would be served by the allocator under test and show up in its numbers.
 */
#define _GNU_SOURCE
#include "backend.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_info.h"
#include "gm_workload.h"
#include "gomalloc.h"

/* The model's version is the project's (CMake project(VERSION), through build_info.h). */
#define GM_MODEL_VERSION GM_PROJECT_VERSION
/* glibc's allocator lives in libc itself; gomodel(-gc) and bump require it too (prove_provider). */
#define LIBC_SONAME "libc.so.6"

/* The multiarch directory Debian keeps this build's libraries in. */
#if defined(__x86_64__)
#define GM_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define GM_MULTIARCH "aarch64-linux-gnu"
#elif defined(__i386__)
#define GM_MULTIARCH "i386-linux-gnu"
#else
#define GM_MULTIARCH "unknown-linux-gnu"
#endif

/* A sanitizer that intercepts malloc (ASan, TSan) serves every malloc of a sanitized process;
 * nothing can be preloaded in front of it. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GM_MALLOC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GM_MALLOC_SANITIZED 1
#endif
#endif
#ifndef GM_MALLOC_SANITIZED
#define GM_MALLOC_SANITIZED 0
#endif

/* Makes p visible to the compiler as used, so a malloc/free pair around an introspection call
 * is not deleted as dead code (GCC removes unused malloc/free pairs). */
static inline void escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (!why || !whylen) return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static void *sym(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

/* ---- the plain malloc family: glibc and every preloaded competitor -------------------------- */

static void *plain_alloc(size_t size, unsigned flags)
{
    return (flags & GM_OPF_ZERO) ? calloc(1, size) : malloc(size);
}

/* No C allocator has an aligned calloc, so zeroing an aligned object is the caller's memset —
 * what a program that needs both does. */
static void *plain_alloc_aligned(size_t align, size_t size, unsigned flags)
{
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0) return NULL;
    if (flags & GM_OPF_ZERO) memset(p, 0, size);
    return p;
}

static void *plain_realloc(void *p, size_t size)
{
    return realloc(p, size);
}

static void plain_free(void *p)
{
    free(p);
}

/* ---- gomodel: the Go model through its own API ---------------------------------------------- */

static unsigned gomodel_flags(unsigned opflags)
{
    return ((opflags & GM_OPF_SCAN) ? GM_SCAN : 0) | ((opflags & GM_OPF_ZERO) ? GM_ZERO : 0);
}

/* mallocgc itself: size 0 returns Go's zerobase, which gm_free accepts. */
static void *gomodel_alloc(size_t size, unsigned flags)
{
    return gm_alloc(size, gomodel_flags(flags));
}

/* Go has no aligned allocation; the model's posix_memalign cannot be told about pointers, so
 * GM_OPF_SCAN is lost for aligned objects (Go programs never make them). */
static void *gomodel_alloc_aligned(size_t align, size_t size, unsigned flags)
{
    void *p = NULL;
    if (gm_posix_memalign(&p, align, size) != 0) return NULL;
    if (flags & GM_OPF_ZERO) memset(p, 0, size);
    return p;
}

static void gomodel_stats(gm_json *j)
{
    gm_memstats ms;
    gm_read_memstats(&ms);
    gm_json_u64(j, "heap_alloc", ms.heap_alloc);
    gm_json_u64(j, "heap_inuse", ms.heap_inuse);
    gm_json_u64(j, "heap_idle", ms.heap_idle);
    gm_json_u64(j, "heap_released", ms.heap_released);
    gm_json_u64(j, "heap_sys", ms.heap_sys);
    gm_json_u64(j, "sys", ms.sys);
    gm_json_u64(j, "mallocs", ms.mallocs);
    gm_json_u64(j, "frees", ms.frees);
    gm_json_u64(j, "num_gc", ms.num_gc);
    gm_json_u64(j, "stack_inuse", ms.stack_inuse); /* goroutine stacks (not in heap_inuse) */
    gm_json_u64(j, "stack_sys", ms.stack_sys);
    /* Whole in-use spans over the bytes of allocated objects: Go's own fragmentation measure. */
    if (ms.heap_alloc) gm_json_num(j, "frag_own", (double)ms.heap_inuse / (double)ms.heap_alloc);
}

/* Goroutines on the model's stack allocator (alloc/stack.c). */
static void *gomodel_g_create(void)
{
    return gm_g_create();
}
static void gomodel_g_exit(void *g)
{
    gm_g_exit(g);
}
static void *gomodel_g_push(void *g, size_t frame)
{
    return gm_g_push(g, frame);
}
static void gomodel_g_pop(void *g)
{
    gm_g_pop(g);
}
static void *gomodel_g_alloc(void *g, size_t size, unsigned flags)
{
    return gm_g_alloc(g, size, gomodel_flags(flags));
}
static void gomodel_g_park(void *g)
{
    gm_g_park(g);
}
static void gomodel_g_run(void *g)
{
    gm_g_run(g);
}
static size_t gomodel_g_stack_size(const void *g)
{
    return gm_g_stack_size(g);
}
static const gm_go_ops gomodel_go = {
    .create = gomodel_g_create,
    .exit = gomodel_g_exit,
    .push = gomodel_g_push,
    .pop = gomodel_g_pop,
    .alloc = gomodel_g_alloc,
    .park = gomodel_g_park,
    .run = gomodel_g_run,
    .stack_size = gomodel_g_stack_size,
};

static int gomodel_prove(char *why, size_t whylen)
{
    enum { N = 100 };
    gm_memstats before, after;
    gm_read_memstats(&before);
    void *p = gm_malloc(N);
    gm_read_memstats(&after);
    size_t usable = gm_usable_size(p);
    gm_free(p);
    set_why(why, whylen, "gm_read_memstats: mallocs %llu -> %llu after gm_malloc(%d); usable %zu",
            (unsigned long long)before.mallocs, (unsigned long long)after.mallocs, N, usable);
    return (p && after.mallocs > before.mallocs && usable >= N) ? 0 : -1;
}

/* Heap profiling: a trace op's site goes to the thread's current site; a site's name is its
 * one frame. */
static void gomodel_set_site(uint32_t site)
{
    gm_set_alloc_site(site);
}

static int gomodel_register_site(uint32_t site, const char *name)
{
    const char *frames[1] = {name};
    return gm_mprof_register_site(site, frames, 1);
}

static int gomodel_set_mem_profile_rate(int rate)
{
    return gm_set_mem_profile_rate(rate) < 0 ? -1 : 0;
}

#define GOMODEL_PROFILING                                                                          \
    .set_site = gomodel_set_site, .register_site = gomodel_register_site,                          \
    .set_mem_profile_rate = gomodel_set_mem_profile_rate,                                          \
    .write_heap_profile = gm_write_heap_profile_path

/* ---- gomodel-gc: the same model in GC mode (frees held until the next GC cycle) ----------- */

static void gomodel_gc_init(void)
{
    gm_set_gc_mode(1); /* fails once the heap exists; the proof then says so */
}

static void gomodel_gc_stats(gm_json *j)
{
    gomodel_stats(j);
    gm_memstats ms;
    gm_read_memstats(&ms);
    gm_json_u64(j, "num_forced_gc", ms.num_forced_gc);
    gm_json_u64(j, "next_gc", ms.next_gc);
    gm_json_u64(j, "last_heap_goal", ms.last_heap_goal);
    gm_json_u64(j, "pending_frees", ms.pending_frees);
    gm_json_u64(j, "pending_bytes", ms.pending_bytes);
}

static int gomodel_gc_prove(char *why, size_t whylen)
{
    if (gomodel_prove(why, whylen) != 0) return -1;
    /* The mode: a freed object stays allocated, pending, until the next cycle. */
    gm_memstats before, after;
    void *p = gm_malloc(100);
    gm_read_memstats(&before);
    gm_free(p);
    gm_read_memstats(&after);
    int mode = gm_gc_mode();
    set_why(why, whylen, "gm_gc_mode() = %d; pending frees %llu -> %llu after gm_free", mode,
            (unsigned long long)before.pending_frees, (unsigned long long)after.pending_frees);
    return mode == 1 && after.pending_frees == before.pending_frees + 1 ? 0 : -1;
}

/* ---- glibc ---------------------------------------------------------------------------------- */

/* mallinfo2 sums every arena. frag_own = (arena + hblkhd) / (uordblks + hblkhd): bytes glibc
 * holds from the OS (heap arenas plus mmapped chunks) over bytes in allocated chunks, chunk
 * headers included (glibc cannot count requested bytes). */
static void glibc_stats(gm_json *j)
{
    struct mallinfo2 mi = mallinfo2();
    gm_json_u64(j, "arena", mi.arena);
    gm_json_u64(j, "hblkhd", mi.hblkhd);
    gm_json_u64(j, "uordblks", mi.uordblks);
    gm_json_u64(j, "fordblks", mi.fordblks);
    gm_json_u64(j, "keepcost", mi.keepcost);
    size_t used = mi.uordblks + mi.hblkhd;
    if (used) gm_json_num(j, "frag_own", (double)(mi.arena + mi.hblkhd) / (double)used);
}

/* 4096 bytes, not less: a chunk of up to 1032 bytes may come from the thread cache, and glibc
 * counts cached chunks as allocated, so mallinfo2 would not move. */
static int glibc_prove(char *why, size_t whylen)
{
    enum { N = 4096 };
    struct mallinfo2 before = mallinfo2();
    void *p = malloc(N);
    escape(p);
    struct mallinfo2 after = mallinfo2();
    free(p);
    size_t b = before.uordblks + before.hblkhd, a = after.uordblks + after.hblkhd;
    set_why(why, whylen, "mallinfo2: uordblks+hblkhd %zu -> %zu after malloc(%d)", b, a, N);
    return (p && a >= b + N) ? 0 : -1;
}

/* ---- jemalloc ------------------------------------------------------------------------------- */

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static int jemalloc_read(const char *name, void *v, size_t len)
{
    mallctl_fn mallctl = (mallctl_fn)sym("mallctl");
    return mallctl ? mallctl(name, v, &len, NULL, 0) : -1;
}

static void jemalloc_stats(gm_json *j)
{
    static const char *const names[] = {"allocated", "active", "resident", "mapped", "retained"};
    mallctl_fn mallctl = (mallctl_fn)sym("mallctl");
    if (!mallctl) return;
    /* jemalloc's stats are a snapshot taken when the epoch advances. */
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    mallctl("epoch", &epoch, &len, &epoch, len);
    enum { N = sizeof names / sizeof names[0] };
    size_t v[N] = {0};
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "stats.%s", names[i]);
        if (jemalloc_read(name, &v[i], sizeof v[i]) == 0) gm_json_u64(j, names[i], v[i]);
    }
    /* Active pages (whole pages of runs holding live regions) over allocated bytes. */
    if (v[0]) gm_json_num(j, "frag_own", (double)v[1] / (double)v[0]);
}

static int jemalloc_prove(char *why, size_t whylen)
{
    enum { N = 1000 };
    uint64_t before = 0, after = 0;
    if (jemalloc_read("thread.allocated", &before, sizeof before) != 0) {
        set_why(why, whylen, "mallctl(\"thread.allocated\") is not available");
        return -1;
    }
    void *p = malloc(N);
    escape(p);
    jemalloc_read("thread.allocated", &after, sizeof after);
    free(p);
    set_why(why, whylen, "mallctl thread.allocated: %llu -> %llu after malloc(%d)",
            (unsigned long long)before, (unsigned long long)after, N);
    return (p && after >= before + N) ? 0 : -1;
}

/* ---- mimalloc ------------------------------------------------------------------------------- */

typedef void (*mi_process_info_fn)(size_t *, size_t *, size_t *, size_t *, size_t *, size_t *,
                                   size_t *, size_t *);
typedef bool (*mi_is_in_heap_region_fn)(const void *);

/* mimalloc reports the process's memory, not its own in-use bytes, so there is no frag_own.
 * On Linux, 2.0.9 has no cheap RSS reading: its current_rss is current_commit (an estimate),
 * and peak_rss is getrusage's maximum resident set of the whole process. */
static void mimalloc_stats(gm_json *j)
{
    mi_process_info_fn info = (mi_process_info_fn)sym("mi_process_info");
    if (!info) return;
    size_t elapsed, user, sys, rss, peak_rss, commit, peak_commit, faults;
    info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
    gm_json_u64(j, "current_rss", rss);
    gm_json_u64(j, "peak_rss", peak_rss);
    gm_json_u64(j, "current_commit", commit);
    gm_json_u64(j, "peak_commit", peak_commit);
    gm_json_u64(j, "page_faults", faults);
}

/* mi_is_in_heap_region looks the pointer up in mimalloc's own segment map: a pointer from any
 * other allocator is not in it. */
static int mimalloc_prove(char *why, size_t whylen)
{
    enum { N = 1000 };
    mi_is_in_heap_region_fn in_heap = (mi_is_in_heap_region_fn)sym("mi_is_in_heap_region");
    if (!in_heap) {
        set_why(why, whylen, "mi_is_in_heap_region is not available");
        return -1;
    }
    void *p = malloc(N);
    escape(p);
    bool ok = p && in_heap(p);
    free(p);
    set_why(why, whylen, "mi_is_in_heap_region(malloc(%d)) = %s", N, ok ? "true" : "false");
    return ok ? 0 : -1;
}

/* ---- tcmalloc (gperftools) ------------------------------------------------------------------ */

typedef int (*tc_property_fn)(const char *, size_t *);

static int tcmalloc_read(const char *name, size_t *v)
{
    tc_property_fn get = (tc_property_fn)sym("MallocExtension_GetNumericProperty");
    *v = 0;
    return get && get(name, v) ? 0 : -1;
}

/* generic.heap_size is every byte tcmalloc has taken from the system, unmapped pages included,
 * so frag_own = (heap_size - pageheap_unmapped_bytes) / current_allocated_bytes: the bytes it
 * keeps mapped over the bytes the program holds. */
static void tcmalloc_stats(gm_json *j)
{
    static const struct {
        const char *key, *property;
    } props[] = {
        {"current_allocated_bytes", "generic.current_allocated_bytes"},
        {"heap_size", "generic.heap_size"},
        {"pageheap_free_bytes", "tcmalloc.pageheap_free_bytes"},
        {"pageheap_unmapped_bytes", "tcmalloc.pageheap_unmapped_bytes"},
    };
    enum { N = sizeof props / sizeof props[0] };
    size_t v[N] = {0};
    for (int i = 0; i < N; i++)
        if (tcmalloc_read(props[i].property, &v[i]) == 0) gm_json_u64(j, props[i].key, v[i]);
    if (v[0] && v[1] >= v[3]) gm_json_num(j, "frag_own", (double)(v[1] - v[3]) / (double)v[0]);
}

static int tcmalloc_prove(char *why, size_t whylen)
{
    enum { N = 100000 };
    size_t before, after;
    if (tcmalloc_read("generic.current_allocated_bytes", &before) != 0) {
        set_why(why, whylen, "MallocExtension_GetNumericProperty is not available");
        return -1;
    }
    void *p = malloc(N);
    escape(p);
    tcmalloc_read("generic.current_allocated_bytes", &after);
    free(p);
    set_why(why, whylen, "generic.current_allocated_bytes: %zu -> %zu after malloc(%d)", before,
            after, N);
    return (p && after >= before + N) ? 0 : -1;
}

/* ---- tbbmalloc ------------------------------------------------------------------------------ */

typedef size_t (*scalable_msize_fn)(void *);

/* scalable_msize is undefined for a pointer tbbmalloc did not make, which is why it runs only
 * after step 1 found the proxy serving malloc. */
static int tbbmalloc_prove(char *why, size_t whylen)
{
    enum { N = 1000 };
    scalable_msize_fn msize = (scalable_msize_fn)sym("scalable_msize");
    if (!msize) {
        set_why(why, whylen, "scalable_msize is not available");
        return -1;
    }
    void *p = malloc(N);
    escape(p);
    size_t n = p ? msize(p) : 0;
    free(p);
    set_why(why, whylen, "scalable_msize(malloc(%d)) = %zu", N, n);
    return (p && n >= N) ? 0 : -1;
}

/* ---- bump: the driver's own cost ------------------------------------------------------------ *
 * The cheapest allocator there is, so that a run on it measures the driver: every allocation
 * bumps an offset (no atomic: a locked add alone costs several ns) in a ring of BUMP_RING bytes
 * that belongs to the calling thread and was mapped and faulted in by thread_init, before the
 * baseline. The ring wraps, so a new object may overlap older ones of the same thread: free
 * does nothing and nothing reads the contents back, so no allocation faults a page or strays
 * far in the cache hierarchy. Never a real allocator, and not a competitor. A 16-byte header
 * keeps each object's size for realloc. */

enum { BUMP_HDR = 16 };
#define BUMP_RING ((size_t)16 << 20) /* > the largest object of the built-in workloads (8 MiB) */

static __thread struct {
    char *base;
    size_t off; /* bytes handed out by this thread, ever */
} bump;

static void bump_thread_init(void)
{
    if (!bump.base) bump.base = gm_map(BUMP_RING, 1);
}

/* align >= 16. The block spans total bytes of the ring; the object starts at the first multiple
 * of align that leaves room for the header. */
static void *bump_alloc_aligned(size_t align, size_t size, unsigned flags)
{
    if (align < BUMP_HDR) align = BUMP_HDR;
    size_t rounded = (size + BUMP_HDR - 1) & ~(size_t)(BUMP_HDR - 1);
    size_t total = rounded + align;
    if (!bump.base || rounded < size || total > BUMP_RING) {
        errno = ENOMEM;
        return NULL;
    }
    size_t off = bump.off & (BUMP_RING - 1);
    bump.off += total;
    if (off + total > BUMP_RING) off = 0; /* wrap */
    uintptr_t start = (uintptr_t)bump.base + off + BUMP_HDR;
    char *p = (char *)((start + align - 1) & ~(uintptr_t)(align - 1));
    *(size_t *)(p - BUMP_HDR) = size;
    if (flags & GM_OPF_ZERO) memset(p, 0, size); /* ring memory is reused */
    return p;
}

static void *bump_alloc(size_t size, unsigned flags)
{
    return bump_alloc_aligned(BUMP_HDR, size, flags);
}

static void *bump_realloc(void *p, size_t size)
{
    void *q = bump_alloc(size, 0);
    if (p && q) {
        size_t old = *(size_t *)((char *)p - BUMP_HDR);
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}

static void bump_free(void *p)
{
    (void)p;
}

static void bump_stats(gm_json *j)
{
    gm_json_u64(j, "ring", BUMP_RING);
    gm_json_u64(j, "bumped_this_thread", bump.off);
}

static int bump_prove(char *why, size_t whylen)
{
    set_why(why, whylen, "bump allocator: driver overhead baseline");
    return 0;
}

/* ---- the table ------------------------------------------------------------------------------ */

#define PLAIN_FAMILY                                                                               \
    .alloc = plain_alloc, .alloc_aligned = plain_alloc_aligned, .realloc = plain_realloc,          \
    .free = plain_free

static const gm_backend backend_gomodel = {
    .name = "gomodel",
    .description = "C model of the Go 1.19 allocator (linked in, gm_ API)",
    .package = "gomalloc (this tree)",
    .alloc = gomodel_alloc,
    .alloc_aligned = gomodel_alloc_aligned,
    .realloc = gm_realloc,
    .free = gm_free,
    .go = &gomodel_go,
    .stats = gomodel_stats,
    .prove = gomodel_prove,
    GOMODEL_PROFILING,
};

static const gm_backend backend_gomodel_gc = {
    .name = "gomodel-gc",
    .description = "the Go model in GC mode: frees held until the next paced GC cycle (gm_ API)",
    .package = "gomalloc (this tree)",
    .init = gomodel_gc_init,
    .alloc = gomodel_alloc,
    .alloc_aligned = gomodel_alloc_aligned,
    .realloc = gm_realloc,
    .free = gm_free,
    .go = &gomodel_go,
    .stats = gomodel_gc_stats,
    .prove = gomodel_gc_prove,
    GOMODEL_PROFILING,
};

static const gm_backend backend_glibc = {
    .name = "glibc",
    .description = "glibc's ptmalloc2 (libc's own malloc, nothing preloaded)",
    .soname = LIBC_SONAME,
    .package = "libc6",
    .dev_package = "libc6-dev",
    PLAIN_FAMILY,
    .stats = glibc_stats,
    .prove = glibc_prove,
};

static const gm_backend backend_jemalloc = {
    .name = "jemalloc",
    .description = "jemalloc (Debian libjemalloc2, preloaded)",
    .soname = "libjemalloc.so.2",
    .package = "libjemalloc2",
    .dev_package = "libjemalloc-dev",
    PLAIN_FAMILY,
    .stats = jemalloc_stats,
    .prove = jemalloc_prove,
};

static const gm_backend backend_mimalloc = {
    .name = "mimalloc",
    .description = "mimalloc (Debian libmimalloc2.0, preloaded)",
    .soname = "libmimalloc.so.2",
    .package = "libmimalloc2.0",
    .dev_package = "libmimalloc-dev",
    PLAIN_FAMILY,
    .stats = mimalloc_stats,
    .prove = mimalloc_prove,
};

/* gperftools' minimal tcmalloc: the allocator without the heap profiler and checker hooks the
 * full libtcmalloc carries on every allocation — the variant allocator benchmarks compare. */
static const gm_backend backend_tcmalloc = {
    .name = "tcmalloc",
    .description = "gperftools tcmalloc, minimal variant (Debian libtcmalloc-minimal4, preloaded)",
    .soname = "libtcmalloc_minimal.so.4",
    .package = "libtcmalloc-minimal4",
    .dev_package = "libgoogle-perftools-dev",
    PLAIN_FAMILY,
    .stats = tcmalloc_stats,
    .prove = tcmalloc_prove,
};

/* The proxy library replaces the malloc family and forwards to libtbbmalloc.so.2; tbbmalloc
 * has no statistics interface. */
static const gm_backend backend_tbbmalloc = {
    .name = "tbbmalloc",
    .description = "oneTBB scalable allocator (Debian libtbbmalloc2, proxy preloaded)",
    .soname = "libtbbmalloc_proxy.so.2",
    .package = "libtbbmalloc2",
    .dev_package = "libtbb-dev",
    PLAIN_FAMILY,
    .prove = tbbmalloc_prove,
};

static const gm_backend backend_bump = {
    .name = "bump",
    .description = "bump allocator, free does nothing: the driver's own cost per op",
    .package = "gmbench (this tree)",
    .internal = true,
    .thread_init = bump_thread_init,
    .alloc = bump_alloc,
    .alloc_aligned = bump_alloc_aligned,
    .realloc = bump_realloc,
    .free = bump_free,
    .stats = bump_stats,
    .prove = bump_prove,
};

static const gm_backend *const backends[] = {
    &backend_gomodel,   &backend_gomodel_gc, &backend_glibc,
    &backend_jemalloc,  &backend_mimalloc,   &backend_tcmalloc,
    &backend_tbbmalloc, &backend_bump,       NULL,
};

const gm_backend *const *gm_backends(void)
{
    return backends;
}

const gm_backend *gm_backend_find(const char *name)
{
    for (const gm_backend *const *b = backends; *b; b++)
        if (strcmp((*b)->name, name) == 0) return *b;
    return NULL;
}

/* ---- where the library is, and which version ------------------------------------------------ */

/* GMBENCH_LIBRARY_PATH (colon-separated) replaces the default directories: for allocators
 * built or installed elsewhere, and for tests of the missing-library path. */
bool gm_backend_locate(const gm_backend *b, char *path, size_t pathlen)
{
    static const char defaults[] =
        "/lib/" GM_MULTIARCH ":/usr/lib/" GM_MULTIARCH ":/usr/local/lib:/usr/lib";
    const char *dirs = getenv("GMBENCH_LIBRARY_PATH");
    if (pathlen) path[0] = 0;
    if (!b->soname) return true;
    for (const char *d = dirs ? dirs : defaults; *d;) {
        size_t len = strcspn(d, ":");
        int n = snprintf(path, pathlen, "%.*s/%s", (int)len, d, b->soname);
        if (len && n > 0 && (size_t)n < pathlen && access(path, R_OK) == 0) return true;
        d += len + (d[len] == ':');
    }
    if (pathlen) path[0] = 0;
    return false;
}

/* Copies the rest of the line at p (bounded by end) to out. */
static void copy_line(const char *p, const char *end, char *out, size_t outlen)
{
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((eol ? eol : end) - p);
    if (n >= outlen) n = outlen - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/* Finds "Version: " in the installed stanza for package in dpkg's status text. A multi-arch
 * package has one stanza per architecture; the first installed one is the answer. */
static void dpkg_find_version(const char *text, size_t len, const char *package, char *out,
                              size_t outlen)
{
    static const char installed[] = "\nStatus: install ok installed\n", version[] = "\nVersion: ";
    char head[160];
    int hn = snprintf(head, sizeof head, "Package: %s\n", package);
    if (hn <= 0 || (size_t)hn >= sizeof head) return;
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        const char *s = memmem(p, (size_t)(end - p), head, (size_t)hn);
        if (!s) return;
        p = s + hn;
        if (s != text && s[-1] != '\n') continue; /* "Package: " inside another field */
        /* The stanza's lines from the newline ending "Package:" to the one ending its last. */
        const char *first = p - 1, *stop = memmem(p, (size_t)(end - p), "\n\n", 2);
        size_t n = (size_t)((stop ? stop + 1 : end) - first);
        if (!memmem(first, n, installed, sizeof installed - 1)) continue;
        const char *v = memmem(first, n, version, sizeof version - 1);
        if (v) {
            copy_line(v + sizeof version - 1, end, out, outlen);
            return;
        }
    }
}

void gm_backend_version(const gm_backend *b, char *out, size_t outlen)
{
    if (!outlen) return;
    out[0] = 0;
    if (!b->soname) { /* this tree */
        snprintf(out, outlen, "%s (git %s)", GM_MODEL_VERSION, GM_GIT_COMMIT);
        return;
    }
    int fd = open("/var/lib/dpkg/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    void *text = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        text = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (text == MAP_FAILED) return;
    dpkg_find_version(text, (size_t)st.st_size, b->package, out, outlen);
    munmap(text, (size_t)st.st_size);
}

/* ---- proof of identity ---------------------------------------------------------------------- */

const char *gm_malloc_provider(void)
{
    Dl_info info;
    void *m = sym("malloc");
    if (!m || !dladdr(m, &info) || !info.dli_fname) return "(unknown)";
    return info.dli_fname[0] ? info.dli_fname : "(the main program)";
}

/* True when base names the library soname stands for: the same name up to ".so", then the end
 * or a version suffix, so that libmimalloc.so.2.0 and libtcmalloc_minimal.so.4.5.10 (what a
 * path to the real file may say) match libmimalloc.so.2 and libtcmalloc_minimal.so.4. */
static bool same_library(const char *base, const char *soname)
{
    const char *so = strstr(soname, ".so");
    size_t n = so ? (size_t)(so - soname) + 3 : strlen(soname);
    return strncmp(base, soname, n) == 0 && (base[n] == 0 || base[n] == '.');
}

/* In an ASan or TSan build the sanitizer's malloc serves the process whatever is preloaded:
 * libasan.so (gcc) or the runtime linked into the executable (clang), which dladdr names by the
 * executable's path. gomodel and bump accept it in place of libc's, so that a sanitized driver
 * still runs them (such a build measures nothing); glibc does not, since it is not glibc. */
static bool sanitizer_serves(const char *base)
{
    if (!GM_MALLOC_SANITIZED) return false;
    if (strncmp(base, "libasan.so", 10) == 0 || strncmp(base, "libtsan.so", 10) == 0) return true;
    Dl_info m, self;
    return dladdr(sym("malloc"), &m) && dladdr((void *)gm_malloc_provider, &self) &&
           m.dli_fbase == self.dli_fbase;
}

/* Step 1. gomodel and bump need libc's malloc as much as glibc does: the harness's own libc
 * calls (stdio, threads, dlsym) would otherwise be served by a preloaded allocator sharing the
 * process, and the numbers would not be the model's (or the driver's) alone. */
static int prove_provider(const gm_backend *b, char *why, size_t whylen)
{
    const char *want = b->soname ? b->soname : LIBC_SONAME;
    const char *provider = gm_malloc_provider();
    const char *slash = strrchr(provider, '/');
    const char *base = slash ? slash + 1 : provider;
    if (same_library(base, want)) return 0;
    if (!b->soname && sanitizer_serves(base)) return 0;
    set_why(why, whylen, "malloc is served by %s, not %s (%s)", provider, b->name,
            b->soname ? b->soname : LIBC_SONAME ": nothing may be preloaded");
    return -1;
}

int gm_backend_prove(const gm_backend *b, char *why, size_t whylen)
{
    if (prove_provider(b, why, whylen) != 0) return -1;
    return b->prove ? b->prove(why, whylen) : 0;
}

void gm_backend_print_launch_prefix(const gm_backend *b)
{
    char path[512];
    if (b->soname && gm_backend_locate(b, path, sizeof path))
        fprintf(stderr, "LD_PRELOAD=%s ", path);
    else
        fprintf(stderr, "env -u LD_PRELOAD ");
}
