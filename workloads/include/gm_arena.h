/*
 * gm_arena.h — memory for the harness and the workload generators, straight from mmap.
 *
 * gmbench measures one allocator per process, so nothing the driver or a generator keeps (op
 * buffers, id tables, histograms, generator state, result text) may come from malloc: it would
 * be served by the allocator under test and show up in its statistics, its RSS and its cache
 * behaviour. Everything here maps pages itself. Running out of address space is not a result
 * anyone could use, so these functions print what failed and exit(70) instead of returning NULL.
 */
#ifndef GM_ARENA_H
#define GM_ARENA_H

#include <stddef.h>

/* Anonymous, private, zeroed pages (size rounded up to the page size). populate: fault every
 * page in now, so that the pages are resident before the measurement starts and the RSS the
 * allocator adds afterwards is the allocator's. */
void *gm_map(size_t size, int populate);
void gm_unmap(void *p, size_t size);
/* Grows (or shrinks) a gm_map region, possibly moving it (mremap). */
void *gm_remap(void *p, size_t old_size, size_t new_size);

/* A bump arena of gm_map chunks, freed all at once. Requests larger than a chunk get a mapping
 * of their own. Allocations are zeroed and 16-byte aligned. Not thread-safe. */
typedef struct gm_arena gm_arena;
gm_arena *gm_arena_create(void);
void *gm_arena_alloc(gm_arena *a, size_t size);
char *gm_arena_strdup(gm_arena *a, const char *s);
void gm_arena_destroy(gm_arena *a);

#endif
