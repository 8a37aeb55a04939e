/*
 * import_go.c — gm_import_go: a Go 1.19 GODEBUG=allocfreetrace=1 log as a trace.
 *
 * The format (go-runtime-reference.md section 9, mprof.go:1229-1283): the runtime prints, under
 * one lock, to stderr:
 *
 *   tracealloc(0xc000016010, 0x10[, TYPE])     allocation: address, rounded size, type
 *   goroutine 1 [running]:                     the goroutine header
 *   runtime.mallocgc(0x5, 0x0, 0x0)            a traceback, two lines per frame, runtime
 *   \t/usr/lib/go-1.19/src/.../malloc.go:1131 +0x7b1 fp=... sp=... pc=...   frames included
 *   main.build(...)
 *   \t...
 *   <blank line>
 *
 *   tracefree(0xc000014008, 0x8)               the sweeper freed a dead object
 *   goroutine ... + traceback + blank line
 *
 *   tracegc() <blank> [goroutine header + traceback + blank]... end tracegc <blank>
 *
 * How the records are made (the log carries less than a trace can say; these are the rules):
 * - Size. The printed size is the rounded one (0x10 for a tiny block, the class size, or
 *   npages*8192). When the traceback starts at runtime.mallocgc (mallocgc ran on the
 *   goroutine's stack: nearly always), its first argument is the requested size and is used,
 *   so replaying through gm_alloc rounds it again exactly as Go did. Otherwise (mallocgc ran on
 *   the system stack and the traceback shows the user stack from runtime.systemstack_switch),
 *   or when the argument is marked unreliable ("0x5?") or exceeds the printed size, the
 *   printed rounded size is used.
 * - Tiny allocations. Only the allocation that opens a 16-byte tiny block is traced (printed
 *   size 0x10, request under 16); the later ones packed into the block are not in the log, and
 *   the block's tracefree frees the block. So the record is the block: a 16-byte pointer-free
 *   allocation (which no allocator packs into a shared block: Go's tiny allocator takes only
 *   requests under 16), one per traced block, live exactly as long as the block. Replaying the
 *   first request instead would let the replaying allocator pack several traced blocks into
 *   one and keep each alive as long as its longest-lived member. A tiny-heavy program thus
 *   imports with fewer, larger objects than it made. A request of 9..15 bytes printed as 0x10
 *   may also be an ordinary 16-byte object with pointers; it gets 16 bytes and keeps its scan
 *   flag either way.
 * - Scan (GM_OPF_SCAN). The log has a type name, not the type's pointer data, so the flag is
 *   judged from the name: no type (raw allocations: growslice of pointer-free elements,
 *   strings, []byte conversions) is noscan; a pointer-free basic type (bool, intN, uintN, int,
 *   uint, uintptr, floatN, complexN; Go prints byte and rune as uint8 and int32) or a fixed
 *   array of one ([4]uint8, [2][3]float64) is noscan (makeslice prints the element type, so
 *   make([]byte, n) reads uint8); every other type is scan. Limits: a named type whose
 *   underlying type is pointer-free (time.Duration, a struct of ints) is imported as scan,
 *   since the log does not say what it is made of.
 * - Zero (GM_OPF_ZERO). mallocgc's third argument, needzero, when the traceback starts at
 *   mallocgc; otherwise set for typed allocations (newobject, makeslice and the typed
 *   growslice all pass true) and clear for untyped ones.
 * - Call site. The name of the first frame outside package runtime (runtime/... included),
 *   e.g. main.build or strconv.Itoa; for stacks entirely inside the runtime (bootstrap, the GC
 *   workers), the first runtime frame that is not an allocation entry point (mallocgc,
 *   newobject, makeslice, growslice, ...), e.g. runtime.procresize. Sites are deduplicated by
 *   name. Frees carry no site (the sweeper is not a call site).
 * - Threads. Goroutines are not threads, and allocfreetrace serialises every record under one
 *   lock, so the log has one global order and no thread identity worth keeping: everything
 *   goes to one trace thread, "go".
 * - GC. Each tracegc() ... end tracegc block is one GM_TR_MARK (GM_TR_MARK_GC) record; the
 *   frees of that cycle follow it in the log and in the trace.
 * - Frees come from the sweeper and name the object's address; a free of an address with no
 *   live allocation (allocated before the log starts, or a log cut at the front) is counted
 *   and dropped. Objects never swept again are never freed in the trace.
 *
 * Tolerance: lines outside records (program output on the same stderr, even glued in front
 * of "tracealloc(" on one line) and unrecognised lines inside a traceback are skipped and
 * counted. A malformed header (bad hexadecimal, missing fields), a record that runs into the
 * next one or into the end of the log, a record line longer than the line buffer, or a tracegc
 * block without "end tracegc" is an error naming the line.
 */
