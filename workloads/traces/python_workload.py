# The Python workload of workloads/traces/python-json.gmtrace: JSON, dicts, strings and lists,
# on the main thread and three worker threads (CPython allocates on every thread that runs
# Python code, and objects made by one thread die on another).
import json
import queue
import threading


def build(n, seed):
    rows = []
    for i in range(n):
        k = (i * 2654435761 + seed) % 1000003
        rows.append({"id": i, "name": "item-%d" % k, "tags": [str(k % 7), str(k % 11)],
                     "score": k / 7.0, "nested": {"a": [k, k + 1], "b": "x" * (k % 40)}})
    return rows


def worker(inbox, outbox):
    while True:
        text = inbox.get()
        if text is None:
            return
        rows = json.loads(text)
        rows.sort(key=lambda r: r["score"])
        outbox.put(json.dumps(rows[: len(rows) // 2]))


def main():
    inbox, outbox = queue.Queue(), queue.Queue()
    threads = [threading.Thread(target=worker, args=(inbox, outbox)) for _ in range(3)]
    for t in threads:
        t.start()
    for seed in range(8):
        inbox.put(json.dumps(build(400, seed)))
    total = 0
    for _ in range(8):
        total += len(json.loads(outbox.get()))
    for _ in threads:
        inbox.put(None)
    for t in threads:
        t.join()
    words = " ".join(r["name"] for r in build(1500, 99)).split()
    counts = {}
    for w in words:
        counts[w[:6]] = counts.get(w[:6], 0) + 1
    print(total, len(counts))


main()
