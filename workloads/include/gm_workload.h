/*
 * gm_workload.h — operation streams: what gmbench replays against an allocator.
 *
 * Everything the driver executes is a stream of gm_op: allocate an object under an id, free an
 * id, reallocate an id; and for goroutine workloads start and end a goroutine, call and return
 * in it, and allocate objects that do not escape in its current frame. A stream is one global sequence (the order a single-threaded program
 * would run it in); each op names the thread that executes it. The driver gives every thread
 * its own ops in stream order, and the only ordering between threads is the one the data needs:
 * an op on an id waits until every earlier op on that id has run (gm_op.seq counts them). That
 * is what makes a free on another thread than the allocation safe, deterministic in what it
 * does, and free of any ordering the workload did not ask for.
 *
 * Ids are slots in [0, nslots): a generator reuses an id once its object is dead, so the
 * driver's id→pointer table is sized by the live set, not by the length of the run.
 *
 * Synthetic generators (this folder) are deterministic for (workload, parameters, seed, ops,
 * threads): the same inputs give the same stream byte for byte, on any machine. Recorded traces
 * (TRACE_FORMAT.md, issue 4) produce the same gm_op stream.
 *
 * Memory: generators take theirs from gm_arena.h (mmap), never from malloc.
 */
#ifndef GM_WORKLOAD_H
#define GM_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm_arena.h"

enum gm_op_kind {
    GM_OP_ALLOC = 1,   /* id must be dead; size may be 0 (malloc(0) is legal) */
    GM_OP_FREE = 2,    /* id must be live */
    GM_OP_REALLOC = 3, /* id must be live; size > 0 is the new size; the id stays live */
    /* 4 is a trace MARK record (gm_trace.h), never an op. Goroutines (the `goroutines`
     * workload): a goroutine is an id too, live from GO to GOEXIT; every op on it names the
     * thread that started it. These kinds have no trace encoding (gm_trace_rec_check rejects
     * them); the recorder and the importers never produce them. */
    GM_OP_GO = 5,     /* id must be dead: start goroutine id with a 2 KiB stack; size 0 */
    GM_OP_GOEXIT = 6, /* id a live goroutine: it ends and its stack is freed; size 0 */
    GM_OP_CALL = 7,   /* id a live goroutine: push a frame of size bytes (its stack may grow) */
    GM_OP_RET = 8,    /* id a live goroutine with a frame: pop the innermost frame */
    GM_OP_NKINDS = 9, /* bound of the kinds above (array sizes) */
};

enum gm_op_flags {
    GM_OPF_SCAN = 1u << 0, /* the object holds pointers (Go's scan span classes; only the Go
                              model distinguishes it, the C allocators ignore it) */
    GM_OPF_ZERO = 1u << 1, /* the memory must read as zero: calloc */
    /* ALLOC (and the FREE of that object): the object does not escape (escape analysis). It
     * lives in the innermost frame of goroutine gm_op.g, which must have a frame, and dies
     * with it: its FREE must come before that frame's RET, and frees nothing (the RET does).
     * No REALLOC, no alignment. */
    GM_OPF_NOESCAPE = 1u << 2,
};

typedef struct gm_op {
    uint64_t size;      /* ALLOC, REALLOC: requested bytes. FREE: 0 */
    uint32_t id;        /* object slot, < the stream's nslots */
    uint32_t seq;       /* number of ops on this id before this one; set by gm_stream_track */
    uint32_t site;      /* call site (traces); 0 = unknown */
    uint16_t thread;    /* executing thread, < the run's thread count */
    uint8_t kind;       /* enum gm_op_kind */
    uint8_t flags;      /* enum gm_op_flags */
    uint8_t align_log2; /* 0: malloc's own alignment; else 3..GM_OP_MAX_ALIGN_LOG2 through
                           posix_memalign(2^align_log2) */
    uint8_t pad_[3];
    uint32_t g; /* ALLOC with GM_OPF_NOESCAPE: the goroutine (id) whose frame holds it */
} gm_op;
_Static_assert(sizeof(gm_op) == 32, "gm_op is two per cache line");

#define GM_OP_MAX_ALIGN_LOG2 26 /* 64 MiB */
#define GM_WL_MAX_THREADS    1024

/* ---- parameters ---------------------------------------------------------------------------
 * Every workload declares its parameters; gmbench exposes each as `--NAME VALUE` and `list`
 * prints them. Values are parsed and range-checked here, so every front end reports the same
 * errors. */
typedef enum gm_param_type {
    GM_PARAM_INT,  /* decimal integer */
    GM_PARAM_SIZE, /* bytes: integer with optional K, M, G suffix (binary: 1K = 1024) */
    GM_PARAM_REAL, /* decimal fraction */
    GM_PARAM_ENUM, /* one of choices[] */
} gm_param_type;

typedef struct gm_wl_param {
    const char *name; /* without the leading "--" */
    gm_param_type type;
    const char *def;            /* default, as it would be written on the command line */
    double min, max;            /* inclusive range of INT, SIZE, REAL */
    const char *const *choices; /* ENUM: NULL-terminated */
    const char *doc;            /* one line */
} gm_wl_param;

#define GM_WL_MAX_PARAMS 16

typedef struct gm_wl_value {
    int64_t i; /* INT, SIZE, and ENUM (index into choices) */
    double r;  /* REAL (also set for INT and SIZE) */
} gm_wl_value;

