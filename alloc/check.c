/*
 * check.c — invariant checkers for every component (the runtime's own tests check the same
 * laws; mimalloc's validators are the model). Each checker returns NULL when the component is
 * sound, or a description of the first violation written into buf. Checkers never abort and
 * never allocate through the heap they check, so tests and fuzz targets call them after every
 * step. Whole-heap checkers read without locks: call them on a quiescent heap.
 *
 * The invariants themselves are stated at the top of each component's file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gm_testing.h"
#include "pagealloc_impl.h" /* the page allocator's layout and helpers, for its checker */

static const char *fail(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *fail(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (buf && n) vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return buf && n ? buf : "invariant violated";
}

#define CHECK_OR_FAIL(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond)) return fail(buf, n, __VA_ARGS__);                                             \
    } while (0)

/* ---- size classes (sizeclass.c) -------------------------------------------------------- */

/* Every per-class invariant of one class c >= 1 (the header comment lists them). */
static const char *sizeclass_check_class(int c, char *buf, size_t n)
{
    uint64_t size = gm_class_to_size[c], prev = gm_class_to_size[c - 1];
    uint64_t npages = gm_class_to_allocnpages[c], divmagic = gm_class_to_divmagic[c];
    uint64_t granule = size <= GM_SMALL_SIZE_MAX ? GM_SMALL_SIZE_DIV : GM_LARGE_SIZE_DIV;

    if (size <= prev)
        return fail(buf, n, "sizeclass %d: size %llu not above class %d's %llu", c,
                    (unsigned long long)size, c - 1, (unsigned long long)prev);
    if (size % granule != 0)
        return fail(buf, n, "sizeclass %d: size %llu not a multiple of %llu", c,
                    (unsigned long long)size, (unsigned long long)granule);
    if (npages == 0) return fail(buf, n, "sizeclass %d: span of 0 pages", c);

    uint64_t span_bytes = npages * GM_PAGE_SIZE, nelems = span_bytes / size;
    uint64_t tail = span_bytes - nelems * size;
    if (nelems < 1 || nelems > GM_MAX_OBJS_PER_SPAN)
        return fail(buf, n, "sizeclass %d: %llu objects per %llu-byte span", c,
                    (unsigned long long)nelems, (unsigned long long)span_bytes);
    if (tail > span_bytes / 8)
        return fail(buf, n, "sizeclass %d: tail waste %llu > %llu/8", c, (unsigned long long)tail,
                    (unsigned long long)span_bytes);
    if (divmagic != (uint64_t)(UINT32_MAX / (uint32_t)size + 1))
        return fail(buf, n, "sizeclass %d: divmagic %llu, want 0xFFFFFFFF/%llu+1", c,
                    (unsigned long long)divmagic, (unsigned long long)size);
    /* Exactly the multiply gm_mspan_obj_index does, over every offset a span can present
     * (its end included, as Go's generator checks). */
    for (uint64_t off = 0; off <= span_bytes; off++) {
        if (((off * divmagic) >> 32) != off / size)
            return fail(buf, n,
                        "sizeclass %d: offset %llu * divmagic >> 32 = %llu, "
                        "want %llu",
                        c, (unsigned long long)off, (unsigned long long)((off * divmagic) >> 32),
                        (unsigned long long)(off / size));
    }
    return NULL;
}

/* Smallest class whose size is >= s (the meaning of both lookup tables), or -1 if none. */
static int sizeclass_smallest_fitting(size_t s)
{
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++)
        if (gm_class_to_size[c] >= s) return c;
    return -1;
}

/* The lookup tables, entry by entry and through gm_size_to_class for every small request. */
static const char *sizeclass_check_lookup(char *buf, size_t n)
{
    for (size_t i = 0; i < sizeof gm_size_to_class8; i++) {
        int want = sizeclass_smallest_fitting(i * GM_SMALL_SIZE_DIV);
        if (gm_size_to_class8[i] != want)
            return fail(buf, n, "gm_size_to_class8[%zu] = %d, want class %d", i,
                        gm_size_to_class8[i], want);
    }
    for (size_t i = 0; i < sizeof gm_size_to_class128; i++) {
        int want = sizeclass_smallest_fitting(GM_SMALL_SIZE_MAX + i * GM_LARGE_SIZE_DIV);
        if (gm_size_to_class128[i] != want)
            return fail(buf, n, "gm_size_to_class128[%zu] = %d, want class %d", i,
                        gm_size_to_class128[i], want);
    }
    /* Requests ascend, so the answer can only move up: one pass, no search per size. */
    int want = 1;
    for (size_t s = 1; s <= GM_MAX_SMALL_SIZE; s++) {
        while (gm_class_to_size[want] < s) want++; /* ends: the last class is 32768 */
        if (gm_size_to_class(s) != want)
            return fail(buf, n, "gm_size_to_class(%zu) = %d, want class %d", s, gm_size_to_class(s),
                        want);
    }
    return NULL;
}

const char *gm_sizeclass_check(char *buf, size_t n)
{
    if (gm_class_to_size[0] != 0 || gm_class_to_allocnpages[0] != 0 || gm_class_to_divmagic[0] != 0)
        return fail(buf, n, "sizeclass 0 (dummy): size %d npages %d divmagic %lu",
                    gm_class_to_size[0], gm_class_to_allocnpages[0],
                    (unsigned long)gm_class_to_divmagic[0]);
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        const char *err = sizeclass_check_class(c, buf, n);
        if (err) return err;
    }
    if (gm_class_to_size[GM_NUM_SIZE_CLASSES - 1] != GM_MAX_SMALL_SIZE)
        return fail(buf, n, "last sizeclass is %d bytes, want %d",
                    gm_class_to_size[GM_NUM_SIZE_CLASSES - 1], GM_MAX_SMALL_SIZE);
    return sizeclass_check_lookup(buf, n);
}

