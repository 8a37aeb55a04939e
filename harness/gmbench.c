/*
 * gmbench.c — the command line: list, run, and the entry points of compare, merge and job
 * (compare.c).
 *
 * `run` measures in this very process with whatever allocator the process already has; it
 * refuses when that is not the allocator claimed and prints the command that would be right.
 * `compare` starts one `run` child per measurement with the right LD_PRELOAD itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gm_trace.h"
#include "programs.h"

static const char usage[] =
    "usage: gmbench COMMAND [flags]\n"
    "\n"
    "commands:\n"
    "  list                      allocators (installed or not) and workloads with parameters\n"
    "  run --allocator A --workload W [flags] [--out F.json]\n"
    "  run --allocator A --trace F.gmtrace [--strict] [flags] [--out F.json]\n"
    "                            one measurement in this process (--strict: replay every\n"
    "                            call in the trace's global order, refuse invalid frees)\n"
    "  compare --allocators A,B|all --workloads W,V|default [--traces F,G] [flags] --out DIR\n"
    "                            a child per (allocator, workload, threads, repetition)\n"
    "  compare ... --programs P,Q|default\n"
    "                            also time whole programs (python sqlite gcc redis) under\n"
    "                            each allocator, preloaded (harness/programs.c)\n"
    "  compare ... --emit-jobs   print one command per measurement instead of running them\n"
    "  merge --out DIR FILE.json|DIR...\n"
    "                            join run files into one result set\n"
    "  trace info|dump|validate F, trace from-text TEXT --out F\n"
    "                            inspect, check and convert traces (workloads/TRACE_FORMAT.md)\n"
    "  import go|mtrace LOG --out F\n"
    "                            a Go GODEBUG=allocfreetrace=1 log or a glibc mtrace log\n"
    "  record --out F -- COMMAND ARGS...\n"
    "                            record every malloc-family call of a program\n"
    "  fidelity LOG [--gogc N] [--json F] [--check]\n"
    "                            replay a Go run's allocfreetrace+gcpacertrace log in the\n"
    "                            GC-mode model and compare GC cycles, heap sizes and\n"
    "                            placement with the real runtime (scripts/fidelity.sh)\n"
    "  program --allocator A --program P [--rep N] [--out F.json]\n"
    "                            one real program under one allocator, with LD_PRELOAD\n"
    "  job --out F.json [--timeout S] -- RUN-FLAGS|PROGRAM-FLAGS\n"
    "                            run one measurement in a child with the right LD_PRELOAD;\n"
    "                            a child that fails leaves a failure row in F.json\n"
    "\n"
    "run flags (compare takes them too and passes them on):\n"
    "  --ops N               operations in the stream (default 1000000; K/M suffixes)\n"
    "  --threads N           threads executing the stream (compare: a list, e.g. 1,2)\n"
    "  --seed S              workload seed (default 1)\n"
    "  --latency MODE        off | sample (default; one op in --sample-period) | all\n"
    "  --sample-period N     mean gap between timed ops in sample mode (default 16)\n"
    "  --touch MODE          none | first | pages (default: a byte per 4 KiB) | full\n"
    "  --rss-interval MS     RSS sampling period (default 10)\n"
    "  --rep N               repetition number recorded in the result\n"
    "  --inject KIND@OP      testing aid: segv, abort or hang at stream op OP\n"
    "  --heap-profile F      Go model: write its heap profile to F after the run; a trace's\n"
    "                        ops carry their call sites\n"
    "  --heap-profile-format text|proto\n"
    "                        text: pprof's legacy text (default); proto: profile.proto, with\n"
    "                        function names, so `go tool pprof -top` names the sites\n"
    "  --mem-profile-rate N  Go model: MemProfileRate (default 524288; 1 = every allocation)\n"
    "  --PARAM VALUE         a workload parameter (see `gmbench list`)\n";

/* ---- lookups ---- */

