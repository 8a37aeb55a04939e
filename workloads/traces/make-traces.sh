#!/usr/bin/env bash
# Re-records the traces shipped in workloads/traces/ exactly as they were made (README.md).
# Recorded programs are not deterministic to the byte (addresses, hash seeds, thread timing),
# so a new recording differs in detail but not in character.
#   workloads/traces/make-traces.sh [BUILD_DIR]      (default build/release)
set -euo pipefail
cd "$(dirname "$0")/../.."
G=${1:-build/release}/harness/gmbench
out=workloads/traces
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

PYTHONMALLOC=malloc "$G" record --compress 19 --out $out/python-json.gmtrace -- \
  /usr/bin/python3 $out/python_workload.py
"$G" record --compress 19 --out $out/sqlite.gmtrace -- sqlite3 :memory: ".read $out/sqlite.sql"
gcc -E -Ialloc -Ialloc/include alloc/mheap.c -o "$tmp/mheap.i"
"$G" record --compress 19 --out $out/gcc-cc1.gmtrace -- \
  "$(gcc -print-prog-name=cc1)" -fpreprocessed -quiet -O2 "$tmp/mheap.i" -o /dev/null
GOGC=25 GODEBUG=allocfreetrace=1 /usr/lib/go-1.19/bin/gofmt -l /usr/lib/go-1.19/src/go/ast \
  /usr/lib/go-1.19/src/go/token >/dev/null 2>"$tmp/gofmt.log"
"$G" import go "$tmp/gofmt.log" --out $out/go-gofmt.gmtrace
for t in $out/*.gmtrace; do "$G" trace validate "$t"; done
