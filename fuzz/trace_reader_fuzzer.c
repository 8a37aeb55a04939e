/*
 * trace_reader_fuzzer.c — the trace reader (workloads/trace_read.c, TRACE_FORMAT.md) on
 * arbitrary bytes: it never crashes, never reads outside the input (ASan), never allocates in
 * proportion to a length it has not checked, and every error it reports names a byte offset.
 * Records it accepts are well formed: a known kind, a thread and a site from the tables read
 * so far.
 */
#include <string.h>

#include "fuzz_input.h"
#include "gm_trace.h"

/* A bound on the records read per input keeps executions fast on a valid but long trace. */
enum { MAX_RECORDS = 1 << 16 };

static void check_error(const char *err)
{
    FUZZ_ASSERT(strncmp(err, "offset ", 7) == 0, "error without an offset: %s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    gm_trace_reader *r = gm_trace_open_mem(data, size, err, sizeof err);
    if (!r) {
        check_error(err);
        return 0;
    }
    gm_trace_rec rec;
    int rc = 1;
    for (int n = 0; n < MAX_RECORDS && (rc = gm_trace_next(r, &rec)) > 0; n++) {
        FUZZ_ASSERT(rec.kind >= GM_TR_ALLOC && rec.kind <= GM_TR_MARK, "kind %u", rec.kind);
        FUZZ_ASSERT(rec.thread < gm_trace_nthreads(r), "thread %u of %u", rec.thread,
                    gm_trace_nthreads(r));
        FUZZ_ASSERT(rec.site <= gm_trace_nsites(r), "site %u of %u", rec.site, gm_trace_nsites(r));
        FUZZ_ASSERT(rec.kind != GM_TR_REALLOC || rec.size > 0, "realloc to 0");
    }
    if (rc < 0) check_error(gm_trace_error(r));
    gm_trace_close(r);
    return 0;
}
