# tests/expect.sh — sourced by the gmbench script tests: one assertion helper, one tally.
#   expect STATUS PATTERN -- command...
# passes when the command exits with STATUS and its output (stdout and stderr, matched as one
# line so a pattern may span the lines of a message) matches the extended regex PATTERN.
fails=0 passes=0

expect() {
  local want=$1 pattern=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ] || ! tr '\n' ' ' <<<"$out" | grep -Eq -- "$pattern"; then
    echo "FAIL: $* → status $rc (want $want), output:"; sed 's/^/    /' <<<"$out" | head -20
    echo "    expected pattern: $pattern"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

# Ends the test: prints the tally and exits non-zero on any failure.
expect_finish() {
  echo "$1: $passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
