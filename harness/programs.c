/*
 * programs.c — real programs as measurements (programs.h): the program definitions and
 * `gmbench program --allocator A --program P [--rep N] --out F`.
 *
 * A measurement, in this (unmeasured) process:
 *   1. locate the allocator's library (gomodel: libgomalloc-preload.so next to this build;
 *      glibc: libc.so.6; the others: backend.c's search) and the probe library;
 *   2. make a scratch directory and prepare the program's inputs there, with nothing preloaded
 *      (the sqlite database, the gcc sources' include paths, a free port for redis);
 *   3. run the program with LD_PRELOAD=<allocator>:<probe> and GMBENCH_PROBE_OUT, wait4() for
 *      it with rusage; redis-server instead runs until redis-benchmark (not preloaded: only the
 *      server is measured) has finished against it on loopback, then is shut down;
 *   4. check the probe's lines: every process of the program that exited normally wrote one,
 *      the measured process must have written one, and every one must name the claimed
 *      allocator with its introspection agreeing; otherwise the run fails (exit 3, the failure
 *      row of a wrong allocator);
 *   5. write the result (schema gmbench-run/1, a "program" object in place of the synthetic
 *      workloads' time/latency/memory) and remove the scratch directory.
 *
 * Timeouts: `gmbench job` kills this process's whole process group when its --timeout passes,
 * and the program (and a redis-server) are in that group, so nothing outlives a timeout. On
 * every other failure path the redis server is stopped here (SHUTDOWN NOSAVE, then SIGKILL).
 *
 * Output: the program's stdout goes to a file in the scratch directory; its FNV-1a hash (lines
 * starting with "gmbench-throughput:" left out) is in the result, so a reader sees that every
 * allocator computed the same thing. A line "gmbench-throughput: N UNIT" is the program's own
 * throughput (the Python workload prints one); redis-benchmark's --csv requests per second
 * give redis's (the harmonic mean over its tests: total requests over total time).
 */
#define _GNU_SOURCE
#include "programs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "env.h"

extern char **environ;

enum { PATH_LEN = 4096, DIR_LEN = 2048, MAX_ARGV = 64, TEXT_LEN = 16384 };

#ifndef GM_SOURCE_DIR
#define GM_SOURCE_DIR "."
#endif

/* ---- what a measurement knows --------------------------------------------------------------- */

typedef struct prog_ctx {
    const gm_backend *b;
    char lib[PATH_LEN];   /* the allocator's library */
    char probe[PATH_LEN]; /* libgmprobe.so */
    const char *want;     /* the library file name every probe line must name */
    char dir[DIR_LEN];    /* scratch directory */
    char probe_out[PATH_LEN];
    char src[DIR_LEN]; /* the source tree: workloads/programs/ and the gcc inputs */
} prog_ctx;

typedef struct prog_result {
    pid_t pid; /* the measured process (the probe line that must exist) */
    double elapsed_s;
    struct rusage ru;
    int exit_status;
    double throughput; /* NAN: the program prints none */
    char unit[32];
    char command[1024];
    char stdout_path[PATH_LEN];
} prog_result;

struct gm_program {
    const char *name;
    const char *description;
    const char *const *tools; /* absolute paths that must exist */
    const char *packages;     /* Debian packages that ship them */
    int (*run)(const prog_ctx *c, prog_result *r, char *err, size_t errlen);
};

/* ---- processes ------------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts argv with stdin/stdout redirected (NULL: /dev/null) and, when measured, the allocator
 * and the probe preloaded; unmeasured helpers get neither. stderr is ours (job keeps it). */
