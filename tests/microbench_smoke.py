#!/usr/bin/python3
"""microbench_smoke: gm-microbench runs a tiny selection for the Go model and writes Google
Benchmark JSON that says what it measured; its command line refuses what it should.

    microbench_smoke.py GM_MICROBENCH WORK_DIR SANITIZED(0|1)

Checks: --list-allocators names gomodel; a run of two benchmarks (one size-class pair, the
one-thread cross-thread benchmark) with two repetitions exits 0 and its JSON has the allocator,
its version and identity proof and gmbench's environment in "context", and every expected
benchmark with a positive time; no --allocator, an unknown allocator, an unknown flag and a
filter that matches nothing are refused; and (unsanitized builds only: a sanitizer runtime
cannot have a library preloaded in front of it) a process with jemalloc preloaded that claims
to be gomodel is refused with exit status 3 and the right command. No timing is judged.
"""
import json
import os
import shutil
import subprocess
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def run(argv, env=None):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=e)


def main():
    exe, work, sanitized = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    r = run([exe, "--list-allocators"])
    check(r.returncode == 0, "--list-allocators exited %d" % r.returncode)
    names = [line.split("\t")[0] for line in r.stdout.splitlines()]
    check("gomodel" in names, "--list-allocators lacks gomodel: %r" % r.stdout)

    out = os.path.join(work, "gomodel.json")
    r = run([exe, "--allocator", "gomodel", "--benchmark_filter=^pair/class:5/|^xthread.*threads:1$",
             "--benchmark_min_time=0.001", "--benchmark_repetitions=2",
             "--benchmark_out=" + out, "--benchmark_out_format=json"])
    check(r.returncode == 0, "gomodel run exited %d: %s" % (r.returncode, r.stderr[-2000:]))
    try:
        with open(out, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "no JSON from the gomodel run: %s" % e)
        d = {}
    ctx = d.get("context", {})
    check(ctx.get("allocator") == "gomodel", "context.allocator is %r" % ctx.get("allocator"))
    check("gomalloc" in ctx.get("allocator_package", ""), "context lacks the package")
    check(ctx.get("allocator_version"), "context lacks allocator_version")
    check("mallocs" in ctx.get("allocator_identity", ""), "context lacks the identity proof")
    check(ctx.get("malloc_provider"), "context lacks malloc_provider")
    try:
        env = json.loads(ctx.get("gmbench_env", "{}")).get("env", {})
    except ValueError:
        env = {}
    check("git_commit" in env and "gomodel" in env.get("allocators", {}),
          "context.gmbench_env is not gmbench's environment block")
    runs = {}
    for b in d.get("benchmarks", []):
        if b.get("run_type") == "iteration":
            runs.setdefault(b["run_name"], []).append(b)
    for name in ("pair/class:5/size:48", "xthread/size:64/real_time/threads:1"):
        check(len(runs.get(name, [])) == 2, "%s: %d repetitions, want 2"
              % (name, len(runs.get(name, []))))
        for b in runs.get(name, []):
            check(b.get("real_time", 0) > 0 and b.get("iterations", 0) > 0 and
                  not b.get("error_occurred"), "%s: bad row %r" % (name, b))
    check(any(b.get("name") == "pair/class:5/size:48_median" for b in d.get("benchmarks", [])),
          "no aggregate rows")

    for argv, want, what in (
            ([exe], 2, "no --allocator"),
            ([exe, "--allocator", "nosuch"], 2, "an unknown allocator"),
            ([exe, "--allocator=gomodel", "--bogus"], 2, "an unknown flag"),
            ([exe, "--allocator", "gomodel", "--benchmark_filter=nomatch"], 1,
             "a filter that matches nothing")):
        r = run(argv)
        check(r.returncode == want, "%s: exit %d, want %d" % (what, r.returncode, want))

    jemalloc = next((line.split("\t")[1] for line in run([exe, "--list-allocators"]).stdout
                     .splitlines() if line.startswith("jemalloc\t")), None)
    if jemalloc and not sanitized:
        r = run([exe, "--allocator", "gomodel", "--benchmark_filter=^pair/class:1/"],
                env={"LD_PRELOAD": jemalloc})
        check(r.returncode == 3, "gomodel under a preloaded jemalloc: exit %d, want 3"
              % r.returncode)
        check("env -u LD_PRELOAD" in r.stderr, "the refusal does not print the right command")
        r = run([exe, "--allocator", "jemalloc", "--benchmark_filter=^pair/class:1/"])
        check(r.returncode == 3 and "LD_PRELOAD=" + jemalloc in r.stderr,
              "jemalloc without its preload is not refused with the command")
    else:
        print("identity refusals not checked (%s)" %
              ("sanitized build" if sanitized else "jemalloc not installed"))

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("microbench_smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
