#!/usr/bin/python3
"""scripts/report.py — turn a gmbench result set into report.md, report.html and figures.

    scripts/report.py RESULTS_DIR [--baseline ALLOC] [--sizeclasses FILE]

Reads RESULTS_DIR/results.json (schema gmbench-compare/1, written by `gmbench compare` or
`merge`) and, when present, RESULTS_DIR/microbench/<allocator>.json (Google Benchmark JSON from
scripts/microbench.sh, <allocator>.failed for a run that failed) and
RESULTS_DIR/escape/<allocator>-noescape-<share>.json (scripts/escape.sh's run files). Writes:

    RESULTS_DIR/report.md          Markdown; figures referenced as figures/NAME.png (and .svg)
    RESULTS_DIR/report.html        self-contained: every figure inline as SVG, its PNG as a
                                   data: URI; no external resources
    RESULTS_DIR/figures/NAME.{png,svg}

Figures: microbenchmark ns/op per Go size class per allocator (median of the repetitions, bars
from the fastest to the slowest); the other microbenchmarks; latency percentiles per workload
(log scale); throughput per workload normalised to the baseline allocator (default glibc); RSS
over time against live bytes per workload (one representative run per allocator: the one with
the median peak RSS); peak RSS and fragmentation per allocator per workload; the internal waste
of Go's size-class table. Tables: the summary (medians, spread, ratio to baseline), peak RSS
over peak live bytes, the Go model's microbenchmark ratios, the environment, and every failure.

Runs on Debian's system python3 with python3-matplotlib and python3-numpy; no network. Missing
pieces (no microbenchmarks, failed rows, an allocator absent from a workload, no matplotlib)
become notes in the report, not errors. Output is deterministic for the same input: fixed
order, matplotlib's Agg backend, a fixed SVG hash salt and no dates or versions in the files.
Every file is written atomically (a temporary file in the same directory, then os.replace).
"""
import argparse
import base64
import html
import json
import math
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    matplotlib.rcParams.update({
        "svg.hashsalt": "gomalloc-report",
        "svg.fonttype": "none",  # text stays text: small, searchable SVG
        "font.size": 9,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": 100,
    })
    HAVE_MPL = True
except ImportError:  # the report is still written, without figures
    HAVE_MPL = False

# Fixed colours: an allocator looks the same in every figure of every report.
COLOURS = {
    "gomodel": "#d62728", "glibc": "#1f77b4", "jemalloc": "#2ca02c", "mimalloc": "#ff7f0e",
    "tcmalloc": "#9467bd", "tbbmalloc": "#8c564b", "bump": "#7f7f7f",
}
EXTRA_COLOURS = ["#17becf", "#bcbd22", "#e377c2", "#393b79", "#637939"]
PERCENTILES = [("p50", "p50_ns"), ("p90", "p90_ns"), ("p99", "p99_ns"), ("p99.9", "p99_9_ns"),
               ("p99.99", "p99_99_ns"), ("max", "max_ns")]
MiB = 1024.0 * 1024.0


# ---- files ------------------------------------------------------------------------------------