/* ---- mspan ---------------------------------------------------------------------------------- */

static const char *tiny_meta_check(const gm_mspan *s, char *buf, size_t n)
{
    for (uintptr_t i = 0; i < s->nelems; i++) {
        uint32_t w = atomic_load(&s->tiny_meta[i]);
        if (!w) continue;
        CHECK_OR_FAIL(gm_mspan_is_allocated(s, i), "tiny block %#lx: metadata %#x on a free slot",
                      (unsigned long)(s->base + i * 16), w);
        bool freed = (atomic_load(&s->freed_bits[i / 64]) >> (i % 64)) & 1;
        /* With the world stopped, gm_free still runs (it needs no P): a block whose last
         * object was freed between the two loads is not a violation. */
        if (freed && atomic_load(&s->tiny_meta[i]) != w) continue;
        CHECK_OR_FAIL(!freed, "tiny block %#lx: freed while metadata %#x says live",
                      (unsigned long)(s->base + i * 16), w);
        /* Starts and ends alternate: every object ends before the next one starts. */
        int open = -1;
        for (int b = 0; b < 16; b++) {
            bool st = (w >> b) & 1, en = b < 15 && ((w >> (GM_TINY_END_SHIFT + b)) & 1);
            CHECK_OR_FAIL(!(st && open >= 0),
                          "tiny block %#lx: object at %d starts before the one at %d ends",
                          (unsigned long)(s->base + i * 16), b, open);
            if (st) open = b;
            if (en) {
                CHECK_OR_FAIL(open >= 0, "tiny block %#lx: end bit %d without a start",
                              (unsigned long)(s->base + i * 16), b);
                open = -1;
            }
        }
    }
    return NULL;
}

const char *gm_mspan_check(const gm_mspan *s, char *buf, size_t n)
{
    uintptr_t fi = atomic_load(&s->freeindex);
    CHECK_OR_FAIL(s->base % GM_PAGE_SIZE == 0, "span %#lx: base not page aligned",
                  (unsigned long)s->base);
    CHECK_OR_FAIL(fi <= s->nelems, "span %#lx: freeindex %lu > nelems %lu", (unsigned long)s->base,
                  (unsigned long)fi, (unsigned long)s->nelems);
    CHECK_OR_FAIL(s->nelems * s->elemsize <= s->npages * GM_PAGE_SIZE,
                  "span %#lx: %lu slots of %lu bytes exceed %zu pages", (unsigned long)s->base,
                  (unsigned long)s->nelems, (unsigned long)s->elemsize, s->npages);
    CHECK_OR_FAIL(s->limit == s->base + s->nelems * s->elemsize, "span %#lx: limit %#lx",
                  (unsigned long)s->base, (unsigned long)s->limit);
    uint8_t sc = gm_spanclass_sizeclass(s->spanclass);
    if (sc == 0) {
        CHECK_OR_FAIL(s->nelems == 1 && fi == 1 && s->alloc_count == 1 && s->div_mul == 0,
                      "large span %#lx: nelems %lu freeindex %lu alloc_count %u",
                      (unsigned long)s->base, (unsigned long)s->nelems, (unsigned long)fi,
                      s->alloc_count);
        return NULL;
    }
    CHECK_OR_FAIL(s->elemsize == gm_class_to_size[sc] && s->npages == gm_class_to_allocnpages[sc],
                  "span %#lx: class %u but elemsize %lu npages %zu", (unsigned long)s->base, sc,
                  (unsigned long)s->elemsize, s->npages);
    uintptr_t counted = gm_mspan_count_alloc(s);
    CHECK_OR_FAIL(s->alloc_count == counted, "span %#lx: alloc_count %u, allocated slots %lu",
                  (unsigned long)s->base, s->alloc_count, (unsigned long)counted);
    for (unsigned w = 0; w * 64 < s->nelems; w++) {
        uint64_t freed = atomic_load(&s->freed_bits[w]);
        for (unsigned b = 0; freed && b < 64; b++) {
            if (!((freed >> b) & 1)) continue;
            CHECK_OR_FAIL(gm_mspan_is_allocated(s, w * 64 + b),
                          "span %#lx: slot %u freed but not allocated", (unsigned long)s->base,
                          w * 64 + b);
        }
    }
    if (fi < s->nelems && s->in_cache) {
        /* The allocCache window: bits still inside it are the complement of alloc_bits. */
        unsigned shift = fi % 64, valid = 64 - shift;
        uint64_t want = ~atomic_load(&s->alloc_bits[fi / 64]) >> shift;
        uint64_t mask = valid == 64 ? ~(uint64_t)0 : ((uint64_t)1 << valid) - 1;
        CHECK_OR_FAIL((s->alloc_cache & mask) == (want & mask),
                      "span %#lx: allocCache %#llx, expected %#llx at freeindex %lu",
                      (unsigned long)s->base, (unsigned long long)(s->alloc_cache & mask),
                      (unsigned long long)(want & mask), (unsigned long)fi);
    }
    if (s->tiny_meta) return tiny_meta_check(s, buf, n);
    return NULL;
}

/* ---- mcentral -------------------------------------------------------------------------------- */

static _Atomic uint32_t check_generation;

