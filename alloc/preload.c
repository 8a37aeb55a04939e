/*
 * preload.c — libgomalloc-preload.so: the Go model as the malloc of any dynamically linked
 * program (LD_PRELOAD=.../libgomalloc-preload.so program args). No Go counterpart: a Go
 * program never calls malloc; this is how C programs get the model's heap.
 *
 * Exported, with the semantics of Debian 12's glibc 2.36 (tests/preload_semantics.c compares
 * both, call by call): malloc, free, calloc, realloc, reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size.
 *   - malloc(0) and calloc with a zero count return a unique pointer; realloc(NULL, n) is
 *     malloc(n); realloc(p, 0) frees p and returns NULL; free(NULL) does nothing.
 *   - posix_memalign: EINVAL (returned, errno untouched) unless the alignment is a power of
 *     two multiple of sizeof(void *); ENOMEM when out of memory.
 *   - aligned_alloc and memalign are one function in 2.36 (_mid_memalign): an alignment that
 *     is not a power of two is rounded up to the next one (glibc 2.38 started refusing it;
 *     2.36 does not), one above SIZE_MAX/2 + 1 is EINVAL. valloc aligns to the page size;
 *     pvalloc also rounds the size up to a page (ENOMEM if that overflows).
 *   - Overflowing calloc/reallocarray and impossible sizes: NULL, errno ENOMEM.
 * The rest of glibc's malloc API (mallinfo, malloc_trim, mallopt, malloc_stats) is not
 * interposed: it keeps describing glibc's own, unused, arenas.
 *
 * Also exported: gm_preload_read_memstats, the model's MemStats for code in the program (the
 * harness's probe library proves with it that the model served the program).
 *
 * The first calls. With LD_PRELOAD the dynamic loader binds malloc to this library from its
 * first call after relocation; the process heap is created lazily at that call, before any
 * constructor has run. Creating it allocates nothing (mmap only, a pthread key, getenv), and
 * the thread state is initial-exec TLS, which is set up before the loader's first malloc. If
 * heap creation ever re-entered malloc on the same thread (a libc function we do not expect to
 * allocate), the call is served from a static bootstrap arena (64 KiB, bump-allocated, never
 * reused); such blocks are recognised on free/realloc/malloc_usable_size and never handed to
 * the model. Other threads arriving during creation wait for it (gm_process_heap).
 *
 * Foreign pointers. A pointer the model did not hand out can reach free: memory glibc's own
 * malloc allocated (through __libc_malloc, or in a namespace bound to libc's malloc) and
 * pointers of the bootstrap arena. The rule: a pointer inside an arena the model reserved
 * (64 MiB-aligned address ranges recorded in its arena map) is the model's, and gm_free
 * validates it: an invalid, interior or double free of it is reported, naming the pointer, and
 * aborts, as in every build. Any other pointer is foreign and goes to glibc (__libc_free,
 * __libc_realloc, and glibc's malloc_usable_size found with dlsym(RTLD_NEXT) at load), which
 * applies its own checks: a stray stack or static pointer still aborts there, with glibc's
 * message. Nothing foreign is ever recorded in the model's spans.
 *
 * fork. A constructor registers pthread_atfork handlers (fork.c): prepare takes every lock of
 * the process heap (stw_lock, every P, every mcentral lock, the heap lock), the parent releases
 * them and the child re-initialises them with every P idle, so a threaded program's child
 * starts with a consistent heap whichever threads were allocating when it forked.
 *
 * Threads. Each thread's M is registered with a pthread key on its first call; at thread exit
 * the key's destructor (malloc.c, thread_exit) flushes the cache of the P it used last and its
 * pending free counter. Calls made by later destructors register the thread again.
 *
 * Build: compiled with the model's sources into one shared object without sanitizers (a
 * sanitizer runtime cannot be preloaded into an uninstrumented program); only the functions
 * above are exported.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fork.h"
#include "gm_testing.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS    __thread __attribute__((tls_model("initial-exec")))

/* glibc's own allocator, for foreign pointers (exported by libc.so.6 since 2.2.5). */
extern void __libc_free(void *p);
extern void *__libc_realloc(void *p, size_t size);

EXPORT void gm_preload_read_memstats(gm_memstats *ms);

/* ---- the process heap, created at the first call ----------------------------------------- */

static gm_mheap *heap;     /* set once the process heap exists */
static TLS int t_creating; /* this thread is creating the heap: serve it from the bootstrap */

static __attribute__((noinline)) gm_mheap *create_heap(void)
{
    if (t_creating) return NULL;
    t_creating = 1;
    gm_mheap *h = gm_process_heap();
    t_creating = 0;
    __atomic_store_n(&heap, h, __ATOMIC_RELEASE);
    return h;
}

/* The heap, or NULL when this call must use the bootstrap arena. */
static inline gm_mheap *ready_heap(void)
{
    gm_mheap *h = __atomic_load_n(&heap, __ATOMIC_ACQUIRE);
    return GM_LIKELY(h) ? h : create_heap();
}

/* Is p inside an arena the model reserved? Then it is the model's to validate and free. */
static inline bool in_model_arena(const gm_mheap *h, const void *p)
{
    size_t ai = ((uintptr_t)p - GM_ARENA_BASE_OFFSET) >> GM_ARENA_SHIFT;
    return ai < ((size_t)1 << GM_ARENA_L2_BITS) &&
           atomic_load_explicit(&h->arenas[ai], memory_order_relaxed) != NULL;
}

