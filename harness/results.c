/*
 * results.c — result sets: run files grouped into summary rows (median, min, max of every
 * metric over the successful repetitions, the failure reasons), written as results.json
 * (schema gmbench-compare/1), summary.csv and runs.csv, and shown as a table; and
 * `gmbench merge`, which does this for run files from anywhere (--emit-jobs).
 */
#define _GNU_SOURCE
#include "results.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "env.h"

enum { PATH_LEN = 4096 };

/* The metrics a summary row aggregates: median, min and max over a group's successful runs. */
static const char *const metrics[] = {
    "time.ops_per_s",
    "time.ns_per_op",
    "time.exec_s",
    "time.cpu_exec_s",
    "time.minor_faults",
    "time.major_faults",
    "latency.malloc.p50_ns",
    "latency.malloc.p90_ns",
    "latency.malloc.p99_ns",
    "latency.malloc.p99_9_ns",
    "latency.malloc.p99_99_ns",
    "latency.malloc.max_ns",
    "latency.free.p50_ns",
    "latency.free.p90_ns",
    "latency.free.p99_ns",
    "latency.free.p99_9_ns",
    "latency.free.p99_99_ns",
    "latency.free.max_ns",
    "latency.realloc.p50_ns",
    "latency.realloc.p99_ns",
    "memory.peak_rss_bytes",
    "memory.peak_rss_over_baseline_bytes",
    "memory.peak_live_bytes",
    "memory.rss_at_peak_live_bytes",
    "memory.final_rss_over_baseline_bytes",
    "memory.frag_peak_rss",
    "memory.frag_rss_at_peak_live",
    "memory.allocator_at_peak_live.frag_own",
    "memory.stack_bytes_peak", /* goroutine workloads */
    "memory.allocator_final.stack_inuse",
    /* Real programs (programs.c): wait4()'s rusage and the program's own throughput. */
    "program.elapsed_s",
    "program.user_s",
    "program.sys_s",
    "program.cpu_s",
    "program.peak_rss_bytes",
    "program.minor_faults",
    "program.major_faults",
    "program.throughput_per_s",
};
enum { NMETRICS = sizeof metrics / sizeof metrics[0] };

typedef struct run_file {
    const char *path;
    const gm_jval *v;
    bool ok;
} run_file;

typedef struct stat3 {
    unsigned n;
    double median, min, max;
} stat3;

typedef struct group {
    const run_file *first;
    const char *key;
    unsigned nruns, nok;
    const run_file **runs;
    stat3 m[NMETRICS];
} group;

