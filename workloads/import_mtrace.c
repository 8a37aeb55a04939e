/*
 * import_mtrace.c — gm_import_mtrace: a glibc mtrace() log (MALLOC_TRACE) as a trace.
 *
 * What glibc 2.36 writes (malloc/mtrace-impl.c; checked against real output, see
 * tests/data/import/README.md), one call per line:
 *
 *   = Start                                       mtrace() began tracing
 *   @ CALLER + 0xPTR 0xSIZE                       malloc, calloc, memalign, posix_memalign,
 *                                                 aligned_alloc, valloc, realloc(NULL, n)
 *   @ CALLER - 0xPTR                              free(p) (free(NULL) is not logged), and
 *                                                 realloc(p, 0), which frees p
 *   @ CALLER < 0xOLD                              realloc(p, n) that succeeded: two lines,
 *   @ CALLER > 0xNEW 0xSIZE                       always together (written under one lock)
 *   @ CALLER ! 0xOLD 0xSIZE                       realloc that failed (p unchanged)
 *   = End                                         muntrace()
 *
 * CALLER is "FILE:(SYMBOL+OFFSET)[0xADDR]" when dladdr names a symbol, "FILE:[0xADDR]"
 * (ADDR relative to the object's load address) when it does not, or "[0xADDR]" when dladdr
 * fails; "@ CALLER " is missing altogether when the caller is unknown. A failed allocation
 * prints "(nil)" as the pointer; a zero size prints "0" (%#lx).
 *
 * How the records are made:
 * - Sizes are the requested sizes, as logged. The log does not say which function was called,
 *   so calloc is not marked GM_OPF_ZERO and the memalign family carries no alignment: every
 *   '+' is a plain malloc of its size. There are no types: nothing is GM_OPF_SCAN.
 * - '<' '>' is one GM_TR_REALLOC of the object at OLD, which then lives at NEW. An OLD with no
 *   live object (allocated before tracing) is counted unmatched and imported as an allocation.
 * - Call site: "SYMBOL+OFFSET" when the caller names one (e.g. "__strdup+1a": the allocation
 *   came from inside that libc function), else the caller text itself ("./prog:[0x11fb]",
 *   "[0x7f...]"). Sites are deduplicated by name; frees carry the site of the free's caller.
 * - Threads: mtrace records no thread, so everything is on one trace thread, "mtrace".
 * - '= Start' / '= End' pairs (tracing switched on and off) write nothing; a free whose
 *   allocation happened while tracing was off is counted unmatched, and an allocation at an
 *   address still live in the log frees the old object first (st.implicit_frees).
 * - Failed calls ('+ (nil)', '!') change nothing and are counted in st.failed.
 *
 * Tolerance: lines that start with neither "@ ", an operation, nor "= " are skipped and
 * counted. A line that starts like a record but does not parse (bad hexadecimal, missing
 * fields, an unknown operation), a '<' not followed by its '>', or a '>' without a '<' is an
 * error naming the line.
 */
#define _GNU_SOURCE /* memrchr */
#include <stdio.h>
#include <string.h>

#include "import_internal.h"

typedef struct mt_rec {
    char op;  /* + - < > ! */
    bool nil; /* the pointer was "(nil)" */
    uint64_t ptr, size;
    const char *caller; /* NULL: no caller */
    size_t caller_len;
} mt_rec;

typedef struct mt_parser {
    gm_importer *im;
    bool pending;     /* a '<' was read; its '>' must be the next line */
    uint64_t lt_line; /* line of that '<' */
    uint64_t lt_ptr;
} mt_parser;

/* The last space-separated token of [b, *e): moves *e before it; NULL when there is none. */
static const char *mt_last_token(const char *b, const char **e, size_t *len)
{
    const char *p = *e;
    while (p > b && p[-1] == ' ') p--;
    const char *end = p;
    while (p > b && p[-1] != ' ') p--;
    if (p == end) return NULL;
    *len = (size_t)(end - p);
    *e = p;
    return p;
}

static bool mt_parse_ptr(const char *t, size_t len, uint64_t *v, bool *nil)
{
    *nil = len == 5 && memcmp(t, "(nil)", 5) == 0;
    if (*nil) {
        *v = 0;
        return true;
    }
    const char *p = t;
    return gm_imp_parse_hex(&p, v) && p == t + len && gm_imp_addr_ok(*v);
}

static bool mt_parse_size(const char *t, size_t len, uint64_t *v)
{
    if (len == 1 && t[0] == '0') { /* %#lx prints 0 without its 0x */
        *v = 0;
        return true;
    }
    const char *p = t;
    return gm_imp_parse_hex(&p, v) && p == t + len;
}

static bool mt_is_op(const char *t, size_t len, const char *ops)
{
    return len == 1 && strchr(ops, t[0]) != NULL;
}

/* Splits "[@ CALLER ]OP PTR[ SIZE]" from the right, so that a caller path with spaces still
 * parses. false: malformed. */
