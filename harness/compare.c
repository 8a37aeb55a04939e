/*
 * compare.c — many measurements: plan them, run each in a supervised child, join the results.
 *
 *   compare = plan (allocators × workloads × threads × repetitions, shuffled per repetition)
 *             → job for each (a child `gmbench run` with the allocator's LD_PRELOAD, a timeout,
 *               and a failure row written in its place when it dies)
 *             → merge (group the run files, medians and ranges, JSON + CSV + a table).
 * `--emit-jobs` prints the job commands instead of running them and `merge` joins whatever
 * they produced, so a large matrix can be spread over machines with the same code paths.
 * `--programs` adds real programs (programs.c) as subjects: their job child is
 * `gmbench program`, which is not preloaded itself and preloads the allocator into the program
 * it times; their run files carry a "program" object instead of time/latency/memory.
 *
 * job.c supervises each child, results.c turns run files into a result set.
 *
 * The parent is not measured, but it still takes its memory from gm_arena like the rest of the
 * harness: one way of doing things, and no allocator state inherited by children.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "env.h"
#include "job.h"
#include "programs.h"
#include "results.h"

enum { PATH_LEN = 4096, MAX_ARGS = 96, MAX_LIST = 64 };

typedef struct compare_config {
    const gm_backend *allocs[MAX_LIST];
    unsigned nallocs;
    const gm_workload *wls[MAX_LIST];
    unsigned nwls;
    const char *traces[MAX_LIST]; /* replayed on their own threads, once per allocator */
    unsigned ntraces;
    const gm_program *progs[MAX_LIST]; /* real programs, timed whole (programs.c) */
    unsigned nprogs;
    bool strict; /* --strict for the trace replays */
    unsigned threads[MAX_LIST];
    unsigned nthreads;
    unsigned reps;
    uint64_t timeout_s;
    const char *out;
    bool emit_jobs;
    const gm_backend *inject_into; /* --inject applies to this allocator only (NULL: all) */
    /* Run flags and workload parameters passed to every child, as given. */
    const char *pass[MAX_ARGS];
    unsigned npass;
    bool has_ops;
    uint64_t seed;
} compare_config;

typedef struct planned {
    const gm_backend *b;
    const gm_workload *w; /* NULL for a trace or a program */
    const char *trace;
    const gm_program *prog;
    unsigned threads, rep, index;
    char out[PATH_LEN];
} planned;

/* Splits a copy (argv stays intact: it is what `ps` and /proc show). */
static int split_list(const char *arg, const char **items, unsigned max, unsigned *n)
{
    static gm_arena *copies;
    if (!copies) copies = gm_arena_create();
    char *text = gm_arena_strdup(copies, arg);
    *n = 0;
    for (char *save, *t = strtok_r(text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == max) return -1;
        items[(*n)++] = t;
    }
    return 0;
}

static int parse_allocators(compare_config *c, char *text, char *err, size_t errlen)
{
    const char *names[MAX_LIST];
    unsigned n;
    if (!strcmp(text, "all")) {
        char path[PATH_LEN];
        for (const gm_backend *const *b = gm_backends(); *b; b++) {
            if ((*b)->internal) continue;
            if (gm_backend_locate(*b, path, sizeof path))
                c->allocs[c->nallocs++] = *b;
            else
                fprintf(stderr,
                        "gmbench compare: skipping %s: %s not installed (Debian package %s)\n",
                        (*b)->name, (*b)->soname, (*b)->package);
        }
        return 0;
    }
    if (split_list(text, names, MAX_LIST, &n)) {
        snprintf(err, errlen, "--allocators: too many");
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        char path[PATH_LEN];
        const gm_backend *b = gm_cli_backend(names[i], err, errlen);
        if (!b || gm_cli_require_installed(b, path, sizeof path, err, errlen)) return -1;
        c->allocs[c->nallocs++] = b;
    }
    return 0;
}

static int parse_workloads(compare_config *c, char *text, char *err, size_t errlen)
{
    const char *names[MAX_LIST];
    unsigned n;
    if (!strcmp(text, "default") || !strcmp(text, "all")) {
        for (const gm_workload *const *w = gm_workloads(); *w; w++) c->wls[c->nwls++] = *w;
        return 0;
    }
    if (split_list(text, names, MAX_LIST, &n)) {
        snprintf(err, errlen, "--workloads: too many");
        return -1;
    }
    for (unsigned i = 0; i < n; i++)
        if (!(c->wls[c->nwls++] = gm_cli_workload(names[i], err, errlen))) return -1;
    return 0;
}

