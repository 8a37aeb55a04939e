/*
 * raw.h — the recorder's raw log format: what libgmrecord.so (preload.c) writes while the
 * program runs and what the converter (../record.c) reads afterwards. Internal to the two; the
 * exchange format is the trace (TRACE_FORMAT.md), not this.
 *
 * One raw directory per `gmbench record` run (GMRECORD_DIR). A process image (a process, or the
 * new program after an exec, which keeps the pid) is named by its prefix "<pid>-<start_ns>",
 * start_ns being CLOCK_MONOTONIC when the recorder started in it. Per image:
 *   <prefix>.t<serial>.ev  one per thread that made a call: a gm_rec_file_header, then
 *                          gm_rec_events in the order the thread made them (whole buffers
 *                          appended by write(); a tail shorter than an event is a torn write)
 *   <prefix>.maps          a copy of /proc/<pid>/maps (at start, fork, exec and exit)
 *   <prefix>.proc          "key value" lines: pid, ppid, start_ns, state (running, exec,
 *                          exit), lost (events dropped), exe, cmdline
 *
 * Order: every event takes a number from one process-wide atomic counter (seq), so merging the
 * thread files by seq gives one order that respects every happens-before edge through the
 * allocator. A free takes its number before the real free and an allocation after the real
 * call returns, so "free p" always precedes the allocation that reuses p. A realloc takes two:
 * REALLOC_BEGIN before the call (the old block stops being the object's address) and REALLOC
 * after it (the result). Times are relative to the image's start. Invariants: seq strictly increases within a file; a REALLOC is
 * preceded in its own file by its REALLOC_BEGIN, with nothing of that thread in between.
 */
#ifndef GM_RECORD_RAW_H
#define GM_RECORD_RAW_H

#include <stdint.h>

#define GM_REC_MAGIC   "GMRECEV2"
#define GM_REC_ENV_DIR "GMRECORD_DIR" /* raw directory; unset: the library only forwards */
#define GM_REC_ENV_TIME                                                                            \
    "GMRECORD_TIME" /* "0": no timestamps; N: read the clock at every
                                             N-th call of a thread (1: every call) */

enum gm_rec_kind {
    GM_REC_MALLOC = 1,
    GM_REC_CALLOC = 2,         /* size = nmemb * size */
    GM_REC_REALLOC_BEGIN = 3,  /* ptr = the block passed in (never NULL); before the call */
    GM_REC_REALLOC = 4,        /* ptr = result, size; align byte GM_REC_HAD_OLD when the block
                                  passed in was not NULL (then its REALLOC_BEGIN came first) */
    GM_REC_FREE = 5,           /* ptr (never NULL); recorded before the call */
    GM_REC_POSIX_MEMALIGN = 6, /* ptr, size, align_log2; ptr NULL when it failed */
    GM_REC_ALIGNED_ALLOC = 7,
    GM_REC_MEMALIGN = 8,
    GM_REC_VALLOC = 9,
    GM_REC_PVALLOC = 10, /* size rounded up to the page, as pvalloc does */
    GM_REC_CLOCK = 11,   /* not a call: ptr = ns, size = time units, both since the image's
                            start; the last event of every buffer written (tick calibration) */
    GM_REC_NKINDS = 12,
};

#define GM_REC_HAD_OLD 1u

/* 32 bytes, 32768 per 1 MiB buffer. Pointers, return addresses and sizes are 48-bit (x86-64
 * user space is below 2^47; a request of 2^48 bytes or more fails and is stored as
 * 2^48 - 1); the 48-bit time since the image's start (ns, or TSC ticks: header flags) is split
 * over the top 16 bits of the three. */
typedef struct gm_rec_event {
    uint64_t head; /* seq << 16 | align_log2 << 8 | kind */
    uint64_t ptr;  /* low 48: result of an allocation, or the block freed; high 16: time 0..15 */
    uint64_t site; /* low 48: return address (the caller of malloc); high 16: time 16..31 */
    uint64_t size; /* low 48: requested bytes; high 16: time 32..47 */
} gm_rec_event;
_Static_assert(sizeof(gm_rec_event) == 32, "raw events are 32 bytes");

#define GM_REC_MASK48 ((1ull << 48) - 1)

static inline void gm_rec_pack(gm_rec_event *e, uint64_t seq, unsigned kind, unsigned align,
                               uint64_t ptr, uint64_t size, uint64_t site, uint64_t time)
{
    if (size > GM_REC_MASK48) size = GM_REC_MASK48;
    e->head = seq << 16 | (uint64_t)(align & 0xffu) << 8 | (kind & 0xffu);
    e->ptr = (ptr & GM_REC_MASK48) | (time & 0xffffu) << 48;
    e->site = (site & GM_REC_MASK48) | (time >> 16 & 0xffffu) << 48;
    e->size = size | (time >> 32 & 0xffffu) << 48;
}

#define GM_REC_SEQ(e)   ((e)->head >> 16)
#define GM_REC_ALIGN(e) ((unsigned)((e)->head >> 8) & 0xffu)
#define GM_REC_KIND(e)  ((unsigned)(e)->head & 0xffu)
#define GM_REC_PTR(e)   ((e)->ptr & GM_REC_MASK48)
#define GM_REC_SITE(e)  ((e)->site & GM_REC_MASK48)
#define GM_REC_SIZE(e)  ((e)->size & GM_REC_MASK48)
#define GM_REC_TIME(e)  ((e)->ptr >> 48 | ((e)->site >> 48) << 16 | ((e)->size >> 48) << 32)

enum {
    GM_REC_F_TIMES = 1u << 0, /* events carry times */
    GM_REC_F_TSC = 1u << 1,   /* ... in TSC ticks (the kernel's clocksource is the TSC, so it
                                 is invariant and synchronised); CLOCK events calibrate them */
};

typedef struct gm_rec_file_header {
    char magic[8];       /* GM_REC_MAGIC */
    uint32_t version;    /* 2 */
    uint32_t event_size; /* sizeof(gm_rec_event) */
    int32_t pid, tid;
    uint32_t serial;    /* thread number within the image, from 0, in order of first call */
    uint32_t flags;     /* GM_REC_F_* */
    uint64_t start_ns;  /* the image's start (CLOCK_MONOTONIC) */
    uint64_t start_tsc; /* the TSC at the same moment */
    uint64_t reserved[2];
} gm_rec_file_header;
_Static_assert(sizeof(gm_rec_file_header) == 64, "raw file header is 64 bytes");

#define GM_REC_VERSION 2

#endif
