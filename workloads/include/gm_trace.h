/*
 * gm_trace.h — recorded allocation traces: the one exchange format (TRACE_FORMAT.md).
 *
 * A trace is what a real program did with its allocator: allocations (object id, requested
 * size, alignment, flags such as noscan and zeroed, thread, call site, optional timestamp),
 * frees, reallocations, and markers (a Go GC cycle), in one global order. Objects are named by
 * ids, never addresses, so a replay does not depend on where memory lands: the n-th
 * allocation of a trace creates object n, and free and realloc name the object.
 *
 * The recorder (gmbench record), the importers (Go's allocfreetrace, glibc's mtrace) and the
 * text converter write traces with gm_trace_writer; `gmbench trace` and the replayer read them
 * with gm_trace_reader. The replayer turns a trace into the gm_op stream of gm_workload.h with
 * gm_trace_gen (ids mapped onto a slot table sized by the peak of live objects).
 *
 * Hostile input: every reader function reports a truncated, corrupt, wrong-version or hostile
 * file as an error naming the byte offset and the problem; nothing is allocated in proportion
 * to a length read from the file before that length is checked against a fixed bound, so a
 * corrupt header cannot make the reader allocate gigabytes. No malloc anywhere (gm_arena.h).
 */
#ifndef GM_TRACE_H
#define GM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm_workload.h"

#define GM_TRACE_VERSION 1
#define GM_TRACE_NO_SITE 0 /* site index meaning "unknown" */

typedef enum gm_trace_kind {
    GM_TR_ALLOC = 1,   /* creates object id = number of ALLOC records before it */
    GM_TR_FREE = 2,    /* obj */
    GM_TR_REALLOC = 3, /* obj keeps its id; size is the new size (> 0) */
    GM_TR_MARK = 4,    /* a marker; mark says which */
} gm_trace_kind;

typedef enum gm_trace_mark {
    GM_TR_MARK_GC = 1, /* a Go GC cycle (tracegc): the frees it causes follow it */
} gm_trace_mark;

typedef struct gm_trace_rec {
    uint8_t kind;       /* gm_trace_kind */
    uint8_t flags;      /* GM_OPF_SCAN, GM_OPF_ZERO (gm_workload.h) */
    uint8_t align_log2; /* 0: malloc's alignment; else 3..GM_OP_MAX_ALIGN_LOG2 */
    uint8_t mark;       /* MARK: gm_trace_mark */
    uint32_t thread;    /* index into the thread table */
    uint32_t site;      /* index into the site table; GM_TRACE_NO_SITE = unknown */
    uint64_t obj;       /* ALLOC: the new object's id (set by the reader; ignored by the writer) */
    uint64_t size;      /* ALLOC, REALLOC: requested bytes */
    uint64_t time_ns;   /* since the start of the recording; 0 when the trace has no times */
} gm_trace_rec;

/* What a finished trace says about itself (header fields patched at close, and the END chunk).
 * A trace written to a pipe cannot patch its header; its summary is only known at the end. */
typedef struct gm_trace_summary {
    uint64_t records;           /* all records, markers included */
    uint64_t count[5];          /* by gm_trace_kind */
    uint64_t peak_live_objects; /* sizes the replayer's slot table */
    uint64_t peak_live_bytes;   /* requested bytes */
    uint64_t invalid;           /* frees/reallocs of objects that are not live */
    uint64_t duration_ns;       /* last timestamp, 0 without times */
    uint32_t threads, sites;
} gm_trace_summary;

typedef struct gm_trace_meta {
    const char *source;  /* "record", "import go", "import mtrace", "text", ... */
    const char *command; /* what was recorded (command line, log file name), may be NULL */
    bool timestamps;     /* records carry time_ns */
    int compress;        /* writer: 0 = none, 1..19 = zstd level of OPS chunks (needs zstd: a
                            build without libzstd-dev refuses it). Reader: 1 when the trace
                            may hold compressed chunks, else 0 */
} gm_trace_meta;

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct gm_trace_writer gm_trace_writer;

/* Creates path (through a temporary file renamed at close, so a failed or interrupted write
 * never leaves a partial trace under the final name). "-" writes to stdout, unpatched. */
gm_trace_writer *gm_trace_writer_open(const char *path, const gm_trace_meta *meta, char *err,
                                      size_t errlen);
/* Tables: appended as they grow, before their first use, so the file stays streamable.
 * Threads are numbered from 0, sites from 1. */
uint32_t gm_trace_add_thread(gm_trace_writer *w, const char *name);
uint32_t gm_trace_add_site(gm_trace_writer *w, const char *symbol);
/* Appends a record; returns the object id for ALLOC (rec->obj ignored), else rec->obj. Records
 * are not judged here (a free of an object that is not live is legal in the format and is
 * counted in summary.invalid); a field out of range (thread or site not in the table, alignment
 * out of range, realloc to 0) is an error reported at close. */
uint64_t gm_trace_write(gm_trace_writer *w, const gm_trace_rec *rec);
/* Flushes, writes the END chunk, patches the header, renames into place. 0, or -1 with err
 * (and no file at path). Frees the writer either way. */
int gm_trace_writer_close(gm_trace_writer *w, gm_trace_summary *summary, char *err, size_t errlen);
/* Abandons the trace: no file at path. */
void gm_trace_writer_abort(gm_trace_writer *w);

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct gm_trace_reader gm_trace_reader;