static pid_t spawn(const prog_ctx *c, char *const *argv, const char *in, const char *out,
                   bool measured)
{
    static char preload[2 * PATH_LEN + 16], probe_env[PATH_LEN + 32];
    static char gc_mode[] = "GOMALLOC_MODE=gc";
    char *env[1024];
    size_t k = 0;
    for (size_t i = 0; environ[i] && k < 1019; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
            strncmp(environ[i], "GMBENCH_PROBE_OUT=", 18) &&
            strncmp(environ[i], "GOMALLOC_MODE=", 14))
            env[k++] = environ[i];
    if (measured) {
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s:%s", c->lib, c->probe);
        snprintf(probe_env, sizeof probe_env, "GMBENCH_PROBE_OUT=%s", c->probe_out);
        env[k++] = preload;
        env[k++] = probe_env;
        if (!strcmp(c->b->name, "gomodel-gc")) env[k++] = gc_mode; /* the model in GC mode */
    }
    env[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid;
    int ifd = open(in ? in : "/dev/null", O_RDONLY | O_CLOEXEC);
    int ofd = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                  : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (ifd < 0 || ofd < 0 || dup2(ifd, 0) < 0 || dup2(ofd, 1) < 0 || chdir(c->dir) != 0)
        _exit(126);
    execve(argv[0], argv, env);
    dprintf(2, "gmbench program: cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* wait4 for pid; timeout_s 0 = no limit of our own (job's applies). Returns the wait status,
 * or -1 if it had to be killed. */
static int reap(pid_t pid, struct rusage *ru, double timeout_s)
{
    double until = now_s() + timeout_s;
    struct timespec nap = {0, 2 * 1000 * 1000};
    int st = 0;
    for (;;) {
        pid_t w = wait4(pid, &st, timeout_s > 0 ? WNOHANG : 0, ru);
        if (w == pid) return st;
        if (w < 0 && errno != EINTR) return -1;
        if (timeout_s > 0 && now_s() > until) {
            kill(pid, SIGKILL);
            wait4(pid, &st, 0, ru);
            return -1;
        }
        if (timeout_s > 0) nanosleep(&nap, NULL);
    }
}

static void describe_status(int st, const char *what, char *err, size_t errlen)
{
    if (st < 0)
        snprintf(err, errlen, "%s did not stop and was killed", what);
    else if (WIFSIGNALED(st))
        snprintf(err, errlen, "%s was killed by signal %d (SIG%s)", what, WTERMSIG(st),
                 sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
    else
        snprintf(err, errlen, "%s exited with status %d", what, WEXITSTATUS(st));
}

/* Runs argv to completion, measured; 0 or GM_EXIT_PROGRAM. */
static int run_measured(const prog_ctx *c, char *const *argv, const char *in, prog_result *r,
                        char *err, size_t errlen)
{
    size_t used = 0;
    for (int i = 0; argv[i] && used < sizeof r->command; i++)
        used += (size_t)snprintf(r->command + used, sizeof r->command - used, "%s%s", i ? " " : "",
                                 argv[i]);
    if (in && used < sizeof r->command)
        snprintf(r->command + used, sizeof r->command - used, " < %s", in);
    snprintf(r->stdout_path, sizeof r->stdout_path, "%s/stdout.txt", c->dir);
    double t0 = now_s();
    pid_t pid = spawn(c, argv, in, r->stdout_path, true);
    if (pid < 0) return snprintf(err, errlen, "fork: %s", strerror(errno)), GM_EXIT_PROGRAM;
    int st = reap(pid, &r->ru, 0);
    r->elapsed_s = now_s() - t0;
    r->pid = pid;
    r->exit_status = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    describe_status(st, argv[0], err, errlen);
    return GM_EXIT_PROGRAM;
}

/* An unmeasured helper (setup, or the redis client); 0 or GM_EXIT_PROGRAM. */
static int run_helper(const prog_ctx *c, char *const *argv, const char *in, const char *out,
                      char *err, size_t errlen)
{
    struct rusage ru;
    pid_t pid = spawn(c, argv, in, out, false);
    int st = pid < 0 ? -1 : reap(pid, &ru, 0);
    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    describe_status(st, argv[0], err, errlen);
    return GM_EXIT_PROGRAM;
}

/* ---- the programs --------------------------------------------------------------------------- */

static int run_python(const prog_ctx *c, prog_result *r, char *err, size_t errlen)
{
    char script[PATH_LEN];
    snprintf(script, sizeof script, "%s/workloads/programs/python_workload.py", c->src);
    char *argv[] = {"/usr/bin/python3", script, NULL};
    return run_measured(c, argv, NULL, r, err, errlen);
}

static int run_sqlite(const prog_ctx *c, prog_result *r, char *err, size_t errlen)
{
    char build[PATH_LEN], queries[PATH_LEN], db[PATH_LEN];
    snprintf(build, sizeof build, "%s/workloads/programs/sqlite_build.sql", c->src);
    snprintf(queries, sizeof queries, "%s/workloads/programs/sqlite_queries.sql", c->src);
    snprintf(db, sizeof db, "%s/bench.db", c->dir);
    char *setup[] = {"/usr/bin/sqlite3", db, NULL};
    if (run_helper(c, setup, build, NULL, err, errlen)) return GM_EXIT_PROGRAM;
    return run_measured(c, setup, queries, r, err, errlen);
}

/* A few of the project's own sources, compiled as the release build would (-O2 -g). */
static int run_gcc(const prog_ctx *c, prog_result *r, char *err, size_t errlen)
{
    static const char *const flags[] = {
        "-O2",      "-g", "-c", "-Ialloc", "-Ialloc/include", "-Iworkloads", "-Iworkloads/include",
        "-Iharness"};
    static const char *const sources[] = {
        "alloc/pagealloc.c", "alloc/mheap.c",  "alloc/mcentral.c",
        "alloc/malloc.c",    "alloc/check.c",  "workloads/synth.c",
        "workloads/dist.c",  "harness/json.c", "harness/histogram.c"};
    static char paths[16][PATH_LEN], incs[8][PATH_LEN];
    char *argv[MAX_ARGV];
    int n = 0;
    argv[n++] = "/usr/bin/gcc";
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (!strncmp(flags[i], "-I", 2)) {
            snprintf(incs[i], PATH_LEN, "-I%s/%.64s", c->src, flags[i] + 2);
            argv[n++] = incs[i];
        } else {
            argv[n++] = (char *)flags[i];
        }
    }
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        snprintf(paths[i], PATH_LEN, "%s/%.64s", c->src, sources[i]);
        argv[n++] = paths[i];
    }
    argv[n] = NULL;
    return run_measured(c, argv, NULL, r, err, errlen);
}

/* A port nobody listens on now (the kernel's choice for port 0). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Sends an inline command to redis on port; true when the reply starts with expect. */
static bool redis_say(int port, const char *cmd, const char *expect)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {1, 0};
    char buf[64] = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    bool ok =
        connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd) &&
        (!expect || (read(fd, buf, sizeof buf - 1) > 0 && !strncmp(buf, expect, strlen(expect))));
    close(fd);
    return ok;
}