typedef struct gm_wl_config {
    uint64_t seed;
    uint64_t ops;     /* exact length of the stream, teardown frees included */
    unsigned threads; /* threads the stream is spread over (ops carry thread < threads) */
    gm_wl_value values[GM_WL_MAX_PARAMS]; /* indexed like the workload's params[] */
} gm_wl_config;

typedef struct gm_wl_gen gm_wl_gen;

typedef struct gm_workload {
    const char *name;
    const char *purpose; /* what it tests and how, a short paragraph */
    const gm_wl_param *params;
    unsigned nparams;
    unsigned min_threads, max_threads;
    uint64_t min_ops;     /* shortest stream that still does what the workload is for */
    uint64_t default_ops; /* compare's length when --ops is not given: about a second of
                             work for a fast allocator on one core (0: the run default) */
    /* Checks cross-parameter constraints, sets g->nslots and g->priv (from g->arena).
     * Returns 0, or -1 with a message in err. */
    int (*init)(gm_wl_gen *g, char *err, size_t errlen);
    /* Writes up to max ops; returns how many (0 only at the end of the stream). */
    size_t (*next)(gm_wl_gen *g, gm_op *ops, size_t max);
    /* Releases what the generator holds beyond g->arena (a trace's file descriptor and
     * mappings); called by gm_wl_close. NULL when there is nothing. */
    void (*fini)(gm_wl_gen *g);
} gm_workload;

/* Generator state common to every workload. */
struct gm_wl_gen {
    const gm_workload *wl;
    gm_wl_config cfg;
    gm_arena *arena;  /* the generator's memory; freed by gm_wl_close */
    uint32_t nslots;  /* set by init: ids in the stream are < nslots */
    uint64_t emitted; /* ops produced so far */
    void *priv;       /* the workload's own state */
};

/* NULL-terminated list of the built-in synthetic workloads, in `gmbench list` order. */
const gm_workload *const *gm_workloads(void);
const gm_workload *gm_workload_find(const char *name);
/* Index of a parameter by name, or -1. */
int gm_wl_param_index(const gm_workload *wl, const char *name);

/* Fills cfg->values with every parameter's default; seed 1, ops and threads untouched. */
void gm_wl_config_defaults(const gm_workload *wl, gm_wl_config *cfg);
/* Parses `--name text` into cfg. Returns 0; -1 if the workload has no such parameter (err
 * lists the valid ones); -2 if the value is malformed or out of range (err says which and why). */
int gm_wl_set_param(const gm_workload *wl, gm_wl_config *cfg, const char *name, const char *text,
                    char *err, size_t errlen);
/* Writes a parameter's value as text (the canonical form the parser accepts). */
void gm_wl_format_param(const gm_workload *wl, const gm_wl_config *cfg, unsigned index, char *buf,
                        size_t buflen);

/* Checks threads and ops against the workload's limits and runs its init. NULL with err set on
 * any error. */
gm_wl_gen *gm_wl_open(const gm_workload *wl, const gm_wl_config *cfg, char *err, size_t errlen);
size_t gm_wl_next(gm_wl_gen *g, gm_op *ops, size_t max);
void gm_wl_close(gm_wl_gen *g);

/* Parses an unsigned decimal with an optional K/M/G suffix (size = 1) or a plain one (size = 0);
 * for front ends' own flags. Returns 0 or -1 (malformed or overflow). */
int gm_parse_u64(const char *text, int size, uint64_t *out);

/* ---- stream bookkeeping -------------------------------------------------------------------
 * The driver passes every batch through a tracker before running it. The tracker fills
 * gm_op.seq, rejects an invalid op (naming its index in the stream and what is wrong), counts
 * ops by kind, and keeps the exact live requested bytes in stream order with their peak. */
typedef struct gm_stream_track {
    uint32_t nslots;
    unsigned threads;
    uint32_t *seq;  /* per id: ops seen so far */
    uint64_t *size; /* per id: requested bytes of the live object; a goroutine's frame count
                       and, from bit 48, its thread */
    uint8_t *live;  /* per id: a GM_TRACK_* state */
    uint64_t nops;  /* ops tracked so far */
    uint64_t count[GM_OP_NKINDS]; /* by gm_op_kind */
    /* Heap objects only: non-escaping objects are stack memory, goroutines are not objects. */
    uint64_t live_bytes, live_objects;
    uint64_t peak_live_bytes;
    uint64_t peak_op; /* stream index of the op that reached peak_live_bytes */
    uint64_t noescape_allocs, noescape_bytes; /* cumulative */
    uint64_t live_goroutines, peak_goroutines;
    char err[256];
} gm_stream_track;

enum { GM_TRACK_DEAD = 0, GM_TRACK_HEAP = 1, GM_TRACK_NOESCAPE = 2, GM_TRACK_GOROUTINE = 3 };

void gm_stream_track_init(gm_stream_track *t, uint32_t nslots, unsigned threads);
void gm_stream_track_destroy(gm_stream_track *t);
/* Tracks ops[0..n). Returns 0, or -1 at the first invalid op with t->err set (the ops before it
 * are tracked). *new_peak_at is set to the index in ops[] of the last op that raised the peak
 * of live bytes in this batch, or n when none did. (Not named gm_stream_track: C has one
 * namespace for typedefs and functions.) */
int gm_stream_track_ops(gm_stream_track *t, gm_op *ops, size_t n, size_t *new_peak_at);

#endif