def write_atomic(path, data):
    """Writes bytes or str to path through a temporary file in the same directory."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_json(path, notes):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        notes.append("could not read %s: %s" % (path, e))
        return None


# ---- formatting -------------------------------------------------------------------------------

def fmt(v, digits=3):
    """A number with `digits` significant digits, thousands kept readable; '—' for None."""
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "—"
    if v == 0:
        return "0"
    a = abs(v)
    for div, suffix, at in ((1e9, "G", 1e9), (1e6, "M", 1e6), (1e3, "k", 1e4)):
        if a >= at:
            return "%.*g%s" % (digits, v / div, suffix)
    if a >= 10 ** digits / 10:
        return "%.0f" % v
    return ("%.*g" % (digits, v)) if a >= 10 ** -digits else "%.1e" % v


def fmt_bytes(v):
    if v is None:
        return "—"
    for div, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(v) >= div:
            return "%.3g %s" % (v / div, unit)
    return "%d B" % v


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def colour(alloc, order):
    if alloc in COLOURS:
        return COLOURS[alloc]
    extra = [a for a in order if a not in COLOURS]
    return EXTRA_COLOURS[extra.index(alloc) % len(EXTRA_COLOURS)] if alloc in extra else "#000"


# ---- the document: blocks rendered to both Markdown and HTML ---------------------------------

class Doc:
    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(("h", level, text))

    def p(self, text):
        self.blocks.append(("p", text))

    def note(self, text):
        self.blocks.append(("note", text))

    def table(self, header, rows, align=None):
        self.blocks.append(("table", header, rows, align))

    def pre(self, text):
        self.blocks.append(("pre", text))

    def figure(self, fig, caption):
        self.blocks.append(("figure", fig, caption))

    def markdown(self):
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "note":
                out.append("> **Note:** " + b[1])
            elif b[0] == "pre":
                out.append("```\n" + b[1].rstrip("\n") + "\n```")
            elif b[0] == "table":
                _, header, rows, align = b
                align = align or ["l"] + ["r"] * (len(header) - 1)
                esc = lambda s: str(s).replace("|", "\\|")
                out.append("| " + " | ".join(esc(h) for h in header) + " |\n" +
                           "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|\n" +
                           "\n".join("| " + " | ".join(esc(c) for c in r) + " |" for r in rows))
            elif b[0] == "figure":
                _, fig, caption = b
                out.append("![%s](figures/%s.png)\n\n*%s* ([SVG](figures/%s.svg))"
                           % (caption, fig.name, caption, fig.name))
        return "\n\n".join(out) + "\n"

    def html(self, title):
        e = html.escape
        out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
               "<title>%s</title>" % e(title), "<style>", CSS, "</style></head><body>"]
        for b in self.blocks:
            if b[0] == "h":
                out.append("<h%d>%s</h%d>" % (b[1], inline_html(b[2]), b[1]))
            elif b[0] == "p":
                out.append("<p>%s</p>" % inline_html(b[1]))
            elif b[0] == "note":
                out.append("<p class=\"note\"><b>Note:</b> %s</p>" % inline_html(b[1]))
            elif b[0] == "pre":
                out.append("<pre>%s</pre>" % e(b[1]))
            elif b[0] == "table":
                _, header, rows, align = b
                align = align or ["l"] + ["r"] * (len(header) - 1)
                cls = lambda a: " class=\"r\"" if a == "r" else ""
                out.append("<table><thead><tr>" +
                           "".join("<th%s>%s</th>" % (cls(a), inline_html(str(h)))
                                   for h, a in zip(header, align)) + "</tr></thead><tbody>")
                for r in rows:
                    out.append("<tr>" + "".join("<td%s>%s</td>" % (cls(a), inline_html(str(c)))
                                                for c, a in zip(r, align)) + "</tr>")
                out.append("</tbody></table>")
            elif b[0] == "figure":
                _, fig, caption = b
                out.append("<figure id=\"fig-%s\">%s<figcaption>%s "
                           "(<a download=\"%s.png\" href=\"data:image/png;base64,%s\">PNG</a>)"
                           "</figcaption></figure>"
                           % (e(fig.name), fig.svg_inline, inline_html(caption), e(fig.name),
                              base64.b64encode(fig.png).decode("ascii")))
        out.append("</body></html>")
        return "\n".join(out) + "\n"


CSS = """body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#f0f0f0}
td.r,th.r{text-align:right}pre{background:#f6f6f6;padding:0.5em;overflow-x:auto;font-size:0.8em}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}figcaption{font-size:0.85em;color:#444}
.note{background:#fff8e0;border-left:4px solid #e0b000;padding:0.3em 0.6em}
code{background:#f0f0f0;padding:0 2px}"""


def inline_html(text):
    """Markdown's `code` and **bold** in running text, everything else escaped."""
    s = html.escape(text)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)


class Figure:
    """One saved figure: its name, PNG bytes and the SVG text to inline."""

    def __init__(self, name, png, svg):
        self.name, self.png = name, png
        # Inline form: from <svg on, without matplotlib's RDF metadata (creator, dates).
        s = svg[svg.index("<svg"):]
        self.svg_inline = re.sub(r"<metadata>.*?</metadata>\s*", "", s, flags=re.S)


WRITTEN = set()  # figure files written by this run; older ones are removed at the end


def save_figure(fig, name, figdir):
    """Saves a matplotlib figure as figures/NAME.png and .svg (atomically, reproducibly)."""
    import io
    WRITTEN.update((name + ".png", name + ".svg"))
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", metadata={"Software": None}, bbox_inches="tight")
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None},
                bbox_inches="tight")
    plt.close(fig)
    write_atomic(os.path.join(figdir, name + ".png"), png.getvalue())
    svg_text = svg.getvalue().decode("utf-8")
    write_atomic(os.path.join(figdir, name + ".svg"), svg_text)
    return Figure(name, png.getvalue(), svg_text)


def safe_name(s):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "x"


# ---- the compare result set -------------------------------------------------------------------