/* Stops the server: SHUTDOWN NOSAVE, then SIGKILL if it has not exited within 10 s. */
static int redis_stop(pid_t server, int port, struct rusage *ru)
{
    redis_say(port, "SHUTDOWN NOSAVE\r\n", NULL);
    return reap(server, ru, 10);
}

/* redis-benchmark --csv: "test","rps",... per line. Requests per second over all tests. */
static double redis_rps(const char *path)
{
    char buf[TEXT_LEN];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return NAN;
    buf[n] = 0;
    double inv = 0;
    int tests = 0;
    for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        double rps;
        if (sscanf(line, "\"%63[^\"]\",\"%lf\"", name, &rps) == 2 && rps > 0) {
            inv += 1 / rps;
            tests++;
        }
    }
    return tests ? tests / inv : NAN;
}

static int run_redis(const prog_ctx *c, prog_result *r, char *err, size_t errlen)
{
    static const char tests[] = "set,get,incr,lpush,rpop,hset,lrange_100";
    char portstr[16], bench_out[PATH_LEN], log[PATH_LEN];
    int port = free_port();
    if (port < 0) return snprintf(err, errlen, "no free local port"), GM_EXIT_PROGRAM;
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(log, sizeof log, "%s/redis.log", c->dir);
    snprintf(bench_out, sizeof bench_out, "%s/benchmark.csv", c->dir);
    char *server[] = {"/usr/bin/redis-server",
                      "--port",
                      portstr,
                      "--bind",
                      "127.0.0.1",
                      "--save",
                      "",
                      "--appendonly",
                      "no",
                      "--daemonize",
                      "no",
                      "--dir",
                      (char *)c->dir,
                      NULL};
    snprintf(r->command, sizeof r->command,
             "redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no, driven by "
             "redis-benchmark -q --csv -n 25000 -c 50 -t %s",
             port, tests);
    r->pid = spawn(c, server, NULL, log, true);
    if (r->pid < 0) return snprintf(err, errlen, "fork: %s", strerror(errno)), GM_EXIT_PROGRAM;
    /* Wait for PING, watching that the server is still alive. */
    int st = 0;
    bool up = false;
    for (double until = now_s() + 20; !up && now_s() < until;) {
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            describe_status(st, "redis-server", err, errlen);
            return GM_EXIT_PROGRAM;
        }
        up = redis_say(port, "PING\r\n", "+PONG");
        if (!up) usleep(20000);
    }
    int rc = 0;
    if (!up) {
        snprintf(err, errlen, "redis-server did not answer PING on port %d within 20 s", port);
        rc = GM_EXIT_PROGRAM;
    }
    double t0 = now_s();
    char *bench[] = {"/usr/bin/redis-benchmark",
                     "-h",
                     "127.0.0.1",
                     "-p",
                     portstr,
                     "-q",
                     "--csv",
                     "-n",
                     "25000",
                     "-c",
                     "50",
                     "-t",
                     (char *)tests,
                     NULL};
    if (!rc) rc = run_helper(c, bench, NULL, bench_out, err, errlen);
    r->elapsed_s = now_s() - t0;
    st = redis_stop(r->pid, port, &r->ru); /* always, whatever happened above */
    r->exit_status = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc) return rc;
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        describe_status(st, "redis-server", err, errlen);
        return GM_EXIT_PROGRAM;
    }
    r->throughput = redis_rps(bench_out);
    snprintf(r->unit, sizeof r->unit, "requests/s");
    if (isnan(r->throughput)) {
        snprintf(err, errlen, "redis-benchmark printed no requests per second");
        return GM_EXIT_PROGRAM;
    }
    return 0;
}

