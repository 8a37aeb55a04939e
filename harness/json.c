/*
 * json.c — the JSON writer, atomic file output, and the JSON reader (json.h).
 *
 * Nothing here may call malloc: the harness shares its process with the allocator under test
 * (gm_arena.h). The writer's buffer is a gm_map region grown with gm_remap; the reader builds its
 * tree in a gm_arena and uses a gm_map scratch stack while it parses; files are read and written
 * with open/read/write, never stdio streams. snprintf into stack buffers is used for numbers
 * (glibc formats short conversions without allocating).
 *
 * Writer invariants: buf[len] == '\0' (the text can be printed at any time); len < cap;
 * first[d] is true while the container open at depth d has no member yet. The writer does not
 * know whether a container is an object or an array: the caller passes a key exactly for object
 * members.
 *
 * Reader: recursive descent over text[0..len), which need not be NUL-terminated, with the nesting
 * depth capped at GM_JSON_MAX_DEPTH so hostile input cannot exhaust the stack. Members of a
 * container are pushed onto the scratch stack while it is parsed (nested containers push above
 * them and pop their own when they finish) and copied once into exactly-sized arena arrays, so
 * arena use is linear in the document size: arena memory cannot be freed, and growing arrays
 * inside it would waste a quadratic amount.
 */
#define _GNU_SOURCE
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { JSON_INITIAL_CAP = 16384 };

/* ---- writer ---- */

/* Caller misuse (unbalanced containers, too deep): a bug in the harness, not a result. stderr
 * is unbuffered, so fprintf does not allocate. */
static void json_misuse(const char *what)
{
    fprintf(stderr, "gmbench: JSON writer misuse: %s\n", what);
    abort();
}

static void json_reserve(gm_json *j, size_t more)
{
    if (j->len + more < j->cap) return;
    size_t cap = j->cap ? j->cap : JSON_INITIAL_CAP;
    while (j->len + more >= cap) cap *= 2;
    j->buf = gm_remap(j->buf, j->cap, cap);
    j->cap = cap;
}