typedef struct gm_result_set {
    gm_arena *a;
    run_file *files;
    size_t nfiles;
    group *groups;
    size_t ngroups;
    const char **skipped; /* "path: why" for files that are not run results */
    size_t nskipped;
} result_set;

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static stat3 summarize(double *v, unsigned n)
{
    stat3 s = {n, NAN, NAN, NAN};
    if (!n) return s;
    qsort(v, n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

/* A member's JSON text, exactly as written (integers such as seeds keep every digit). */
static int raw_of(const gm_jval *v, const char *path, const char **text)
{
    const gm_jval *m = gm_json_get(v, path);
    *text = m ? m->raw : "";
    return m ? (int)m->rawlen : 0;
}

/* Runs with the same allocator, workload, parameters, seed, ops and threads form a group. */
static const char *group_key(gm_arena *a, const gm_jval *v)
{
    static const char *const parts[] = {"allocator.name", "workload.name", "workload.threads",
                                        "workload.ops",   "workload.seed", "workload.params"};
    char buf[4096];
    size_t used = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && used < sizeof buf; i++) {
        const char *t;
        int n = raw_of(v, parts[i], &t);
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%.*s", i ? "|" : "", n, t);
    }
    return gm_arena_strdup(a, buf);
}

static void compute_group(gm_arena *a, group *g)
{
    double *vals = gm_arena_alloc(a, sizeof(double) * (g->nruns ? g->nruns : 1));
    for (unsigned m = 0; m < NMETRICS; m++) {
        unsigned n = 0;
        for (unsigned r = 0; r < g->nruns; r++) {
            const gm_jval *x = g->runs[r]->ok ? gm_json_get(g->runs[r]->v, metrics[m]) : NULL;
            if (x && x->type == GM_JNUM) vals[n++] = x->num;
        }
        g->m[m] = summarize(vals, n);
    }
}

static void build_groups(result_set *rs)
{
    rs->groups = gm_arena_alloc(rs->a, sizeof(group) * (rs->nfiles ? rs->nfiles : 1));
    const char **keys = gm_arena_alloc(rs->a, sizeof(char *) * (rs->nfiles ? rs->nfiles : 1));
    for (size_t i = 0; i < rs->nfiles; i++) {
        keys[i] = group_key(rs->a, rs->files[i].v);
        size_t g = 0;
        while (g < rs->ngroups && strcmp(rs->groups[g].key, keys[i])) g++;
        if (g == rs->ngroups) {
            rs->groups[g].key = keys[i];
            rs->groups[g].first = &rs->files[i];
            rs->groups[g].runs = gm_arena_alloc(rs->a, sizeof(run_file *) * rs->nfiles);
            rs->ngroups++;
        }
        group *gr = &rs->groups[g];
        gr->runs[gr->nruns++] = &rs->files[i];
        gr->nok += rs->files[i].ok;
    }
    for (size_t g = 0; g < rs->ngroups; g++) compute_group(rs->a, &rs->groups[g]);
}

static void add_file(result_set *rs, const char *path, size_t cap)
{
    char err[512];
    size_t len;
    char *text = gm_read_file(path, &len, err, sizeof err);
    const gm_jval *v = text ? gm_json_parse(rs->a, text, len, err, sizeof err) : NULL;
    const char *schema = v ? gm_json_get_str(v, "schema", "") : "";
    if (v && strcmp(schema, "gmbench-run/1") != 0)
        snprintf(err, sizeof err, "schema is '%s', not gmbench-run/1", schema);
    if (!v || strcmp(schema, "gmbench-run/1") != 0) {
        char line[PATH_LEN + 600];
        snprintf(line, sizeof line, "%s: %s", path, err);
        rs->skipped[rs->nskipped++] = gm_arena_strdup(rs->a, line);
        return;
    }
    if (rs->nfiles < cap) {
        run_file *f = &rs->files[rs->nfiles++];
        f->path = gm_arena_strdup(rs->a, path);
        f->v = v;
        f->ok = !strcmp(gm_json_get_str(v, "status", ""), "ok");
    }
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Run files under dir (*.json, sorted by name: compare names them in plan order). */
static size_t list_dir(gm_arena *a, const char *dir, const char ***out)
{
    size_t n = 0, cap = 256;
    const char **names = gm_arena_alloc(a, sizeof(char *) * cap);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json")) continue;
        if (n == cap) {
            const char **bigger = gm_arena_alloc(a, sizeof(char *) * cap * 2);
            memcpy(bigger, names, sizeof(char *) * cap);
            names = bigger;
            cap *= 2;
        }
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        names[n++] = gm_arena_strdup(a, path);
    }
    if (d) closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

/* Loads run files from paths (files, or directories of them). */
gm_result_set *gm_results_load(gm_arena *a, const char *const *paths, size_t npaths)
{
    result_set *rs = gm_arena_alloc(a, sizeof *rs);
    rs->a = a;
    const char ***lists = gm_arena_alloc(a, sizeof(char **) * (npaths ? npaths : 1));
    size_t *counts = gm_arena_alloc(a, sizeof(size_t) * (npaths ? npaths : 1));
    size_t total = 0;
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            counts[i] = list_dir(a, paths[i], &lists[i]);
        } else {
            lists[i] = (const char **)&paths[i];
            counts[i] = 1;
        }
        total += counts[i];
    }
    /* Canonical order (compare names run files by plan index), whatever order they ran or
     * were given in: the summary rows, and the table's blocks, follow it. */
    const char **all = gm_arena_alloc(a, sizeof(char *) * (total ? total : 1));
    size_t n = 0;
    for (size_t i = 0; i < npaths; i++)
        for (size_t k = 0; k < counts[i]; k++) all[n++] = lists[i][k];
    qsort(all, n, sizeof *all, cmp_str);
    rs->files = gm_arena_alloc(a, sizeof(run_file) * (total ? total : 1));
    rs->skipped = gm_arena_alloc(a, sizeof(char *) * (total ? total : 1));
    for (size_t i = 0; i < n; i++) add_file(rs, all[i], total);
    build_groups(rs);
    return rs;
}

/* ---- output ---- */

static void write_stat(gm_json *j, const char *key, const stat3 *s)
{
    gm_json_object_begin(j, key);
    gm_json_u64(j, "n", s->n);
    gm_json_num(j, "median", s->median);
    gm_json_num(j, "min", s->min);
    gm_json_num(j, "max", s->max);
    gm_json_object_end(j);
}

