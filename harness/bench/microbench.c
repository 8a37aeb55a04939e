/*
 * microbench.c — gm-microbench: allocator fast paths as Google Benchmark microbenchmarks.
 *
 * One process measures one allocator, as in gmbench: `--allocator NAME` picks the backend
 * (harness/backend.h); the Go model is called through its gm_ API, every competitor through the
 * plain malloc family with its library preloaded. Before anything runs, the process proves
 * which allocator serves it (gm_backend_prove) and refuses to measure otherwise, printing the
 * command that would be right. The allocator's name, library, package version and what the
 * proof observed go into the benchmark context, so every JSON output says what it measured.
 *
 * Every benchmark calls the allocator through the backend's function pointers, exactly the
 * calls gmbench's driver makes, so the cost of that indirection is the same for every
 * allocator. One iteration is one object allocated and freed (a growth sequence for realloc):
 *
 *   pair/class:C/size:S         malloc+free of S bytes, S = Go size class C's size, C = 1..67
 *   batch_{lifo,fifo,random}/n:N/size:S
 *                               N allocations, then N frees in LIFO, FIFO or random order
 *   tiny/size:S                 1,024 tiny (< 16 B, Go's tiny allocator) allocations, then frees
 *   large/size:S/touch:T        malloc+free of a large object; T=1 writes one byte per 4 KiB page
 *   calloc/size:S               calloc+free (zeroed memory)
 *   realloc_double/to:N         16 bytes grown by doubling up to N, then freed
 *   realloc_step/to:N           16 bytes grown by 64 bytes at a time up to N, then freed
 *   xthread/size:S/threads:T    each thread allocates objects and hands them through a
 *                               lock-free ring to the next thread, which frees them (with one
 *                               thread the ring leads back to itself: same-thread frees)
 *
 * The harness's own memory (pointer tables, permutations, rings) comes from mmap
 * (gm_arena.h), never from the allocator being measured. The C++ library's own bookkeeping
 * (benchmark names, results) is served by whatever serves malloc, as in any program using it.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "env.h"
#include "gm_arena.h"
#include "gm_workload.h"
#include "gmb.h"
#include "json.h"

#include GM_SIZECLASSES_H_PATH

enum {
    BATCH_MAX = 16384, /* largest batch n */
    PAIR_UNROLL = 16,  /* pairs per gmb_keep_running_batch call: the loop's own cost amortised */
    TINY_BATCH = 1024,
    XT_BATCH = 64,      /* objects a thread allocates per round in xthread */
    RING_SLOTS = 16384, /* capacity of each xthread ring (a power of two) */
    MAX_THREADS = 64,   /* xthread rings */
    PAGE_BYTES = 4096,  /* the touch stride of large/touch:1 */
    REALLOC_STEP = 64,  /* growth step of realloc_step */
    EXIT_IDENTITY = 3,  /* gmbench run's status for "not served by the allocator claimed" */
    EXIT_USAGE = 2,
};

/* The backend every benchmark calls (set once in main, before any benchmark thread exists). */
static const gm_backend *B;

/* Pointer tables and the random free order, mapped once (single-threaded benchmarks only). */
static void **batch_ptrs;
static uint32_t *batch_perm;

/* Makes p visible to the compiler as used, so no allocation/free pair is optimised away. */
static inline void escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* The backend's per-thread initialisation, once per OS thread, before its first timed loop
 * (Google Benchmark starts new threads for every run of a threaded benchmark). */
static __thread int thread_ready;

static void thread_setup(void)
{
    if (thread_ready) return;
    if (B->thread_init) B->thread_init();
    thread_ready = 1;
}

/* A failed allocation ends the benchmark with an error in its output row. */
static int check(gmb_state *s, void *p)
{
    if (p) return 1;
    gmb_skip_with_error(s, "the allocator returned NULL");
    return 0;
}

/* ---- malloc+free pairs: every Go size class, calloc, large objects ---------------------- */

static void bm_pair(gmb_state *s, void *arg)
{
    (void)arg;
    size_t size = (size_t)gmb_arg(s, 1);
    thread_setup();
    while (gmb_keep_running_batch(s, PAIR_UNROLL)) {
        for (int i = 0; i < PAIR_UNROLL; i++) {
            void *p = B->alloc(size, 0);
            if (!check(s, p)) break;
            escape(p);
            B->free(p);
        }
    }
    gmb_set_items_processed(s, gmb_iterations(s));
}

