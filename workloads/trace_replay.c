/*
 * trace_replay.c — a recorded trace as a gm_op stream (gm_trace_gen_open, gm_trace.h).
 *
 * The stream is the trace's records in the trace's global order, minus markers and minus
 * frees/reallocs of objects that are not live (skipped and counted; in strict mode the first
 * one ends the stream with an error). The driver gives each thread its own ops and orders ops
 * on the same id across threads by gm_op.seq, so the only cross-thread ordering in a replay is
 * the one the trace's data has: an object is freed after it was allocated.
 *
 * Ids. Trace objects are numbered by allocation (unbounded); gm_op ids are slots in
 * [0, nslots) with nslots = the trace's peak of live objects, mapped through a hash map sized
 * to the live set. Slot reuse must not invent ordering: a slot freed by thread t goes on t's
 * own free list, and t's next allocation takes from that list first (then a never-used slot).
 * Reusing a slot t freed itself puts the new allocation after the free in t's own program
 * order, which the driver keeps anyway; a slot freed by another thread u would make t's
 * allocation wait for u's free, a dependency the trace does not have.
 *
 * Invariants: every live object maps to one slot and no two to the same; a slot is on at most
 * one free list and then maps to no object; fresh <= nslots; slots on free lists + live
 * objects == fresh.
 *
 * Memory: the reader's bounded buffers, the id→slot map (proportional to the live set), and
 * per slot a free-list link mapped lazily (pages are touched only as slots are used).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gm_arena.h"
#include "trace_internal.h"

#define NO_SLOT   UINT32_MAX
#define MAX_SLOTS (UINT32_MAX / 2)

typedef struct replay {
    gm_trace_reader *r;
    bool strict;
    gm_trace_map ids; /* trace object id → slot */
    /* Free slots sit on two doubly linked lists: their freeing thread's (LIFO: a thread
     * reuses what it freed last) and the global age list (FIFO: a steal takes the slot freed
     * longest ago). link[4 * s + k]: thread prev/next (k = 0, 1), age prev/next (2, 3). */
    uint32_t *link;
    uint32_t *owner; /* per free slot: the thread whose list holds it */
    uint32_t *head;  /* per thread: its free list, NO_SLOT when empty */
    uint32_t age_head, age_tail;
    uint32_t fresh; /* slots [0, fresh) have been used */
    uint64_t replayed, invalid, marks, steals;
    uint64_t mapped; /* link, owner, head and the id map */
    bool failed;
    char err[384];
} replay;

static int trace_wl_init(gm_wl_gen *g, char *err, size_t errlen)
{
    (void)g;
    snprintf(err, errlen, "a trace is opened with gm_trace_gen_open (gmbench run --trace FILE)");
    return -1;
}

static size_t trace_wl_next(gm_wl_gen *g, gm_op *ops, size_t max);
static void trace_wl_fini(gm_wl_gen *g);

static const gm_workload trace_workload = {
    .name = "trace",
    .purpose = "Replays a recorded trace (TRACE_FORMAT.md): each recorded thread on its own "
               "thread, the trace's global order, cross-thread frees after their allocations.",
    .min_threads = 1,
    .max_threads = GM_WL_MAX_THREADS,
    .init = trace_wl_init,
    .next = trace_wl_next,
    .fini = trace_wl_fini,
};