static void json_put(gm_json *j, const char *s, size_t n)
{
    json_reserve(j, n);
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void json_puts(gm_json *j, const char *s)
{
    json_put(j, s, strlen(s));
}

static void json_newline(gm_json *j, int depth)
{
    json_reserve(j, 1 + 2 * (size_t)depth);
    j->buf[j->len++] = '\n';
    memset(j->buf + j->len, ' ', 2 * (size_t)depth);
    j->len += 2 * (size_t)depth;
    j->buf[j->len] = '\0';
}

void gm_json_init(gm_json *j, bool pretty)
{
    memset(j, 0, sizeof *j);
    j->pretty = pretty;
    j->first[0] = true;
    j->cap = JSON_INITIAL_CAP;
    j->buf = gm_map(j->cap, 0); /* zeroed, so buf[0] == '\0' */
}

void gm_json_free(gm_json *j)
{
    gm_unmap(j->buf, j->cap);
    j->buf = NULL;
    j->len = j->cap = 0;
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 if it is not one. */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong */
        if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* A JSON string literal. Control characters are escaped (the common ones in their short form,
 * as JSON.stringify and Python's json do); well-formed UTF-8 passes through; a byte that is not
 * part of well-formed UTF-8 (a stray byte from /proc or an environment variable) becomes U+FFFD,
 * so the file stays valid JSON for any input. */
static void json_put_string(gm_json *j, const char *v, size_t n)
{
    const unsigned char *s = (const unsigned char *)v;
    json_reserve(j, n + 2);
    j->buf[j->len++] = '"';
    size_t i = 0;
    while (i < n) {
        /* Copy the longest run that needs no escape in one go. */
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\') run++;
        if (run > i) {
            json_put(j, v + i, run - i);
            i = run;
            continue;
        }
        unsigned c = s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            json_put(j, esc, 2);
        } else if (c < 0x20) {
            const char *shortform = c == '\n'   ? "\\n"
                                    : c == '\t' ? "\\t"
                                    : c == '\r' ? "\\r"
                                    : c == '\b' ? "\\b"
                                    : c == '\f' ? "\\f"
                                                : NULL;
            if (shortform)
                json_puts(j, shortform);
            else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                json_put(j, esc, 6);
            }
        } else {
            size_t len = json_utf8_len(s + i, n - i);
            if (len) {
                json_put(j, v + i, len);
                i += len;
                continue;
            }
            json_puts(j, "\xEF\xBF\xBD"); /* U+FFFD */
        }
        i++;
    }
    json_put(j, "\"", 1);
}

/* Separator, newline and key before a value; then the caller writes the value. */
static void json_prefix(gm_json *j, const char *key)
{
    if (!j->first[j->depth]) json_put(j, ",", 1);
    j->first[j->depth] = false;
    if (j->pretty && j->depth > 0) json_newline(j, j->depth);
    if (key) {
        json_put_string(j, key, strlen(key));
        json_puts(j, j->pretty ? ": " : ":");
    }
    j->after_key = false;
}

static void json_open(gm_json *j, const char *key, char c)
{
    if (j->depth + 1 >= GM_JSON_MAX_DEPTH)
        json_misuse("containers nested deeper than GM_JSON_MAX_DEPTH");
    json_prefix(j, key);
    json_put(j, &c, 1);
    j->depth++;
    j->first[j->depth] = true;
}

static void json_close(gm_json *j, char c)
{
    if (j->depth == 0)
        json_misuse(c == '}' ? "object_end without object_begin" : "array_end without begin");
    bool empty = j->first[j->depth];
    j->depth--;
    if (j->pretty && !empty) json_newline(j, j->depth);
    json_put(j, &c, 1);
}

void gm_json_object_begin(gm_json *j, const char *key)
{
    json_open(j, key, '{');
}

void gm_json_object_end(gm_json *j)
{
    json_close(j, '}');
}

void gm_json_array_begin(gm_json *j, const char *key)
{
    json_open(j, key, '[');
}

void gm_json_array_end(gm_json *j)
{
    json_close(j, ']');
}

void gm_json_str(gm_json *j, const char *key, const char *v)
{
    if (!v) {
        gm_json_null(j, key);
        return;
    }
    gm_json_strn(j, key, v, strlen(v));
}

void gm_json_strn(gm_json *j, const char *key, const char *v, size_t n)
{
    json_prefix(j, key);
    json_put_string(j, v, n);
}

void gm_json_u64(gm_json *j, const char *key, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    json_prefix(j, key);
    json_put(j, b, (size_t)n);
}

void gm_json_i64(gm_json *j, const char *key, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    json_prefix(j, key);
    json_put(j, b, (size_t)n);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as v (%.17g always does), so 0.1 prints
 * as 0.1 rather than 0.10000000000000001. Integral values below 2^64 print in full without an
 * exponent (1e17 as 100000000000000000): counts and byte totals stored as doubles stay
 * readable and greppable. */
static int json_format_double(char *b, size_t size, double v)
{
    if (v == floor(v) && fabs(v) < 0x1p64)
        return snprintf(b, size, "%.0f", v); /* -0.0 prints as -0, which JSON allows */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(b, size, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    return n;
}

void gm_json_num(gm_json *j, const char *key, double v)
{
    if (!isfinite(v)) {
        gm_json_null(j, key);
        return;
    }
    char b[40];
    int n = json_format_double(b, sizeof b, v);
    json_prefix(j, key);
    json_put(j, b, (size_t)n);
}

void gm_json_bool(gm_json *j, const char *key, bool v)
{
    json_prefix(j, key);
    json_puts(j, v ? "true" : "false");
}

void gm_json_null(gm_json *j, const char *key)
{
    json_prefix(j, key);
    json_puts(j, "null");
}

void gm_json_raw(gm_json *j, const char *key, const char *text, size_t n)
{
    json_prefix(j, key);
    json_put(j, text, n);
}

void gm_json_append(gm_json *j, const char *text, size_t n)
{
    json_put(j, text, n);
}

/* ---- files ---- */

static void json_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void json_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int json_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes the rename itself durable. Best effort: some filesystems refuse fsync on a directory,
 * and the file is already complete under its final name either way. */
static void json_fsync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int gm_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    /* The temporary file is in the target's directory, so rename(2) replaces the target in one
     * step (same filesystem): a reader sees the old file or the complete new one, never part. */
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        json_seterr(err, errlen, "%s: path too long", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        int e = errno;
        json_seterr(err, errlen, "open %s: %s", tmp, strerror(e));
        errno = e;
        return -1;
    }
    const char *step = NULL;
    if (json_write_all(fd, data, len) != 0)
        step = "write";
    else if (fsync(fd) != 0)
        step = "fsync";
    int e = errno;
    if (close(fd) != 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        e = errno;
    }
    if (step) {
        unlink(tmp);
        if (strcmp(step, "rename") == 0)
            json_seterr(err, errlen, "rename %s to %s: %s", tmp, path, strerror(e));
        else
            json_seterr(err, errlen, "%s %s: %s", step, tmp, strerror(e));
        errno = e;
        return -1;
    }
    json_fsync_dir(path);
    return 0;
}

char *gm_read_file(const char *path, size_t *lenp, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        json_seterr(err, errlen, "open %s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        json_seterr(err, errlen, "fstat %s: %s", path, strerror(e));
        close(fd);
        errno = e;
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        json_seterr(err, errlen, "read %s: %s", path, strerror(EISDIR));
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    /* st_size is a hint: /proc and pipes report 0, and a file may grow while it is read, so
     * read to end of file and grow the mapping as needed. */
    size_t cap = (st.st_size > 0 ? (size_t)st.st_size : 0) + 4096, len = 0;
    char *buf = gm_map(cap, 0);
    for (;;) {
        if (len + 1 >= cap) {
            buf = gm_remap(buf, cap, cap * 2);
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            json_seterr(err, errlen, "read %s: %s", path, strerror(e));
            close(fd);
            gm_unmap(buf, cap);
            errno = e;
            return NULL;
        }
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    /* Shrink to len + 1 so that gm_unmap(buf, len + 1) releases the whole mapping. */
    buf = gm_remap(buf, cap, len + 1);
    if (lenp) *lenp = len;
    return buf;
}

/* ---- reader ---- */

/* One member on the scratch stack: key is NULL for array elements. */
typedef struct json_slot {
    const char *key;
    gm_jval v;
} json_slot;

typedef struct json_parser {
    const char *s;
    size_t len, pos;
    gm_arena *arena;
    int depth;
    json_slot *stack; /* gm_map scratch, grown with gm_remap */
    size_t top, cap;  /* slots used, slots mapped */
    char *err;
    size_t errlen;
    bool failed;
} json_parser;

/* Records the first error only: callers unwind by returning false as soon as one is set. */
static bool json_fail(json_parser *p, size_t at, const char *what)
{
    if (!p->failed) {
        p->failed = true;
        json_seterr(p->err, p->errlen, "offset %zu: %s", at, what);
    }
    return false;
}

static void json_skip_ws(json_parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static void json_push(json_parser *p, const char *key, const gm_jval *v)
{
    if (p->top == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 1024;
        p->stack = gm_remap(p->stack, p->cap * sizeof(json_slot), ncap * sizeof(json_slot));
        p->cap = ncap;
    }
    p->stack[p->top].key = key;
    p->stack[p->top].v = *v;
    p->top++;
}

/* Moves slots [base, top) into arena arrays of exactly n members and pops them. */
static void json_pop_into(json_parser *p, size_t base, gm_jval *v, bool keys)
{
    size_t n = p->top - base;
    v->n = n;
    if (n == 0) return;
    v->items = gm_arena_alloc(p->arena, n * sizeof(gm_jval));
    if (keys) v->keys = gm_arena_alloc(p->arena, n * sizeof(const char *));
    for (size_t i = 0; i < n; i++) {
        v->items[i] = p->stack[base + i].v;
        if (keys) v->keys[i] = p->stack[base + i].key;
    }
    p->top = base;
}

static int json_hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t json_put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape sequence at s[*i] == '\\' (a full \uXXXX\uXXXX pair for astral characters),
 * decoded into o. Returns the bytes written, or 0 after recording an error. */
static size_t json_unescape(json_parser *p, size_t *i, char *o)
{
    const char *s = p->s;
    size_t at = *i;
    if (at + 1 >= p->len) return json_fail(p, at, "unterminated string");
    char c = s[at + 1];
    static const char names[] = "\"\\/bfnrt", values[] = "\"\\/\b\f\n\r\t";
    const char *simple = c != '\0' ? strchr(names, c) : NULL;
    if (simple) {
        o[0] = values[simple - names];
        *i = at + 2;
        return 1;
    }
    if (c != 'u') return json_fail(p, at, "invalid escape in string");
    int hi = at + 6 <= p->len ? json_hex4(s + at + 2) : -1;
    if (hi < 0) return json_fail(p, at, "invalid \\u escape");
    unsigned cp = (unsigned)hi;
    *i = at + 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return json_fail(p, at, "unpaired surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate must be followed by an escaped low one: together one character. */
        int lo =
            at + 12 <= p->len && s[at + 6] == '\\' && s[at + 7] == 'u' ? json_hex4(s + at + 8) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return json_fail(p, at, "unpaired surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
        *i = at + 12;
    }
    return json_put_utf8(o, cp);
}

/* A string starting at the opening quote at p->pos; *out and *outlen get the unescaped,
 * NUL-terminated text in the arena. */
static bool json_parse_string(json_parser *p, const char **out, size_t *outlen)
{
    const char *s = p->s;
    size_t start = p->pos + 1, end = start;
    /* First find the closing quote, to size the output: unescaping only ever shrinks text
     * (\uXXXX is 6 bytes for at most 3, a surrogate pair 12 for 4). */
    while (end < p->len && s[end] != '"') end += s[end] == '\\' ? 2 : 1;
    if (end >= p->len) return json_fail(p, p->pos, "unterminated string");
    char *o = gm_arena_alloc(p->arena, end - start + 1);
    size_t n = 0, i = start;
    while (i < end) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            size_t w = json_unescape(p, &i, o + n);
            if (w == 0) return false;
            n += w;
        } else if (c < 0x20) {
            return json_fail(p, i, "control character in string");
        } else {
            size_t w = json_utf8_len((const unsigned char *)s + i, end - i);
            if (w == 0) return json_fail(p, i, "invalid UTF-8 in string");
            memcpy(o + n, s + i, w);
            n += w;
            i += w;
        }
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    p->pos = end + 1;
    return true;
}

static bool json_is_digit(json_parser *p, size_t i)
{
    return i < p->len && p->s[i] >= '0' && p->s[i] <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? checked first, then converted by strtod
 * (which would also accept hex, inf, nan and leading '+', none of them JSON). */
static bool json_parse_number(json_parser *p, gm_jval *v)
{
    size_t i = p->pos;
    if (i < p->len && p->s[i] == '-') i++;
    if (!json_is_digit(p, i)) return json_fail(p, i, "invalid number: expected a digit");
    if (p->s[i] == '0')
        i++;
    else
        while (json_is_digit(p, i)) i++;
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (!json_is_digit(p, i))
            return json_fail(p, i, "invalid number: expected a digit after '.'");
        while (json_is_digit(p, i)) i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (!json_is_digit(p, i))
            return json_fail(p, i, "invalid number: expected a digit in the exponent");
        while (json_is_digit(p, i)) i++;
    }
    /* strtod needs a NUL-terminated copy: the input need not be terminated, and the byte after
     * the number may be another digit of a longer text. */
    size_t n = i - p->pos;
    char small[64];
    char *copy = n < sizeof small ? small : gm_arena_alloc(p->arena, n + 1);
    memcpy(copy, p->s + p->pos, n);
    copy[n] = '\0';
    errno = 0;
    v->num = strtod(copy, NULL);
    if (errno == ERANGE && isinf(v->num)) return json_fail(p, p->pos, "number out of range");
    v->type = GM_JNUM;
    p->pos = i;
    return true;
}

static bool json_parse_literal(json_parser *p, gm_jval *v)
{
    static const struct {
        const char *word;
        gm_jtype type;
        bool b;
    } lits[] = {{"true", GM_JBOOL, true}, {"false", GM_JBOOL, false}, {"null", GM_JNULL, false}};
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k].word);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, lits[k].word, n) == 0) {
            v->type = lits[k].type;
            v->b = lits[k].b;
            p->pos += n;
            return true;
        }
    }
    return json_fail(p, p->pos, "expected a value");
}

