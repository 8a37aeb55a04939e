/*
 * test_workloads.c — the synthetic generators and the stream tracker (workloads/).
 *
 * For every built-in workload, with its defaults and several thread counts: the stream is
 * exactly --ops long, valid op by op (gm_stream_track_ops accepts all of it), ends with nothing
 * live, uses every thread, and is the same byte for byte for the same seed however it is read
 * in batches, and different for another seed. Then the promises specific to each workload, the
 * tracker's rejections and its peak accounting on hand-made streams, parameter parsing errors,
 * and the minimum --ops of each workload.
 */
#include <stdint.h>
#include <string.h>

#include "gm_test.h"
#include "gm_workload.h"
#include "sizeclasses.h" /* Go's class table (gm_test.h's gm_testing.h has it too) */

static const gm_workload *wl(const char *name)
{
    const gm_workload *w = gm_workload_find(name);
    if (!w) {
        fprintf(stderr, "no workload %s\n", name);
        exit(1);
    }
    return w;
}

static gm_wl_config config(const gm_workload *w, uint64_t ops, unsigned threads, uint64_t seed)
{
    gm_wl_config cfg;
    gm_wl_config_defaults(w, &cfg);
    cfg.ops = ops;
    cfg.threads = threads;
    cfg.seed = seed;
    return cfg;
}

static void set(const gm_workload *w, gm_wl_config *cfg, const char *name, const char *text)
{
    char err[256];
    if (gm_wl_set_param(w, cfg, name, text, err, sizeof err) != 0) {
        fprintf(stderr, "set --%s %s: %s\n", name, text, err);
        exit(1);
    }
}

/* What one pass over a stream saw. */
typedef struct stream_info {
    uint64_t hash, nops, nslots, peak;
    uint64_t count[4];
    uint64_t end_live_objects, end_live_bytes;
    uint64_t threads_seen; /* bit per thread (first 64) */
    uint64_t remote_frees; /* frees on another thread than the allocation */
    uint64_t scan, allocs, small32;
    uint64_t min_size, max_size;
    uint64_t off_class; /* alloc sizes that are not a Go class size */
    bool track_ok;
    char err[256];
} stream_info;

static bool is_class_size(uint64_t size)
{
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++)
        if (gm_class_to_size[c] == size) return true;
    return false;
}

static void account_op(stream_info *si, const gm_op *op, uint16_t *alloc_thread)
{
    si->hash = (si->hash ^ op->size ^ ((uint64_t)op->id << 8) ^ ((uint64_t)op->thread << 40) ^
                ((uint64_t)op->kind << 56) ^ ((uint64_t)op->flags << 60) ^
                ((uint64_t)op->align_log2 << 32)) *
               0x100000001b3ull;
    if (op->thread < 64) si->threads_seen |= 1ull << op->thread;
    if (op->kind == GM_OP_FREE && alloc_thread[op->id] != op->thread) si->remote_frees++;
    if (op->kind != GM_OP_ALLOC) return;
    alloc_thread[op->id] = op->thread;
    si->allocs++;
    si->scan += (op->flags & GM_OPF_SCAN) != 0;
    si->small32 += op->size <= 32;
    si->off_class += !is_class_size(op->size);
    if (op->size < si->min_size) si->min_size = op->size;
    if (op->size > si->max_size) si->max_size = op->size;
}

/* Generates the whole stream in batches of `chunk` ops and tracks it. */
static stream_info run_stream(const gm_workload *w, const gm_wl_config *cfg, size_t chunk)
{
    static gm_op ops[4096];
    stream_info si = {.hash = 0xcbf29ce484222325ull, .min_size = UINT64_MAX, .track_ok = true};
    char err[200];
    gm_wl_gen *g = gm_wl_open(w, cfg, err, sizeof err);
    if (!g) {
        snprintf(si.err, sizeof si.err, "open: %s", err);
        si.track_ok = false;
        return si;
    }
    si.nslots = g->nslots;
    size_t tab = (size_t)g->nslots * sizeof(uint16_t);
    uint16_t *alloc_thread = gm_map(tab, 0);
    gm_stream_track t;
    gm_stream_track_init(&t, g->nslots, cfg->threads);
    size_t n, peak_at;
    while ((n = gm_wl_next(g, ops, chunk)) > 0) {
        for (size_t i = 0; i < n; i++) account_op(&si, &ops[i], alloc_thread);
        if (si.track_ok && gm_stream_track_ops(&t, ops, n, &peak_at) != 0) {
            si.track_ok = false;
            snprintf(si.err, sizeof si.err, "%s", t.err);
        }
    }
    si.nops = t.nops;
    memcpy(si.count, t.count, sizeof si.count);
    si.end_live_objects = t.live_objects;
    si.end_live_bytes = t.live_bytes;
    si.peak = t.peak_live_bytes;
    gm_stream_track_destroy(&t);
    gm_unmap(alloc_thread, tab);
    gm_wl_close(g);
    return si;
}

