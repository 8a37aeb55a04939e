#!/usr/bin/env bash
# escape.sh — the escape-analysis trade-off (what `go build -gcflags=-m` exposes): the
# `goroutines` workload with --noescape going from 0 to 1, i.e. that share of allocations made in
# the goroutine's stack frame instead of the heap, for each allocator. Prints one table of
# allocation cost (ns per op, throughput, malloc p50) and memory (heap peak, stack peak, peak RSS
# over the baseline) and writes every run file under --out.
#
#   scripts/escape.sh [--gmbench PATH] [--allocators gomodel,glibc] [--shares 0,0.25,0.5,0.75,1]
#                     [--ops N] [--seed S] [--out DIR] [-- WORKLOAD-FLAGS...]
#
# Each measurement is `gmbench job` (one child per run, with the allocator's LD_PRELOAD set by
# gmbench). Heap peak = memory.peak_live_bytes (escaping objects only); stack peak =
# memory.stack_bytes_peak (Go model: its stack allocator; C allocators: the driver's green
# threads, stacks from malloc). Timings are one run each: read them as a trend, not a benchmark.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
gmbench="$here/build/release/harness/gmbench"
allocators="gomodel,glibc"
shares="0,0.25,0.5,0.75,1"
ops=1000000
seed=1
out=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --gmbench) gmbench=$2; shift 2 ;;
    --allocators) allocators=$2; shift 2 ;;
    --shares) shares=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "escape.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$gmbench" ] || { echo "escape.sh: no gmbench at $gmbench (build first)" >&2; exit 2; }
if [ -z "$out" ]; then
    out=$(mktemp -d /tmp/gm-escape.XXXXXX)
fi
mkdir -p "$out"

IFS=, read -r -a alist <<<"$allocators"
IFS=, read -r -a slist <<<"$shares"
for a in "${alist[@]}"; do
    for s in "${slist[@]}"; do
        f="$out/$a-noescape-$s.json"
        if ! "$gmbench" job --out "$f" -- --allocator "$a" --workload goroutines --ops "$ops" \
            --seed "$seed" --noescape "$s" "${extra[@]}" >"$out/$a-noescape-$s.log" 2>&1; then
            echo "escape.sh: $a --noescape $s failed (see $out/$a-noescape-$s.log)" >&2
        fi
    done
done

/usr/bin/python3 - "$out" "$allocators" "$shares" <<'EOF'
import json, os, sys

out, allocators, shares = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
mib = 1 << 20
cols = ["allocator", "noescape", "ns/op", "Mops/s", "malloc_p50_ns", "heap_peak_MiB",
        "stack_peak_MiB", "rss_peak_MiB"]
print("escape analysis: goroutines workload, share of allocations that do not escape")
print(" ".join(f"{c:>15}" for c in cols))
bad = 0
for a in allocators:
    for s in shares:
        f = os.path.join(out, f"{a}-noescape-{s}.json")
        try:
            r = json.load(open(f))
        except (OSError, ValueError):
            r = {"status": "missing"}
        if r.get("status") != "ok":
            print(f"{a:>15} {s:>15} {'failed: ' + r.get('status', '?'):>15}")
            bad += 1
            continue
        m, t = r["memory"], r["time"]
        p50 = r["latency"]["malloc"].get("p50_ns")
        row = [a, s, f"{t['ns_per_op']:.1f}", f"{t['ops_per_s'] / 1e6:.2f}",
               f"{p50:.1f}" if p50 is not None else "-",
               f"{m['peak_live_bytes'] / mib:.2f}", f"{m['stack_bytes_peak'] / mib:.2f}",
               f"{m['peak_rss_over_baseline_bytes'] / mib:.2f}"]
        print(" ".join(f"{c:>15}" for c in row))
print(f"run files: {out}")
sys.exit(1 if bad else 0)
EOF
