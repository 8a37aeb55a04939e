package main

import "math/rand"

// buffers: pointer-free byte slices of mixed sizes in a ring of live buffers (each new buffer
// replaces a random one), with an occasional large (> 32 KiB) buffer: small-object classes
// across the whole table, large spans, and a live heap of a few MiB.

func buffers() {
	r := rand.New(rand.NewSource(1))
	ring := make([][]byte, 512)
	for i := 0; i < 12000; i++ {
		var n int
		switch k := r.Intn(100); {
		case k < 60:
			n = 16 + r.Intn(1024)
		case k < 97:
			n = 1024 + r.Intn(16384)
		default:
			n = 32768 + r.Intn(200000)
		}
		b := make([]byte, n)
		b[0] = byte(i)
		ring[r.Intn(len(ring))] = b
		if i%200 == 0 {
			sample()
		}
	}
}
