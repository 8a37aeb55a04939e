/*
 * json.h — JSON out and in, for result files, without malloc (gm_arena.h explains why).
 *
 * The writer appends to a buffer of gm_map pages (always NUL-terminated) and tracks commas
 * itself, so callers write members in order, each object member with its key, array elements
 * and the top-level value with key NULL. Strings are escaped; non-finite numbers become null. The reader parses a whole document into an arena
 * tree and reports the byte offset of the first error.
 */
#ifndef GM_JSON_H
#define GM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm_arena.h"

#define GM_JSON_MAX_DEPTH 64

typedef struct gm_json {
    char *buf;
    size_t len, cap;
    int depth;
    bool first[GM_JSON_MAX_DEPTH]; /* no member written yet at this depth */
    bool after_key;                /* unused: keys are passed with their values */
    bool pretty;                   /* newline + two-space indent per level */
} gm_json;

void gm_json_init(gm_json *j, bool pretty);
void gm_json_free(gm_json *j);

/* Containers. key may be NULL inside an array or at the top level. */
void gm_json_object_begin(gm_json *j, const char *key);
void gm_json_object_end(gm_json *j);
void gm_json_array_begin(gm_json *j, const char *key);
void gm_json_array_end(gm_json *j);

/* Scalars; key NULL inside an array. */
void gm_json_str(gm_json *j, const char *key, const char *v); /* NULL → null */
void gm_json_strn(gm_json *j, const char *key, const char *v, size_t n);
void gm_json_u64(gm_json *j, const char *key, uint64_t v);
void gm_json_i64(gm_json *j, const char *key, int64_t v);
void gm_json_num(gm_json *j, const char *key, double v); /* %.17g; NaN/inf → null */
void gm_json_bool(gm_json *j, const char *key, bool v);
void gm_json_null(gm_json *j, const char *key);
/* Splices text that is already one JSON value (a run file embedded in a result set). */
void gm_json_raw(gm_json *j, const char *key, const char *text, size_t n);

/* Appends bytes verbatim, outside any JSON structure: lets the same buffer build CSV text. */
void gm_json_append(gm_json *j, const char *text, size_t n);

/* Writes data to path atomically: a temporary file in the same directory, fsync, rename.
 * Returns 0, or -1 with err set (and no file at path changed). */
int gm_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Reads a whole file into gm_map memory (NUL-terminated; release it with
 * gm_unmap(p, *len + 1)). Returns NULL with err set. */
char *gm_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* ---- reader ---- */
typedef enum gm_jtype { GM_JNULL, GM_JBOOL, GM_JNUM, GM_JSTR, GM_JARR, GM_JOBJ } gm_jtype;

typedef struct gm_jval {
    gm_jtype type;
    bool b;
    double num;
    const char *str;       /* STR: unescaped, NUL-terminated */
    size_t n;              /* STR: length; ARR, OBJ: number of members */
    const char **keys;     /* OBJ: member names */
    struct gm_jval *items; /* ARR, OBJ: members */
    const char *raw;       /* the value's text in the parsed document */
    size_t rawlen;
} gm_jval;

/* Parses text[0..len) into a tree allocated from a. Returns NULL with err = "offset N: what". */
gm_jval *gm_json_parse(gm_arena *a, const char *text, size_t len, char *err, size_t errlen);
/* Member of an object by a dotted path ("latency.malloc.p99_ns"); NULL when absent. */
const gm_jval *gm_json_get(const gm_jval *v, const char *path);
/* Number at a path, or def when absent or not a number. */
double gm_json_get_num(const gm_jval *v, const char *path, double def);
const char *gm_json_get_str(const gm_jval *v, const char *path, const char *def);

#endif
