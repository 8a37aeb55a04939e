#!/usr/bin/env bash
# scripts/fuzz-campaign.sh — a fuzzing campaign on the allocator's libFuzzer targets
# (fuzz/README.md). For each target:
#   1. builds the `fuzz` preset (clang-14, ASan + UBSan, GM_DEBUG) and runs libFuzzer in fork
#      mode (-fork=<cores>) for the given minutes, seeded with fuzz/corpus/<target>/ and the
#      target's dictionary (fuzz/<target>.dict) when it has one;
#   2. merges the corpus and the new inputs into a minimal set (-merge=1) that replaces
#      fuzz/corpus/<target>/;
#   3. minimises every crash (-minimize_crash=1) into fuzz/regressions/<target>/, where CTest
#      replays it in every preset from then on;
# then builds the `coverage` preset, replays every corpus and regression input with the
# standalone driver and writes line coverage of alloc/ per target and combined
# (llvm-profdata-14 / llvm-cov-14) to build/fuzz-report/: summary.txt, per-target reports,
# html/index.html. Prints exec/s per target. Exits non-zero if a target found a crash.
#
#   scripts/fuzz-campaign.sh all 1          every target, one minute each
#   scripts/fuzz-campaign.sh api 30         one target, thirty minutes
#   GM_FUZZ_JOBS=4 scripts/fuzz-campaign.sh all 10     fork width (default: nproc)
#   GM_FUZZ_SECONDS=20 ...                  seconds instead of minutes (CI smoke runs)
#   GM_FUZZ_NO_MERGE=1 ...                  leave fuzz/corpus/ untouched (CI)
#   GM_FUZZ_NO_COVERAGE=1 ...               skip the coverage report
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
gm_install_deps

all_targets=$(sed -n 's/^gm_add_fuzz_target(\([a-z_0-9]*\).*/\1/p' fuzz/CMakeLists.txt)
what=${1:-}
minutes=${2:-1}
if [ -z "$what" ]; then
  echo "usage: $0 TARGET|all [minutes]   (targets: $(echo $all_targets))" >&2
  exit 2
fi
if [ "$what" = all ]; then targets=$all_targets; else targets=$what; fi
for t in $targets; do
  echo "$all_targets" | grep -qx "$t" || { echo "unknown target: $t" >&2; exit 2; }
done
secs=${GM_FUZZ_SECONDS:-$((minutes * 60))}
jobs=${GM_FUZZ_JOBS:-$(nproc)}
work=build/fuzz-work
report=build/fuzz-report
bin=build/fuzz/fuzz

echo "==> [fuzz] configure and build"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)" >/dev/null

