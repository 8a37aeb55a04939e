/*
 * gm_import.h — turning other tools' allocation logs into traces (gm_trace.h).
 *
 *   gmbench import go LOG --out F      GODEBUG=allocfreetrace=1 output of a Go 1.19 program
 *   gmbench import mtrace LOG --out F  glibc mtrace() output (MALLOC_TRACE)
 *
 * Both read the log as a stream (one bounded line buffer; "-" is standard input), map each
 * address to an object id (an address freed and allocated again is a new object), and write
 * the records in log order on one trace thread. Memory: the line buffer, the live-address map
 * (grows with the live objects of the log) and the site table (grows with distinct call sites);
 * nothing grows with the length of the log. No malloc (gm_arena.h).
 *
 * Lines that belong to no record (program output interleaved with the log) are skipped and
 * counted. A record that is malformed (bad hexadecimal, a record cut off by the end of the log,
 * an mtrace '<' without its '>', a tracegc block without its end) is an error naming the line;
 * then no trace file is left at trace_path. How each format maps onto records — sizes, the
 * scan and zero flags, call sites, threads — is described at the top of import_go.c and
 * import_mtrace.c.
 */
#ifndef GM_IMPORT_H
#define GM_IMPORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gm_import_stats {
    uint64_t lines;   /* lines read */
    uint64_t records; /* records written: allocs + frees + reallocs + marks */
    uint64_t allocs, frees, reallocs, marks;
    /* Frees (and mtrace reallocs) of an address with no live allocation, e.g. allocated before
     * tracing started: nothing is written for a free; such a realloc becomes an alloc. */
    uint64_t unmatched_frees;
    /* Allocations at an address that was still live: the log lacks the old object's free
     * (tracing paused, or records lost), so a free of the old object is written first
     * (counted in frees too). */
    uint64_t implicit_frees;
    /* mtrace: failed calls ('+ (nil)', '!'), which change nothing and write nothing. */
    uint64_t failed;
    uint64_t skipped_lines; /* lines that are not part of a record */
    uint64_t sites;         /* distinct call sites written */
} gm_import_stats;

/* Both return 0, or -1 with err ("LOG:LINE: what", or "LOG: what" for I/O errors and the
 * writer's errors). st may be NULL; on error it holds the counts up to the failure. */
int gm_import_go(const char *log_path, const char *trace_path, gm_import_stats *st, char *err,
                 size_t errlen);
int gm_import_mtrace(const char *log_path, const char *trace_path, gm_import_stats *st, char *err,
                     size_t errlen);

#endif
