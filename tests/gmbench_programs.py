#!/usr/bin/python3
"""gmbench compare --programs end to end: every installed allocator gets a row for each program,
the result set validates against the schemas, each row's identity names the allocator, all
allocators computed the same output; a program served by the wrong library is a failure row;
redis (when installed) is driven by redis-benchmark and reports requests per second.

    gmbench_programs.py GMBENCH SCHEMA_DIR WORKDIR SANITIZED(0|1)
"""
import json
import os
import shutil
import subprocess
import sys

import jsonschema

gmbench, schema_dir, work, sanitized = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
if sanitized:
    print("SKIP: sanitizer build (programs are uninstrumented; the release preset runs this)")
    sys.exit(77)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


schemas = {}
for name in ("gmbench-run.schema.json", "gmbench-compare.schema.json"):
    with open(os.path.join(schema_dir, name)) as f:
        schemas[name] = json.load(f)
resolver = jsonschema.RefResolver.from_schema(
    schemas["gmbench-compare.schema.json"], store={s["$id"]: s for s in schemas.values()})


def compare(out, *args, env=None):
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([gmbench, "compare", "--out", out, *args], capture_output=True, text=True,
                       env=env)
    check(p.returncode == 0, f"compare {args}: exit {p.returncode}\n{p.stderr[-2000:]}")
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    try:
        jsonschema.Draft202012Validator(schemas["gmbench-compare.schema.json"],
                                        resolver=resolver).validate(doc)
    except jsonschema.ValidationError as e:
        check(False, f"schema: {e.message} at {list(e.absolute_path)}")
    return doc, p


def installed_allocators():
    out = subprocess.run([gmbench, "list"], capture_output=True, text=True, check=True).stdout
    return [l.split()[0] for l in out.splitlines() if len(l.split()) >= 2 and l.split()[1] == "installed"]


allocs = installed_allocators()
doc, p = compare(os.path.join(work, "programs"), "--allocators", "all", "--programs", "python,sqlite",
                 "--reps", "1")
rows = {(s["allocator"], s["workload"]): s for s in doc["summary"]}
for prog in ("python", "sqlite"):
    hashes = set()
    for a in allocs:
        row = rows.get((a, "program:" + prog))
        check(row is not None, f"no row for {a} on {prog}")
        if not row:
            continue
        check(row["ok"] == 1, f"{a} on {prog} failed: {row['failures']}")
        for m in ("program.elapsed_s", "program.user_s", "program.sys_s", "program.peak_rss_bytes",
                  "program.minor_faults"):
            check(m in row["metrics"], f"{a} on {prog}: no {m}")
        check(row["threads"] is None and row["ops"] is None, f"{a} on {prog}: threads/ops not null")
    for r in doc["runs"]:
        if r["workload"]["name"] == "program:" + prog and r["status"] == "ok":
            hashes.add(r["program"]["output_fnv1a"])
            ident = r["allocator"]["identity"]
            want = "libgomalloc-preload.so" if r["allocator"]["name"] == "gomodel" else ""
            if r["allocator"]["name"] == "gomodel-gc":
                want = "mode gc;"
            check(want in ident and " ok 1" in ident, f"identity of {r['allocator']['name']}: {ident}")
    check(len(hashes) == 1, f"{prog}: outputs differ between allocators: {hashes}")
check("program:python" in p.stdout and "throughput/s" in p.stdout, "no program table printed")
py = [r for r in doc["runs"] if r["workload"]["name"] == "program:python" and r["status"] == "ok"]
check(all(r["program"]["throughput_per_s"] and r["program"]["throughput_per_s"] > 0 for r in py),
      "python printed no throughput")

# The wrong library serving the program: a failure row naming it, not a measurement.
env = dict(os.environ, GMBENCH_PRELOAD_LIB="/lib/x86_64-linux-gnu/libc.so.6")
doc, _ = compare(os.path.join(work, "wrong"), "--allocators", "gomodel", "--programs", "sqlite",
                 "--reps", "1", env=env)
row = doc["summary"][0]
check(row["ok"] == 0 and "not served by gomodel" in " ".join(row["failures"]),
      f"a wrong library was not refused: {row['failures']}")

if os.access("/usr/bin/redis-server", os.X_OK) and os.access("/usr/bin/redis-benchmark", os.X_OK):
    def servers():
        ps = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
        return set(ps.stdout.split())

    before = servers()
    doc, _ = compare(os.path.join(work, "redis"), "--allocators", "gomodel,glibc", "--programs",
                     "redis", "--reps", "1")
    for s in doc["summary"]:
        check(s["ok"] == 1, f"redis on {s['allocator']}: {s['failures']}")
        check(s["metrics"].get("program.throughput_per_s", {}).get("median", 0) > 0,
              f"redis on {s['allocator']}: no requests per second")
    check(servers() <= before, f"a redis-server was left running: {servers() - before}")
else:
    print("note: redis-server/redis-benchmark not installed (Debian redis-server redis-tools)")

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("gmbench programs: ok")
