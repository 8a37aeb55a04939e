/*
 * linereader.c — bounded-memory line reading over read(2) (see linereader.h).
 *
 * The buffer is refilled by moving the unreturned tail to the front and reading after it; a
 * line that does not fit is returned cut at max_line bytes and the reader then skips input up
 * to the next '\n' (the dropped bytes never need room).
 */
#include "linereader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gm_arena.h"

int gm_linereader_open(gm_linereader *lr, const char *path, size_t max_line, char *err,
                       size_t errlen)
{
    memset(lr, 0, sizeof *lr);
    if (strcmp(path, "-") == 0) {
        lr->fd = STDIN_FILENO;
    } else {
        lr->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (lr->fd < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        lr->own_fd = true;
    }
    lr->max_line = max_line ? max_line : GM_LINEREADER_MAX_LINE;
    lr->cap = lr->max_line + 1;
    lr->buf = gm_map(lr->cap, 0);
    return 0;
}

void gm_linereader_close(gm_linereader *lr)
{
    if (lr->own_fd) close(lr->fd);
    gm_unmap(lr->buf, lr->cap);
    lr->buf = NULL;
    lr->own_fd = false;
}

/* Moves the unreturned bytes to the front and reads once after them. 1: read something;
 * 0: end of input; -1: error. */
static int linereader_fill(gm_linereader *lr, char *err, size_t errlen)
{
    if (lr->eof) return 0;
    if (lr->start > 0) {
        memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
        lr->offset += lr->start;
        lr->end -= lr->start;
        lr->start = 0;
    }
    for (;;) {
        ssize_t n = read(lr->fd, lr->buf + lr->end, lr->cap - 1 - lr->end);
        if (n > 0) {
            lr->end += (size_t)n;
            return 1;
        }
        if (n == 0) {
            lr->eof = true;
            return 0;
        }
        if (errno == EINTR) continue;
        snprintf(err, errlen, "read error after line %llu: %s", (unsigned long long)lr->lineno,
                 strerror(errno));
        return -1;
    }
}

/* Drops input up to and including the next '\n' (the tail of a truncated line). */
static int linereader_skip_rest(gm_linereader *lr, char *err, size_t errlen)
{
    for (;;) {
        char *nl = memchr(lr->buf + lr->start, '\n', lr->end - lr->start);
        if (nl) {
            lr->start = (size_t)(nl - lr->buf) + 1;
            return 0;
        }
        lr->start = lr->end;
        int rc = linereader_fill(lr, err, errlen);
        if (rc <= 0) return rc;
    }
}

int gm_linereader_next(gm_linereader *lr, char **line, size_t *len, bool *truncated, char *err,
                       size_t errlen)
{
    if (lr->skip_pending) {
        lr->skip_pending = false;
        if (linereader_skip_rest(lr, err, errlen) < 0) return -1;
    }
    size_t scanned = 0; /* bytes after start already known to hold no '\n' */
    for (;;) {
        size_t avail = lr->end - lr->start;
        char *p = lr->buf + lr->start;
        char *nl = memchr(p + scanned, '\n', avail - scanned);
        bool cut = false;
        size_t n;
        if (nl) {
            n = (size_t)(nl - p);
        } else if (avail >= lr->max_line || (lr->eof && avail > 0)) {
            n = avail < lr->max_line ? avail : lr->max_line;
            cut = avail >= lr->max_line;
        } else {
            scanned = avail;
            int rc = linereader_fill(lr, err, errlen);
            if (rc < 0) return -1;
            if (rc == 0 && lr->end == lr->start) return 0;
            continue;
        }
        p = lr->buf + lr->start;
        lr->start += n + (nl ? 1 : 0);
        if (n > 0 && p[n - 1] == '\r') n--;
        /* The byte after the line is its '\n', or free room (cap = max_line + 1). */
        p[n] = '\0';
        lr->lineno++;
        *line = p;
        *len = n;
        *truncated = cut;
        /* The rest of a cut line is dropped at the next call: refilling now would move the
         * bytes just returned. */
        lr->skip_pending = cut;
        return 1;
    }
}
