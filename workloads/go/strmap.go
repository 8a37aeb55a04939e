package main

import "strconv"

// strmap: a map from string keys to records that grows, then has most keys replaced: map
// bucket arrays (large, growing by doubling), small strings from strconv, and records of
// two sizes.

type record struct {
	name  string
	vals  []int
	owner *record
}

func strmap() {
	m := make(map[string]*record)
	var prev *record
	for i := 0; i < 12000; i++ {
		key := "k" + strconv.Itoa(i%3000)
		rec := &record{name: key, vals: make([]int, 16+i%400), owner: prev}
		if i%7 == 0 {
			prev = rec
		}
		m[key] = rec
		if i%3 == 0 {
			delete(m, "k"+strconv.Itoa((i*7)%3000))
		}
		if i%500 == 0 {
			sample()
		}
	}
}