static const char *spanset_check(gm_mheap *h, gm_mcentral *c, const gm_spanset *ss, bool full,
                                 bool swept, uint32_t gen, char *buf, size_t n)
{
    uint32_t sg = atomic_load(&h->sweepgen);
    size_t count = 0;
    for (gm_mspan *s = ss->head; s; s = s->next) {
        count++;
        CHECK_OR_FAIL(count <= ss->n, "mcentral %u: set longer than its count %zu", c->spanclass,
                      ss->n);
        CHECK_OR_FAIL(s->check_mark != gen, "span %#lx is in two places", (unsigned long)s->base);
        s->check_mark = gen;
        CHECK_OR_FAIL(s->spanclass == c->spanclass && atomic_load(&s->state) == GM_SPAN_IN_USE &&
                          !s->in_cache,
                      "mcentral %u: span %#lx has class %u state %d in_cache %d", c->spanclass,
                      (unsigned long)s->base, s->spanclass, (int)atomic_load(&s->state),
                      s->in_cache);
        uint32_t want = swept ? sg : sg - 2;
        CHECK_OR_FAIL(atomic_load(&s->sweepgen) == want,
                      "mcentral %u: span %#lx sweepgen %u, want %u (heap %u)", c->spanclass,
                      (unsigned long)s->base, atomic_load(&s->sweepgen), want, sg);
        CHECK_OR_FAIL(full ? s->alloc_count == s->nelems : s->alloc_count < s->nelems,
                      "mcentral %u: span %#lx in a %s set has %u of %lu slots allocated",
                      c->spanclass, (unsigned long)s->base, full ? "full" : "partial",
                      s->alloc_count, (unsigned long)s->nelems);
        const char *e = gm_mspan_check(s, buf, n);
        if (e) return e;
        if (!s->next)
            CHECK_OR_FAIL(s == ss->tail, "mcentral %u: tail pointer is stale", c->spanclass);
    }
    CHECK_OR_FAIL(count == ss->n, "mcentral %u: set holds %zu spans, count says %zu", c->spanclass,
                  count, ss->n);
    return NULL;
}

static const char *mcentral_check_gen(gm_mheap *h, gm_mcentral *c, uint32_t gen, char *buf,
                                      size_t n)
{
    unsigned sw = (atomic_load(&h->sweepgen) / 2) % 2;
    const char *e;
    if ((e = spanset_check(h, c, &c->partial[sw], false, true, gen, buf, n))) return e;
    if ((e = spanset_check(h, c, &c->full[sw], true, true, gen, buf, n))) return e;
    if ((e = spanset_check(h, c, &c->partial[1 - sw], false, false, gen, buf, n))) return e;
    return spanset_check(h, c, &c->full[1 - sw], true, false, gen, buf, n);
}

const char *gm_mcentral_check(gm_mheap *h, gm_mcentral *c, char *buf, size_t n)
{
    return mcentral_check_gen(h, c, atomic_fetch_add(&check_generation, 1) + 1, buf, n);
}

/* ---- mcache ---------------------------------------------------------------------------------- */

static const char *mcache_check_gen(gm_mheap *h, gm_p *pp, uint32_t gen, char *buf, size_t n)
{
    gm_mcache *c = &pp->mcache;
    uint32_t sg = atomic_load(&h->sweepgen);
    for (int spc = 0; spc < GM_NUM_SPAN_CLASSES; spc++) {
        gm_mspan *s = c->alloc[spc];
        if (s == &gm_emptymspan) continue;
        CHECK_OR_FAIL(s->check_mark != gen, "span %#lx is in two places", (unsigned long)s->base);
        s->check_mark = gen;
        CHECK_OR_FAIL(s->spanclass == spc && s->in_cache &&
                          atomic_load(&s->state) == GM_SPAN_IN_USE,
                      "P %u: alloc[%d] holds span %#lx of class %u (in_cache %d)", pp->id, spc,
                      (unsigned long)s->base, s->spanclass, s->in_cache);
        CHECK_OR_FAIL(atomic_load(&s->sweepgen) == sg + 3,
                      "P %u: cached span %#lx sweepgen %u, heap %u", pp->id, (unsigned long)s->base,
                      atomic_load(&s->sweepgen), sg);
        const char *e = gm_mspan_check(s, buf, n);
        if (e) return e;
    }
    if (c->tiny) {
        gm_mspan *ts = c->tiny_span;
        CHECK_OR_FAIL(ts && ts->spanclass == GM_TINY_SPANCLASS && c->tiny >= ts->base &&
                          c->tiny < ts->limit && (c->tiny - ts->base) % GM_TINY_SIZE == 0,
                      "P %u: tiny block %#lx is not a block of its span", pp->id,
                      (unsigned long)c->tiny);
        CHECK_OR_FAIL(c->tinyoffset <= GM_TINY_SIZE, "P %u: tinyoffset %lu", pp->id,
                      (unsigned long)c->tinyoffset);
        uint32_t w = atomic_load(&ts->tiny_meta[(c->tiny - ts->base) / GM_TINY_SIZE]);
        CHECK_OR_FAIL(w & GM_TINY_CURRENT, "P %u: current tiny block %#lx not marked current",
                      pp->id, (unsigned long)c->tiny);
        CHECK_OR_FAIL((w & 0xffffu) >> c->tinyoffset == 0,
                      "P %u: tiny object past tinyoffset %lu (word %#x)", pp->id,
                      (unsigned long)c->tinyoffset, w);
    }
    return NULL;
}

const char *gm_mcache_check(gm_mheap *h, gm_p *pp, char *buf, size_t n)
{
    return mcache_check_gen(h, pp, atomic_fetch_add(&check_generation, 1) + 1, buf, n);
}

/* ---- page allocator (pagealloc.c) ---------------------------------------------------------- */