/* --programs LIST, or default/all: every program whose tools are installed. A program that is
 * not installed is skipped with a message naming the Debian packages, as a missing allocator
 * is under --allocators all. */
static int parse_programs(compare_config *c, char *text, char *err, size_t errlen)
{
    const char *names[MAX_LIST];
    unsigned n = 0;
    if (!strcmp(text, "default") || !strcmp(text, "all")) {
        for (const gm_program *const *p = gm_programs(); *p; p++) names[n++] = gm_program_name(*p);
    } else if (split_list(text, names, MAX_LIST, &n)) {
        snprintf(err, errlen, "--programs: too many");
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        char what[512];
        const gm_program *p = gm_program_find(names[i]);
        if (!p) {
            snprintf(err, errlen,
                     "--programs: unknown program '%s'; valid: python sqlite gcc "
                     "redis, or default",
                     names[i]);
            return -1;
        }
        if (gm_program_installed(p, what, sizeof what))
            c->progs[c->nprogs++] = p;
        else
            fprintf(stderr, "gmbench compare: skipping program %s: %s\n", names[i], what);
    }
    return 0;
}

static int parse_threads(compare_config *c, char *text, char *err, size_t errlen)
{
    const char *items[MAX_LIST];
    unsigned n;
    if (split_list(text, items, MAX_LIST, &n) || !n) {
        snprintf(err, errlen, "--threads: expected a list like 1,2,4");
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t t;
        if (gm_parse_u64(items[i], 0, &t) || t < 1 || t > GM_WL_MAX_THREADS) {
            snprintf(err, errlen, "--threads: '%s' is not a thread count in [1, %d]", items[i],
                     GM_WL_MAX_THREADS);
            return -1;
        }
        c->threads[c->nthreads++] = (unsigned)t;
    }
    return 0;
}

/* Every flag that is not compare's own is passed to the children; it must mean something to
 * run (checked by parsing a child's command line for each workload before anything starts). */
static int parse_compare(int argc, char **argv, compare_config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->reps = 3;
    c->timeout_s = 600;
    c->seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--emit-jobs")) {
            c->emit_jobs = true;
            continue;
        }
        if (!strcmp(f, "--strict")) { /* the one flag without a value */
            c->strict = true;
            continue;
        }
        if (i + 1 >= argc || strncmp(f, "--", 2)) {
            snprintf(err, errlen, i + 1 >= argc ? "%s needs a value" : "unexpected argument '%s'",
                     f);
            return -1;
        }
        char *v = argv[++i];
        uint64_t u;
        /* A list flag given again replaces the earlier list: scripts put defaults first. */
        if (!strcmp(f, "--allocators")) {
            c->nallocs = 0;
            if (parse_allocators(c, v, err, errlen)) return -1;
        } else if (!strcmp(f, "--workloads")) {
            c->nwls = 0;
            if (parse_workloads(c, v, err, errlen)) return -1;
        } else if (!strcmp(f, "--traces")) {
            if (split_list(v, c->traces, MAX_LIST, &c->ntraces)) {
                snprintf(err, errlen, "--traces: too many");
                return -1;
            }
        } else if (!strcmp(f, "--programs")) {
            c->nprogs = 0;
            if (parse_programs(c, v, err, errlen)) return -1;
        } else if (!strcmp(f, "--threads")) {
            c->nthreads = 0;
            if (parse_threads(c, v, err, errlen)) return -1;
        } else if (!strcmp(f, "--reps") || !strcmp(f, "--timeout")) {
            if (gm_parse_u64(v, 0, &u) || u < 1 || u > 100000) {
                snprintf(err, errlen, "%s: '%s' is not a count in [1, 100000]", f, v);
                return -1;
            }
            if (!strcmp(f, "--reps"))
                c->reps = (unsigned)u;
            else
                c->timeout_s = u;
        } else if (!strcmp(f, "--out")) {
            c->out = v;
        } else if (!strcmp(f, "--inject-allocator")) {
            if (!(c->inject_into = gm_cli_backend(v, err, errlen))) return -1;
        } else if (!strcmp(f, "--allocator") || !strcmp(f, "--workload") || !strcmp(f, "--rep")) {
            snprintf(err, errlen, "%s is a run flag; compare takes --allocators, --workloads", f);
            return -1;
        } else {
            if (c->npass + 2 > MAX_ARGS) {
                snprintf(err, errlen, "too many flags");
                return -1;
            }
            if (!strcmp(f, "--ops")) c->has_ops = true;
            if (!strcmp(f, "--seed") && gm_parse_u64(v, 0, &c->seed)) {
                snprintf(err, errlen, "--seed: '%s' is not a number", v);
                return -1;
            }
            c->pass[c->npass++] = f;
            c->pass[c->npass++] = v;
        }
    }
    if (!c->out) {
        snprintf(err, errlen, "compare needs --out DIR (for example results/NAME)");
        return -1;
    }
    if (!c->nallocs || (!c->nwls && !c->ntraces && !c->nprogs)) {
        snprintf(err, errlen,
                 "compare needs --allocators and --workloads (lists, or all/default) "
                 "or --traces or --programs (with at least one installed)");
        return -1;
    }
    if (!c->nthreads) c->threads[c->nthreads++] = 1;
    return 0;
}

