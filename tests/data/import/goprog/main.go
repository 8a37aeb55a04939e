// Command goprog is a small, deterministic Go 1.19 program whose GODEBUG=allocfreetrace=1 log is
// the real input of tests/test_import.c (see ../README.md for how the log was produced).
// It builds a binary tree (scan objects: main.node), byte slices (noscan: uint8), a map, strings,
// and forces two GC cycles so that the log carries tracegc blocks and tracefree records.
package main

import (
	"os"
	"runtime"
	"strconv"
)

type node struct {
	left, right *node
	val         int
}

// build allocates a complete binary tree of the given depth: 2^depth - 1 main.node objects.
func build(depth int) *node {
	if depth == 0 {
		return nil
	}
	return &node{left: build(depth - 1), right: build(depth - 1), val: depth}
}

func count(n *node) int {
	if n == nil {
		return 0
	}
	return 1 + count(n.left) + count(n.right)
}

var sink []byte

// buffers allocates pointer-free byte slices of several sizes (one large: > 32 KiB).
func buffers() int {
	total := 0
	for _, n := range []int{100, 1000, 5000, 40000} {
		b := make([]byte, n)
		b[n-1] = 1
		total += len(b)
		sink = b
	}
	return total
}

// words fills a map with strings built by concatenation.
func words(n int) map[string]int {
	m := make(map[string]int)
	for i := 0; i < n; i++ {
		s := "w" + strconv.Itoa(i*7919)
		m[s] = len(s)
	}
	return m
}

func main() {
	t := build(6)
	total := buffers()
	m := words(40)
	nwords := len(m)
	t = nil
	runtime.GC() // the first tree is garbage
	t = build(4)
	runtime.GC() // the map is garbage too
	os.Stdout.WriteString("nodes " + strconv.Itoa(count(t)) + " bytes " + strconv.Itoa(total) +
		" words " + strconv.Itoa(nwords) + "\n")
}
