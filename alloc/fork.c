/*
 * fork.c — a heap that survives fork() in a threaded process (Go: the runtime forks with the
 * world stopped in syscall.forkExec; a C allocator does what glibc's malloc does in
 * __malloc_fork_lock_parent: take every lock, then release them on both sides).
 *
 * fork() copies the address space with one thread. Any lock another thread held at that moment
 * stays held forever in the child, and any structure it was changing stays half-changed. So the
 * forking thread takes, in the lock order of internal.h, every lock of the heap before the copy:
 *
 *     stw_lock  ->  every P (stop the world)  ->  mcentral[0..135].lock  ->  mheap.lock
 *               ->  mprof.lock (a gm_free of a sampled object takes it without a P)
 *
 * With every P held, no other thread is inside an allocation (a thread holds a P for the whole
 * of each call), and no thread is sweeping or flushing a cache. mcentral and mheap locks are
 * leaves that their holders never keep while waiting for anything, so taking all of them in
 * index order cannot deadlock; the only thread that can still hold one after the world is
 * stopped is a gm_free of a large object (mheap.lock, no P), which finishes first. A gm_free of
 * a small object takes no lock: its freed bit is either set or not when the address space is
 * copied, and either is a consistent heap (a free not yet recorded is, in the child, an object
 * still live; a tiny block whose word was cleared but whose freed bit was not yet set stays
 * allocated: a leak of 16 bytes, never a corruption).
 *
 * Parent: release in the reverse order. Child: the threads that were waiting for a P or a lock
 * do not exist, and the forking thread is the owner of everything; the mutexes are initialised
 * again (as glibc does for its arena locks in the child) and every P is made idle. Per-thread
 * state of the vanished threads (their unflushed free counters, gm_m) is lost: counters only.
 *
 * The P owner recorded during the fork is fork_m, a stand-in M: the forking thread's own M
 * (TLS in malloc.c) is not reachable from here and needs no P. fork_m is protected by stw_lock,
 * so two threads forking at once take turns. Nothing here allocates, and the forking thread
 * must not call the allocator between prepare and parent/child (glibc's fork does not).
 */
#include "fork.h"

static gm_m fork_m;

void gm_heap_fork_prepare(gm_mheap *h)
{
    /* The Ps' owner word only ever reads as "taken" (it is compared with NULL, never
     * followed), so a stand-in M on the stack may take them; fork_m is written once stw_lock
     * is ours. */
    gm_m m = {.heap = h};
    gm_stop_the_world(&m);
    fork_m = m;
    for (int i = 0; i < GM_NUM_SPAN_CLASSES; i++) pthread_mutex_lock(&h->central[i].lock);
    pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&h->prof.lock);
}

void gm_heap_fork_parent(gm_mheap *h)
{
    pthread_mutex_unlock(&h->prof.lock);
    pthread_mutex_unlock(&h->lock);
    for (int i = GM_NUM_SPAN_CLASSES - 1; i >= 0; i--) pthread_mutex_unlock(&h->central[i].lock);
    gm_start_the_world(&fork_m);
}

void gm_heap_fork_child(gm_mheap *h)
{
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->prof.lock, NULL);
    for (int i = 0; i < GM_NUM_SPAN_CLASSES; i++) pthread_mutex_init(&h->central[i].lock, NULL);
    for (uint32_t i = 0; i < h->nprocs; i++)
        atomic_store_explicit(&h->allp[i].owner, NULL, memory_order_relaxed);
    pthread_mutex_init(&h->stw_lock, NULL);
    pthread_mutex_init(&h->gc.lock, NULL); /* GC mode: only taken with a P held, so free now */
    fork_m.p = NULL;
}