/* in_use sorted, disjoint, coalesced, chunk aligned; start/end match it. */
static const char *check_ranges(const gm_pagealloc *p, char *buf, size_t n)
{
    CHECK_OR_FAIL(p->n_in_use <= p->cap_in_use, "pagealloc: n_in_use %zu > cap_in_use %zu",
                  p->n_in_use, p->cap_in_use);
    for (size_t k = 0; k < p->n_in_use; k++) {
        uintptr_t b = p->in_use[k].base, l = p->in_use[k].limit;
        if (off_of(b) >= off_of(l) || off_of(l) > MAX_OFF_ADDR + 1 || (b | l) % GM_CHUNK_BYTES)
            return fail(buf, n,
                        "pagealloc: in_use[%zu] = [%#lx, %#lx) empty, unaligned or out of range", k,
                        (unsigned long)b, (unsigned long)l);
        CHECK_OR_FAIL(k == 0 || off_of(p->in_use[k - 1].limit) < off_of(b),
                      "pagealloc: in_use[%zu] limit %#lx not below in_use[%zu] base %#lx (sorted, "
                      "disjoint, coalesced)",
                      k - 1, (unsigned long)p->in_use[k - 1].limit, k, (unsigned long)b);
        for (uintptr_t i = chunk_index(b) >> GM_CHUNK_L2_BITS;
             i <= (chunk_index(l) - 1) >> GM_CHUNK_L2_BITS; i++)
            CHECK_OR_FAIL(p->chunks[i],
                          "pagealloc: in_use[%zu] = [%#lx, %#lx) lacks chunk array %#lx", k,
                          (unsigned long)b, (unsigned long)l, (unsigned long)i);
    }
    uintptr_t want_start = 0, want_end = 0;
    if (p->n_in_use) {
        want_start = chunk_index(p->in_use[0].base);
        want_end = chunk_index(p->in_use[p->n_in_use - 1].limit);
    }
    CHECK_OR_FAIL(p->start == want_start && p->end == want_end,
                  "pagealloc: start/end chunks %#lx/%#lx, in_use says %#lx/%#lx",
                  (unsigned long)p->start, (unsigned long)p->end, (unsigned long)want_start,
                  (unsigned long)want_end);
    return NULL;
}

/* Only free pages are scavenged; nothing free below search_addr; search_addr is grown memory. */
static const char *check_bitmaps(const gm_pagealloc *p, char *buf, size_t n)
{
    uintptr_t first_free = 0;
    bool seen_free = false;
    for (size_t r = 0; r < p->n_in_use; r++) {
        for (uintptr_t c = chunk_index(p->in_use[r].base); c < chunk_index(p->in_use[r].limit);
             c++) {
            const gm_pallocdata *d = chunk_of(p, c);
            for (size_t k = 0; k < CHUNK_WORDS; k++) {
                CHECK_OR_FAIL(!(d->alloc[k] & d->scavenged[k]),
                              "pagealloc: chunk %#lx word %zu: in-use pages marked scavenged "
                              "(alloc %#llx scav %#llx)",
                              (unsigned long)c, k, (unsigned long long)d->alloc[k],
                              (unsigned long long)d->scavenged[k]);
                if (!seen_free && ~d->alloc[k]) {
                    seen_free = true;
                    first_free = chunk_base(c) + (k * 64 + tz64(~d->alloc[k])) * GM_PAGE_SIZE;
                }
            }
        }
    }
    CHECK_OR_FAIL(!seen_free || off_of(first_free) >= p->search_addr,
                  "pagealloc: page %#lx is free but below search_addr %#lx",
                  (unsigned long)first_free, (unsigned long)addr_of(p->search_addr));
    CHECK_OR_FAIL(p->search_addr == MAX_OFF_ADDR ||
                      gm_pagealloc_find_mapped_addr(p, p->search_addr) == p->search_addr,
                  "pagealloc: search_addr %#lx is not in grown memory",
                  (unsigned long)addr_of(p->search_addr));
    return NULL;
}

/* What summary[l][idx] must hold: 0 outside grown memory, else summarize / merge. */
static const char *check_summary_want(const gm_pagealloc *p, int l, uintptr_t idx, bool covered,
                                      gm_pallocsum *want, char *buf, size_t n)
{
    *want = 0;
    if (!covered) return NULL;
    if (l == LEAF) {
        *want = gm_pallocbits_summarize(chunk_of(p, idx)->alloc);
        return NULL;
    }
    uintptr_t child = idx << level_bits[l + 1];
    size_t pg = child * sizeof(gm_pallocsum) / gm_sys_phys_page_size();
    CHECK_OR_FAIL(summary_page_mapped(p, l + 1, pg),
                  "pagealloc: summary[%d][%#lx] covers grown memory but its children are not "
                  "mapped",
                  l, (unsigned long)idx);
    *want = gm_pallocsum_merge(p->summary[l + 1] + child, (size_t)1 << level_bits[l + 1],
                               level_log_pages[l + 1]);
    return NULL;
}

/* The first mapped page >= pg of level l (npages if none), skipping 64 unmapped at a time. */
static size_t check_next_mapped(const gm_pagealloc *p, int l, size_t pg, size_t npages)
{
    const uint8_t *m = p->summary_mapped[l];
    while (pg < npages) {
        if (pg % 64 == 0 && pg + 64 <= npages) {
            uint64_t w;
            memcpy(&w, m + pg / 8, sizeof w);
            if (w == 0) {
                pg += 64;
                continue;
            }
        }
        if (summary_page_mapped(p, l, pg)) return pg;
        pg++;
    }
    return npages;
}

