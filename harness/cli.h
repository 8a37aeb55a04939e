/*
 * cli.h — the commands of gmbench and the flag parsing they share.
 */
#ifndef GM_CLI_H
#define GM_CLI_H

#include <stddef.h>

#include "driver.h"

/* Parses the flags of `gmbench run` (everything after the command word) into cfg; *out is the
 * --out path or NULL. Returns 0, or GM_EXIT_USAGE with err saying which flag and why. */
int gm_cli_parse_run(int argc, char **argv, gm_run_config *cfg, const char **out, char *err,
                     size_t errlen);
/* Looks an allocator up by name, or writes "unknown allocator 'x'; valid: ..." to err. */
const gm_backend *gm_cli_backend(const char *name, char *err, size_t errlen);
const gm_workload *gm_cli_workload(const char *name, char *err, size_t errlen);
/* err names the library and the Debian package when b's library is missing. 0 = installed. */
int gm_cli_require_installed(const gm_backend *b, char *path, size_t pathlen, char *err,
                             size_t errlen);
/* Absolute path of this executable. */
const char *gm_cli_self(void);

int gm_cmd_compare(int argc, char **argv);
int gm_cmd_merge(int argc, char **argv);
int gm_cmd_job(int argc, char **argv);
int gm_cmd_trace(int argc, char **argv);
int gm_cmd_import(int argc, char **argv);
int gm_cmd_record(int argc, char **argv);
int gm_cmd_fidelity(int argc, char **argv);

#endif
