/*
 * results.h — result sets (results.c): load run files, group and summarise them, write
 * results.json / summary.csv / runs.csv atomically, print the table.
 */
#ifndef GM_RESULTS_H
#define GM_RESULTS_H

#include <stddef.h>

#include "gm_arena.h"
#include "json.h"

typedef struct gm_result_set gm_result_set;
/* Writes the members of results.json's "config" object. */
typedef void (*gm_config_writer)(gm_json *j, const void *ctx);

/* Loads run files (paths, or directories of *.json) in canonical (name) order; a file that is
 * not a run result is kept in the set's list of skipped files with the reason, not fatal. */
gm_result_set *gm_results_load(gm_arena *a, const char *const *paths, size_t npaths);
int gm_results_write(const char *dir, const gm_result_set *rs, gm_config_writer wc,
                     const void *ctx);
void gm_results_print_table(const gm_result_set *rs);
/* mkdir -p. 0, or -1 with errno. */
int gm_make_dirs(const char *path);

#endif
