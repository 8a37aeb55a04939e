/*
 * fork.h — keeping a heap consistent across fork() in a threaded process (fork.c).
 *
 * Internal to alloc/ (the preload library registers these with pthread_atfork; see preload.c).
 */
#ifndef GM_FORK_H
#define GM_FORK_H

#include "internal.h"

/* pthread_atfork's prepare: take every lock of h in the lock order of internal.h, so that no
 * other thread is inside the allocator when the process is copied. Returns with the world
 * stopped (every P owned by the forking thread) and every mcentral lock and the heap lock held. */
void gm_heap_fork_prepare(gm_mheap *h);
/* parent: release everything prepare took, in the reverse order. */
void gm_heap_fork_parent(gm_mheap *h);
/* child: the only thread left is the one that forked; every lock is re-initialised and every P
 * is made idle (the threads that held them before prepare do not exist here). */
void gm_heap_fork_child(gm_mheap *h);

#endif
