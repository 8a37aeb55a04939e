/*
 * stream.c — gm_stream_track: the one check every op of every run passes before the driver
 * executes it (see gm_workload.h). It is on the measured process's path, so the loop is a few
 * loads and stores per op; the messages are built only when something is wrong.
 *
 * Invariants after each tracked op: live_objects == number of ids with live[id] == HEAP;
 * live_bytes == sum of size[id] over them; peak_live_bytes >= live_bytes;
 * live_goroutines == number of ids with live[id] == GOROUTINE, and for each, size[id] holds
 * its frame count (low 48 bits) and thread (high 16); count[ALLOC] - count[FREE] ==
 * live_objects + live noescape objects.
 *
 * Goroutine ops (gm_workload.h): GO/GOEXIT make an id a goroutine and dead again; CALL/RET/
 * GOEXIT and NOESCAPE allocations must run on the goroutine's thread (the driver keeps a
 * goroutine on its thread, as an M runs a G); RET and NOESCAPE need a frame; the FREE of an
 * object carries NOESCAPE exactly when its ALLOC did. That a non-escaping object is freed
 * before its frame returns is the generator's promise; the tracker does not count per frame.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gm_workload.h"

void gm_stream_track_init(gm_stream_track *t, uint32_t nslots, unsigned threads)
{
    memset(t, 0, sizeof *t);
    t->nslots = nslots;
    t->threads = threads;
    /* Populated now: the page faults of these tables must not land in the measurement. */
    t->seq = gm_map((size_t)nslots * sizeof *t->seq, 1);
    t->size = gm_map((size_t)nslots * sizeof *t->size, 1);
    t->live = gm_map((size_t)nslots * sizeof *t->live, 1);
}

void gm_stream_track_destroy(gm_stream_track *t)
{
    gm_unmap(t->seq, (size_t)t->nslots * sizeof *t->seq);
    gm_unmap(t->size, (size_t)t->nslots * sizeof *t->size);
    gm_unmap(t->live, (size_t)t->nslots * sizeof *t->live);
    t->seq = NULL;
    t->size = NULL;
    t->live = NULL;
}

static const char *kind_name(unsigned kind)
{
    static const char *const names[GM_OP_NKINDS] = {"?",  "alloc",  "free", "realloc", "?",
                                                    "go", "goexit", "call", "ret"};
    return kind < GM_OP_NKINDS ? names[kind] : "?";
}

#define GM_KNOWN_FLAGS (GM_OPF_SCAN | GM_OPF_ZERO | GM_OPF_NOESCAPE)
#define G_THREAD_SHIFT 48
#define G_FRAMES_MASK  ((UINT64_C(1) << G_THREAD_SHIFT) - 1)

/* What is wrong with a goroutine op or a non-escaping alloc/free, or NULL. */
static const char *goroutine_error(const gm_stream_track *t, const gm_op *op)
{
    uint8_t live = t->live[op->id];
    bool noescape = op->flags & GM_OPF_NOESCAPE;
    switch (op->kind) {
    case GM_OP_GO:
        return live ? "the id is already live" : NULL;
    case GM_OP_GOEXIT:
    case GM_OP_CALL:
    case GM_OP_RET:
        if (live != GM_TRACK_GOROUTINE) return "the id is not a live goroutine";
        if (t->size[op->id] >> G_THREAD_SHIFT != op->thread)
            return "the goroutine was started on another thread";
        if (op->kind == GM_OP_RET && !(t->size[op->id] & G_FRAMES_MASK))
            return "the goroutine has no frame";
        return NULL;
    case GM_OP_ALLOC:
        if (!noescape) return NULL;
        if (op->g >= t->nslots || t->live[op->g] != GM_TRACK_GOROUTINE)
            return "non-escaping, but g is not a live goroutine";
        if (t->size[op->g] >> G_THREAD_SHIFT != op->thread)
            return "non-escaping, on another thread than its goroutine";
        if (!(t->size[op->g] & G_FRAMES_MASK)) return "non-escaping, but g has no frame";
        if (op->align_log2) return "non-escaping with an alignment";
        return NULL;
    case GM_OP_FREE:
        if (live == GM_TRACK_NOESCAPE && !noescape)
            return "free of a non-escaping object without NOESCAPE";
        if (live == GM_TRACK_HEAP && noescape) return "NOESCAPE free of a heap object";
        return NULL;
    case GM_OP_REALLOC:
        return live == GM_TRACK_NOESCAPE || noescape ? "realloc of a non-escaping object" : NULL;
    default:
        return NULL;
    }
}

