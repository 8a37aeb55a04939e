/*
 * gomalloc.h — the public API of gomalloc, a C model of the Go 1.19 runtime's memory allocator.
 *
 * Every call works on one process-wide heap and is safe from any thread. Memory behaves as the
 * Go runtime would manage it with a perfect garbage collector: gm_free marks an object dead at
 * once, and its slot becomes reusable when its span is next swept (see malloc.c for exactly
 * when that happens). Large objects (> 32 KiB) return their pages to the page heap at once.
 *
 * Environment, read once at the first call:
 *   GOMAXPROCS  number of Ps (per-P caches); default: the number of online CPUs.
 *   GOGC        sweep-cycle pacing in percent (default 100) or "off"; see gm_set_gc_percent.
 *   GOMALLOC_MODE  "gc" selects the GC mode (or call gm_set_gc_mode before the first call):
 *               gm_free does not free at once; freed objects stay allocated (HeapAlloc counts
 *               them) until the next GC cycle, which Go 1.19's pacer starts (heap goal
 *               live × (1 + GOGC/100), 4 MiB minimum, trigger at ~61/64 of the way). "free"
 *               (the default) frees at once as described above.
 *   GOMEMLIMIT  GC mode: the soft memory limit (bytes, suffix B/KiB/MiB/GiB/TiB, or "off").
 *   GOMALLOC_GLOBALS  GC mode: the modelled program's pointer-bearing data+bss in bytes (Go's
 *               globalsScan, part of the heap goal since Go 1.18); default 0.
 *   GODEBUG    containing gcshrinkstackoff=1: GC cycles never shrink goroutine stacks (gm_g).
 *   GODEBUG / GOMALLOC_DEBUG  containing gctrace=1: GC mode prints one line per cycle to
 *               stderr in Go's gctrace format; scavtrace=1: a line each time the background
 *               scavenger has returned memory to the OS (scavenge.c); GODEBUG's
 *               memprofilerate=N: see gm_set_mem_profile_rate.
 *   GM_MEMPROFILERATE  MemProfileRate (overrides GODEBUG's); see gm_set_mem_profile_rate.
 */
#ifndef GOMALLOC_H
#define GOMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility (internal functions stay internal); everything
 * declared in this header is its exported API. */
#pragma GCC visibility push(default)

void *gm_malloc(size_t size);
void *gm_calloc(size_t nmemb, size_t size);
void *gm_realloc(void *p, size_t size);
void gm_free(void *p);
/* alignment: a power of two (else NULL, errno EINVAL). Any size is accepted, as glibc does. */
void *gm_aligned_alloc(size_t alignment, size_t size);
/* alignment: a power of two multiple of sizeof(void *); returns 0, EINVAL or ENOMEM. */
int gm_posix_memalign(void **out, size_t alignment, size_t size);
/* Bytes usable at p (>= the size requested); 0 for NULL. */
size_t gm_usable_size(const void *p);

/* Flags for gm_alloc: Go's mallocgc(size, typ, needzero). */
enum {
    GM_NOSCAN = 0,    /* pointer-free object (typ.ptrdata == 0): may use the tiny allocator */
    GM_SCAN = 1 << 0, /* object holds pointers: scan span class, never tiny */
    GM_ZERO = 1 << 1, /* the memory must read as zero (Go's needzero) */
};
/* mallocgc: size 0 returns Go's zerobase, a single address that gm_free accepts and ignores. */
void *gm_alloc(size_t size, unsigned flags);

/* Number of size classes including class 0 (large objects), as Go's _NumSizeClasses. */
#define GM_MEMSTATS_NUM_CLASSES 68

/* runtime.MemStats, with Go 1.19's definitions (reference §5.3, §10.1). Reading it flushes
 * every P's cache, as ReadMemStats does, so it is exact at the moment of the call. */