/* ---- every workload ------------------------------------------------------------------------ */

static void check_stream(const char *name, unsigned threads, const gm_wl_config *cfg,
                         const stream_info *si)
{
    if (!si->track_ok)
        fprintf(stderr, "  %s threads=%u ops=%llu: %s\n", name, threads,
                (unsigned long long)cfg->ops, si->err);
    CHECK(si->track_ok);
    CHECK_EQ(si->nops, cfg->ops);
    CHECK_EQ(si->end_live_objects, 0);
    CHECK_EQ(si->end_live_bytes, 0);
    CHECK_EQ(si->count[GM_OP_ALLOC], si->count[GM_OP_FREE]);
    CHECK(si->count[GM_OP_REALLOC] <= threads);
    CHECK(si->peak > 0);
    uint64_t want = threads >= 64 ? ~0ull : (1ull << threads) - 1;
    if (si->threads_seen != want)
        fprintf(stderr, "  %s threads=%u: threads seen %#llx\n", name, threads,
                (unsigned long long)si->threads_seen);
    CHECK_EQ(si->threads_seen, want);
}

static void test_workload(const gm_workload *w, unsigned threads)
{
    /* Odd, so that the parity realloc is exercised, and above every lane's minimum. */
    uint64_t ops = w->min_ops * threads + 1001;
    gm_wl_config cfg = config(w, ops, threads, 42);
    stream_info a = run_stream(w, &cfg, 4096);
    check_stream(w->name, threads, &cfg, &a);
    stream_info b = run_stream(w, &cfg, 77); /* other batch boundaries, same stream */
    CHECK_EQ(a.hash, b.hash);
    CHECK_EQ(a.nslots, b.nslots);
    cfg.seed = 43;
    stream_info c = run_stream(w, &cfg, 4096);
    check_stream(w->name, threads, &cfg, &c);
    /* The exact sweep draws nothing at random: no seed can change it. */
    bool random = strcmp(w->name, "sizeclass-sweep") != 0;
    if (random && a.hash == c.hash)
        fprintf(stderr, "  %s threads=%u: seeds 42 and 43 give the same stream\n", w->name,
                threads);
    CHECK(!random || a.hash != c.hash);

    if (strcmp(w->name, "producer-consumer") == 0) CHECK_EQ(a.remote_frees, a.count[GM_OP_FREE]);
    if (strcmp(w->name, "tiny") == 0) {
        CHECK(a.min_size >= 1 && a.max_size <= 15);
        CHECK_EQ(a.scan, 0);
    }
    if (strcmp(w->name, "large") == 0) CHECK(a.min_size >= 32 * KiB && a.max_size <= 8 * MiB);
    if (strcmp(w->name, "sizeclass-sweep") == 0) CHECK_EQ(a.off_class, 0);
}

static void test_every_workload(void)
{
    static const unsigned thread_counts[] = {1, 2, 3, 4};
    unsigned n = 0;
    for (const gm_workload *const *w = gm_workloads(); *w; w++, n++) {
        CHECK((*w)->name && (*w)->purpose && (*w)->init && (*w)->next);
        CHECK((*w)->nparams <= GM_WL_MAX_PARAMS);
        CHECK(gm_workload_find((*w)->name) == *w);
        for (unsigned i = 0; i < sizeof thread_counts / sizeof *thread_counts; i++) {
            unsigned t = thread_counts[i];
            if (t < (*w)->min_threads || t > (*w)->max_threads) continue;
            if (strcmp((*w)->name, "producer-consumer") == 0 && t % 2) continue;
            test_workload(*w, t);
        }
    }
    CHECK_EQ(n, 9);
    CHECK(gm_workload_find("no-such-workload") == NULL);
}

