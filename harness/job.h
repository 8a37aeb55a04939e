/*
 * job.h — one measurement in a supervised child (job.c).
 */
#ifndef GM_JOB_H
#define GM_JOB_H

#include <stdbool.h>

typedef struct gm_job_result {
    bool ok;
    bool timed_out;
    int exit_status; /* -1 when killed */
    int signal;      /* 0 when it exited */
    char reason[512];
    char stderr_tail[1024];
} gm_job_result;

/* Runs the measurement described by run (or program) flags argv in a supervised child and
 * leaves its result, or a failure row, at out. Returns 0 when it succeeded, 1 when a failure
 * row was written, -1 when there is nothing to record (bad flags, or interrupted). */
int gm_job_supervise(int argc, char **argv, const char *out, unsigned timeout_s,
                     gm_job_result *res);
/* From now on SIGINT and SIGTERM stop the running child instead of this process (the child is
 * in its own process group and would not see them); gm_job_interrupted then says which. */
void gm_job_catch_interrupts(void);
int gm_job_interrupted(void);

#endif