class ResultSet:
    """results.json, indexed: cases (workload, plus threads/ops when a workload has several),
    allocators in a fixed order, summary rows and runs per (allocator, case)."""

    def __init__(self, data, notes):
        self.data = data or {}
        self.env = self.data.get("env") or {}
        self.config = self.data.get("config") or {}
        summary = self.data.get("summary") or []
        runs = self.data.get("runs") or []
        self.failures = []  # (allocator, case, reason)

        variants = {}
        for r in summary:
            variants.setdefault(r.get("workload"), set()).add((r.get("threads"), r.get("ops")))
        self.rows, self.cases, allocs = {}, [], []
        for r in summary:
            case = self.case_of(r.get("workload"), r.get("threads"), r.get("ops"), variants)
            if case not in self.cases:
                self.cases.append(case)
            a = r.get("allocator")
            if a not in allocs:
                allocs.append(a)
            self.rows[(a, case)] = r
            for f in r.get("failures") or []:
                self.failures.append((a, case, f))
            if r.get("ok", 0) == 0:
                notes.append("%s on %s: no successful run" % (a, case))
        self.runs = {}
        for run in runs:
            w = run.get("workload") or {}
            a = (run.get("allocator") or {}).get("name")
            case = self.case_of(w.get("name"), w.get("threads"), w.get("ops"), variants)
            if run.get("status") == "ok":
                self.runs.setdefault((a, case), []).append(run)
        configured = self.config.get("allocators") or []
        self.allocators = [a for a in configured if a in allocs] + \
                          sorted(a for a in allocs if a not in configured)
        for a in configured:
            if a not in allocs:
                notes.append("allocator %s was configured but has no result row" % a)
        for f in self.data.get("skipped_files") or []:
            notes.append("file skipped by gmbench: %s" % f)

    @staticmethod
    def case_of(workload, threads, ops, variants):
        v = variants.get(workload, set())
        label = str(workload)
        if len({t for t, _ in v}) > 1:
            label += " t%s" % threads
        if len({o for _, o in v}) > 1:
            label += " ops%s" % ops
        return label

    def is_program(self, case):
        """A real program run under gmbench (its metrics are program.*)."""
        return any(self.metric(a, case, "program.elapsed_s") for a in self.allocators)

    def throughput(self, alloc, case):
        """ops/s of a synthetic workload or trace, the program's own throughput otherwise."""
        return (self.metric(alloc, case, "time.ops_per_s") or
                self.metric(alloc, case, "program.throughput_per_s"))

    def program_unit(self, case):
        for runs in (self.runs.get((a, case)) for a in self.allocators):
            for r in runs or []:
                unit = (r.get("program") or {}).get("throughput_unit")
                if unit:
                    return unit
        return "per s"

    def metric(self, alloc, case, name):
        """(median, min, max) of a summary metric, or None."""
        r = self.rows.get((alloc, case))
        m = ((r or {}).get("metrics") or {}).get(name)
        if not m or m.get("median") is None:
            return None
        return (m["median"], m.get("min", m["median"]), m.get("max", m["median"]))

    def representative_run(self, alloc, case):
        """The run with the median peak RSS (lowest rep on ties), or None."""
        runs = [r for r in self.runs.get((alloc, case), []) if r.get("rss_samples")]
        if not runs:
            return None
        runs.sort(key=lambda r: ((r.get("memory") or {}).get("peak_rss_bytes") or 0,
                                 r.get("rep", 0)))
        return runs[(len(runs) - 1) // 2]


# ---- the microbenchmarks ----------------------------------------------------------------------

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


class Microbench:
    """microbench/<allocator>.json: per allocator, per benchmark name, the repetitions' ns per
    iteration (CPU time of the thread, or real time for benchmarks that ask for it)."""

    def __init__(self, mbdir, notes):
        self.times, self.context, self.failed, self.order = {}, {}, {}, []
        self.errors = []
        if not os.path.isdir(mbdir):
            return
        for fn in sorted(os.listdir(mbdir)):
            path = os.path.join(mbdir, fn)
            if fn.endswith(".failed"):
                with open(path, encoding="utf-8", errors="replace") as f:
                    self.failed[fn[:-7]] = f.read().strip()
                continue
            if not fn.endswith(".json") or fn.startswith("."):
                continue
            d = load_json(path, notes)
            if not isinstance(d, dict) or "benchmarks" not in d:
                notes.append("microbench/%s is not Google Benchmark JSON" % fn)
                continue
            ctx = d.get("context") or {}
            alloc = ctx.get("allocator") or fn[:-5]
            self.context[alloc] = ctx
            per = self.times.setdefault(alloc, {})
            for b in d["benchmarks"]:
                if b.get("run_type", "iteration") != "iteration":
                    continue
                name = b.get("run_name") or b.get("name")
                if b.get("error_occurred"):
                    self.errors.append((alloc, name, b.get("error_message", "error")))
                    continue
                key = "real_time" if "/real_time" in name else "cpu_time"
                if key not in b:
                    continue
                ns = b[key] * UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
                per.setdefault(name, []).append(ns)
                if name not in self.order:
                    self.order.append(name)

    def stats(self, alloc, name):
        """(median, min, max) over the repetitions, or None."""
        xs = sorted(self.times.get(alloc, {}).get(name, []))
        if not xs:
            return None
        n = len(xs)
        med = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
        return (med, xs[0], xs[-1])

    def pair_classes(self):
        """[(class, size, name)] of the pair/class:C/size:S benchmarks, by class."""
        out = {}
        for name in self.order:
            m = re.match(r"pair/class:(\d+)/size:(\d+)$", name)
            if m:
                out[int(m.group(1))] = (int(m.group(1)), int(m.group(2)), name)
        return [out[c] for c in sorted(out)]


# ---- Go's size-class table --------------------------------------------------------------------

CLASS_LINE = re.compile(r"^//\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)%\s+(\d+)\s*$")


def parse_class_table(text):
    rows = []
    for line in text.splitlines():
        m = CLASS_LINE.match(line.strip())
        if m:
            c, size, span, objs, tail, maxw, align = m.groups()
            rows.append({"class": int(c), "size": int(size), "span": int(span),
                         "objects": int(objs), "tail": int(tail), "max_waste": float(maxw),
                         "align": int(align)})
    return rows


def load_class_table(explicit, notes):
    """Go's class table from gm-sizeclasses' output (release build) or alloc/sizeclasses.h."""
    candidates = [explicit] if explicit else [
        os.path.join(ROOT, "build", "release", "alloc", "gm-sizeclasses"),
        os.path.join(ROOT, "alloc", "sizeclasses.h")]
    for path in candidates:
        if not path or not os.path.exists(path):
            continue
        try:
            if os.access(path, os.X_OK) and not path.endswith(".h"):
                text = subprocess.run([path], capture_output=True, text=True, timeout=30,
                                      check=True).stdout
            else:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
        except (OSError, subprocess.SubprocessError) as e:
            notes.append("could not read the size-class table from %s: %s" % (path, e))
            continue
        rows = parse_class_table(text)
        if rows:
            return rows, os.path.relpath(path, ROOT)
    notes.append("Go's size-class table was not found (alloc/sizeclasses.h)")
    return [], None


# ---- figures ----------------------------------------------------------------------------------

def fig_sizeclass_ns(mb, allocs, figdir):
    classes = mb.pair_classes()
    if not HAVE_MPL or not classes:
        return None
    fig, ax = plt.subplots(figsize=(12, 4.5))
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(allocs))
    for i, a in enumerate(allocs):
        st = [mb.stats(a, name) for _, _, name in classes]
        xs = [x[k] + (i - (len(allocs) - 1) / 2) * width for k, s in enumerate(st) if s]
        med = [s[0] for s in st if s]
        lo = [s[0] - s[1] for s in st if s]
        hi = [s[2] - s[0] for s in st if s]
        if not med:
            continue
        ax.errorbar(xs, med, yerr=[lo, hi], fmt="o-", ms=2.5, lw=0.8, elinewidth=0.8,
                    capsize=1.5, color=colour(a, allocs), label=a)
    ax.set_xticks(x)
    ax.set_xticklabels([str(s) for _, s, _ in classes], rotation=90, fontsize=6)
    ax.set_xlabel("Go size class: bytes/obj (classes 1–67)")
    ax.set_ylabel("ns per malloc+free (median, bars: min–max of repetitions)")
    ax.set_yscale("log")
    ax.set_title("malloc+free pair per Go size class")
    ax.legend(ncol=min(6, len(allocs)), fontsize=8)
    return save_figure(fig, "microbench_sizeclass", figdir)


