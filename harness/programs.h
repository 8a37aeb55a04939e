/*
 * programs.h — real programs as measurements: `gmbench program` and compare's --programs.
 *
 * A program measurement runs a whole program from the system (python3, sqlite3, gcc,
 * redis-server) with one allocator put in front of it by LD_PRELOAD: the Go model through
 * libgomalloc-preload.so, a competitor through its Debian library, glibc through libc.so.6
 * itself (first in the search order, so that even a program linked against another allocator,
 * as Debian's redis-server is against jemalloc, gets glibc's). The harness's probe library
 * (probe.c) is preloaded after it and proves, in every process of the program, which malloc
 * served it. The figures are the program's: wall time, user and system CPU, peak RSS and page
 * faults from wait4()'s rusage (the program's process tree, as the kernel accounts it), and
 * the program's own throughput where it prints one.
 */
#ifndef GM_PROGRAMS_H
#define GM_PROGRAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "json.h"

/* `gmbench program` exits with this when the program itself failed (crashed, exited non-zero,
 * printed no result); the other statuses are those of `gmbench run` (driver.h). */
enum { GM_EXIT_PROGRAM = 7 };

typedef struct gm_program gm_program;

/* NULL-terminated, in plan order. */
const gm_program *const *gm_programs(void);
const gm_program *gm_program_find(const char *name);
const char *gm_program_name(const gm_program *p);
/* Is everything the program needs installed? If not, what names the missing tools and the
 * Debian packages that ship them. */
bool gm_program_installed(const gm_program *p, char *what, size_t len);

/* The workload object of a program run ("program:NAME"), for results and failure rows. */
void gm_program_write_workload(gm_json *j, const gm_program *p);

/* Parses the flags of `gmbench program` (--allocator A --program P [--rep N] [--out F]).
 * Returns 0 or GM_EXIT_USAGE with err set. */
int gm_program_parse(int argc, char **argv, const gm_backend **b, const gm_program **p,
                     unsigned *rep, const char **out, char *err, size_t errlen);

/* gmbench program: one measurement of one program under one allocator. */
int gm_cmd_program(int argc, char **argv);

#endif
