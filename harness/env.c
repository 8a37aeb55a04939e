/*
 * env.c — the environment a measurement was taken in (env.h).
 *
 * Every result carries it, so that two results can be compared only when they say what they
 * were measured on: the machine, the kernel and its hugepage policy, the C library, how gmbench
 * was built, and which version of every allocator package was installed.
 *
 * It runs in the process being measured, so it allocates nothing with malloc (no stdio
 * streams, no getline, no popen): small files are read with read(2) into stack buffers, and
 * the build facts come from build_info.h, generated at build time.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"

/* Reads up to len - 1 bytes of path into buf, NUL-terminated. Returns the length, or -1 (buf
 * then holds ""). Enough for the start of /proc and /sys files, which is all that is needed. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

/* Ends s at its first newline. */
static char *first_line(char *s)
{
    s[strcspn(s, "\n")] = 0;
    return s;
}

/* The kernel marks the active choice of a sysfs policy file with brackets:
 * "always [madvise] never". */
static void write_sysfs_choice(gm_json *j, const char *key, const char *path)
{
    char buf[256];
    char *open_br, *close_br;
    if (read_small(path, buf, sizeof buf) <= 0 || !(open_br = strchr(buf, '[')) ||
        !(close_br = strchr(open_br, ']'))) {
        gm_json_str(j, key, "unavailable");
        return;
    }
    gm_json_strn(j, key, open_br + 1, (size_t)(close_br - open_br - 1));
}

/* The value of the first "name: value" line of text whose name starts with name, or NULL. */
static const char *find_field(const char *text, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *line = text; *line;) {
        const char *colon = strchr(line, ':'), *eol = strchr(line, '\n');
        if (strncmp(line, name, n) == 0 && colon && (!eol || colon < eol)) {
            colon += 1 + strspn(colon + 1, " \t");
            *len = strcspn(colon, "\n");
            return colon;
        }
        if (!eol) break;
        line = eol + 1;
    }
    return NULL;
}

/* /proc/cpuinfo's "model name" of the first CPU (x86; other architectures may not have one). */
static void write_cpu_model(gm_json *j)
{
    char buf[8192];
    size_t n = 0;
    const char *model = NULL;
    if (read_small("/proc/cpuinfo", buf, sizeof buf) > 0) model = find_field(buf, "model name", &n);
    if (model)
        gm_json_strn(j, "cpu_model", model, n);
    else
        gm_json_str(j, "cpu_model", "unknown");
}

/* UTC, ISO 8601 to the second. Formatted by hand: strftime may consult the time zone database. */
static void write_time(gm_json *j)
{
    char buf[80]; /* room for any int the compiler can imagine in each field */
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    gm_json_str(j, "time_utc", buf);
}

static void write_machine(gm_json *j)
{
    struct utsname u;
    bool have_uname = uname(&u) == 0;
    char kernel[sizeof u];
    write_time(j);
    if (have_uname)
        gm_json_str(j, "hostname", u.nodename);
    else
        gm_json_null(j, "hostname");
    write_cpu_model(j);
    gm_json_i64(j, "logical_cpus", (int64_t)sysconf(_SC_NPROCESSORS_ONLN));
    if (have_uname) {
        snprintf(kernel, sizeof kernel, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
        gm_json_str(j, "kernel", kernel);
    } else {
        gm_json_null(j, "kernel");
    }
    gm_json_str(j, "glibc", gnu_get_libc_version());
    write_sysfs_choice(j, "thp_enabled", "/sys/kernel/mm/transparent_hugepage/enabled");
    write_sysfs_choice(j, "thp_defrag", "/sys/kernel/mm/transparent_hugepage/defrag");
    /* Present only where the kernel runs a cpufreq driver (not in most VMs). */
    char gov[64];
    if (read_small("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", gov, sizeof gov) > 0)
        gm_json_str(j, "cpu_governor", first_line(gov));
}

static void write_build(gm_json *j)
{
    gm_json_str(j, "compiler", GM_BUILD_COMPILER);
    gm_json_str(j, "build_type", GM_BUILD_TYPE);
    gm_json_str(j, "cflags", GM_BUILD_FLAGS);
    gm_json_str(j, "sanitize", GM_BUILD_SANITIZE);
    gm_json_str(j, "git_commit", GM_GIT_COMMIT);
}

/* library: the file a run would preload (null for backends built into gmbench or not found). */
static void write_allocator(gm_json *j, const gm_backend *b)
{
    char path[512], version[128];
    bool installed = gm_backend_locate(b, path, sizeof path);
    gm_backend_version(b, version, sizeof version);
    gm_json_object_begin(j, b->name);
    if (path[0])
        gm_json_str(j, "library", path);
    else
        gm_json_null(j, "library");
    gm_json_str(j, "package", b->package);
    gm_json_str(j, "version", version);
    gm_json_bool(j, "installed", installed);
    gm_json_object_end(j);
}

void gm_env_write(gm_json *j, const char *key, const gm_backend *const *backends)
{
    gm_json_object_begin(j, key);
    write_machine(j);
    write_build(j);
    gm_json_object_begin(j, "allocators");
    for (const gm_backend *const *b = backends ? backends : gm_backends(); *b; b++)
        write_allocator(j, *b);
    gm_json_object_end(j);
    gm_json_object_end(j);
}