static void write_summary_row(gm_json *j, const group *g)
{
    const gm_jval *v = g->first->v;
    const gm_jval *params = gm_json_get(v, "workload.params");
    gm_json_object_begin(j, NULL);
    gm_json_str(j, "allocator", gm_json_get_str(v, "allocator.name", "?"));
    gm_json_str(j, "workload", gm_json_get_str(v, "workload.name", "?"));
    static const char *const nums[][2] = {
        {"threads", "workload.threads"}, {"ops", "workload.ops"}, {"seed", "workload.seed"}};
    for (size_t i = 0; i < 3; i++) {
        const char *t;
        int n = raw_of(v, nums[i][1], &t);
        gm_json_raw(j, nums[i][0], n ? t : "null", n ? (size_t)n : 4);
    }
    if (params) gm_json_raw(j, "params", params->raw, params->rawlen);
    gm_json_u64(j, "runs", g->nruns);
    gm_json_u64(j, "ok", g->nok);
    gm_json_u64(j, "failed", g->nruns - g->nok);
    gm_json_array_begin(j, "failures");
    for (unsigned r = 0; r < g->nruns; r++)
        if (!g->runs[r]->ok)
            gm_json_str(j, NULL, gm_json_get_str(g->runs[r]->v, "failure.reason", "unknown"));
    gm_json_array_end(j);
    gm_json_object_begin(j, "metrics");
    for (unsigned m = 0; m < NMETRICS; m++)
        if (g->m[m].n) write_stat(j, metrics[m], &g->m[m]);
    gm_json_object_end(j);
    gm_json_object_end(j);
}

static void results_json(gm_json *j, const result_set *rs, gm_config_writer wc, const void *ctx)
{
    char now[64];
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    gm_json_object_begin(j, NULL);
    gm_json_str(j, "schema", "gmbench-compare/1");
    gm_json_str(j, "created_utc", now);
    gm_env_write(j, "env", NULL);
    gm_json_object_begin(j, "config");
    wc(j, ctx);
    gm_json_object_end(j);
    gm_json_array_begin(j, "summary");
    for (size_t g = 0; g < rs->ngroups; g++) write_summary_row(j, &rs->groups[g]);
    gm_json_array_end(j);
    gm_json_array_begin(j, "runs");
    for (size_t i = 0; i < rs->nfiles; i++)
        gm_json_raw(j, NULL, rs->files[i].v->raw, rs->files[i].v->rawlen);
    gm_json_array_end(j);
    gm_json_array_begin(j, "skipped_files");
    for (size_t i = 0; i < rs->nskipped; i++) gm_json_str(j, NULL, rs->skipped[i]);
    gm_json_array_end(j);
    gm_json_object_end(j);
}

/* CSV text goes through a gm_json buffer used as a plain growable string (gm_json_append). */
static void csv_text(gm_json *c, const char *s)
{
    gm_json_append(c, s, strlen(s));
}

static void csv_cell(gm_json *c, const char *s, bool first)
{
    if (!first) csv_text(c, ",");
    if (!strpbrk(s, ",\"\n")) {
        csv_text(c, s);
        return;
    }
    csv_text(c, "\"");
    for (const char *p = s; *p; p++) {
        gm_json_append(c, p, 1);
        if (*p == '"') gm_json_append(c, p, 1); /* a quote inside a quoted cell is doubled */
    }
    csv_text(c, "\"");
}

static void csv_num(gm_json *c, double v)
{
    char b[64];
    if (isnan(v))
        b[0] = 0;
    else
        snprintf(b, sizeof b, "%.10g", v);
    csv_cell(c, b, false);
}

static void csv_row_key(gm_json *c, const gm_jval *v)
{
    static const char *const nums[] = {"workload.threads", "workload.ops", "workload.seed"};
    csv_cell(c, gm_json_get_str(v, "allocator.name", "?"), true);
    csv_cell(c, gm_json_get_str(v, "workload.name", "?"), false);
    for (size_t i = 0; i < 3; i++) {
        char b[64];
        const char *t;
        int n = raw_of(v, nums[i], &t);
        snprintf(b, sizeof b, "%.*s", n, t);
        csv_cell(c, strcmp(b, "null") ? b : "", false); /* a program has none of the three */
    }
}