static bool mt_parse_line(const char *line, size_t len, mt_rec *r)
{
    const char *b = line, *e = line + len;
    if (line[0] == '@') b = line + 1;
    size_t l1, l2, l3 = 0;
    const char *t1 = mt_last_token(b, &e, &l1);
    const char *t2 = t1 ? mt_last_token(b, &e, &l2) : NULL;
    if (!t2) return false;
    const char *after = e;
    const char *t3 = mt_last_token(b, &after, &l3);
    if (t3 && mt_is_op(t3, l3, "+>!")) { /* OP PTR SIZE */
        r->op = t3[0];
        if (!mt_parse_ptr(t2, l2, &r->ptr, &r->nil) || !mt_parse_size(t1, l1, &r->size))
            return false;
        e = after;
    } else if (mt_is_op(t2, l2, "-<")) { /* OP PTR */
        r->op = t2[0];
        if (!mt_parse_ptr(t1, l1, &r->ptr, &r->nil)) return false;
    } else {
        return false;
    }
    /* What is left before the operation is the caller: "@ CALLER" or nothing. */
    while (e > b && e[-1] == ' ') e--;
    while (b < e && *b == ' ') b++;
    if (line[0] == '@' && b == e) return false;
    if (line[0] != '@' && b != e) return false;
    r->caller = b == e ? NULL : b;
    r->caller_len = (size_t)(e - b);
    return true;
}

/* "FILE:(SYMBOL+OFF)[0xADDR]" → "SYMBOL+OFF"; any other caller is its own name. */
static uint32_t mt_site(gm_importer *im, const mt_rec *r)
{
    if (!r->caller) return GM_TRACE_NO_SITE;
    const char *c = r->caller;
    size_t n = r->caller_len;
    const char *br = n > 2 && c[n - 1] == ']' ? memrchr(c, '[', n) : NULL;
    if (br && br > c && br[-1] == ')') {
        const char *open = br - 1;
        while (open > c && *open != '(') open--;
        if (*open == '(' && br - 1 - (open + 1) > 0)
            return gm_importer_site(im, open + 1, (size_t)(br - 1 - (open + 1)));
    }
    return gm_importer_site(im, c, n);
}

static int mt_record(mt_parser *ps, const mt_rec *r, uint64_t ln)
{
    gm_importer *im = ps->im;
    if (ps->pending && r->op != '>')
        return gm_importer_fail(im, ps->lt_line, "realloc '<' is not followed by its '>' line");
    switch (r->op) {
    case '+':
        if (r->nil)
            im->st.failed++;
        else
            gm_importer_alloc(im, r->ptr, r->size, 0, mt_site(im, r));
        break;
    case '-':
        if (!r->nil) gm_importer_free(im, r->ptr, mt_site(im, r));
        break;
    case '!':
        im->st.failed++;
        break;
    case '<':
        if (r->nil) return gm_importer_fail(im, ln, "realloc '<' of (nil)");
        ps->pending = true;
        ps->lt_line = ln;
        ps->lt_ptr = r->ptr;
        break;
    case '>':
        if (!ps->pending)
            return gm_importer_fail(im, ln, "realloc '>' without a '<' line before it");
        if (r->nil) return gm_importer_fail(im, ln, "realloc '>' to (nil)");
        ps->pending = false;
        gm_importer_realloc(im, ps->lt_ptr, r->ptr, r->size, mt_site(im, r));
        break;
    }
    return 0;
}

static bool mt_looks_like_record(const char *line, size_t len)
{
    if (len >= 2 && line[0] == '@' && line[1] == ' ') return true;
    return len >= 2 && strchr("+-<>!", line[0]) && line[1] == ' ';
}

static int mt_parse(mt_parser *ps)
{
    gm_importer *im = ps->im;
    char *line;
    size_t len;
    bool truncated;
    int rc;
    while ((rc = gm_importer_next_line(im, &line, &len, &truncated)) > 0) {
        uint64_t ln = im->lr.lineno;
        if (len > 0 && line[0] == '=' &&
            (strcmp(line, "= Start") == 0 || strcmp(line, "= End") == 0)) {
            if (ps->pending)
                return gm_importer_fail(im, ps->lt_line,
                                        "realloc '<' is not followed by its '>' line");
            continue;
        }
        if (!mt_looks_like_record(line, len)) {
            if (ps->pending)
                return gm_importer_fail(im, ps->lt_line,
                                        "realloc '<' is not followed by its '>' line");
            im->st.skipped_lines++;
            continue;
        }
        mt_rec r = {0};
        if (truncated || !mt_parse_line(line, len, &r)) {
            char ex[80];
            return gm_importer_fail(im, ln,
                                    "malformed mtrace record '%s' (expected '@ CALLER "
                                    "OP 0xPTR [0xSIZE]' with OP one of + - < > !)",
                                    gm_imp_excerpt(line, ex, sizeof ex));
        }
        if (mt_record(ps, &r, ln) < 0) return -1;
    }
    if (rc < 0) return -1;
    if (ps->pending)
        return gm_importer_fail(im, ps->lt_line,
                                "realloc '<' is cut off by the end of the log (no '>' line)");
    return 0;
}

int gm_import_mtrace(const char *log_path, const char *trace_path, gm_import_stats *st, char *err,
                     size_t errlen)
{
    gm_importer im;
    if (gm_importer_open(&im, log_path, trace_path, "import mtrace", "mtrace", err, errlen) < 0) {
        if (st) memset(st, 0, sizeof *st);
        return -1;
    }
    mt_parser ps = {.im = &im};
    int rc = mt_parse(&ps);
    return gm_importer_close(&im, rc == 0, st);
}