typedef struct gm_memstats {
    uint64_t alloc;         /* = heap_alloc */
    uint64_t total_alloc;   /* bytes allocated, cumulative (class-rounded; tiny block = 16) */
    uint64_t sys;           /* bytes obtained from the OS: heap_sys + metadata */
    uint64_t mallocs;       /* small + large + tiny-combined allocations */
    uint64_t frees;         /* small frees (counted at sweep) + large frees + tiny-combined */
    uint64_t heap_alloc;    /* bytes of allocated objects, including dead ones not swept yet */
    uint64_t heap_sys;      /* heap_inuse + heap_idle */
    uint64_t heap_idle;     /* bytes in pages owned by the heap and in no span */
    uint64_t heap_inuse;    /* bytes in in-use spans (whole spans) */
    uint64_t heap_released; /* idle bytes not backed by RAM (never touched, or scavenged) */
    uint64_t heap_objects;  /* mallocs - frees */
    uint64_t mspan_sys;     /* span structures */
    uint64_t gc_sys;        /* arena and page-allocator metadata */
    uint64_t other_sys;     /* everything else the model maps (tiny-block metadata, Ps) */
    uint64_t num_gc;        /* sweep cycles started (GC cycles in Go) */
    uint64_t tiny_allocs;   /* tiny allocations combined into an existing block */
    uint64_t large_alloc_count, large_free_count;
    /* Per size class (index = class, 0 = large objects): allocations and frees. Go's BySize
     * stops at 61 entries; the model reports all 68. */
    struct {
        uint32_t size;
        uint64_t mallocs;
        uint64_t frees;
    } by_size[GM_MEMSTATS_NUM_CLASSES];
    /* GC mode (0 in the default mode unless noted). */
    uint64_t num_forced_gc;    /* cycles started by gm_gc (both modes) */
    uint64_t next_gc;          /* heap goal (NextGC) */
    uint64_t gc_trigger;       /* heapLive at which the next cycle starts */
    uint64_t heap_live;        /* the pacer's heapLive now */
    uint64_t last_heap_goal;   /* the last cycle's goal */
    uint64_t last_heap_start;  /* heapLive when the last cycle started */
    uint64_t last_heap_marked; /* live heap after the last cycle's mark */
    uint64_t pending_frees;    /* objects freed by gm_free, held until the next cycle */
    uint64_t pending_bytes;    /* their bytes (still in heap_alloc) */
    uint64_t pages_swept;      /* pages of spans swept, cumulative (both modes) */
    /* Goroutine stacks (Go 1.19's definitions): StackInuse = bytes in stack spans (manual
     * spans taken from the page heap, so not in heap_inuse or heap_sys); StackSys =
     * StackInuse + stacks from the OS (none in the model). Both are included in sys. */
    uint64_t stack_inuse;
    uint64_t stack_sys;
} gm_memstats;

void gm_read_memstats(gm_memstats *ms);

/* Force a sweep cycle and sweep every span, as runtime.GC() followed by the end of sweeping.
 * In GC mode the cycle first applies every pending free. */
void gm_gc(void);
/* debug.FreeOSMemory: gm_gc, then return every free page to the OS (HeapReleased). */
void gm_release_os_memory(void);
/* debug.SetGCPercent for the sweep-cycle trigger; a negative value turns it off. Returns the
 * previous setting. */
int gm_set_gc_percent(int percent);
/* Select the process heap's mode before its first use: 1 = GC mode, 0 = free at once.
 * Returns 0, or -1 once the heap exists (its mode is then fixed). Overrides GOMALLOC_MODE. */
int gm_set_gc_mode(int gc_mode);
/* 1 if the process heap runs in GC mode (creates the heap if needed). */
int gm_gc_mode(void);
/* debug.SetMemoryLimit (GC mode): the soft limit in bytes; a negative value only reads it.
 * Returns the previous limit (INT64_MAX = none). */
int64_t gm_set_memory_limit(int64_t limit);
/* GC mode: Go's globalsScan, the pointer-bearing data and bss of the program being modelled
 * (a C program has no such thing, so the default is 0). Since Go 1.18 it is part of the heap
 * goal: goal = marked + (marked + stacks + globals) × GOGC/100. gmbench fidelity sets it from
 * the real program's gcpacertrace. Returns the previous value. */
uint64_t gm_set_globals_scan(uint64_t bytes);

/* One GC cycle as the pacer saw it (GC mode; in the default mode a sweep cycle, with the goal
 * fields 0). Byte counts are the pacer's (heapLive: span-granular, §6.4 of the reference). */
typedef struct gm_gc_cycle {
    uint64_t num;          /* 1-based, as gctrace's "gc N" */
    int forced;            /* started by gm_gc */
    uint64_t trigger;      /* the trigger in effect when it started */
    uint64_t heap_start;   /* heapLive when it started (gcpacertrace's "in T B") */
    uint64_t heap_marked;  /* live heap after the mark (gctrace's third figure) */
    uint64_t heap_goal;    /* this cycle's goal */
    uint64_t next_goal;    /* the goal committed at its end */
    uint64_t next_trigger; /* the trigger committed at its end */
    uint64_t heap_inuse;   /* HeapInuse at its end, before any sweeping */
    uint64_t frees;        /* pending frees it applied */
    uint64_t pause_ns;     /* its whole duration: the model stops the world throughout */
} gm_gc_cycle;
/* Called at the end of every cycle of the process heap, with the world stopped, on the thread
 * that ran it: it must not call the allocator. NULL removes it. */
typedef void (*gm_gc_hook)(const gm_gc_cycle *c, void *arg);
void gm_set_gc_hook(gm_gc_hook fn, void *arg);