static const char *const python_tools[] = {"/usr/bin/python3", NULL};
static const char *const sqlite_tools[] = {"/usr/bin/sqlite3", NULL};
static const char *const gcc_tools[] = {"/usr/bin/gcc", NULL};
static const char *const redis_tools[] = {"/usr/bin/redis-server", "/usr/bin/redis-benchmark",
                                          NULL};

static const gm_program programs[] = {
    {"python", "python3 running workloads/programs/python_workload.py (4 threads)", python_tools,
     "python3", run_python},
    {"sqlite", "sqlite3: joins, grouping, an index build on a generated 300k-row database",
     sqlite_tools, "sqlite3", run_sqlite},
    {"gcc", "gcc -O2 -g -c of nine of this project's sources", gcc_tools, "gcc", run_gcc},
    {"redis", "redis-server under redis-benchmark on loopback (only the server is measured)",
     redis_tools, "redis-server redis-tools", run_redis},
};
enum { NPROGRAMS = sizeof programs / sizeof programs[0] };
static const gm_program *const program_list[] = {&programs[0], &programs[1], &programs[2],
                                                 &programs[3], NULL};

const gm_program *const *gm_programs(void)
{
    return program_list;
}

const gm_program *gm_program_find(const char *name)
{
    for (int i = 0; i < NPROGRAMS; i++)
        if (!strcmp(programs[i].name, name)) return &programs[i];
    return NULL;
}

const char *gm_program_name(const gm_program *p)
{
    return p->name;
}

bool gm_program_installed(const gm_program *p, char *what, size_t len)
{
    size_t used = 0;
    if (len) what[0] = 0;
    for (int i = 0; p->tools[i]; i++)
        if (access(p->tools[i], X_OK) != 0 && used < len)
            used +=
                (size_t)snprintf(what + used, len - used, "%s%s", used ? ", " : "", p->tools[i]);
    if (!used) return true;
    if (used < len)
        snprintf(what + used, len - used, " not installed (Debian packages: %s)", p->packages);
    return false;
}