def fig_micro_other(mb, allocs, names, figdir):
    """A heat map: one row per benchmark, one column per allocator, coloured by the ratio to
    the fastest allocator on that row, annotated with the median ns."""
    allocs = [a for a in allocs if a in mb.times]
    if not HAVE_MPL or not names or not allocs:
        return None
    med = np.full((len(names), len(allocs)), np.nan)
    for i, n in enumerate(names):
        for k, a in enumerate(allocs):
            st = mb.stats(a, n)
            if st and st[0] > 0:
                med[i, k] = st[0]
    best = np.nanmin(np.where(np.isnan(med), np.inf, med), axis=1, keepdims=True)
    ratio = np.log2(med / best)
    fig, ax = plt.subplots(figsize=(2.2 + 1.3 * len(allocs), 1.2 + 0.26 * len(names)))
    im = ax.imshow(np.ma.masked_invalid(ratio), aspect="auto", cmap="YlOrRd", vmin=0,
                   vmax=max(1.0, float(np.nanmax(ratio)) if np.isfinite(ratio).any() else 1.0))
    for i in range(len(names)):
        for k in range(len(allocs)):
            ax.text(k, i, fmt(med[i, k]) if np.isfinite(med[i, k]) else "—", ha="center",
                    va="center", fontsize=6.5)
    ax.set_xticks(range(len(allocs)))
    ax.set_xticklabels(allocs)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    ax.grid(False)
    cb = fig.colorbar(im, ax=ax, fraction=0.04)
    cb.set_label("log2(ns / fastest allocator on the row)")
    ax.set_title("other microbenchmarks: median ns per iteration", pad=20)
    return save_figure(fig, "microbench_other", figdir)


def fig_latency(rs, case, figdir):
    ops = [op for op in ("malloc", "free", "realloc")
           if any(rs.metric(a, case, "latency.%s.p50_ns" % op) for a in rs.allocators)]
    if not HAVE_MPL or not ops:
        return None
    fig, axes = plt.subplots(1, len(ops), figsize=(4.2 * len(ops) + 1, 3.6), squeeze=False)
    x = np.arange(len(PERCENTILES))
    for ax, op in zip(axes[0], ops):
        for a in rs.allocators:
            st = [rs.metric(a, case, "latency.%s.%s" % (op, key)) for _, key in PERCENTILES]
            if not any(st):
                continue
            xs = [x[k] for k, s in enumerate(st) if s]
            med = [max(s[0], 0.1) for s in st if s]
            err = [[max(s[0], 0.1) - max(s[1], 0.1) for s in st if s],
                   [max(s[2], 0.1) - max(s[0], 0.1) for s in st if s]]
            ax.errorbar(xs, med, yerr=err, fmt="o-", ms=3, lw=1, capsize=2,
                        color=colour(a, rs.allocators), label=a)
        ax.set_xticks(x)
        ax.set_xticklabels([p for p, _ in PERCENTILES])
        ax.set_yscale("log")
        ax.set_title("%s: %s" % (case, op))
        ax.set_ylabel("latency, ns (median of runs, bars: min–max)")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, "latency_" + safe_name(case), figdir)


def fig_throughput(rs, baseline, figdir):
    if not HAVE_MPL or not baseline or not rs.cases:
        return None
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(rs.cases) + 2), 4.2))
    x = np.arange(len(rs.cases))
    width = 0.8 / max(1, len(rs.allocators))
    for i, a in enumerate(rs.allocators):
        xs, med, lo, hi = [], [], [], []
        for k, case in enumerate(rs.cases):
            s, b = rs.throughput(a, case), rs.throughput(baseline, case)
            if not s or not b or not b[0]:
                continue
            xs.append(x[k] + (i - (len(rs.allocators) - 1) / 2) * width)
            med.append(s[0] / b[0])
            lo.append((s[0] - s[1]) / b[0])
            hi.append((s[2] - s[0]) / b[0])
        if xs:
            ax.bar(xs, med, width=width, yerr=[lo, hi], color=colour(a, rs.allocators),
                   label=a, error_kw={"elinewidth": 0.6, "capsize": 1.5})
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(rs.cases, rotation=30, ha="right")
    ax.set_yscale("log", base=2)
    ax.set_ylabel("throughput relative to %s (median; bars: min–max)" % baseline)
    ax.set_title("throughput normalised to %s (higher is better)" % baseline)
    ax.legend(ncol=min(6, len(rs.allocators)), fontsize=8)
    return save_figure(fig, "throughput_normalised", figdir)