static void bm_calloc(gmb_state *s, void *arg)
{
    (void)arg;
    size_t size = (size_t)gmb_arg(s, 0);
    thread_setup();
    while (gmb_keep_running(s)) {
        void *p = B->alloc(size, GM_OPF_ZERO);
        if (!check(s, p)) break;
        escape(p);
        B->free(p);
    }
    gmb_set_items_processed(s, gmb_iterations(s));
    gmb_set_bytes_processed(s, gmb_iterations(s) * (int64_t)size);
}

static void bm_large(gmb_state *s, void *arg)
{
    (void)arg;
    size_t size = (size_t)gmb_arg(s, 0);
    bool touch = gmb_arg(s, 1) != 0;
    thread_setup();
    while (gmb_keep_running(s)) {
        char *p = B->alloc(size, 0);
        if (!check(s, p)) break;
        if (touch)
            for (size_t off = 0; off < size; off += PAGE_BYTES) ((volatile char *)p)[off] = 1;
        escape(p);
        B->free(p);
    }
    gmb_set_items_processed(s, gmb_iterations(s));
}

/* ---- batches: n allocations, then n frees in a chosen order ------------------------------ */

enum { ORDER_LIFO, ORDER_FIFO, ORDER_RANDOM };

/* A fixed permutation of [0, n) (Fisher-Yates with splitmix64, seed 1): every allocator frees
 * in the same order. */