/* min_ops is exact for the defaults at the smallest thread count; below it open explains. */
static void test_min_ops(void)
{
    for (const gm_workload *const *w = gm_workloads(); *w; w++) {
        char err[256] = "", want[64];
        unsigned t = (*w)->min_threads ? (*w)->min_threads : 1;
        gm_wl_config cfg = config(*w, (*w)->min_ops, t, 1);
        gm_wl_gen *g = gm_wl_open(*w, &cfg, err, sizeof err);
        if (!g)
            fprintf(stderr, "  %s at min_ops %llu: %s\n", (*w)->name,
                    (unsigned long long)(*w)->min_ops, err);
        CHECK(g != NULL);
        gm_wl_close(g);
        stream_info si = run_stream(*w, &cfg, 4096);
        CHECK(si.track_ok);
        CHECK_EQ(si.end_live_objects, 0);
        cfg.ops = (*w)->min_ops - 1;
        CHECK(gm_wl_open(*w, &cfg, err, sizeof err) == NULL);
        snprintf(want, sizeof want, "--ops >= %llu", (unsigned long long)(*w)->min_ops);
        if (!strstr(err, want)) fprintf(stderr, "  %s: '%s' lacks '%s'\n", (*w)->name, err, want);
        CHECK(strstr(err, want) != NULL);
        /* compare's default length is a valid one */
        CHECK((*w)->default_ops == 0 || (*w)->default_ops >= (*w)->min_ops);
        cfg.ops = (*w)->default_ops;
        g = cfg.ops ? gm_wl_open(*w, &cfg, err, sizeof err) : NULL;
        CHECK(!cfg.ops || g != NULL);
        gm_wl_close(g);
    }
    /* The minimum follows the parameters. */
    const gm_workload *churn = wl("churn");
    char err[256];
    gm_wl_config cfg = config(churn, 400, 1, 1);
    set(churn, &cfg, "live", "100");
    gm_wl_gen *g = gm_wl_open(churn, &cfg, err, sizeof err);
    CHECK(g != NULL);
    gm_wl_close(g);
    cfg.ops = 399;
    CHECK(gm_wl_open(churn, &cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "--ops >= 400") != NULL);
}

/* ---- workload-specific promises ------------------------------------------------------------ */

/* The go-like mix is as documented: about half the objects <= 32 bytes, about half SCAN. */
static void test_golike_mix(void)
{
    const gm_workload *w = wl("churn");
    gm_wl_config cfg = config(w, 200000, 1, 7);
    stream_info si = run_stream(w, &cfg, 4096);
    double small = (double)si.small32 / (double)si.allocs;
    double scan = (double)si.scan / (double)si.allocs;
    CHECK(small > 0.45 && small < 0.55);
    CHECK(scan > 0.45 && scan < 0.57);
    CHECK(si.min_size >= 8 && si.max_size <= 256 * KiB);
    CHECK(si.max_size > 32 * KiB);
    /* Other distributions: no SCAN unless asked for; calloc and alignment flags as asked. */
    set(w, &cfg, "dist", "powerlaw");
    set(w, &cfg, "max", "4K");
    set(w, &cfg, "calloc-fraction", "1");
    set(w, &cfg, "align", "64");
    si = run_stream(w, &cfg, 4096);
    CHECK(si.track_ok);
    CHECK_EQ(si.scan, 0);
    CHECK(si.max_size <= 4096 && si.min_size >= 8);
}

/* Every size a sweep with sizes=within draws is in (previous class, class]; exact visits
 * every class. */
static void test_sweep_sizes(void)
{
    const gm_workload *w = wl("sizeclass-sweep");
    gm_wl_config cfg = config(w, 3 * w->min_ops, 2, 1);
    set(w, &cfg, "mode", "pairs");
    set(w, &cfg, "batch", "3");
    gm_wl_gen *g = gm_wl_open(w, &cfg, NULL, 0);
    CHECK(g != NULL);
    bool seen[GM_NUM_SIZE_CLASSES] = {false};
    gm_op ops[512];
    size_t n;
    while ((n = gm_wl_next(g, ops, 512)) > 0)
        for (size_t i = 0; i < n; i++)
            for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++)
                if (ops[i].kind == GM_OP_ALLOC && ops[i].size == gm_class_to_size[c])
                    seen[c] = true;
    gm_wl_close(g);
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) CHECK(seen[c]);
    set(w, &cfg, "sizes", "within");
    stream_info si = run_stream(w, &cfg, 4096);
    CHECK(si.track_ok);
    CHECK(si.off_class > 0);
    CHECK(si.min_size >= 1 && si.max_size <= 32768);
}