/* Opens and checks the header (magic, version, flags). NULL with err ("offset N: what"). */
gm_trace_reader *gm_trace_open(const char *path, char *err, size_t errlen);
/* The same over a trace in memory (buf must outlive the reader): for fuzz targets and tests. */
gm_trace_reader *gm_trace_open_mem(const void *buf, size_t len, char *err, size_t errlen);
/* The header's summary; *complete is false when the header was never patched (then the
 * numbers are only known after reading to the end: gm_trace_scan). */
const gm_trace_summary *gm_trace_header_summary(const gm_trace_reader *r, bool *complete);
const gm_trace_meta *gm_trace_get_meta(const gm_trace_reader *r);
/* 1: *rec is the next record; 0: end of trace (END chunk seen and consistent); -1: error,
 * gm_trace_error says where and what. Thread and site tables grow as their chunks are read. */
int gm_trace_next(gm_trace_reader *r, gm_trace_rec *rec);
const char *gm_trace_error(const gm_trace_reader *r);
/* Tables as read so far. */
uint32_t gm_trace_nthreads(const gm_trace_reader *r);
const char *gm_trace_thread_name(const gm_trace_reader *r, uint32_t thread);
uint32_t gm_trace_nsites(const gm_trace_reader *r);
const char *gm_trace_site_name(const gm_trace_reader *r, uint32_t site);
/* Byte offset of the next unread byte (for messages). */
uint64_t gm_trace_offset(const gm_trace_reader *r);
/* The END chunk's summary once gm_trace_next has returned 0, else NULL. The reader has checked
 * its counts, tables and record checksum; peaks and invalid are checked by gm_trace_scan. */
const gm_trace_summary *gm_trace_end_summary(const gm_trace_reader *r);
/* Bytes the reader has mapped now (buffers, tables): bounded whatever the trace's length. */
uint64_t gm_trace_mapped_bytes(const gm_trace_reader *r);
void gm_trace_close(gm_trace_reader *r);

/* Reads a whole trace and computes its summary from the records (what `trace info` and
 * `trace validate` print). It also requires the computed summary to equal the END chunk's and,
 * when the header was patched, the header's: a disagreement is an error (-1, err names the
 * field and both values) with *stats still filled in from the records. Other errors (corrupt
 * bytes) leave *stats holding what was counted up to the error.
 * histogram[k] counts allocation sizes in [2^k, 2^(k+1)) (k = 0 also holds size 0). */
typedef struct gm_trace_stats {
    gm_trace_summary summary;
    uint64_t size_histogram[64];
    uint64_t bytes_allocated; /* saturates at UINT64_MAX */
    bool header_patched;      /* the header's summary was valid (and equal to this one) */
} gm_trace_stats;
int gm_trace_scan(const char *path, gm_trace_stats *stats, char *err, size_t errlen);

/* ---- text form ------------------------------------------------------------------------------
 * One record per line, for writing traces by hand and reading them (TRACE_FORMAT.md):
 *   thread 0 main
 *   site 1 main.build
 *   alloc x1 t0 64 scan zero align=64 site=1 @1200
 *   realloc x1 t0 128
 *   free x1 t0
 *   mark gc t0
 * Object labels are any token; the converter maps them to ids. Errors name the line. */
int gm_trace_from_text(const char *text_path, const char *trace_path, char *err, size_t errlen);
/* Writes the text form of a trace to fd (what `gmbench trace dump` prints). */
int gm_trace_to_text(const char *trace_path, int fd, char *err, size_t errlen);

/* ---- replay ---------------------------------------------------------------------------------
 * A trace as a gm_op stream (gm_workload.h), streamed from disk in bounded memory: object ids
 * map onto slots [0, nslots) with nslots = the trace's peak of live objects (twice that with
 * several threads), and a slot freed by a thread is reused by that thread's next allocation,
 * then never-used slots, so slot reuse adds no ordering between threads that the trace does
 * not have; only when all slots are taken does an allocation take the slot another thread
 * freed longest ago (a steal, counted). The stream has one thread per trace thread, and
 * cfg.ops = the number of ops it will emit. Markers are skipped (counted). Frees and reallocs
 * of objects that are not live are skipped and counted, or, with strict, end the stream with
 * an error (gm_wl_next returns 0 and gm_trace_gen_error names the record and its offset).
 * Objects the trace leaves live stay live: the stream adds no frees of its own. A trace whose
 * header was not patched is scanned once first for its summary. */
gm_wl_gen *gm_trace_gen_open(const char *path, bool strict, char *err, size_t errlen);
const char *gm_trace_gen_error(const gm_wl_gen *g); /* NULL when the stream ended cleanly */
void gm_trace_gen_counts(const gm_wl_gen *g, uint64_t *replayed, uint64_t *skipped_invalid,
                         uint64_t *skipped_marks);
/* Allocations that reused a slot freed by another thread because every slot was taken. */
uint64_t gm_trace_gen_steals(const gm_wl_gen *g);
/* Bytes the generator has mapped (reader, id→slot map, slot lists): proportional to the live
 * set and the thread count, never to the trace's length. */
uint64_t gm_trace_gen_mapped_bytes(const gm_wl_gen *g);

#endif