/* The child's run flags for one measurement. Workload parameters given to compare go only to
 * the workloads that have them. */
/* compare passes these to every child; the rest of what it passes are workload parameters. */
static bool is_run_flag(const char *f)
{
    static const char *const flags[] = {"--ops",   "--seed",         "--latency", "--sample-period",
                                        "--touch", "--rss-interval", "--inject",  NULL};
    for (int i = 0; flags[i]; i++)
        if (!strcmp(f, flags[i])) return true;
    return false;
}

/* The child's run flags for one measurement. Workload parameters given to compare go only to
 * the workloads that have them; a trace takes no length, seed or parameters of its own. */
static int child_args(const compare_config *c, const planned *p, char **args, char *bufs)
{
    int n = 0;
    snprintf(bufs, 32, "%u", p->threads);
    snprintf(bufs + 32, 32, "%u", p->rep);
    args[n++] = "--allocator";
    args[n++] = (char *)p->b->name;
    if (p->prog) { /* a program takes no run flags: it is its own workload */
        args[n++] = "--program";
        args[n++] = (char *)gm_program_name(p->prog);
        args[n++] = "--rep";
        args[n++] = bufs + 32;
        args[n] = NULL;
        return n;
    }
    args[n++] = p->trace ? "--trace" : "--workload";
    args[n++] = (char *)(p->trace ? p->trace : p->w->name);
    if (!p->trace) {
        args[n++] = "--threads";
        args[n++] = bufs;
    } else if (c->strict) {
        args[n++] = "--strict";
    }
    args[n++] = "--rep";
    args[n++] = bufs + 32;
    if (!p->trace && !c->has_ops && p->w->default_ops) {
        snprintf(bufs + 64, 32, "%llu", (unsigned long long)p->w->default_ops);
        args[n++] = "--ops";
        args[n++] = bufs + 64;
    }
    for (unsigned i = 0; i < c->npass; i += 2) {
        const char *f = c->pass[i];
        bool is_param = p->w && gm_wl_param_index(p->w, f + 2) >= 0;
        bool for_trace = strcmp(f, "--ops") && strcmp(f, "--seed");
        if (!strcmp(f, "--inject") && c->inject_into && c->inject_into != p->b) continue;
        if (is_param || (is_run_flag(f) && (!p->trace || for_trace))) {
            args[n++] = (char *)f;
            args[n++] = (char *)c->pass[i + 1];
        }
    }
    args[n] = NULL;
    return n;
}

/* Every passed flag must be a run flag or a parameter of at least one selected workload, and
 * every child command line must parse (a workload's generator must accept its parameters, a
 * trace's header must read): errors surface before the first child starts. */