#define _GNU_SOURCE /* memrchr */
#include <stdio.h>
#include <string.h>

#include "import_internal.h"

enum { GO_NAME_MAX = 512 };  /* site names longer than this are cut */
enum { GO_TINY_BLOCK = 16 }; /* maxTinySize: a tiny block's printed size */

typedef enum go_state {
    GO_TOP,      /* between records */
    GO_HEADER,   /* after tracealloc/tracefree: expecting "goroutine N [...]:" */
    GO_FRAMES,   /* in the traceback, until the blank line */
    GO_GC,       /* inside tracegc() ... end tracegc */
    GO_AFTER_GC, /* after end tracegc: one blank line belongs to the block */
} go_state;

/* The record being read. */
typedef struct go_rec {
    bool is_alloc;
    uint64_t line; /* of its tracealloc/tracefree line */
    uint64_t addr, size;
    bool typed, noscan_type;
    unsigned nframes;
    bool have_req; /* mallocgc's arguments were read */
    uint64_t req;
    int needzero; /* 0, 1, or -1 unknown */
    bool user_site;
    size_t site_len;
    char site[GO_NAME_MAX];
} go_rec;

/* ---- the type rule -------------------------------------------------------------------------- */

static bool go_type_pointer_free(const char *t, size_t len)
{
    static const char *const basic[] = {
        "bool",  "int",    "int8",      "int16",      "int32",   "int64",   "uint",
        "uint8", "uint16", "uint32",    "uint64",     "uintptr", "float32", "float64",
        "byte",  "rune",   "complex64", "complex128", NULL,
    };
    /* Fixed arrays of a pointer-free type: [N]T. ([]T is a slice header: a pointer.) */
    while (len > 2 && t[0] == '[' && t[1] >= '0' && t[1] <= '9') {
        size_t i = 1;
        while (i < len && t[i] >= '0' && t[i] <= '9') i++;
        if (i >= len || t[i] != ']') return false;
        t += i + 1;
        len -= i + 1;
    }
    for (unsigned i = 0; basic[i]; i++)
        if (strlen(basic[i]) == len && memcmp(basic[i], t, len) == 0) return true;
    return false;
}

/* ---- frames --------------------------------------------------------------------------------- */

/* A function of package runtime or of one under it (runtime/internal/atomic.Load): its
 * qualified name starts with "runtime." or "runtime/"; no other import path can. */
static bool go_in_runtime(const char *name, size_t len)
{
    return (len > 8 && memcmp(name, "runtime.", 8) == 0) ||
           (len > 8 && memcmp(name, "runtime/", 8) == 0);
}