/* ---- the bootstrap arena ------------------------------------------------------------------ */

enum { BOOT_BYTES = 64 << 10, BOOT_HDR = 16 };

static _Alignas(4096) unsigned char boot[BOOT_BYTES];
static _Atomic size_t boot_used;

static bool is_boot(const void *p)
{
    return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + BOOT_BYTES;
}

/* Size stored in the 16 bytes before each block. Blocks are zero (never reused). */
static void *boot_alloc(size_t align, size_t size)
{
    if (align < BOOT_HDR) align = BOOT_HDR;
    if (size > BOOT_BYTES || align > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = BOOT_HDR + size + align;
    size_t off = atomic_fetch_add(&boot_used, need);
    if (off + need > BOOT_BYTES) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t start = (uintptr_t)boot + off + BOOT_HDR;
    unsigned char *p = (unsigned char *)((start + align - 1) & ~(uintptr_t)(align - 1));
    memcpy(p - BOOT_HDR, &size, sizeof size);
    return p;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - BOOT_HDR, sizeof n);
    return n;
}

/* ---- foreign pointers --------------------------------------------------------------------- */

static size_t (*next_usable_size)(void *); /* glibc's malloc_usable_size (RTLD_NEXT) */

static size_t foreign_usable_size(void *p)
{
    return next_usable_size ? next_usable_size(p) : 0;
}

/* ---- the malloc family -------------------------------------------------------------------- */

EXPORT void *malloc(size_t size)
{
    if (GM_UNLIKELY(!ready_heap())) return boot_alloc(BOOT_HDR, size);
    return gm_malloc(size);
}

EXPORT void free(void *p)
{
    if (!p) return;
    gm_mheap *h = __atomic_load_n(&heap, __ATOMIC_ACQUIRE);
    if (GM_LIKELY(h && in_model_arena(h, p))) {
        gm_free(p);
        return;
    }
    if (is_boot(p)) return;
    __libc_free(p);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    if (GM_UNLIKELY(!ready_heap())) {
        size_t total;
        if (__builtin_mul_overflow(nmemb, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return boot_alloc(BOOT_HDR, total);
    }
    return gm_calloc(nmemb, size);
}

/* A block that must move out of the bootstrap arena or glibc: copy what fits, free the old. */
static void *realloc_move(void *p, size_t old, size_t size)
{
    void *n = malloc(size);
    if (!n) return NULL;
    memcpy(n, p, old < size ? old : size);
    free(p);
    return n;
}

EXPORT void *realloc(void *p, size_t size)
{
    if (!p) return malloc(size);
    gm_mheap *h = ready_heap();
    if (GM_LIKELY(h && in_model_arena(h, p))) return gm_realloc(p, size);
    if (is_boot(p)) {
        if (size == 0) return NULL; /* realloc(p, 0) frees p; bootstrap blocks stay */
        return h ? realloc_move(p, boot_size(p), size) : boot_alloc(BOOT_HDR, size);
    }
    return __libc_realloc(p, size); /* a foreign block stays with its allocator */
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (GM_UNLIKELY(!ready_heap())) {
        if (!alignment || (alignment & (alignment - 1)) || alignment % sizeof(void *))
            return EINVAL;
        void *p = boot_alloc(alignment, size);
        if (!p) return ENOMEM;
        *out = p;
        return 0;
    }
    return gm_posix_memalign(out, alignment, size);
}

/* glibc 2.36's _mid_memalign, behind memalign and aligned_alloc. */
EXPORT void *memalign(size_t alignment, size_t size)
{
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment & (alignment - 1)) { /* not a power of two: the next one (glibc: >= 32) */
        size_t a = 32;
        while (a < alignment) a <<= 1;
        alignment = a;
    }
    if (alignment == 0) alignment = 1; /* glibc: any block will do */
    if (GM_UNLIKELY(!ready_heap())) return boot_alloc(alignment, size);
    return gm_aligned_alloc(alignment, size);
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

EXPORT void *valloc(size_t size)
{
    return memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(page, rounded & ~(page - 1));
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p) return 0;
    gm_mheap *h = __atomic_load_n(&heap, __ATOMIC_ACQUIRE);
    if (h && in_model_arena(h, p)) return gm_usable_size(p);
    if (is_boot(p)) return boot_size(p);
    return foreign_usable_size(p);
}

EXPORT void gm_preload_read_memstats(gm_memstats *ms)
{
    gm_read_memstats(ms);
}

/* ---- fork and load time ------------------------------------------------------------------- */

static void fork_prepare(void)
{
    gm_mheap *h = ready_heap();
    if (h) gm_heap_fork_prepare(h);
}

static void fork_parent(void)
{
    gm_mheap *h = __atomic_load_n(&heap, __ATOMIC_ACQUIRE);
    if (h) gm_heap_fork_parent(h);
}

static void fork_child(void)
{
    gm_mheap *h = __atomic_load_n(&heap, __ATOMIC_ACQUIRE);
    if (h) gm_heap_fork_child(h);
}

/* Runs before the program's constructors (a preloaded object is initialised after its own
 * dependencies, libc, and before everything that depends on the symbols it interposes). */
__attribute__((constructor)) static void preload_init(void)
{
    ready_heap();
    next_usable_size = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        gm_throw("preload: pthread_atfork failed; fork would not be safe");
}
