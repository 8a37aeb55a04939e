/*
 * internal.h — every type of the Go-model allocator and the internal entry points of each
 * component, in one place (the mimalloc habit: one types header). Public callers use
 * include/gomalloc.h; tests and fuzz targets use gm_testing.h, which includes this file.
 *
 * The overview of the whole allocator (structures, allocation and free paths, memory layout,
 * when sweeping happens) is the comment at the top of malloc.c. Each component's file states
 * its own invariants and locking; check.c verifies them.
 *
 * Lock order (never taken in the other direction):
 *     stw_lock  ->  P ownership  ->  mcentral.lock  |  mheap.lock  |  gc.lock  |  mprof.lock
 *                                ->  stackpool[order].lock  ->  mheap.lock
 *                                ->  stackLarge lock  |  allg_lock
 * mcentral.lock, mheap.lock, gc.lock (GC mode's pending list), mprof.lock (heap profiling; also
 * taken by gm_free without a P), the stackLarge lock and allg_lock are leaves: nothing else is
 * acquired while holding one; a stack pool's lock is held across the mheap.lock of a new pool
 * span (stackpoolalloc), no other path holds two (Go's span sets are lock-free; ours are short
 * critical sections).
 */
#ifndef GM_INTERNAL_H
#define GM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gomalloc.h"
#include "sizeclasses.h"

/* ---------------------------------------------------------------------------------------------
 * Constants (Go's names in comments; reference §1.1, §5.1, §5.4)
 * ------------------------------------------------------------------------------------------ */

#define GM_PAGE_SHIFT        13                           /* _PageShift */
#define GM_PAGE_SIZE         ((size_t)1 << GM_PAGE_SHIFT) /* pageSize = 8 KiB */
#define GM_TINY_SIZE         16                           /* maxTinySize */
#define GM_TINY_SPANCLASS    5 /* tinySpanClass = tinySizeClass<<1 | noscan */
#define GM_NUM_SPAN_CLASSES  (GM_NUM_SIZE_CLASSES * 2) /* numSpanClasses = 136 */
#define GM_MAX_OBJS_PER_SPAN 1024                      /* class 1: 8192/8 */
#define GM_ALLOC_BITS_WORDS  (GM_MAX_OBJS_PER_SPAN / 64)

#define GM_HEAP_ADDR_BITS    48                                   /* heapAddrBits */
#define GM_ARENA_SHIFT       26                                   /* logHeapArenaBytes */
#define GM_ARENA_BYTES       ((uintptr_t)1 << GM_ARENA_SHIFT)     /* heapArenaBytes = 64 MiB */
#define GM_PAGES_PER_ARENA   (GM_ARENA_BYTES / GM_PAGE_SIZE)      /* 8192 */
#define GM_ARENA_L2_BITS     (GM_HEAP_ADDR_BITS - GM_ARENA_SHIFT) /* arenaL2Bits = 22, L1 = 0 */
#define GM_ARENA_BASE_OFFSET ((uintptr_t)0xffff800000000000ull)   /* arenaBaseOffset */

#define GM_CHUNK_PAGES_SHIFT  9                                      /* logPallocChunkPages */
#define GM_CHUNK_PAGES        ((size_t)1 << GM_CHUNK_PAGES_SHIFT)    /* pallocChunkPages = 512 */
#define GM_CHUNK_SHIFT        (GM_CHUNK_PAGES_SHIFT + GM_PAGE_SHIFT) /* 22 */
#define GM_CHUNK_BYTES        ((uintptr_t)1 << GM_CHUNK_SHIFT)       /* pallocChunkBytes = 4 MiB */
#define GM_CHUNK_L1_BITS      13                                     /* pallocChunksL1Bits */
#define GM_CHUNK_L2_BITS      (GM_HEAP_ADDR_BITS - GM_CHUNK_SHIFT - GM_CHUNK_L1_BITS) /* 13 */
#define GM_SUMMARY_LEVELS     5 /* summaryLevels */
#define GM_SUMMARY_LEVEL_BITS 3 /* summaryLevelBits */
#define GM_SUMMARY_L0_BITS                                                                         \
    (GM_HEAP_ADDR_BITS - GM_CHUNK_SHIFT - (GM_SUMMARY_LEVELS - 1) * GM_SUMMARY_LEVEL_BITS) /* 14 */
#define GM_MAX_PACKED_VALUE ((uint64_t)1 << 21) /* maxPackedValue = 2^(logMaxPackedValue) */

#define GM_PAGE_CACHE_PAGES 64 /* pageCachePages = 8*sizeof(uint64) */

_Static_assert(GM_PAGES_PER_ARENA == 8192, "heapArenaBytes / pageSize");
_Static_assert(GM_CHUNK_BYTES == 4u << 20, "pallocChunkBytes = 512 pages of 8 KiB");
_Static_assert(GM_SUMMARY_L0_BITS == 14, "summaryL0Bits = 48 - 22 - 4*3");

/* Span states (mSpanState). GM_SPAN_MANUAL: a manually managed span (goroutine stacks,
 * stack.c): in the span map, but never a heap span, so gm_mheap_span_of does not return it. */
enum { GM_SPAN_DEAD = 0, GM_SPAN_IN_USE = 1, GM_SPAN_MANUAL = 2 };

/* ---------------------------------------------------------------------------------------------
 * sys.c — the only file that talks to the OS (mem_linux.go). Every call can be made to fail
 * for fault tests (gm_sys_fail_after). `stat` (may be NULL) is the statistic the mapped bytes
 * are charged to, as Go's sysStat arguments.
 * ------------------------------------------------------------------------------------------ */

void *gm_sys_alloc(size_t n, _Atomic uint64_t *stat); /* sysAlloc: zeroed RW memory or NULL */
void gm_sys_free(void *v, size_t n, _Atomic uint64_t *stat); /* sysFree */
void *gm_sys_reserve(void *hint, size_t n);                  /* sysReserve: PROT_NONE, or NULL */
int gm_sys_map(void *v, size_t n, _Atomic uint64_t *stat);   /* sysMap: reserved -> RW; 0 or -1 */
void gm_sys_unused(void *v, size_t n);                       /* sysUnused: madvise(MADV_DONTNEED) */
void gm_sys_unreserve(void *v, size_t n);                    /* munmap of a reservation */
size_t gm_sys_phys_page_size(void);
int gm_sys_ncpu(void);

/* ---------------------------------------------------------------------------------------------
 * sizeclass.c — size -> class, divMul (msize.go, sizeclasses.go)
 * ------------------------------------------------------------------------------------------ */

/* Smallest class whose size is >= s, for 1 <= s <= GM_MAX_SMALL_SIZE (Go's lookup, §1.4). */
static inline uint8_t gm_size_to_class(size_t s)
{
    if (s <= GM_SMALL_SIZE_MAX - 8)
        return gm_size_to_class8[(s + GM_SMALL_SIZE_DIV - 1) / GM_SMALL_SIZE_DIV];
    return gm_size_to_class128[(s - GM_SMALL_SIZE_MAX + GM_LARGE_SIZE_DIV - 1) / GM_LARGE_SIZE_DIV];
}
static inline uint8_t gm_make_spanclass(uint8_t sizeclass, bool noscan)
{
    return (uint8_t)(sizeclass << 1 | (noscan ? 1 : 0));
}
static inline uint8_t gm_spanclass_sizeclass(uint8_t spc)
{
    return spc >> 1;
}
static inline bool gm_spanclass_noscan(uint8_t spc)
{
    return spc & 1;
}
/* roundupsize (msize.go): the size Go would actually hand out for a request. */
size_t gm_roundupsize(size_t size);

