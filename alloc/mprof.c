/*
 * mprof.c — heap profiling: sampling, buckets by call site, the profile cycle, and the legacy
 * text heap profile (mprof.go, malloc.go's profilealloc/nextSample, fastlog2.go, and
 * runtime/pprof's writeHeapInternal with debug=1), or the protobuf one (writeHeapProto,
 * protomem.go: debug=0). See malloc.c for the whole allocator and
 * reference §8 for the facts about Go.
 *
 * Sampling (§8.2). Every allocation that is not combined into an existing tiny block counts
 * its rounded size (16 for a new tiny block, the class size, npages × 8 KiB) against its P's
 * countdown mcache.next_sample; when the size does not fit in what is left, the allocation is
 * sampled and a fresh countdown is drawn (the leftover is discarded, as in Go). Countdowns
 * are drawn by fastexprand: Exp(MemProfileRate) + 1 from 26 random bits and fastlog2's
 * piecewise-linear table. MemProfileRate 1 samples every allocation, 0 none. The hot path
 * (gm_mprof_count, internal.h) is a load of the rate, a compare and a subtraction.
 *
 * Buckets (§8.3). A sample is recorded in the bucket keyed by (stack, rounded size). The stack
 * is the allocation's call site: the caller names it with gm_set_alloc_site (a per-thread
 * value kept in the M) and describes it once with gm_mprof_register_site (its frames,
 * innermost first). Sites with identical frames share a stack, so they share buckets, as two
 * call paths with the same PCs do in Go. The sampled object gets a "special" on its span
 * (Go's specialprofile, sorted by offset) naming its bucket; when the object dies the
 * special is removed and the free is recorded (mProf_Free).
 *
 * The cycle (§8.3). Each bucket keeps the published record `active` and three future slots.
 * With C = mProf.cycle: allocations count toward C+2; frees applied by a cycle (GC mode's
 * pending frees, tiny blocks that die at a cycle start — Go's sweeper) toward C+1;
 * gm_mprof_next_cycle (mark termination) advances C, gm_mprof_flush folds slot C into
 * active, and gm_heap_gc folds C+1 after its full sweep (mProf_PostSweep). The profile thus
 * shows the heap as of the last completed cycle; if nothing is published yet every slot is
 * folded, so a program that never collected sees every allocation.
 *
 * How it differs from Go:
 *  - Stacks are not unwound: a call site stands for the stack, and its PCs are synthetic.
 *    Every distinct function name gets an entry address 0x400000 + k·0x1000 (k = 1, 2, ... in
 *    first-registration order) and a frame's return PC is entry + 0x14 + 4·(line mod 0x3f0)
 *    + 1, so the `@` list and the `#` comment lines (which print PC−1 as func+offset, as
 *    printStackRecord does) agree, and the same frame always has the same PC within a heap.
 *    No binary holds these addresses: for the legacy text profile pprof shows them as hex
 *    addresses (see the test); the protobuf profile (GM_PROFILE_PROTO) carries the names.
 *    An unregistered site gets a one-frame stack named "gomalloc.site<N>" ("gomalloc.unknown"
 *    for site 0).
 *  - Go records a free when the sweeper finds the sampled object dead. In the default mode
 *    the model applies gm_free at once, and records it then — toward C+2, the slot of the
 *    cycle that would have found the object dead (the next one), which is the slot a GC-mode
 *    free of the same object lands in. So in both modes the profile shows the heap as of the
 *    last completed cycle (sweep cycles in the default mode, malloc.c), and gm_gc publishes
 *    everything up to its call.
 *  - Go's fastrand is per M and seeded from OS randomness (not reproducible). The model keeps
 *    a wyrand state per P (draws happen with the P held) seeded from the heap config's
 *    mprof_seed, so a run is reproducible.
 *  - Like Go 1.19, changing the rate does not redraw existing countdowns.
 *  - The MemStats comment block at the end of the profile carries the fields the model has.
 *
 * Invariants (gm_mprof_check): for every bucket, the allocations minus the frees summed over
 * active and the three future slots equal the live specials naming it, and the same in bytes
 * (count × size); in active, frees <= allocs; every special names an allocated, not freed
 * object of its span, and a span's specials are sorted by offset without duplicates.
 *
 * Locking: mprof.lock (proflock) guards everything here except the rate (atomic) and the
 * countdowns and RNG states (owned by the P's holder). It is a leaf, taken with a P held or
 * the world stopped. A span's specials pointer is written under the lock and tested for NULL
 * without it on the free path: a sampled object's special is published before the object's
 * pointer leaves the allocator, so whoever frees the object sees it.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gm_testing.h"

#define MPROF_HASH         4096              /* entries of each hash table (a power of two) */
#define MPROF_CHUNK        (64u << 10)       /* persistentalloc chunk */
#define MPROF_CYCLE_WRAP   (3u * (2u << 24)) /* mProfCycleWrap */
#define MPROF_ENTRY_BASE   ((uintptr_t)0x400000)
#define MPROF_ENTRY_STRIDE ((uintptr_t)0x1000)
#define MPROF_DEFAULT_SEED 0x853c49e6748fea9bull

typedef struct gm_mprof_func {
    struct gm_mprof_func *hnext;
    uintptr_t entry;
    char name[];
} gm_mprof_func;

/* ---- fastexprand (malloc.go, fastlog2.go) -------------------------------------------------- */