static int check_plan(const compare_config *c, const planned *plan, size_t n, char *err,
                      size_t errlen)
{
    for (unsigned i = 0; i < c->npass; i += 2) {
        bool used = is_run_flag(c->pass[i]);
        for (unsigned w = 0; w < c->nwls; w++)
            used |= gm_wl_param_index(c->wls[w], c->pass[i] + 2) >= 0;
        if (!used) {
            snprintf(err, errlen, "%s is neither a run flag nor a parameter of a selected workload",
                     c->pass[i]);
            return -1;
        }
    }
    for (size_t k = 0; k < n; k++) {
        char *args[MAX_ARGS + 16], bufs[96], e2[512];
        gm_run_config probe;
        const char *o;
        if (plan[k].prog) continue; /* its flags are fixed; `gmbench program` checks the rest */
        int argc = child_args(c, &plan[k], args, bufs);
        gm_wl_gen *g = NULL;
        if (gm_cli_parse_run(argc, args, &probe, &o, e2, sizeof e2) ||
            (probe.workload && !(g = gm_wl_open(probe.workload, &probe.wl, e2, sizeof e2)))) {
            snprintf(err, errlen, "%s on %s: %s", plan[k].trace ? plan[k].trace : plan[k].w->name,
                     plan[k].b->name, e2);
            return -1;
        }
        gm_wl_close(g);
    }
    return 0;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* What is measured, before allocators and repetitions: each (workload, thread count), with the
 * count clamped to the workload's limits (duplicates dropped), then each trace. */
typedef struct subject {
    const gm_workload *w;
    unsigned threads;
    const char *trace;
    const gm_program *prog;
} subject;

static size_t make_subjects(const compare_config *c, subject *out)
{
    size_t n = 0;
    for (unsigned w = 0; w < c->nwls; w++)
        for (unsigned t = 0; t < c->nthreads; t++) {
            const gm_workload *wl = c->wls[w];
            unsigned th = c->threads[t];
            th = th < wl->min_threads   ? wl->min_threads
                 : th > wl->max_threads ? wl->max_threads
                                        : th;
            bool dup = false;
            for (size_t k = 0; k < n; k++) dup |= out[k].w == wl && out[k].threads == th;
            if (!dup) out[n++] = (subject){wl, th, NULL, NULL};
        }
    for (unsigned i = 0; i < c->ntraces; i++) out[n++] = (subject){NULL, 0, c->traces[i], NULL};
    for (unsigned i = 0; i < c->nprogs; i++) out[n++] = (subject){NULL, 1, NULL, c->progs[i]};
    return n;
}

static void plan_one(const compare_config *c, const subject *s, size_t si, unsigned b, unsigned rep,
                     planned *p)
{
    p->b = c->allocs[b];
    p->w = s->w;
    p->trace = s->trace;
    p->prog = s->prog;
    p->threads = s->threads;
    p->rep = rep;
    p->index = (unsigned)((si * c->nallocs + b) * c->reps + rep);
    char name[128];
    if (s->prog) {
        snprintf(name, sizeof name, "program-%s", gm_program_name(s->prog));
    } else if (s->trace) {
        const char *base = strrchr(s->trace, '/') ? strrchr(s->trace, '/') + 1 : s->trace;
        snprintf(name, sizeof name, "trace-%.*s", (int)strcspn(base, "."), base);
    } else {
        snprintf(name, sizeof name, "%s-t%u", s->w->name, s->threads);
    }
    snprintf(p->out, sizeof p->out, "%s/runs/%05u-%s-%s-r%u.json", c->out, p->index, name,
             p->b->name, rep);
}

/* Plan order: repetition-major; inside a repetition every (subject, allocator) once, shuffled
 * (seeded, so a plan is reproducible), so slow drift of the machine spreads over all
 * allocators instead of favouring whichever runs first. File names use the canonical index,
 * so results sort the same whatever the run order was. */
static planned *make_plan(gm_arena *a, const compare_config *c, size_t *n)
{
    subject *subj =
        gm_arena_alloc(a, sizeof(subject) * (c->nwls * c->nthreads + c->ntraces + c->nprogs + 1));
    size_t nsubj = make_subjects(c, subj);
    planned *plan = gm_arena_alloc(a, sizeof(planned) * (nsubj * c->nallocs * c->reps + 1));
    uint64_t rng = c->seed ^ 0x5eedull;
    size_t k = 0;
    for (unsigned rep = 0; rep < c->reps; rep++) {
        size_t first = k;
        for (size_t si = 0; si < nsubj; si++)
            for (unsigned b = 0; b < c->nallocs; b++)
                plan_one(c, &subj[si], si, b, rep, &plan[k++]);
        for (size_t i = k - 1; i > first; i--) {
            size_t j = first + splitmix(&rng) % (i - first + 1);
            planned tmp = plan[i];
            plan[i] = plan[j];
            plan[j] = tmp;
        }
    }
    *n = k;
    return plan;
}

static void shell_quote(const char *s)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-_./=:,@+") == strlen(s)) {
        fputs(s, stdout);
        return;
    }
    putchar('\'');
    for (; *s; s++) *s == '\'' ? fputs("'\\''", stdout) : putchar(*s);
    putchar('\'');
}

static void emit_jobs(const compare_config *c, const planned *plan, size_t n)
{
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%llu", (unsigned long long)c->timeout_s);
    for (size_t k = 0; k < n; k++) {
        char *args[MAX_ARGS + 16], bufs[96];
        int argc = child_args(c, &plan[k], args, bufs);
        shell_quote(gm_cli_self());
        printf(" job --timeout %s --out ", timeout);
        shell_quote(plan[k].out);
        printf(" --");
        for (int i = 0; i < argc; i++) {
            putchar(' ');
            shell_quote(args[i]);
        }
        putchar('\n');
    }
    fprintf(stderr, "gmbench compare: %zu jobs; afterwards: %s merge --out %s %s/runs\n", n,
            gm_cli_self(), c->out, c->out);
}