static bool json_parse_value(json_parser *p, gm_jval *v);

static bool json_parse_array(json_parser *p, gm_jval *v)
{
    size_t base = p->top;
    v->type = GM_JARR;
    p->pos++; /* '[' */
    json_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return true;
    }
    for (;;) {
        gm_jval item;
        if (!json_parse_value(p, &item)) return false;
        json_push(p, NULL, &item);
        json_skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            break;
        }
        return json_fail(p, p->pos, "expected ',' or ']' in array");
    }
    json_pop_into(p, base, v, false);
    return true;
}

static bool json_parse_object(json_parser *p, gm_jval *v)
{
    size_t base = p->top;
    v->type = GM_JOBJ;
    p->pos++; /* '{' */
    json_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return true;
    }
    for (;;) {
        json_skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return json_fail(p, p->pos, "expected a string key in object");
        const char *key;
        size_t keylen;
        if (!json_parse_string(p, &key, &keylen)) return false;
        json_skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return json_fail(p, p->pos, "expected ':' after object key");
        p->pos++;
        gm_jval item;
        if (!json_parse_value(p, &item)) return false;
        json_push(p, key, &item);
        json_skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            break;
        }
        return json_fail(p, p->pos, "expected ',' or '}' in object");
    }
    json_pop_into(p, base, v, true);
    return true;
}