/* summary[l][idx] against what the bitmaps say. */
static const char *check_summary_entry(const gm_pagealloc *p, int l, uintptr_t idx, bool covered,
                                       char *buf, size_t n)
{
    gm_pallocsum want, got = p->summary[l][idx];
    const char *err = check_summary_want(p, l, idx, covered, &want, buf, n);
    if (err) return err;
    if (got == want) return NULL;
    sum_parts g = pallocsum_unpack(got), e = pallocsum_unpack(want);
    return fail(buf, n, "pagealloc: summary[%d][%#lx] = (%lu, %lu, %lu), want (%lu, %lu, %lu)%s", l,
                (unsigned long)idx, (unsigned long)g.start, (unsigned long)g.max,
                (unsigned long)g.end, (unsigned long)e.start, (unsigned long)e.max,
                (unsigned long)e.end, covered ? "" : " (outside grown memory)");
}

/* Every mapped entry of level l: a tight scan for zero between grown ranges, a full
 * recomputation of the entries that cover grown memory. */
static const char *check_summary_level(const gm_pagealloc *p, int l, char *buf, size_t n)
{
    const size_t per_page = gm_sys_phys_page_size() / sizeof(gm_pallocsum);
    const size_t npages = level_reserve_bytes(l) / gm_sys_phys_page_size();
    const uintptr_t entries = (uintptr_t)1 << (GM_HEAP_ADDR_BITS - level_shift[l]);
    const unsigned sh = level_shift[l];
    const char *e;
    size_t r = 0; /* first in_use range whose last entry is not below idx */
    for (size_t pg = 0; (pg = check_next_mapped(p, l, pg, npages)) < npages; pg++) {
        uintptr_t idx = pg * per_page, idx_end = (pg + 1) * per_page;
        if (idx_end > entries) idx_end = entries;
        while (idx < idx_end) {
            while (r < p->n_in_use && ((off_of(p->in_use[r].limit) - 1) >> sh) < idx) r++;
            uintptr_t cov_lo = r < p->n_in_use ? off_of(p->in_use[r].base) >> sh : idx_end;
            uintptr_t cov_hi = r < p->n_in_use ? ((off_of(p->in_use[r].limit) - 1) >> sh) + 1 : 0;
            for (; idx < idx_end && idx < cov_lo; idx++)
                if (p->summary[l][idx] && (e = check_summary_entry(p, l, idx, false, buf, n)))
                    return e;
            for (; idx < idx_end && idx < cov_hi; idx++)
                if ((e = check_summary_entry(p, l, idx, true, buf, n))) return e;
        }
    }
    return NULL;
}

const char *gm_pagealloc_check(const gm_pagealloc *p, char *buf, size_t n)
{
    const char *e;
    if ((e = check_ranges(p, buf, n)) || (e = check_bitmaps(p, buf, n))) return e;
    for (int l = LEAF; l >= 0; l--)
        if ((e = check_summary_level(p, l, buf, n))) return e;
    return NULL;
}

/* ---- mheap ------------------------------------------------------------------------------------ */

static gm_mspan *span_at(gm_mheap *h, uintptr_t p)
{
    gm_heaparena *ha = atomic_load(&h->arenas[(p - GM_ARENA_BASE_OFFSET) >> GM_ARENA_SHIFT]);
    return ha ? atomic_load(&ha->spans[(p / GM_PAGE_SIZE) % GM_PAGES_PER_ARENA]) : NULL;
}

static bool page_allocated(const gm_pagealloc *pa, uintptr_t p)
{
    uintptr_t ci = (p - GM_ARENA_BASE_OFFSET) >> GM_CHUNK_SHIFT;
    const gm_pallocdata *l2 = pa->chunks[ci >> GM_CHUNK_L2_BITS];
    if (!l2) return false;
    size_t pg = (p / GM_PAGE_SIZE) % GM_CHUNK_PAGES;
    return (l2[ci & ((1u << GM_CHUNK_L2_BITS) - 1)].alloc[pg / 64] >> (pg % 64)) & 1;
}

/* The spans of the grown heap in address order: the page walk every heap checker shares.
 * Start with it = {0}; *at is the page where the span was found (span_map_check verifies that
 * it is the span's base). NULL after the last span. */
typedef struct span_iter {
    size_t r;    /* in-use range */
    uintptr_t p; /* next page to look at; 0 = the range's base */
} span_iter;

static gm_mspan *next_span(gm_mheap *h, span_iter *it, uintptr_t *at)
{
    const gm_pagealloc *pa = &h->pages;
    for (; it->r < pa->n_in_use; it->r++, it->p = 0) {
        if (!it->p) it->p = pa->in_use[it->r].base;
        while (it->p < pa->in_use[it->r].limit) {
            gm_mspan *s = span_at(h, it->p);
            *at = it->p;
            if (!s) {
                it->p += GM_PAGE_SIZE;
                continue;
            }
            it->p += s->npages * GM_PAGE_SIZE;
            return s;
        }
    }
    return NULL;
}

uint64_t gm_heap_scan_bytes(gm_mheap *h)
{
    span_iter it = {0};
    uintptr_t at;
    uint64_t bytes = 0;
    for (gm_mspan *s; (s = next_span(h, &it, &at));) {
        if (gm_spanclass_noscan(s->spanclass) || atomic_load(&s->state) != GM_SPAN_IN_USE) continue;
        uintptr_t freed = 0;
        for (size_t w = 0; w < GM_ALLOC_BITS_WORDS; w++)
            freed += (uintptr_t)__builtin_popcountll(atomic_load(&s->freed_bits[w]));
        uintptr_t live = s->div_mul ? gm_mspan_count_alloc(s) - freed : 1; /* large: live */
        bytes += (uint64_t)live * (s->div_mul ? s->elemsize : s->npages * GM_PAGE_SIZE);
    }
    return bytes;
}