void gm_program_write_workload(gm_json *j, const gm_program *p)
{
    char name[64];
    snprintf(name, sizeof name, "program:%s", p->name);
    gm_json_object_begin(j, "workload");
    gm_json_str(j, "name", name);
    gm_json_str(j, "kind", "program");
    gm_json_object_begin(j, "params");
    gm_json_str(j, "program", p->name);
    gm_json_object_end(j);
    gm_json_null(j, "seed");
    gm_json_null(j, "ops");
    gm_json_null(j, "threads");
    gm_json_object_end(j);
}

/* ---- libraries and the scratch directory ------------------------------------------------------ */

static bool exists(const char *path)
{
    return access(path, R_OK) == 0;
}

/* env, else the first of rel (relative to this executable's directory) that exists. */
static bool find_next_to_self(const char *env, const char *const *rel, char *out, size_t len)
{
    const char *e = getenv(env);
    if (e && *e) return snprintf(out, len, "%s", e), exists(out);
    char dir[DIR_LEN];
    snprintf(dir, sizeof dir, "%s", gm_cli_self());
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    for (int i = 0; rel[i]; i++) {
        char p[2 * PATH_LEN];
        snprintf(p, sizeof p, "%s/%s", dir, rel[i]);
        if (exists(p) && realpath(p, out)) return true;
    }
    return false;
}