static bool replay_fail(replay *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool replay_fail(replay *p, const char *fmt, ...)
{
    if (p->failed) return false;
    p->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return false;
}

/* The record just read, for messages: its index and where it is. */
static bool rec_fail(replay *p, const gm_trace_rec *rec, const char *why)
{
    char where[96];
    gm_trace_last_record_at(p->r, where, sizeof where);
    return replay_fail(p, "%s: record %llu: %s of object %llu on thread %u: %s", where,
                       (unsigned long long)(p->replayed + p->invalid + p->marks),
                       rec->kind == GM_TR_FREE ? "free" : "realloc", (unsigned long long)rec->obj,
                       rec->thread, why);
}

/* Removes free slot s from both lists. */
static void slot_unlink(replay *p, uint32_t s)
{
    uint32_t *l = p->link + 4 * (size_t)s;
    if (l[0] != NO_SLOT)
        p->link[4 * (size_t)l[0] + 1] = l[1];
    else
        p->head[p->owner[s]] = l[1];
    if (l[1] != NO_SLOT) p->link[4 * (size_t)l[1]] = l[0];
    if (l[2] != NO_SLOT)
        p->link[4 * (size_t)l[2] + 3] = l[3];
    else
        p->age_head = l[3];
    if (l[3] != NO_SLOT)
        p->link[4 * (size_t)l[3] + 2] = l[2];
    else
        p->age_tail = l[2];
}

static void slot_put(replay *p, uint32_t s, uint32_t thread)
{
    uint32_t *l = p->link + 4 * (size_t)s, h = p->head[thread];
    l[0] = NO_SLOT;
    l[1] = h;
    if (h != NO_SLOT) p->link[4 * (size_t)h] = s;
    p->head[thread] = s;
    p->owner[s] = thread;
    l[2] = p->age_tail;
    l[3] = NO_SLOT;
    if (p->age_tail != NO_SLOT)
        p->link[4 * (size_t)p->age_tail + 3] = s;
    else
        p->age_head = s;
    p->age_tail = s;
}

/* A slot for an allocation by thread: one it freed itself, else a never-used one, else (the
 * table is full) the slot freed longest ago by another thread: a steal, the one case where
 * slot reuse orders this allocation after another thread's free. */
static uint32_t slot_take(replay *p, gm_wl_gen *g, uint32_t thread)
{
    uint32_t s = p->head[thread];
    if (s == NO_SLOT && p->fresh < g->nslots) return p->fresh++;
    if (s == NO_SLOT && (s = p->age_head) != NO_SLOT) p->steals++;
    if (s != NO_SLOT) slot_unlink(p, s);
    return s;
}

/* Turns one record into an op; false when it emits none (a marker, a skipped invalid op, an
 * error). */
static bool replay_rec(replay *p, gm_wl_gen *g, const gm_trace_rec *rec, gm_op *op)
{
    uint64_t slot;
    if (rec->kind == GM_TR_MARK) return p->marks++, false;
    if (rec->thread >= g->cfg.threads)
        return replay_fail(p, "record %llu: thread %u, but the trace's summary has %u threads",
                           (unsigned long long)(p->replayed + p->invalid + p->marks), rec->thread,
                           g->cfg.threads);
    memset(op, 0, sizeof *op);
    if (rec->kind == GM_TR_ALLOC) {
        if ((slot = slot_take(p, g, rec->thread)) == NO_SLOT)
            return replay_fail(p,
                               "more objects live at once than the trace's peak of %u "
                               "(its summary is wrong)",
                               g->nslots);
        gm_trace_map_put(&p->ids, rec->obj, slot);
    } else if (rec->kind == GM_TR_FREE ? !gm_trace_map_del(&p->ids, rec->obj, &slot)
                                       : !gm_trace_map_get(&p->ids, rec->obj, &slot)) {
        if (p->strict) return rec_fail(p, rec, "the object is not live (strict replay)");
        return p->invalid++, false;
    } else if (rec->kind == GM_TR_FREE) {
        slot_put(p, (uint32_t)slot, rec->thread);
    }
    op->kind = rec->kind; /* GM_TR_ALLOC/FREE/REALLOC == GM_OP_ALLOC/FREE/REALLOC */
    op->id = (uint32_t)slot;
    op->thread = (uint16_t)rec->thread;
    op->size = rec->size;
    op->flags = rec->flags;
    op->align_log2 = rec->align_log2;
    op->site = rec->site;
    p->replayed++;
    return true;
}
_Static_assert((int)GM_TR_ALLOC == (int)GM_OP_ALLOC && (int)GM_TR_FREE == (int)GM_OP_FREE &&
                   (int)GM_TR_REALLOC == (int)GM_OP_REALLOC,
               "trace kinds are op kinds");

/* After the last op the summary promised: the rest of the trace must hold no op (only markers
 * and skipped records) and end cleanly, or the summary lied. */
static void replay_drain(replay *p, gm_wl_gen *g)
{
    gm_trace_rec rec;
    gm_op op;
    int e;
    while (!p->failed && (e = gm_trace_next(p->r, &rec)) == 1)
        if (replay_rec(p, g, &rec, &op))
            replay_fail(p, "record %llu: the trace holds more ops than its summary's %llu",
                        (unsigned long long)(p->replayed + p->invalid + p->marks - 1),
                        (unsigned long long)g->cfg.ops);
    if (!p->failed && e < 0) replay_fail(p, "%s", gm_trace_error(p->r));
}

static size_t trace_wl_next(gm_wl_gen *g, gm_op *ops, size_t max)
{
    replay *p = g->priv;
    size_t n = 0;
    gm_trace_rec rec;
    while (n < max && !p->failed) {
        int e = gm_trace_next(p->r, &rec);
        if (e < 0) replay_fail(p, "%s", gm_trace_error(p->r));
        if (e == 0)
            replay_fail(p, "the trace ended after %llu ops, its summary says %llu",
                        (unsigned long long)(g->emitted + n), (unsigned long long)g->cfg.ops);
        if (e == 1 && replay_rec(p, g, &rec, &ops[n])) n++;
    }
    if (!p->failed && g->emitted + n == g->cfg.ops) replay_drain(p, g);
    return n;
}

static void trace_wl_fini(gm_wl_gen *g)
{
    replay *p = g->priv;
    if (!p) return;
    gm_trace_close(p->r);
    gm_trace_map_destroy(&p->ids);
    gm_unmap(p->link, (size_t)g->nslots * 4 * sizeof *p->link);
    gm_unmap(p->owner, (size_t)g->nslots * sizeof *p->owner);
    gm_unmap(p->head, (size_t)g->cfg.threads * sizeof *p->head);
}

/* The summary replay sizes itself by: the patched header's, or a scan's. */
static int replay_summary(const char *path, gm_trace_reader *r, gm_trace_summary *s, char *err,
                          size_t errlen)
{
    bool complete;
    *s = *gm_trace_header_summary(r, &complete);
    if (!complete) {
        gm_trace_stats st;
        if (gm_trace_scan(path, &st, err, errlen) != 0) return -1;
        *s = st.summary;
        return 0;
    }
    /* A patched header is believed only as far as the file can hold it: each record takes at
     * least 2 bytes uncompressed. (A lie within that is caught during the replay.) */
    struct stat sb;
    if (!gm_trace_get_meta(r)->compress && stat(path, &sb) == 0 &&
        s->records > (uint64_t)sb.st_size / 2) {
        gm_trace_seterr(err, errlen,
                        "offset 16: header claims %llu records, more than a file of "
                        "%lld bytes can hold",
                        (unsigned long long)s->records, (long long)sb.st_size);
        return -1;
    }
    return 0;
}

static int replay_check(const char *path, const gm_trace_summary *s, char *err, size_t errlen)
{
    if (s->threads > GM_WL_MAX_THREADS) {
        gm_trace_seterr(err, errlen, "%s: %u threads; replay runs at most %u", path, s->threads,
                        GM_WL_MAX_THREADS);
        return -1;
    }
    if (s->peak_live_objects > MAX_SLOTS) {
        gm_trace_seterr(err, errlen, "%s: %llu objects live at once; replay supports %u", path,
                        (unsigned long long)s->peak_live_objects, MAX_SLOTS);
        return -1;
    }
    return 0;
}

static void replay_init(replay *p, gm_wl_gen *g)
{
    gm_trace_map_init(&p->ids, &p->mapped);
    p->link = gm_map((size_t)g->nslots * 4 * sizeof *p->link, 0);
    p->owner = gm_map((size_t)g->nslots * sizeof *p->owner, 0);
    p->head = gm_map((size_t)g->cfg.threads * sizeof *p->head, 0);
    p->mapped += (size_t)g->nslots * 5 * sizeof *p->link + (size_t)g->cfg.threads * sizeof *p->head;
    p->age_head = p->age_tail = NO_SLOT;
    memset(p->head, 0xff, (size_t)g->cfg.threads * sizeof *p->head); /* NO_SLOT */
}

gm_wl_gen *gm_trace_gen_open(const char *path, bool strict, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    gm_trace_reader *r = gm_trace_open(path, err, errlen);
    gm_trace_summary s;
    if (!r) return NULL;
    if (replay_summary(path, r, &s, err, errlen) != 0 || replay_check(path, &s, err, errlen) != 0) {
        gm_trace_close(r);
        return NULL;
    }
    gm_arena *a = gm_arena_create();
    gm_wl_gen *g = gm_arena_alloc(a, sizeof *g);
    replay *p = gm_arena_alloc(a, sizeof *p);
    g->wl = &trace_workload;
    g->arena = a;
    g->priv = p;
    g->cfg.threads = s.threads ? s.threads : 1;
    g->cfg.ops = s.count[GM_TR_ALLOC] + s.count[GM_TR_FREE] + s.count[GM_TR_REALLOC] - s.invalid;
    /* One thread reuses its own slots and needs exactly the peak. With several, a thread's
     * free slots are not another's to take (that would order the taker after the freer), so
     * twice the peak leaves room before a steal (producer-consumer: one thread allocates,
     * another frees; without steals it would need a new slot for every allocation). */
    uint64_t slots = s.peak_live_objects * (g->cfg.threads > 1 ? 2 : 1);
    g->nslots = slots ? (uint32_t)slots : 1;
    p->r = r;
    p->strict = strict;
    replay_init(p, g);
    return g;
}

const char *gm_trace_gen_error(const gm_wl_gen *g)
{
    const replay *p = g->priv;
    return p->failed ? p->err : NULL;
}

void gm_trace_gen_counts(const gm_wl_gen *g, uint64_t *replayed, uint64_t *skipped_invalid,
                         uint64_t *skipped_marks)
{
    const replay *p = g->priv;
    if (replayed) *replayed = p->replayed;
    if (skipped_invalid) *skipped_invalid = p->invalid;
    if (skipped_marks) *skipped_marks = p->marks;
}

uint64_t gm_trace_gen_steals(const gm_wl_gen *g)
{
    const replay *p = g->priv;
    return p->steals;
}

uint64_t gm_trace_gen_mapped_bytes(const gm_wl_gen *g)
{
    const replay *p = g->priv;
    return p->mapped + gm_trace_mapped_bytes(p->r);
}
