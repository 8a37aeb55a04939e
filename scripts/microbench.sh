#!/usr/bin/env bash
# scripts/microbench.sh — the allocator microbenchmarks (harness/bench/) for every installed
# allocator, one process each: the Go model through its API, every competitor with its library
# preloaded, each one proven before it runs (gm-microbench refuses otherwise). Leaves one
# Google Benchmark JSON per allocator in the result set:
#
#   scripts/microbench.sh                   → results/latest/microbench/<allocator>.json
#   scripts/microbench.sh DIR               → DIR/<allocator>.json
#   scripts/microbench.sh DIR --benchmark_filter='pair|batch'
#                                           extra flags go to every gm-microbench
#
# Environment: GM_MICROBENCH_REPS (repetitions, default 3: error bars), GM_MICROBENCH_MIN_TIME
# (seconds per benchmark and repetition, default 0.01: about 6 s per allocator, under a minute
# for six on 2 cores), GM_MICROBENCH_ALLOCATORS (comma-separated, default every installed one),
# GM_BUILD_DIR (default build/release; GM_NO_BUILD=1 uses it as it is).
#
# Each file is written atomically (the benchmark writes a temporary file that is renamed when
# the process succeeded). An allocator whose run fails leaves DIR/<allocator>.failed with the
# reason and the end of its output instead, the others still run, and the script exits 1.
# Compare two allocators with Google Benchmark's own tool (harness/bench/README.md):
#   /usr/bin/python3 /usr/share/benchmark/compare.py benchmarks DIR/glibc.json DIR/gomodel.json
set -euo pipefail
cd "$(dirname "$0")/.."

out=results/latest/microbench
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  out=$1
  shift
fi
reps=${GM_MICROBENCH_REPS:-3}
min_time=${GM_MICROBENCH_MIN_TIME:-0.01}
build=${GM_BUILD_DIR:-build/release}

if [ -z "${GM_NO_BUILD:-}" ]; then
  source scripts/deps.sh
  gm_install_deps "${GM_ALLOCATOR_PACKAGES[@]}"
  if [ "$build" = build/release ]; then
    cmake --preset release >/dev/null
  fi
  cmake --build "$build" -j "$(nproc)" --target gm-microbench
fi
bin=$build/harness/bench/gm-microbench
[ -x "$bin" ] || { echo "microbench: $bin not built" >&2; exit 2; }

mkdir -p "$out"
declare -A wanted=()
if [ -n "${GM_MICROBENCH_ALLOCATORS:-}" ]; then
  IFS=, read -r -a list <<<"$GM_MICROBENCH_ALLOCATORS"
  for a in "${list[@]}"; do wanted[$a]=1; done
fi

failed=()
while IFS=$'\t' read -r name lib; do
  if [ ${#wanted[@]} -gt 0 ] && [ -z "${wanted[$name]:-}" ]; then continue; fi
  # The Go model runs with nothing preloaded; a competitor with its library in front of libc.
  if [ -n "$lib" ]; then
    envcmd=(env -u LD_PRELOAD "LD_PRELOAD=$lib")
  else
    envcmd=(env -u LD_PRELOAD)
  fi
  tmp="$out/.$name.json.tmp"
  log="$out/.$name.log"
  rm -f "$out/$name.failed"
  start=$(date +%s)
  if "${envcmd[@]}" "$bin" --allocator "$name" \
       --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=false \
       --benchmark_min_time="$min_time" \
       --benchmark_out="$tmp" --benchmark_out_format=json "$@" >"$log" 2>&1 &&
     [ -s "$tmp" ]; then
    mv -f "$tmp" "$out/$name.json"
    rm -f "$log"
    echo "microbench: $name: $out/$name.json ($(($(date +%s) - start)) s)"
  else
    rc=$?
    { echo "gm-microbench --allocator $name failed (exit status $rc)"
      tail -n 20 "$log"; } >"$out/$name.failed"
    rm -f "$tmp" "$log"
    failed+=("$name")
    echo "microbench: $name FAILED (exit status $rc): $out/$name.failed" >&2
  fi
done < <("$bin" --list-allocators)

if [ ${#failed[@]} -gt 0 ]; then
  echo "microbench: failed: ${failed[*]}" >&2
  exit 1
fi