/* larson hands slices between threads: some frees are remote. */
static void test_larson_rotates(void)
{
    const gm_workload *w = wl("larson");
    gm_wl_config cfg = config(w, 40000, 4, 3);
    set(w, &cfg, "live", "100");
    stream_info si = run_stream(w, &cfg, 4096);
    CHECK(si.track_ok);
    CHECK_EQ(si.nslots, 400);
    CHECK(si.remote_frees > 0);
    CHECK(si.remote_frees < si.count[GM_OP_FREE]);
    cfg.threads = 1;
    si = run_stream(w, &cfg, 4096);
    CHECK_EQ(si.remote_frees, 0);
}

/* batch: every order and size distribution gives a valid stream of the right length. */
static void test_batch_orders(void)
{
    static const char *const orders[] = {"lifo", "fifo", "random", "mixed"};
    static const char *const dists[] = {"fixed", "uniform", "loguniform", "powerlaw", "golike"};
    const gm_workload *w = wl("batch");
    for (int i = 0; i < 4; i++) {
        gm_wl_config cfg = config(w, 5001, 2, 9);
        set(w, &cfg, "order", orders[i]);
        set(w, &cfg, "dist", dists[i + 1]);
        set(w, &cfg, "n", "100");
        set(w, &cfg, "max", "2K");
        stream_info si = run_stream(w, &cfg, 4096);
        CHECK(si.track_ok);
        CHECK_EQ(si.nops, 5001);
        CHECK_EQ(si.nslots, 200);
        CHECK_EQ(si.end_live_objects, 0);
        CHECK(si.min_size >= 64 && si.max_size <= 2048);
    }
}

/* fragment: free-fraction 1 and 0 still give valid streams. */
static void test_fragment_extremes(void)
{
    const gm_workload *w = wl("fragment");
    static const char *const fractions[] = {"0", "1", "0.5"};
    for (int i = 0; i < 3; i++) {
        gm_wl_config cfg = config(w, 120001, 3, 5);
        set(w, &cfg, "free-fraction", fractions[i]);
        stream_info si = run_stream(w, &cfg, 4096);
        if (!si.track_ok)
            fprintf(stderr, "  fragment --free-fraction %s: %s\n", fractions[i], si.err);
        CHECK(si.track_ok);
        CHECK_EQ(si.nops, 120001);
        CHECK_EQ(si.end_live_objects, 0);
    }
}

/* ---- the tracker on hand-made streams ------------------------------------------------------ */

static gm_op op_make(uint8_t kind, uint32_t id, uint64_t size, uint16_t thread)
{
    return (gm_op){.kind = kind, .id = id, .size = size, .thread = thread};
}

/* Tracks good[] (all valid), then bad; expects a rejection whose message has every needle. */
static void expect_reject(gm_op bad, const char *n1, const char *n2)
{
    gm_op ops[3] = {op_make(GM_OP_ALLOC, 0, 16, 0), op_make(GM_OP_ALLOC, 1, 16, 1), bad};
    gm_stream_track t;
    size_t peak_at;
    gm_stream_track_init(&t, 4, 2);
    int rc = gm_stream_track_ops(&t, ops, 3, &peak_at);
    bool ok = rc == -1 && strstr(t.err, "op 2:") && strstr(t.err, n1) && strstr(t.err, n2);
    if (!ok) fprintf(stderr, "  rc %d, message '%s', wanted '%s' and '%s'\n", rc, t.err, n1, n2);
    CHECK(ok);
    CHECK_EQ(t.nops, 2); /* the ops before it are tracked */
    gm_stream_track_destroy(&t);
}

