#!/usr/bin/env bash
# scripts/bench-harness.sh — the harness's own cost (a benchmark, not a test): every workload
# run against `bump`, a ring allocator that costs a thread-local add, with latency timing off,
# then sampled, then on every op; plus the cycle counter's overhead and resolution. Leaves the
# result sets in results/harness-overhead/{off,sample,all}/ and prints ns/op per workload.
#
#   scripts/bench-harness.sh [extra gmbench compare flags]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
gm_install_deps
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target gmbench >/dev/null

gmbench=build/release/harness/gmbench
out=results/harness-overhead
for mode in off sample all; do
  "$gmbench" compare --allocators bump --workloads sizeclass-sweep,batch,churn,tiny \
    --ops 5000000 --touch none --latency "$mode" --reps 3 --out "$out/$mode" "$@" >/dev/null
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
sets = {m: json.load(open(f"{out}/{m}/results.json")) for m in ("off", "sample", "all")}
print(f"{'workload':18} {'ns/op off':>10} {'sample':>8} {'all':>8}   (median of 3; bump allocator, --touch none)")
for row in sets["off"]["summary"]:
    w = row["workload"]
    cells = []
    for m in ("off", "sample", "all"):
        r = next(s for s in sets[m]["summary"] if s["workload"] == w)
        cells.append(r["metrics"]["time.ns_per_op"]["median"])
    print(f"{w:18} {cells[0]:10.2f} {cells[1]:8.2f} {cells[2]:8.2f}")
clock = sets["all"]["runs"][0]["clock"]
print(f"timer: {clock['source']}, {clock['ticks_per_ns']:.3f} ticks/ns, empty timed region "
      f"median {clock['overhead_ns']:.1f} ns, min {clock['overhead_min_ns']:.1f} ns (subtracted), "
      f"resolution {clock['resolution_ns']:.1f} ns")
PY