static void make_permutation(uint32_t *perm, uint32_t n)
{
    uint64_t x = 1;
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        uint32_t j = (uint32_t)(z % (i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* One batch: returns 0 (after reporting) when an allocation failed, freeing what it had. */
static int run_batch(gmb_state *s, int order, int64_t n, size_t size)
{
    void **ptrs = batch_ptrs;
    for (int64_t i = 0; i < n; i++) {
        ptrs[i] = B->alloc(size, 0);
        if (!check(s, ptrs[i])) {
            while (i-- > 0) B->free(ptrs[i]);
            return 0;
        }
    }
    switch (order) {
    case ORDER_LIFO:
        for (int64_t i = n - 1; i >= 0; i--) B->free(ptrs[i]);
        break;
    case ORDER_FIFO:
        for (int64_t i = 0; i < n; i++) B->free(ptrs[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) B->free(ptrs[batch_perm[i]]);
        break;
    }
    return 1;
}

static void bm_batch(gmb_state *s, void *arg)
{
    int order = (int)(intptr_t)arg;
    int64_t n = gmb_arg(s, 0);
    size_t size = (size_t)gmb_arg(s, 1);
    thread_setup();
    if (order == ORDER_RANDOM) make_permutation(batch_perm, (uint32_t)n);
    while (gmb_keep_running_batch(s, n))
        if (!run_batch(s, order, n, size)) break;
    gmb_set_items_processed(s, gmb_iterations(s));
}

/* Go's tiny allocator: noscan objects under 16 bytes share 16-byte blocks. Freed in
 * allocation order, as short-lived small strings die. */
static void bm_tiny(gmb_state *s, void *arg)
{
    (void)arg;
    size_t size = (size_t)gmb_arg(s, 0);
    thread_setup();
    while (gmb_keep_running_batch(s, TINY_BATCH))
        if (!run_batch(s, ORDER_FIFO, TINY_BATCH, size)) break;
    gmb_set_items_processed(s, gmb_iterations(s));
}

/* ---- realloc growth ---------------------------------------------------------------------- */

/* step 0: doubling. Returns the number of reallocs, 0 when one failed (reported). */
static int64_t grow(gmb_state *s, size_t to, size_t step)
{
    size_t size = 16;
    int64_t n = 0;
    void *p = B->alloc(size, 0);
    if (!check(s, p)) return 0;
    while (size < to) {
        size = step ? size + step : size * 2;
        if (size > to) size = to;
        void *q = B->realloc(p, size);
        if (!check(s, q)) {
            B->free(p);
            return 0;
        }
        p = q;
        n++;
    }
    escape(p);
    B->free(p);
    return n;
}

static void bm_realloc(gmb_state *s, void *arg)
{
    size_t step = (size_t)(uintptr_t)arg; /* 0: doubling */
    size_t to = (size_t)gmb_arg(s, 0);
    int64_t reallocs = 0;
    thread_setup();
    while (gmb_keep_running(s)) {
        int64_t n = grow(s, to, step);
        if (!n) break;
        reallocs += n;
    }
    gmb_set_items_processed(s, reallocs);
}

/* ---- cross-thread alloc/free ------------------------------------------------------------- */

/* A single-producer single-consumer ring of object pointers; thread t pushes to ring t+1
 * (mod threads) and pops from ring t. Head and tail only grow; each is written by one side. */
typedef struct xring {
    _Alignas(64) _Atomic uint64_t head; /* next slot the producer writes */
    _Alignas(64) _Atomic uint64_t tail; /* next slot the consumer reads */
    _Alignas(64) void *slots[RING_SLOTS];
} xring;

static xring *rings; /* MAX_THREADS of them, mapped once */

static bool ring_push(xring *r, void *p)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING_SLOTS) return false;
    r->slots[h % RING_SLOTS] = p;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return true;
}

static void *ring_pop(xring *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (atomic_load_explicit(&r->head, memory_order_acquire) == t) return NULL;
    void *p = r->slots[t % RING_SLOTS];
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return p;
}

/* Each round a thread allocates XT_BATCH objects and pushes them to its successor (an object
 * that does not fit, because the successor is behind, is freed at once by its allocator), then
 * frees every object its predecessor has handed it so far. After the loop every thread has
 * passed Google Benchmark's stop barrier, so nothing is pushed any more: each drains its own
 * ring, untimed. handed_off is the fraction of objects freed by the receiving thread. */
static void bm_xthread(gmb_state *s, void *arg)
{
    (void)arg;
    size_t size = (size_t)gmb_arg(s, 0);
    int t = gmb_thread_index(s), nthreads = gmb_thread_count(s);
    xring *out = &rings[(t + 1) % nthreads], *in = &rings[t];
    double handed = 0, local = 0;
    void *batch[XT_BATCH];
    thread_setup();
    while (gmb_keep_running_batch(s, XT_BATCH)) {
        int i = 0;
        for (; i < XT_BATCH; i++) {
            batch[i] = B->alloc(size, 0);
            if (!check(s, batch[i])) break;
        }
        for (int k = 0; k < i; k++) {
            if (ring_push(out, batch[k])) continue;
            B->free(batch[k]);
            local++;
        }
        for (void *p; (p = ring_pop(in));) {
            B->free(p);
            handed++;
        }
        if (i < XT_BATCH) break;
    }
    for (void *p; (p = ring_pop(in));) {
        B->free(p);
        handed++;
    }
    gmb_set_items_processed(s, gmb_iterations(s));
    gmb_counter(s, "handed_off", handed + local > 0 ? handed / (handed + local) : 0,
                GMB_COUNTER_AVG_THREADS);
}

/* ---- registration ------------------------------------------------------------------------ */

static gmb_bench *reg(const char *name, gmb_fn fn, void *arg, const char *const *names,
                      size_t nnames)
{
    gmb_bench *b = gmb_register(name, fn, arg);
    gmb_arg_names(b, names, nnames);
    return b;
}

static void args2(gmb_bench *b, int64_t x, int64_t y)
{
    int64_t a[2] = {x, y};
    gmb_args(b, a, 2);
}

static void register_all(void)
{
    static const char *const class_size[] = {"class", "size"};
    static const char *const n_size[] = {"n", "size"};
    static const char *const size[] = {"size"};
    static const char *const size_touch[] = {"size", "touch"};
    static const char *const to[] = {"to"};

    gmb_bench *b = reg("pair", bm_pair, NULL, class_size, 2);
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) args2(b, c, gm_class_to_size[c]);

    static const struct {
        const char *name;
        int order;
    } batches[] = {
        {"batch_lifo", ORDER_LIFO}, {"batch_fifo", ORDER_FIFO}, {"batch_random", ORDER_RANDOM}};
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
        b = reg(batches[i].name, bm_batch, (void *)(intptr_t)batches[i].order, n_size, 2);
        static const int64_t ns[] = {64, 4096}, sizes[] = {32, 512};
        for (int x = 0; x < 2; x++)
            for (int y = 0; y < 2; y++) args2(b, ns[x], sizes[y]);
    }

    b = reg("tiny", bm_tiny, NULL, size, 1);
    for (int64_t sz = 1; sz < 16; sz += 7) gmb_args(b, &sz, 1); /* 1, 8, 15 */

    b = reg("large", bm_large, NULL, size_touch, 2);
    static const int64_t large[] = {64 << 10, 256 << 10, 1 << 20, 4 << 20};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) args2(b, large[i], t);

    b = reg("calloc", bm_calloc, NULL, size, 1);
    static const int64_t csizes[] = {16, 256, 4096, 65536};
    for (size_t i = 0; i < sizeof csizes / sizeof csizes[0]; i++) gmb_args(b, &csizes[i], 1);

    b = reg("realloc_double", bm_realloc, (void *)(uintptr_t)0, to, 1);
    static const int64_t dto[] = {4096, 1 << 20};
    for (size_t i = 0; i < sizeof dto / sizeof dto[0]; i++) gmb_args(b, &dto[i], 1);
    b = reg("realloc_step", bm_realloc, (void *)(uintptr_t)REALLOC_STEP, to, 1);
    int64_t sto = 4096;
    gmb_args(b, &sto, 1);

    b = reg("xthread", bm_xthread, NULL, size, 1);
    int64_t xsize = 64;
    gmb_args(b, &xsize, 1);
    gmb_use_real_time(b);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (int n = 1; n <= MAX_THREADS && (n <= 2 || n <= ncpu); n *= 2) gmb_threads(b, n);
}