static int locate_libraries(prog_ctx *c, char *err, size_t errlen)
{
    static const char *const preload[] = {"../alloc/libgomalloc-preload.so",
                                          "libgomalloc-preload.so", "../lib/libgomalloc-preload.so",
                                          NULL};
    static const char *const probe[] = {"libgmprobe.so", "../lib/libgmprobe.so", NULL};
    if (!find_next_to_self("GMBENCH_PROBE_LIB", probe, c->probe, sizeof c->probe))
        return snprintf(err, errlen,
                        "libgmprobe.so not found (build the gmprobe target, or set "
                        "GMBENCH_PROBE_LIB)"),
               GM_EXIT_USAGE;
    c->want = c->b->soname ? c->b->soname : "libgomalloc-preload.so";
    if (!strcmp(c->b->name, "gomodel") || !strcmp(c->b->name, "gomodel-gc")) {
        if (!find_next_to_self("GMBENCH_PRELOAD_LIB", preload, c->lib, sizeof c->lib))
            return snprintf(err, errlen,
                            "libgomalloc-preload.so not found (build the "
                            "gomalloc-preload target, or set GMBENCH_PRELOAD_LIB)"),
                   GM_EXIT_USAGE;
        return 0;
    }
    if (!c->b->soname || c->b->internal)
        return snprintf(err, errlen, "%s cannot serve a program: it is not a malloc", c->b->name),
               GM_EXIT_USAGE;
    return gm_cli_require_installed(c->b, c->lib, sizeof c->lib, err, errlen);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* ---- the probe's report ------------------------------------------------------------------- */

typedef struct probe_view {
    unsigned lines, wrong;
    bool measured_seen;
    char measured[1536]; /* the measured process's line */
    char wrong_line[1536];
} probe_view;

/* Does the provider file named in a probe line belong to the claimed library? */
static bool line_names(const char *provider, const char *lib)
{
    const char *pb = strrchr(provider, '/'), *lb = strrchr(lib, '/');
    pb = pb ? pb + 1 : provider;
    lb = lb ? lb + 1 : lib;
    size_t n = strcspn(lb, ".");
    return !strncmp(pb, lb, n) && !strncmp(pb + n, ".so", 3);
}

static void read_probe(const prog_ctx *c, pid_t measured, probe_view *v)
{
    static char buf[1 << 20];
    memset(v, 0, sizeof *v);
    int fd = open(c->probe_out, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int pid;
        char provider[PATH_LEN];
        if (sscanf(line, "pid %d provider %4095s", &pid, provider) != 2) continue;
        size_t len = strlen(line);
        bool ok = len >= 5 && !strcmp(line + len - 5, " ok 1");
        v->lines++;
        if (!ok || !line_names(provider, c->lib) || !line_names(provider, c->want)) {
            if (!v->wrong++) snprintf(v->wrong_line, sizeof v->wrong_line, "%s", line);
        }
        if (pid == (int)measured) {
            v->measured_seen = true;
            snprintf(v->measured, sizeof v->measured, "%s", line);
        }
    }
}

/* ---- the result ------------------------------------------------------------------------------- */

/* FNV-1a of the program's stdout without its throughput line. */
static void output_hash(const char *path, char *out, size_t len)
{
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    uint64_t h = 0xcbf29ce484222325ull;
    for (ssize_t i = 0; i < n;) {
        char *eol = memchr(buf + i, '\n', (size_t)(n - i));
        ssize_t end = eol ? eol - buf + 1 : n;
        if (strncmp(buf + i, "gmbench-throughput:", 19))
            for (ssize_t k = i; k < end; k++) h = (h ^ (uint8_t)buf[k]) * 0x100000001b3ull;
        i = end;
    }
    snprintf(out, len, "%016llx", (unsigned long long)h);
}

static void parse_throughput(prog_result *r)
{
    static char buf[1 << 16];
    int fd = open(r->stdout_path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    const char *t = strstr(buf, "gmbench-throughput:");
    if (t) sscanf(t, "gmbench-throughput: %lf %31s", &r->throughput, r->unit);
}

static void write_result(gm_json *j, const prog_ctx *c, const gm_program *p, unsigned rep,
                         const prog_result *r, const probe_view *v)
{
    const gm_backend *only[] = {c->b, NULL};
    char version[256], hash[32], ident[8192];
    gm_backend_version(c->b, version, sizeof version);
    snprintf(ident, sizeof ident, "%u process(es) reported, all served by %s; measured process: %s",
             v->lines, c->lib, v->measured);
    gm_json_object_begin(j, NULL);
    gm_json_str(j, "schema", "gmbench-run/1");
    gm_json_str(j, "status", "ok");
    gm_json_object_begin(j, "allocator");
    gm_json_str(j, "name", c->b->name);
    gm_json_str(j, "library", c->lib);
    gm_json_str(j, "package", c->b->package);
    gm_json_str(j, "version", version);
    gm_json_str(j, "malloc_provider", c->lib);
    gm_json_str(j, "identity", ident);
    gm_json_object_end(j);
    gm_program_write_workload(j, p);
    gm_json_u64(j, "rep", rep);
    gm_env_write(j, "env", only);
    gm_json_object_begin(j, "program");
    gm_json_str(j, "command", r->command);
    gm_json_num(j, "elapsed_s", r->elapsed_s);
    double user = (double)r->ru.ru_utime.tv_sec + (double)r->ru.ru_utime.tv_usec / 1e6;
    double sys = (double)r->ru.ru_stime.tv_sec + (double)r->ru.ru_stime.tv_usec / 1e6;
    gm_json_num(j, "user_s", user);
    gm_json_num(j, "sys_s", sys);
    gm_json_num(j, "cpu_s", user + sys);
    gm_json_u64(j, "peak_rss_bytes", (uint64_t)r->ru.ru_maxrss * 1024);
    gm_json_u64(j, "minor_faults", (uint64_t)r->ru.ru_minflt);
    gm_json_u64(j, "major_faults", (uint64_t)r->ru.ru_majflt);
    gm_json_i64(j, "exit_status", r->exit_status);
    gm_json_num(j, "throughput_per_s", r->throughput); /* NaN → null */
    gm_json_str(j, "throughput_unit", isnan(r->throughput) ? NULL : r->unit);
    output_hash(r->stdout_path, hash, sizeof hash);
    gm_json_str(j, "output_fnv1a", strcmp(p->name, "redis") ? hash : NULL);
    gm_json_u64(j, "processes", v->lines);
    gm_json_object_end(j);
    gm_json_object_end(j);
}

/* ---- gmbench program ---------------------------------------------------------------------- */

int gm_program_parse(int argc, char **argv, const gm_backend **b, const gm_program **p,
                     unsigned *rep, const char **out, char *err, size_t errlen)
{
    *b = NULL;
    *p = NULL;
    *rep = 0;
    *out = NULL;
    for (int i = 0; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u;
        if (!v) return snprintf(err, errlen, "%s needs a value", f), GM_EXIT_USAGE;
        if (!strcmp(f, "--allocator")) {
            if (!(*b = gm_cli_backend(v, err, errlen))) return GM_EXIT_USAGE;
        } else if (!strcmp(f, "--program")) {
            if (!(*p = gm_program_find(v))) {
                snprintf(err, errlen, "unknown program '%s'; valid: python sqlite gcc redis", v);
                return GM_EXIT_USAGE;
            }
        } else if (!strcmp(f, "--rep")) {
            if (gm_parse_u64(v, 0, &u) || u > (1u << 30))
                return snprintf(err, errlen, "--rep: '%s' is not a count", v), GM_EXIT_USAGE;
            *rep = (unsigned)u;
        } else if (!strcmp(f, "--out")) {
            *out = v;
        } else {
            snprintf(err, errlen,
                     "unknown flag %s for a program (expected --allocator, "
                     "--program, --rep, --out)",
                     f);
            return GM_EXIT_USAGE;
        }
    }
    if (!*b || !*p)
        return snprintf(err, errlen, "program needs --allocator and --program"), GM_EXIT_USAGE;
    return 0;
}

static int measure(prog_ctx *c, const gm_program *p, unsigned rep, gm_json *j, char *err,
                   size_t errlen)
{
    prog_result r = {.throughput = NAN, .exit_status = -1};
    probe_view v;
    int rc = p->run(c, &r, err, errlen);
    if (rc) return rc;
    if (isnan(r.throughput)) parse_throughput(&r);
    read_probe(c, r.pid, &v);
    if (!v.measured_seen) {
        snprintf(err, errlen,
                 "the probe saw no report from the measured process %d (%u other "
                 "lines): the allocator cannot be proven",
                 (int)r.pid, v.lines);
        return GM_EXIT_IDENTITY;
    }
    if (v.wrong) {
        snprintf(err, errlen, "%u of %u processes not served by %s (%.600s): %.900s", v.wrong,
                 v.lines, c->b->name, c->lib, v.wrong_line);
        return GM_EXIT_IDENTITY;
    }
    write_result(j, c, p, rep, &r, &v);
    return 0;
}

int gm_cmd_program(int argc, char **argv)
{
    const gm_program *p;
    const char *out;
    unsigned rep;
    char err[2048], what[512];
    prog_ctx *c = calloc(1, sizeof *c);
    if (!c) return 70;
    int rc = gm_program_parse(argc, argv, &c->b, &p, &rep, &out, err, sizeof err);
    if (!rc) rc = locate_libraries(c, err, sizeof err);
    if (!rc && !gm_program_installed(p, what, sizeof what)) {
        snprintf(err, sizeof err, "program %s: %s", p->name, what);
        rc = GM_EXIT_USAGE;
    }
    if (rc) {
        fprintf(stderr, "gmbench program: %s\n", err);
        free(c);
        return rc;
    }
    const char *src = getenv("GMBENCH_SOURCE_DIR");
    snprintf(c->src, sizeof c->src, "%s", src && *src ? src : GM_SOURCE_DIR);
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/gmbench-program-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(c->dir)) {
        fprintf(stderr, "gmbench program: cannot create %s: %s\n", c->dir, strerror(errno));
        free(c);
        return GM_EXIT_IO;
    }
    snprintf(c->probe_out, sizeof c->probe_out, "%s/probe.txt", c->dir);
    gm_json j;
    gm_json_init(&j, true);
    rc = measure(c, p, rep, &j, err, sizeof err);
    nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc) {
        fprintf(stderr, "gmbench program: %s on %s: %s\n", p->name, c->b->name, err);
    } else if (out && gm_write_file_atomic(out, j.buf, j.len, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench program: %s\n", err);
        rc = GM_EXIT_IO;
    } else if (!out && (fwrite(j.buf, 1, j.len, stdout) != j.len || fputc('\n', stdout) == EOF)) {
        rc = GM_EXIT_IO;
    }
    gm_json_free(&j);
    free(c);
    return rc;
}