/* ---------------------------------------------------------------------------------------------
 * mspan.c — one span (mheap.go: mspan; mbitmap.go: allocBits/allocCache)
 * ------------------------------------------------------------------------------------------ */

typedef struct gm_mspan gm_mspan;
struct gm_mspan {
    uintptr_t base; /* startAddr, 8 KiB aligned */
    size_t npages;
    gm_mspan *next; /* link in a span set (mcentral) or the span free list */
    /* Allocation state, owned by whoever holds the span (an mcache's P, or a sweeper). */
    _Atomic uintptr_t freeindex; /* slots < freeindex are allocated; written by the owner only,
                                  * read by gm_free to validate pointers (release/acquire) */
    uintptr_t nelems;
    uint64_t alloc_cache; /* ~alloc_bits window; bit 0 = slot freeindex; 1 = free */
    uintptr_t elemsize;
    uintptr_t limit;      /* base + nelems*elemsize (large: base + npages*8192) */
    uint32_t div_mul;     /* objIndex(p) = (p-base)*div_mul >> 32; 0 for large spans */
    uint16_t alloc_count; /* allocated slots: popcount(alloc_bits | below(freeindex)) */
    uint16_t alloc_count_before_cache;
    _Atomic uint32_t sweepgen; /* §2.6, relative to mheap.sweepgen */
    uint8_t spanclass;
    _Atomic uint8_t state; /* GM_SPAN_* */
    uint8_t needzero;      /* free slots may hold old data */
    uint8_t in_cache;      /* held by an mcache (diagnostics and checkers) */
    uint32_t check_mark;   /* scratch for checkers (detects a span in two places) */
    /* Manual (stack) spans only (stack.c): the free stacks of a pool span, linked through
     * their first word (manualFreeList), and the back link of the pool's span list. */
    uintptr_t manual_free;
    gm_mspan *prev;
    /* tiny_meta[i] describes 16-byte block i of a tiny span (spc 5): see mcache.c. NULL
     * for every other span class. */
    _Atomic uint32_t *tiny_meta;
    /* alloc_bits: 1 = allocated as of the last sweep (Go: allocBits, the previous mark bits).
     * freed_bits: 1 = freed by gm_free since the last sweep (the role Go's mark bits play,
     * inverted: Go marks what is live, the model records what died). Both are embedded here
     * rather than carved from gcBits arenas: with explicit frees there is no per-cycle epoch
     * to rotate them on. */
    _Atomic uint64_t alloc_bits[GM_ALLOC_BITS_WORDS];
    _Atomic uint64_t freed_bits[GM_ALLOC_BITS_WORDS];
    /* GC mode only (gc.c): 1 = freed by gm_free, held until the next cycle applies it.
     * tiny_pending: the same for tiny objects, one bit per byte offset of the span (its start
     * byte), carved from the tiny_meta allocation; NULL in the default mode. */
    _Atomic uint64_t pending_bits[GM_ALLOC_BITS_WORDS];
    _Atomic uint64_t *tiny_pending;
    /* GC mode with a concurrent mark (gc.c, allocate-black): in mark cycle black_cycle, the
     * slots at or above black_from that were free at the last sweep were allocated during the
     * mark; a large span allocated during the mark is black whole. Written by the span's
     * owner (its P, or the world-stopped collector). */
    uint64_t black_cycle;
    uintptr_t black_from;
    /* Heap profiling (mprof.c): the span's sampled objects, sorted by offset (Go: specials
     * of kind _KindSpecialProfile). Written under mprof.lock; read without it to test for
     * NULL on the free path. */
    struct gm_mprof_special *_Atomic specials;
};

/* Tiny-block metadata word (one per 16-byte block of spc 5; mcache.c explains the model):
 * bits 0..15  object starts at byte i; bits 16..30  an object ends at byte i (0..14; an object
 * without an end bit runs to byte 15); bit 31  the block is some P's current tiny block. */
#define GM_TINY_END_SHIFT 16
#define GM_TINY_CURRENT   (1u << 31)

void gm_mspan_init_small(gm_mspan *s, uint8_t spanclass); /* after base/npages are set */
void gm_mspan_init_large(gm_mspan *s, uint8_t spanclass);
void gm_mspan_refill_alloc_cache(gm_mspan *s, uintptr_t whichbyte); /* refillAllocCache */
uintptr_t gm_mspan_next_free_index(gm_mspan *s);                    /* nextFreeIndex */
static inline uintptr_t gm_mspan_obj_index(const gm_mspan *s, uintptr_t p)
{
    return (uintptr_t)(((uint64_t)(p - s->base) * s->div_mul) >> 32);
}
/* Is slot i allocated right now (as far as the span's owner has published)? */
bool gm_mspan_is_allocated(const gm_mspan *s, uintptr_t i);
/* Record slot i as dead; false if it was already recorded (a double free). Any thread. */
static inline bool gm_mspan_set_freed(gm_mspan *s, uintptr_t i)
{
    uint64_t bit = (uint64_t)1 << (i % 64);
    return !(atomic_fetch_or_explicit(&s->freed_bits[i / 64], bit, memory_order_release) & bit);
}
/* Count of slots that are allocated: popcount(alloc_bits | below(freeindex)). */
uintptr_t gm_mspan_count_alloc(const gm_mspan *s);
/* Sweep a span this thread has claimed (sweepgen == sg-1): apply frees, reset freeindex.
 * Returns the number of objects freed. Does not move the span anywhere (see mcentral.c). */
uintptr_t gm_mspan_sweep_bits(gm_mspan *s);

/* ---------------------------------------------------------------------------------------------
 * pagealloc.c — Go's page allocator (mpagealloc.go, mpallocbits.go, mpagecache.go).
 * Metadata only: it never touches the pages it manages, so tests can grow it with address
 * ranges that are not mapped at all.
 * ------------------------------------------------------------------------------------------ */

typedef uint64_t gm_pallocsum; /* pallocSum: start | max<<21 | end<<42, bit 63 = all free */

typedef struct {
    uint64_t alloc[GM_CHUNK_PAGES / 64];     /* 1 = page in use */
    uint64_t scavenged[GM_CHUNK_PAGES / 64]; /* 1 = page released to the OS */
} gm_pallocdata;

typedef struct {
    uintptr_t base; /* 64-page aligned; 0 = empty cache */
    uint64_t cache; /* 1 = free page */
    uint64_t scav;  /* 1 = that free page is scavenged */
} gm_pagecache;

typedef struct {
    uintptr_t base, limit;
} gm_addrrange; /* addrRange: [base, limit) */

typedef struct gm_pagealloc {
    gm_pallocsum *summary[GM_SUMMARY_LEVELS];   /* reserved for the whole address space */
    uint8_t *summary_mapped[GM_SUMMARY_LEVELS]; /* 1 bit per OS page of summary[l] mapped */
    gm_pallocdata **chunks; /* L1 array of 2^13 pointers to L2 arrays of 2^13 chunks */
    uintptr_t search_addr;  /* offset address (addr - GM_ARENA_BASE_OFFSET); see §5.5 */
    uintptr_t start, end;   /* chunk indices ever grown: [start, end) */
    gm_addrrange *in_use;   /* sorted grown address ranges (addrRanges) */
    size_t n_in_use, cap_in_use;
    _Atomic uint64_t *sys_stat; /* where metadata mappings are charged (GCSys) */
} gm_pagealloc;