static void summary_csv(gm_json *c, const result_set *rs)
{
    csv_text(c, "allocator,workload,threads,ops,seed,runs,ok,failed");
    for (unsigned m = 0; m < NMETRICS; m++) {
        char h[256];
        int n =
            snprintf(h, sizeof h, ",%s.median,%s.min,%s.max", metrics[m], metrics[m], metrics[m]);
        gm_json_append(c, h, (size_t)n);
    }
    csv_text(c, "\n");
    for (size_t gi = 0; gi < rs->ngroups; gi++) {
        const group *g = &rs->groups[gi];
        csv_row_key(c, g->first->v);
        csv_num(c, g->nruns);
        csv_num(c, g->nok);
        csv_num(c, g->nruns - g->nok);
        for (unsigned m = 0; m < NMETRICS; m++) {
            csv_num(c, g->m[m].median);
            csv_num(c, g->m[m].min);
            csv_num(c, g->m[m].max);
        }
        csv_text(c, "\n");
    }
}

static void runs_csv(gm_json *c, const result_set *rs)
{
    csv_text(c, "allocator,workload,threads,ops,seed,rep,status,reason");
    for (unsigned m = 0; m < NMETRICS; m++) {
        csv_text(c, ",");
        csv_text(c, metrics[m]);
    }
    csv_text(c, "\n");
    for (size_t i = 0; i < rs->nfiles; i++) {
        const gm_jval *v = rs->files[i].v;
        csv_row_key(c, v);
        csv_num(c, gm_json_get_num(v, "rep", 0));
        csv_cell(c, gm_json_get_str(v, "status", "?"), false);
        csv_cell(c, gm_json_get_str(v, "failure.reason", ""), false);
        for (unsigned m = 0; m < NMETRICS; m++) csv_num(c, gm_json_get_num(v, metrics[m], NAN));
        csv_text(c, "\n");
    }
}

static double metric(const group *g, const char *name)
{
    for (unsigned m = 0; m < NMETRICS; m++)
        if (!strcmp(metrics[m], name)) return g->m[m].median;
    return NAN;
}

static bool is_program_row(const group *g)
{
    return !strncmp(gm_json_get_str(g->first->v, "workload.name", ""), "program:", 8);
}

static void print_failed(const group *g)
{
    const gm_jval *reason = NULL;
    for (unsigned r = 0; r < g->nruns && !reason; r++)
        reason = gm_json_get(g->runs[r]->v, "failure.reason");
    printf(" FAILED: %s\n", reason && reason->str ? reason->str : "?");
}

/* A real program's line: wall time, CPU, peak RSS, faults, its own throughput. */
static void print_program_row(const group *g, bool header)
{
    const gm_jval *v = g->first->v;
    if (header) {
        printf("\n%s\n", gm_json_get_str(v, "workload.name", "?"));
        printf("  %-10s %5s %8s %17s %8s %8s %9s %9s %12s\n", "allocator", "ok", "wall s",
               "(min-max)", "user s", "sys s", "RSS MiB", "minflt", "throughput/s");
    }
    printf("  %-10s %2u/%-2u", gm_json_get_str(v, "allocator.name", "?"), g->nok, g->nruns);
    if (!g->nok) return print_failed(g);
    const stat3 *t = NULL;
    for (unsigned m = 0; m < NMETRICS; m++)
        if (!strcmp(metrics[m], "program.elapsed_s")) t = &g->m[m];
    char thr[32] = "-"; /* most programs print no throughput of their own */
    if (!isnan(metric(g, "program.throughput_per_s")))
        snprintf(thr, sizeof thr, "%.0f", metric(g, "program.throughput_per_s"));
    printf(" %8.2f %8.2f-%-8.2f %8.2f %8.2f %9.1f %9.0f %12s%s\n", t->median, t->min, t->max,
           metric(g, "program.user_s"), metric(g, "program.sys_s"),
           metric(g, "program.peak_rss_bytes") / 1048576.0, metric(g, "program.minor_faults"), thr,
           g->nok < g->nruns ? "  (some runs failed)" : "");
}

