#!/usr/bin/env bash
# tests/gmbench_fidelity.sh GMBENCH WORKDIR — `gmbench fidelity` on a committed Go 1.19 log
# (workloads/go/testdata/buffers.log.xz: `gmfid buffers` under GOMAXPROCS=1,
# GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1, recorded by scripts/fidelity.sh with
# GM_FIDELITY_KEEP). Checks what the log fixes exactly (allocations, the real cycles and their
# figures, every size class equal to Go's), that the model's replay produces cycles whose
# figures obey the pacer's own rules, the issue's goal (GC count within 1, trigger and live
# heap of every cycle within 5%) with the runtime's cons/mark and scan work as pacer inputs,
# the GC count of the model's own pacing, and bad input.
set -u
gmbench=$1 work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
source "$src/tests/expect.sh"
rm -rf "$work" && mkdir -p "$work"
log=$work/buffers.log
xz -dc "$src/workloads/go/testdata/buffers.log.xz" >"$log" || { echo "FAIL: xz"; exit 1; }

expect 0 'buffers: GOGC=100, 1 P; 12079 allocations.*cycle +trigger: go.*GC cycles +29 +29 .*same size class: 12079 of 12079 \(100\.00%\)' \
  -- "$gmbench" fidelity "$log" --name buffers --json "$work/buffers.json"

/usr/bin/python3 - "$work/buffers.json" <<'PY' && passes=$((passes + 1)) || fails=$((fails + 1))
import json, sys
r = json.load(open(sys.argv[1]))
assert r["allocations"] == 12079 and r["gcs_go"] == 29, r
assert r["globals"] == 204240, r["globals"]          # the runtime's globalsScan, from the log
assert r["size_class_match"] == 1.0, r["size_class_match"]
go = [c["go"] for c in r["cycles"] if c["go"]]
assert len(go) == 29 and go[0]["trigger"] == 3997696, go[0]   # 61/64 of 4 MiB
assert all(c["heap_goal"] == 4194304 for c in go), "every real goal is the 4 MiB minimum"
model = [c["model"] for c in r["cycles"] if c["model"]]
assert len(model) == r["gcs_model"] > 0
for c in model:
    # The model starts a cycle once heapLive reaches the trigger; the goal never drops below
    # the 4 MiB heapMinimum.
    assert c["heap_start"] >= c["trigger"], c
    assert c["heap_goal"] >= 4194304, c
# With its own cons/mark estimate the model runs as many cycles as the runtime did.
assert abs(r["gcs_model"] - r["gcs_go"]) <= 1, (r["gcs_model"], r["gcs_go"])
assert r["runtime_pacing"] is False
print("fidelity json: ok")
PY

# The goal, with the runtime's measured cons/mark and scan work: --check exits 0 only if met.
expect 0 "cons/mark and scan work: the runtime's.*goal \\(GC count within 1, each cycle's trigger and live heap within 5%\\): met — count \\+0, trigger 29/29, live 28/28" \
  -- "$gmbench" fidelity "$log" --name buffers --runtime-pacing --check

# Bad input: a missing log, a log without gcpacertrace lines, bad flags.
expect 4 'nope.log' -- "$gmbench" fidelity "$work/nope.log"
printf 'tracealloc(0xc000010000, 0x10)\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1\n\n' >"$work/nopacer.log"
expect 4 'no gcpacertrace lines.*GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1' \
  -- "$gmbench" fidelity "$work/nopacer.log"
expect 2 'bad flag --bogus' -- "$gmbench" fidelity "$log" --bogus
expect 2 'no LOG' -- "$gmbench" fidelity
expect_finish gmbench_fidelity