/* ---- the program ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: gm-microbench --allocator NAME [Google Benchmark flags]\n"
               "       gm-microbench --list-allocators\n"
               "  NAME: gomodel, or a competitor with its library preloaded (gmbench list);\n"
               "  flags: --benchmark_filter=RE --benchmark_repetitions=N\n"
               "         --benchmark_min_time=SECONDS --benchmark_format=json\n"
               "         --benchmark_out=FILE --benchmark_list_tests ... (--help lists all)\n");
}

/* Removes `--allocator NAME` / `--allocator=NAME` from argv; returns NAME or NULL. */
static const char *take_allocator(int *argc, char **argv)
{
    const char *name = NULL;
    int k = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--allocator") == 0 && i + 1 < *argc)
            name = argv[++i];
        else if (strncmp(argv[i], "--allocator=", 12) == 0)
            name = argv[i] + 12;
        else
            argv[k++] = argv[i];
    }
    *argc = k;
    argv[k] = NULL;
    return name;
}

static void print_right_command(const gm_backend *b, int argc, char **argv)
{
    fprintf(stderr, "  run instead:\n    ");
    gm_backend_print_launch_prefix(b);
    fprintf(stderr, "%s --allocator %s", argv[0], b->name);
    for (int i = 1; i < argc; i++) fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n  (scripts/microbench.sh sets this up for every allocator)\n");
}

/* The benchmark context: what was measured, and gmbench's environment block as JSON text. */
static void add_context(const gm_backend *b, const char *library, const char *identity)
{
    char version[256];
    gm_backend_version(b, version, sizeof version);
    gmb_add_context("allocator", b->name);
    gmb_add_context("allocator_library", library[0] ? library : "(linked in)");
    gmb_add_context("allocator_package", b->package ? b->package : "");
    gmb_add_context("allocator_version", version);
    gmb_add_context("allocator_identity", identity);
    gmb_add_context("malloc_provider", gm_malloc_provider());
    const gm_backend *only[] = {b, NULL};
    gm_json j;
    gm_json_init(&j, false);
    gm_json_object_begin(&j, NULL);
    gm_env_write(&j, "env", only);
    gm_json_object_end(&j);
    gmb_add_context("gmbench_env", j.buf);
    gm_json_free(&j);
}

/* `--list-allocators`: one line per installed competitor, "NAME<tab>LIBRARY" (LIBRARY empty
 * for the Go model), for scripts/microbench.sh. */
static int list_allocators(void)
{
    for (const gm_backend *const *b = gm_backends(); *b; b++) {
        char path[512];
        if (!(*b)->internal && gm_backend_locate(*b, path, sizeof path))
            printf("%s\t%s\n", (*b)->name, path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list-allocators") == 0) return list_allocators();
    const char *name = take_allocator(&argc, argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) usage(stdout);
    if (!name) {
        usage(stderr);
        return EXIT_USAGE;
    }
    B = gm_backend_find(name);
    if (!B) {
        fprintf(stderr, "gm-microbench: unknown allocator '%s' (gmbench list shows them)\n", name);
        return EXIT_USAGE;
    }
    char library[512] = "", identity[256];
    if (!gm_backend_locate(B, library, sizeof library)) {
        fprintf(stderr, "gm-microbench: %s is not installed: %s not found (Debian package %s)\n",
                B->name, B->soname, B->package);
        return EXIT_USAGE;
    }
    if (B->init) B->init();
    if (gm_backend_prove(B, identity, sizeof identity) != 0) {
        fprintf(stderr, "gm-microbench: this process is not served by %s: %s\n", B->name, identity);
        print_right_command(B, argc, argv);
        return EXIT_IDENTITY;
    }
    thread_setup();
    add_context(B, library, identity);

    batch_ptrs = gm_map(BATCH_MAX * sizeof(void *), 1);
    batch_perm = gm_map(BATCH_MAX * sizeof(uint32_t), 1);
    rings = gm_map(MAX_THREADS * sizeof(xring), 1);
    register_all();
    return gmb_main(argc, argv);
}