/* fastlog2Table: log2(1 + i/32), i = 0..32 (fastlog2table.go). */
static const double fastlog2_table[33] = {
    0,
    0.0443941193584535,
    0.08746284125033943,
    0.12928301694496647,
    0.16992500144231248,
    0.2094533656289499,
    0.24792751344358555,
    0.28540221886224837,
    0.3219280948873623,
    0.3575520046180837,
    0.39231742277876036,
    0.4262647547020979,
    0.4594316186372973,
    0.4918530963296748,
    0.5235619560570128,
    0.5545888516776374,
    0.5849625007211563,
    0.6147098441152082,
    0.6438561897747247,
    0.6724253419714956,
    0.7004397181410922,
    0.7279204545631992,
    0.7548875021634686,
    0.7813597135246596,
    0.8073549220576042,
    0.8328900141647417,
    0.8579809951275721,
    0.8826430493618412,
    0.9068905956085185,
    0.9307373375628862,
    0.9541963103868752,
    0.9772799234999164,
    1,
};

/* fastlog2: the exponent plus a linear interpolation inside the 32 segments of the octave. */
static double fastlog2(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int64_t exp = (int64_t)((bits >> 52) & 0x7ff) - 1023;
    uint64_t man_index = (bits >> (52 - 5)) % (1u << 5);
    uint64_t man_scale = (bits >> (52 - 5 - 20)) % (1u << 20);
    double low = fastlog2_table[man_index], high = fastlog2_table[man_index + 1];
    return (double)exp + low + (high - low) * (double)man_scale * (1.0 / (1 << 20));
}

/* fastrand: wyrand, as Go 1.19 on 64-bit platforms. */
static uint32_t fastrand(uint64_t *state)
{
    *state += 0xa0761d6478bd642full;
    __uint128_t m = (__uint128_t)*state * (*state ^ 0xe7037ed1a0b428dbull);
    return (uint32_t)((uint64_t)(m >> 64) ^ (uint64_t)m);
}

static uint32_t fastrandn(uint64_t *state, uint32_t n)
{
    return (uint32_t)(((uint64_t)fastrand(state) * n) >> 32);
}

/* fastexprand(mean): a draw of Exp(mean) + 1, mean capped at 0x7000000 so it fits an int32. */
static uintptr_t fastexprand(uint64_t *state, int mean)
{
    if (mean > 0x7000000) mean = 0x7000000;
    if (mean == 0) return 0;
    enum { RANDOM_BITS = 26 };
    uint32_t q = fastrandn(state, 1u << RANDOM_BITS) + 1;
    double qlog = fastlog2((double)q) - RANDOM_BITS;
    if (qlog > 0) qlog = 0;
    const double minus_log2 = -0.6931471805599453; /* -ln(2) */
    return (uintptr_t)((int32_t)(qlog * (minus_log2 * (double)mean)) + 1);
}

/* nextSample: the bytes until this P's next sample. */
static uintptr_t next_sample(gm_mprof *mp, gm_mcache *c)
{
    int rate = atomic_load_explicit(&mp->rate, memory_order_relaxed);
    if (rate == 1) return 0;
    return fastexprand(&c->fastrand, rate);
}

/* ---- persistent memory (persistentalloc) --------------------------------------------------- */