def fig_rss(rs, case, figdir):
    reps = [(a, rs.representative_run(a, case)) for a in rs.allocators]
    reps = [(a, r) for a, r in reps if r]
    if not HAVE_MPL or not reps:
        return None
    ncols = min(3, len(reps))
    nrows = (len(reps) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False,
                             sharey=True)
    for k, (a, run) in enumerate(reps):
        ax = axes[k // ncols][k % ncols]
        s = run["rss_samples"]
        base = (run.get("memory") or {}).get("baseline_rss_bytes") or 0
        t = s.get("t_s") or []
        mark = "." if len(t) <= 20 else None  # a short run has few samples: show them
        ax.plot(t, [(v - base) / MiB for v in s.get("rss_bytes") or []], marker=mark,
                color=colour(a, rs.allocators), lw=1.2, label="RSS − baseline")
        ax.plot(t, [v / MiB for v in s.get("live_bytes") or []], color="k", lw=0.9, ls="--",
                marker=mark, label="live bytes")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        ax.set_title("%s (rep %s)" % (a, run.get("rep")), fontsize=9)
        ax.set_xlabel("s")
        if k % ncols == 0:
            ax.set_ylabel("MiB")
        if k == 0:
            ax.legend(fontsize=7)
    for k in range(len(reps), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.suptitle("%s: RSS over time against live bytes (run with the median peak RSS)" % case)
    fig.tight_layout()
    return save_figure(fig, "rss_" + safe_name(case), figdir)


def fig_memory(rs, figdir):
    cases = [c for c in rs.cases if not rs.is_program(c)]
    if not HAVE_MPL or not cases:
        return None
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.1 * len(cases) + 2), 7.5), sharex=True)
    x = np.arange(len(cases))
    width = 0.8 / max(1, len(rs.allocators))
    panels = [("memory.peak_rss_over_baseline_bytes", MiB, "peak RSS − baseline, MiB"),
              ("memory.frag_peak_rss", 1.0, "(peak RSS − baseline) / peak live")]
    for ax, (metric, div, label) in zip(axes, panels):
        for i, a in enumerate(rs.allocators):
            xs, med, lo, hi = [], [], [], []
            for k, case in enumerate(cases):
                s = rs.metric(a, case, metric)
                if not s or s[0] is None or s[0] <= 0:
                    continue
                xs.append(x[k] + (i - (len(rs.allocators) - 1) / 2) * width)
                med.append(s[0] / div)
                lo.append((s[0] - s[1]) / div)
                hi.append((s[2] - s[0]) / div)
            if xs:
                ax.bar(xs, med, width=width, yerr=[lo, hi], color=colour(a, rs.allocators),
                       label=a, error_kw={"elinewidth": 0.6, "capsize": 1.5})
        ax.set_yscale("log")
        ax.set_ylabel(label)
    peak_live = [rs.metric(rs.allocators[0], c, "memory.peak_live_bytes") for c in cases]
    for k, pl in enumerate(peak_live):
        if pl:
            axes[0].plot([x[k] - 0.4, x[k] + 0.4], [pl[0] / MiB] * 2, color="k", lw=1.2,
                         ls="--", label="peak live" if k == 0 else None)
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[0].set_title("peak RSS and fragmentation (median of runs; lower is better)")
    axes[0].legend(ncol=min(7, len(rs.allocators) + 1), fontsize=8)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(cases, rotation=30, ha="right")
    return save_figure(fig, "memory", figdir)


def fig_sizeclass_waste(table, figdir):
    if not HAVE_MPL or not table:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    # bytes/obj handed out for every request size: a step function above the request.
    req, got, prev = [], [], 0
    for r in table:
        req += [prev + 1, r["size"]]
        got += [r["size"], r["size"]]
        prev = r["size"]
    ax1.plot(req, got, color=COLOURS["gomodel"], lw=1, label="bytes/obj of the class served")
    ax1.plot([1, prev], [1, prev], color="k", lw=0.8, ls="--", label="request")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log", base=2)
    ax1.set_xlabel("request, bytes")
    ax1.set_ylabel("bytes/obj")
    ax1.set_title("bytes/obj against request size (internal waste = gap)")
    ax1.legend(fontsize=8)
    cls = [r["class"] for r in table]
    ax2.bar(cls, [r["max_waste"] for r in table], color="#bbbbbb", label="max waste (worst request)")
    ax2.bar(cls, [100.0 * r["tail"] / r["span"] for r in table], color=COLOURS["gomodel"],
            label="tail waste (span bytes no object fits)")
    ax2.set_xlabel("size class")
    ax2.set_ylabel("% of span bytes")
    ax2.set_title("Go 1.19 size classes: worst-case and tail waste")
    ax2.legend(fontsize=8)
    return save_figure(fig, "sizeclass_waste", figdir)


# ---- sections ---------------------------------------------------------------------------------

def section_summary(doc, rs, baseline):
    doc.h(2, "Summary")
    if all(rs.is_program(c) for c in rs.cases):
        return
    doc.p("Medians over the successful repetitions of each configuration; spread is "
          "(max − min) / median. Ratio: ops/s over %s's on the same workload (> 1 is faster). "
          "Peak RSS is over the run's baseline (the harness's own memory); frag = that / peak "
          "live bytes." % (baseline or "the baseline"))
    header = ["workload", "allocator", "runs ok", "ops/s", "spread", "ratio to %s" % baseline,
              "ns/op", "malloc p99 ns", "peak RSS − base", "peak live", "frag"]
    rows = []
    for case in [c for c in rs.cases if not rs.is_program(c)]:
        b = rs.metric(baseline, case, "time.ops_per_s") if baseline else None
        for a in rs.allocators:
            r = rs.rows.get((a, case))
            if not r:
                rows.append([case, a, "absent"] + ["—"] * (len(header) - 3))
                continue
            t = rs.metric(a, case, "time.ops_per_s")
            spread = (t[2] - t[1]) / t[0] * 100 if t and t[0] else None
            ratio = t[0] / b[0] if t and b and b[0] else None
            g = lambda m: (rs.metric(a, case, m) or (None,))[0]
            pr = g("memory.peak_rss_over_baseline_bytes")
            pl = g("memory.peak_live_bytes")
            rows.append([case, a, "%s/%s" % (r.get("ok", 0), r.get("runs", 0)),
                         fmt(t[0] if t else None),
                         ("%.*f%%" % (0 if spread >= 10 else 1, spread)) if spread is not None
                         else "—", fmt(ratio), fmt(g("time.ns_per_op")),
                         fmt(g("latency.malloc.p99_ns")), fmt_bytes(pr), fmt_bytes(pl),
                         fmt(g("memory.frag_peak_rss"))])
    doc.table(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))