static void join_names(char *buf, size_t len, const char *(*name_at)(size_t))
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; name_at(i) && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "", name_at(i));
}

static const char *backend_name_at(size_t i)
{
    const gm_backend *b = gm_backends()[i];
    return b ? b->name : NULL;
}

static const char *workload_name_at(size_t i)
{
    const gm_workload *w = gm_workloads()[i];
    return w ? w->name : NULL;
}

/* The one error for a name that is not in a list: it lists the valid ones. */
static void unknown_name(const char *kind, const char *name, const char *(*name_at)(size_t),
                         char *err, size_t errlen)
{
    char names[512];
    join_names(names, sizeof names, name_at);
    snprintf(err, errlen, "unknown %s '%s'; valid: %s", kind, name, names);
}

const gm_backend *gm_cli_backend(const char *name, char *err, size_t errlen)
{
    const gm_backend *b = gm_backend_find(name);
    if (!b) unknown_name("allocator", name, backend_name_at, err, errlen);
    return b;
}

const gm_workload *gm_cli_workload(const char *name, char *err, size_t errlen)
{
    const gm_workload *w = gm_workload_find(name);
    if (!w) unknown_name("workload", name, workload_name_at, err, errlen);
    return w;
}

int gm_cli_require_installed(const gm_backend *b, char *path, size_t pathlen, char *err,
                             size_t errlen)
{
    if (gm_backend_locate(b, path, pathlen)) return 0;
    snprintf(err, errlen,
             "allocator %s is not installed: %s not found; install the Debian package %s "
             "(apt-get install %s)",
             b->name, b->soname, b->package, b->dev_package ? b->dev_package : b->package);
    return GM_EXIT_USAGE;
}

const char *gm_cli_self(void)
{
    static char self[4096];
    if (!self[0]) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            snprintf(self, sizeof self, "gmbench");
        else
            self[n] = 0;
    }
    return self;
}

/* ---- run flags ---- */

static int parse_count(const char *flag, const char *text, uint64_t lo, uint64_t hi, uint64_t *out,
                       char *err, size_t errlen)
{
    if (gm_parse_u64(text, 1, out) != 0) {
        snprintf(err, errlen, "%s: '%s' is not a number", flag, text);
        return GM_EXIT_USAGE;
    }
    if (*out < lo || *out > hi) {
        snprintf(err, errlen, "%s: %s is out of range [%llu, %llu]", flag, text,
                 (unsigned long long)lo, (unsigned long long)hi);
        return GM_EXIT_USAGE;
    }
    return 0;
}

static int parse_choice(const char *flag, const char *text, const char *const *choices, int *out,
                        char *err, size_t errlen)
{
    char list[256];
    size_t used = 0;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(text, choices[i]) == 0) {
            *out = i;
            return 0;
        }
        used +=
            (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", choices[i]);
    }
    snprintf(err, errlen, "%s: '%s' is not one of %s", flag, text, list);
    return GM_EXIT_USAGE;
}

static int parse_inject(const char *text, gm_run_config *cfg, char *err, size_t errlen)
{
    static const char *const kinds[] = {"none", "segv", "hang", "abort", NULL};
    char kind[16];
    const char *at = strchr(text, '@');
    int k;
    if (!at || (size_t)(at - text) >= sizeof kind) {
        snprintf(err, errlen, "--inject: '%s' is not KIND@OP", text);
        return GM_EXIT_USAGE;
    }
    memcpy(kind, text, (size_t)(at - text));
    kind[at - text] = 0;
    if (parse_choice("--inject", kind, kinds, &k, err, errlen)) return GM_EXIT_USAGE;
    cfg->inject = (gm_inject)k;
    return parse_count("--inject", at + 1, 0, UINT64_MAX, &cfg->inject_at, err, errlen);
}

/* One general flag: its value is argv[i + 1]. Returns 0, GM_EXIT_USAGE, or -1 when the flag
 * is not one of run's own (then it may be a workload parameter). */