static void test_track_rejects(void)
{
    expect_reject(op_make(GM_OP_FREE, 2, 0, 0), "free of id 2", "not live");
    expect_reject(op_make(GM_OP_ALLOC, 1, 8, 0), "alloc of id 1", "already live");
    expect_reject(op_make(GM_OP_ALLOC, 4, 8, 0), "id 4", "nslots 4");
    expect_reject(op_make(GM_OP_FREE, 1, 0, 2), "id 1", "thread 2");
    expect_reject(op_make(GM_OP_REALLOC, 3, 8, 0), "realloc of id 3", "not live");
    expect_reject(op_make(GM_OP_REALLOC, 0, 0, 0), "realloc of id 0", "size 0");
    expect_reject(op_make(4, 0, 0, 0), "unknown kind 4", "id 0");
    expect_reject(op_make(9, 0, 0, 0), "unknown kind 9", "id 0");
    expect_reject(op_make(GM_OP_CALL, 0, 64, 0), "call of id 0", "not a live goroutine");
    expect_reject(op_make(GM_OP_GO, 1, 0, 0), "go of id 1", "already live");
    gm_op misaligned = op_make(GM_OP_ALLOC, 2, 8, 0);
    misaligned.align_log2 = 2;
    expect_reject(misaligned, "id 2", "align_log2 2");

    /* Double free, across two batches: the index is the stream's, not the batch's. */
    gm_stream_track t;
    size_t peak_at;
    gm_stream_track_init(&t, 8, 1);
    gm_op a[2] = {op_make(GM_OP_ALLOC, 7, 1, 0), op_make(GM_OP_FREE, 7, 0, 0)};
    gm_op b[2] = {op_make(GM_OP_ALLOC, 3, 1, 0), op_make(GM_OP_FREE, 7, 0, 0)};
    CHECK_EQ(gm_stream_track_ops(&t, a, 2, &peak_at), 0);
    CHECK_EQ(gm_stream_track_ops(&t, b, 2, &peak_at), -1);
    CHECK(strstr(t.err, "op 3: free of id 7, which is not live") != NULL);
    gm_stream_track_destroy(&t);
}

/* Goroutine ops and non-escaping objects (gm_workload.h). */
static gm_op op_noescape(uint8_t kind, uint32_t id, uint64_t size, uint32_t g)
{
    gm_op op = op_make(kind, id, size, 0);
    op.flags = GM_OPF_NOESCAPE;
    op.g = g;
    return op;
}

static void expect_reject_after(const gm_op *pre, size_t npre, gm_op bad, const char *n1,
                                const char *n2)
{
    gm_op ops[8];
    memcpy(ops, pre, npre * sizeof *pre);
    ops[npre] = bad;
    gm_stream_track t;
    size_t peak_at;
    gm_stream_track_init(&t, 8, 2);
    int rc = gm_stream_track_ops(&t, ops, npre + 1, &peak_at);
    bool ok = rc == -1 && strstr(t.err, n1) && strstr(t.err, n2);
    if (!ok) fprintf(stderr, "  rc %d, message '%s', wanted '%s' and '%s'\n", rc, t.err, n1, n2);
    CHECK(ok);
    CHECK_EQ(t.nops, npre);
    gm_stream_track_destroy(&t);
}

static void test_track_goroutines(void)
{
    gm_op good[] = {
        op_make(GM_OP_GO, 0, 0, 0),       op_make(GM_OP_CALL, 0, 128, 0),
        op_make(GM_OP_ALLOC, 2, 100, 0),  op_noescape(GM_OP_ALLOC, 1, 40, 0),
        op_noescape(GM_OP_FREE, 1, 0, 0), op_make(GM_OP_FREE, 2, 0, 0),
        op_make(GM_OP_RET, 0, 0, 0),      op_make(GM_OP_GOEXIT, 0, 0, 0),
    };
    gm_stream_track t;
    size_t peak_at;
    gm_stream_track_init(&t, 8, 2);
    CHECK_EQ(gm_stream_track_ops(&t, good, 8, &peak_at), 0);
    CHECK_EQ(t.peak_live_bytes, 100); /* the non-escaping object is not heap */
    CHECK_EQ(t.noescape_allocs, 1);
    CHECK_EQ(t.noescape_bytes, 40);
    CHECK_EQ(t.peak_goroutines, 1);
    CHECK_EQ(t.live_goroutines, 0);
    CHECK_EQ(t.count[GM_OP_ALLOC], 2);
    CHECK_EQ(t.count[GM_OP_CALL], 1);
    CHECK_EQ(t.count[GM_OP_GOEXIT], 1);
    CHECK_EQ(good[7].seq, 3); /* GO, CALL, RET came before on id 0 */
    gm_stream_track_destroy(&t);

    gm_op go_call[] = {op_make(GM_OP_GO, 0, 0, 0), op_make(GM_OP_CALL, 0, 64, 0)};
    expect_reject_after(go_call, 1, op_make(GM_OP_RET, 0, 0, 0), "ret of id 0", "no frame");
    expect_reject_after(go_call, 1, op_noescape(GM_OP_ALLOC, 1, 8, 0), "alloc of id 1", "no frame");
    expect_reject_after(go_call, 2, op_make(GM_OP_CALL, 0, 8, 1), "call of id 0", "another thread");
    expect_reject_after(go_call, 2, op_noescape(GM_OP_ALLOC, 1, 8, 3), "alloc of id 1",
                        "not a live goroutine");
    expect_reject_after(go_call, 2, op_make(GM_OP_FREE, 0, 0, 0), "free of id 0", "goroutine");
    expect_reject_after(go_call, 2, op_make(GM_OP_REALLOC, 0, 8, 0), "realloc of id 0",
                        "goroutine");
    gm_op with_obj[] = {op_make(GM_OP_GO, 0, 0, 0), op_make(GM_OP_CALL, 0, 64, 0),
                        op_noescape(GM_OP_ALLOC, 1, 8, 0), op_make(GM_OP_ALLOC, 2, 8, 0)};
    expect_reject_after(with_obj, 4, op_make(GM_OP_FREE, 1, 0, 0), "free of id 1",
                        "without NOESCAPE");
    expect_reject_after(with_obj, 4, op_noescape(GM_OP_FREE, 2, 0, 0), "free of id 2",
                        "heap object");
    expect_reject_after(with_obj, 4, op_make(GM_OP_REALLOC, 1, 8, 0), "realloc of id 1",
                        "non-escaping");
}