/* Runtime functions that only pass an allocation through: never a fallback site. */
static bool go_alloc_entry(const char *name, size_t len)
{
    static const char *const entry[] = {
        "runtime.mallocgc",      "runtime.newobject",
        "runtime.newarray",      "runtime.makeslice",
        "runtime.makeslicecopy", "runtime.growslice",
        "runtime.makemap",       "runtime.makemap_small",
        "runtime.makechan",      "runtime.rawstring",
        "runtime.rawbyteslice",  "runtime.rawruneslice",
        "runtime.systemstack",   "runtime.systemstack_switch",
        "runtime.mcall",         NULL,
    };
    for (unsigned i = 0; entry[i]; i++)
        if (strlen(entry[i]) == len && memcmp(entry[i], name, len) == 0) return true;
    return false;
}

/* One argument of mallocgc's frame: hex, then an optional '?' (value may be stale). */
static bool go_parse_arg(const char **p, uint64_t *v, bool *exact)
{
    if (!gm_imp_parse_hex(p, v)) return false;
    *exact = **p != '?';
    if (!*exact) (*p)++;
    return true;
}

/* runtime.mallocgc(SIZE, TYPE, NEEDZERO): the request and needzero, when readable. */
static void go_read_mallocgc(go_rec *r, const char *args)
{
    const char *p = args;
    uint64_t size, typ, zero;
    bool size_exact, typ_exact, zero_exact;
    if (!go_parse_arg(&p, &size, &size_exact) || strncmp(p, ", ", 2) != 0) return;
    p += 2;
    if (!go_parse_arg(&p, &typ, &typ_exact) || strncmp(p, ", ", 2) != 0) return;
    p += 2;
    if (!go_parse_arg(&p, &zero, &zero_exact) || strcmp(p, ")") != 0) return;
    if (size_exact && size > 0 && size <= r->size) {
        r->have_req = true;
        r->req = size;
    }
    if (zero_exact && zero <= 1) r->needzero = (int)zero;
}

static void go_set_site(go_rec *r, const char *name, size_t len)
{
    if (len >= GO_NAME_MAX) len = GO_NAME_MAX - 1;
    memcpy(r->site, name, len);
    r->site[len] = '\0';
    r->site_len = len;
}

/* A line inside a traceback. Returns false when it is not part of one (skipped). */
static bool go_frame_line(go_rec *r, const char *line, size_t len)
{
    if (line[0] == '\t' || strncmp(line, "created by ", 11) == 0 || strncmp(line, "...", 3) == 0 ||
        strncmp(line, "goroutine ", 10) == 0)
        return true;
    const char *open = memrchr(line, '(', len);
    if (!open || open == line || line[len - 1] != ')') return false;
    size_t nlen = (size_t)(open - line);
    if (r->nframes++ == 0 && nlen == 16 && memcmp(line, "runtime.mallocgc", 16) == 0)
        go_read_mallocgc(r, open + 1);
    if (r->user_site) return true;
    if (!go_in_runtime(line, nlen)) {
        go_set_site(r, line, nlen);
        r->user_site = true;
    } else if (r->site_len == 0 && !go_alloc_entry(line, nlen)) {
        go_set_site(r, line, nlen);
    }
    return true;
}

/* ---- records ------------------------------------------------------------------------------- */

/* "tracealloc(0xADDR, 0xSIZE)" or "tracealloc(0xADDR, 0xSIZE, TYPE)"; p after the '('. */
static bool go_parse_alloc(go_rec *r, const char *p, const char *end)
{
    if (!gm_imp_parse_hex(&p, &r->addr) || strncmp(p, ", ", 2) != 0) return false;
    p += 2;
    if (!gm_imp_parse_hex(&p, &r->size)) return false;
    if (strcmp(p, ")") == 0) return true;
    if (strncmp(p, ", ", 2) != 0 || end - p < 4 || end[-1] != ')') return false;
    r->typed = true;
    r->noscan_type = go_type_pointer_free(p + 2, (size_t)(end - 1 - (p + 2)));
    return true;
}

static bool go_parse_free(go_rec *r, const char *p)
{
    if (!gm_imp_parse_hex(&p, &r->addr) || strncmp(p, ", ", 2) != 0) return false;
    p += 2;
    return gm_imp_parse_hex(&p, &r->size) && strcmp(p, ")") == 0;
}

