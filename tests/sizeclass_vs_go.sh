#!/bin/sh
# sizeclass_vs_go.sh TOOL GO_SIZECLASSES_GO WORKDIR
#
# The CTest test sizeclasses_vs_go: the class table gm-sizeclasses prints from the model's
# tables must be byte-identical to the comment at the top of Go 1.19's runtime/sizeclasses.go
# (from "// class  bytes/obj ..." up to, not including, "const ("). This checks the generated
# tables against Go's own file rather than against numbers we typed in ourselves.
#
# Exit 0: identical. Exit 1: they differ (the diff is printed) or a step failed.
# Exit 77: the Go source is not installed; CTest reports SKIPPED (SKIP_RETURN_CODE 77), so a
# machine without Go never counts this comparison as passed.
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 TOOL GO_SIZECLASSES_GO WORKDIR" >&2
    exit 1
fi
tool=$1
go_file=$2
work=$3

if [ ! -r "$go_file" ]; then
    echo "SKIPPED: $go_file is not installed (install golang-1.19 or set GM_GO_SIZECLASSES_GO)"
    exit 77
fi

mkdir -p "$work" || exit 1
"$tool" >"$work/gm-sizeclasses.txt"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: $tool exited with status $rc"
    exit 1
fi
# The block Go's printComment wrote: the range ends at "const (", which is not part of it.
sed -n '/^\/\/ class/,/^const/p' "$go_file" | sed '$d' >"$work/go-sizeclasses.txt"
if [ ! -s "$work/go-sizeclasses.txt" ]; then
    echo "FAIL: no class table comment found in $go_file"
    exit 1
fi

if diff -u "$work/go-sizeclasses.txt" "$work/gm-sizeclasses.txt"; then
    echo "gm-sizeclasses matches $go_file ($(wc -l <"$work/gm-sizeclasses.txt") lines)"
    exit 0
fi
echo "FAIL: gm-sizeclasses differs from $go_file (- Go, + model)"
exit 1