crashed=()
declare -A rate
for t in $targets; do
  w=$work/$t
  rm -rf "$w"
  mkdir -p "$w/new" "$w/artifacts" "fuzz/corpus/$t" "fuzz/regressions/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "==> [$t] fuzzing ${secs}s with -fork=$jobs"
  # Fork mode: crashes do not stop the campaign; each is kept under artifacts/.
  "$bin/${t}_fuzzer" -fork="$jobs" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$secs" -max_len=1024 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$w/artifacts/" "${dict[@]}" "$w/new" "fuzz/corpus/$t" \
    >"$w/fuzz.log" 2>&1 || true
  # Fork mode's status lines read "#N: cov: .. exec/s E .. time: Ts ..", where E covers only
  # the last interval; executions per second over the whole run, all jobs together, are N/T.
  rate[$t]=$(grep -E '^#[0-9]+: cov' "$w/fuzz.log" | tail -1 |
    sed -E 's/^#([0-9]+):.* time: ([0-9]+)s.*/\1 \2/' | awk '$2 > 0 {printf "%d", $1 / $2}' || true)
  rate[$t]=${rate[$t]:-?}
  for c in "$w"/artifacts/crash-* "$w"/artifacts/leak-* "$w"/artifacts/timeout-*; do
    [ -f "$c" ] || continue
    out="fuzz/regressions/$t/$(basename "$c")"
    echo "    [$t] finding $(basename "$c"): minimising into $out"
    "$bin/${t}_fuzzer" -minimize_crash=1 -runs=20000 -max_total_time=60 \
      -exact_artifact_path="$out" "$c" >"$w/minimize.log" 2>&1 || true
    [ -f "$out" ] || cp "$c" "$out"
    crashed+=("$t:$(basename "$c")")
  done
  if [ -z "${GM_FUZZ_NO_MERGE:-}" ]; then
    # A minimal set covering every feature of corpus + new inputs replaces the corpus.
    rm -rf "$w/merged" && mkdir -p "$w/merged"
    # -use_counters=0: one input per new edge, not per hit-count bucket, keeps it small.
    if "$bin/${t}_fuzzer" -merge=1 -use_counters=0 -max_len=1024 -timeout=10 "$w/merged" "fuzz/corpus/$t" \
         "$w/new" >"$w/merge.log" 2>&1 && [ -n "$(ls -A "$w/merged")" ]; then
      find "fuzz/corpus/$t" -maxdepth 1 -type f ! -name '.*' -delete
      cp "$w"/merged/* "fuzz/corpus/$t/"
    else
      echo "    [$t] merge failed (see $w/merge.log); corpus left as it was"
    fi
  fi
  echo "    [$t] exec/s ${rate[$t]}, corpus $(ls "fuzz/corpus/$t" | wc -l) files"
done

if [ -z "${GM_FUZZ_NO_COVERAGE:-}" ]; then
  echo "==> [coverage] configure, build, replay corpora"
  cmake --preset coverage >/dev/null
  cmake --build --preset coverage -j "$(nproc)" >/dev/null
  rm -rf "$report" && mkdir -p "$report/prof"
  # The library's own sources (mksizeclasses.c is the table generator, not the library).
  srcs=$(ls alloc/*.c alloc/*.h | grep -v mksizeclasses.c)
  objs=()
  for t in $all_targets; do
    b=build/coverage/fuzz/${t}_replay
    LLVM_PROFILE_FILE="$report/prof/$t.profraw" "$b" "fuzz/corpus/$t" "fuzz/regressions/$t" \
      >/dev/null 2>"$report/prof/$t.replay.log" || echo "    [$t] replay failed (see $report/prof/$t.replay.log)"
    llvm-profdata-14 merge -sparse "$report/prof/$t.profraw" -o "$report/prof/$t.profdata"
    llvm-cov-14 report "$b" -instr-profile="$report/prof/$t.profdata" $srcs >"$report/$t.txt"
    objs+=(-object "$b")
  done
  llvm-profdata-14 merge -sparse "$report"/prof/*.profraw -o "$report/prof/all.profdata"
  first=${objs[1]}
  llvm-cov-14 report "$first" "${objs[@]:2}" -instr-profile="$report/prof/all.profdata" $srcs \
    >"$report/combined.txt"
  llvm-cov-14 show "$first" "${objs[@]:2}" -instr-profile="$report/prof/all.profdata" \
    -format=html -output-dir="$report/html" $srcs >/dev/null
  # The TOTAL row: Regions Missed Cover Functions Missed Cover Lines Missed Cover ...
  line_cov() { awk '/^TOTAL/ {print $10 " (" $8 " lines, " $9 " missed)"}' "$1"; }
  {
    echo "gomalloc fuzz campaign: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${secs}s per target, -fork=$jobs"
    printf '%-12s %10s   %s\n' target exec/s "line coverage of alloc/ (replaying corpus + regressions)"
    echo "(exec/s: all $jobs fork jobs together, over the whole run)"
    for t in $all_targets; do
      printf '%-12s %10s   %s\n' "$t" "${rate[$t]:--}" "$(line_cov "$report/$t.txt")"
    done
    printf '%-12s %10s   %s\n' combined "" "$(line_cov "$report/combined.txt")"
  } | tee "$report/summary.txt"
  echo "report: $report/summary.txt, $report/combined.txt, $report/html/index.html"
else
  for t in $targets; do printf '%-12s exec/s %s\n' "$t" "${rate[$t]}"; done
fi

if [ ${#crashed[@]} -gt 0 ]; then
  echo "FINDINGS (minimised into fuzz/regressions/): ${crashed[*]}" >&2
  exit 1
fi
