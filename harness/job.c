/*
 * job.c — one measurement in a supervised child: `gmbench job`, and every child of `compare`.
 *
 * The child is `gmbench run` (or `gmbench program`) with the allocator's LD_PRELOAD and
 * nothing else preloaded, in its own process group, its stderr kept next to its result. A
 * child that crashes, is killed, exits with an error or outlives its timeout leaves a failure
 * row (schema gmbench-run/1, status "failed", the reason) where its result would be, so a
 * result set always says what happened to every planned measurement.
 */
#define _GNU_SOURCE
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "env.h"
#include "programs.h"

extern char **environ;

enum { PATH_LEN = 4096 };

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

void gm_job_catch_interrupts(void)
{
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int gm_job_interrupted(void)
{
    return interrupted;
}

static void kill_child(pid_t pid, int *st)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, st, 0);
}

static void wait_child(pid_t pid, unsigned timeout_s, gm_job_result *res)
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

static void describe_failure(gm_job_result *res, unsigned timeout_s)
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

static void write_failure_row(const job_subject *js, const gm_job_result *res, const char *out)
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

int gm_job_supervise(int argc, char **argv, const char *out, unsigned timeout_s, gm_job_result *res)
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
    gm_job_result res;
    gm_job_catch_interrupts();
    int rc = gm_job_supervise(argc - i - 1, argv + i + 1, out, (unsigned)timeout, &res);
    if (interrupted) return 128 + interrupted;
    if (rc > 0) fprintf(stderr, "gmbench job: %s: %s\n", out, res.reason);
    return rc < 0 ? GM_EXIT_USAGE : 0;
}