/* Describes what is wrong with op (whose stream index is index) in t->err; the cold path. */
static __attribute__((noinline, cold)) int track_fail(gm_stream_track *t, const gm_op *op,
                                                      uint64_t index)
{
    unsigned long long ix = (unsigned long long)index;
    unsigned kind = op->kind;
    const char *gerr = NULL;
    if (kind < GM_OP_ALLOC || kind >= GM_OP_NKINDS || kind == 4)
        snprintf(t->err, sizeof t->err, "op %llu: unknown kind %u (id %u)", ix, kind, op->id);
    else if (op->id >= t->nslots)
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u, which is not below nslots %u", ix,
                 kind_name(kind), op->id, t->nslots);
    else if (op->thread >= t->threads)
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u on thread %u, but the run has %u", ix,
                 kind_name(kind), op->id, op->thread, t->threads);
    else if (op->flags & ~GM_KNOWN_FLAGS)
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u has unknown flags %#x", ix,
                 kind_name(kind), op->id, op->flags);
    else if ((gerr = goroutine_error(t, op)))
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u: %s", ix, kind_name(kind), op->id,
                 gerr);
    else if (kind == GM_OP_ALLOC && t->live[op->id])
        snprintf(t->err, sizeof t->err, "op %llu: alloc of id %u, which is already live", ix,
                 op->id);
    else if (kind != GM_OP_ALLOC && !t->live[op->id])
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u, which is not live", ix,
                 kind_name(kind), op->id);
    else if (kind == GM_OP_REALLOC && op->size == 0)
        snprintf(t->err, sizeof t->err, "op %llu: realloc of id %u to size 0", ix, op->id);
    else if ((kind == GM_OP_FREE || kind == GM_OP_REALLOC) && t->live[op->id] == GM_TRACK_GOROUTINE)
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u, which is a goroutine", ix,
                 kind_name(kind), op->id);
    else
        snprintf(t->err, sizeof t->err,
                 "op %llu: %s of id %u has align_log2 %u (must be 0 or 3..%d)", ix, kind_name(kind),
                 op->id, op->align_log2, GM_OP_MAX_ALIGN_LOG2);
    return -1;
}

static inline bool align_ok(unsigned a)
{
    return a == 0 || (a >= 3 && a <= GM_OP_MAX_ALIGN_LOG2);
}

/* The goroutine ops and non-escaping objects: the slow half of the loop. 0 or -1. */
static int track_goroutine_op(gm_stream_track *t, const gm_op *op)
{
    uint32_t id = op->id;
    if (goroutine_error(t, op)) return -1;
    switch (op->kind) {
    case GM_OP_GO:
        t->live[id] = GM_TRACK_GOROUTINE;
        t->size[id] = (uint64_t)op->thread << G_THREAD_SHIFT;
        if (++t->live_goroutines > t->peak_goroutines) t->peak_goroutines = t->live_goroutines;
        return 0;
    case GM_OP_GOEXIT:
        t->live[id] = GM_TRACK_DEAD;
        t->live_goroutines--;
        return 0;
    case GM_OP_CALL:
        t->size[id]++;
        return 0;
    case GM_OP_RET:
        t->size[id]--;
        return 0;
    case GM_OP_ALLOC: /* NOESCAPE */
        if (t->live[id]) return -1;
        t->live[id] = GM_TRACK_NOESCAPE;
        t->size[id] = op->size;
        t->noescape_allocs++;
        t->noescape_bytes += op->size;
        return 0;
    case GM_OP_FREE: /* NOESCAPE */
        if (t->live[id] != GM_TRACK_NOESCAPE) return -1;
        t->live[id] = GM_TRACK_DEAD;
        return 0;
    default:
        return -1;
    }
}

int gm_stream_track_ops(gm_stream_track *t, gm_op *ops, size_t n, size_t *new_peak_at)
{
    uint64_t live_bytes = t->live_bytes, live_objects = t->live_objects;
    uint64_t peak = t->peak_live_bytes, base = t->nops;
    size_t peak_at = n;
    int rc = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        gm_op *op = &ops[i];
        uint32_t id = op->id;
        if (__builtin_expect(id >= t->nslots || op->thread >= t->threads ||
                                 (op->flags & ~(GM_OPF_SCAN | GM_OPF_ZERO)) ||
                                 !align_ok(op->align_log2),
                             0)) {
            if (id < t->nslots && op->thread < t->threads && !(op->flags & ~GM_KNOWN_FLAGS) &&
                align_ok(op->align_log2) && track_goroutine_op(t, op) == 0)
                goto tracked; /* a non-escaping object */
            rc = track_fail(t, op, base + i);
            break;
        }
        uint8_t live = t->live[id];
        switch (op->kind) {
        case GM_OP_ALLOC:
            if (__builtin_expect(live, 0)) goto bad;
            t->live[id] = GM_TRACK_HEAP;
            t->size[id] = op->size;
            live_bytes += op->size;
            live_objects++;
            break;
        case GM_OP_FREE:
            if (__builtin_expect(live != GM_TRACK_HEAP, 0)) goto bad;
            t->live[id] = GM_TRACK_DEAD;
            live_bytes -= t->size[id];
            live_objects--;
            break;
        case GM_OP_REALLOC:
            if (__builtin_expect(live != GM_TRACK_HEAP || op->size == 0, 0)) goto bad;
            live_bytes += op->size - t->size[id];
            t->size[id] = op->size;
            break;
        default:
            if (op->kind >= GM_OP_NKINDS || track_goroutine_op(t, op) != 0) goto bad;
            break;
        }
    tracked:
        op->seq = t->seq[id]++;
        t->count[op->kind]++;
        if (live_bytes > peak) {
            peak = live_bytes;
            peak_at = i;
        }
        continue;
    bad:
        rc = track_fail(t, op, base + i);
        break;
    }
    t->nops = base + i;
    t->live_bytes = live_bytes;
    t->live_objects = live_objects;
    if (peak_at != n) {
        t->peak_live_bytes = peak;
        t->peak_op = base + peak_at;
    }
    *new_peak_at = peak_at;
    return rc;
}