int gm_pagealloc_init(gm_pagealloc *p, _Atomic uint64_t *sys_stat); /* 0, or -1 on OOM */
void gm_pagealloc_destroy(gm_pagealloc *p);
/* Register [base, base+size) (chunk aligned, never seen before) as free and scavenged. */
int gm_pagealloc_grow(gm_pagealloc *p, uintptr_t base, size_t size_bytes); /* 0 or -1 */
/* Lowest-address run of npages free pages, marked in use; 0 if none. *scav_bytes = bytes of
 * it that were scavenged (need sysUsed). */
uintptr_t gm_pagealloc_alloc(gm_pagealloc *p, size_t npages, size_t *scav_bytes);
void gm_pagealloc_free(gm_pagealloc *p, uintptr_t base, size_t npages);
gm_pagecache gm_pagealloc_alloc_to_cache(gm_pagealloc *p); /* allocToCache */
uintptr_t gm_pagecache_alloc(gm_pagecache *c, size_t npages, size_t *scav_bytes);
void gm_pagecache_flush(gm_pagecache *c, gm_pagealloc *p);
/* scavengeOne, first half: the highest run (at most max_pages, within one chunk) of free,
 * unscavenged pages, marked allocated so that nothing takes it while the caller releases it
 * without the lock; 0 if there is none. */
uintptr_t gm_pagealloc_scavenge_take(gm_pagealloc *p, size_t max_pages, size_t *npages);
/* Second half: free the run again, now scavenged. */
void gm_pagealloc_scavenge_return(gm_pagealloc *p, uintptr_t base, size_t npages);
size_t gm_pagealloc_free_pages(const gm_pagealloc *p);      /* recount, for checkers */
size_t gm_pagealloc_scavenged_pages(const gm_pagealloc *p); /* recount, for checkers */

/* ---------------------------------------------------------------------------------------------
 * fixalloc.c — fixed-size metadata allocator (mfixalloc.go)
 * ------------------------------------------------------------------------------------------ */

typedef struct gm_fixalloc {
    size_t size;    /* object size */
    void *list;     /* free list */
    uint8_t *chunk; /* current chunk */
    size_t nchunk;  /* bytes left in chunk */
    void **chunks;  /* every chunk, for destroy (a linked list through word 0) */
    size_t inuse;   /* bytes handed out and not freed */
    _Atomic uint64_t *sys_stat;
} gm_fixalloc;

void gm_fixalloc_init(gm_fixalloc *f, size_t size, _Atomic uint64_t *sys_stat);
void *gm_fixalloc_alloc(gm_fixalloc *f); /* zeroed, or NULL; caller holds the heap lock */
void gm_fixalloc_free(gm_fixalloc *f, void *p);
void gm_fixalloc_destroy(gm_fixalloc *f);

/* ---------------------------------------------------------------------------------------------
 * mcentral.c (mcentral.go, mspanset.go)
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    gm_mspan *head, *tail;
    size_t n;
} gm_spanset; /* FIFO, as Go's spanSet */

typedef struct gm_mcentral {
    pthread_mutex_t lock;
    uint8_t spanclass;
    /* partial[sg/2%2] / full[sg/2%2] are swept, the others unswept (§2.7). */
    gm_spanset partial[2];
    gm_spanset full[2];
} gm_mcentral;

/* ---------------------------------------------------------------------------------------------
 * mcache.c — per-P cache and the tiny allocator (mcache.go)
 * ------------------------------------------------------------------------------------------ */

typedef struct gm_pstats {
    uint64_t small_alloc_count[GM_NUM_SIZE_CLASSES];
    uint64_t small_free_count[GM_NUM_SIZE_CLASSES];
    uint64_t tiny_alloc_count;
    uint64_t pages_swept; /* pages of spans swept by this P (large spans freed by a cycle too) */
} gm_pstats;              /* heapStatsDelta, one shard per P; written by the P's holder only */

typedef struct gm_mcache {
    gm_mspan *alloc[GM_NUM_SPAN_CLASSES];
    uintptr_t tiny; /* current 16-byte tiny block, 0 = none */
    uintptr_t tinyoffset;
    gm_mspan *tiny_span;   /* the span holding tiny (it may have left the cache since) */
    uint64_t tiny_allocs;  /* combined tiny allocations not yet flushed */
    uintptr_t next_sample; /* heap profiling: bytes until the next sample (mprof.c) */
    uint64_t fastrand;     /* its random state (Go keeps it per M: see mprof.c) */
    struct {
        uintptr_t list; /* free stacks of this order, linked through their first word */
        size_t size;    /* bytes in list */
    } stackcache[4];    /* stackcache[_NumStackOrders] (stack.c) */
} gm_mcache;

typedef struct gm_mheap gm_mheap;

/* A P: the right to allocate (proc.go). Threads take one for the length of each allocator
 * call; see the thread model in malloc.c. */
typedef struct gm_p {
    _Atomic(void *) owner; /* the gm_m holding it, NULL when idle */
    uint32_t id;
    gm_mcache mcache;
    gm_pagecache pcache;
    gm_pstats stats;
    /* The tiny block that was current and empty when the last cycle started: Go's mark phase
     * keeps it alive through that cycle (gcMarkTinyAllocs), so it dies when the next starts. */
    gm_mspan *tiny_survivor;
    uintptr_t tiny_survivor_block;
    /* GC mode (gc.c): the P's pending-free buffer and the frees it holds since the last
     * cycle (flushed buffers included). */
    struct gm_gcbuf *gcbuf;
    uint64_t pending_count, pending_bytes;
    char pad[64];
} gm_p;

/* An M: one OS thread's state for one heap. The process heap keeps it in TLS. */
typedef struct gm_m {
    gm_mheap *heap;
    uint32_t phint;      /* the P this thread used last */
    int64_t freed_bytes; /* frees not yet flushed to mheap.freed_pending */
    gm_p *p;             /* held P, NULL between calls */
    uint32_t site;       /* call site of this thread's allocations (gm_set_alloc_site) */
} gm_m;

/* ---------------------------------------------------------------------------------------------
 * mheap.c — arenas, span map, span alloc/free, growth (mheap.go)
 * ------------------------------------------------------------------------------------------ */

typedef struct gm_heaparena {
    gm_mspan *_Atomic spans[GM_PAGES_PER_ARENA];   /* page -> span, every page of every span */
    uint64_t page_in_use[GM_PAGES_PER_ARENA / 64]; /* first page of each in-use heap span */
    uintptr_t zeroed_base; /* bytes from the arena start handed out at least once */
} gm_heaparena;

typedef struct gm_sysstats {
    _Atomic uint64_t gc_sys;    /* arena metadata, page-allocator summaries and chunks */
    _Atomic uint64_t mspan_sys; /* fixalloc chunks for spans */
    _Atomic uint64_t other_sys; /* tiny-block metadata, P array, misc */
} gm_sysstats;