static void go_emit(gm_importer *im, const go_rec *r)
{
    if (!r->is_alloc) {
        gm_importer_free(im, r->addr, GM_TRACE_NO_SITE);
        return;
    }
    uint8_t flags = 0;
    if (r->typed && !r->noscan_type) flags |= GM_OPF_SCAN;
    if (r->needzero == 1 || (r->needzero < 0 && r->typed)) flags |= GM_OPF_ZERO;
    uint32_t site = gm_importer_site(im, r->site, r->site_len);
    uint64_t size = r->have_req ? r->req : r->size;
    if (r->size == GO_TINY_BLOCK && size < GO_TINY_BLOCK) { /* a tiny block: see the top */
        if (size <= 8) flags &= (uint8_t)~GM_OPF_SCAN;      /* an 8-byte scan object prints 0x8 */
        size = GO_TINY_BLOCK;
    }
    gm_importer_alloc(im, r->addr, size, flags, site);
}

typedef enum go_start { GO_NONE, GO_ALLOC, GO_FREE, GO_GCSTART } go_start;

/* Which record a line opens, and where its text starts: at the start of the line, or after
 * program output written without a newline. An occurrence right after a '.' is a function
 * name in a traceback (runtime.tracegc(), main.tracefree(...)), not a record; "tracegc()"
 * must end the line. */
static go_start go_record_start(const char *line, const char **at)
{
    static const struct {
        const char *text;
        go_start kind;
    } starts[] = {{"tracealloc(", GO_ALLOC}, {"tracefree(", GO_FREE}, {"tracegc()", GO_GCSTART}};
    if (line[0] == '\t') return GO_NONE; /* a traceback's file:line */
    for (unsigned i = 0; i < 3; i++) {
        const char *s = strstr(line, starts[i].text);
        while (s && s > line && s[-1] == '.') s = strstr(s + 1, starts[i].text);
        if (!s || (starts[i].kind == GO_GCSTART && strcmp(s, "tracegc()") != 0)) continue;
        *at = s;
        return starts[i].kind;
    }
    return GO_NONE;
}

static const char *go_kind_name(const go_rec *r)
{
    return r->is_alloc ? "tracealloc" : "tracefree";
}

/* ---- the state machine ---------------------------------------------------------------------- */

typedef struct go_parser {
    gm_importer *im;
    go_state state;
    go_rec rec;
    uint64_t gc_line; /* line of the open tracegc() */
} go_parser;

/* A line between records. */
static int go_top_line(go_parser *ps, char *line, size_t len, bool truncated)
{
    gm_importer *im = ps->im;
    uint64_t ln = im->lr.lineno;
    const char *at;
    go_start k = go_record_start(line, &at);
    if (k == GO_NONE) {
        im->st.skipped_lines++;
        return 0;
    }
    if (truncated)
        return gm_importer_fail(im, ln, "record line longer than %zu bytes",
                                (size_t)GM_LINEREADER_MAX_LINE);
    if (at != line) im->st.skipped_lines++; /* program output glued in front */
    if (k == GO_GCSTART) {
        ps->state = GO_GC;
        ps->gc_line = ln;
        return 0;
    }
    go_rec *r = &ps->rec;
    memset(r, 0, sizeof *r);
    r->is_alloc = k == GO_ALLOC;
    r->line = ln;
    r->needzero = -1;
    const char *args = strchr(at, '(') + 1;
    bool ok = r->is_alloc ? go_parse_alloc(r, args, line + len) : go_parse_free(r, args);
    if (!ok || !gm_imp_addr_ok(r->addr)) {
        char ex[80];
        return gm_importer_fail(im, ln, "malformed %s record '%s' (expected %s)", go_kind_name(r),
                                gm_imp_excerpt(at, ex, sizeof ex),
                                r->is_alloc ? "tracealloc(0xADDR, 0xSIZE[, TYPE])"
                                            : "tracefree(0xADDR, 0xSIZE)");
    }
    ps->state = GO_HEADER;
    return 0;
}