def section_programs(doc, rs, baseline):
    cases = [c for c in rs.cases if rs.is_program(c)]
    if not cases:
        return
    doc.h(3, "Programs")
    doc.p("Real programs run under each allocator (gmbench's program workloads): the program's "
          "own throughput, its wall and CPU time and its peak RSS (whole process, from "
          "wait4()), medians of the runs; ratios to %s." % baseline)
    header = ["program", "allocator", "runs ok", "throughput", "ratio to %s" % baseline,
              "elapsed s", "CPU s", "peak RSS", "peak RSS / %s's" % baseline]
    rows = []
    for case in cases:
        unit = rs.program_unit(case)
        bt = rs.metric(baseline, case, "program.throughput_per_s")
        brss = rs.metric(baseline, case, "program.peak_rss_bytes")
        for a in rs.allocators:
            r = rs.rows.get((a, case))
            if not r:
                rows.append([case, a, "absent"] + ["—"] * (len(header) - 3))
                continue
            g = lambda m: (rs.metric(a, case, m) or (None,))[0]
            t, rss = g("program.throughput_per_s"), g("program.peak_rss_bytes")
            rows.append([case, a, "%s/%s" % (r.get("ok", 0), r.get("runs", 0)),
                         ("%s %s" % (fmt(t), unit)) if t is not None else "—",
                         fmt(t / bt[0]) if t is not None and bt and bt[0] else "—",
                         fmt(g("program.elapsed_s")), fmt(g("program.cpu_s")), fmt_bytes(rss),
                         fmt(rss / brss[0]) if rss is not None and brss and brss[0] else "—"])
    doc.table(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))


def section_rss_ratio(doc, rs):
    doc.h(3, "Peak RSS over peak live bytes")
    doc.p("`memory.frag_peak_rss`: (peak RSS − baseline) / peak live bytes, median of runs; "
          "the last column is the geometric mean over the workloads (values ≤ 0, where RSS did not "
          "rise above the baseline, left out).")
    cases = [c for c in rs.cases if not rs.is_program(c)]
    if not cases:
        return
    header = ["allocator"] + cases + ["geomean"]
    rows = []
    for a in rs.allocators:
        vals = [(rs.metric(a, c, "memory.frag_peak_rss") or (None,))[0] for c in cases]
        rows.append([a] + [fmt(v) for v in vals] + [fmt(geomean(vals))])
    doc.table(header, rows)


# ---- escape analysis (scripts/escape.sh run files) -------------------------------------------

ESCAPE_RE = re.compile(r"^(?P<alloc>[A-Za-z0-9_.-]+)-noescape-(?P<share>[0-9.]+)\.json$")


def load_escape(escdir, notes):
    """{allocator: {share: run}} from RESULTS_DIR/escape/<alloc>-noescape-<share>.json."""
    runs = {}
    if not os.path.isdir(escdir):
        return runs
    for fn in sorted(os.listdir(escdir)):
        m = ESCAPE_RE.match(fn)
        if not m:
            continue
        r = load_json(os.path.join(escdir, fn), notes)
        if not r or r.get("status") != "ok":
            notes.append("escape: %s did not produce a result (%s)"
                         % (fn, (r or {}).get("status", "unreadable")))
            continue
        runs.setdefault(m.group("alloc"), {})[float(m.group("share"))] = r
    return runs


def fig_escape(runs, allocs, figdir):
    if not HAVE_MPL or not runs:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.2))
    for a in [a for a in allocs if a in runs] + sorted(set(runs) - set(allocs)):
        shares = sorted(runs[a])
        ns = [runs[a][s]["time"]["ns_per_op"] for s in shares]
        heap = [runs[a][s]["memory"]["peak_live_bytes"] / MiB for s in shares]
        stack = [runs[a][s]["memory"]["stack_bytes_peak"] / MiB for s in shares]
        c = colour(a, allocs)
        a1.plot([100 * s for s in shares], ns, marker="o", color=c, label=a)
        a2.plot([100 * s for s in shares], heap, marker="o", color=c, label=a + " heap")
        a2.plot([100 * s for s in shares], stack, marker="s", ls="--", color=c, label=a + " stack")
    a1.set_xlabel("allocations that do not escape (%)")
    a1.set_ylabel("ns per op")
    a1.legend(fontsize=7)
    a2.set_xlabel("allocations that do not escape (%)")
    a2.set_ylabel("peak MiB")
    a2.legend(fontsize=6, ncol=2)
    fig.suptitle("escape analysis: cost and memory of the goroutines workload")
    fig.tight_layout()
    return save_figure(fig, "escape", figdir)


