package main

// trees: binary trees of pointer-bearing nodes (scan size classes), built and dropped in
// waves while one long-lived tree stays reachable: the binary-trees shape, whose live heap
// is small and steady while most allocations die young.

type node struct {
	left, right *node
	payload     [120]int64
}

func build(depth int) *node {
	if depth == 0 {
		return &node{}
	}
	return &node{left: build(depth - 1), right: build(depth - 1)}
}

func (n *node) count() int {
	if n == nil {
		return 0
	}
	return 1 + n.left.count() + n.right.count()
}

var longLived *node

func trees() {
	longLived = build(9)
	total := 0
	for i := 0; i < 14; i++ {
		t := build(9 + i%2)
		total += t.count()
		sample()
	}
	if total+longLived.count() == 0 {
		println("unreachable")
	}
}
