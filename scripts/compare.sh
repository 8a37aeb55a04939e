#!/usr/bin/env bash
# scripts/compare.sh — the main job: install what is missing, build the release preset, run the
# default comparison (every installed allocator × the default workloads, 3 repetitions each,
# about five minutes on 2 cores) and leave the result set in results/latest/.
#
#   scripts/compare.sh                      the default comparison
#   scripts/compare.sh --reps 5 --threads 1,2 --workloads churn,larson
#                                           any `gmbench compare` flag overrides the defaults
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

"$gmbench" compare --allocators all --workloads default --reps 3 --out "$tmp" "$@"

rm -rf results/previous
[ -e results/latest ] && mv results/latest results/previous
mv "$tmp" results/latest
trap - EXIT
echo "results: results/latest/ (results.json, summary.csv, runs.csv, runs/)"
