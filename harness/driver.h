/*
 * driver.h — one measurement: one allocator, one workload, in this process.
 *
 * The driver pulls batches of ops from the generator, passes each through the stream tracker
 * (validity, seq numbers, exact live bytes), and executes them: on the calling thread when the
 * run has one thread, else on worker threads, each running its own ops in stream order and
 * waiting only where an op's id was last touched by another thread (gm_workload.h). Between
 * batches the workers meet at a barrier; when a batch raises the peak of live bytes it is split
 * at that op so that RSS and the allocator's statistics are read at the exact moment of peak
 * live, with every earlier op done and no later one started.
 *
 * Everything the driver uses is mapped and faulted in before the baseline RSS is read, so the
 * RSS the run adds over that baseline is the allocator's (plus the memory the workload touches,
 * which is the point).
 */
#ifndef GM_DRIVER_H
#define GM_DRIVER_H

#include <stdbool.h>

#include "backend.h"
#include "gm_workload.h"
#include "json.h"

typedef enum gm_latency_mode {
    GM_LAT_OFF,    /* no per-op timing: throughput only, the driver's cost is minimal */
    GM_LAT_SAMPLE, /* time about one op in sample_period (random gaps, no aliasing) */
    GM_LAT_ALL,    /* time every op */
} gm_latency_mode;

typedef enum gm_touch_mode {
    GM_TOUCH_NONE,  /* never write to allocated memory */
    GM_TOUCH_FIRST, /* write the first byte */
    GM_TOUCH_PAGES, /* write one byte in every 4 KiB of the object, as a program using it would */
    GM_TOUCH_FULL,  /* memset the whole object */
} gm_touch_mode;

typedef enum gm_inject {
    GM_INJECT_NONE,
    GM_INJECT_SEGV,  /* raise SIGSEGV at op N: tests that a crashing child becomes a failure row */
    GM_INJECT_HANG,  /* stop making progress at op N: tests the timeout */
    GM_INJECT_ABORT, /* abort() at op N */
} gm_inject;

typedef struct gm_run_config {
    const gm_backend *backend;
    const gm_workload *workload; /* NULL when replaying a trace */
    gm_wl_config wl;             /* seed, ops, threads, parameter values (for a trace: its ops
                                    and threads, from its header) */
    const char *trace;           /* replay this trace file instead of a workload */
    bool strict;                 /* trace replay: every op in the trace's global order, and a
                                    free of an object that is not live is an error */
    gm_latency_mode latency;
    unsigned sample_period; /* GM_LAT_SAMPLE */
    gm_touch_mode touch;
    unsigned rss_interval_ms; /* RSS sampling period */
    unsigned rep;             /* repetition number, recorded in the result */
    gm_inject inject;
    uint64_t inject_at;       /* stream op index */
    const char *heap_profile; /* Go model: write the heap profile here after the run */
    int heap_profile_format;  /* GM_PROFILE_TEXT (default) or GM_PROFILE_PROTO */
    int mem_profile_rate;     /* Go model: MemProfileRate; < 0 = the model's default */
} gm_run_config;

void gm_run_config_defaults(gm_run_config *cfg);

/* Exit statuses of `gmbench run`, which the parent turns into failure reasons. */
enum {
    GM_EXIT_OK = 0,
    GM_EXIT_USAGE = 2,    /* bad flags or parameters */
    GM_EXIT_IDENTITY = 3, /* the process is not served by the allocator claimed */
    GM_EXIT_STREAM = 4,   /* the workload produced an invalid stream */
    GM_EXIT_OOM = 5,      /* the allocator returned NULL */
    GM_EXIT_IO = 6,       /* the result could not be written */
};

/* Writes the run's workload description (name, params, seed, ops, threads) as members of the
 * current object; shared with the failure rows a parent writes for a child that died. */
void gm_run_write_workload(gm_json *j, const gm_run_config *cfg);

/* Proves the allocator, runs the workload and writes the result object into j (which must be
 * empty). Returns GM_EXIT_OK, or another GM_EXIT_* with err set. */
int gm_run(const gm_run_config *cfg, gm_json *j, char *err, size_t errlen);

#endif
