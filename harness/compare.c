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
 * The parent is not measured, but it still takes its memory from gm_arena like the rest of the
 * harness: one way of doing things, and no allocator state inherited by children.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "env.h"
#include "programs.h"

extern char **environ;

enum { PATH_LEN = 4096, MAX_ARGS = 96, MAX_LIST = 64 };

/* ===================================================================== job (supervision) == */

typedef struct job_result {
    bool ok;
    bool timed_out;
    int exit_status; /* -1 when killed */
    int signal;      /* 0 when it exited */
    char reason[512];
    char stderr_tail[1024];
} job_result;

static const char *exit_meaning(int status)
{
    switch (status) {
    case GM_EXIT_USAGE:
        return "bad flags or parameters";
    case GM_EXIT_IDENTITY:
        return "wrong allocator serving the child";
    case GM_EXIT_STREAM:
        return "invalid workload stream";
    case GM_EXIT_OOM:
        return "allocation failed";
    case GM_EXIT_IO:
        return "result not written";
    case 70:
        return "harness out of memory";
    case GM_EXIT_PROGRAM:
        return "the program failed";
    case 127:
        return "could not execute gmbench";
    default:
        return "error";
    }
}

/* Last non-empty line of the child's stderr, where gmbench puts the reason it stopped. */
static void read_tail(const char *path, char *tail, size_t len)
{
    char buf[2048];
    tail[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    const char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    size_t keep = strnlen(line, len - 1);
    memcpy(tail, line, keep);
    tail[keep] = 0;
}

/* The child's environment: ours without LD_PRELOAD, plus the backend's library if it has one.
 * Nothing else is preloaded, so exactly one allocator serves the child. */
static char **child_env(gm_arena *a, const char *preload)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **env = gm_arena_alloc(a, sizeof(char *) * (n + 2));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
    if (preload) {
        size_t len = strlen(preload) + 12;
        env[k] = gm_arena_alloc(a, len);
        snprintf(env[k++], len, "LD_PRELOAD=%s", preload);
    }
    env[k] = NULL;
    return env;
}

static pid_t spawn_run(gm_arena *a, const char *cmd, int argc, char **argv, const char *preload,
                       const char *out, const char *errpath)
{
    char **cargv = gm_arena_alloc(a, sizeof(char *) * (size_t)(argc + 5));
    int k = 0;
    cargv[k++] = (char *)gm_cli_self();
    cargv[k++] = (char *)cmd;
    for (int i = 0; i < argc; i++) cargv[k++] = argv[i];
    cargv[k++] = "--out";
    cargv[k++] = (char *)out;
    cargv[k] = NULL;
    char **env = child_env(a, preload);
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* Child: its own process group so a timeout kills everything it started. */
    setpgid(0, 0);
    int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (efd >= 0) dup2(efd, 2);
    if (nfd >= 0) {
        dup2(nfd, 0);
        dup2(nfd, 1);
    }
    execve(cargv[0], cargv, env);
    dprintf(2, "gmbench job: cannot execute %s: %s\n", cargv[0], strerror(errno));
    _exit(127);
}

/* Set by SIGINT/SIGTERM: the child is in its own process group and would not see the signal,
 * so the parent stops it, keeps what finished, and writes the result set of those. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = sig;
}

static void catch_interrupts(void)
{
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void kill_child(pid_t pid, int *st)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, st, 0);
}

static void wait_child(pid_t pid, unsigned timeout_s, job_result *res)
{
    struct timespec start, now, nap = {0, 20 * 1000 * 1000};
    int st = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (interrupted) {
            kill_child(pid, &st);
            break;
        }
        if (timeout_s && now.tv_sec - start.tv_sec >= (time_t)timeout_s) {
            kill_child(pid, &st);
            res->timed_out = true;
            break;
        }
        nanosleep(&nap, NULL);
    }
    res->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    res->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void describe_failure(job_result *res, unsigned timeout_s)
{
    if (res->timed_out)
        snprintf(res->reason, sizeof res->reason, "timed out after %u s", timeout_s);
    else if (res->signal)
        snprintf(res->reason, sizeof res->reason, "killed by signal %d (SIG%s)", res->signal,
                 sigabbrev_np(res->signal) ? sigabbrev_np(res->signal) : "?");
    else
        snprintf(res->reason, sizeof res->reason, "exit status %d (%s)%s%.400s", res->exit_status,
                 exit_meaning(res->exit_status), res->stderr_tail[0] ? ": " : "", res->stderr_tail);
}

/* What a failure row says was measured: a workload or trace (cfg), or a program (prog). */
typedef struct job_subject {
    const gm_backend *backend;
    unsigned rep;
    const gm_run_config *cfg;
    const gm_program *prog;
} job_subject;

