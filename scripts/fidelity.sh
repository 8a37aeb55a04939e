#!/usr/bin/env bash
# scripts/fidelity.sh — the Go model against the real Go 1.19 runtime (issue 8).
#
# Builds the Go programs in workloads/go/ with go1.19, runs each on one P under
# GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1, and hands the log to `gmbench fidelity`,
# which imports it, replays it in the model's GC mode and prints, side by side with the real
# runtime: GC cycles, each cycle's trigger, live heap after its mark and goal, the peak of
# sampled HeapInuse, and the share of allocations with the same size class, page and address
# (harness/fidelity.c explains each figure). Each program is replayed twice: with the model's
# own cons/mark estimate (its pacer runs closed loop), and with the cons/mark and scan work the
# runtime measured (--runtime-pacing: what remains is the model's heap accounting and the
# pacer's formulas).
#
#   scripts/fidelity.sh                    trees, buffers and strmap (about a minute)
#   scripts/fidelity.sh buffers gofmt      choose; gofmt formats go/ast and go/token (slow:
#                                          allocfreetrace prints a traceback per allocation)
#   GOGC=50 scripts/fidelity.sh            the same GOGC is given to both
#   scripts/fidelity.sh --check ...        exit 1 unless every --runtime-pacing replay meets
#                                          the goal (GC count within 1, trigger and live heap
#                                          of every cycle within 5%)
#
# JSON per program in results/fidelity/ (written atomically); the logs are deleted unless
# GM_FIDELITY_KEEP=DIR names a directory to keep them in.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
gm_install_deps

check=()
progs=()
for a in "$@"; do
  case "$a" in
    --check) check=(--check) ;;
    trees|buffers|strmap|gofmt) progs+=("$a") ;;
    *) echo "fidelity.sh: unknown argument '$a' (programs: trees buffers strmap gofmt; flag: --check)" >&2
       exit 2 ;;
  esac
done
[ ${#progs[@]} -gt 0 ] || progs=(trees buffers strmap)

go=/usr/lib/go-1.19/bin/go
[ -x "$go" ] || { echo "fidelity.sh: $go missing (Debian package golang-1.19-go)" >&2; exit 1; }

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target gmbench
gmbench=build/release/harness/gmbench
mkdir -p build/release/go results/fidelity
GOCACHE=$PWD/build/release/go/cache GOFLAGS=-mod=mod "$go" build -o build/release/go/gmfid \
  workloads/go/*.go

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gogc=${GOGC:-100}
status=0
for p in "${progs[@]}"; do
  log=$tmp/$p.log
  if [ "$p" = gofmt ]; then
    cmd=(/usr/lib/go-1.19/bin/gofmt -l /usr/lib/go-1.19/src/go/ast /usr/lib/go-1.19/src/go/token)
  else
    cmd=(build/release/go/gmfid "$p")
  fi
  echo "== $p: ${cmd[*]} (GOMAXPROCS=1 GOGC=$gogc)"
  if ! GOMAXPROCS=1 GOGC=$gogc GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1 \
      "${cmd[@]}" >/dev/null 2>"$log"; then
    echo "fidelity.sh: $p failed; the end of its log:" >&2
    tail -5 "$log" >&2
    status=1
    continue
  fi
  "$gmbench" fidelity "$log" --name "$p" --gogc "$gogc" --json "results/fidelity/$p.json" ||
    status=1
  echo
  "$gmbench" fidelity "$log" --name "$p" --gogc "$gogc" --runtime-pacing \
    --json "results/fidelity/$p-runtime-pacing.json" "${check[@]}" || status=1
  if [ -n "${GM_FIDELITY_KEEP:-}" ]; then mkdir -p "$GM_FIDELITY_KEEP"; mv "$log" "$GM_FIDELITY_KEEP/"; fi
  rm -f "$log"
done
echo "JSON: results/fidelity/"
exit $status
