#!/usr/bin/env bash
# Install what gomalloc needs on Debian 12, only what is missing. Sourced by test.sh and
# compare.sh; safe to run by hand. Needs root (or sudo) only when something is missing.
set -euo pipefail

GM_PACKAGES=(
  cmake ninja-build build-essential pkg-config
  clang-14 libclang-rt-14-dev llvm-14 clang-format-14   # sanitizer presets, libFuzzer, coverage
  golang-1.19-go                                        # Go's sizeclasses.go to diff against, go tool pprof (mprof_pprof)
  python3 python3-jsonschema                            # result-schema tests (system python3)
  libzstd-dev xz-utils                                  # compressed traces; the fidelity test log
  libbenchmark-dev                                      # gm-microbench (harness/bench/)
  libbenchmark-tools python3-scipy                      # its compare.py (harness/bench/README.md)
  python3-matplotlib python3-numpy                      # scripts/report.py
  sqlite3 git perl make gcc libpython3.11-testsuite     # real programs on the preload (tests)
  redis-server redis-tools                              # real programs: redis in compare
)

# Optional tools, installed on request (`scripts/deps.sh afl++ valgrind`): AFL++ for the fuzz
# targets (fuzz/README.md) and Valgrind for a -DGM_VALGRIND=ON build (valgrind/memcheck.h).
GM_OPTIONAL_PACKAGES=(afl++ valgrind)

# The competitors gmbench measures (each backend names its runtime package in `gmbench list`).
GM_ALLOCATOR_PACKAGES=(libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev libtbb-dev)

gm_install_deps() {
  local missing=()
  for p in "${GM_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "deps: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  gm_install_deps "$@"
fi
