#!/usr/bin/env bash
# scripts/test.sh — install what is missing, then configure, build and run every test in the
# release, asan (ASan+UBSan) and tsan presets (each replays every fuzz corpus and regression
# input too), then the fuzz smoke runs: every libFuzzer target for a bounded time
# (GM_FUZZ_SMOKE_SECONDS, default 20) in the fuzz preset, corpus left untouched; a finding is
# minimised into fuzz/regressions/ and fails the run. Exits non-zero on any failure.
#
#   scripts/test.sh               release asan tsan fuzz
#   scripts/test.sh release       only the named presets
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
gm_install_deps "${GM_ALLOCATOR_PACKAGES[@]}"

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release asan tsan fuzz)
jobs=$(nproc)
failed=()
for p in "${presets[@]}"; do
  if [ "$p" = fuzz ]; then
    echo "==> [fuzz] smoke runs: every target ${GM_FUZZ_SMOKE_SECONDS:-20}s"
    GM_FUZZ_SECONDS=${GM_FUZZ_SMOKE_SECONDS:-20} GM_FUZZ_NO_MERGE=1 GM_FUZZ_NO_COVERAGE=1 \
      bash scripts/fuzz-campaign.sh all || failed+=("fuzz")
    continue
  fi
  echo "==> [$p] configure and build"
  if ! cmake --preset "$p" >/dev/null || ! cmake --build --preset "$p" -j "$jobs"; then
    failed+=("$p (build)")
    continue
  fi
  echo "==> [$p] test"
  ctest --preset "$p" -j "$jobs" || failed+=("$p (tests)")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all presets passed: ${presets[*]}"
