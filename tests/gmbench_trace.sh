#!/usr/bin/env bash
# gmbench's trace commands end to end: text → trace, validate (and --strict), dump, info,
# replay on every allocator this build can prove (exact call counts), strict replay, hostile
# files, compare --traces, and both importers on the real logs in tests/data/import.
#   gmbench_trace.sh GMBENCH WORKDIR SANITIZED(0|1) DATADIR
set -uo pipefail
gmbench=$1 work=$2 sanitized=$3 data=$4
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/expect.sh"

cat > "$work/hand.txt" <<'TXT'
# two threads, a cross-thread free, a realloc, a double free and a free of an unknown object
thread 0 main
thread 1 worker
site 1 main.make
alloc a t0 100 site=1
alloc b t0 24 scan
alloc c t1 4096 align=64
realloc a t0 300
free b t1
free c t1
free a t0
free a t1
free x99 t1
TXT
t=$work/hand.gmtrace
expect 0 '' -- "$gmbench" trace from-text "$work/hand.txt" --out "$t"
expect 0 '2 frees or reallocs of objects that are not live \(replay skips them.*valid, 9 records' \
  -- "$gmbench" trace validate "$t"
expect 1 'refused: --strict' -- "$gmbench" trace validate "$t" --strict
expect 0 'alloc x2 t1 4096 align=64.*free x99 t1' -- "$gmbench" trace dump "$t"
expect 0 'alloc +3 .*free +5 .*realloc +1 .*invalid +2 .*threads +2 .*peak live +3 objects, 4420 bytes.*0 +main +1 +worker' \
  -- "$gmbench" trace info "$t"
expect 1 'line 3: ' -- "$gmbench" trace from-text <(printf 'thread 0 main\nalloc a t0 10\nfree zz t0\n') --out "$work/bad.gmtrace"
[ ! -e "$work/bad.gmtrace" ] || { echo "FAIL: a refused conversion left $work/bad.gmtrace"; fails=$((fails + 1)); }

# Replay issues exactly the recorded calls (the two invalid frees skipped and counted).
allocs=(gomodel bump)
[ "$sanitized" = 0 ] && allocs+=(glibc)
for a in "${allocs[@]}"; do
  expect 0 '' -- "$gmbench" run --allocator "$a" --trace "$t" --latency all --out "$work/r-$a.json"
  expect 0 '"name": "trace:hand".*"threads": 2.*"total": 7, *"alloc": 3, *"free": 3, *"realloc": 1' \
    -- cat "$work/r-$a.json"
done
expect 4 'offset [0-9]+: record 7: free of object 0 on thread 1: the object is not live \(strict replay\)' \
  -- "$gmbench" run --allocator gomodel --trace "$t" --strict
expect 2 '\-\-ops does not apply to --trace' -- "$gmbench" run --allocator gomodel --trace "$t" --ops 5
expect 2 '\-\-strict applies to --trace replay only' -- "$gmbench" run --allocator gomodel --workload churn --strict

# Hostile files: a clear error naming the offset, no crash.
head -c 100 "$t" > "$work/trunc.gmtrace"
expect 2 'offset 100: ' -- "$gmbench" run --allocator gomodel --trace "$work/trunc.gmtrace"
expect 1 'offset [0-9]+: ' -- "$gmbench" trace info "$work/trunc.gmtrace"
printf 'NOTATRACE-and-some-more-bytes-to-fill-a-header-.............................................' > "$work/junk.gmtrace"
expect 1 'offset 0: ' -- "$gmbench" trace validate "$work/junk.gmtrace"
cp "$t" "$work/flip.gmtrace"
printf '\xff' | dd of="$work/flip.gmtrace" bs=1 seek=$(( $(stat -c %s "$t") - 20 )) conv=notrunc 2>/dev/null
expect 1 'offset [0-9]+: ' -- "$gmbench" trace validate "$work/flip.gmtrace"

# Importers on real logs.
expect 0 '312 records \(195 allocs, 115 frees, 0 reallocs, 2 markers\)' \
  -- "$gmbench" import go "$data/go.log" --out "$work/go.gmtrace"
expect 0 'valid' -- "$gmbench" trace validate "$work/go.gmtrace"
expect 0 '86 records \(40 allocs, 39 frees, 7 reallocs, 0 markers\)' \
  -- "$gmbench" import mtrace "$data/mtrace.log" --out "$work/mtrace.gmtrace"
expect 2 "unknown format 'perf'; valid: go mtrace" -- "$gmbench" import perf "$data/go.log" --out "$work/x"
expect 1 'nosuch.log' -- "$gmbench" import go "$work/nosuch.log" --out "$work/x.gmtrace"

# Recording: a real program's trace replays; the command's exit status comes back.
expect 0 'rec.gmtrace: pid [0-9]+ \(main\), [0-9]+ records' \
  -- "$gmbench" record --out "$work/rec.gmtrace" -- ls -la /usr/lib
expect 0 'valid' -- "$gmbench" trace validate "$work/rec.gmtrace"
expect 0 '"status": "ok"' -- "$gmbench" run --allocator gomodel --trace "$work/rec.gmtrace"
expect 3 '' -- "$gmbench" record --out "$work/exit3.gmtrace" -- sh -c 'exit 3'
expect 2 'usage: record --out F' -- "$gmbench" record --out "$work/x.gmtrace"
expect 2 'cannot run' -- "$gmbench" record --out "$work/x.gmtrace" -- /nonexistent/prog

# compare --traces: one row per allocator and trace, beside a workload.
expect 0 '' -- "$gmbench" compare --allocators gomodel,bump --workloads tiny --ops 40000 \
  --traces "$t,$work/go.gmtrace" --reps 1 --out "$work/cmp"
expect 0 '"workload": "trace:hand".*"workload": "trace:go"' -- cat "$work/cmp/results.json"
expect 0 'gomodel,trace:hand,2,7,0,1,1,0' -- cat "$work/cmp/summary.csv"
expect 0 'bump,trace:go,1,310,0,1,1,0' -- cat "$work/cmp/summary.csv"
expect 2 'nosuch.gmtrace on gomodel: open ' -- "$gmbench" compare --allocators gomodel \
  --traces "$work/nosuch.gmtrace" --out "$work/cmp2"

expect_finish gmbench_trace