static void write_failure_row(const job_subject *js, const job_result *res, const char *out)
{
    const gm_backend *only[] = {js->backend, NULL};
    char err[512];
    gm_json j;
    gm_json_init(&j, true);
    gm_json_object_begin(&j, NULL);
    gm_json_str(&j, "schema", "gmbench-run/1");
    gm_json_str(&j, "status", "failed");
    gm_json_object_begin(&j, "failure");
    gm_json_str(&j, "reason", res->reason);
    gm_json_bool(&j, "timed_out", res->timed_out);
    if (res->exit_status >= 0)
        gm_json_i64(&j, "exit_status", res->exit_status);
    else
        gm_json_null(&j, "exit_status");
    gm_json_i64(&j, "signal", res->signal);
    gm_json_str(&j, "stderr_tail", res->stderr_tail);
    gm_json_object_end(&j);
    gm_json_object_begin(&j, "allocator");
    gm_json_str(&j, "name", js->backend->name);
    gm_json_object_end(&j);
    if (js->prog)
        gm_program_write_workload(&j, js->prog);
    else
        gm_run_write_workload(&j, js->cfg);
    gm_json_u64(&j, "rep", js->rep);
    gm_env_write(&j, "env", only);
    gm_json_object_end(&j);
    if (gm_write_file_atomic(out, j.buf, j.len, err, sizeof err) != 0)
        fprintf(stderr, "gmbench job: %s\n", err);
    gm_json_free(&j);
}

/* Runs one measurement in a supervised child; writes out (the child's result, or a failure row
 * in its place). Returns 0 when the measurement succeeded, 1 when a failure row was written. */
static bool has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], flag)) return true;
    return false;
}

/* A job's flags name a workload or trace (a `gmbench run` child, preloaded with the allocator)
 * or a program (a `gmbench program` child, not preloaded: it preloads the program it runs). */
static int parse_job(int argc, char **argv, job_subject *js, gm_run_config *cfg, char *err,
                     size_t errlen)
{
    const char *ignored;
    memset(js, 0, sizeof *js);
    if (has_flag(argc, argv, "--program")) {
        if (gm_program_parse(argc, argv, &js->backend, &js->prog, &js->rep, &ignored, err, errlen))
            return -1;
        return 0;
    }
    if (gm_cli_parse_run(argc, argv, cfg, &ignored, err, errlen) != 0) return -1;
    js->backend = cfg->backend;
    js->rep = cfg->rep;
    js->cfg = cfg;
    return 0;
}

static int supervise(int argc, char **argv, const char *out, unsigned timeout_s, job_result *res)
{
    gm_run_config cfg;
    job_subject js;
    char err[512], lib[PATH_LEN], errpath[PATH_LEN];
    memset(res, 0, sizeof *res);
    res->exit_status = -1;
    if (parse_job(argc, argv, &js, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench job: %s\n", err);
        return -1; /* not a measurement at all: nothing to record */
    }
    if (js.backend->soname &&
        gm_cli_require_installed(js.backend, lib, sizeof lib, err, sizeof err) != 0) {
        snprintf(res->reason, sizeof res->reason, "%s", err);
        write_failure_row(&js, res, out);
        return 1;
    }
    snprintf(errpath, sizeof errpath, "%s.stderr", out);
    unlink(out);
    gm_arena *a = gm_arena_create();
    pid_t pid =
        js.prog ? spawn_run(a, "program", argc, argv, NULL, out, errpath)
                : spawn_run(a, "run", argc, argv, js.backend->soname ? lib : NULL, out, errpath);
    gm_arena_destroy(a);
    if (pid < 0) {
        snprintf(res->reason, sizeof res->reason, "fork failed: %s", strerror(errno));
        write_failure_row(&js, res, out);
        return 1;
    }
    wait_child(pid, timeout_s, res);
    if (interrupted && !(res->exit_status == 0 && access(out, R_OK) == 0)) {
        /* Stopped by the user, not failed by the allocator: no row at all. */
        snprintf(res->reason, sizeof res->reason, "interrupted");
        unlink(out);
        return -1;
    }
    read_tail(errpath, res->stderr_tail, sizeof res->stderr_tail);
    res->ok = !res->timed_out && res->exit_status == 0 && access(out, R_OK) == 0;
    if (res->ok) {
        struct stat st;
        if (stat(errpath, &st) == 0 && st.st_size == 0)
            unlink(errpath); /* keep stderr only when it says something */
        return 0;
    }
    if (!res->timed_out && res->exit_status == 0)
        snprintf(res->reason, sizeof res->reason, "exited 0 without writing %s", out);
    else
        describe_failure(res, timeout_s);
    write_failure_row(&js, res, out);
    return 1;
}

int gm_cmd_job(int argc, char **argv)
{
    const char *out = NULL;
    uint64_t timeout = 600;
    int i = 0;
    for (; i < argc && strcmp(argv[i], "--"); i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "gmbench job: %s needs a value\n", argv[i]);
            return GM_EXIT_USAGE;
        }
        if (!strcmp(argv[i], "--out"))
            out = argv[i + 1];
        else if (!strcmp(argv[i], "--timeout") && gm_parse_u64(argv[i + 1], 0, &timeout) == 0)
            continue;
        else {
            fprintf(stderr, "gmbench job: bad flag %s %s (expected --out F, --timeout S, --)\n",
                    argv[i], argv[i + 1]);
            return GM_EXIT_USAGE;
        }
    }
    if (!out || i >= argc) {
        fprintf(stderr, "gmbench job: usage: job --out F.json [--timeout S] -- RUN-FLAGS\n");
        return GM_EXIT_USAGE;
    }
    job_result res;
    catch_interrupts();
    int rc = supervise(argc - i - 1, argv + i + 1, out, (unsigned)timeout, &res);
    if (interrupted) return 128 + interrupted;
    if (rc > 0) fprintf(stderr, "gmbench job: %s: %s\n", out, res.reason);
    return rc < 0 ? GM_EXIT_USAGE : 0;
}

