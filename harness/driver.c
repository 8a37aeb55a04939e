/*
 * driver.c — one measurement in this process (see driver.h for the execution model).
 *
 * The hot loop is exec_op: look up the id's slot, (threaded runs) wait for the id's turn, call
 * the allocator, optionally time the call, touch the memory, publish. Everything else (stream
 * validation, partitioning into per-thread lists, RSS reads, statistics) happens between the
 * timed phases. The cost of the loop itself is what `gmbench run --allocator bump` measures.
 */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "env.h"
#include "gm_trace.h"
#include "histogram.h"

/* Ops per batch: large enough that the barrier between batches (tens of µs) is lost in the
 * milliseconds of work, small enough that the buffers stay a few MiB. */
enum { BATCH = 1 << 18, RSS_SAMPLES_MAX = 1 << 14, PAGE = 4096 };

enum { K_MALLOC, K_FREE, K_REALLOC, NKINDS };
static const char *const kind_name[NKINDS] = {"malloc", "free", "realloc"};

/* The id → object table. seq is the number of ops done on the id: an op with seq s may run
 * once seq == s (threaded runs only; see gm_workload.h). */
typedef struct slot {
    void *ptr;
    uint64_t size;
    _Atomic uint32_t seq;
} slot;

typedef struct run run;

typedef struct worker {
    run *r;
    pthread_t tid;
    uint32_t *idx; /* this phase: indices into r->ops, in stream order */
    size_t n;
    int64_t live_local;   /* requested bytes this thread allocated minus freed; the sum over
                                threads is the live total (cross-thread frees go negative) */
    _Atomic int64_t live; /* live_local, published for the sampler */
    uint64_t countdown;   /* ops until the next timed one */
    uint64_t rng;
    uint64_t cpu_ns; /* CPU time of this thread inside execution phases */
    void *cur_g;     /* goroutine ops: the goroutine running on this thread (exec_go_op) */
    int64_t stack_bytes, stack_peak; /* Σ stack sizes of this thread's goroutines */
    gm_hist *hist[NKINDS];
    char fail[192]; /* why this worker stopped early, "" if it did not */
} __attribute__((aligned(64))) worker;

typedef struct rss_samples {
    double *t_s;
    uint64_t *rss, *live;
    size_t n;
    unsigned every; /* keep one tick in `every` (doubles when the buffer fills) */
    unsigned tick;
} rss_samples;

struct run {
    const gm_run_config *cfg;
    const gm_backend *b;
    const gm_go_ops *go; /* the backend's goroutines, or the driver's green threads */
    gm_clock clock;
    uint64_t overhead_ticks;
    gm_wl_gen *gen;
    gm_stream_track track;
    gm_op *ops;
    slot *slots;
    unsigned nthreads;
    worker *w;
    pthread_barrier_t start, done;
    _Atomic int stop;   /* workers leave at the next start barrier */
    _Atomic int failed; /* a worker failed: everyone abandons the phase */
    int statm_fd;
    long pagesize;
    uint64_t t0_ns;
    pthread_t sampler;
    _Atomic int sampler_stop;
    rss_samples samples;
    uint64_t exec_ns;
    uint64_t batch_base;     /* stream index of ops[0] */
    _Atomic uint64_t ticket; /* strict replay: stream index of the next op allowed to run */
    uint64_t baseline_rss, rss_at_peak, final_rss;
    gm_json peak_stats;
    bool sites; /* pass each op's site to the allocator (heap profiling of a trace) */
};

