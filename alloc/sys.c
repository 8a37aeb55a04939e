/*
 * sys.c — the allocator's only door to the OS (models mem_linux.go and mem.go).
 *
 * Go moves address space through four states: None -> Reserved (sysReserve, PROT_NONE) ->
 * Prepared (sysMap) -> Ready (sysUsed), and back to Prepared with sysUnused (madvise). On
 * Linux, Go's sysMap already maps the range read-write and sysUsed only re-enables huge pages,
 * so the model keeps three calls: reserve, map, unused. Metadata comes from gm_sys_alloc
 * (sysAlloc), which maps zeroed memory directly.
 *
 * Fault injection: gm_sys_fail_after(n) makes the (n+1)-th call from now of alloc/reserve/map
 * fail as if the kernel said ENOMEM, so tests can prove that every caller turns an OS failure
 * into NULL/ENOMEM with every invariant intact.
 *
 * Statistics: each call names the counter its bytes are charged to (Go's sysStat), so Sys in
 * gm_memstats is a sum of what was really mapped.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gm_testing.h"

/* Calls left before the injected failure; -1 = no failure armed. */
static _Atomic long sys_fail_countdown = -1;

void gm_sys_fail_after(long n)
{
    atomic_store(&sys_fail_countdown, n);
}

/* Consume one call from the countdown; true when this call must fail. */
static bool sys_should_fail(void)
{
    long c = atomic_load_explicit(&sys_fail_countdown, memory_order_relaxed);
    while (c >= 0) {
        if (atomic_compare_exchange_weak(&sys_fail_countdown, &c, c - 1)) return c == 0;
    }
    return false;
}

static void stat_add(_Atomic uint64_t *stat, int64_t n)
{
    if (stat) atomic_fetch_add_explicit(stat, (uint64_t)n, memory_order_relaxed);
}

void *gm_sys_alloc(size_t n, _Atomic uint64_t *stat)
{
    if (sys_should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *v = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) return NULL;
    stat_add(stat, (int64_t)n);
    return v;
}

void gm_sys_free(void *v, size_t n, _Atomic uint64_t *stat)
{
    if (!v) return;
    munmap(v, n);
    stat_add(stat, -(int64_t)n);
}

void *gm_sys_reserve(void *hint, size_t n)
{
    if (sys_should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#ifdef MAP_FIXED_NOREPLACE
    /* A hint must not clobber an existing mapping; on kernels without NOREPLACE the flag is
     * ignored and the hint is only advisory, which the caller checks. */
    if (hint) flags |= MAP_FIXED_NOREPLACE;
#endif
    void *v = mmap(hint, n, PROT_NONE, flags, -1, 0);
    if (v == MAP_FAILED) return NULL;
    if (hint && v != hint) { /* Go's sysReserve also gives the space back when it moved */
        munmap(v, n);
        return NULL;
    }
    return v;
}

int gm_sys_map(void *v, size_t n, _Atomic uint64_t *stat)
{
    if (sys_should_fail()) {
        errno = ENOMEM;
        return -1;
    }
    /* mprotect keeps any contents, so mapping an already-mapped page is harmless (callers
     * still avoid it, to keep statistics exact). */
    if (mprotect(v, n, PROT_READ | PROT_WRITE) != 0) return -1;
    stat_add(stat, (int64_t)n);
    return 0;
}

void gm_sys_unused(void *v, size_t n)
{
    /* Go 1.19's Linux default (debug.madvdontneed = 1): pages read back as zero. */
    madvise(v, n, MADV_DONTNEED);
}

void gm_sys_unreserve(void *v, size_t n)
{
    if (v) munmap(v, n);
}

size_t gm_sys_phys_page_size(void)
{
    static size_t cached;
    if (!cached) cached = (size_t)sysconf(_SC_PAGESIZE);
    return cached;
}

int gm_sys_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
