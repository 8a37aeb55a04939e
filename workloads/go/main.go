// gmfid: small Go programs whose allocation behaviour scripts/fidelity.sh compares with the
// gomalloc model. Each workload is deterministic (fixed seeds, one goroutine) so that two runs
// allocate the same objects in the same order; run with GOMAXPROCS=1 and
// GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1.
//
// Every few hundred allocations the program samples HeapInuse through runtime/metrics
// (which, unlike runtime.ReadMemStats, neither stops the world nor flushes the mcaches, so
// it does not change what it measures) and prints it with the runtime's println, which
// writes to stderr under the same print lock as the allocation trace and never allocates.
// gmbench fidelity reads the sample at its position among the trace records and samples the
// model at the same point.
package main

import (
	"os"
	"runtime/metrics"
)

var samples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
}

// sample prints "gmfidelity heap-inuse <bytes>": HeapInuse = heap objects + unused slots in
// in-use spans (metrics/description.go).
func sample() {
	metrics.Read(samples)
	println("gmfidelity heap-inuse", samples[0].Value.Uint64()+samples[1].Value.Uint64())
}

var workloads = map[string]func(){
	"trees":   trees,
	"buffers": buffers,
	"strmap":  strmap,
}

func main() {
	if len(os.Args) != 2 || workloads[os.Args[1]] == nil {
		println("usage: gmfid trees|buffers|strmap")
		os.Exit(2)
	}
	sample()
	workloads[os.Args[1]]()
	sample()
}