static void *persist_alloc(gm_mheap *h, size_t n)
{
    gm_mprof *mp = &h->prof;
    n = (n + 15) & ~(size_t)15;
    if (n > mp->persist_left) {
        size_t bytes = n + 16 > MPROF_CHUNK ? n + 16 : MPROF_CHUNK;
        uint8_t *c = gm_sys_alloc(bytes, &h->sys.other_sys);
        if (!c) return NULL;
        ((void **)c)[0] = mp->persist_chunks;
        ((size_t *)c)[1] = bytes;
        mp->persist_chunks = c;
        mp->persist = c + 16;
        mp->persist_left = bytes - 16;
    }
    void *v = mp->persist;
    mp->persist += n;
    mp->persist_left -= n;
    return v;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

/* ---- init / destroy ------------------------------------------------------------------------ */

int gm_mprof_init(gm_mheap *h, const gm_heap_config *cfg)
{
    gm_mprof *mp = &h->prof;
    pthread_mutex_init(&mp->lock, NULL);
    gm_fixalloc_init(&mp->specialalloc, sizeof(gm_mprof_special), &h->sys.other_sys);
    void **t = gm_sys_alloc(3 * MPROF_HASH * sizeof(void *), &h->sys.other_sys);
    if (!t) return -1;
    mp->hash = (gm_mprof_bucket **)t;
    mp->stackhash = (gm_mprof_stack **)(t + MPROF_HASH);
    mp->funchash = (gm_mprof_func **)(t + 2 * MPROF_HASH);
    atomic_store(&mp->rate, cfg->mem_profile_rate > 0 ? cfg->mem_profile_rate : 0);
    uint64_t seed = cfg->mprof_seed ? cfg->mprof_seed : MPROF_DEFAULT_SEED;
    for (uint32_t i = 0; i < h->nprocs; i++) { /* the first countdowns (allocmcache) */
        gm_mcache *c = &h->allp[i].mcache;
        c->fastrand = seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
        c->next_sample = next_sample(mp, c);
    }
    return 0;
}

void gm_mprof_destroy(gm_mheap *h)
{
    gm_mprof *mp = &h->prof;
    if (mp->hash) gm_sys_free(mp->hash, 3 * MPROF_HASH * sizeof(void *), &h->sys.other_sys);
    if (mp->sites) gm_sys_free(mp->sites, mp->nsites_cap * sizeof *mp->sites, &h->sys.other_sys);
    for (uint8_t *c = mp->persist_chunks, *next; c; c = next) {
        next = ((void **)c)[0];
        gm_sys_free(c, ((size_t *)c)[1], &h->sys.other_sys);
    }
    gm_fixalloc_destroy(&mp->specialalloc);
    pthread_mutex_destroy(&mp->lock);
    memset(mp, 0, sizeof *mp);
}

/* ---- sites and stacks ---------------------------------------------------------------------- */

/* The interned function name[0..n) with its synthetic entry address; NULL when out of
 * memory. */
static gm_mprof_func *func_intern_locked(gm_mheap *h, const char *name, size_t n)
{
    gm_mprof *mp = &h->prof;
    gm_mprof_func **head = &mp->funchash[hash_bytes(0xcbf29ce484222325ull, name, n) % MPROF_HASH];
    for (gm_mprof_func *f = *head; f; f = f->hnext)
        if (strncmp(f->name, name, n) == 0 && f->name[n] == '\0') return f;
    gm_mprof_func *f = persist_alloc(h, sizeof *f + n + 1);
    if (!f) return NULL;
    memcpy(f->name, name, n);
    f->name[n] = '\0';
    f->entry = MPROF_ENTRY_BASE + ++mp->nfuncs * MPROF_ENTRY_STRIDE;
    f->hnext = *head;
    *head = f;
    return f;
}

static char *persist_strndup(gm_mheap *h, const char *s, size_t n)
{
    char *d = persist_alloc(h, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Parse "func" or "func file:line" into fr (strings interned). false when out of memory. */
static bool parse_frame_locked(gm_mheap *h, const char *text, gm_mprof_frame *fr)
{
    size_t fn = strcspn(text, " \t");
    gm_mprof_func *f = func_intern_locked(h, text, fn);
    if (!f) return false;
    fr->func = f->name;
    fr->entry = f->entry;
    fr->line = 0;
    const char *rest = text + fn;
    rest += strspn(rest, " \t");
    const char *colon = strrchr(rest, ':');
    size_t filen = *rest ? strlen(rest) : 1;
    if (colon && colon[1]) {
        char *end;
        unsigned long line = strtoul(colon + 1, &end, 10);
        if (!*end && line <= UINT32_MAX) {
            fr->line = (uint32_t)line;
            filen = (size_t)(colon - rest);
        }
    }
    fr->file = persist_strndup(h, *rest ? rest : "?", filen);
    if (!fr->file) return false;
    fr->pc = fr->entry + 0x14 + 4 * (fr->line % 0x3f0) + 1;
    return true;
}

/* The interned stack with these frames (a copy of fr is kept); NULL when out of memory. */
static gm_mprof_stack *stack_intern_locked(gm_mheap *h, const gm_mprof_frame *fr, uint32_t n)
{
    gm_mprof *mp = &h->prof;
    uint64_t hv = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < n; i++) hv = hash_bytes(hv, &fr[i].pc, sizeof fr[i].pc);
    gm_mprof_stack **head = &mp->stackhash[hv % MPROF_HASH];
    for (gm_mprof_stack *s = *head; s; s = s->hnext) {
        if (s->nframes != n) continue;
        uint32_t i = 0;
        while (i < n && s->frames[i].pc == fr[i].pc && s->frames[i].func == fr[i].func &&
               strcmp(s->frames[i].file, fr[i].file) == 0)
            i++;
        if (i == n) return s;
    }
    gm_mprof_stack *s = persist_alloc(h, sizeof *s + n * sizeof *fr);
    if (!s) return NULL;
    s->nframes = n;
    memcpy(s->frames, fr, n * sizeof *fr);
    s->hnext = *head;
    *head = s;
    return s;
}

/* Make sites[site] addressable; false when out of memory. */
static bool sites_grow_locked(gm_mheap *h, uint32_t site)
{
    gm_mprof *mp = &h->prof;
    if (site < mp->nsites_cap) return true;
    uint32_t cap = mp->nsites_cap ? mp->nsites_cap : 1024;
    while (cap <= site) cap *= 2;
    gm_mprof_stack **n = gm_sys_alloc(cap * sizeof *n, &h->sys.other_sys);
    if (!n) return false;
    if (mp->sites) {
        memcpy(n, mp->sites, mp->nsites_cap * sizeof *n);
        gm_sys_free(mp->sites, mp->nsites_cap * sizeof *n, &h->sys.other_sys);
    }
    mp->sites = n;
    mp->nsites_cap = cap;
    return true;
}

int gm_mprof_register_site_on(gm_mheap *h, uint32_t site, const char *const *frames, size_t nframes)
{
    if (site == 0 || site >= GM_MPROF_MAX_SITES || !frames || nframes == 0 ||
        nframes > GM_MPROF_MAX_FRAMES) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < nframes; i++)
        if (!frames[i] || !*frames[i] || frames[i][0] == ' ' || frames[i][0] == '\t') {
            errno = EINVAL;
            return -1;
        }
    gm_mprof *mp = &h->prof;
    gm_mprof_frame fr[GM_MPROF_MAX_FRAMES];
    pthread_mutex_lock(&mp->lock);
    bool ok = sites_grow_locked(h, site);
    for (size_t i = 0; ok && i < nframes; i++) ok = parse_frame_locked(h, frames[i], &fr[i]);
    gm_mprof_stack *s = ok ? stack_intern_locked(h, fr, (uint32_t)nframes) : NULL;
    if (s) mp->sites[site] = s;
    pthread_mutex_unlock(&mp->lock);
    if (!s) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* The stack of a site, creating the one-frame stack of an unregistered site. */
static gm_mprof_stack *site_stack_locked(gm_mheap *h, uint32_t site)
{
    gm_mprof *mp = &h->prof;
    if (site >= GM_MPROF_MAX_SITES) site = 0;
    if (site < mp->nsites_cap && mp->sites[site]) return mp->sites[site];
    if (!sites_grow_locked(h, site)) return NULL;
    char name[32];
    if (site)
        snprintf(name, sizeof name, "gomalloc.site%u", site);
    else
        snprintf(name, sizeof name, "gomalloc.unknown");
    gm_mprof_frame fr;
    if (!parse_frame_locked(h, name, &fr)) return NULL;
    return mp->sites[site] = stack_intern_locked(h, &fr, 1);
}

/* ---- buckets and records ------------------------------------------------------------------- */

static gm_mprof_bucket **bucket_head(gm_mprof *mp, const gm_mprof_stack *stk, uint64_t size)
{
    uint64_t key[2] = {(uint64_t)(uintptr_t)stk, size};
    return &mp->hash[hash_bytes(0xcbf29ce484222325ull, key, sizeof key) % MPROF_HASH];
}

/* stkbucket(memProfile, size, stk, alloc). */
static gm_mprof_bucket *bucket_locked(gm_mheap *h, const gm_mprof_stack *stk, uint64_t size,
                                      bool create)
{
    gm_mprof *mp = &h->prof;
    gm_mprof_bucket **head = bucket_head(mp, stk, size);
    for (gm_mprof_bucket *b = *head; b; b = b->hnext)
        if (b->stk == stk && b->size == size) return b;
    if (!create) return NULL;
    gm_mprof_bucket *b = persist_alloc(h, sizeof *b);
    if (!b) return NULL;
    memset(b, 0, sizeof *b);
    b->stk = stk;
    b->size = size;
    b->hnext = *head;
    *head = b;
    b->allnext = mp->all;
    mp->all = b;
    mp->nbuckets++;
    return b;
}

static void record_add(gm_mprof_record *dst, gm_mprof_record *src)
{
    dst->allocs += src->allocs;
    dst->frees += src->frees;
    dst->alloc_bytes += src->alloc_bytes;
    dst->free_bytes += src->free_bytes;
    *src = (gm_mprof_record){0};
}

void gm_mprof_malloc(gm_mheap *h, gm_p *pp, uint32_t site, uintptr_t p, size_t size)
{
    gm_mprof *mp = &h->prof;
    pp->mcache.next_sample = next_sample(mp, &pp->mcache);
    gm_mspan *s = gm_mheap_span_of(h, p);
    if (!s) gm_throw("mprof: sampled object %p has no span", (void *)p);
    pthread_mutex_lock(&mp->lock);
    gm_mprof_stack *stk = site_stack_locked(h, site);
    gm_mprof_bucket *b = stk ? bucket_locked(h, stk, size, true) : NULL;
    gm_mprof_special *sp = b ? gm_fixalloc_alloc(&mp->specialalloc) : NULL;
    if (!sp) { /* out of metadata memory: the sample is lost, the allocation is not */
        mp->dropped++;
        pthread_mutex_unlock(&mp->lock);
        return;
    }
    gm_mprof_record *r = &b->future[(mp->cycle + 2) % 3];
    r->allocs++;
    r->alloc_bytes += size;
    sp->offset = p - s->base;
    sp->b = b;
    gm_mprof_special *_Atomic *link = &s->specials; /* addspecial: keep offsets sorted */
    gm_mprof_special *at;
    while ((at = atomic_load_explicit(link, memory_order_relaxed)) && at->offset < sp->offset)
        link = (gm_mprof_special * _Atomic *)&at->next;
    if (at && at->offset == sp->offset)
        gm_throw("mprof: object %p sampled twice (a special is left over)", (void *)p);
    sp->next = at;
    atomic_store_explicit(link, sp, memory_order_release);
    pthread_mutex_unlock(&mp->lock);
}

void gm_mprof_free(gm_mheap *h, gm_mspan *s, uintptr_t p)
{
    gm_mprof *mp = &h->prof;
    uintptr_t off = p - s->base;
    pthread_mutex_lock(&mp->lock);
    gm_mprof_special *_Atomic *link = &s->specials;
    gm_mprof_special *at;
    while ((at = atomic_load_explicit(link, memory_order_relaxed)) && at->offset < off)
        link = (gm_mprof_special * _Atomic *)&at->next;
    if (at && at->offset == off) {
        atomic_store_explicit(link, at->next, memory_order_relaxed);
        /* A cycle's frees are the sweeper's (C+1); one applied at once belongs to the cycle
         * that would find it dead (C+2): see the top of this file. */
        gm_mprof_record *r = &at->b->future[(mp->cycle + (mp->in_cycle ? 1 : 2)) % 3];
        r->frees++;
        r->free_bytes += at->b->size;
        gm_fixalloc_free(&mp->specialalloc, at);
    }
    pthread_mutex_unlock(&mp->lock);
}

/* ---- the cycle ------------------------------------------------------------------------------ */

void gm_mprof_next_cycle(gm_mheap *h)
{
    gm_mprof *mp = &h->prof;
    pthread_mutex_lock(&mp->lock);
    mp->cycle = (mp->cycle + 1) % MPROF_CYCLE_WRAP;
    mp->flushed = false;
    mp->in_cycle = true;
    pthread_mutex_unlock(&mp->lock);
}

static void flush_locked(gm_mprof *mp)
{
    for (gm_mprof_bucket *b = mp->all; b; b = b->allnext)
        record_add(&b->active, &b->future[mp->cycle % 3]);
}

void gm_mprof_flush(gm_mheap *h)
{
    gm_mprof *mp = &h->prof;
    pthread_mutex_lock(&mp->lock);
    if (!mp->flushed) {
        flush_locked(mp);
        mp->flushed = true;
    }
    mp->in_cycle = false;
    pthread_mutex_unlock(&mp->lock);
}

void gm_mprof_post_sweep(gm_mheap *h)
{
    gm_mprof *mp = &h->prof;
    pthread_mutex_lock(&mp->lock);
    for (gm_mprof_bucket *b = mp->all; b; b = b->allnext)
        record_add(&b->active, &b->future[(mp->cycle + 1) % 3]);
    pthread_mutex_unlock(&mp->lock);
}

/* What runtime.MemProfile does before reading active: flush slot C, and when nothing is
 * published at all (no cycle yet), fold every slot. */
static void publish_locked(gm_mprof *mp)
{
    flush_locked(mp);
    for (gm_mprof_bucket *b = mp->all; b; b = b->allnext)
        if (b->active.allocs || b->active.frees) return;
    for (gm_mprof_bucket *b = mp->all; b; b = b->allnext)
        for (int c = 0; c < 3; c++) record_add(&b->active, &b->future[c]);
}

bool gm_mprof_lookup(gm_mheap *h, uint32_t site, uint64_t size, gm_mprof_record *out)
{
    gm_mprof *mp = &h->prof;
    pthread_mutex_lock(&mp->lock);
    publish_locked(mp);
    gm_mprof_bucket *b = NULL;
    if (site < mp->nsites_cap && mp->sites[site])
        b = bucket_locked(h, mp->sites[site], size, false);
    if (b) *out = b->active;
    pthread_mutex_unlock(&mp->lock);
    return b != NULL;
}

/* ---- the legacy text profile (pprof.go writeHeapInternal, debug=1) ------------------------ */

typedef struct prof_rec {
    const gm_mprof_stack *stk;
    gm_mprof_record r;
} prof_rec;

static uint64_t inuse_bytes(const prof_rec *p)
{
    return p->r.alloc_bytes - p->r.free_bytes;
}

/* Shell sort by in-use bytes, descending (Go's sort is not stable either; this one is
 * deterministic for a given bucket order). No allocation. */
static void sort_recs(prof_rec *a, size_t n)
{
    static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++)
        for (size_t i = gaps[g]; i < n; i++) {
            prof_rec t = a[i];
            size_t j = i;
            for (; j >= gaps[g] && inuse_bytes(&a[j - gaps[g]]) < inuse_bytes(&t); j -= gaps[g])
                a[j] = a[j - gaps[g]];
            a[j] = t;
        }
}

typedef struct out_buf {
    int fd;
    int err; /* first errno */
    size_t n;
    char b[8192];
} out_buf;

static void out_flush(out_buf *o)
{
    for (size_t off = 0; off < o->n && !o->err;) {
        ssize_t w = write(o->fd, o->b + off, o->n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            o->err = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    o->n = 0;
}

static void out_printf(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(out_buf *o, const char *fmt, ...)
{
    if (sizeof o->b - o->n < 1024) out_flush(o);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->b + o->n, sizeof o->b - o->n, fmt, ap);
    va_end(ap);
    if (k > 0) o->n += (size_t)k < sizeof o->b - o->n ? (size_t)k : sizeof o->b - o->n - 1;
}

/* The published records, copied out under the lock into memory from the OS (*cap_out
 * entries; 0: nothing mapped): those with in-use bytes, or every one with an allocation when
 * inuse_zero (runtime.MemProfile's inuseZero: the protobuf writer asks for it). -1 when out
 * of memory. */
static int collect(gm_mheap *h, bool inuse_zero, prof_rec **out, size_t *n_out, size_t *cap_out)
{
    gm_mprof *mp = &h->prof;
    for (;;) {
        pthread_mutex_lock(&mp->lock);
        size_t cap = (size_t)mp->nbuckets;
        pthread_mutex_unlock(&mp->lock);
        prof_rec *a = cap ? gm_sys_alloc(cap * sizeof *a, NULL) : NULL;
        if (cap && !a) return -1;
        pthread_mutex_lock(&mp->lock);
        if (mp->nbuckets != cap) { /* a bucket was added meanwhile: size again */
            pthread_mutex_unlock(&mp->lock);
            if (a) gm_sys_free(a, cap * sizeof *a, NULL);
            continue;
        }
        publish_locked(mp);
        size_t n = 0;
        for (gm_mprof_bucket *b = mp->all; b; b = b->allnext)
            if (b->active.alloc_bytes != b->active.free_bytes || (inuse_zero && b->active.allocs))
                a[n++] = (prof_rec){.stk = b->stk, .r = b->active};
        pthread_mutex_unlock(&mp->lock);
        *out = a;
        *n_out = n;
        *cap_out = cap;
        return 0;
    }
}

/* printStackRecord: one comment line per frame, PC-1 as func+offset, then a blank line.
 * Leading runtime.* frames are hidden unless every frame is one, as in Go. */
static void print_stack(out_buf *o, const gm_mprof_stack *stk)
{
    bool show = false;
    for (uint32_t i = 0; i < stk->nframes; i++)
        if (strncmp(stk->frames[i].func, "runtime.", 8) != 0) show = true;
    bool all = !show;
    show = all;
    for (uint32_t i = 0; i < stk->nframes; i++) {
        const gm_mprof_frame *f = &stk->frames[i];
        if (strcmp(f->func, "runtime.goexit") == 0) continue;
        if (!show && strncmp(f->func, "runtime.", 8) == 0) continue;
        show = true;
        out_printf(o, "#\t%#lx\t%s+%#lx\t%s:%u\n", (unsigned long)(f->pc - 1), f->func,
                   (unsigned long)(f->pc - 1 - f->entry), f->file, f->line);
    }
    out_printf(o, "\n");
}

static void print_memstats(out_buf *o, const gm_memstats *s)
{
    out_printf(o, "\n# runtime.MemStats\n");
    out_printf(o, "# Alloc = %llu\n", (unsigned long long)s->alloc);
    out_printf(o, "# TotalAlloc = %llu\n", (unsigned long long)s->total_alloc);
    out_printf(o, "# Sys = %llu\n", (unsigned long long)s->sys);
    out_printf(o, "# Lookups = 0\n");
    out_printf(o, "# Mallocs = %llu\n", (unsigned long long)s->mallocs);
    out_printf(o, "# Frees = %llu\n", (unsigned long long)s->frees);
    out_printf(o, "# HeapAlloc = %llu\n", (unsigned long long)s->heap_alloc);
    out_printf(o, "# HeapSys = %llu\n", (unsigned long long)s->heap_sys);
    out_printf(o, "# HeapIdle = %llu\n", (unsigned long long)s->heap_idle);
    out_printf(o, "# HeapInuse = %llu\n", (unsigned long long)s->heap_inuse);
    out_printf(o, "# HeapReleased = %llu\n", (unsigned long long)s->heap_released);
    out_printf(o, "# HeapObjects = %llu\n", (unsigned long long)s->heap_objects);
    out_printf(o, "# MSpan = 0 / %llu\n", (unsigned long long)s->mspan_sys);
    out_printf(o, "# GCSys = %llu\n", (unsigned long long)s->gc_sys);
    out_printf(o, "# OtherSys = %llu\n", (unsigned long long)s->other_sys);
    out_printf(o, "# NextGC = %llu\n", (unsigned long long)s->next_gc);
    out_printf(o, "# NumGC = %llu\n", (unsigned long long)s->num_gc);
    out_printf(o, "# NumForcedGC = %llu\n", (unsigned long long)s->num_forced_gc);
}

/* ---- the protobuf profile (pprof.go writeHeapProto, protomem.go; profile.proto) ---------------
 * The format `go tool pprof` prefers (debug=0), written uncompressed (pprof accepts it; Go
 * gzips). Unlike the legacy text, it carries function names, so pprof names the sites without
 * a binary. Messages are written field by field; a nested message's length is computed first
 * (they are all small and flat). Values are scaled as protomem.go's scaleHeapSample does. */

enum { WT_VARINT = 0, WT_LEN = 2 };

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static void put_varint(out_buf *o, uint64_t v)
{
    if (sizeof o->b - o->n < 16) out_flush(o);
    while (v >= 0x80) {
        o->b[o->n++] = (char)(v | 0x80);
        v >>= 7;
    }
    o->b[o->n++] = (char)v;
}

static void put_bytes(out_buf *o, const void *p, size_t n)
{
    for (const char *s = p; n;) {
        if (o->n == sizeof o->b) out_flush(o);
        size_t k = sizeof o->b - o->n < n ? sizeof o->b - o->n : n;
        memcpy(o->b + o->n, s, k);
        o->n += k, s += k, n -= k;
    }
}

/* A varint field, and its encoded size (for the length of the message holding it). */
static void put_uint(out_buf *o, unsigned field, uint64_t v)
{
    put_varint(o, (uint64_t)field << 3 | WT_VARINT);
    put_varint(o, v);
}
static size_t uint_len(unsigned field, uint64_t v)
{
    return varint_len((uint64_t)field << 3) + varint_len(v);
}
static void put_head(out_buf *o, unsigned field, size_t len)
{
    put_varint(o, (uint64_t)field << 3 | WT_LEN);
    put_varint(o, len);
}

/* The string table: each distinct string once, index 0 = "". Open addressing over a table
 * from the OS, sized by the caller for every string the profile can hold. */
typedef struct strtab {
    const char **s;   /* by index */
    uint32_t *slot;   /* hash slot -> index + 1; 0 empty */
    size_t n, nslots; /* nslots a power of two > 2 × capacity */
} strtab;

static uint32_t str_index(strtab *t, const char *s)
{
    size_t len = strlen(s);
    size_t i = hash_bytes(0xcbf29ce484222325ull, s, len) & (t->nslots - 1);
    for (; t->slot[i]; i = (i + 1) & (t->nslots - 1))
        if (strcmp(t->s[t->slot[i] - 1], s) == 0) return t->slot[i] - 1;
    t->s[t->n] = s;
    t->slot[i] = (uint32_t)++t->n;
    return (uint32_t)(t->n - 1);
}

/* A set of nonzero 64-bit ids (locations by PC, functions by entry): true if id was new. */
static bool id_insert(uint64_t *set, size_t nslots, uint64_t id)
{
    size_t i = hash_bytes(0x9e3779b97f4a7c15ull, &id, sizeof id) & (nslots - 1);
    for (; set[i]; i = (i + 1) & (nslots - 1))
        if (set[i] == id) return false;
    set[i] = id;
    return true;
}

static void put_value_type(out_buf *o, unsigned field, uint32_t type, uint32_t unit)
{
    put_head(o, field, uint_len(1, type) + uint_len(2, unit));
    put_uint(o, 1, type);
    put_uint(o, 2, unit);
}

/* scaleHeapSample: the sampled count and bytes scaled to the estimated real ones. */
static void scale_sample(uint64_t count, uint64_t size, int rate, uint64_t *c, uint64_t *b)
{
    if (count == 0 || size == 0) {
        *c = *b = 0;
        return;
    }
    if (rate <= 1) {
        *c = count, *b = size;
        return;
    }
    double avg = (double)size / (double)count, scale = 1 / (1 - exp(-avg / (double)rate));
    *c = (uint64_t)((double)count * scale);
    *b = (uint64_t)((double)size * scale);
}

static size_t packed_len(const uint64_t *v, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += varint_len(v[i]);
    return len;
}

static void put_packed(out_buf *o, unsigned field, const uint64_t *v, size_t n)
{
    put_head(o, field, packed_len(v, n));
    for (size_t i = 0; i < n; i++) put_varint(o, v[i]);
}

/* Location ids are the frames' PCs − 1 (pprof's own convention for return addresses), function
 * ids their synthetic entries. */
static void put_sample(out_buf *o, const prof_rec *p, int rate, uint32_t bytes_key)
{
    uint64_t loc[GM_MPROF_MAX_FRAMES], v[4];
    uint32_t nf = p->stk->nframes;
    for (uint32_t k = 0; k < nf; k++) loc[k] = p->stk->frames[k].pc - 1;
    const gm_mprof_record *r = &p->r;
    scale_sample(r->allocs, r->alloc_bytes, rate, &v[0], &v[1]);
    scale_sample(r->allocs - r->frees, r->alloc_bytes - r->free_bytes, rate, &v[2], &v[3]);
    uint64_t block = r->allocs ? r->alloc_bytes / r->allocs : 0;
    size_t label = uint_len(1, bytes_key) + uint_len(3, block);
    size_t lenloc = packed_len(loc, nf), lenval = packed_len(v, 4);
    put_head(o, 2,
             1 + varint_len(lenloc) + lenloc + 1 + varint_len(lenval) + lenval + 1 +
                 varint_len(label) + label);
    put_packed(o, 1, loc, nf);
    put_packed(o, 2, v, 4);
    put_head(o, 3, label);
    put_uint(o, 1, bytes_key);
    put_uint(o, 3, block);
}

static void put_location(out_buf *o, const gm_mprof_frame *f)
{
    size_t line = uint_len(1, f->entry) + uint_len(2, f->line);
    size_t len = uint_len(1, f->pc - 1) + uint_len(2, 1) + uint_len(3, f->pc - 1) + 1 +
                 varint_len(line) + line;
    put_head(o, 4, len);
    put_uint(o, 1, f->pc - 1);
    put_uint(o, 2, 1); /* the one mapping */
    put_uint(o, 3, f->pc - 1);
    put_head(o, 4, line);
    put_uint(o, 1, f->entry);
    put_uint(o, 2, f->line);
}

static void put_function(out_buf *o, const gm_mprof_frame *f, strtab *st)
{
    uint32_t name = str_index(st, f->func), file = str_index(st, f->file);
    size_t len = uint_len(1, f->entry) + uint_len(2, name) + uint_len(3, name) + uint_len(4, file);
    put_head(o, 5, len);
    put_uint(o, 1, f->entry);
    put_uint(o, 2, name);
    put_uint(o, 3, name);
    put_uint(o, 4, file);
}

/* Memory for the writer's tables, from the OS in one mapping. */
typedef struct proto_mem {
    void *base;
    size_t bytes;
    strtab st;
    uint64_t *locs, *funcs;
    size_t nslots;
} proto_mem;

static int proto_mem_init(proto_mem *pm, size_t nframes)
{
    size_t cap = 2 * nframes + 16, nslots = 16; /* strings: 2 per frame + the fixed ones */
    while (nslots < 2 * cap) nslots *= 2;
    pm->bytes = cap * sizeof(char *) + nslots * sizeof(uint32_t) + 2 * nslots * sizeof(uint64_t);
    pm->base = gm_sys_alloc(pm->bytes, NULL);
    if (!pm->base) return -1;
    char *p = pm->base;
    pm->locs = (uint64_t *)(void *)p;
    pm->funcs = pm->locs + nslots;
    pm->st.s = (const char **)(void *)(pm->funcs + nslots);
    pm->st.slot = (uint32_t *)(void *)(pm->st.s + cap);
    pm->st.nslots = pm->nslots = nslots;
    pm->st.n = 0;
    return 0;
}

static int write_proto(gm_mheap *h, out_buf *o, const prof_rec *a, size_t n)
{
    if (n == 0) return 0; /* an empty profile is the empty message */
    size_t nframes = 0;
    for (size_t i = 0; i < n; i++) nframes += a[i].stk->nframes;
    proto_mem pm;
    if (proto_mem_init(&pm, nframes) != 0) return -1;
    strtab *st = &pm.st;
    str_index(st, "");
    int rate = atomic_load_explicit(&h->prof.rate, memory_order_relaxed);
    static const char *const types[4][2] = {{"alloc_objects", "count"},
                                            {"alloc_space", "bytes"},
                                            {"inuse_objects", "count"},
                                            {"inuse_space", "bytes"}};
    for (int k = 0; k < 4; k++)
        put_value_type(o, 1, str_index(st, types[k][0]), str_index(st, types[k][1]));
    uint32_t bytes_key = str_index(st, "bytes");
    for (size_t i = 0; i < n; i++) put_sample(o, &a[i], rate, bytes_key);
    /* One mapping covering the synthetic PCs, with has_functions: nothing to symbolize. */
    uint32_t map_file = str_index(st, "gomalloc-model");
    size_t mlen =
        uint_len(1, 1) + uint_len(2, MPROF_ENTRY_BASE) +
        uint_len(3, MPROF_ENTRY_BASE + ((uint64_t)h->prof.nfuncs + 2) * MPROF_ENTRY_STRIDE) +
        uint_len(5, map_file) + uint_len(7, 1) + uint_len(8, 1) + uint_len(9, 1);
    put_head(o, 3, mlen);
    put_uint(o, 1, 1);
    put_uint(o, 2, MPROF_ENTRY_BASE);
    put_uint(o, 3, MPROF_ENTRY_BASE + ((uint64_t)h->prof.nfuncs + 2) * MPROF_ENTRY_STRIDE);
    put_uint(o, 5, map_file);
    put_uint(o, 7, 1); /* has_functions */
    put_uint(o, 8, 1); /* has_filenames */
    put_uint(o, 9, 1); /* has_line_numbers */
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < a[i].stk->nframes; k++) {
            const gm_mprof_frame *f = &a[i].stk->frames[k];
            if (id_insert(pm.locs, pm.nslots, f->pc - 1)) put_location(o, f);
            if (id_insert(pm.funcs, pm.nslots, f->entry)) put_function(o, f, st);
        }
    put_value_type(o, 11, str_index(st, "space"), str_index(st, "bytes"));
    put_uint(o, 12, (uint64_t)(rate > 0 ? rate : 0));
    for (size_t i = 0; i < st->n; i++) {
        size_t len = strlen(st->s[i]);
        put_head(o, 6, len);
        put_bytes(o, st->s[i], len);
    }
    gm_sys_free(pm.base, pm.bytes, NULL);
    return 0;
}

/* Flush and release o (NULL: none was mapped) and release a (cap entries). err: an error met
 * before, 0 if none. Returns 0, or -1 with errno. */
static int finish_out(out_buf *o, prof_rec *a, size_t cap, int err)
{
    if (o) {
        out_flush(o);
        if (!err) err = o->err;
        gm_sys_free(o, sizeof *o, NULL);
    }
    if (cap) gm_sys_free(a, cap * sizeof *a, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* The protobuf profile to fd; releases a. 0, or -1 with errno. */
static int write_proto_to(gm_mheap *h, int fd, prof_rec *a, size_t n, size_t cap)
{
    out_buf *o = gm_sys_alloc(sizeof *o, NULL);
    if (!o) return finish_out(NULL, a, cap, ENOMEM);
    o->fd = fd;
    return finish_out(o, a, cap, write_proto(h, o, a, n) != 0 ? ENOMEM : 0);
}

int gm_heap_write_heap_profile(gm_mheap *h, gm_m *m, int fd, int format)
{
    if (format != GM_PROFILE_TEXT && format != GM_PROFILE_PROTO) {
        errno = EINVAL;
        return -1;
    }
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    gm_memstats ms;
    gm_heap_read_memstats(h, m, &ms);
    prof_rec *a;
    size_t n, cap;
    if (collect(h, format == GM_PROFILE_PROTO, &a, &n, &cap) != 0) {
        errno = ENOMEM;
        return -1;
    }
    sort_recs(a, n);
    if (format == GM_PROFILE_PROTO) return write_proto_to(h, fd, a, n, cap);
    gm_mprof_record total = {0};
    for (size_t i = 0; i < n; i++) {
        total.allocs += a[i].r.allocs;
        total.frees += a[i].r.frees;
        total.alloc_bytes += a[i].r.alloc_bytes;
        total.free_bytes += a[i].r.free_bytes;
    }
    int rate = atomic_load_explicit(&h->prof.rate, memory_order_relaxed);
    out_buf *o = gm_sys_alloc(sizeof *o, NULL);
    if (!o) return finish_out(NULL, a, cap, ENOMEM);
    o->fd = fd;
    out_printf(o, "heap profile: %llu: %llu [%llu: %llu] @ heap/%lld\n",
               (unsigned long long)(total.allocs - total.frees),
               (unsigned long long)(total.alloc_bytes - total.free_bytes),
               (unsigned long long)total.allocs, (unsigned long long)total.alloc_bytes,
               2 * (long long)rate);
    for (size_t i = 0; i < n; i++) {
        const gm_mprof_record *r = &a[i].r;
        out_printf(o, "%llu: %llu [%llu: %llu] @", (unsigned long long)(r->allocs - r->frees),
                   (unsigned long long)(r->alloc_bytes - r->free_bytes),
                   (unsigned long long)r->allocs, (unsigned long long)r->alloc_bytes);
        for (uint32_t k = 0; k < a[i].stk->nframes; k++)
            out_printf(o, " %#lx", (unsigned long)a[i].stk->frames[k].pc);
        out_printf(o, "\n");
        print_stack(o, a[i].stk);
    }
    print_memstats(o, &ms);
    return finish_out(o, a, cap, 0);
}
