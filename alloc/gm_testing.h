/*
 * gm_testing.h — the one door through which tests, fuzz targets and tools reach the
 * allocator's internals: every type and component entry point (internal.h) plus the hooks
 * that exist only for testing.
 */
#ifndef GM_TESTING_H
#define GM_TESTING_H

#include "internal.h"

/* Make the (n+1)-th OS call from now (gm_sys_alloc/reserve/map) fail with ENOMEM; n < 0
 * disarms. Process-wide: use from single-threaded tests. */
void gm_sys_fail_after(long n);

/* What gm_misuse calls instead of printing and aborting (fuzz targets and tests that count
 * detected misuse in-process). The handler gets the same text and pointer the message would
 * name; it may longjmp out (every gm_misuse call site holds no lock and has changed nothing
 * yet); if it returns, gm_misuse prints and aborts as usual. NULL restores the default;
 * returns the previous handler. Process-wide: install it from a single thread. */
typedef void (*gm_misuse_handler)(const char *what, const void *p);
gm_misuse_handler gm_set_misuse_handler(gm_misuse_handler fn);

/* The process heap behind the public API (created on first use). */
gm_mheap *gm_process_heap(void);

#endif