static int parse_run_flag(const char *flag, const char *v, gm_run_config *cfg, const char **out,
                          char *err, size_t errlen)
{
    static const char *const latency[] = {"off", "sample", "all", NULL};
    static const char *const touch[] = {"none", "first", "pages", "full", NULL};
    uint64_t u;
    int c, rc;

    if (!strcmp(flag, "--out")) return *out = v, 0;
    if (!strcmp(flag, "--ops")) {
        rc = parse_count(flag, v, 1, UINT64_MAX / 2, &cfg->wl.ops, err, errlen);
    } else if (!strcmp(flag, "--threads")) {
        rc = parse_count(flag, v, 1, GM_WL_MAX_THREADS, &u, err, errlen);
        cfg->wl.threads = (unsigned)u;
    } else if (!strcmp(flag, "--seed")) {
        rc = parse_count(flag, v, 0, UINT64_MAX, &cfg->wl.seed, err, errlen);
    } else if (!strcmp(flag, "--rep")) {
        rc = parse_count(flag, v, 0, 1u << 30, &u, err, errlen);
        cfg->rep = (unsigned)u;
    } else if (!strcmp(flag, "--sample-period")) {
        rc = parse_count(flag, v, 1, 1u << 30, &u, err, errlen);
        cfg->sample_period = (unsigned)u;
    } else if (!strcmp(flag, "--rss-interval")) {
        rc = parse_count(flag, v, 1, 60000, &u, err, errlen);
        cfg->rss_interval_ms = (unsigned)u;
    } else if (!strcmp(flag, "--latency")) {
        rc = parse_choice(flag, v, latency, &c, err, errlen);
        cfg->latency = (gm_latency_mode)c;
    } else if (!strcmp(flag, "--touch")) {
        rc = parse_choice(flag, v, touch, &c, err, errlen);
        cfg->touch = (gm_touch_mode)c;
    } else if (!strcmp(flag, "--inject")) {
        rc = parse_inject(v, cfg, err, errlen);
    } else if (!strcmp(flag, "--heap-profile")) {
        cfg->heap_profile = v;
        rc = 0;
        if (!*v) {
            snprintf(err, errlen, "--heap-profile needs a file name");
            rc = GM_EXIT_USAGE;
        }
    } else if (!strcmp(flag, "--heap-profile-format")) {
        static const char *const formats[] = {"text", "proto", NULL}; /* GM_PROFILE_* order */
        rc = parse_choice(flag, v, formats, &c, err, errlen);
        cfg->heap_profile_format = c;
    } else if (!strcmp(flag, "--mem-profile-rate")) {
        rc = parse_count(flag, v, 0, INT32_MAX, &u, err, errlen);
        cfg->mem_profile_rate = (int)u;
    } else {
        return -1;
    }
    return rc;
}

/* A trace decides its own length and threads: from its header (or a scan when the header was
 * never patched). */
static int trace_dimensions(gm_run_config *cfg, char *err, size_t errlen)
{
    bool complete;
    gm_trace_reader *r = gm_trace_open(cfg->trace, err, errlen);
    if (!r) return GM_EXIT_USAGE;
    gm_trace_summary s = *gm_trace_header_summary(r, &complete);
    gm_trace_close(r);
    if (!complete) {
        gm_trace_stats st;
        if (gm_trace_scan(cfg->trace, &st, err, errlen) != 0) return GM_EXIT_USAGE;
        s = st.summary;
    }
    uint64_t ops = s.count[GM_TR_ALLOC] + s.count[GM_TR_FREE] + s.count[GM_TR_REALLOC];
    cfg->wl.threads = s.threads ? s.threads : 1;
    cfg->wl.ops = cfg->strict ? ops : ops - s.invalid;
    cfg->wl.seed = 0;
    if (cfg->wl.ops == 0) {
        snprintf(err, errlen, "%s: the trace has no allocator calls to replay", cfg->trace);
        return GM_EXIT_USAGE;
    }
    return 0;
}

