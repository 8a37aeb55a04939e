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

/* The process heap behind the public API (created on first use). */
gm_mheap *gm_process_heap(void);

#endif