/* ================================================================= merge (aggregation) == */

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

typedef struct result_set {
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
static void load_results(result_set *rs, const char *const *paths, size_t npaths)
{
    const char ***lists = gm_arena_alloc(rs->a, sizeof(char **) * (npaths ? npaths : 1));
    size_t *counts = gm_arena_alloc(rs->a, sizeof(size_t) * (npaths ? npaths : 1));
    size_t total = 0;
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            counts[i] = list_dir(rs->a, paths[i], &lists[i]);
        } else {
            lists[i] = (const char **)&paths[i];
            counts[i] = 1;
        }
        total += counts[i];
    }
    rs->files = gm_arena_alloc(rs->a, sizeof(run_file) * (total ? total : 1));
    rs->skipped = gm_arena_alloc(rs->a, sizeof(char *) * (total ? total : 1));
    for (size_t i = 0; i < npaths; i++)
        for (size_t k = 0; k < counts[i]; k++) add_file(rs, lists[i][k], total);
    build_groups(rs);
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

typedef void (*config_writer)(gm_json *j, const void *ctx);

static void results_json(gm_json *j, const result_set *rs, config_writer wc, const void *ctx)
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
static void print_table(const result_set *rs)
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
static int write_result_set(const char *dir, const result_set *rs, config_writer wc,
                            const void *ctx)
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

static int make_dirs(const char *path)
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
    if (make_dirs(out)) {
        fprintf(stderr, "gmbench merge: cannot create %s: %s\n", out, strerror(errno));
        return GM_EXIT_IO;
    }
    result_set rs = {.a = gm_arena_create()};
    load_results(&rs, inputs, n);
    for (size_t i = 0; i < rs.nskipped; i++)
        fprintf(stderr, "gmbench merge: skipped %s\n", rs.skipped[i]);
    struct {
        const char *const *paths;
        size_t n;
    } ctx = {inputs, n};
    int rc = write_result_set(out, &rs, merge_config, &ctx);
    print_table(&rs);
    return rc;
}

/* ======================================================================== compare (plan) == */

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

/* Plan order: repetition-major; inside a repetition every (workload, threads, allocator) once,
 * shuffled (seeded, so a plan is reproducible), so slow drift of the machine spreads over all
 * allocators instead of favouring whichever runs first. File names use the canonical index,
 * so results sort the same whatever the run order was. */
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
    if (make_dirs(runs_dir)) {
        fprintf(stderr, "gmbench compare: cannot create %s: %s\n", runs_dir, strerror(errno));
        return GM_EXIT_IO;
    }
    if (c.emit_jobs) {
        emit_jobs(&c, plan, n);
        return 0;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    catch_interrupts();
    unsigned failed = 0;
    /* Exactly the files of this plan that ran: a reused --out directory may hold older runs. */
    const char **in = gm_arena_alloc(a, sizeof(char *) * n);
    size_t done = 0;
    for (size_t k = 0; k < n && !interrupted; k++) {
        char *args[MAX_ARGS + 16], bufs[96];
        job_result res;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        progress(k, n, &plan[k], (double)(t1.tv_sec - t0.tv_sec), failed);
        int cargc = child_args(&c, &plan[k], args, bufs);
        int rc = supervise(cargc, args, plan[k].out, (unsigned)c.timeout_s, &res);
        if (rc > 0) {
            failed++;
            fprintf(stderr, "  failed: %s\n", res.reason);
        }
        if (rc >= 0) in[done++] = plan[k].out;
    }
    if (interrupted)
        fprintf(stderr, "gmbench compare: interrupted; writing the %zu measurements done of %zu\n",
                done, n);
    n = done;
    qsort(in, n, sizeof *in, cmp_str); /* canonical order: the table groups by workload */
    result_set rs = {.a = a};
    load_results(&rs, in, n);
    int rc = write_result_set(c.out, &rs, compare_config_json, &c);
    print_table(&rs);
    printf("\n%zu measurements, %u failed; results in %s/results.json, summary.csv, runs.csv\n", n,
           failed, c.out);
    return interrupted ? 128 + interrupted : rc;
}
