#!/usr/bin/env bash
# scripts/test.sh — install what is missing, then configure, build and run every test in the
# release, asan (ASan+UBSan) and tsan presets. Exits non-zero on any failure.
#
#   scripts/test.sh               all three presets
#   scripts/test.sh release       only the named presets
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
gm_install_deps "${GM_ALLOCATOR_PACKAGES[@]}"

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release asan tsan)
jobs=$(nproc)
failed=()
for p in "${presets[@]}"; do
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