typedef struct gm_heap_config {
    int nprocs;            /* GOMAXPROCS; <= 0: number of CPUs */
    int gc_percent;        /* GOGC for the sweep-cycle trigger; < 0 = off */
    bool arena_hints;      /* reserve arenas at Go's hint addresses (0x00c000000000, ...) */
    bool gc_mode;          /* GC mode (gc.c): frees are held until the next GC cycle */
    bool gctrace;          /* GC mode: print a gctrace=1 line per cycle to stderr */
    int64_t memory_limit;  /* GOMEMLIMIT in bytes (GC mode); <= 0: none (math.MaxInt64) */
    uint64_t globals_scan; /* GC mode: Go's globalsScan (gm_set_globals_scan) */
    /* GC mode: a cycle's mark phase lasts from its start until gm_heap_mark_done (trace-driven
     * replays: gmbench fidelity); false: the mark is instantaneous (gc.c). */
    bool concurrent_mark;
    gm_gc_hook cycle_hook; /* called at the end of every cycle (gm_set_gc_hook) */
    void *cycle_hook_arg;
    bool scavtrace;       /* GODEBUG=scavtrace=1: a line per background scavenge */
    int mem_profile_rate; /* MemProfileRate; 0 = no profiling (the process heap: 512 KiB) */
    uint64_t mprof_seed;  /* seed of the sampling RNG (0: a fixed default) */
    /* GODEBUG=gcshrinkstackoff=1: GC cycles never shrink goroutine stacks (stack.c). */
    bool gcshrinkstackoff;
} gm_heap_config;

/* ---------------------------------------------------------------------------------------------
 * mprof.c — heap profiling (mprof.go; runtime/pprof's legacy text writer)
 * ------------------------------------------------------------------------------------------ */

#define GM_MPROF_DEFAULT_RATE (512 * 1024) /* MemProfileRate's default */
#define GM_MPROF_MAX_SITES    (1u << 24)   /* site ids accepted, as the trace format's limit */
#define GM_MPROF_MAX_FRAMES   32           /* maxStack */

typedef struct gm_mprof_record { /* memRecordCycle */
    uint64_t allocs, frees, alloc_bytes, free_bytes;
} gm_mprof_record;

typedef struct gm_mprof_frame {
    const char *func, *file; /* NUL-terminated, in mprof's persistent memory */
    uint32_t line;
    uintptr_t entry; /* synthetic function entry; the frame's PC is entry + offset + 1 */
    uintptr_t pc;
} gm_mprof_frame;

typedef struct gm_mprof_stack {
    struct gm_mprof_stack *hnext; /* hash chain of distinct stacks (never freed) */
    uint32_t nframes;
    gm_mprof_frame frames[]; /* innermost first, as runtime.Callers */
} gm_mprof_stack;

typedef struct gm_mprof_bucket { /* bucket of kind memProfile */
    struct gm_mprof_bucket *hnext, *allnext;
    const gm_mprof_stack *stk;
    uint64_t size; /* rounded object size */
    gm_mprof_record active, future[3];
    uint64_t check_count; /* scratch for gm_mprof_check */
} gm_mprof_bucket;

typedef struct gm_mprof_special { /* specialprofile */
    struct gm_mprof_special *next;
    uintptr_t offset; /* of the sampled object in its span */
    gm_mprof_bucket *b;
} gm_mprof_special;

typedef struct gm_mprof {
    pthread_mutex_t lock;       /* proflock: leaf (taken with a P held or the world stopped) */
    _Atomic int rate;           /* MemProfileRate */
    uint32_t cycle;             /* mProf.cycle */
    bool flushed;               /* mProf.flushed */
    bool in_cycle;              /* between next_cycle and flush: frees are the cycle's (sweep) */
    gm_mprof_bucket **hash;     /* buckhash: (stack, size) -> bucket */
    gm_mprof_stack **stackhash; /* frames -> stack */
    struct gm_mprof_func **funchash; /* function name -> synthetic entry */
    gm_mprof_bucket *all;            /* mbuckets */
    uint64_t nbuckets;
    uint32_t nfuncs;
    gm_mprof_stack **sites; /* site id -> stack; NULL: none yet */
    uint32_t nsites_cap;    /* entries of sites */
    uint8_t *persist;       /* persistentalloc: current chunk */
    size_t persist_left;
    void *persist_chunks; /* linked through word 0, for destroy */
    gm_fixalloc specialalloc;
    uint64_t dropped; /* samples not recorded for lack of metadata memory */
} gm_mprof;

/* ---------------------------------------------------------------------------------------------
 * stack.c — goroutine stacks (stack.go; reference §7)
 * ------------------------------------------------------------------------------------------ */

#define GM_FIXED_STACK       2048       /* _FixedStack = _StackMin on linux/amd64 */
#define GM_STACK_GUARD       928        /* _StackGuard */
#define GM_STACK_SMALL       128        /* _StackSmall */
#define GM_STACK_LIMIT       800        /* _StackLimit = _StackGuard - _StackSystem - _StackSmall */
#define GM_NUM_STACK_ORDERS  4          /* _NumStackOrders: 2, 4, 8, 16 KiB */
#define GM_STACK_CACHE_SIZE  32768      /* _StackCacheSize: per P and order; also a pool span */
#define GM_MAX_STACK_SIZE    1000000000 /* maxstacksize on 64-bit */
#define GM_STACK_LARGE_LISTS (GM_HEAP_ADDR_BITS - GM_PAGE_SHIFT) /* stackLarge.free[35] */
_Static_assert(GM_STACK_CACHE_SIZE % GM_PAGE_SIZE == 0, "a pool span is whole pages (4)");
_Static_assert(GM_FIXED_STACK << GM_NUM_STACK_ORDERS == GM_STACK_CACHE_SIZE,
               "orders 0..3 are exactly the sizes below _StackCacheSize");

typedef struct gm_stack {
    uintptr_t lo, hi; /* [lo, hi); lo == 0: none */
} gm_stack;

/* Goroutine status (the part of Go's g.atomicstatus the stack allocator needs). */
enum { GM_G_PARKED = 0, GM_G_RUNNING = 1, GM_G_SCAN = 2 };

/* A goroutine (runtime.g, the stack part): its stack, its stack pointer and the chain of
 * frames (each frame's link word holds the previous frame's offset from hi, so the chain
 * survives copying). Invariants (gm_stack_check): lo < sp <= hi, or sp == hi; hi - lo a power
 * of two >= 2048; frame_off <= hi - sp; following the links visits nframes frames. */
struct gm_g {
    gm_stack stack;
    uintptr_t sp;
    uintptr_t frame_off; /* hi - (address of the innermost frame's link word); 0: no frame */
    uint64_t nframes;
    gm_mheap *heap;
    _Atomic uint32_t status;     /* GM_G_*: PARKED <-> RUNNING by the owner, PARKED <-> SCAN
                                   * by a GC cycle */
    _Atomic bool preempt_shrink; /* preemptShrink: shrink at the next safe point */
    gm_g *allnext, *allprev;     /* allgs, under allg_lock */
};

typedef struct gm_stackpool {
    pthread_mutex_t lock; /* stackpool[order].item.mu */
    gm_mspan *first;      /* spans with at least one free stack; new ones at the front */
} gm_stackpool;

