#!/usr/bin/env bash
# Heap profiles of the Go model read by Go 1.19's own `go tool pprof` (issue 8): gmbench
# replays a trace with three call sites on gomodel (and gomodel-gc) with --heap-profile, and
# pprof must find the site that holds the most in-use bytes at the top of `-top`: by address
# in the legacy text format, by name in the protobuf format (--heap-profile-format proto).
#
# What pprof shows for a legacy text heap profile: the `#` comment lines are skipped by its
# parser (legacy_profile.go), and no binary holds the model's synthetic PCs, so every
# location is unsymbolized. `-top` folds them all into one "<unknown>" node; `-top
# -addresses` lists each location as its address (the PC minus 1, as pprof decrements return
# addresses), which is the address the profile's own comment line prints for the frame.
# So the test takes the address of main.buildIndex from the profile's comment lines and
# requires it on the first row of `go tool pprof -top -addresses`. `-raw` checks the exact
# counts at MemProfileRate 1 (period 1: pprof does not scale) and the period at the default.
#   mprof_pprof.sh GMBENCH WORKDIR [GO]     (exit 77, SKIPPED, when GO is not installed)
set -uo pipefail
gmbench=$1 work=$2 go=${3:-/usr/lib/go-1.19/bin/go}
if [ ! -x "$go" ]; then
  echo "SKIPPED: $go is not installed (scripts/deps.sh installs golang-1.19)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/expect.sh"
export HOME=$work PPROF_TMPDIR=$work GOFLAGS= GOTOOLCHAIN=local

# main.buildIndex keeps 200 × 40000 bytes (8 MB in 5-page spans); main.parseLine allocates
# 2000 × 100 and frees half; main.small makes 500 tiny 8-byte objects (250 blocks).
{
  echo "site 1 main.buildIndex"
  echo "site 2 main.parseLine"
  echo "site 3 main.small"
  for i in $(seq 1 200); do echo "alloc b$i 40000 site=1"; done
  for i in $(seq 1 2000); do echo "alloc p$i 100 site=2"; done
  for i in $(seq 1 2 2000); do echo "free p$i"; done
  for i in $(seq 1 500); do echo "alloc s$i 8 site=3"; done
} > "$work/sites.txt"
t=$work/sites.gmtrace
expect 0 '' -- "$gmbench" trace from-text "$work/sites.txt" --out "$t"

# The comment line of a function gives its address as pprof prints it (16 hex digits).
addr_of() {
  awk -F'\t' -v f="$2" '$1 == "#" && index($3, f "+") == 1 { print $2; exit }' "$1" |
    sed 's/^0x//' | awk '{ printf "%016s\n", $1 }' | tr ' ' 0
}

for a in gomodel gomodel-gc; do
  p=$work/$a.rate1.prof
  expect 0 '' -- "$gmbench" run --allocator "$a" --trace "$t" --latency off \
    --mem-profile-rate 1 --heap-profile "$p" --out "$work/$a.json"
  expect 0 '^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap/2 ' -- head -1 "$p"
  want=$(addr_of "$p" main.buildIndex)
  [ -n "$want" ] || { echo "FAIL: no main.buildIndex comment line in $p"; fails=$((fails + 1)); }
  # The first row after the column titles is the top site.
  expect 0 "flat%.*cum% +[0-9.]+[kMG]?B +[0-9.]+% +[0-9.]+% +[0-9.]+[kMG]?B +[0-9.]+% +$want <unknown>" \
    -- "$go" tool pprof -top -addresses "$p"
  top=$("$go" tool pprof -top -addresses "$p" 2>/dev/null | awk '/flat%/ { getline; print $6; exit }')
  [ "$top" = "$want" ] || { echo "FAIL: $a: pprof's top location is '$top', main.buildIndex is '$want'"; fails=$((fails + 1)); }
done
# Rate 1 in the default mode (no cycle ran: every sample is shown), unscaled. Columns:
# alloc_objects alloc_space inuse_objects inuse_space. (GC mode ran cycles during the replay,
# so its profile shows the heap as of the last one: only the top is checked above.)
expect 0 'Period: 1 .* 200 +8192000 +200 +8192000: [0-9]+ +bytes:\[40960\] .* 2000 +224000 +1000 +112000: [0-9]+ +bytes:\[112\] .* 250 +4000 +250 +4000: [0-9]+ +bytes:\[16\]' \
  -- "$go" tool pprof -raw "$work/gomodel.rate1.prof"

# The default rate: pprof reads the sampling period back (heap/1048576 → 524288).
p=$work/gomodel.default.prof
expect 0 '' -- "$gmbench" run --allocator gomodel --trace "$t" --latency off --heap-profile "$p" --out "$work/d.json"
expect 0 '@ heap/1048576' -- head -1 "$p"
expect 0 'Period: 524288' -- "$go" tool pprof -raw "$p"

# The protobuf profile carries function names: plain `go tool pprof -top` names the sites,
# and at rate 1 (unscaled) the exact bytes: 200 × 40960 = 8192000 B (8000kB) in use for
# main.buildIndex; 1000 × 112 for main.parseLine; 250 tiny blocks for main.small. With
# -sample_index=alloc_objects, main.parseLine's 2000 allocations come first.
for a in gomodel gomodel-gc; do
  p=$work/$a.rate1.pb
  expect 0 '' -- "$gmbench" run --allocator "$a" --trace "$t" --latency off \
    --mem-profile-rate 1 --heap-profile "$p" --heap-profile-format proto --out "$work/$a.pb.json"
  expect 0 'Type: inuse_space .*flat%.*cum% +[0-9.]+[kMG]?B +[0-9.]+% +[0-9.]+% +[0-9.]+[kMG]?B +[0-9.]+% +main\.buildIndex ' \
    -- "$go" tool pprof -top "$p"
done
expect 0 'Type: inuse_space .* 8000kB +98\.[0-9]+% +98\.[0-9]+% +8000kB +98\.[0-9]+% +main\.buildIndex .* 109\.38kB +.* main\.parseLine .* 3\.91kB .* main\.small' \
  -- "$go" tool pprof -top -nodefraction=0 "$work/gomodel.rate1.pb"
expect 0 'Type: alloc_objects .* 2000 +[0-9.]+% +[0-9.]+% +2000 +[0-9.]+% +main\.parseLine ' \
  -- "$go" tool pprof -top -sample_index=alloc_objects "$work/gomodel.rate1.pb"
expect 2 'heap-profile-format.*text.*proto' -- "$gmbench" run --allocator gomodel --trace "$t" \
  --heap-profile "$work/x.prof" --heap-profile-format xml

# The flags belong to the Go model; a path that cannot be written is an I/O failure.
expect 2 'apply to the Go model' -- "$gmbench" run --allocator bump --trace "$t" --heap-profile "$work/x.prof"
expect 6 'cannot write the heap profile' -- "$gmbench" run --allocator gomodel --trace "$t" \
  --heap-profile "$work/no/such/dir/x.prof" --out "$work/e.json"
expect 2 'mem-profile-rate' -- "$gmbench" run --allocator gomodel --trace "$t" --mem-profile-rate -3
expect_finish mprof_pprof