/* Number of Ps of the process heap. */
int gm_gomaxprocs(void);

/* Heap profiling (runtime.MemProfileRate, runtime/pprof's heap profile; see mprof.c).
 * About one allocation per MemProfileRate bytes allocated is sampled (exponential intervals,
 * counted per P in rounded sizes); 1 samples every allocation, 0 none. The default is Go's,
 * 512 KiB, or GM_MEMPROFILERATE=N / GODEBUG=memprofilerate=N read when the heap is created.
 * gm_set_mem_profile_rate returns the previous rate, or -1 with errno EINVAL for rate < 0;
 * like Go 1.19, it does not redraw the countdowns already running. */
int gm_set_mem_profile_rate(int rate);
int gm_mem_profile_rate(void);
/* The call site of the calling thread's following allocations (0 = unknown, the initial
 * value); returns the previous one. A plain store: the allocation path reads it only when
 * it takes a sample. */
uint32_t gm_set_alloc_site(uint32_t site);
/* Describe site (1 .. 2^24-1) by its frames, innermost first, each "function" or
 * "function file:line" (at most 32). Sites with the same frames share profile records.
 * Register a site before allocating from it. Returns 0, or -1 with errno EINVAL (bad site,
 * nframes 0 or > 32, a NULL or empty frame) or ENOMEM. The frames are copied. */
int gm_mprof_register_site(uint32_t site, const char *const *frames, size_t nframes);
/* Write the heap profile (the heap as of the last completed cycle; every sample if none ran
 * yet) in one of the two formats `go tool pprof` reads:
 *   GM_PROFILE_TEXT   the legacy text of runtime/pprof with debug=1, raw sample counts. The
 *                     PCs are synthetic (one per distinct frame) and named only in comment
 *                     lines, which pprof skips: it shows addresses (-top -addresses).
 *   GM_PROFILE_PROTO  profile.proto as runtime/pprof writes it with debug=0 (uncompressed),
 *                     values scaled as Go scales them, with function and file names, so
 *                     `go tool pprof -top` names the call sites.
 * Returns 0, or -1 with errno (EINVAL for another format, EBADF, ENOMEM, or write's error).
 * The _path form writes path.tmp.<pid> and renames it over path, so a reader never sees a
 * partial profile. */
enum { GM_PROFILE_TEXT = 0, GM_PROFILE_PROTO = 1 };
int gm_write_heap_profile(int fd, int format);
int gm_write_heap_profile_path(const char *path, int format);

/* Goroutines (stack.go; see alloc/stack.c). A gm_g owns a stack from the stack allocator:
 * 2 KiB at creation (malg(_StackMin)), doubled with a copy when a frame does not fit, halved
 * with a copy at a GC cycle when less than a quarter is used (off with
 * GODEBUG=gcshrinkstackoff=1). A gm_g is running (its thread may use it and its stack) or
 * parked (no thread touches it; a GC cycle may move its stack). While it runs, a GC cycle
 * only asks for the shrink, which happens at its next gm_g_push/pop/alloc, as Go's
 * preemptShrink. Frame addresses are valid until the next gm_g_* call on it or gm_g_run:
 * as in Go the stack moves; unlike Go nothing rewrites pointers into it. */
typedef struct gm_g gm_g;
gm_g *gm_g_create(void); /* running, owned by the caller; NULL (errno ENOMEM) out of memory */
void gm_g_exit(gm_g *g); /* running g: frees its stack; g must not be used afterwards */
void gm_g_park(gm_g *g); /* running -> parked (gopark) */
void gm_g_run(gm_g *g);  /* parked -> running on the calling thread (execute) */
/* Call a function with a frame of frame_bytes (rounded up to 8, plus an 8-byte return
 * address): returns the frame's lowest address, or NULL (errno ENOMEM) when the stack cannot
 * grow (beyond 1e9 bytes, Go's "stack overflow", or out of memory). */
void *gm_g_push(gm_g *g, size_t frame_bytes);
void gm_g_pop(gm_g *g); /* return from the innermost frame; misuse if there is none */
/* A non-escaping allocation: size bytes (rounded up to 8) in the innermost frame, freed when
 * that frame returns. flags as gm_alloc (GM_ZERO zeroes it). NULL on ENOMEM or no frame. */
void *gm_g_alloc(gm_g *g, size_t size, unsigned flags);
size_t gm_g_stack_size(const gm_g *g); /* hi - lo */
size_t gm_g_stack_used(const gm_g *g); /* hi - sp */

/* Return the calling thread's state to the heap: flush its counters and the cache of the P it
 * used last. Runs automatically when a thread exits; harmless to call more than once, and the
 * thread may allocate again afterwards. */
void gm_thread_detach(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* GOMALLOC_H */
