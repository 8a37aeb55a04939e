#!/usr/bin/python3
"""escape_report.py — scripts/escape.sh end to end with tiny op counts: the table has its header
and one row per (allocator, share) with numbers in every column, and the heap peak of every
allocator falls as the share of non-escaping allocations rises (behaviour, not timing).

usage: escape_report.py SCRIPT GMBENCH WORKDIR SANITIZED
"""
import json
import os
import shutil
import subprocess
import sys

script, gmbench, work, sanitized = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
# A sanitized gmbench runs on the sanitizer's malloc: only the Go model can prove its identity.
allocators = ["gomodel"] if sanitized else ["gomodel", "glibc"]
shares = ["0", "0.25", "0.5", "0.75", "1"]
shutil.rmtree(work, ignore_errors=True)
res = subprocess.run(["bash", script, "--gmbench", gmbench, "--allocators", ",".join(allocators),
                      "--shares", ",".join(shares), "--ops", "30000", "--out", work, "--",
                      "--goroutines", "200"], capture_output=True, text=True, timeout=300)
failures = []
if res.returncode != 0:
    failures.append(f"escape.sh exited {res.returncode}: {res.stderr}")
lines = res.stdout.splitlines()
want_cols = ["allocator", "noescape", "ns/op", "Mops/s", "malloc_p50_ns", "heap_peak_MiB",
             "stack_peak_MiB", "rss_peak_MiB"]
if len(lines) < 2 or lines[1].split() != want_cols:
    failures.append(f"header: {lines[1] if len(lines) > 1 else '(none)'}")
rows = [l.split() for l in lines[2:] if l.split() and l.split()[0] in allocators]
if len(rows) != len(allocators) * len(shares):
    failures.append(f"{len(rows)} rows, want {len(allocators) * len(shares)}")
for r in rows:
    if len(r) != len(want_cols):
        failures.append(f"row {r}: {len(r)} columns")
        continue
    try:
        [float(x) for x in r[2:4] + r[5:]]
    except ValueError:
        failures.append(f"row {r}: not numbers")
for a in allocators:
    heap, stack = [], []
    for s in shares:
        with open(os.path.join(work, f"{a}-noescape-{s}.json")) as f:
            d = json.load(f)
        heap.append(d["memory"]["peak_live_bytes"])
        stack.append(d["memory"]["stack_bytes_peak"])
        if d["memory"]["noescape_allocs"] == 0 and s != "0":
            failures.append(f"{a} --noescape {s}: no non-escaping allocation")
    if any(b >= x for x, b in zip(heap, heap[1:])) or heap[-1] != 0:
        failures.append(f"{a}: heap peaks {heap} do not fall to 0 as the share rises")
    if stack[-1] <= stack[0]:
        failures.append(f"{a}: stack peaks {stack} do not grow with the share")
print(res.stdout)
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
