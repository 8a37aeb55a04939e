/*
 * linereader.h — reading a text log line by line in bounded memory (the importers' input).
 *
 * A log of gigabytes streams through one fixed buffer from gm_map: read(2) fills it, a line is
 * handed out in place (NUL-terminated, without its '\n' or a trailing '\r') and is valid until
 * the next call. A line longer than the buffer's limit is cut: the first max_line bytes are
 * returned with *truncated set and the rest of the line is read and dropped, so no input can
 * make the reader allocate more. No stdio, no malloc (gm_arena.h).
 *
 * Invariants: start <= end <= cap; buf[start, end) is read but not yet returned; lineno is the
 * number of the line returned last (1-based), 0 before the first.
 */
#ifndef GM_LINEREADER_H
#define GM_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_LINEREADER_MAX_LINE ((size_t)1 << 20) /* 1 MiB: longer lines are truncated */

typedef struct gm_linereader {
    int fd;
    bool own_fd;       /* opened here (not stdin) */
    bool eof;          /* read(2) returned 0 */
    bool skip_pending; /* the last line was cut: drop input up to the next '\n' first */
    char *buf;         /* gm_map, cap bytes */
    size_t cap;        /* max_line + 1 (room for the NUL) */
    size_t max_line;   /* longest line returned whole */
    size_t start;      /* first unreturned byte */
    size_t end;        /* end of the bytes read */
    uint64_t lineno;   /* line returned last */
    uint64_t offset;   /* file offset of buf[0] */
} gm_linereader;

/* Opens path ("-": standard input). 0, or -1 with err ("LOG: reason"). */
int gm_linereader_open(gm_linereader *lr, const char *path, size_t max_line, char *err,
                       size_t errlen);
/* 1: *line (NUL-terminated, *len bytes) is line lr->lineno; 0: end of input; -1: read error,
 * with err. A last line without its '\n' is still a line. */
int gm_linereader_next(gm_linereader *lr, char **line, size_t *len, bool *truncated, char *err,
                       size_t errlen);
void gm_linereader_close(gm_linereader *lr);

#endif