typedef struct gm_stackstate {
    gm_stackpool pool[GM_NUM_STACK_ORDERS];
    pthread_mutex_t large_lock;                 /* stackLarge.lock */
    gm_mspan *large_free[GM_STACK_LARGE_LISTS]; /* by log2(npages); only while a GC runs */
    _Atomic bool gc_running;   /* gcphase != _GCoff: set only with the world stopped */
    bool shrink_off;           /* gcshrinkstackoff */
    pthread_mutex_t allg_lock; /* allglock: a leaf, taken with a P held */
    gm_g *allgs;
    uint64_t ngs;
    gm_fixalloc galloc;              /* gm_g structs, under mheap.lock */
    uint64_t inuse;                  /* StackInuse: bytes of manual spans, under mheap.lock */
    _Atomic uint64_t grows, shrinks; /* copystack counts (diagnostics) */
} gm_stackstate;

/* ---------------------------------------------------------------------------------------------
 * gc.c — GC mode: pending frees, the Go 1.19 pacer (mgc.go, mgcpacer.go), gctrace
 * ------------------------------------------------------------------------------------------ */

#define GM_GCBUF_CAP 509 /* a buffer is 4 KiB of fixalloc memory */
typedef struct gm_gcbuf {
    struct gm_gcbuf *next;
    uint64_t n;
    void *obj[GM_GCBUF_CAP];
} gm_gcbuf;

typedef struct gm_gcstate {
    bool enabled; /* fixed at heap creation */
    bool gctrace;
    pthread_mutex_t lock; /* full: leaf, taken with a P held */
    gm_gcbuf *full;       /* flushed per-P buffers */
    gm_fixalloc bufalloc; /* under mheap.lock */
    /* Pacer (§6), written with the world stopped; heap_live also by refills (atomic). */
    _Atomic int64_t heap_live; /* heapLive */
    _Atomic uint64_t trigger;  /* heap trigger (§6.3) */
    uint64_t heap_goal;        /* §6.2 */
    uint64_t heap_marked;      /* live heap after the last cycle's mark */
    uint64_t sweep_dist_min;   /* sweepDistMinTrigger of the last commit */
    int64_t memory_limit;      /* GOMEMLIMIT */
    uint64_t globals_scan;     /* globalsScan: part of the goal (§6.2) */
    /* Concurrent mark (gm_heap_config.concurrent_mark): the cycle being marked (0 = none),
     * what its start saw, and the cons/mark estimate (§6.3) with its PI controller. */
    bool concurrent;
    _Atomic uint64_t marking;
    int64_t mark_live_start;
    uint64_t mark_goal, mark_trigger, mark_t0, mark_t1;
    double cons_mark, cons_integral;
    uint64_t last_heap_scan, last_stack_scan, runway;
    /* Proportional sweep (gcPaceSweeper, deductSweepCredit): pages swept this cycle; the
     * pages to sweep per byte of heapLive growth, from heapLive = live_basis and
     * pages_swept = swept_basis; off (false) once sweeping is done. Rate and bases are
     * written with the world stopped; allocators read them holding a P. */
    _Atomic int64_t pages_swept_cycle;
    _Atomic bool proportional;
    double sweep_pages_per_byte;
    uint64_t sweep_live_basis, pages_swept_basis;
    /* gm_heap_set_mark_inputs: what the next mark termination uses instead of its own
     * estimates (a replay taking them from the real runtime's gcpacertrace). */
    bool inputs_set;
    double input_cons_mark;
    uint64_t input_heap_scan, input_stack_scan;
    gm_gc_hook hook; /* gm_set_gc_hook; set with the world stopped */
    void *hook_arg;
    _Atomic bool sweep_done; /* every span swept in the current cycle */
    /* Bytes whose freed bit is set and whose span is not swept yet. */
    _Atomic int64_t dead_unswept;
    /* Per-cycle record (the last cycle) and totals. */
    uint64_t last_goal, last_live_start, num_forced;
    uint64_t start_ns, cpu_ns;
} gm_gcstate;

/* scavenge.c — the scavenger's goals and state (mgcscavenge.go). */
typedef struct gm_scavstate {
    _Atomic uint64_t gc_goal;  /* heapRetained to come down to; UINT64_MAX: none */
    _Atomic uint64_t mem_goal; /* mappedReady to come down to; UINT64_MAX: none */
    _Atomic bool wake;         /* sweeping finished: the background scavenger may have work */
    pthread_mutex_t run_lock;  /* one background scavenger at a time */
    bool trace;                /* scavtrace */
    /* Under mheap.lock: the pacer's goal until now, HeapInuse at the last mark termination
     * (gcPaceScavenger's inputs), whether a cycle has ended, and what was released. */
    uint64_t goal_in_effect, last_heap_inuse;
    bool ended_cycle;
    uint64_t inflight_bytes; /* taken from pageAlloc, being released without the lock */
    uint64_t released_total, released_since_trace;
} gm_scavstate;

struct gm_mheap {
    pthread_mutex_t lock; /* mheap_.lock: pages, arenas, span structs, large stats */
    gm_pagealloc pages;
    gm_heaparena *_Atomic *arenas;           /* L2 map, 2^22 entries, indexed by arena index */
    uintptr_t cur_arena_base, cur_arena_end; /* curArena: reserved, not yet handed to pages */
    uintptr_t hint_addr; /* next arena hint (Go's arenaHints), 0 = let the kernel choose */
    int next_hint;       /* index i of the next hint region i<<40 | 0x00c0<<32 */
    struct {
        uintptr_t base;
        size_t size;
    } * reservations; /* for destroy */
    size_t n_reservations, cap_reservations;
    gm_fixalloc spanalloc;
    gm_fixalloc tinymetaalloc;
    /* Heap memory statistics (§5.3), under lock. */
    uint64_t heap_inuse, heap_free, heap_released;
    uint64_t large_alloc, large_alloc_count, large_free, large_free_count;
    uint64_t pages_in_use;
    gm_sysstats sys;
    /* Sweeping (§2.6-2.8). */
    _Atomic uint32_t sweepgen;
    _Atomic int64_t freed_pending; /* bytes freed since the current cycle started (approx.) */
    /* Default mode: bytes of large objects freed since then (their pages went back at once,
     * so they are not dead bytes waiting for the sweeper, but they count toward the trigger,
     * as a Go program churning large objects runs GC cycles). */
    _Atomic int64_t freed_large;
    _Atomic int64_t sweep_trigger; /* start a cycle when freed_pending + freed_large reach it */
    _Atomic uint64_t num_cycles;
    _Atomic uint32_t sweep_cursor; /* next sweep class (spc*2 + full/partial) for sweepone */
    int gc_percent;
    pthread_mutex_t stw_lock;
    gm_gcstate gc;
    gm_scavstate scav;
    uint64_t grown_bytes; /* bytes handed to the page allocator by grow; under lock */
    gm_stackstate stack;  /* stack.c */
    gm_mcentral central[GM_NUM_SPAN_CLASSES];
    gm_mprof prof; /* heap profiling (mprof.c) */
    /* Ps. */
    uint32_t nprocs;
    gm_p *allp;
    _Atomic uint32_t next_phint;
};

/* spanOf: the span whose object area contains p, or NULL. Lock-free: the free path's first
 * step, so it lives here to be inlined. */
