#!/usr/bin/env bash
# gmbench's command line: every bad input gets a clear error (and no result file), and the
# identity check refuses a process that is not served by the allocator it claims.
#   gmbench_cli.sh GMBENCH WORKDIR SANITIZED(0|1)
set -uo pipefail
gmbench=$1 work=$2 sanitized=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/expect.sh"

run=(--workload churn --ops 20000 --live 500)
expect 2 'usage: gmbench' -- "$gmbench"
expect 2 "unknown command 'frobnicate'; valid: list run compare merge job program trace import record" -- "$gmbench" frobnicate
expect 0 'gomodel.*gomodel-gc.*bump.*sizeclass-sweep.*batch.*churn.*fragment.*producer-consumer.*larson.*large.*tiny' \
  -- "$gmbench" list
expect 2 "unknown allocator 'nosuch'; valid: gomodel gomodel-gc glibc jemalloc mimalloc tcmalloc tbbmalloc bump" \
  -- "$gmbench" run --allocator nosuch "${run[@]}"
expect 2 "unknown workload 'nosuch'; valid: .*churn" -- "$gmbench" run --allocator bump --workload nosuch
expect 2 "\-\-ops: '12x' is not a number" -- "$gmbench" run --allocator bump --workload churn --ops 12x
expect 2 "\-\-threads: 0 is out of range" -- "$gmbench" run --allocator bump --workload churn --threads 0
expect 2 "\-\-latency: 'sometimes' is not one of off, sample, all" \
  -- "$gmbench" run --allocator bump "${run[@]}" --latency sometimes
expect 2 "unknown parameter --nosuch for workload churn" \
  -- "$gmbench" run --allocator bump "${run[@]}" --nosuch 3
expect 2 "\-\-live: .*" -- "$gmbench" run --allocator bump "${run[@]}" --live -5
expect 2 "\-\-seed needs a value" -- "$gmbench" run --allocator bump "${run[@]}" --seed
expect 2 "run needs --allocator and one of --workload or --trace" -- "$gmbench" run --workload churn
expect 2 "\-\-inject: 'segv' is not KIND@OP" -- "$gmbench" run --allocator bump "${run[@]}" --inject segv
# No partial result: a refused run leaves no file behind.
expect 2 "is not a number" -- "$gmbench" run --allocator bump "${run[@]}" --ops x --out "$work/bad.json"
[ ! -e "$work/bad.json" ] || { echo "FAIL: a refused run wrote $work/bad.json"; fails=$((fails + 1)); }

# A good run writes a parseable result, atomically (no temporary file left).
expect 0 '' -- "$gmbench" run --allocator bump "${run[@]}" --out "$work/bump.json"
expect 0 '"status": "ok"' -- cat "$work/bump.json"
ls "$work" | grep -q '\.tmp' && { echo "FAIL: temporary file left in $work"; fails=$((fails + 1)); }

# compare's own flags.
expect 2 "compare needs --out" -- "$gmbench" compare --allocators bump --workloads churn
expect 2 "unknown allocator 'nosuch'" -- "$gmbench" compare --allocators bump,nosuch --workloads churn --out "$work/c"
expect 2 "unknown workload 'nosuch'" -- "$gmbench" compare --allocators bump --workloads nosuch --out "$work/c"
expect 2 "\-\-reps: '0' is not a count" -- "$gmbench" compare --allocators bump --workloads churn --reps 0 --out "$work/c"
expect 2 "\-\-nosuch is neither a run flag nor a parameter" \
  -- "$gmbench" compare --allocators bump --workloads churn --nosuch 1 --out "$work/c"
expect 2 "\-\-threads: 'x' is not a thread count" \
  -- "$gmbench" compare --allocators bump --workloads churn --threads 1,x --out "$work/c"
# Parameters that only the generator can judge are checked before the first child starts.
expect 2 "tiny on bump: workload tiny needs --ops >= " \
  -- "$gmbench" compare --allocators bump --workloads tiny --ops 100 --out "$work/c"
[ ! -e "$work/c/runs" ] || { echo "FAIL: a refused compare created $work/c/runs"; fails=$((fails + 1)); }
expect 2 "usage: merge" -- "$gmbench" merge --out "$work/m"
expect 2 "usage: job" -- "$gmbench" job --out "$work/j.json"
# A library that is not there is named with its Debian package.
expect 2 "allocator jemalloc is not installed: libjemalloc.so.2 not found; install the Debian package libjemalloc2" \
  -- env GMBENCH_LIBRARY_PATH=/nonexistent "$gmbench" run --allocator jemalloc "${run[@]}"

if [ "$sanitized" = 0 ]; then
  # Identity: each competitor refuses to run without its library preloaded, with a wrong one,
  # and runs with the right one. Sanitizer runtimes replace malloc themselves, so only here.
  declare -A lib=([jemalloc]=libjemalloc.so.2 [mimalloc]=libmimalloc.so.2 \
                  [tcmalloc]=libtcmalloc_minimal.so.4 [tbbmalloc]=libtbbmalloc_proxy.so.2)
  for a in jemalloc mimalloc tcmalloc tbbmalloc; do
    path=$("$gmbench" list | awk -v l="${lib[$a]}" '$1 ~ l {print $1; exit}')
    [ -n "$path" ] && [ -e "$path" ] || { echo "skip identity checks for $a: not installed"; continue; }
    expect 3 "refusing to measure $a: malloc is served by .*libc.so.6.*run instead:.*LD_PRELOAD=$path" \
      -- env -u LD_PRELOAD "$gmbench" run --allocator "$a" "${run[@]}"
    expect 0 '' -- env LD_PRELOAD="$path" "$gmbench" run --allocator "$a" "${run[@]}" --out "$work/$a.json"
    expect 0 "\"name\": \"$a\"" -- cat "$work/$a.json"
    expect 3 "refusing to measure glibc: malloc is served by $path" \
      -- env LD_PRELOAD="$path" "$gmbench" run --allocator glibc "${run[@]}"
    expect 3 "refusing to measure gomodel" -- env LD_PRELOAD="$path" "$gmbench" run --allocator gomodel "${run[@]}"
    other=jemalloc; [ "$a" = jemalloc ] && other=mimalloc
    expect 3 "refusing to measure $other: malloc is served by $path" \
      -- env LD_PRELOAD="$path" "$gmbench" run --allocator "$other" "${run[@]}"
  done
  expect 0 '' -- env -u LD_PRELOAD "$gmbench" run --allocator glibc "${run[@]}" --out "$work/glibc.json"
  expect 0 '' -- env -u LD_PRELOAD "$gmbench" run --allocator gomodel "${run[@]}" --out "$work/gomodel.json"
  expect 0 '"mallocs"' -- cat "$work/gomodel.json"
fi

expect_finish gmbench_cli
