/*
 * import_internal.h — what the two importers share (import.c): the importer state, the
 * address→object map, the site table, and the record helpers that keep both in step with
 * the trace writer. See gm_import.h for the contract and import_go.c / import_mtrace.c for
 * the formats.
 */
#ifndef GM_IMPORT_INTERNAL_H
#define GM_IMPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm_arena.h"
#include "gm_import.h"
#include "gm_trace.h"
#include "linereader.h"
#include "trace_internal.h"

/* Site names → site indexes, deduplicated by name; names live in the importer's arena. */
typedef struct gm_imp_site_ent {
    uint64_t hash;
    const char *name; /* NULL: empty slot */
    size_t len;
    uint32_t site;
} gm_imp_site_ent;

typedef struct gm_imp_sitetab {
    gm_imp_site_ent *ent;
    size_t cap, n;
} gm_imp_sitetab;

typedef struct gm_importer {
    const char *log_path;
    gm_trace_writer *w;
    gm_linereader lr;
    gm_arena *arena;
    gm_trace_map live; /* live address → object id */
    gm_imp_sitetab sites;
    uint32_t thread;
    gm_import_stats st;
    char *err;
    size_t errlen;
    bool failed; /* an error is in err */
} gm_importer;

/* Opens the log and the trace, adds the one thread. 0, or -1 with err (nothing left open). */
int gm_importer_open(gm_importer *im, const char *log_path, const char *trace_path,
                     const char *source, const char *thread_name, char *err, size_t errlen);
/* Next line of the log (counted in st.lines). 1, 0 at the end, -1 on a read error. */
int gm_importer_next_line(gm_importer *im, char **line, size_t *len, bool *truncated);
/* Formats "LOG:LINE: message" into err; returns -1. line 0: "LOG: message". */
int gm_importer_fail(gm_importer *im, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Closes the trace (ok: renamed into place; else abandoned), the log and all memory; copies
 * the stats out. Returns 0 or -1 (the writer's error, or the one already in err). */
int gm_importer_close(gm_importer *im, bool ok, gm_import_stats *st);

/* Records. site is from imp_site (GM_TRACE_NO_SITE allowed). */
void gm_importer_alloc(gm_importer *im, uint64_t addr, uint64_t size, uint8_t flags, uint32_t site);
/* Returns false (and writes nothing) when addr has no live object: st.unmatched_frees. */
bool gm_importer_free(gm_importer *im, uint64_t addr, uint32_t site);
/* Object at old_addr now at new_addr with size bytes. An unmatched old_addr becomes an alloc
 * (counted unmatched); size 0 becomes a free and an alloc of 0 (the format has no realloc
 * to 0). */
void gm_importer_realloc(gm_importer *im, uint64_t old_addr, uint64_t new_addr, uint64_t size,
                         uint32_t site);
void gm_importer_mark(gm_importer *im, uint8_t mark);
uint32_t gm_importer_site(gm_importer *im, const char *name, size_t len);

/* Whether addr can name an object (gm_trace_map cannot hold UINT64_MAX; 0 is NULL). */
static inline bool gm_imp_addr_ok(uint64_t addr)
{
    return addr != 0 && addr != UINT64_MAX;
}

/* Parses "0x" and 1..16 hex digits at *p, advancing *p past them. false: malformed. */
bool gm_imp_parse_hex(const char **p, uint64_t *out);
/* The text of a line for a message, cut to buflen - 1 bytes (buflen >= 8) with "..." and
 * control characters shown as "?". */
const char *gm_imp_excerpt(const char *line, char *buf, size_t buflen);

#endif
