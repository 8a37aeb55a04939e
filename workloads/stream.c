/*
 * stream.c — gm_stream_track: the one check every op of every run passes before the driver
 * executes it (see gm_workload.h). It is on the measured process's path, so the loop is a few
 * loads and stores per op; the messages are built only when something is wrong.
 *
 * Invariants after each tracked op: live_objects == number of ids with live[id] == 1;
 * live_bytes == sum of size[id] over them; peak_live_bytes >= live_bytes;
 * count[ALLOC] - count[FREE] == live_objects.
 */
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
    return kind == GM_OP_ALLOC ? "alloc" : kind == GM_OP_FREE ? "free" : "realloc";
}

/* Describes what is wrong with op (whose stream index is index) in t->err; the cold path. */
static __attribute__((noinline, cold)) int track_fail(gm_stream_track *t, const gm_op *op,
                                                      uint64_t index)
{
    unsigned long long ix = (unsigned long long)index;
    unsigned kind = op->kind;
    if (kind < GM_OP_ALLOC || kind > GM_OP_REALLOC)
        snprintf(t->err, sizeof t->err, "op %llu: unknown kind %u (id %u)", ix, kind, op->id);
    else if (op->id >= t->nslots)
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u, which is not below nslots %u", ix,
                 kind_name(kind), op->id, t->nslots);
    else if (op->thread >= t->threads)
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u on thread %u, but the run has %u", ix,
                 kind_name(kind), op->id, op->thread, t->threads);
    else if (kind == GM_OP_ALLOC && t->live[op->id])
        snprintf(t->err, sizeof t->err, "op %llu: alloc of id %u, which is already live", ix,
                 op->id);
    else if (kind != GM_OP_ALLOC && !t->live[op->id])
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u, which is not live", ix,
                 kind_name(kind), op->id);
    else if (kind == GM_OP_REALLOC && op->size == 0)
        snprintf(t->err, sizeof t->err, "op %llu: realloc of id %u to size 0", ix, op->id);
    else if (op->flags & ~(GM_OPF_SCAN | GM_OPF_ZERO))
        snprintf(t->err, sizeof t->err, "op %llu: %s of id %u has unknown flags %#x", ix,
                 kind_name(kind), op->id, op->flags);
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
            rc = track_fail(t, op, base + i);
            break;
        }
        uint8_t live = t->live[id];
        switch (op->kind) {
        case GM_OP_ALLOC:
            if (__builtin_expect(live, 0)) goto bad;
            t->live[id] = 1;
            t->size[id] = op->size;
            live_bytes += op->size;
            live_objects++;
            break;
        case GM_OP_FREE:
            if (__builtin_expect(!live, 0)) goto bad;
            t->live[id] = 0;
            live_bytes -= t->size[id];
            live_objects--;
            break;
        case GM_OP_REALLOC:
            if (__builtin_expect(!live || op->size == 0, 0)) goto bad;
            live_bytes += op->size - t->size[id];
            t->size[id] = op->size;
            break;
        default:
            goto bad;
        }
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
