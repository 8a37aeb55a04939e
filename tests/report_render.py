#!/usr/bin/python3
"""report_render: scripts/report.py renders a small fixed result set (tests/data/report/set: a
real `gmbench compare` of gomodel and glibc on churn and tiny, and a short microbenchmark run of
both) into report.md, report.html and figures, and stays robust when pieces are missing.

    report_render.py REPORT_PY DATA_SET WORK_DIR

Checks: both reports exist and name every allocator and workload; every figure the Markdown
references exists and is a valid PNG (signature, IHDR) or SVG (parses, root <svg>); the HTML is
self-contained (no http(s) or protocol-relative src/href/url(), no @import, every <img> a data:
URI, every inline SVG parses); rendering twice gives identical files; a set without
microbenchmarks, with a failed microbenchmark run, with a failed compare row and with an unknown
baseline still renders, with notes. Exit 77 (skipped) when matplotlib is not installed.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

try:
    import matplotlib  # noqa: F401
except ImportError:
    print("SKIP: matplotlib is not installed (Debian python3-matplotlib)")
    sys.exit(77)

ALLOCATORS = ["gomodel", "glibc"]
WORKLOADS = ["churn", "tiny"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def render(report_py, d, *extra):
    r = subprocess.run([sys.executable, report_py, d] + list(extra), capture_output=True,
                       text=True, timeout=300)
    check(r.returncode == 0, "report.py %s %s exited %d: %s" % (d, " ".join(extra),
                                                                r.returncode, r.stderr[-2000:]))
    return r


def valid_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return False
    w, h = struct.unpack(">II", data[16:24])
    return w > 0 and h > 0 and data[-8:-4] == b"IEND"


def valid_svg(path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return False
    return root.tag.endswith("svg")


EXTERNAL = [
    re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"@import", re.I),
]


def check_set(d, expect_micro=True):
    md_path, html_path = os.path.join(d, "report.md"), os.path.join(d, "report.html")
    check(os.path.isfile(md_path), "%s missing" % md_path)
    check(os.path.isfile(html_path), "%s missing" % html_path)
    if failures:
        return
    md = open(md_path, encoding="utf-8").read()
    page = open(html_path, encoding="utf-8").read()
    for name in ALLOCATORS + WORKLOADS:
        check(name in md, "report.md does not mention %s" % name)
        check(name in page, "report.html does not mention %s" % name)
    figs = re.findall(r"\]\((figures/[^)]+)\)", md)
    check(len(figs) >= 2 * 7, "report.md references only %d figure files" % len(figs))
    for rel in figs:
        path = os.path.join(d, rel)
        check(os.path.isfile(path), "figure %s missing" % rel)
        if not os.path.isfile(path):
            continue
        if rel.endswith(".png"):
            check(valid_png(path), "%s is not a valid PNG" % rel)
        elif rel.endswith(".svg"):
            check(valid_svg(path), "%s is not a valid SVG" % rel)
        else:
            check(False, "%s: unexpected figure type" % rel)
    for kind in ("microbench_sizeclass", "latency_churn", "rss_tiny", "throughput_normalised",
                 "memory", "sizeclass_waste"):
        if kind.startswith("microbench") and not expect_micro:
            continue
        check("figures/%s.png" % kind in md, "report.md lacks the %s figure" % kind)
    for rx in EXTERNAL:
        m = rx.search(page)
        check(not m, "report.html has an external reference: %r" % (m.group(0) if m else ""))
    for src in re.findall(r"<img[^>]*\ssrc\s*=\s*[\"']([^\"']*)", page, re.I):
        check(src.startswith("data:"), "report.html <img> not embedded: %s" % src[:60])
    for href in re.findall(r"\shref\s*=\s*[\"']([^\"']*)", page, re.I):
        check(href.startswith(("data:", "#")), "report.html links outside itself: %s" % href[:60])
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    check(len(svgs) == len(figs) // 2, "report.html inlines %d SVGs for %d figures"
          % (len(svgs), len(figs) // 2))
    for s in svgs:
        try:
            ET.fromstring(s)
        except ET.ParseError as e:
            check(False, "an inline SVG does not parse: %s" % e)
            break
    downloads = re.findall(r"<a download=\"[^\"]+\.png\" href=\"data:image/png;base64,", page)
    check(len(downloads) == len(figs) // 2, "report.html does not embed one PNG per figure")


def snapshot(d):
    out = {}
    for root, _, files in os.walk(d):
        for fn in files:
            if fn.startswith("report") or root.endswith("figures"):
                p = os.path.join(root, fn)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, d)] = f.read()
    return out


def main():
    report_py, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # The fixed set as it is checked in.
    full = os.path.join(work, "full")
    shutil.copytree(data, full)
    render(report_py, full)
    check_set(full)
    md = open(os.path.join(full, "report.md"), encoding="utf-8").read()
    check("gomodel / it" in md, "no Go model / competitor microbenchmark ratio table")
    check("None: every configured run succeeded." in md, "the clean set reports failures")
    first = snapshot(full)
    render(report_py, full)
    second = snapshot(full)
    check(sorted(first) == sorted(second), "a second rendering wrote other files")
    for k in sorted(first):
        check(first[k] == second.get(k), "rendering is not deterministic: %s differs" % k)

    # No microbenchmarks, an unknown baseline.
    bare = os.path.join(work, "bare")
    shutil.copytree(data, bare, ignore=shutil.ignore_patterns("microbench"))
    render(report_py, bare, "--baseline", "nosuch")
    check_set(bare, expect_micro=False)
    md = open(os.path.join(bare, "report.md"), encoding="utf-8").read()
    check("no microbenchmarks in this result set" in md, "missing microbench not noted")
    check("baseline nosuch is not in the result set" in md, "unknown baseline not noted")

    # A failed microbenchmark run and a compare row whose runs all failed.
    broken = os.path.join(work, "broken")
    shutil.copytree(data, broken)
    with open(os.path.join(broken, "microbench", "tcmalloc.failed"), "w") as f:
        f.write("gm-microbench --allocator tcmalloc failed (exit status 3)\nnot served\n")
    path = os.path.join(broken, "results.json")
    with open(path, encoding="utf-8") as f:
        rs = json.load(f)
    row = next(r for r in rs["summary"] if r["allocator"] == "glibc" and r["workload"] == "tiny")
    row.update(ok=0, failed=row["runs"], failures=["killed by signal 11 (SIGSEGV)"], metrics={})
    for run in rs["runs"]:
        if run["allocator"]["name"] == "glibc" and run["workload"]["name"] == "tiny":
            for k in ("config", "clock", "ops", "time", "latency", "memory", "rss_samples"):
                run.pop(k, None)
            run["status"] = "failed"
            run["failure"] = {"reason": "killed by signal 11 (SIGSEGV)"}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rs, f)
    render(report_py, broken)
    check_set(broken)
    md = open(os.path.join(broken, "report.md"), encoding="utf-8").read()
    check("SIGSEGV" in md, "a failed compare row is not listed")
    check("microbenchmarks for tcmalloc failed" in md, "a failed microbench run is not listed")

    # Nothing at all: still a report, saying so.
    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    render(report_py, empty)
    check(os.path.isfile(os.path.join(empty, "report.html")), "an empty set gives no report")

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("report_render: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