def section_escape(doc, runs, allocs, figdir):
    if not runs:
        return
    doc.h(2, "Escape analysis")
    doc.p("The `goroutines` workload with `--noescape` from 0 to 1 (scripts/escape.sh): that "
          "share of allocations is made in the goroutine's stack frame instead of the heap, as "
          "escape analysis (`go build -gcflags=-m`) decides in Go. The Go model uses its stack "
          "allocator; the C allocators run the goroutines as a C green-thread runtime would, "
          "with stacks from malloc. Heap peak = peak live heap bytes; stack peak = peak bytes of "
          "goroutine stacks. One run per point: read ns/op as a trend.")
    f = fig_escape(runs, allocs, figdir)
    if f:
        doc.figure(f, "ns/op, heap and stack peaks against the share that does not escape")
    header = ["allocator", "noescape", "ns/op", "malloc p50 ns", "heap peak", "stack peak",
              "peak RSS over baseline"]
    rows = []
    for a in [a for a in allocs if a in runs] + sorted(set(runs) - set(allocs)):
        for s in sorted(runs[a]):
            r = runs[a][s]
            m, t = r["memory"], r["time"]
            p50 = ((r.get("latency") or {}).get("malloc") or {}).get("p50_ns")
            rows.append([a, "%g%%" % (100 * s), fmt(t["ns_per_op"]), fmt(p50),
                         fmt_bytes(m["peak_live_bytes"]), fmt_bytes(m["stack_bytes_peak"]),
                         fmt_bytes(m.get("peak_rss_over_baseline_bytes"))])
    doc.table(header, rows)


def section_micro(doc, mb, allocs, figdir):
    doc.h(2, "Microbenchmarks")
    if not mb.times and not mb.failed:
        doc.note("no microbenchmarks in this result set (`microbench/` is missing or empty); "
                 "`scripts/microbench.sh DIR/microbench` adds them.")
        return
    missing = [a for a in allocs if a not in mb.times and a not in mb.failed]
    allocs = [a for a in allocs if a in mb.times]
    if missing:
        doc.note("no microbenchmarks for %s" % ", ".join(missing))
    doc.p("Google Benchmark through `gm-microbench` (harness/bench/), one process per allocator, "
          "identity proven. Time per iteration is the thread's CPU time (real time for the "
          "threaded `xthread` benchmarks); points are medians of the repetitions, bars span "
          "the fastest to the slowest repetition.")
    f = fig_sizeclass_ns(mb, allocs, figdir)
    if f:
        doc.figure(f, "ns per malloc+free pair for each Go size class")
    classes = mb.pair_classes()
    if "gomodel" in mb.times and classes:
        doc.h(3, "The Go model against each competitor: small-object malloc+free")
        doc.p("Geometric mean over the size classes of the Go model's median ns per pair, "
              "divided by the competitor's (> 1: the Go model is slower).")
        small = [n for c, s, n in classes if s <= 1024]
        rows = []
        for a in allocs:
            if a == "gomodel":
                continue
            def ratio(names):
                rs_ = []
                for n in names:
                    g, o = mb.stats("gomodel", n), mb.stats(a, n)
                    if g and o and o[0] > 0:
                        rs_.append(g[0] / o[0])
                return geomean(rs_)
            go_ns = geomean([(mb.stats("gomodel", n) or (None,))[0] for _, _, n in classes])
            a_ns = geomean([(mb.stats(a, n) or (None,))[0] for _, _, n in classes])
            rows.append([a, fmt(a_ns), fmt(go_ns), fmt(ratio([n for _, _, n in classes])),
                         fmt(ratio(small))])
        doc.table(["competitor", "its ns/pair (geomean)", "gomodel ns/pair (geomean)",
                   "gomodel / it, all 67 classes", "gomodel / it, ≤ 1 KiB"], rows)
    others = [n for n in mb.order if not n.startswith("pair/")]
    f = fig_micro_other(mb, allocs, others, figdir)
    if f:
        doc.figure(f, "batches, tiny, large, calloc, realloc growth, cross-thread frees")
    if others:
        rows = []
        for n in others:
            row = [n]
            for a in allocs:
                s = mb.stats(a, n)
                row.append(fmt(s[0]) if s else "—")
            rows.append(row)
        doc.table(["benchmark (ns per iteration, median)"] + allocs, rows)
    for a, name, msg in mb.errors:
        doc.note("microbenchmark %s on %s reported an error: %s" % (name, a, msg))


def section_env(doc, rs, mb):
    doc.h(2, "Environment")
    env = dict(rs.env)
    allocs = env.pop("allocators", None) or {}
    if env:
        doc.pre("\n".join("%-12s %s" % (k, env[k]) for k in sorted(env)))
    if allocs:
        rows = [[a, (v or {}).get("library") or "(linked in)", (v or {}).get("package") or "",
                 (v or {}).get("version") or "", "yes" if (v or {}).get("installed") else "no"]
                for a, v in sorted(allocs.items())]
        doc.table(["allocator", "library", "package", "version", "installed"], rows,
                  ["l"] * 5)
    if rs.config:
        doc.pre("gmbench config: " + json.dumps(rs.config, sort_keys=True))
    if mb.context:
        rows = []
        for a in sorted(mb.context):
            c = mb.context[a]
            rows.append([a, c.get("allocator_version", ""), c.get("malloc_provider", ""),
                         c.get("allocator_identity", ""), c.get("library_build_type", ""),
                         str(c.get("num_cpus", "")), c.get("date", "")])
        doc.p("Microbenchmark processes (from each JSON's context):")
        doc.table(["allocator", "version", "malloc provider", "identity proof",
                   "libbenchmark build", "cpus", "date"], rows, ["l"] * 7)


def section_failures(doc, rs, mb, notes):
    doc.h(2, "Failures and notes")
    items = ["%s on %s: %s" % f for f in rs.failures]
    items += ["microbenchmarks for %s failed: %s" % (a, t.splitlines()[0] if t else "")
              for a, t in sorted(mb.failed.items())]
    items += notes
    if not items:
        doc.p("None: every configured run succeeded.")
        return
    doc.p("\n".join("- " + i for i in items))
    for a, t in sorted(mb.failed.items()):
        doc.pre("microbench/%s.failed:\n%s" % (a, t))


