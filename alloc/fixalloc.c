/*
 * fixalloc.c — fixed-size allocator for the allocator's own metadata (mfixalloc.go).
 *
 * Go carves mspan structs (and mcache, specials, ...) from 16 KiB persistent chunks and keeps
 * freed objects on a free list; memory never returns to the OS. The model does the same, with
 * one addition: each chunk is linked so that destroying a private heap (tests, fuzzing) can
 * unmap everything.
 *
 * Invariants: inuse == objects handed out and not freed × size; every chunk is charged to
 * sys_stat once. Locking: the caller holds mheap.lock (Go: "not thread-safe").
 */
#include <string.h>

#include "gm_testing.h"

#define FIXALLOC_CHUNK (16u << 10) /* _FixAllocChunk */

/* Chunks start with a link word so destroy can find them all. */
typedef struct fixchunk {
    struct fixchunk *next;
    uint64_t pad; /* keep objects 16-byte aligned */
} fixchunk;

void gm_fixalloc_init(gm_fixalloc *f, size_t size, _Atomic uint64_t *sys_stat)
{
    memset(f, 0, sizeof *f);
    f->size = (size + 15) & ~(size_t)15;
    f->sys_stat = sys_stat;
}

void *gm_fixalloc_alloc(gm_fixalloc *f)
{
    if (f->list) {
        void *v = f->list;
        f->list = *(void **)v;
        memset(v, 0, f->size); /* Go zeroes on reuse too (f.zero) */
        f->inuse += f->size;
        return v;
    }
    if (f->nchunk < f->size) {
        size_t bytes = FIXALLOC_CHUNK;
        if (bytes < f->size + sizeof(fixchunk)) bytes = f->size + sizeof(fixchunk);
        fixchunk *c = gm_sys_alloc(bytes, f->sys_stat);
        if (!c) return NULL;
        c->next = (fixchunk *)f->chunks;
        f->chunks = (void **)c;
        f->chunk = (uint8_t *)(c + 1);
        f->nchunk = bytes - sizeof(fixchunk);
    }
    void *v = f->chunk; /* fresh chunk memory is already zero */
    f->chunk += f->size;
    f->nchunk -= f->size;
    f->inuse += f->size;
    return v;
}

void gm_fixalloc_free(gm_fixalloc *f, void *p)
{
    f->inuse -= f->size;
    *(void **)p = f->list;
    f->list = p;
}

void gm_fixalloc_destroy(gm_fixalloc *f)
{
    size_t big = FIXALLOC_CHUNK;
    if (big < f->size + sizeof(fixchunk)) big = f->size + sizeof(fixchunk);
    for (fixchunk *c = (fixchunk *)f->chunks, *next; c; c = next) {
        next = c->next;
        gm_sys_free(c, big, f->sys_stat);
    }
    memset(f, 0, sizeof *f);
}
