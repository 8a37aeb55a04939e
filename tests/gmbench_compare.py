#!/usr/bin/python3
"""gmbench compare end to end: a tiny comparison of every installed allocator produces a result
set that matches the documented schemas; a child that crashes, aborts or hangs becomes a failure
row while the other rows are still written; --emit-jobs + merge give the same result set; a run
is deterministic for its seed.

    gmbench_compare.py GMBENCH SCHEMA_DIR WORKDIR SANITIZED(0|1)
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import jsonschema

gmbench, schema_dir, work, sanitized = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def load_schemas():
    schemas = {}
    for name in ("gmbench-run.schema.json", "gmbench-compare.schema.json"):
        with open(os.path.join(schema_dir, name)) as f:
            schemas[name] = json.load(f)
    store = {s["$id"]: s for s in schemas.values()}
    resolver = jsonschema.RefResolver.from_schema(schemas["gmbench-compare.schema.json"], store=store)
    return schemas, resolver


SCHEMAS, RESOLVER = load_schemas()


def validate(doc, name):
    try:
        jsonschema.Draft202012Validator(SCHEMAS[name], resolver=RESOLVER).validate(doc)
        return True
    except jsonschema.ValidationError as e:
        check(False, f"{name}: {e.message} at {list(e.absolute_path)}")
        return False


def installed_allocators():
    out = subprocess.run([gmbench, "list"], capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "installed":
            names.append(parts[0])
    return names


def compare(out, *args, expect_rc=0):
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([gmbench, "compare", "--out", out, *args], capture_output=True, text=True)
    check(p.returncode == expect_rc, f"compare {args}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p


def result_set(out):
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    validate(doc, "gmbench-compare.schema.json")
    return doc


def rows(doc):
    return {(s["allocator"], s["workload"], s["threads"]): s for s in doc["summary"]}


def test_tiny_compare(allocs):
    out = os.path.join(work, "tiny")
    wls = "churn,producer-consumer,larson,tiny"
    p = compare(out, "--allocators", ",".join(allocs), "--workloads", wls, "--reps", "2",
                "--ops", "30000", "--live", "300")
    check("[1/" in p.stderr and "left" in p.stderr, "compare prints a progress line")
    doc = result_set(out)
    r = rows(doc)
    for a in allocs:
        for w in wls.split(","):
            t = 2 if w in ("producer-consumer", "larson") else 1  # clamped up to the minimum
            row = r.get((a, w, t))
            check(row is not None, f"summary row for {a} {w} t={t}")
            if row:
                check(row["ok"] == 2 and row["failed"] == 0, f"{a} {w}: {row['ok']}/{row['runs']} ok {row['failures']}")
                m = row["metrics"]
                for k in ("time.ops_per_s", "memory.peak_live_bytes", "latency.malloc.p50_ns"):
                    check(k in m and m[k]["n"] == 2, f"{a} {w}: metric {k}")
    check(len(doc["runs"]) == len(allocs) * 4 * 2, "every run embedded")
    for run in doc["runs"]:
        ok = run["status"] == "ok"
        check(run["allocator"]["name"] in allocs and ok,
              f"run {run['allocator']['name']} {run['workload']['name']} ok: {run.get('failure')}")
        if not ok:
            continue
        check(run["ops"]["total"] == 30000, "run has exactly --ops operations")
        # The identity proof's observation is recorded with every result.
        check(bool(run["allocator"].get("identity")), "identity recorded")
    with open(os.path.join(out, "summary.csv")) as f:
        srows = list(csv.DictReader(f))
    check(len(srows) == len(doc["summary"]), "summary.csv has a row per summary entry")
    check(all(r["time.ops_per_s.median"] for r in srows), "summary.csv medians present")
    with open(os.path.join(out, "runs.csv")) as f:
        check(len(list(csv.DictReader(f))) == len(doc["runs"]), "runs.csv has a row per run")
    check(not [n for n in os.listdir(out) if ".tmp" in n], "no temporary files left")
    return doc


def test_failure_rows(ok_alloc):
    for kind, reason in (("segv", "killed by signal 11 (SIGSEGV)"), ("abort", "killed by signal 6 (SIGABRT)"),
                         ("hang", "timed out after 2 s")):
        out = os.path.join(work, "fail-" + kind)
        compare(out, "--allocators", f"{ok_alloc},bump", "--workloads", "churn", "--reps", "1",
                "--ops", "20000", "--live", "200", "--timeout", "2",
                "--inject", f"{kind}@5000", "--inject-allocator", "bump")
        doc = result_set(out)
        r = rows(doc)
        bad, good = r.get(("bump", "churn", 1)), r.get((ok_alloc, "churn", 1))
        check(bad and bad["failed"] == 1 and bad["failures"] == [reason],
              f"{kind}: failure row says '{reason}': {bad and bad['failures']}")
        check(good and good["ok"] == 1, f"{kind}: the other allocator's row is still written")


def test_emit_and_merge(ok_alloc):
    out = os.path.join(work, "jobs")
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([gmbench, "compare", "--emit-jobs", "--out", out, "--allocators", f"{ok_alloc},bump",
                        "--workloads", "batch,tiny", "--reps", "2", "--ops", "40000"],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"emit-jobs exit {p.returncode}: {p.stderr}")
    jobs = p.stdout.strip().splitlines()
    check(len(jobs) == 8, f"8 job lines, got {len(jobs)}")
    for line in jobs:
        subprocess.run(["bash", "-c", line], check=False)
    merged = os.path.join(work, "merged")
    p = subprocess.run([gmbench, "merge", "--out", merged, os.path.join(out, "runs")],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"merge exit {p.returncode}: {p.stderr}")
    doc = result_set(merged)
    check(len(doc["summary"]) == 4 and all(s["ok"] == 2 for s in doc["summary"]), "merged groups")
    # A file that is not a run result is reported, not fatal, and nothing else is lost.
    with open(os.path.join(out, "runs", "zzzz-garbage.json"), "w") as f:
        f.write('{"truncated": ')
    p = subprocess.run([gmbench, "merge", "--out", merged, os.path.join(out, "runs")],
                       capture_output=True, text=True)
    doc = result_set(merged)
    check(len(doc["skipped_files"]) == 1 and "zzzz-garbage.json: offset" in doc["skipped_files"][0],
          f"corrupt run file reported with its offset: {doc['skipped_files']}")
    check(len(doc["runs"]) == 8, "the good runs are still merged")


def test_deterministic():
    docs = []
    for i in range(2):
        out = os.path.join(work, f"det{i}.json")
        subprocess.run([gmbench, "run", "--allocator", "bump", "--workload", "fragment", "--ops", "50000",
                        "--seed", "7", "--out", out], check=True)
        with open(out) as f:
            docs.append(json.load(f))
        validate(docs[-1], "gmbench-run.schema.json")
    a, b = docs
    check(a["ops"] == b["ops"], "same seed, same op counts")
    check(a["memory"]["peak_live_bytes"] == b["memory"]["peak_live_bytes"], "same seed, same peak live")


def test_goroutines(allocs):
    """The goroutines workload on every allocator: stack against heap memory in the schema."""
    out = os.path.join(work, "goroutines")
    compare(out, "--allocators", ",".join(allocs), "--workloads", "goroutines", "--reps", "1",
            "--ops", "30000", "--goroutines", "200", "--noescape", "0.5")
    doc = result_set(out)
    for a in allocs:
        row = rows(doc).get((a, "goroutines", 1))
        check(row is not None and row["ok"] == 1, f"goroutines row for {a}")
        if row:
            check("memory.stack_bytes_peak" in row["metrics"], f"{a}: stack_bytes_peak summarized")
    for run in doc["runs"]:
        if run["status"] != "ok":
            check(False, f"goroutines on {run['allocator']['name']}: {run.get('failure')}")
            continue
        m, name = run["memory"], run["allocator"]["name"]
        check(m["stack_bytes_peak"] >= 200 * 2048, f"{name}: 200 goroutines' stacks at the peak")
        check(m["goroutines_peak"] == 200 and m["noescape_allocs"] > 0, f"{name}: goroutine counts")
        check(run["ops"]["go"] == run["ops"]["goexit"] and run["ops"]["call"] == run["ops"]["ret"],
              f"{name}: goroutine op counts")
        if name == "gomodel":
            check(m["allocator_final"].get("stack_inuse") is not None, "gomodel reports StackInuse")


def main():
    os.makedirs(work, exist_ok=True)
    allocs = installed_allocators()
    if sanitized:
        # Sanitizer runtimes own malloc: only the allocators called through their own API.
        allocs = [a for a in allocs if a == "gomodel"] + ["bump"]
    else:
        allocs = allocs + ["bump"]
    test_tiny_compare(allocs)
    test_failure_rows("gomodel")
    test_emit_and_merge("gomodel")
    test_deterministic()
    test_goroutines(allocs)
    print(f"gmbench_compare: {len(failures)} failed")
    sys.exit(1 if failures else 0)


main()