static void progress(size_t k, size_t n, const planned *p, double elapsed, unsigned failed)
{
    double left = k ? elapsed / (double)k * (double)(n - k) : 0;
    const char *what = p->prog ? gm_program_name(p->prog) : p->trace ? p->trace : p->w->name;
    fprintf(stderr, "[%zu/%zu] %-10s %-18s t=%u rep %u   %.0fs elapsed, ~%.0fs left, %u failed\n",
            k + 1, n, p->b->name, what, p->threads, p->rep, elapsed, left, failed);
}

static void compare_config_json(gm_json *j, const void *ctx)
{
    const compare_config *c = ctx;
    gm_json_str(j, "command", "compare");
    gm_json_array_begin(j, "allocators");
    for (unsigned i = 0; i < c->nallocs; i++) gm_json_str(j, NULL, c->allocs[i]->name);
    gm_json_array_end(j);
    gm_json_array_begin(j, "workloads");
    for (unsigned i = 0; i < c->nwls; i++) gm_json_str(j, NULL, c->wls[i]->name);
    gm_json_array_end(j);
    gm_json_array_begin(j, "traces");
    for (unsigned i = 0; i < c->ntraces; i++) gm_json_str(j, NULL, c->traces[i]);
    gm_json_array_end(j);
    gm_json_array_begin(j, "programs");
    for (unsigned i = 0; i < c->nprogs; i++) gm_json_str(j, NULL, gm_program_name(c->progs[i]));
    gm_json_array_end(j);
    gm_json_bool(j, "strict", c->strict);
    gm_json_array_begin(j, "threads");
    for (unsigned i = 0; i < c->nthreads; i++) gm_json_u64(j, NULL, c->threads[i]);
    gm_json_array_end(j);
    gm_json_u64(j, "reps", c->reps);
    gm_json_u64(j, "timeout_s", c->timeout_s);
    gm_json_u64(j, "seed", c->seed);
    gm_json_array_begin(j, "flags");
    for (unsigned i = 0; i < c->npass; i++) gm_json_str(j, NULL, c->pass[i]);
    gm_json_array_end(j);
}

int gm_cmd_compare(int argc, char **argv)
{
    compare_config c;
    char err[1024], runs_dir[PATH_LEN];
    if (parse_compare(argc, argv, &c, err, sizeof err)) {
        fprintf(stderr, "gmbench compare: %s\n", err);
        return GM_EXIT_USAGE;
    }
    gm_arena *a = gm_arena_create();
    size_t n;
    planned *plan = make_plan(a, &c, &n);
    if (check_plan(&c, plan, n, err, sizeof err)) {
        fprintf(stderr, "gmbench compare: %s\n", err);
        return GM_EXIT_USAGE;
    }
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", c.out);
    if (gm_make_dirs(runs_dir)) {
        fprintf(stderr, "gmbench compare: cannot create %s: %s\n", runs_dir, strerror(errno));
        return GM_EXIT_IO;
    }
    if (c.emit_jobs) {
        emit_jobs(&c, plan, n);
        return 0;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gm_job_catch_interrupts();
    unsigned failed = 0;
    /* Exactly the files of this plan that ran: a reused --out directory may hold older runs. */
    const char **in = gm_arena_alloc(a, sizeof(char *) * n);
    size_t done = 0;
    for (size_t k = 0; k < n && !gm_job_interrupted(); k++) {
        char *args[MAX_ARGS + 16], bufs[96];
        gm_job_result res;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        progress(k, n, &plan[k], (double)(t1.tv_sec - t0.tv_sec), failed);
        int cargc = child_args(&c, &plan[k], args, bufs);
        int rc = gm_job_supervise(cargc, args, plan[k].out, (unsigned)c.timeout_s, &res);
        if (rc > 0) {
            failed++;
            fprintf(stderr, "  failed: %s\n", res.reason);
        }
        if (rc >= 0) in[done++] = plan[k].out;
    }
    if (gm_job_interrupted())
        fprintf(stderr, "gmbench compare: interrupted; writing the %zu measurements done of %zu\n",
                done, n);
    n = done;
    const gm_result_set *rs = gm_results_load(a, in, n);
    int rc = gm_results_write(c.out, rs, compare_config_json, &c);
    gm_results_print_table(rs);
    printf("\n%zu measurements, %u failed; results in %s/results.json, summary.csv, runs.csv\n", n,
           failed, c.out);
    return gm_job_interrupted() ? 128 + gm_job_interrupted() : rc;
}