/* Walk every grown page: spans must cover their pages exactly and agree with statistics. */
static const char *span_map_check(gm_mheap *h, uint64_t *inuse_bytes, size_t *npages_inuse,
                                  uint64_t *stack_bytes, char *buf, size_t n)
{
    const gm_pagealloc *pa = &h->pages;
    span_iter it = {0};
    uintptr_t p;
    for (gm_mspan *s; (s = next_span(h, &it, &p));) {
        if (s->base == p && atomic_load(&s->state) == GM_SPAN_MANUAL) { /* a stack span */
            for (size_t i = 0; i < s->npages; i++)
                CHECK_OR_FAIL(span_at(h, p + i * GM_PAGE_SIZE) == s &&
                                  page_allocated(pa, p + i * GM_PAGE_SIZE),
                              "stack span %#lx: page %zu maps elsewhere or is free",
                              (unsigned long)p, i);
            *stack_bytes += s->npages * GM_PAGE_SIZE;
            continue;
        }
        CHECK_OR_FAIL(s->base == p && atomic_load(&s->state) == GM_SPAN_IN_USE,
                      "span map: page %#lx points at span %#lx (state %d)", (unsigned long)p,
                      (unsigned long)s->base, (int)atomic_load(&s->state));
        for (size_t i = 0; i < s->npages; i++) {
            uintptr_t q = p + i * GM_PAGE_SIZE;
            CHECK_OR_FAIL(span_at(h, q) == s, "span map: page %#lx of span %#lx maps elsewhere",
                          (unsigned long)q, (unsigned long)p);
            CHECK_OR_FAIL(page_allocated(pa, q),
                          "page %#lx of span %#lx is free in the page allocator", (unsigned long)q,
                          (unsigned long)p);
        }
        *inuse_bytes += s->npages * GM_PAGE_SIZE;
        *npages_inuse += s->npages;
    }
    return NULL;
}

const char *gm_mheap_check(gm_mheap *h, char *buf, size_t n)
{
    const char *e = gm_pagealloc_check(&h->pages, buf, n);
    if (e) return e;
    uint64_t inuse = 0, grown = 0, stack = 0;
    size_t npages = 0, cached_free = 0, cached_scav = 0;
    if ((e = span_map_check(h, &inuse, &npages, &stack, buf, n))) return e;
    for (size_t r = 0; r < h->pages.n_in_use; r++)
        grown += h->pages.in_use[r].limit - h->pages.in_use[r].base;
    for (uint32_t i = 0; i < h->nprocs; i++) {
        cached_free += (size_t)__builtin_popcountll(h->allp[i].pcache.cache);
        cached_scav += (size_t)__builtin_popcountll(h->allp[i].pcache.scav);
    }
    CHECK_OR_FAIL(inuse == h->heap_inuse && npages == h->pages_in_use,
                  "heap_inuse %llu (pages %llu) but spans cover %llu bytes (%zu pages)",
                  (unsigned long long)h->heap_inuse, (unsigned long long)h->pages_in_use,
                  (unsigned long long)inuse, npages);
    CHECK_OR_FAIL(stack == h->stack.inuse, "StackInuse %llu but stack spans cover %llu bytes",
                  (unsigned long long)h->stack.inuse, (unsigned long long)stack);
    CHECK_OR_FAIL(h->heap_inuse + stack + h->heap_free + h->heap_released == grown,
                  "inuse %llu + stacks %llu + free %llu + released %llu != grown %llu",
                  (unsigned long long)h->heap_inuse, (unsigned long long)stack,
                  (unsigned long long)h->heap_free, (unsigned long long)h->heap_released,
                  (unsigned long long)grown);
    /* A run the scavenger is releasing is marked in use in pageAlloc while it madvises
     * without the lock; the statistics still count it free (scavenge.c). */
    size_t free_pages = gm_pagealloc_free_pages(&h->pages) + cached_free +
                        (size_t)(h->scav.inflight_bytes / GM_PAGE_SIZE);
    CHECK_OR_FAIL((h->heap_free + h->heap_released) / GM_PAGE_SIZE == free_pages,
                  "idle bytes %llu but %zu free pages",
                  (unsigned long long)(h->heap_free + h->heap_released), free_pages);
    size_t scav_pages = gm_pagealloc_scavenged_pages(&h->pages) + cached_scav;
    CHECK_OR_FAIL(h->heap_released / GM_PAGE_SIZE == scav_pages,
                  "heap_released %llu but %zu scavenged pages",
                  (unsigned long long)h->heap_released, scav_pages);
    return NULL;
}

/* ---- whole heap ------------------------------------------------------------------------------- */

/* Per class: Σ alloc_count of in-use spans == flushed mallocs - frees + what cached spans have
 * not flushed yet. */
static const char *recount_check(gm_mheap *h, uint32_t gen, char *buf, size_t n)
{
    static uint64_t live[GM_NUM_SIZE_CLASSES]; /* quiescent heap: no concurrent checker */
    uint64_t large_bytes = 0, pending[GM_NUM_SIZE_CLASSES] = {0};
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++) live[c] = 0;
    span_iter it = {0};
    uintptr_t at;
    for (gm_mspan *s; (s = next_span(h, &it, &at));) {
        if (atomic_load(&s->state) == GM_SPAN_MANUAL) continue; /* stacks: not heap objects */
        uint8_t sc = gm_spanclass_sizeclass(s->spanclass);
        /* Every small span is in exactly one mcentral set or mcache: none is lost. */
        CHECK_OR_FAIL(!sc || s->check_mark == gen,
                      "span %#lx (class %u) is in no mcentral set or mcache",
                      (unsigned long)s->base, sc);
        if (sc)
            live[sc] += s->alloc_count;
        else
            large_bytes += s->elemsize;
        if (s->in_cache) pending[sc] += (uint64_t)(s->alloc_count - s->alloc_count_before_cache);
    }
    gm_memstats ms;
    gm_mstats_collect(h, &ms);
    uint64_t heap_alloc = large_bytes;
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        uint64_t want = ms.by_size[c].mallocs + pending[c] - ms.by_size[c].frees;
        CHECK_OR_FAIL(live[c] == want, "class %d: spans hold %llu objects, statistics say %llu", c,
                      (unsigned long long)live[c], (unsigned long long)want);
        heap_alloc += live[c] * gm_class_to_size[c];
        heap_alloc -= pending[c] * gm_class_to_size[c];
    }
    CHECK_OR_FAIL(heap_alloc == ms.heap_alloc, "HeapAlloc %llu, recount %llu",
                  (unsigned long long)ms.heap_alloc, (unsigned long long)heap_alloc);
    CHECK_OR_FAIL(ms.heap_inuse == h->heap_inuse && ms.heap_sys == ms.heap_inuse + ms.heap_idle,
                  "memstats heap sizes disagree with the heap");
    return NULL;
}