/* The terminal table: one block per workload configuration, one line per allocator. */
void gm_results_print_table(const gm_result_set *rs)
{
    const char *last = NULL;
    for (size_t gi = 0; gi < rs->ngroups; gi++) {
        const group *g = &rs->groups[gi];
        const gm_jval *v = g->first->v;
        const char *key = strchr(g->key, '|') + 1; /* the key without the allocator */
        if (is_program_row(g)) {
            print_program_row(g, !last || strcmp(last, key));
            last = key;
            continue;
        }
        if (!last || strcmp(last, key)) {
            printf("\n%s  (threads %.0f, ops %.0f, seed %.0f)\n",
                   gm_json_get_str(v, "workload.name", "?"),
                   gm_json_get_num(v, "workload.threads", 0), gm_json_get_num(v, "workload.ops", 0),
                   gm_json_get_num(v, "workload.seed", 0));
            printf("  %-10s %5s %8s %17s %9s %9s %9s %9s %9s %6s\n", "allocator", "ok", "Mops/s",
                   "(min-max)", "malloc50", "malloc99", "free50", "free99", "RSS MiB", "frag");
            last = key;
        }
        printf("  %-10s %2u/%-2u", gm_json_get_str(v, "allocator.name", "?"), g->nok, g->nruns);
        if (!g->nok) {
            print_failed(g);
            continue;
        }
        const stat3 *ops = &g->m[0];
        printf(" %8.2f %8.2f-%-8.2f %9.0f %9.0f %9.0f %9.0f %9.1f %6.2f%s\n", ops->median / 1e6,
               ops->min / 1e6, ops->max / 1e6, metric(g, "latency.malloc.p50_ns"),
               metric(g, "latency.malloc.p99_ns"), metric(g, "latency.free.p50_ns"),
               metric(g, "latency.free.p99_ns"),
               metric(g, "memory.peak_rss_over_baseline_bytes") / 1048576.0,
               metric(g, "memory.frag_peak_rss"), g->nok < g->nruns ? "  (some runs failed)" : "");
    }
    printf("\nmedians over the successful repetitions; latencies in ns; RSS MiB = peak RSS over "
           "the baseline; frag = that / peak live bytes; programs: wait4() rusage of the "
           "program, RSS = its peak\n");
}

/* Writes results.json, summary.csv and runs.csv into dir, each atomically. */
int gm_results_write(const char *dir, const gm_result_set *rs, gm_config_writer wc, const void *ctx)
{
    char path[PATH_LEN], err[600];
    int rc = 0;
    gm_json j, s, r;
    gm_json_init(&j, true);
    gm_json_init(&s, false);
    gm_json_init(&r, false);
    results_json(&j, rs, wc, ctx);
    summary_csv(&s, rs);
    runs_csv(&r, rs);
    const struct {
        const char *name;
        gm_json *buf;
    } files[] = {{"results.json", &j}, {"summary.csv", &s}, {"runs.csv", &r}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        if (gm_write_file_atomic(path, files[i].buf->buf, files[i].buf->len, err, sizeof err)) {
            fprintf(stderr, "gmbench: %s\n", err);
            rc = GM_EXIT_IO;
        }
    }
    gm_json_free(&j);
    gm_json_free(&s);
    gm_json_free(&r);
    return rc;
}

int gm_make_dirs(const char *path)
{
    char p[PATH_LEN];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST) return -1;
            *s = '/';
        }
    return mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

static void merge_config(gm_json *j, const void *ctx)
{
    const struct {
        const char *const *paths;
        size_t n;
    } *m = ctx;
    gm_json_str(j, "command", "merge");
    gm_json_array_begin(j, "inputs");
    for (size_t i = 0; i < m->n; i++) gm_json_str(j, NULL, m->paths[i]);
    gm_json_array_end(j);
}

int gm_cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    const char **inputs = gm_arena_alloc(gm_arena_create(), sizeof(char *) * (size_t)(argc + 1));
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "gmbench merge: unknown flag %s (expected --out DIR)\n", argv[i]);
            return GM_EXIT_USAGE;
        } else
            inputs[n++] = argv[i];
    }
    if (!out || !n) {
        fprintf(stderr, "gmbench merge: usage: merge --out DIR FILE.json|DIR...\n");
        return GM_EXIT_USAGE;
    }
    if (gm_make_dirs(out)) {
        fprintf(stderr, "gmbench merge: cannot create %s: %s\n", out, strerror(errno));
        return GM_EXIT_IO;
    }
    const gm_result_set *rs = gm_results_load(gm_arena_create(), inputs, n);
    for (size_t i = 0; i < rs->nskipped; i++)
        fprintf(stderr, "gmbench merge: skipped %s\n", rs->skipped[i]);
    struct {
        const char *const *paths;
        size_t n;
    } ctx = {inputs, n};
    int rc = gm_results_write(out, rs, merge_config, &ctx);
    gm_results_print_table(rs);
    return rc;
}