static inline gm_mspan *gm_mheap_span_of(gm_mheap *h, uintptr_t p)
{
    size_t ai = (p - GM_ARENA_BASE_OFFSET) >> GM_ARENA_SHIFT;
    if (ai >= ((size_t)1 << GM_ARENA_L2_BITS)) return NULL;
    gm_heaparena *ha = atomic_load_explicit(&h->arenas[ai], memory_order_acquire);
    if (!ha) return NULL;
    gm_mspan *s = atomic_load_explicit(&ha->spans[(p / GM_PAGE_SIZE) % GM_PAGES_PER_ARENA],
                                       memory_order_acquire);
    if (!s || p < s->base || p >= s->limit ||
        atomic_load_explicit(&s->state, memory_order_relaxed) != GM_SPAN_IN_USE)
        return NULL;
    return s;
}

gm_mheap *gm_heap_create(const gm_heap_config *cfg); /* NULL on failure */
void gm_heap_destroy(gm_mheap *h);                   /* unmaps everything it mapped */

/* mheap.alloc for a heap span; pp may be NULL (no page cache). NULL when out of memory. */
gm_mspan *gm_mheap_alloc(gm_mheap *h, gm_p *pp, size_t npages, uint8_t spanclass);
/* Like gm_mheap_alloc, with the span's base aligned to align_bytes (a power of two > 8 KiB). */
gm_mspan *gm_mheap_alloc_aligned(gm_mheap *h, size_t npages, size_t align_bytes, uint8_t spc);
void gm_mheap_free_span(gm_mheap *h, gm_mspan *s);

/* Free the large object at p whose span lookup gave s; false if p no longer names it. */
bool gm_mheap_free_large(gm_mheap *h, gm_mspan *s, uintptr_t p);
/* mheap.reclaim: before growing, sweep unswept spans until npages were freed or none are
 * left to sweep. */
void gm_mheap_reclaim(gm_mheap *h, gm_p *pp, size_t npages);

/* ---------------------------------------------------------------------------------------------
 * mcentral.c
 * ------------------------------------------------------------------------------------------ */

void gm_mcentral_init(gm_mcentral *c, uint8_t spanclass);
gm_mspan *gm_mcentral_cache_span(gm_mheap *h, gm_mcentral *c, gm_p *pp); /* NULL: OOM */
void gm_mcentral_uncache_span(gm_mheap *h, gm_mcentral *c, gm_p *pp, gm_mspan *s);
/* Sweep one unswept span of any class in Go's sweep order (sweepone). Returns the number of
 * pages it returned to the heap, or -1 when nothing was left to sweep. */
long gm_mcentral_sweep_one(gm_mheap *h, gm_p *pp);
/* Sweep a claimed span (sweepgen was CASed from sg-2 to sg-1). preserve: leave it with the
 * caller instead of queueing/freeing it. Returns true if the span was freed to the heap. */
bool gm_sweep_span(gm_mheap *h, gm_p *pp, gm_mspan *s, bool preserve);
bool gm_span_try_claim(gm_mheap *h, gm_mspan *s);

/* ---------------------------------------------------------------------------------------------
 * mcache.c
 * ------------------------------------------------------------------------------------------ */

extern gm_mspan gm_emptymspan; /* shared dummy: nelems 0, so every first allocation refills */
void gm_mcache_init(gm_mcache *c);
/* refill: replace c->alloc[spc] (full) with a span that has a free slot. false on OOM. */
bool gm_mcache_refill(gm_mheap *h, gm_p *pp, uint8_t spc);
/* releaseAll: return every cached span, drop the tiny block, flush statistics. */
void gm_mcache_release_all(gm_mheap *h, gm_p *pp);
/* At a cycle start: retire the current tiny block as Go's mark would keep it (see above), and
 * let the block kept by the previous cycle die. */
void gm_mcache_mark_tiny(gm_mheap *h, gm_p *pp);
/* The tiny allocator (§3): returns NULL only when out of memory. */
void *gm_mcache_tiny_alloc(gm_mheap *h, gm_p *pp, size_t size, bool *refilled);
/* Free of p in block idx of tiny span s: false when the block holds no tiny objects (p is
 * then an ordinary 16-byte object); aborts on a pointer that starts no live tiny object. */
bool gm_tiny_free(gm_mheap *h, gm_mspan *s, uintptr_t p, uintptr_t idx, gm_m *m);
size_t gm_tiny_usable_size(const gm_mspan *s, uintptr_t p, uintptr_t idx);

/* ---------------------------------------------------------------------------------------------
 * malloc.c — the entry points on a given heap (the public API wraps these for the process
 * heap and the calling thread's M).
 * ------------------------------------------------------------------------------------------ */

void gm_m_init(gm_m *m, gm_mheap *h);
void gm_m_detach(gm_m *m); /* flush counters, release the last P's cache */
gm_p *gm_acquirep(gm_m *m);
void gm_releasep(gm_m *m);
void gm_stop_the_world(gm_m *m); /* take every P; the caller holds none on entry */
void gm_start_the_world(gm_m *m);

void *gm_heap_alloc(gm_mheap *h, gm_m *m, size_t size, unsigned flags);
void *gm_heap_alloc_aligned(gm_mheap *h, gm_m *m, size_t align, size_t size, unsigned flags);
void gm_heap_free(gm_mheap *h, gm_m *m, void *p);
/* The free applied at once (the default mode's gm_heap_free; a GC cycle applies its pending
 * frees with it, m == NULL). */
void gm_heap_free_now(gm_mheap *h, gm_m *m, void *p);
void *gm_heap_realloc(gm_mheap *h, gm_m *m, void *p, size_t size);
size_t gm_heap_usable_size(gm_mheap *h, const void *p);
void gm_heap_gc(gm_mheap *h, gm_m *m); /* start a sweep cycle and finish it (runtime.GC) */
void gm_heap_read_memstats(gm_mheap *h, gm_m *m, gm_memstats *ms);
/* Start a new sweep cycle (gcStart..gcSweep with perfect marking). Caller holds no P. */
void gm_heap_start_cycle(gm_mheap *h, gm_m *m, bool forced);
uint64_t gm_heap_set_globals_scan(gm_mheap *h, gm_m *m, uint64_t bytes);
void gm_heap_set_gc_hook(gm_mheap *h, gm_m *m, gm_gc_hook fn, void *arg);
/* Concurrent mark: end the running cycle's mark (mark termination); no-op when none runs. */
void gm_heap_mark_done(gm_mheap *h, gm_m *m);
/* Concurrent mark: the cons/mark value and the heap and stack scan work the next mark
 * termination takes as measured, instead of the model's estimates (gmbench fidelity
 * --runtime-pacing feeds the real runtime's). Call with the world running, no P held. */
void gm_heap_set_mark_inputs(gm_mheap *h, gm_m *m, double cons_mark, uint64_t heap_scan,
                             uint64_t stack_scan);
/* Bytes of allocated, not freed objects in scan spans (the model's heap scan work); world
 * stopped (check.c, which owns the span walk). */
uint64_t gm_heap_scan_bytes(gm_mheap *h);
/* Allocate-black bookkeeping for span s taken by an allocator during a concurrent mark. */
static inline void gm_gc_blacken_span(gm_mheap *h, gm_mspan *s, bool large)
{
    uint64_t cycle = atomic_load_explicit(&h->gc.marking, memory_order_relaxed);
    if (__builtin_expect(cycle == 0, 1) || s->black_cycle == cycle) return;
    s->black_cycle = cycle;
    s->black_from = large ? 0 : atomic_load_explicit(&s->freeindex, memory_order_relaxed);
}
/* scavenge.c. gm_scavenge_pace: gcPaceScavenger, whenever the pacer commits. gm_scavenge:
 * release up to nbytes now, returns what it released. gm_scavenge_background: the
 * background scavenger's work, if woken (no lock or P held). gm_scavenge_alloc_path: allocSpan's
 * synchronous scavenging after a span allocation that grew the heap by `grown` bytes. */
