/*
 * gmb.h — Google Benchmark from C: a plain C API over Debian's libbenchmark (1.7.1).
 *
 * The microbenchmarks are C like the rest of the harness; Google Benchmark is C++. This header
 * is the whole bridge: gmb_shim.cc implements it and is the only C++ in the tree. It covers what
 * allocator microbenchmarks need and nothing more:
 *
 *   registration  gmb_register(name, fn, arg) → a handle to add argument lists (gmb_args),
 *                 ranges (gmb_range, gmb_dense_range), argument names, thread counts
 *                 (gmb_threads: each call adds one count, as Threads(1)->Threads(2)), real time;
 *   the loop      while (gmb_keep_running(s)) { … } or gmb_keep_running_batch(s, n) (may
 *                 overshoot by up to n iterations, as KeepRunningBatch), gmb_pause/gmb_resume
 *                 (PauseTiming/ResumeTiming), gmb_arg(s, i) (range(i)), gmb_thread_index,
 *                 gmb_thread_count, gmb_iterations;
 *   reporting     gmb_set_items_processed, gmb_set_bytes_processed, gmb_counter (a user counter
 *                 with Counter's flags), gmb_set_label, gmb_skip_with_error, gmb_add_context
 *                 (AddCustomContext: a key/value pair in the "context" block of the output);
 *   main          gmb_main(argc, argv): benchmark::Initialize (so every standard flag works:
 *                 --benchmark_filter, --benchmark_repetitions, --benchmark_min_time,
 *                 --benchmark_format=json, --benchmark_out, …), refuses unknown flags, runs the
 *                 selected benchmarks, returns the exit status.
 *
 * A benchmark function is called once per thread per run, as in Google Benchmark; every loop
 * must run until gmb_keep_running* returns false. Handles and states are owned by the library.
 * Registration must happen before gmb_main; nothing here is thread-safe except what is used
 * inside a running benchmark (the state is per thread).
 */
#ifndef GMB_H
#define GMB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gmb_state gmb_state; /* benchmark::State of one thread of one run */
typedef struct gmb_bench gmb_bench; /* benchmark::internal::Benchmark */
typedef void (*gmb_fn)(gmb_state *s, void *arg);

/* Counter flags (benchmark::Counter::Flags): a rate divides by the time, avg_threads by the
 * number of threads, avg_iterations by the iterations. */
enum {
    GMB_COUNTER_DEFAULT = 0,
    GMB_COUNTER_RATE = 1 << 0,
    GMB_COUNTER_AVG_THREADS = 1 << 1,
    GMB_COUNTER_AVG_ITERATIONS = 1 << 2,
};

/* ---- registration ---- */
gmb_bench *gmb_register(const char *name, gmb_fn fn, void *arg);
void gmb_args(gmb_bench *b, const int64_t *args, size_t nargs); /* one argument list */
void gmb_range(gmb_bench *b, int64_t lo, int64_t hi);           /* Range(lo, hi) */
void gmb_dense_range(gmb_bench *b, int64_t lo, int64_t hi, int64_t step);
void gmb_arg_names(gmb_bench *b, const char *const *names, size_t nnames);
void gmb_threads(gmb_bench *b, int nthreads); /* adds one thread count */
void gmb_use_real_time(gmb_bench *b);

/* ---- inside a benchmark ---- */
bool gmb_keep_running(gmb_state *s);
bool gmb_keep_running_batch(gmb_state *s, int64_t n);
void gmb_pause(gmb_state *s);
void gmb_resume(gmb_state *s);
int64_t gmb_arg(const gmb_state *s, size_t i);
int gmb_thread_index(const gmb_state *s);
int gmb_thread_count(const gmb_state *s);
int64_t gmb_iterations(const gmb_state *s); /* iterations done so far by this thread */
void gmb_set_items_processed(gmb_state *s, int64_t items);
void gmb_set_bytes_processed(gmb_state *s, int64_t bytes);
void gmb_counter(gmb_state *s, const char *name, double value, unsigned flags);
void gmb_set_label(gmb_state *s, const char *label);
void gmb_skip_with_error(gmb_state *s, const char *msg);

/* ---- the program ---- */
void gmb_add_context(const char *key, const char *value);
/* Initialize with argv (removing the flags it knows), refuse what is left besides argv[0]
 * (exit status 2), run, shut down. 0 = every selected benchmark ran. */
int gmb_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