/* ---- small helpers ---- */

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resident bytes from /proc/self/statm (pread: no stdio, no allocation). */
static uint64_t read_rss(const run *r)
{
    char buf[128];
    ssize_t n = pread(r->statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *sp = strchr(buf, ' ');
    return sp ? strtoull(sp + 1, NULL, 10) * (uint64_t)r->pagesize : 0;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Gaps between timed ops are uniform in [1, 2P-1] (mean P) rather than exactly P, so a
 * periodic workload (alloc, free, alloc, free...) cannot alias with the sampling. */
static uint64_t next_gap(worker *w)
{
    unsigned p = w->r->cfg->latency == GM_LAT_ALL ? 1 : w->r->cfg->sample_period;
    return p <= 1 ? 1 : 1 + xorshift(&w->rng) % (2 * (uint64_t)p - 1);
}

/* ---- the hot loop ---- */

static inline void touch(gm_touch_mode mode, void *p, uint64_t size)
{
    volatile char *c = p;
    if (size == 0 || mode == GM_TOUCH_NONE) return;
    if (mode == GM_TOUCH_FULL) {
        memset(p, 0xa5, size);
        return;
    }
    c[0] = 1;
    if (mode == GM_TOUCH_PAGES)
        for (uint64_t off = PAGE; off < size; off += PAGE) c[off] = 1;
}

static inline void record(worker *w, int kind, uint64_t t0)
{
    uint64_t d = gm_ticks_end() - t0;
    gm_hist_record(w->hist[kind], d > w->r->overhead_ticks ? d - w->r->overhead_ticks : 0);
}

/* One step of a wait: spin briefly, then yield. False when the run failed meanwhile (the op
 * waited for may never come). */
static bool backoff(run *r, unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
        return true;
    }
    *spins = 0;
    if (atomic_load_explicit(&r->failed, memory_order_relaxed)) return false;
    sched_yield();
    return true;
}

/* Waits until the id's previous op has run. */
static bool wait_turn(run *r, slot *s, uint32_t seq)
{
    unsigned spins = 0;
    while (atomic_load_explicit(&s->seq, memory_order_acquire) != seq)
        if (!backoff(r, &spins)) return false;
    return true;
}

/* Strict replay: waits until every op before stream index `index` has run. */
static bool wait_ticket(run *r, uint64_t index)
{
    unsigned spins = 0;
    while (atomic_load_explicit(&r->ticket, memory_order_acquire) != index)
        if (!backoff(r, &spins)) return false;
    return true;
}

static __attribute__((noinline)) int op_failed(worker *w, const gm_op *op, const char *call)
{
    snprintf(w->fail, sizeof w->fail, "%s(%llu bytes) returned NULL (errno %d: %s) on id %u", call,
             (unsigned long long)op->size, errno, strerror(errno), op->id);
    atomic_store(&w->r->failed, 1);
    return -1;
}

/* ---- goroutine ops (gm_workload.h; the `goroutines` workload) ----
 * A goroutine stays on the thread that started it (the tracker checks it). Each thread runs one
 * of its goroutines at a time: an op on another parks the current one and runs that one (the
 * Go model's GC may move a parked goroutine's stack, never a running one's). Stack bytes are
 * the stack sizes the driver sees after each op on a goroutine; a stack shrunk by a GC while
 * parked is seen at its next op. Only non-escaping allocations are timed (as malloc). */

static void go_switch(worker *w, void *g)
{
    const gm_go_ops *go = w->r->go;
    if (w->cur_g == g) return;
    if (w->cur_g && go->park) go->park(w->cur_g);
    if (g && go->run) go->run(g);
    w->cur_g = g;
}

static void stack_update(worker *w, slot *gs, const void *g)
{
    uint64_t now = g ? w->r->go->stack_size(g) : 0;
    w->stack_bytes += (int64_t)now - (int64_t)gs->size;
    gs->size = now;
    if (w->stack_bytes > w->stack_peak) w->stack_peak = w->stack_bytes;
}

static __attribute__((noinline)) int exec_go_op(worker *w, const gm_op *op, slot *s, bool timed)
{
    run *r = w->r;
    const gm_go_ops *go = r->go;
    void *g = s->ptr, *p;
    uint64_t t0 = 0;
    switch (op->kind) {
    case GM_OP_GO:
        go_switch(w, NULL);
        if (!(g = go->create())) return op_failed(w, op, "goroutine start");
        w->cur_g = s->ptr = g; /* a new goroutine runs on its creator's thread */
        s->size = 0;
        stack_update(w, s, g);
        break;
    case GM_OP_GOEXIT:
        go_switch(w, g);
        go->exit(g);
        w->cur_g = s->ptr = NULL;
        stack_update(w, s, NULL);
        break;
    case GM_OP_CALL:
        go_switch(w, g);
        if (!go->push(g, op->size)) return op_failed(w, op, "goroutine call");
        stack_update(w, s, g);
        break;
    case GM_OP_RET:
        go_switch(w, g);
        go->pop(g);
        stack_update(w, s, g);
        break;
    default: { /* GM_OP_ALLOC with GM_OPF_NOESCAPE: in the frame of goroutine op->g */
        slot *gs = &r->slots[op->g];
        go_switch(w, gs->ptr);
        if (timed) t0 = gm_ticks_begin();
        p = go->alloc(gs->ptr, op->size, op->flags);
        if (timed) record(w, K_MALLOC, t0);
        if (!p) return op_failed(w, op, "goroutine frame alloc");
        touch(r->cfg->touch, p, op->size);
        s->ptr = p;
        s->size = op->size;
        stack_update(w, gs, gs->ptr);
        break;
    }
    }
    return 0;
}

/* index: the op's stream index (used by strict replay only). sites: tell the allocator the
 * op's call site first (a compile-time constant, so runs without it pay nothing). */
static inline __attribute__((always_inline)) int exec_op(worker *w, const gm_op *op, bool timed,
                                                         bool threaded, uint64_t index, bool sites)
{
    run *r = w->r;
    const gm_backend *b = r->b;
    slot *s = &r->slots[op->id];
    uint64_t t0 = 0;
    void *p;

    if (threaded) {
        if (r->cfg->strict && !wait_ticket(r, index)) return -1;
        if (!wait_turn(r, s, op->seq)) return -1;
    }
    if (__builtin_expect(op->kind > GM_OP_REALLOC || (op->flags & GM_OPF_NOESCAPE), 0)) {
        if (op->kind == GM_OP_FREE) { /* a non-escaping object: its frame's RET frees it */
            s->ptr = NULL;
        } else if (exec_go_op(w, op, s, timed) < 0) {
            return -1;
        }
        goto done;
    }
    if (sites && op->kind != GM_OP_FREE) b->set_site(op->site);
    switch (op->kind) {
    case GM_OP_ALLOC:
        if (timed) t0 = gm_ticks_begin();
        p = op->align_log2 ? b->alloc_aligned((size_t)1 << op->align_log2, op->size, op->flags)
                           : b->alloc(op->size, op->flags);
        if (timed) record(w, K_MALLOC, t0);
        if (!p && op->size) return op_failed(w, op, op->align_log2 ? "posix_memalign" : "malloc");
        touch(r->cfg->touch, p, op->size);
        s->ptr = p;
        s->size = op->size;
        w->live_local += (int64_t)op->size;
        break;
    case GM_OP_FREE:
        if (timed) t0 = gm_ticks_begin();
        b->free(s->ptr);
        if (timed) record(w, K_FREE, t0);
        s->ptr = NULL;
        w->live_local -= (int64_t)s->size;
        break;
    default: /* GM_OP_REALLOC: the tracker admits nothing else */
        if (timed) t0 = gm_ticks_begin();
        p = b->realloc(s->ptr, op->size);
        if (timed) record(w, K_REALLOC, t0);
        if (!p) return op_failed(w, op, "realloc");
        touch(r->cfg->touch, p, op->size);
        w->live_local += (int64_t)op->size - (int64_t)s->size;
        s->ptr = p;
        s->size = op->size;
        break;
    }
done:
    atomic_store_explicit(&w->live, w->live_local, memory_order_relaxed);
    if (threaded) {
        atomic_store_explicit(&s->seq, op->seq + 1, memory_order_release);
        if (r->cfg->strict) atomic_store_explicit(&r->ticket, index + 1, memory_order_release);
    }
    return 0;
}

/* The loop, specialised by inlining for untimed/sampled and single/multi-threaded runs. */
static inline __attribute__((always_inline)) void
exec_loop(worker *w, const gm_op *ops, const uint32_t *idx, size_t n, bool threaded, bool sites)
{
    if (w->r->cfg->latency == GM_LAT_OFF) {
        for (size_t i = 0; i < n; i++)
            if (exec_op(w, threaded ? &ops[idx[i]] : &ops[i], false, threaded,
                        threaded ? w->r->batch_base + idx[i] : 0, sites) < 0)
                return;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        bool timed = --w->countdown == 0;
        if (timed) w->countdown = next_gap(w);
        if (exec_op(w, threaded ? &ops[idx[i]] : &ops[i], timed, threaded,
                    threaded ? w->r->batch_base + idx[i] : 0, sites) < 0)
            return;
    }
}

/* The loops with sites are separate copies, chosen once per batch. */
static void exec_contiguous(worker *w, const gm_op *ops, size_t n)
{
    if (w->r->sites)
        exec_loop(w, ops, NULL, n, false, true);
    else
        exec_loop(w, ops, NULL, n, false, false);
}

static void exec_indexed(worker *w, const gm_op *ops, const uint32_t *idx, size_t n)
{
    if (w->r->sites)
        exec_loop(w, ops, idx, n, true, true);
    else
        exec_loop(w, ops, idx, n, true, false);
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    if (r->b->thread_init) r->b->thread_init();
    pthread_barrier_wait(&r->done); /* ready: setup_workers waits for every thread */
    for (;;) {
        pthread_barrier_wait(&r->start);
        if (atomic_load(&r->stop)) return NULL;
        uint64_t c0 = thread_cpu_ns();
        exec_indexed(w, r->ops, w->idx, w->n);
        w->cpu_ns += thread_cpu_ns() - c0;
        pthread_barrier_wait(&r->done);
    }
}

static void sample_now(run *r)
{
    rss_samples *s = &r->samples;
    if (++s->tick % s->every) return;
    if (s->n == RSS_SAMPLES_MAX) {
        /* Full: keep every other sample and halve the rate, so any run length fits and the
         * samples stay evenly spaced. */
        for (size_t i = 0; i < s->n / 2; i++) {
            s->t_s[i] = s->t_s[2 * i];
            s->rss[i] = s->rss[2 * i];
            s->live[i] = s->live[2 * i];
        }
        s->n /= 2;
        s->every *= 2;
    }
    int64_t live = 0;
    for (unsigned i = 0; i < r->nthreads; i++)
        live += atomic_load_explicit(&r->w[i].live, memory_order_relaxed);
    s->t_s[s->n] = (double)(mono_ns() - r->t0_ns) / 1e9;
    s->rss[s->n] = read_rss(r);
    s->live[s->n] = live > 0 ? (uint64_t)live : 0;
    s->n++;
}

static void *sampler_main(void *arg)
{
    run *r = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint64_t step = (uint64_t)r->cfg->rss_interval_ms * 1000000u;
    while (!atomic_load(&r->sampler_stop)) {
        next.tv_nsec += (long)(step % 1000000000u);
        next.tv_sec += (time_t)(step / 1000000000u) + next.tv_nsec / 1000000000;
        next.tv_nsec %= 1000000000;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        sample_now(r);
    }
    return NULL;
}

/* ---- phases ---- */

/* Runs ops[lo, hi) of the current batch and adds its wall time to exec_ns. */
static int execute(run *r, size_t lo, size_t hi)
{
    if (r->nthreads == 1) {
        worker *w = &r->w[0];
        uint64_t c0 = thread_cpu_ns(), t0 = mono_ns();
        exec_contiguous(w, r->ops + lo, hi - lo);
        r->exec_ns += mono_ns() - t0;
        w->cpu_ns += thread_cpu_ns() - c0;
    } else {
        for (unsigned t = 0; t < r->nthreads; t++) r->w[t].n = 0;
        for (size_t i = lo; i < hi; i++) {
            worker *w = &r->w[r->ops[i].thread];
            w->idx[w->n++] = (uint32_t)i;
        }
        uint64_t t0 = mono_ns();
        pthread_barrier_wait(&r->start);
        pthread_barrier_wait(&r->done);
        r->exec_ns += mono_ns() - t0;
    }
    return atomic_load(&r->failed) ? -1 : 0;
}

/* Called with every op up to the new peak of live bytes done and none after it started. */
static void measure_peak(run *r)
{
    r->rss_at_peak = read_rss(r);
    gm_json_free(&r->peak_stats);
    gm_json_init(&r->peak_stats, false);
    gm_json_object_begin(&r->peak_stats, NULL);
    if (r->b->stats) r->b->stats(&r->peak_stats);
    gm_json_object_end(&r->peak_stats);
}

static void inject_fault(const gm_run_config *cfg)
{
    switch (cfg->inject) {
    case GM_INJECT_SEGV:
        /* The default action, as a crash in an uninstrumented process would take it (a
         * sanitizer runtime would otherwise catch the signal and exit with status 1). */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        break;
    case GM_INJECT_ABORT:
        abort();
    case GM_INJECT_HANG:
        for (;;) pause();
    default:
        break;
    }
}

/* Runs one batch. It is cut where the peak of live bytes was raised (to measure it with every
 * earlier op done and no later one started) and where a fault is to be injected. base is the
 * stream index of ops[0]. */
static int run_batch(run *r, size_t n, size_t peak_at, uint64_t base)
{
    const gm_run_config *cfg = r->cfg;
    size_t peak_end = peak_at < n ? peak_at + 1 : SIZE_MAX;
    size_t inject_at = SIZE_MAX;
    if (cfg->inject != GM_INJECT_NONE && cfg->inject_at >= base && cfg->inject_at - base < n)
        inject_at = (size_t)(cfg->inject_at - base);

    for (size_t lo = 0;;) {
        size_t hi = n;
        if (inject_at >= lo && inject_at < hi) hi = inject_at;
        if (peak_end > lo && peak_end < hi) hi = peak_end;
        if (hi > lo && execute(r, lo, hi) < 0) return -1;
        lo = hi;
        if (lo == peak_end) measure_peak(r);
        if (lo == inject_at) inject_fault(cfg); /* does not return */
        if (lo == n) return 0;
    }
}

/* ---- setup and teardown ---- */

static void setup_workers(run *r)
{
    unsigned t = r->nthreads;
    r->w = gm_map(sizeof(worker) * t, 1);
    for (unsigned i = 0; i < t; i++) {
        worker *w = &r->w[i];
        w->r = r;
        w->rng = 0x9e3779b97f4a7c15ull * (r->cfg->wl.seed + i + 1) | 1;
        w->countdown = next_gap(w);
        for (int k = 0; k < NKINDS; k++) {
            w->hist[k] = gm_map(sizeof(gm_hist), 1);
            gm_hist_init(w->hist[k]);
        }
        if (t > 1) w->idx = gm_map(sizeof(uint32_t) * BATCH, 1);
    }
    if (t > 1) {
        pthread_barrier_init(&r->start, NULL, t + 1);
        pthread_barrier_init(&r->done, NULL, t + 1);
        for (unsigned i = 0; i < t; i++) pthread_create(&r->w[i].tid, NULL, worker_main, &r->w[i]);
        pthread_barrier_wait(&r->done);
    } else if (r->b->thread_init) {
        r->b->thread_init(); /* the calling thread runs the ops */
    }
}

static void stop_workers(run *r)
{
    if (r->nthreads > 1) {
        atomic_store(&r->stop, 1);
        pthread_barrier_wait(&r->start);
        for (unsigned i = 0; i < r->nthreads; i++) pthread_join(r->w[i].tid, NULL);
        pthread_barrier_destroy(&r->start);
        pthread_barrier_destroy(&r->done);
    }
}

static int setup(run *r, char *err, size_t errlen)
{
    const gm_run_config *cfg = r->cfg;
    r->gen = cfg->trace ? gm_trace_gen_open(cfg->trace, cfg->strict, err, errlen)
                        : gm_wl_open(cfg->workload, &cfg->wl, err, errlen);
    if (!r->gen) return GM_EXIT_USAGE;
    r->nthreads = r->gen->cfg.threads;
    r->go = r->b->go ? r->b->go : gm_greenthread_ops(r->b);
    gm_stream_track_init(&r->track, r->gen->nslots, r->nthreads);
    r->ops = gm_map(sizeof(gm_op) * BATCH, 1);
    r->slots = gm_map(sizeof(slot) * (r->gen->nslots ? r->gen->nslots : 1), 1);
    r->pagesize = sysconf(_SC_PAGESIZE);
    r->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (r->statm_fd < 0) {
        snprintf(err, errlen, "cannot open /proc/self/statm: %s", strerror(errno));
        return GM_EXIT_IO;
    }
    r->samples.t_s = gm_map(sizeof(double) * RSS_SAMPLES_MAX, 1);
    r->samples.rss = gm_map(sizeof(uint64_t) * RSS_SAMPLES_MAX, 1);
    r->samples.live = gm_map(sizeof(uint64_t) * RSS_SAMPLES_MAX, 1);
    r->samples.every = 1;
    gm_json_init(&r->peak_stats, false);
    setup_workers(r);
    return GM_EXIT_OK;
}

static void teardown(run *r)
{
    gm_json_free(&r->peak_stats);
    if (r->statm_fd >= 0) close(r->statm_fd);
    gm_stream_track_destroy(&r->track);
    if (r->gen) gm_wl_close(r->gen);
    /* The remaining mappings die with the process; gmbench runs one measurement per process. */
}

/* Resets the kernel's RSS high-water mark (VmHWM) so ru_maxrss covers the run only. Linux
 * supports this since 4.0; on failure the high-water mark includes the setup. */
static bool reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

/* ---- results ---- */

static double ticks_to_ns(const run *r, uint64_t t)
{
    return (double)t / r->clock.ticks_per_ns;
}

static void write_latency(gm_json *j, const run *r)
{
    gm_json_object_begin(j, "latency");
    static const struct {
        const char *key;
        double p;
    } pct[] = {{"p50_ns", 50},     {"p90_ns", 90},       {"p99_ns", 99},
               {"p99_9_ns", 99.9}, {"p99_99_ns", 99.99}, {"max_ns", 100}};
    for (int k = 0; k < NKINDS; k++) {
        gm_hist *h = r->w[0].hist[k];
        for (unsigned t = 1; t < r->nthreads; t++) gm_hist_merge(h, r->w[t].hist[k]);
        gm_json_object_begin(j, kind_name[k]);
        gm_json_u64(j, "count", h->count);
        if (h->count) {
            gm_json_num(j, "mean_ns", h->sum / (double)h->count / r->clock.ticks_per_ns);
            for (size_t i = 0; i < sizeof pct / sizeof pct[0]; i++)
                gm_json_num(j, pct[i].key, ticks_to_ns(r, gm_hist_percentile(h, pct[i].p)));
        }
        gm_json_object_end(j);
    }
    gm_json_object_end(j);
}

static double ratio_or_nan(double num, double den)
{
    return den > 0 ? num / den : 0.0 / 0.0;
}

static uint64_t over(uint64_t v, uint64_t base)
{
    return v > base ? v - base : 0;
}

static void write_memory(gm_json *j, const run *r, const struct rusage *ru, bool hwm_reset)
{
    uint64_t hwm = (uint64_t)ru->ru_maxrss * 1024u;
    uint64_t peak_live = r->track.peak_live_bytes;
    gm_json_object_begin(j, "memory");
    gm_json_u64(j, "baseline_rss_bytes", r->baseline_rss);
    gm_json_u64(j, "peak_rss_bytes", hwm);
    gm_json_bool(j, "peak_rss_is_run_only", hwm_reset);
    gm_json_u64(j, "peak_rss_over_baseline_bytes", over(hwm, r->baseline_rss));
    gm_json_u64(j, "peak_live_bytes", peak_live);
    gm_json_u64(j, "peak_live_op", r->track.peak_op);
    gm_json_u64(j, "rss_at_peak_live_bytes", r->rss_at_peak);
    gm_json_u64(j, "final_rss_bytes", r->final_rss);
    gm_json_u64(j, "final_rss_over_baseline_bytes", over(r->final_rss, r->baseline_rss));
    gm_json_num(j, "frag_peak_rss",
                ratio_or_nan((double)over(hwm, r->baseline_rss), (double)peak_live));
    gm_json_num(j, "frag_rss_at_peak_live",
                ratio_or_nan((double)over(r->rss_at_peak, r->baseline_rss), (double)peak_live));
    /* Goroutine workloads: stack memory against heap memory (0 for the others). */
    int64_t stack_peak = 0;
    for (unsigned t = 0; t < r->nthreads; t++) stack_peak += r->w[t].stack_peak;
    gm_json_u64(j, "stack_bytes_peak", (uint64_t)stack_peak);
    gm_json_u64(j, "goroutines_peak", r->track.peak_goroutines);
    gm_json_u64(j, "noescape_allocs", r->track.noescape_allocs);
    gm_json_u64(j, "noescape_bytes", r->track.noescape_bytes);
    if (r->peak_stats.len) /* empty when no op ever raised live bytes above 0 */
        gm_json_raw(j, "allocator_at_peak_live", r->peak_stats.buf, r->peak_stats.len);
    else
        gm_json_raw(j, "allocator_at_peak_live", "{}", 2);
    gm_json_object_begin(j, "allocator_final");
    if (r->b->stats) r->b->stats(j);
    gm_json_object_end(j);
    gm_json_object_end(j);
}

static void write_samples(gm_json *j, const run *r)
{
    const rss_samples *s = &r->samples;
    gm_json_object_begin(j, "rss_samples");
    gm_json_num(j, "interval_ms", (double)r->cfg->rss_interval_ms * s->every);
    gm_json_array_begin(j, "t_s");
    for (size_t i = 0; i < s->n; i++) gm_json_num(j, NULL, s->t_s[i]);
    gm_json_array_end(j);
    gm_json_array_begin(j, "rss_bytes");
    for (size_t i = 0; i < s->n; i++) gm_json_u64(j, NULL, s->rss[i]);
    gm_json_array_end(j);
    gm_json_array_begin(j, "live_bytes");
    for (size_t i = 0; i < s->n; i++) gm_json_u64(j, NULL, s->live[i]);
    gm_json_array_end(j);
    gm_json_object_end(j);
}

static const char *const latency_name[] = {"off", "sample", "all"};
static const char *const touch_name[] = {"none", "first", "pages", "full"};

/* A trace is named "trace:" + its file name without directory and extension. */
static void write_trace_workload(gm_json *j, const gm_run_config *cfg)
{
    const char *base = strrchr(cfg->trace, '/') ? strrchr(cfg->trace, '/') + 1 : cfg->trace;
    const char *dot = strchr(base, '.');
    char name[256];
    snprintf(name, sizeof name, "trace:%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
    gm_json_str(j, "name", name);
    gm_json_object_begin(j, "params");
    gm_json_str(j, "file", cfg->trace);
    gm_json_bool(j, "strict", cfg->strict);
    gm_json_object_end(j);
}

static void write_workload_params(gm_json *j, const gm_workload *wl, const gm_wl_config *c)
{
    gm_json_str(j, "name", wl->name);
    gm_json_object_begin(j, "params");
    for (unsigned i = 0; i < wl->nparams; i++) {
        const gm_wl_param *p = &wl->params[i];
        if (p->type == GM_PARAM_ENUM)
            gm_json_str(j, p->name, p->choices[c->values[i].i]);
        else if (p->type == GM_PARAM_REAL)
            gm_json_num(j, p->name, c->values[i].r);
        else
            gm_json_i64(j, p->name, c->values[i].i);
    }
    gm_json_object_end(j);
}

void gm_run_write_workload(gm_json *j, const gm_run_config *cfg)
{
    gm_json_object_begin(j, "workload");
    if (cfg->trace)
        write_trace_workload(j, cfg);
    else
        write_workload_params(j, cfg->workload, &cfg->wl);
    gm_json_u64(j, "seed", cfg->wl.seed);
    gm_json_u64(j, "ops", cfg->wl.ops);
    gm_json_u64(j, "threads", cfg->wl.threads);
    gm_json_object_end(j);
}

static void write_allocator(gm_json *j, const gm_backend *b, const char *identity)
{
    char path[512], version[128];
    gm_json_object_begin(j, "allocator");
    gm_json_str(j, "name", b->name);
    gm_json_str(j, "library", gm_backend_locate(b, path, sizeof path) && path[0] ? path : NULL);
    gm_json_str(j, "package", b->package);
    gm_backend_version(b, version, sizeof version);
    gm_json_str(j, "version", version);
    gm_json_str(j, "malloc_provider", gm_malloc_provider());
    gm_json_str(j, "identity", identity);
    gm_json_object_end(j);
}

static void write_result(gm_json *j, const run *r, const char *identity, const struct rusage *ru0,
                         const struct rusage *ru1, uint64_t wall_ns, bool hwm_reset)
{
    const gm_run_config *cfg = r->cfg;
    const gm_backend *only[] = {r->b, NULL};
    double exec_s = (double)r->exec_ns / 1e9;
    uint64_t cpu_ns = 0;
    for (unsigned t = 0; t < r->nthreads; t++) cpu_ns += r->w[t].cpu_ns;

    gm_json_object_begin(j, NULL);
    gm_json_str(j, "schema", "gmbench-run/1");
    gm_json_str(j, "status", "ok");
    write_allocator(j, r->b, identity);
    gm_run_write_workload(j, cfg);
    gm_json_u64(j, "rep", cfg->rep);
    gm_json_object_begin(j, "config");
    gm_json_str(j, "latency", latency_name[cfg->latency]);
    gm_json_u64(j, "sample_period", cfg->latency == GM_LAT_SAMPLE ? cfg->sample_period : 1);
    gm_json_str(j, "touch", touch_name[cfg->touch]);
    gm_json_u64(j, "rss_interval_ms", cfg->rss_interval_ms);
    gm_json_u64(j, "batch_ops", BATCH);
    gm_json_object_end(j);
    gm_env_write(j, "env", only);
    gm_json_object_begin(j, "clock");
    gm_json_str(j, "source", r->clock.source);
    gm_json_num(j, "ticks_per_ns", r->clock.ticks_per_ns);
    gm_json_num(j, "overhead_ns", r->clock.overhead_ns);
    gm_json_num(j, "overhead_min_ns", ticks_to_ns(r, r->clock.overhead_min_ticks));
    gm_json_num(j, "resolution_ns", ticks_to_ns(r, r->clock.resolution_ticks));
    gm_json_bool(j, "invariant", r->clock.invariant);
    gm_json_object_end(j);
    gm_json_object_begin(j, "ops");
    gm_json_u64(j, "total", r->track.nops);
    gm_json_u64(j, "alloc", r->track.count[GM_OP_ALLOC]);
    gm_json_u64(j, "free", r->track.count[GM_OP_FREE]);
    gm_json_u64(j, "realloc", r->track.count[GM_OP_REALLOC]);
    if (r->track.peak_goroutines) {
        gm_json_u64(j, "go", r->track.count[GM_OP_GO]);
        gm_json_u64(j, "goexit", r->track.count[GM_OP_GOEXIT]);
        gm_json_u64(j, "call", r->track.count[GM_OP_CALL]);
        gm_json_u64(j, "ret", r->track.count[GM_OP_RET]);
        gm_json_u64(j, "noescape_alloc", r->track.noescape_allocs);
    }
    gm_json_object_end(j);
    gm_json_object_begin(j, "time");
    gm_json_num(j, "exec_s", exec_s);
    gm_json_num(j, "wall_s", (double)wall_ns / 1e9);
    gm_json_num(j, "ops_per_s", ratio_or_nan((double)r->track.nops, exec_s));
    gm_json_num(j, "ns_per_op", ratio_or_nan((double)r->exec_ns, (double)r->track.nops));
    gm_json_num(j, "cpu_exec_s", (double)cpu_ns / 1e9);
    gm_json_num(j, "cpu_user_s",
                (double)(ru1->ru_utime.tv_sec - ru0->ru_utime.tv_sec) +
                    (double)(ru1->ru_utime.tv_usec - ru0->ru_utime.tv_usec) / 1e6);
    gm_json_num(j, "cpu_sys_s",
                (double)(ru1->ru_stime.tv_sec - ru0->ru_stime.tv_sec) +
                    (double)(ru1->ru_stime.tv_usec - ru0->ru_stime.tv_usec) / 1e6);
    gm_json_i64(j, "minor_faults", ru1->ru_minflt - ru0->ru_minflt);
    gm_json_i64(j, "major_faults", ru1->ru_majflt - ru0->ru_majflt);
    gm_json_object_end(j);
    write_latency(j, r);
    write_memory(j, r, ru1, hwm_reset);
    write_samples(j, r);
    gm_json_object_end(j);
}

/* ---- the run ---- */

void gm_run_config_defaults(gm_run_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->wl.seed = 1;
    cfg->wl.ops = 1000000;
    cfg->wl.threads = 1;
    cfg->latency = GM_LAT_SAMPLE;
    cfg->sample_period = 16;
    cfg->touch = GM_TOUCH_PAGES;
    cfg->rss_interval_ms = 10;
    cfg->mem_profile_rate = -1;
}

static int drive(run *r, char *err, size_t errlen)
{
    size_t n, peak_at;
    uint64_t base = 0;
    const char *what = r->cfg->trace ? r->cfg->trace : r->cfg->workload->name;
    while ((n = gm_wl_next(r->gen, r->ops, BATCH)) > 0) {
        if (gm_stream_track_ops(&r->track, r->ops, n, &peak_at) < 0) {
            snprintf(err, errlen, "%s produced an invalid stream: %s", what, r->track.err);
            return GM_EXIT_STREAM;
        }
        r->batch_base = base;
        if (run_batch(r, n, peak_at, base) < 0) {
            for (unsigned t = 0; t < r->nthreads; t++)
                if (r->w[t].fail[0]) {
                    snprintf(err, errlen, "%s: %s", r->b->name, r->w[t].fail);
                    break;
                }
            return GM_EXIT_OOM;
        }
        base += n;
    }
    const char *trace_err = r->cfg->trace ? gm_trace_gen_error(r->gen) : NULL;
    if (trace_err) {
        snprintf(err, errlen, "%s: %s", what, trace_err);
        return GM_EXIT_STREAM;
    }
    return GM_EXIT_OK;
}

/* Heap profiling of the Go model: the rate before anything is measured, and for a trace the
 * site table (read in a pass of its own: its entries arrive with the records that use
 * them), so the profile names the trace's call sites. */
static int profile_setup(run *r, char *err, size_t errlen)
{
    const gm_run_config *cfg = r->cfg;
    const gm_backend *b = r->b;
    if (cfg->mem_profile_rate >= 0 && b->set_mem_profile_rate &&
        b->set_mem_profile_rate(cfg->mem_profile_rate) != 0) {
        snprintf(err, errlen, "--mem-profile-rate %d: %s", cfg->mem_profile_rate, strerror(errno));
        return GM_EXIT_USAGE;
    }
    if (!cfg->heap_profile || !cfg->trace || !b->set_site) return GM_EXIT_OK;
    gm_trace_reader *tr = gm_trace_open(cfg->trace, err, errlen);
    if (!tr) return GM_EXIT_USAGE;
    gm_trace_rec rec;
    int rc;
    while ((rc = gm_trace_next(tr, &rec)) > 0) {
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", cfg->trace, gm_trace_error(tr));
        gm_trace_close(tr);
        return GM_EXIT_STREAM;
    }
    for (uint32_t s = 1; s <= gm_trace_nsites(tr); s++) {
        const char *name = gm_trace_site_name(tr, s);
        char unnamed[32];
        if (!name || !*name) { /* a site the trace declares without a symbol */
            snprintf(unnamed, sizeof unnamed, "site%u", s);
            name = unnamed;
        }
        if (b->register_site(s, name) != 0) {
            snprintf(err, errlen, "%s: site %u (%s): %s", cfg->trace, s, name, strerror(errno));
            gm_trace_close(tr);
            return errno == EINVAL ? GM_EXIT_STREAM : GM_EXIT_OOM;
        }
    }
    gm_trace_close(tr);
    r->sites = true;
    return GM_EXIT_OK;
}

static int profile_write(run *r, char *err, size_t errlen)
{
    const char *path = r->cfg->heap_profile;
    if (!path || r->b->write_heap_profile(path, r->cfg->heap_profile_format) == 0)
        return GM_EXIT_OK;
    snprintf(err, errlen, "cannot write the heap profile %s: %s", path, strerror(errno));
    return GM_EXIT_IO;
}

int gm_run(const gm_run_config *cfg, gm_json *j, char *err, size_t errlen)
{
    char identity[256];
    run *r = gm_map(sizeof(run), 1);
    r->cfg = cfg;
    r->b = cfg->backend;
    r->statm_fd = -1;
    if (r->b->init) r->b->init();
    int prc = profile_setup(r, err, errlen);
    if (prc != GM_EXIT_OK) return prc;
    if (gm_backend_prove(r->b, identity, sizeof identity) != 0) {
        snprintf(err, errlen, "%s", identity);
        return GM_EXIT_IDENTITY;
    }
    gm_clock_calibrate(&r->clock);
    /* The minimum, not the median: the minimum is the fixed cost of the timed region itself;
     * what the median adds is jitter, which no per-sample subtraction can remove, and taking it
     * off would clamp every op faster than the jitter to 0. */
    r->overhead_ticks = r->clock.overhead_min_ticks;
    int rc = setup(r, err, errlen);
    if (rc == GM_EXIT_OK) {
        struct rusage ru0, ru1;
        r->t0_ns = mono_ns();
        pthread_create(&r->sampler, NULL, sampler_main, r); /* its stack is baseline too */
        r->baseline_rss = read_rss(r);
        bool hwm_reset = reset_hwm();
        getrusage(RUSAGE_SELF, &ru0);
        rc = drive(r, err, errlen);
        stop_workers(r);
        getrusage(RUSAGE_SELF, &ru1);
        uint64_t wall = mono_ns() - r->t0_ns;
        atomic_store(&r->sampler_stop, 1);
        pthread_join(r->sampler, NULL);
        r->final_rss = read_rss(r);
        if (rc == GM_EXIT_OK) rc = profile_write(r, err, errlen);
        if (rc == GM_EXIT_OK) write_result(j, r, identity, &ru0, &ru1, wall, hwm_reset);
    }
    teardown(r);
    return rc;
}