def section_sizeclasses(doc, table, source, figdir):
    doc.h(2, "Go's size classes: internal waste")
    if not table:
        doc.note("the size-class table was not available")
        return
    doc.p("From `%s` (Go 1.19's table). Max waste: the worst case, a request one byte above "
          "the previous class, as Go's own table states it; tail waste: bytes at the end of "
          "each span that no object fits." % source)
    f = fig_sizeclass_waste(table, figdir)
    if f:
        doc.figure(f, "bytes/obj against request size, and worst-case and tail waste per class")
    mean_tail = sum(100.0 * r["tail"] / r["span"] for r in table) / len(table)
    worst = max(table, key=lambda r: r["max_waste"])
    doc.p("%d classes; mean tail waste %.2f%% of a span; the worst case is class %d "
          "(%d bytes/obj), %.2f%%." % (len(table), mean_tail, worst["class"], worst["size"],
                                       worst["max_waste"]))


# ---- main -------------------------------------------------------------------------------------

def build(results_dir, baseline_req, sizeclasses):
    notes = []
    figdir = os.path.join(results_dir, "figures")
    os.makedirs(figdir, exist_ok=True)
    data = load_json(os.path.join(results_dir, "results.json"), notes)
    if data is None:
        notes.append("no results.json in %s: only the microbenchmarks are reported" % results_dir)
    rs = ResultSet(data, notes)
    mb = Microbench(os.path.join(results_dir, "microbench"), notes)
    allocs = list(rs.allocators)
    for a in sorted(set(mb.times) | set(mb.failed), key=lambda a: (a not in COLOURS, a)):
        if a not in allocs:
            allocs.append(a)
    known = list(COLOURS) + sorted(a for a in allocs if a not in COLOURS)
    order = {a: i for i, a in enumerate(known)}
    allocs.sort(key=lambda a: order[a])
    rs.allocators.sort(key=lambda a: order[a])

    baseline = baseline_req
    if rs.allocators and baseline not in rs.allocators:
        fallback = rs.allocators[0]
        notes.append("baseline %s is not in the result set; ratios are to %s"
                     % (baseline, fallback))
        baseline = fallback
    if not HAVE_MPL:
        notes.append("matplotlib is not installed (Debian python3-matplotlib): no figures")

    doc = Doc()
    title = "gomalloc comparison report"
    doc.h(1, title)
    created = (data or {}).get("created_utc") or "unknown time"
    env = rs.env
    doc.p("Result set created %s on %s (%s, %s logical CPUs), commit `%s`. Allocators: "
          "%s. Workloads: %s. Baseline: **%s**." % (
              created,
              env.get("hostname", "?"), env.get("cpu_model", "?"), env.get("logical_cpus", "?"),
              env.get("git_commit", "?"), ", ".join(allocs) or "none",
              ", ".join(rs.cases) or "none", baseline))
    if rs.cases:
        section_summary(doc, rs, baseline)
        section_programs(doc, rs, baseline)
        section_rss_ratio(doc, rs)
        doc.h(2, "Throughput")
        f = fig_throughput(rs, baseline, figdir)
        if f:
            doc.figure(f, "ops/s per workload relative to %s" % baseline)
        doc.h(2, "Latency percentiles")
        doc.p("Per-call latency (sampled), median over the runs of each percentile; log scale.")
        measured = [c for c in rs.cases if not rs.is_program(c)]
        for case in measured:
            f = fig_latency(rs, case, figdir)
            if f:
                doc.figure(f, "%s: latency percentiles per allocator" % case)
            else:
                doc.note("%s: no latency data" % case)
        doc.h(2, "Memory")
        f = fig_memory(rs, figdir)
        if f:
            doc.figure(f, "peak RSS over baseline and fragmentation per allocator per workload")
        doc.h(3, "RSS over time")
        for case in measured:
            f = fig_rss(rs, case, figdir)
            if f:
                doc.figure(f, "%s: RSS over baseline against live bytes" % case)
            else:
                doc.note("%s: no RSS samples" % case)
    section_escape(doc, load_escape(os.path.join(results_dir, "escape"), notes), allocs, figdir)
    section_micro(doc, mb, allocs, figdir)
    table, source = load_class_table(sizeclasses, notes)
    section_sizeclasses(doc, table, source, figdir)
    section_env(doc, rs, mb)
    section_failures(doc, rs, mb, notes)

    write_atomic(os.path.join(results_dir, "report.md"), doc.markdown())
    write_atomic(os.path.join(results_dir, "report.html"), doc.html(title))
    for fn in sorted(os.listdir(figdir)):  # figures of an earlier rendering, no longer true
        if fn.endswith((".png", ".svg")) and fn not in WRITTEN:
            os.unlink(os.path.join(figdir, fn))
    return notes


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results_dir", help="a result set: results.json, optionally microbench/")
    ap.add_argument("--baseline", default="glibc", help="allocator ratios are relative to")
    ap.add_argument("--sizeclasses", help="gm-sizeclasses binary or a file with Go's class "
                    "table comment (default: build/release/alloc/gm-sizeclasses, else "
                    "alloc/sizeclasses.h)")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.results_dir):
        print("report.py: %s is not a directory" % args.results_dir, file=sys.stderr)
        return 2
    build(args.results_dir, args.baseline, args.sizeclasses)
    print("report: %s, %s" % (os.path.join(args.results_dir, "report.md"),
                              os.path.join(args.results_dir, "report.html")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