/* A line inside a tracealloc/tracefree record. */
static int go_record_line(go_parser *ps, char *line, size_t len, bool truncated)
{
    gm_importer *im = ps->im;
    go_rec *r = &ps->rec;
    uint64_t ln = im->lr.lineno;
    const char *at;
    if (truncated)
        return gm_importer_fail(im, ln, "record line longer than %zu bytes",
                                (size_t)GM_LINEREADER_MAX_LINE);
    if (len == 0) {
        if (ps->state == GO_HEADER)
            return gm_importer_fail(im, r->line, "%s record has no goroutine header and traceback",
                                    go_kind_name(r));
        go_emit(im, r);
        ps->state = GO_TOP;
        return 0;
    }
    if (go_record_start(line, &at) != GO_NONE)
        return gm_importer_fail(im, r->line,
                                "%s record is not ended by a blank line before the "
                                "next record at line %llu",
                                go_kind_name(r), (unsigned long long)ln);
    if (ps->state == GO_HEADER) {
        if (strncmp(line, "goroutine ", 10) == 0)
            ps->state = GO_FRAMES;
        else
            im->st.skipped_lines++;
        return 0;
    }
    if (!go_frame_line(r, line, len)) im->st.skipped_lines++;
    return 0;
}

/* A line inside tracegc() ... end tracegc (tracebacks of every goroutine: not parsed). */
static int go_gc_line(go_parser *ps, char *line)
{
    gm_importer *im = ps->im;
    const char *at;
    if (strcmp(line, "end tracegc") == 0) {
        gm_importer_mark(im, GM_TR_MARK_GC);
        ps->state = GO_AFTER_GC;
        return 0;
    }
    if (go_record_start(line, &at) != GO_NONE)
        return gm_importer_fail(im, ps->gc_line,
                                "tracegc block has no 'end tracegc' before the "
                                "record at line %llu",
                                (unsigned long long)im->lr.lineno);
    return 0;
}

static int go_parse(go_parser *ps)
{
    gm_importer *im = ps->im;
    char *line;
    size_t len;
    bool truncated;
    int rc;
    while ((rc = gm_importer_next_line(im, &line, &len, &truncated)) > 0) {
        switch (ps->state) {
        case GO_AFTER_GC:
            ps->state = GO_TOP;
            if (len == 0) break;
            /* The blank line was missing: this line is between records. */
            __attribute__((fallthrough));
        case GO_TOP:
            rc = go_top_line(ps, line, len, truncated);
            break;
        case GO_HEADER:
        case GO_FRAMES:
            rc = go_record_line(ps, line, len, truncated);
            break;
        case GO_GC:
            rc = go_gc_line(ps, line);
            break;
        }
        if (rc < 0) return -1;
    }
    if (rc < 0) return -1;
    if (ps->state == GO_HEADER || ps->state == GO_FRAMES)
        return gm_importer_fail(im, ps->rec.line, "%s record is cut off by the end of the log",
                                go_kind_name(&ps->rec));
    if (ps->state == GO_GC)
        return gm_importer_fail(im, ps->gc_line,
                                "tracegc block is cut off by the end of the log "
                                "(no 'end tracegc')");
    return 0;
}

int gm_import_go(const char *log_path, const char *trace_path, gm_import_stats *st, char *err,
                 size_t errlen)
{
    gm_importer im;
    if (gm_importer_open(&im, log_path, trace_path, "import go", "go", err, errlen) < 0) {
        if (st) memset(st, 0, sizeof *st);
        return -1;
    }
    go_parser ps = {.im = &im, .state = GO_TOP};
    int rc = go_parse(&ps);
    return gm_importer_close(&im, rc == 0, st);
}