static const char *span_holders_check(gm_mheap *h, uint32_t gen, char *buf, size_t n)
{
    const char *e;
    for (int i = 0; i < GM_NUM_SPAN_CLASSES; i++)
        if ((e = mcentral_check_gen(h, &h->central[i], gen, buf, n))) return e;
    for (uint32_t i = 0; i < h->nprocs; i++)
        if ((e = mcache_check_gen(h, &h->allp[i], gen, buf, n))) return e;
    return NULL;
}

/* ---- GC mode (gc.c) --------------------------------------------------------------------------- */

static unsigned popcount_words(const _Atomic uint64_t *w, size_t nbits)
{
    unsigned c = 0;
    for (size_t i = 0; i * 64 < nbits; i++) {
        uint64_t v = atomic_load(&w[i]);
        if ((i + 1) * 64 > nbits) v &= ((uint64_t)1 << (nbits % 64)) - 1;
        c += (unsigned)__builtin_popcountll(v);
    }
    return c;
}

static const char *pending_object_check(gm_mheap *h, uintptr_t p, uint64_t *bytes, char *buf,
                                        size_t n)
{
    gm_mspan *s = gm_mheap_span_of(h, p);
    CHECK_OR_FAIL(s, "pending free %#lx: no in-use span", (unsigned long)p);
    CHECK_OR_FAIL(gm_gc_is_pending(s, p), "pending free %#lx: pending bit clear", (unsigned long)p);
    if (s->div_mul == 0) {
        CHECK_OR_FAIL(p == s->base, "pending free %#lx: inside large span %#lx", (unsigned long)p,
                      (unsigned long)s->base);
        *bytes += s->npages * GM_PAGE_SIZE;
        return NULL;
    }
    uintptr_t idx = gm_mspan_obj_index(s, p);
    uint32_t word = s->tiny_meta ? atomic_load(&s->tiny_meta[idx]) : 0;
    bool freed = (atomic_load(&s->freed_bits[idx / 64]) >> (idx % 64)) & 1;
    CHECK_OR_FAIL(gm_mspan_is_allocated(s, idx) && !freed,
                  "pending free %#lx: slot %lu not allocated, or freed", (unsigned long)p,
                  (unsigned long)idx);
    if (s->tiny_pending && !(word == 0 && p == s->base + idx * GM_TINY_SIZE)) {
        size_t sz = gm_tiny_usable_size(s, p, idx);
        CHECK_OR_FAIL(sz > 0, "pending tiny free %#lx: no live object starts there",
                      (unsigned long)p);
        *bytes += sz;
    } else {
        *bytes += s->elemsize;
    }
    return NULL;
}

const char *gm_gc_check(gm_mheap *h, char *buf, size_t n)
{
    gm_gcstate *g = &h->gc;
    if (!g->enabled) return NULL;
    uint64_t count = 0, bytes = 0, want_count = 0, want_bytes = 0;
    const char *e;
    for (uint32_t i = 0; i <= h->nprocs; i++) {
        const gm_gcbuf *b = i < h->nprocs ? h->allp[i].gcbuf : g->full;
        for (; b; b = i < h->nprocs ? NULL : b->next) {
            CHECK_OR_FAIL(b->n <= GM_GCBUF_CAP, "pending buffer holds %llu objects",
                          (unsigned long long)b->n);
            for (uint64_t k = 0; k < b->n; k++)
                if ((e = pending_object_check(h, (uintptr_t)b->obj[k], &bytes, buf, n))) return e;
            count += b->n;
        }
        if (i < h->nprocs) {
            want_count += h->allp[i].pending_count;
            want_bytes += h->allp[i].pending_bytes;
        }
    }
    CHECK_OR_FAIL(count == want_count && bytes == want_bytes,
                  "pending frees: buffers hold %llu objects of %llu bytes, counters say %llu of "
                  "%llu",
                  (unsigned long long)count, (unsigned long long)bytes,
                  (unsigned long long)want_count, (unsigned long long)want_bytes);
    /* Every pending bit belongs to a buffered object, and dead_unswept is the freed bytes. */
    uint64_t bits = 0, dead = 0;
    span_iter it = {0};
    uintptr_t at;
    for (gm_mspan *s; (s = next_span(h, &it, &at));) {
        if (atomic_load(&s->state) == GM_SPAN_MANUAL) continue;
        size_t nb = s->div_mul == 0 ? 1 : s->nelems;
        bits += popcount_words(s->pending_bits, nb);
        if (s->tiny_pending) bits += popcount_words(s->tiny_pending, GM_PAGE_SIZE);
        if (s->div_mul) dead += (uint64_t)popcount_words(s->freed_bits, nb) * s->elemsize;
    }
    CHECK_OR_FAIL(bits == count, "%llu pending bits set, %llu objects pending",
                  (unsigned long long)bits, (unsigned long long)count);
    int64_t du = atomic_load(&g->dead_unswept);
    CHECK_OR_FAIL(du >= 0 && (uint64_t)du == dead, "dead_unswept %lld, freed bits hold %llu bytes",
                  (long long)du, (unsigned long long)dead);
    return NULL;
}

