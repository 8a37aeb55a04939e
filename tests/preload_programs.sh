#!/usr/bin/env bash
# preload_programs.sh — real programs from Debian 12 on the Go model (issue 6): each runs under
# LD_PRELOAD=libgomalloc-preload.so and without it, and the two outputs must be the same.
#
#   preload_programs.sh PRELOAD_LIB SEMANTICS_BIN WORKDIR SANITIZED(0|1) SOURCE_DIR
#
# Covered: the malloc family's glibc semantics, threads and fork (tests/data/preload/semantics.c);
# python3 (the comparison's workload with threads, a script using threading, subprocess and
# os.fork, and some of the standard test modules when libpython3.11-testsuite is installed);
# sqlite3 on a generated database; git on a scratch repository (its commands fork and run
# subprocesses); gcc compiling some of the project's sources (objects compared byte for byte);
# perl text processing with a forked child; make -j2 on a small tree of shell recipes.
# Sanitizer builds skip (77): the test is about uninstrumented programs, and the release
# preset runs it.
set -uo pipefail
lib=$1 sem=$2 work=$3 sanitized=$4 src=$5
if [ "$sanitized" = 1 ]; then
  echo "SKIP: sanitizer build (the release preset runs the real programs)"
  exit 77
fi
[ -r "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
unset LD_PRELOAD
failed=()

# both NAME CMD...: runs CMD with and without the preload (stdout+stderr to NAME.{glibc,gm}),
# fails when either exits non-zero or, after FILTER (a sed script, default none), they differ.
both() {
  local name=$1
  shift
  timeout 300 "$@" >"$name.glibc" 2>&1
  local rc1=$?
  LD_PRELOAD=$lib timeout 300 "$@" >"$name.gm" 2>&1
  local rc2=$?
  if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
    echo "FAIL: $name: exit $rc1 without the preload, $rc2 with it"
    tail -5 "$name.gm"
    failed+=("$name")
    return 1
  fi
  sed -i -e "${FILTER:-/^\$^/d}" "$name.glibc" "$name.gm"
  if ! diff -u "$name.glibc" "$name.gm" >"$name.diff"; then
    echo "FAIL: $name: output differs under the preload"
    head -20 "$name.diff"
    failed+=("$name")
    return 1
  fi
  echo "ok: $name ($(wc -l <"$name.gm") lines)"
}

# --- the malloc family, threads, fork ---
both semantics "$sem"

# --- python3 ---
py=/usr/bin/python3
FILTER='/^gmbench-throughput:/d' both python-workload $py "$src/workloads/programs/python_workload.py" 8
cat >threads_fork.py <<'PY'
import os, subprocess, sys, threading, json
def work(k, out):
    d = {i: [str(i)] * (i % 5) for i in range(20000 + k)}
    out[k] = sum(len(v) for v in d.values())
out = {}
ts = [threading.Thread(target=work, args=(k, out)) for k in range(6)]
for t in ts: t.start()
pid = os.fork()                      # fork while the threads allocate
if pid == 0:
    x = [bytearray(1000) for _ in range(5000)]
    os._exit(0 if len(json.dumps([len(b) for b in x])) > 0 else 1)
for t in ts: t.join()
_, st = os.waitpid(pid, 0)
r = subprocess.run([sys.executable, "-c", "print(sum(range(10**6)))"], capture_output=True, text=True)
print(sorted(out.items()), os.waitstatus_to_exitcode(st), r.stdout.strip())
PY
both python-threads-fork $py threads_fork.py
if [ -d /usr/lib/python3.11/test/test_json ]; then
  FILTER='/^0:[0-9]/d;/Total duration/d;/^Total test files/d;/seconds/d;/^== /d;/^Run tests/d;/^$/d;/test_/d' \
    both python-stdlib-tests $py -m test -j2 test_json test_dict test_set test_list test_threading \
    test_fork1 test_thread test_re test_os
else
  echo "note: libpython3.11-testsuite not installed: Python's own test modules skipped"
fi

# --- sqlite3 ---
both sqlite-build sh -c "rm -f db.sqlite && sqlite3 db.sqlite < '$src/workloads/programs/sqlite_build.sql'"
cp db.sqlite db2.sqlite
both sqlite-queries sh -c "cp db2.sqlite q.sqlite && sqlite3 q.sqlite < '$src/workloads/programs/sqlite_queries.sql'"

# --- git ---
cat >git.sh <<'SH'
set -e
rm -rf repo && git init -q -b main repo && cd repo
export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@b GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@b
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
for i in $(seq 1 30); do seq $i $((i * 50)) >"f$((i % 7))"; git add -A; git commit -qm "c$i"; done
git checkout -qb side HEAD~10
for i in $(seq 1 5); do echo side$i >>side; git add side; git commit -qm "s$i"; done
git checkout -q main && git merge -q --no-edit side
git gc -q --aggressive && git fsck --no-progress 2>&1
git log --format='%H %s' | head -50
git diff HEAD~20 --stat | tail -3
SH
both git bash git.sh

# --- gcc ---
cat >gcc.sh <<SH
set -e
gcc -O2 -g -c -I$src/alloc -I$src/alloc/include -I$src/workloads/include -I$src/workloads \
    $src/alloc/pagealloc.c $src/workloads/dist.c $src/harness/histogram.c
cat pagealloc.o dist.o histogram.o | md5sum
SH
both gcc bash gcc.sh

# --- perl ---
cat >text.pl <<'PL'
use strict; use warnings;
my @words = map { join '', map { chr(97 + ($_ * 7 + $_ ** 2) % 26) } 1 .. (3 + $_ % 9) } 1 .. 60000;
my %freq; $freq{$_}++ for @words;
my $text = join ' ', @words;
(my $upper = $text) =~ s/\b(\w)(\w*)/\U$1\E$2/g;
my $pid = open(my $kid, '-|') // die "fork: $!";
if (!$pid) { my %h; $h{$_ % 997} .= "x$_" for 1 .. 100000; print scalar(keys %h), "\n"; exit 0 }
my $child = <$kid>; close $kid;
printf "%d words, %d distinct, upper %d, child %s", scalar @words, scalar keys %freq, length $upper, $child;
print join(',', (sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq)[0 .. 9]), "\n";
PL
both perl perl text.pl

# --- make ---
mkdir -p mk && cat >mk/Makefile <<'MK'
N := $(shell seq 1 40)
all: $(N:%=out/%.txt)
	@cat $^ | sort | md5sum
out/%.txt: | out
	@seq $* $$(( $* * 100 )) | sort -r | head -20 > $@
out:
	@mkdir -p out
MK
both make sh -c "rm -rf mk/out && make -s -j2 -C mk"

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (outputs in $work)"
  exit 1
fi
echo "all real programs gave the same output under the Go model"