/* goroutines: every goroutine is started; --noescape moves allocations from the heap into
 * frames: with 1 only the parity object is on the heap, and the stream is otherwise alike. */
typedef struct gr_info {
    uint64_t allocs, noescape, peak_heap, peak_g, calls, rets, nops;
    bool ok;
} gr_info;

static gr_info goroutine_stream(const char *noescape, uint64_t ops, unsigned threads)
{
    const gm_workload *w = wl("goroutines");
    gm_wl_config cfg = config(w, ops, threads, 3);
    set(w, &cfg, "goroutines", "200");
    set(w, &cfg, "noescape", noescape);
    char err[256];
    gm_wl_gen *g = gm_wl_open(w, &cfg, err, sizeof err);
    gr_info gi = {.ok = g != NULL};
    if (!g) {
        fprintf(stderr, "  goroutines: %s\n", err);
        return gi;
    }
    static gm_op ops_buf[4096];
    gm_stream_track t;
    gm_stream_track_init(&t, g->nslots, threads);
    size_t n, peak_at;
    while ((n = gm_wl_next(g, ops_buf, 4096)) > 0)
        if (gm_stream_track_ops(&t, ops_buf, n, &peak_at) != 0) {
            fprintf(stderr, "  goroutines --noescape %s: %s\n", noescape, t.err);
            gi.ok = false;
            break;
        }
    gi.allocs = t.count[GM_OP_ALLOC];
    gi.noescape = t.noescape_allocs;
    gi.peak_heap = t.peak_live_bytes;
    gi.peak_g = t.peak_goroutines;
    gi.calls = t.count[GM_OP_CALL];
    gi.rets = t.count[GM_OP_RET];
    gi.nops = t.nops;
    gi.ok = gi.ok && t.live_goroutines == 0 && t.live_objects == 0;
    gm_stream_track_destroy(&t);
    gm_wl_close(g);
    return gi;
}

static void test_goroutines_noescape(void)
{
    for (unsigned threads = 1; threads <= 3; threads += 2) {
        gr_info none = goroutine_stream("0", 100001, threads);
        gr_info half = goroutine_stream("0.5", 100001, threads);
        gr_info all = goroutine_stream("1", 100001, threads);
        CHECK(none.ok && half.ok && all.ok);
        CHECK_EQ(none.nops, 100001);
        CHECK_EQ(none.noescape, 0);
        CHECK_EQ(none.peak_g, 200);
        CHECK_EQ(none.calls, none.rets);
        CHECK(none.calls > 10000);
        /* Only the parity allocation of each odd lane escapes. */
        CHECK(all.noescape + threads >= all.allocs && all.noescape > 0);
        CHECK(half.noescape > half.allocs / 3 && half.noescape < 2 * half.allocs / 3);
        CHECK(all.peak_heap < half.peak_heap && half.peak_heap < none.peak_heap);
        CHECK(all.peak_heap <= 32 * 1024); /* a parity object or two */
    }
}