static bool json_parse_value(json_parser *p, gm_jval *v)
{
    memset(v, 0, sizeof *v);
    json_skip_ws(p);
    if (p->pos >= p->len) return json_fail(p, p->pos, "expected a value");
    size_t start = p->pos;
    char c = p->s[start];
    bool ok;
    if (c == '{' || c == '[') {
        if (p->depth >= GM_JSON_MAX_DEPTH)
            return json_fail(p, start, "nesting deeper than GM_JSON_MAX_DEPTH (64)");
        p->depth++;
        ok = c == '{' ? json_parse_object(p, v) : json_parse_array(p, v);
        p->depth--;
    } else if (c == '"') {
        v->type = GM_JSTR;
        ok = json_parse_string(p, &v->str, &v->n);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        ok = json_parse_number(p, v);
    } else {
        ok = json_parse_literal(p, v);
    }
    v->raw = p->s + start;
    v->rawlen = p->pos - start;
    return ok;
}

gm_jval *gm_json_parse(gm_arena *a, const char *text, size_t len, char *err, size_t errlen)
{
    json_parser p = {.s = text, .len = len, .arena = a, .err = err, .errlen = errlen};
    gm_jval *root = gm_arena_alloc(a, sizeof *root);
    bool ok = json_parse_value(&p, root);
    if (ok) {
        json_skip_ws(&p);
        if (p.pos != p.len) ok = json_fail(&p, p.pos, "trailing characters after the value");
    }
    gm_unmap(p.stack, p.cap * sizeof(json_slot));
    return ok ? root : NULL;
}

const gm_jval *gm_json_get(const gm_jval *v, const char *path)
{
    /* Each dot-separated segment names an object member. With duplicate keys the last one wins,
     * as in JavaScript and Python. */
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t seg = dot ? (size_t)(dot - path) : strlen(path);
        if (v->type != GM_JOBJ) return NULL;
        const gm_jval *found = NULL;
        for (size_t i = v->n; i-- > 0;) {
            if (strncmp(v->keys[i], path, seg) == 0 && v->keys[i][seg] == '\0') {
                found = &v->items[i];
                break;
            }
        }
        v = found;
        path = dot ? dot + 1 : path + seg;
    }
    return v;
}

double gm_json_get_num(const gm_jval *v, const char *path, double def)
{
    const gm_jval *x = gm_json_get(v, path);
    return x && x->type == GM_JNUM ? x->num : def;
}

const char *gm_json_get_str(const gm_jval *v, const char *path, const char *def)
{
    const gm_jval *x = gm_json_get(v, path);
    return x && x->type == GM_JSTR ? x->str : def;
}