/* HeapAlloc includes every pending object (needs every mcache flushed or consistent). */
static const char *gc_heap_alloc_check(gm_mheap *h, char *buf, size_t n)
{
    if (!h->gc.enabled) return NULL;
    gm_memstats ms;
    gm_mstats_collect(h, &ms);
    uint64_t unflushed = 0; /* allocations still counted only by cached spans */
    for (uint32_t i = 0; i < h->nprocs; i++)
        for (int spc = 0; spc < GM_NUM_SPAN_CLASSES; spc++) {
            const gm_mspan *s = h->allp[i].mcache.alloc[spc];
            unflushed += (uint64_t)(s->alloc_count - s->alloc_count_before_cache) * s->elemsize;
        }
    CHECK_OR_FAIL(ms.heap_alloc + unflushed >= ms.pending_bytes,
                  "HeapAlloc %llu (+%llu in caches) < pending bytes %llu",
                  (unsigned long long)ms.heap_alloc, (unsigned long long)unflushed,
                  (unsigned long long)ms.pending_bytes);
    return NULL;
}

/* Heap profiling (mprof.c): specials against live objects, buckets against specials. */
const char *gm_mprof_check(gm_mheap *h, char *buf, size_t n)
{
    gm_mprof *mp = &h->prof;
    const char *e = NULL;
    pthread_mutex_lock(&mp->lock);
    for (gm_mprof_bucket *b = mp->all; b; b = b->allnext) b->check_count = 0;
    span_iter it = {0};
    uintptr_t at;
    for (gm_mspan *s; !e && (s = next_span(h, &it, &at));) {
        uintptr_t prev = 0;
        bool first = true;
        for (gm_mprof_special *sp = atomic_load(&s->specials); sp; sp = sp->next) {
            uintptr_t i = s->div_mul ? sp->offset / s->elemsize : 0;
            uint64_t freed = s->div_mul ? atomic_load(&s->freed_bits[i / 64]) >> (i % 64) & 1 : 0;
            if (!first && sp->offset <= prev)
                e = "specials of a span not sorted by offset, or a duplicate";
            else if (s->div_mul ? sp->offset % s->elemsize || i >= s->nelems : sp->offset != 0)
                e = "special at an offset that starts no object of its span";
            else if (s->div_mul && (!gm_mspan_is_allocated(s, i) || freed))
                e = "special of an object that is free or freed";
            else if (sp->b->size != (s->div_mul ? s->elemsize : s->npages * GM_PAGE_SIZE))
                e = "special's bucket size is not its object's rounded size";
            if (e) {
                snprintf(buf, n, "mprof: span %p offset %#lx: %s", (void *)s->base,
                         (unsigned long)sp->offset, e);
                e = buf;
                break;
            }
            sp->b->check_count++;
            prev = sp->offset;
            first = false;
        }
    }
    for (gm_mprof_bucket *b = mp->all; b && !e; b = b->allnext) {
        gm_mprof_record t = b->active;
        for (int c = 0; c < 3; c++) {
            t.allocs += b->future[c].allocs;
            t.frees += b->future[c].frees;
            t.alloc_bytes += b->future[c].alloc_bytes;
            t.free_bytes += b->future[c].free_bytes;
        }
        if (t.allocs - t.frees != b->check_count ||
            t.alloc_bytes - t.free_bytes != b->check_count * b->size ||
            b->active.frees > b->active.allocs || b->active.free_bytes > b->active.alloc_bytes) {
            snprintf(buf, n,
                     "mprof: bucket %s size %llu: allocs %llu frees %llu (bytes %llu - %llu) over "
                     "all slots, %llu live specials; published allocs %llu frees %llu",
                     b->stk->frames[0].func, (unsigned long long)b->size,
                     (unsigned long long)t.allocs, (unsigned long long)t.frees,
                     (unsigned long long)t.alloc_bytes, (unsigned long long)t.free_bytes,
                     (unsigned long long)b->check_count, (unsigned long long)b->active.allocs,
                     (unsigned long long)b->active.frees);
            e = buf;
        }
    }
    pthread_mutex_unlock(&mp->lock);
    return e;
}

const char *gm_heap_check(gm_mheap *h, char *buf, size_t n)
{
    const char *e = gm_mheap_check(h, buf, n);
    if (e) return e;
    uint32_t gen = atomic_fetch_add(&check_generation, 1) + 1;
    if ((e = span_holders_check(h, gen, buf, n))) return e;
    if ((e = recount_check(h, gen, buf, n))) return e;
    if ((e = gm_gc_check(h, buf, n))) return e;
    if ((e = gm_mprof_check(h, buf, n))) return e;
    if ((e = gm_stack_check(h, buf, n))) return e;
    return gc_heap_alloc_check(h, buf, n);
}

const char *gm_heap_check_stopped(gm_mheap *h, char *buf, size_t n)
{
    /* Large frees need no P: hold the heap lock while the page heap is read. */
    pthread_mutex_lock(&h->lock);
    const char *e = gm_mheap_check(h, buf, n);
    pthread_mutex_unlock(&h->lock);
    if (e) return e;
    if ((e = gm_gc_check(h, buf, n))) return e; /* GC-mode frees need a P: none runs now */
    return span_holders_check(h, atomic_fetch_add(&check_generation, 1) + 1, buf, n);
}
