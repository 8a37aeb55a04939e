/*
 * pagealloc_model.h — the reference model of the page allocator, shared by
 * tests/test_pagealloc.c (a seeded differential run) and fuzz/pagealloc_fuzzer.c (the same
 * comparison driven by fuzz input): one byte per page, sorted by address, with the naive
 * searches Go's radix tree must agree with:
 *   - alloc: the lowest-address run of n free, address-contiguous pages (first fit), and how
 *     many of them were scavenged;
 *   - allocToCache: the 64-page aligned block holding the lowest free page;
 *   - pageCache.alloc: the lowest run of n set bits in a copy of the cache words.
 * Fresh pages (grow) are free and scavenged, as Go's grow leaves them.
 */
#ifndef GM_PAGEALLOC_MODEL_H
#define GM_PAGEALLOC_MODEL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gm_testing.h"

typedef struct {
    uintptr_t addr;
    uint8_t used, scav;
} mpage;

typedef struct {
    mpage *pg; /* sorted by address */
    size_t n, cap;
    size_t nfree, nscav;
} model;

static inline size_t model_index(const model *m, uintptr_t addr)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->pg[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline void model_grow(model *m, uintptr_t base, size_t npages)
{
    if (m->n + npages > m->cap) {
        m->cap = (m->n + npages) * 2;
        m->pg = realloc(m->pg, m->cap * sizeof *m->pg);
        if (!m->pg) abort();
    }
    size_t i = model_index(m, base);
    memmove(m->pg + i + npages, m->pg + i, (m->n - i) * sizeof *m->pg);
    for (size_t k = 0; k < npages; k++) m->pg[i + k] = (mpage){base + k * GM_PAGE_SIZE, 0, 1};
    m->n += npages;
    m->nfree += npages;
    m->nscav += npages;
}

/* Take pages [i, i+n): returns how many were scavenged. */
static inline size_t model_take(model *m, size_t i, size_t n)
{
    size_t scav = 0;
    for (size_t k = i; k < i + n; k++) {
        scav += m->pg[k].scav;
        m->pg[k].used = 1;
        m->pg[k].scav = 0;
    }
    m->nfree -= n;
    m->nscav -= scav;
    return scav;
}

/* Lowest-address run of n free, address-contiguous pages. */
static inline uintptr_t model_alloc(model *m, size_t n, size_t *scav)
{
    size_t run = 0;
    *scav = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->pg[i].used) {
            run = 0;
            continue;
        }
        run = run && m->pg[i].addr == m->pg[i - 1].addr + GM_PAGE_SIZE ? run + 1 : 1;
        if (run == n) {
            *scav = model_take(m, i + 1 - n, n) * GM_PAGE_SIZE;
            return m->pg[i + 1 - n].addr;
        }
    }
    return 0;
}

static inline void model_free(model *m, uintptr_t addr, size_t n)
{
    size_t i = model_index(m, addr);
    for (size_t k = i; k < i + n; k++) m->pg[k].used = 0;
    m->nfree += n;
}

/* allocToCache in the model: the 64-page block of the first free page. */
static inline gm_pagecache model_to_cache(model *m)
{
    gm_pagecache c = {0, 0, 0};
    size_t i = 0;
    while (i < m->n && m->pg[i].used) i++;
    if (i == m->n) return c;
    c.base = m->pg[i].addr & ~(64 * GM_PAGE_SIZE - 1);
    size_t b =
        i - (m->pg[i].addr - c.base) / GM_PAGE_SIZE; /* chunks are whole, so the block is too */
    for (size_t k = 0; k < 64; k++) {
        if (m->pg[b + k].used) continue;
        c.cache |= 1ull << k;
        if (m->pg[b + k].scav) c.scav |= 1ull << k;
        model_take(m, b + k, 1);
    }
    return c;
}

/* pageCache.alloc by brute force on a copy of the cache words. */
static inline uintptr_t model_cache_alloc(gm_pagecache *c, size_t n, size_t *scav)
{
    *scav = 0;
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i + n <= 64; i++) {
        uint64_t mask = (n == 64 ? ~0ull : (1ull << n) - 1) << i;
        if ((c->cache & mask) != mask) continue;
        *scav = (size_t)__builtin_popcountll(c->scav & mask) * GM_PAGE_SIZE;
        c->cache &= ~mask;
        c->scav &= ~mask;
        return c->base + i * GM_PAGE_SIZE;
    }
    return 0;
}

static inline void model_flush(model *m, gm_pagecache *c)
{
    if (c->cache) {
        size_t b = model_index(m, c->base);
        for (size_t k = 0; k < 64; k++) {
            if (!(c->cache >> k & 1)) continue;
            m->pg[b + k].used = 0;
            m->pg[b + k].scav = c->scav >> k & 1;
            m->nfree++;
            m->nscav += c->scav >> k & 1;
        }
    }
    *c = (gm_pagecache){0, 0, 0};
}

#endif
