"""The Python program of `gmbench compare --programs python` (harness/programs.c).

CPU- and allocation-heavy pure Python, deterministic: builds and discards many small objects
(dicts, tuples, strings, lists), round-trips JSON, sorts, and grows and shrinks a large dict, on
the main thread and on worker threads (the GIL serialises them, but every thread allocates).
Prints its own throughput as the last line: `gmbench-throughput: N rounds/s`.

    python3 python_workload.py [ROUNDS]
"""
import json
import random
import sys
import threading
import time


def round_work(seed):
    rng = random.Random(seed)
    records = [{"id": i, "name": "item-%d-%d" % (seed, i), "tags": [rng.random() for _ in range(4)],
                "score": rng.randint(0, 1 << 20)} for i in range(3000)]
    text = json.dumps(records)
    back = json.loads(text)
    back.sort(key=lambda r: (r["score"], r["name"]))
    index = {}
    for r in back:
        index.setdefault(r["score"] % 97, []).append((r["id"], r["name"].upper()))
    words = " ".join(r["name"] for r in back[:1500]).split("-")
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    big = {i: str(i) * (i % 7 + 1) for i in range(20000)}
    for i in range(0, 20000, 2):
        del big[i]
    return len(text) + len(index) + len(counts) + len(big)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    start = time.perf_counter()
    total = 0
    results = [0] * 4

    def worker(k):
        results[k] = sum(round_work(1000 * (k + 1) + r) for r in range(rounds // 8))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    total += sum(round_work(r) for r in range(rounds - 4 * (rounds // 8)))
    for t in threads:
        t.join()
    total += sum(results)
    elapsed = time.perf_counter() - start
    print("checksum", total)
    print("gmbench-throughput: %.3f rounds/s" % (rounds / elapsed))


if __name__ == "__main__":
    main()