/* What runs: a workload (whose parameters are flags too) or a trace. */
static int parse_subject(int argc, char **argv, gm_run_config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i + 1 < argc; i++) {
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--allocator") && !(cfg->backend = gm_cli_backend(v, err, errlen)))
            return GM_EXIT_USAGE;
        if (!strcmp(argv[i], "--workload") && !(cfg->workload = gm_cli_workload(v, err, errlen)))
            return GM_EXIT_USAGE;
        if (!strcmp(argv[i], "--trace")) cfg->trace = v;
    }
    if (!cfg->backend || !cfg->workload == !cfg->trace) {
        snprintf(err, errlen, "run needs --allocator and one of --workload or --trace");
        return GM_EXIT_USAGE;
    }
    if (cfg->workload) gm_wl_config_defaults(cfg->workload, &cfg->wl);
    return 0;
}

int gm_cli_parse_run(int argc, char **argv, gm_run_config *cfg, const char **out, char *err,
                     size_t errlen)
{
    static const char *const not_for_traces[] = {"--ops", "--seed", "--threads", NULL};
    gm_run_config_defaults(cfg);
    *out = NULL;
    int rc = parse_subject(argc, argv, cfg, err, errlen);
    for (int i = 0; rc == 0 && i < argc; i += 2) {
        const char *flag = argv[i];
        if (strncmp(flag, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s'", flag);
            return GM_EXIT_USAGE;
        }
        if (!strcmp(flag, "--strict")) { /* the one flag without a value */
            cfg->strict = true;
            i--;
            continue;
        }
        if (i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value", flag);
            return GM_EXIT_USAGE;
        }
        for (int k = 0; cfg->trace && not_for_traces[k]; k++)
            if (!strcmp(flag, not_for_traces[k])) {
                snprintf(err, errlen,
                         "%s does not apply to --trace: a trace replays all of its "
                         "calls on its own threads",
                         flag);
                return GM_EXIT_USAGE;
            }
        if (!strcmp(flag, "--allocator") || !strcmp(flag, "--workload") || !strcmp(flag, "--trace"))
            continue;
        rc = parse_run_flag(flag, argv[i + 1], cfg, out, err, errlen);
        if (rc == -1 && cfg->trace) {
            snprintf(err, errlen, "unknown flag %s for a trace replay", flag);
            return GM_EXIT_USAGE;
        }
        if (rc == -1)
            rc = gm_wl_set_param(cfg->workload, &cfg->wl, flag + 2, argv[i + 1], err, errlen)
                     ? GM_EXIT_USAGE
                     : 0;
    }
    if (rc == 0 && cfg->strict && !cfg->trace) {
        snprintf(err, errlen, "--strict applies to --trace replay only");
        rc = GM_EXIT_USAGE;
    }
    if (rc == 0 && (cfg->heap_profile || cfg->mem_profile_rate >= 0) &&
        !cfg->backend->write_heap_profile) {
        snprintf(err, errlen,
                 "--heap-profile and --mem-profile-rate apply to the Go model (gomodel, "
                 "gomodel-gc) only, not to %s",
                 cfg->backend->name);
        rc = GM_EXIT_USAGE;
    }
    return rc == 0 && cfg->trace ? trace_dimensions(cfg, err, errlen) : rc;
}

/* ---- list ---- */

static const char *const type_name[] = {"int", "size", "real", "enum"};

static void list_workload(const gm_workload *w)
{
    printf("  %-18s threads %u..%u, ops >= %llu\n", w->name, w->min_threads, w->max_threads,
           (unsigned long long)w->min_ops);
    printf("      %s\n", w->purpose);
    for (unsigned i = 0; i < w->nparams; i++) {
        const gm_wl_param *p = &w->params[i];
        printf("      --%-16s %-4s default %-8s ", p->name, type_name[p->type], p->def);
        if (p->type == GM_PARAM_ENUM) {
            printf("{");
            for (int c = 0; p->choices[c]; c++) printf("%s%s", c ? "," : "", p->choices[c]);
            printf("}");
        } else {
            printf("[%g, %g]", p->min, p->max);
        }
        printf("  %s\n", p->doc);
    }
}

static int cmd_list(void)
{
    printf("allocators:\n");
    for (const gm_backend *const *b = gm_backends(); *b; b++) {
        char path[512];
        bool ok = gm_backend_locate(*b, path, sizeof path);
        printf("  %-10s %-14s %s%s\n", (*b)->name,
               (*b)->internal ? "internal"
               : ok           ? "installed"
                              : "NOT INSTALLED",
               (*b)->description, ok ? "" : "");
        if ((*b)->soname)
            printf("             %s (Debian package %s)\n", ok ? path : (*b)->soname,
                   (*b)->package);
    }
    printf("\nworkloads:\n");
    for (const gm_workload *const *w = gm_workloads(); *w; w++) list_workload(*w);
    return 0;
}

/* ---- run ---- */

/* The command line that would have the right allocator serving the process. */
static void print_right_command(const gm_backend *b, int argc, char **argv)
{
    fprintf(stderr, "  run instead:\n    ");
    gm_backend_print_launch_prefix(b);
    fprintf(stderr, "%s run", gm_cli_self());
    for (int i = 0; i < argc; i++) fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n  (gmbench compare sets this up for every child itself)\n");
}

static int cmd_run(int argc, char **argv)
{
    gm_run_config cfg;
    const char *out;
    char err[512], path[512];
    int rc = gm_cli_parse_run(argc, argv, &cfg, &out, err, sizeof err);
    if (rc == 0 && cfg.backend->soname)
        rc = gm_cli_require_installed(cfg.backend, path, sizeof path, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "gmbench run: %s\n", err);
        return rc;
    }
    gm_json j;
    gm_json_init(&j, true);
    rc = gm_run(&cfg, &j, err, sizeof err);
    if (rc == GM_EXIT_IDENTITY) {
        fprintf(stderr, "gmbench run: refusing to measure %s: %s\n", cfg.backend->name, err);
        print_right_command(cfg.backend, argc, argv);
        return rc;
    }
    if (rc != 0) {
        fprintf(stderr, "gmbench run: %s\n", err);
        return rc;
    }
    if (out) {
        if (gm_write_file_atomic(out, j.buf, j.len, err, sizeof err) != 0) {
            fprintf(stderr, "gmbench run: %s\n", err);
            return GM_EXIT_IO;
        }
    } else if (fwrite(j.buf, 1, j.len, stdout) != j.len || fputc('\n', stdout) == EOF) {
        return GM_EXIT_IO;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? GM_EXIT_USAGE : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "list")) return cmd_list();
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "compare")) return gm_cmd_compare(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge")) return gm_cmd_merge(argc - 2, argv + 2);
    if (!strcmp(cmd, "job")) return gm_cmd_job(argc - 2, argv + 2);
    if (!strcmp(cmd, "program")) return gm_cmd_program(argc - 2, argv + 2);
    if (!strcmp(cmd, "trace")) return gm_cmd_trace(argc - 2, argv + 2);
    if (!strcmp(cmd, "import")) return gm_cmd_import(argc - 2, argv + 2);
    if (!strcmp(cmd, "record")) return gm_cmd_record(argc - 2, argv + 2);
    if (!strcmp(cmd, "fidelity")) return gm_cmd_fidelity(argc - 2, argv + 2);
    fprintf(stderr,
            "gmbench: unknown command '%s'; valid: list run compare merge job program trace import "
            "record fidelity\n",
            cmd);
    return GM_EXIT_USAGE;
}