void gm_scavenge_init(gm_mheap *h, bool trace);
void gm_scavenge_destroy(gm_mheap *h);
/* heap_inuse_at_mark: HeapInuse at the mark termination that just ended, or NULL (a commit
 * outside a cycle's end: GOGC or the limit changed). */
void gm_scavenge_pace(gm_mheap *h, uint64_t heap_goal, int64_t memory_limit,
                      const uint64_t *heap_inuse_at_mark);
uint64_t gm_scavenge(gm_mheap *h, uint64_t nbytes);
void gm_scavenge_background(gm_mheap *h);
void gm_scavenge_alloc_path(gm_mheap *h, uint64_t grown);
/* debug.FreeOSMemory: a forced cycle, then release every free page. */
void gm_heap_release_os_memory(gm_mheap *h, gm_m *m);
/* Set the sweep-cycle trigger from the live heap at the start of a cycle (see malloc.c). */
void gm_heap_pace(gm_mheap *h, uint64_t live_bytes, const uint64_t *heap_inuse_at_mark);
/* Account bytes that died (gm_free, a tiny block's last object); m may be NULL. */
void gm_note_freed(gm_mheap *h, gm_m *m, size_t bytes);
/* Has the heap reached its cycle trigger? (Default mode: freed bytes; GC mode: heapLive.) */
static inline bool gm_cycle_triggered(gm_mheap *h)
{
    if (__builtin_expect(h->gc.enabled, 0))
        return (uint64_t)atomic_load_explicit(&h->gc.heap_live, memory_order_relaxed) >=
               atomic_load_explicit(&h->gc.trigger, memory_order_relaxed);
    return atomic_load_explicit(&h->freed_pending, memory_order_relaxed) +
               atomic_load_explicit(&h->freed_large, memory_order_relaxed) >=
           atomic_load_explicit(&h->sweep_trigger, memory_order_relaxed);
}

/* gc.c */
int gm_gc_init(gm_mheap *h, const gm_heap_config *cfg); /* 0, or -1 */
void gm_gc_destroy(gm_mheap *h);
/* GC mode, before an allocator takes a span of span_bytes (mcentral.cacheSpan, a large
 * allocation): sweep enough spans to keep the proportional sweeper on schedule
 * (deductSweepCredit). caller_pages: pages the caller sweeps itself (the reclaimer). pp held. */
void gm_gc_deduct_sweep_credit(gm_mheap *h, gm_p *pp, uint64_t span_bytes, uint64_t caller_pages);
/* GC-mode gm_free: validate p and hold it in the calling thread's P's buffer. */
void gm_gc_free(gm_mheap *h, gm_m *m, void *p);
/* Is the (allocated) object at p of span s pending? */
bool gm_gc_is_pending(const gm_mspan *s, uintptr_t p);
/* heapLive += delta (GC mode only; refill, large allocation, cache release). */
static inline void gm_gc_charge(gm_mheap *h, int64_t delta)
{
    atomic_fetch_add_explicit(&h->gc.heap_live, delta, memory_order_relaxed);
}
/* gcControllerCommit (§6.2, §6.3): recompute the heap goal and trigger. World stopped.
 * heap_inuse_at_mark: HeapInuse at the mark termination that calls it (then
 * sweepDistMinTrigger = heapLive + 1 MiB, and the scavenger takes it as lastHeapInUse); NULL
 * for a commit outside a cycle's end (heap creation, GOGC or the limit changed). */
void gm_gc_commit(gm_mheap *h, const uint64_t *heap_inuse_at_mark);
/* debug.SetMemoryLimit on a heap: returns the previous limit; limit < 0 only reads it. */
int64_t gm_heap_set_memory_limit(gm_mheap *h, gm_m *m, int64_t limit);
int gm_heap_set_gc_percent(gm_mheap *h, gm_m *m, int percent);
/* Parse a GOMEMLIMIT value (§6.1); -1 if malformed. "off" is INT64_MAX. */
int64_t gm_parse_memory_limit(const char *v);
/* Sum every P's statistics shard and the heap's counters into ms (world stopped). */
void gm_mstats_collect(gm_mheap *h, gm_memstats *ms);

/* mprof.c: heap profiling. */
int gm_mprof_init(gm_mheap *h, const gm_heap_config *cfg); /* after the Ps exist; 0 or -1 */
void gm_mprof_destroy(gm_mheap *h);
/* Record a sampled allocation of the rounded size at p and draw the P's next countdown
 * (profilealloc + mProf_Malloc). The caller holds pp. */
void gm_mprof_malloc(gm_mheap *h, gm_p *pp, uint32_t site, uintptr_t p, size_t size);
/* After every allocation that is not combined into a tiny block (size 0 tells that it was):
 * the countdown of malloc.go. One load and one predictable branch when profiling is off. */
static inline void gm_mprof_count(gm_mheap *h, gm_p *pp, gm_m *m, void *v, size_t size)
{
    int rate = atomic_load_explicit(&h->prof.rate, memory_order_relaxed);
    if (rate > 0) {
        if (rate != 1 && size < pp->mcache.next_sample)
            pp->mcache.next_sample -= size;
        else if (size)
            gm_mprof_malloc(h, pp, m->site, (uintptr_t)v, size);
    }
}
/* The object at p of span s dies (mProf_Free when it was sampled). Call before the slot can
 * be reused: before its freed bit is set, or before a large span is freed. */
void gm_mprof_free(gm_mheap *h, gm_mspan *s, uintptr_t p);
static inline void gm_mprof_note_free(gm_mheap *h, gm_mspan *s, uintptr_t p)
{
    if (__builtin_expect(atomic_load_explicit(&s->specials, memory_order_acquire) != NULL, 0))
        gm_mprof_free(h, s, p);
}
/* The cycle steps of mgc.go: mProf_NextCycle at mark termination (world stopped), mProf_Flush
 * once the world runs again, mProf_PostSweep after runtime.GC's full sweep. */
void gm_mprof_next_cycle(gm_mheap *h);
void gm_mprof_flush(gm_mheap *h);
void gm_mprof_post_sweep(gm_mheap *h);
/* Register the frames (innermost first; "func" or "func file:line") of a site. 0, or -1 with
 * errno EINVAL (site 0 or >= GM_MPROF_MAX_SITES, nframes 0 or > 32, a NULL or empty frame)
 * or ENOMEM. */
int gm_mprof_register_site_on(gm_mheap *h, uint32_t site, const char *const *frames,
                              size_t nframes);
/* The heap profile written to fd: the legacy text (§8.4) or the protobuf (GM_PROFILE_*); 0, or
 * -1 with errno. */
