#!/usr/bin/env bash
# scripts/record-overhead.sh — what recording costs a program (a benchmark, not a test): wall
# time of a malloc-heavy program (tests/data/record/churn.c: free + malloc/calloc/realloc of
# 16..1024 bytes per op) run plain, then under libgmrecord.so writing its raw logs (timestamps
# on, then off), then — when this gmbench has the `record` command — the whole
# `gmbench record` (recording + conversion to a trace). Median of REPS runs each; prints the
# ratios to the plain run. The goal is under 2x for the recorded run. On a loaded machine,
# GM_RECORD_STAT=min reports the fastest run of each instead of the median.
#
#   scripts/record-overhead.sh [OPS [THREADS [REPS]]]     (defaults: 5000000 1 5)
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-5000000}
threads=${2:-1}
reps=${3:-5}
build=${GM_RECORD_BUILD:-build/release}
if [[ -z "${GM_RECORD_BUILD:-}" ]]; then
  source scripts/deps.sh
  gm_install_deps
  cmake --preset release >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target gmrecord record_churn >/dev/null
lib=$PWD/$build/workloads/recorder/libgmrecord.so
prog=$PWD/$build/tests/record_churn
gmbench=$PWD/$build/harness/gmbench
have_cli=0
if cmake --build "$build" --target gmbench >/dev/null 2>&1 &&
  "$gmbench" record --out "$(mktemp -u /tmp/gm-record-probe.XXXXXX)" -- true >/dev/null 2>&1; then
  have_cli=1
fi
tmp=$(mktemp -d /tmp/gm-record-overhead.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Runs "$@" REPS times; prints the median (or min) wall time in seconds.
median() {
  local times=()
  for ((i = 0; i < reps; i++)); do
    rm -rf "$tmp/raw" "$tmp/out"*; mkdir -p "$tmp/raw"
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    times+=("$(( t1 - t0 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n |
    awk -v m="${GM_RECORD_STAT:-median}" '{a[NR]=$1} END {printf "%.3f\n", (m == "min" ? a[1] : a[int((NR+1)/2)])/1e9}'
}

plain=$(median "$prog" "$ops" "$threads")
rec=$(median env LD_PRELOAD="$lib" GMRECORD_DIR="$tmp/raw" GMRECORD_TIME=32 "$prog" "$ops" "$threads")
rec_ex=$(median env LD_PRELOAD="$lib" GMRECORD_DIR="$tmp/raw" GMRECORD_TIME=1 "$prog" "$ops" "$threads")
rec_nt=$(median env LD_PRELOAD="$lib" GMRECORD_DIR="$tmp/raw" GMRECORD_TIME=0 "$prog" "$ops" "$threads")
calls=$(( ( $(cat "$tmp"/raw/*.ev | wc -c) ) / 32 ))
echo "record_churn $ops ops x $threads threads, $calls raw events per run, ${GM_RECORD_STAT:-median} of $reps ($(nproc) CPUs)"
printf '%-44s %8.3f s\n' "plain" "$plain"
printf '%-44s %8.3f s  %5.2fx\n' "recorded (raw logs, default timestamps)" "$rec" "$(awk -v a="$rec" -v b="$plain" 'BEGIN {print a / b}')"
printf '%-44s %8.3f s  %5.2fx\n' "recorded (raw logs, exact timestamps)" "$rec_ex" "$(awk -v a="$rec_ex" -v b="$plain" 'BEGIN {print a / b}')"
printf '%-44s %8.3f s  %5.2fx\n' "recorded (raw logs, no timestamps)" "$rec_nt" "$(awk -v a="$rec_nt" -v b="$plain" 'BEGIN {print a / b}')"
if [[ $have_cli == 1 ]]; then
  full=$(median "$gmbench" record --out "$tmp/out" -- "$prog" "$ops" "$threads")
  printf '%-44s %8.3f s  %5.2fx\n' "gmbench record (recording + conversion)" "$full" "$(awk -v a="$full" -v b="$plain" 'BEGIN {print a / b}')"
fi

# A real program: CPython with PYTHONMALLOC=malloc (every object through malloc; about 3
# million calls), building lists of strings.
py=/usr/bin/python3
if [[ -x $py ]]; then
  script='d={}
for i in range(300000): d.setdefault(i%5000, []).append(str(i)*2)'
  pplain=$(median env PYTHONMALLOC=malloc "$py" -c "$script")
  prec=$(median env PYTHONMALLOC=malloc LD_PRELOAD="$lib" GMRECORD_DIR="$tmp/raw" GMRECORD_TIME=32 "$py" -c "$script")
  pcalls=$(( ( $(cat "$tmp"/raw/*.ev | wc -c) ) / 32 ))
  echo "python3 (PYTHONMALLOC=malloc), $pcalls raw events per run"
  printf '%-44s %8.3f s\n' "plain" "$pplain"
  printf '%-44s %8.3f s  %5.2fx\n' "recorded (raw logs, default timestamps)" "$prec" "$(awk -v a="$prec" -v b="$pplain" 'BEGIN {print a / b}')"
fi