static void test_track_peak(void)
{
    gm_op ops[] = {
        op_make(GM_OP_ALLOC, 0, 100, 0),   /* 100 */
        op_make(GM_OP_ALLOC, 1, 50, 1),    /* 150 */
        op_make(GM_OP_FREE, 0, 0, 1),      /* 50 */
        op_make(GM_OP_ALLOC, 0, 200, 0),   /* 250 */
        op_make(GM_OP_REALLOC, 1, 10, 0),  /* 210 */
        op_make(GM_OP_REALLOC, 0, 300, 1), /* 310: the peak, stream op 5 */
        op_make(GM_OP_FREE, 1, 0, 0),      /* 300 */
        op_make(GM_OP_ALLOC, 2, 0, 0),     /* 300: malloc(0) */
        op_make(GM_OP_FREE, 0, 0, 0),      /* 0 */
        op_make(GM_OP_FREE, 2, 0, 0),
    };
    gm_stream_track t;
    size_t peak_at;
    gm_stream_track_init(&t, 3, 2);
    CHECK_EQ(gm_stream_track_ops(&t, ops, 4, &peak_at), 0);
    CHECK_EQ(peak_at, 3);
    CHECK_EQ(t.peak_live_bytes, 250);
    CHECK_EQ(t.peak_op, 3);
    CHECK_EQ(gm_stream_track_ops(&t, ops + 4, 3, &peak_at), 0);
    CHECK_EQ(peak_at, 1); /* ops[5], index 1 of this batch */
    CHECK_EQ(t.peak_live_bytes, 310);
    CHECK_EQ(t.peak_op, 5);
    CHECK_EQ(t.live_bytes, 300);
    CHECK_EQ(gm_stream_track_ops(&t, ops + 7, 3, &peak_at), 0);
    CHECK_EQ(peak_at, 3); /* none in this batch */
    CHECK_EQ(t.peak_live_bytes, 310);
    CHECK_EQ(t.live_bytes, 0);
    CHECK_EQ(t.live_objects, 0);
    CHECK_EQ(t.nops, 10);
    CHECK_EQ(t.count[GM_OP_ALLOC], 4);
    CHECK_EQ(t.count[GM_OP_FREE], 4);
    CHECK_EQ(t.count[GM_OP_REALLOC], 2);
    /* seq counts the earlier ops on the same id. */
    CHECK_EQ(ops[0].seq, 0);
    CHECK_EQ(ops[2].seq, 1);
    CHECK_EQ(ops[3].seq, 2);
    CHECK_EQ(ops[5].seq, 3);
    CHECK_EQ(ops[8].seq, 4);
    CHECK_EQ(ops[4].seq, 1);
    CHECK_EQ(ops[9].seq, 1);
    gm_stream_track_destroy(&t);
}

/* ---- parameters ---------------------------------------------------------------------------- */

static void expect_param(const char *wname, const char *name, const char *text, int rc,
                         const char *msg)
{
    const gm_workload *w = wl(wname);
    gm_wl_config cfg = config(w, 0, 1, 1);
    char err[512] = "";
    int got = gm_wl_set_param(w, &cfg, name, text, err, sizeof err);
    bool ok = got == rc && strstr(err, msg);
    if (!ok)
        fprintf(stderr, "  --%s %s: rc %d '%s', wanted %d '%s'\n", name, text, got, err, rc, msg);
    CHECK(ok);
}