int gm_heap_write_heap_profile(gm_mheap *h, gm_m *m, int fd, int format);
/* One bucket's published record as the profile shows it (tests): false if no such bucket. */
bool gm_mprof_lookup(gm_mheap *h, uint32_t site, uint64_t size, gm_mprof_record *out);
/* stack.c (locking and invariants there). pp may be NULL: then the global pools are used. */
void gm_stack_init(gm_mheap *h, const gm_heap_config *cfg);
void gm_stack_destroy(gm_mheap *h);
gm_stack gm_stackalloc(gm_mheap *h, gm_p *pp, size_t n); /* n a power of two; lo 0 on OOM */
void gm_stackfree(gm_mheap *h, gm_p *pp, gm_stack st);
void gm_stackcache_clear(gm_mheap *h, gm_p *pp);
void gm_free_stack_spans(gm_mheap *h);
/* The stack part of mark termination (world stopped, pp held): shrink every goroutine's stack
 * that uses less than a quarter of it, free empty stack spans, clear every P's stack cache. */
void gm_stack_mark_termination(gm_mheap *h, gm_p *pp);
/* Manual spans (mheap.c: allocManual / freeManual). Counted in StackInuse, not HeapInuse. */
gm_mspan *gm_mheap_alloc_manual(gm_mheap *h, gm_p *pp, size_t npages);
void gm_mheap_free_manual(gm_mheap *h, gm_mspan *s);
/* The manual span holding p, or NULL (misuse messages only). */
gm_mspan *gm_mheap_manual_span_of(gm_mheap *h, uintptr_t p);
/* Goroutines on a given heap (the public gm_g_* wrap these for the process heap). */
gm_g *gm_heap_g_create(gm_mheap *h, gm_m *m);
void gm_heap_g_exit(gm_m *m, gm_g *g);
void *gm_heap_g_push(gm_m *m, gm_g *g, size_t frame_bytes);
void gm_heap_g_pop(gm_m *m, gm_g *g);
void *gm_heap_g_alloc(gm_m *m, gm_g *g, size_t size, unsigned flags);
void gm_heap_g_park(gm_g *g);
void gm_heap_g_run(gm_g *g);
/* The calling thread's M for the process heap (malloc.c). */
gm_m *gm_current_m(void);

/* Misuse of the API (invalid, interior or double free): message naming p, then abort (or the
 * test handler of gm_set_misuse_handler, gm_testing.h). Every call site detects the misuse
 * before it takes a lock or changes any state, so a handler may longjmp out of it. */
_Noreturn void gm_misuse(const char *what, const void *p);
/* Internal bug: print and abort. */
_Noreturn void gm_throw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef GM_DEBUG
#define GM_ASSERT(c)                                                                               \
    ((c) ? (void)0 : gm_throw("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__))
#else
#define GM_ASSERT(c) ((void)0)
#endif
#define GM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define GM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---------------------------------------------------------------------------------------------
 * Memory-checker annotations (mimalloc's habit: what is not handed out is poisoned).
 *
 * Go needs none of this (its memory is never freed by hand); a C heap does, so that a
 * use-after-free *inside* a span is caught even though the slot's pages stay mapped. Under
 * ASan (GM_ASAN, detected from the compiler) the bytes of a span that are not handed out are
 * poisoned; under Valgrind (cmake -DGM_VALGRIND=ON, <valgrind/memcheck.h>) they are NOACCESS.
 *   - mheap.c: a small span's whole pages at span init (its slots are not handed out yet) and
 *     any span's pages when it goes back to the page heap; a large span's object at init;
 *     every page a heap ever handed out is unpoisoned again at gm_heap_destroy, because ASan's
 *     shadow outlives the munmap and the next mmap may reuse the addresses.
 *   - malloc.c: a slot when it is handed out (GM_MEM_ALLOC; `zeroed` tells Valgrind the bytes
 *     are defined zeros, as fresh pages and needzero == 0 slots are) and when gm_free records
 *     it dead, *before* its freed bit is set: after that a sweeper on another thread may hand
 *     the slot out again, and a late poison would hide the new object.
 *   - mcache.c: a tiny block is unpoisoned whole when it is started and poisoned when it dies
 *     (its last object freed and not current). Its objects share 16 bytes, so a freed tiny
 *     object is caught only once every object of its block is dead.
 * Nothing else in the allocator touches object memory (sweeping and the checkers read
 * metadata only), so nothing needs to unpoison around them. In every other build the macros
 * are empty and the hot path is unchanged.
 * ------------------------------------------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#define GM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GM_ASAN 1
#endif
#endif

#if defined(GM_ASAN)
#include <sanitizer/asan_interface.h>
#define GM_MEM_ALLOC(p, n, zeroed)                                                                 \
    ((void)(zeroed), __asan_unpoison_memory_region((const void *)(p), (n)))
#define GM_MEM_FREE(p, n)   __asan_poison_memory_region((const void *)(p), (n))
#define GM_MEM_FORGET(p, n) __asan_unpoison_memory_region((const void *)(p), (n))
#elif defined(GM_VALGRIND)
#include <valgrind/memcheck.h>
#define GM_MEM_ALLOC(p, n, zeroed)                                                                 \
    ((zeroed) ? (void)VALGRIND_MAKE_MEM_DEFINED((p), (n))                                          \
              : (void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define GM_MEM_FREE(p, n)   ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define GM_MEM_FORGET(p, n) ((void)(p), (void)(n)) /* munmap resets Valgrind's view */
#else
#define GM_MEM_ALLOC(p, n, zeroed) ((void)0)
#define GM_MEM_FREE(p, n)          ((void)0)
#define GM_MEM_FORGET(p, n)        ((void)0)
#endif

/* ---------------------------------------------------------------------------------------------
 * check.c — invariant checkers. Each returns NULL when every invariant holds, or a
 * description of the first violation (in buf). They never abort. Whole-heap checkers need a
 * quiescent heap (a test between operations, or the world stopped).
 * ------------------------------------------------------------------------------------------ */

const char *gm_sizeclass_check(char *buf, size_t n);
const char *gm_mspan_check(const gm_mspan *s, char *buf, size_t n);
const char *gm_pagealloc_check(const gm_pagealloc *p, char *buf, size_t n);
const char *gm_mcentral_check(gm_mheap *h, gm_mcentral *c, char *buf, size_t n);
const char *gm_mcache_check(gm_mheap *h, gm_p *pp, char *buf, size_t n);
const char *gm_mheap_check(gm_mheap *h, char *buf, size_t n);
/* Everything above plus the memstats recount; needs every mcache flushed or consistent. */
const char *gm_heap_check(gm_mheap *h, char *buf, size_t n);
/* What can be checked while the world is stopped but frees continue (no recount). */
const char *gm_heap_check_stopped(gm_mheap *h, char *buf, size_t n);
/* GC mode: pending frees (every buffered object allocated, not freed, its pending bit set;
 * counts and bytes equal a recount; no stray pending bit) and dead_unswept. World stopped or
 * quiescent; NULL in the default mode. */
const char *gm_gc_check(gm_mheap *h, char *buf, size_t n);
/* Heap profiling: per bucket, allocs - frees over every slot equals the live specials that
 * name it (and bytes = count × size); every special names a live object of its span, sorted
 * by offset; frees <= allocs in the published record. Quiescent heap. */
const char *gm_mprof_check(gm_mheap *h, char *buf, size_t n);
/* Stacks (stack.c): pool spans, stack caches, stackLarge, every g's stack and frames, and
 * StackInuse == Σ manual span bytes. Quiescent heap or world stopped. */
const char *gm_stack_check(gm_mheap *h, char *buf, size_t n);

#endif /* GM_INTERNAL_H */
