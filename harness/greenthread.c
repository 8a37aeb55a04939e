/*
 * greenthread.c — goroutines for the C allocators: what a C green-thread (coroutine) runtime
 * with growable stacks does, so that the `goroutines` workload compares like with like.
 *
 * A C runtime has no stack allocator of its own: it takes a goroutine's control block and its
 * stack from malloc. This one starts every stack at 2 KiB (as Go does), grows it exactly when
 * and as Go's model does (alloc/stack.c: the amd64 prologue check with the 928-byte guard;
 * new = 2 × old, doubled until the frame and the guard fit), by malloc of the new stack, a
 * memcpy of the used part to its top, and free of the old one, and never shrinks it (a C
 * runtime cannot find its pointers into the stack to move it at a GC; it has no GC). Frames
 * are laid out as in the model: an 8-byte return-address slot holding the caller's frame
 * offset from the top, then the frame; a non-escaping object extends the innermost frame, as
 * a local variable (alloca) would. No real context switch happens: the driver only needs the
 * memory behaviour, and the model does not switch stacks either.
 *
 * Everything here is allocated through the backend under test (that is what is measured);
 * the driver's own memory stays in its mmap arenas. One backend per process: the ops table
 * binds it in a static.
 */
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "gm_workload.h"

enum { MIN_STACK = 2048, GUARD = 928, SMALL = 128, MAX_STACK = 1000000000 };

typedef struct cg {
    char *stack;  /* [stack, stack + size) */
    size_t size;  /* a power of two >= 2048 */
    size_t used;  /* hi - sp */
    size_t frame; /* hi - (the innermost frame's link word); 0: no frame */
} cg;

static const gm_backend *cg_backend;

static void *cg_create(void)
{
    cg *g = cg_backend->alloc(sizeof *g, 0);
    if (!g) return NULL;
    g->stack = cg_backend->alloc(MIN_STACK, 0);
    if (!g->stack) {
        cg_backend->free(g);
        return NULL;
    }
    g->size = MIN_STACK;
    g->used = g->frame = 0;
    return g;
}

static void cg_exit(void *vg)
{
    cg *g = vg;
    cg_backend->free(g->stack);
    cg_backend->free(g);
}

/* Room for a frame of n bytes below sp, growing the stack if the prologue check fails. */
static bool cg_room(cg *g, size_t n)
{
    size_t avail = g->size - g->used;
    if (n <= SMALL ? avail > GUARD : avail > n + (GUARD - SMALL)) return true;
    size_t nsize = g->size * 2;
    while (nsize - g->used < n + GUARD && nsize <= MAX_STACK) nsize *= 2;
    if (nsize > MAX_STACK) return false;
    char *ns = cg_backend->alloc(nsize, 0);
    if (!ns) return false;
    memcpy(ns + nsize - g->used, g->stack + g->size - g->used, g->used);
    cg_backend->free(g->stack);
    g->stack = ns;
    g->size = nsize;
    return true;
}

static void *cg_push(void *vg, size_t frame)
{
    cg *g = vg;
    size_t fb = (frame + 7) & ~(size_t)7;
    if (frame > MAX_STACK || !cg_room(g, fb + 8)) return NULL;
    g->used += 8;
    memcpy(g->stack + g->size - g->used, &g->frame, sizeof g->frame);
    g->frame = g->used;
    g->used += fb;
    return g->stack + g->size - g->used;
}

static void cg_pop(void *vg)
{
    cg *g = vg;
    size_t link;
    memcpy(&link, g->stack + g->size - g->frame, sizeof link);
    g->used = g->frame - 8;
    g->frame = link;
}

static void *cg_alloc(void *vg, size_t size, unsigned flags)
{
    cg *g = vg;
    size_t n = size ? (size + 7) & ~(size_t)7 : 8;
    if (!g->frame || size > MAX_STACK || !cg_room(g, n)) return NULL;
    g->used += n;
    char *p = g->stack + g->size - g->used;
    if (flags & GM_OPF_ZERO) memset(p, 0, n);
    return p;
}

static size_t cg_stack_size(const void *vg)
{
    return ((const cg *)vg)->size;
}

static const gm_go_ops greenthread_ops = {
    .create = cg_create,
    .exit = cg_exit,
    .push = cg_push,
    .pop = cg_pop,
    .alloc = cg_alloc,
    .stack_size = cg_stack_size,
};

const gm_go_ops *gm_greenthread_ops(const gm_backend *b)
{
    cg_backend = b;
    return &greenthread_ops;
}