static void test_params(void)
{
    expect_param("churn", "foo", "1", -1,
                 "unknown parameter --foo for workload churn; valid: --live --dist --min");
    expect_param("churn", "live", "12x", -2, "--live: '12x' is not an integer");
    expect_param("churn", "live", "", -2, "--live: '' is not an integer");
    expect_param("churn", "live", "0", -2, "--live: 0 is out of range [1, 67108864]");
    expect_param("churn", "max", "3Q", -2, "--max: '3Q' is not a size");
    expect_param("churn", "max", "2G", -2, "--max: 2G is out of range [0, 1G]");
    expect_param("churn", "dist", "normal", -2,
                 "--dist: 'normal' is not one of: fixed, uniform, loguniform, powerlaw, golike");
    expect_param("churn", "alpha", "x1", -2, "--alpha: 'x1' is not a number");
    expect_param("fragment", "free-fraction", "1.5", -2,
                 "--free-fraction: 1.5 is out of range [0, 1]");
    expect_param("tiny", "max", "16", -2, "--max: 16 is out of range [1, 15]");

    /* Values: suffixes, canonical formatting, and every default round-trips. */
    const gm_workload *w = wl("large");
    gm_wl_config cfg = config(w, 0, 1, 1);
    char buf[64], err[256];
    CHECK_EQ(gm_wl_set_param(w, &cfg, "--max", "4m", err, sizeof err), 0);
    CHECK_EQ(cfg.values[gm_wl_param_index(w, "max")].i, 4 * MiB);
    gm_wl_format_param(w, &cfg, (unsigned)gm_wl_param_index(w, "max"), buf, sizeof buf);
    CHECK(strcmp(buf, "4M") == 0);
    CHECK_EQ(gm_wl_param_index(w, "nope"), -1);
    for (const gm_workload *const *x = gm_workloads(); *x; x++) {
        gm_wl_config a = config(*x, 0, 1, 1), b = a;
        for (unsigned i = 0; i < (*x)->nparams; i++) {
            gm_wl_format_param(*x, &a, i, buf, sizeof buf);
            if (strcmp(buf, (*x)->params[i].def) != 0)
                fprintf(stderr, "  %s --%s: default '%s' prints as '%s'\n", (*x)->name,
                        (*x)->params[i].name, (*x)->params[i].def, buf);
            CHECK(strcmp(buf, (*x)->params[i].def) == 0);
            CHECK_EQ(gm_wl_set_param(*x, &b, (*x)->params[i].name, buf, err, sizeof err), 0);
            CHECK(memcmp(&a.values[i], &b.values[i], sizeof a.values[i]) == 0);
        }
    }

    uint64_t v;
    CHECK(gm_parse_u64("123", 0, &v) == 0 && v == 123);
    CHECK(gm_parse_u64("1K", 1, &v) == 0 && v == 1024);
    CHECK(gm_parse_u64("3G", 1, &v) == 0 && v == 3ull << 30);
    CHECK(gm_parse_u64("1K", 0, &v) == -1);
    CHECK(gm_parse_u64("", 0, &v) == -1);
    CHECK(gm_parse_u64("-1", 0, &v) == -1);
    CHECK(gm_parse_u64("18446744073709551616", 0, &v) == -1);
    CHECK(gm_parse_u64("17179869184G", 1, &v) == -1);
}

/* Errors that need several parameters, or the thread count, come from gm_wl_open. */
static void expect_open_error(const char *wname, unsigned threads, const char *name,
                              const char *text, const char *msg)
{
    const gm_workload *w = wl(wname);
    gm_wl_config cfg = config(w, 10 * w->min_ops * threads, threads, 1);
    /* "a=1,b=2" sets several parameters */
    char list[128], *save = NULL;
    snprintf(list, sizeof list, "%s", name ? name : "");
    for (char *kv = strtok_r(list, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq) {
            *eq = 0;
            set(w, &cfg, kv, eq + 1);
        } else {
            set(w, &cfg, kv, text);
        }
    }
    char err[256] = "";
    gm_wl_gen *g = gm_wl_open(w, &cfg, err, sizeof err);
    if (g || !strstr(err, msg)) fprintf(stderr, "  %s: got '%s', wanted '%s'\n", wname, err, msg);
    CHECK(g == NULL && strstr(err, msg));
    gm_wl_close(g);
}

static void test_open_errors(void)
{
    expect_open_error("churn", 1, "min=300,max=100", NULL,
                      "--min (300) is larger than --max (100)");
    expect_open_error("churn", 1, "align", "24", "--align: 24 is not 0 or a power of two");
    expect_open_error("churn", 1, "scan-fraction", "-0.5", "--scan-fraction: -0.5 must be -1");
    expect_open_error("churn", 1, "min=300K,max=1G", NULL, "golike covers 8..262144 bytes");
    expect_open_error("fragment", 1, "min-a=70", NULL, "--min-a (70) is larger than --max-a (64)");
    expect_open_error("producer-consumer", 1, NULL, NULL,
                      "workload producer-consumer needs --threads in [2, 1024]; got 1");
    expect_open_error("producer-consumer", 3, NULL, NULL, "--threads must be even (got 3)");
    expect_open_error("large", 64, NULL, NULL, "--live 32 is smaller than --threads 64");
}

int main(void)
{
    test_every_workload();
    test_min_ops();
    test_golike_mix();
    test_sweep_sizes();
    test_larson_rotates();
    test_batch_orders();
    test_fragment_extremes();
    test_track_rejects();
    test_track_goroutines();
    test_goroutines_noescape();
    test_track_peak();
    test_params();
    test_open_errors();
    return gm_test_finish("test_workloads");
}
