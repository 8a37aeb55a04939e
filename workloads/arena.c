/*
 * arena.c — mmap-backed memory for the harness and the generators (see gm_arena.h for why
 * nothing here may call malloc).
 */
#define _GNU_SOURCE
#include "gm_arena.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) & ~(pg - 1);
}

static void die_mmap(const char *what, size_t size)
{
    /* No stdio buffers are involved: fprintf(stderr) is unbuffered and allocates nothing. */
    fprintf(stderr, "gmbench: %s of %zu bytes failed: %s\n", what, size, strerror(errno));
    exit(70);
}

void *gm_map(size_t size, int populate)
{
    size = page_round(size ? size : 1);
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) die_mmap("mmap", size);
    return p;
}

void gm_unmap(void *p, size_t size)
{
    if (p) munmap(p, page_round(size ? size : 1));
}

void *gm_remap(void *p, size_t old_size, size_t new_size)
{
    if (!p) return gm_map(new_size, 0);
    void *q = mremap(p, page_round(old_size), page_round(new_size), MREMAP_MAYMOVE);
    if (q == MAP_FAILED) die_mmap("mremap", new_size);
    return q;
}

enum { ARENA_CHUNK = 1 << 20 };

/* A chunk starts with its header; big requests get a chunk sized to fit. */
typedef struct chunk {
    struct chunk *next;
    size_t size; /* mapping size */
    size_t used; /* bytes used, header included */
} chunk;

struct gm_arena {
    chunk *head; /* current chunk first */
};

static chunk *chunk_new(size_t size)
{
    chunk *c = gm_map(size, 0);
    c->size = page_round(size);
    c->used = (sizeof(chunk) + 15) & ~(size_t)15;
    return c;
}

gm_arena *gm_arena_create(void)
{
    chunk *c = chunk_new(ARENA_CHUNK);
    gm_arena *a = (gm_arena *)((char *)c + c->used);
    c->used += (sizeof(gm_arena) + 15) & ~(size_t)15;
    a->head = c;
    return a;
}

void *gm_arena_alloc(gm_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    chunk *c = a->head;
    if (size > c->size - c->used) {
        size_t hdr = (sizeof(chunk) + 15) & ~(size_t)15;
        if (size + hdr > ARENA_CHUNK / 4) {
            /* A big request: its own chunk, linked behind the current one so the current
             * chunk keeps serving small requests. */
            chunk *big = chunk_new(size + hdr);
            big->used = big->size;
            big->next = c->next;
            c->next = big;
            return (char *)big + hdr;
        }
        c = chunk_new(ARENA_CHUNK);
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c + c->used;
    c->used += size;
    return p; /* fresh mmap pages are zero and never reused */
}

char *gm_arena_strdup(gm_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(gm_arena_alloc(a, n), s, n);
}

void gm_arena_destroy(gm_arena *a)
{
    if (!a) return;
    chunk *c = a->head;
    /* The arena struct lives in the first chunk (the last in the list): read it first. */
    while (c) {
        chunk *next = c->next;
        munmap(c, c->size);
        c = next;
    }
}
