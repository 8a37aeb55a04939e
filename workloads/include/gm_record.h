/*
 * gm_record.h — recording a real program's allocation calls as traces (`gmbench record`).
 *
 * gm_record_run runs a command with libgmrecord.so in LD_PRELOAD (workloads/recorder/), waits
 * for it, and converts the raw logs the library wrote into traces (gm_trace.h): the main
 * process's to cfg->out, every other recorded process image to cfg->out.<pid> (see
 * workloads/README.md, "Recording real programs", for the naming of exec'd images and exactly
 * what is and is not recorded).
 *
 * Memory: the converter takes its own from gm_map/gm_arena, never from malloc; its memory is
 * bounded by the threads of one process (a read buffer each) and that process's peak of live
 * objects (the address → object map), not by the length of the recording.
 */
#ifndef GM_RECORD_H
#define GM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm_trace.h"

typedef struct gm_record_config {
    const char *out;     /* the main process's trace; others at out.<pid>[.<n>] */
    char *const *argv;   /* the command, NULL-terminated; argv[0] is searched in PATH */
    const char *library; /* libgmrecord.so; NULL: gm_record_library() */
    const char *raw_dir; /* where the raw logs go; NULL: a new out.raw.XXXXXX directory */
    bool timestamps;     /* record CLOCK_MONOTONIC per call (the traces carry times) */
    unsigned time_every; /* with timestamps: read the clock at every time_every-th call of a
                            thread and stamp the calls between with that reading (0 or 1:
                            every call, exact but the costliest part of recording) */
    bool keep_raw;       /* keep the raw directory (else removed after a conversion) */
    int compress;        /* trace compression, as gm_trace_meta.compress (0 = none) */
} gm_record_config;

/* One trace written. */
typedef struct gm_record_trace {
    char path[4096];
    int pid;
    bool main;                 /* the main process's trace (cfg->out) */
    uint64_t start_ns;         /* CLOCK_MONOTONIC when the image started recording */
    gm_trace_summary summary;  /* what the writer counted (records, allocs, frees, ...) */
    uint64_t unknown_frees;    /* frees and reallocs of addresses never seen allocated (from
                                  before the recorder loaded, or the bootstrap arena): skipped */
    uint64_t unknown_reallocs; /* reallocs of such addresses: written as allocations */
    uint64_t failed_calls;     /* calls that returned NULL (nothing allocated): skipped */
    uint64_t reused_addresses; /* allocations at an address that was still live (its free was
                                  not seen): the old object stays live in the trace */
    uint64_t lost_events;      /* calls the recorder dropped (thread gone, disk errors) plus
                                  torn (partly written) raw events */
    bool exited;               /* the image wrote its exit record (no SIGKILL, no crash) */
} gm_record_trace;

#define GM_RECORD_MAX_LISTED 64 /* traces described in gm_record_result; more are counted */

typedef struct gm_record_result {
    int exit_code;    /* the command's exit code, or -1 when a signal ended it */
    int signal;       /* the signal that ended it, or 0 */
    int status;       /* what `gmbench record` exits with: exit_code, or 128 + signal */
    unsigned ntraces; /* traces written (processes that made at least one call, and always
                          the main process) */
    unsigned nlisted; /* min(ntraces, GM_RECORD_MAX_LISTED) */
    gm_record_trace traces[GM_RECORD_MAX_LISTED]; /* the main process's first */
    uint64_t events;                              /* raw events converted, all processes */
    uint64_t lost_events;                         /* all processes */
    char raw_dir[4096]; /* where the raw logs were (kept only with keep_raw) */
} gm_record_result;

/* Runs cfg->argv under the recorder and writes the traces. Returns 0 when the command ran and
 * its traces are written (res->status is the command's outcome, whatever it is), or -1 with err
 * (library not found, command not found or not executable, the recorder never loaded, e.g. a
 * statically linked program, a conversion error); res->status is still set when the command
 * ran. SIGINT and SIGQUIT are ignored by the caller while the command runs (they reach the
 * command, as with system()). res is large (~270 KiB): do not put it on a small stack. */
int gm_record_run(const gm_record_config *cfg, gm_record_result *res, char *err, size_t errlen);

/* Converts an existing raw directory (what gm_record_run does after the command ends).
 * main_pid: the process whose last image becomes cfg->out (0: the image that started first). */
int gm_record_convert(const gm_record_config *cfg, int main_pid, gm_record_result *res, char *err,
                      size_t errlen);

/* Finds libgmrecord.so: $GMBENCH_RECORDER if set (it must exist), else relative to
 * /proc/self/exe: ../workloads/recorder/ (a build tree: build/<preset>/harness/gmbench),
 * the executable's own directory, ../lib/. false when none exists. */
bool gm_record_library(char *path, size_t len);

/* Prints a short human summary of res to fd (one line per trace). */
void gm_record_print(const gm_record_result *res, int fd);

#endif
