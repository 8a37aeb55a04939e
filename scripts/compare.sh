#!/usr/bin/env bash
# scripts/compare.sh — the main job: install what is missing, build the release preset, run the
# default comparison (every installed allocator × the synthetic workloads and the real traces
# in workloads/traces/, 3 repetitions each; with the microbenchmarks and the escape sweep about
# nine minutes on 2 cores) and leave the result set in results/latest/.
#
#   scripts/compare.sh                      the default comparison
#   scripts/compare.sh --reps 5 --threads 1,2 --workloads churn,larson
#                                           any `gmbench compare` flag overrides the defaults
#                                           (a later --workloads, --traces, --allocators or
#                                           --threads replaces the earlier list)
#
# The previous results/latest/ is kept as results/previous/ (nothing is overwritten in place:
# the new set is written to a temporary directory and moved into place when complete).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
gm_install_deps "${GM_ALLOCATOR_PACKAGES[@]}"

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target gmbench

gmbench=build/release/harness/gmbench
mkdir -p results
tmp=$(mktemp -d results/.latest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The default set: every synthetic workload and every trace shipped in workloads/traces/.
traces=$(ls workloads/traces/*.gmtrace | paste -sd, -)
"$gmbench" compare --allocators all --workloads default --traces "$traces" --reps 3 \
  --out "$tmp" "$@"

# The microbenchmarks of the same allocators (about a minute; GM_NO_MICROBENCH=1 skips them),
# then the report (GM_REPORT_BASELINE, default glibc). Neither failing loses the result set:
# failures are listed in the report and the script exits 1 at the end.
status=0
allocators=$(/usr/bin/python3 -c 'import json, sys
print(",".join(json.load(open(sys.argv[1]))["config"]["allocators"]))' "$tmp/results.json")
if [ -z "${GM_NO_MICROBENCH:-}" ]; then
  GM_MICROBENCH_ALLOCATORS=$allocators scripts/microbench.sh "$tmp/microbench" || status=1
fi
# The escape-analysis trade-off (goroutines workload, --noescape 0..1) for the same
# allocators, about half a minute; GM_NO_ESCAPE=1 skips it.
if [ -z "${GM_NO_ESCAPE:-}" ]; then
  scripts/escape.sh --allocators "$allocators" --ops 300000 --out "$tmp/escape" >/dev/null ||
    status=1
fi
/usr/bin/python3 scripts/report.py "$tmp" --baseline "${GM_REPORT_BASELINE:-glibc}" || status=1

rm -rf results/previous
[ -e results/latest ] && mv results/latest results/previous
mv "$tmp" results/latest
trap - EXIT
echo "results: results/latest/ (results.json, summary.csv, runs.csv, runs/, microbench/)"
echo "report:  results/latest/report.html, results/latest/report.md, results/latest/figures/"
exit $status
