// gmb_shim.cc — the C API of gmb.h over Google Benchmark (Debian libbenchmark-dev 1.7.1).
//
// The only C++ in the tree. Each C handle is the library's own object, cast: a gmb_state * is a
// benchmark::State *, a gmb_bench * a benchmark::internal::Benchmark *; registration wraps the
// C function and its argument in a lambda. Nothing here allocates on a benchmark's hot path:
// gmb_keep_running is State::KeepRunning (an inline decrement, here behind one call).
#include "gmb.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

namespace
{

benchmark::State &st(gmb_state *s)
{
    return *reinterpret_cast<benchmark::State *>(s);
}

const benchmark::State &st(const gmb_state *s)
{
    return *reinterpret_cast<const benchmark::State *>(s);
}

benchmark::internal::Benchmark *bm(gmb_bench *b)
{
    return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

benchmark::Counter::Flags counter_flags(unsigned flags)
{
    int f = benchmark::Counter::kDefaults;
    if (flags & GMB_COUNTER_RATE) f |= benchmark::Counter::kIsRate;
    if (flags & GMB_COUNTER_AVG_THREADS) f |= benchmark::Counter::kAvgThreads;
    if (flags & GMB_COUNTER_AVG_ITERATIONS) f |= benchmark::Counter::kAvgIterations;
    return static_cast<benchmark::Counter::Flags>(f);
}

} // namespace

extern "C" {

gmb_bench *gmb_register(const char *name, gmb_fn fn, void *arg)
{
    benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(
        name, [fn, arg](benchmark::State &s) { fn(reinterpret_cast<gmb_state *>(&s), arg); });
    return reinterpret_cast<gmb_bench *>(b);
}

void gmb_args(gmb_bench *b, const int64_t *args, size_t nargs)
{
    bm(b)->Args(std::vector<int64_t>(args, args + nargs));
}

void gmb_range(gmb_bench *b, int64_t lo, int64_t hi)
{
    bm(b)->Range(lo, hi);
}

void gmb_dense_range(gmb_bench *b, int64_t lo, int64_t hi, int64_t step)
{
    bm(b)->DenseRange(lo, hi, static_cast<int>(step));
}

void gmb_arg_names(gmb_bench *b, const char *const *names, size_t nnames)
{
    bm(b)->ArgNames(std::vector<std::string>(names, names + nnames));
}

void gmb_threads(gmb_bench *b, int nthreads)
{
    bm(b)->Threads(nthreads);
}

void gmb_use_real_time(gmb_bench *b)
{
    bm(b)->UseRealTime();
}

bool gmb_keep_running(gmb_state *s)
{
    return st(s).KeepRunning();
}

bool gmb_keep_running_batch(gmb_state *s, int64_t n)
{
    return st(s).KeepRunningBatch(n);
}

void gmb_pause(gmb_state *s)
{
    st(s).PauseTiming();
}

void gmb_resume(gmb_state *s)
{
    st(s).ResumeTiming();
}

int64_t gmb_arg(const gmb_state *s, size_t i)
{
    return st(s).range(i);
}

int gmb_thread_index(const gmb_state *s)
{
    return st(s).thread_index();
}

int gmb_thread_count(const gmb_state *s)
{
    return st(s).threads();
}

int64_t gmb_iterations(const gmb_state *s)
{
    return st(s).iterations();
}

void gmb_set_items_processed(gmb_state *s, int64_t items)
{
    st(s).SetItemsProcessed(items);
}

void gmb_set_bytes_processed(gmb_state *s, int64_t bytes)
{
    st(s).SetBytesProcessed(bytes);
}

void gmb_counter(gmb_state *s, const char *name, double value, unsigned flags)
{
    st(s).counters[name] = benchmark::Counter(value, counter_flags(flags));
}

void gmb_set_label(gmb_state *s, const char *label)
{
    st(s).SetLabel(label);
}

void gmb_skip_with_error(gmb_state *s, const char *msg)
{
    st(s).SkipWithError(msg);
}

void gmb_add_context(const char *key, const char *value)
{
    benchmark::AddCustomContext(key, value);
}

int gmb_main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    size_t ran = benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (ran == 0) {
        std::fprintf(stderr, "%s: no benchmark matched --benchmark_filter\n", argv[0]);
        return 1;
    }
    return 0;
}

} // extern "C"
