/*
 * fidelity.c — gmbench fidelity: the Go model against the real Go 1.19 runtime, from one run
 * of a Go program under GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1 (scripts/fidelity.sh
 * makes the runs; reference §6, §9).
 *
 *   gmbench fidelity LOG [--gogc N] [--name NAME] [--json FILE] [--keep-trace FILE] [--check]
 *
 * What the log says about the real runtime (one scan of it):
 *   - every allocation: address and rounded size (tracealloc);
 *   - each GC cycle's start (gcpacertrace's "assist ratio" line, printed by gcStart right after
 *     the allocation that crossed the trigger), its mark (tracegc), and its pacer summary
 *     ("in <heapLive at the trigger> B -> <heapLive at mark termination> B (∆goal D)": the goal
 *     is the second minus D) with the globals the runtime scanned;
 *   - the live heap after each mark, reconstructed exactly: bytes allocated before the cycle's
 *     tracegc less bytes freed before the next cycle starts (every span of a cycle is swept
 *     before the next one starts, and the sweeper reports each dead object with its size);
 *     known only for cycles that have a successor;
 *   - HeapInuse samples the program prints ("gmfidelity heap-inuse N", workloads/go/main.go).
 *
 * The model replays the imported trace (gm_import_go) on a private GC-mode heap with one P,
 * Go's arena hint addresses, the same GOGC and the program's globals (Go 1.18+ heap goal), with
 * a concurrent mark phase (gm_heap_config.concurrent_mark): the model starts each cycle where
 * its own pacer says, allocations during the mark are black, and the mark ends where the real
 * one ended, at the log's tracegc marker (or at once, if the model's cycle starts only after
 * the runtime's has ended). The log's frees need one change of order: a free is printed where
 * the sweeper found the object dead, after the cycle that decided it, while a GC-mode free
 * means "unreachable from now on" and takes effect at the end of the running or next mark;
 * replayed in log order it would reach the model one cycle late. So the frees of cycle k are
 * issued at cycle k's tracegc marker, just before the mark ends: the object was found
 * unreachable by that mark. Frees of objects the model allocated black (its cycle started
 * before the runtime's) wait for its next cycle, as they would in Go.
 *
 * Heap at a cycle's start: Go 1.19's startCycle stores the precomputed trigger in c.triggered
 * (mgcpacer.go:461), which is the "in T B" gcpacertrace prints; the table compares it with the
 * model's trigger. The model's heapLive when its cycle started (it passes the trigger by up to
 * one span's refill) is in the JSON as heap_start; Go's is only in gctrace, truncated to MB.
 *
 * Pacer inputs: the model's cons/mark comes from its own measurement of each mark (heap
 * allocated during the mark over its scan work: the live bytes of scan spans, since it cannot
 * know where an object's last pointer lies), with no assists and no idle workers, so its
 * triggers can differ from Go's. --runtime-pacing instead ends each model mark with the cons/mark
 * and the heap and stack scan work the runtime printed (gm_heap_set_mark_inputs): what is left
 * to compare is the model's heap accounting (heapLive, the live heap, the goal) and the pacer's
 * formulas.
 *
 * Output: a side-by-side table (GC count, per-cycle trigger, live heap after the mark, goal,
 * peak of the HeapInuse samples, and the share of allocations whose size class, page and
 * address match), optionally as JSON. --check exits 1 unless the GC count is within ±1 and
 * every compared cycle's trigger and live heap is within 5%: the single-P goal.
 *
 * Memory comes from gm_arena.h (the model's heap maps its own).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gm_import.h"
#include "gm_testing.h"
#include "gm_trace.h"
#include "json.h"
#include "linereader.h"

#define TOLERANCE 0.05 /* heap sizes per cycle: the 5% */

/* ---- growable arrays of gm_map pages ----------------------------------------------------- */

typedef struct vec {
    void *data;
    size_t n, cap, elem;
} vec;

static void *vec_push(vec *v)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 4096;
        v->data = v->data ? gm_remap(v->data, v->cap * v->elem, ncap * v->elem)
                          : gm_map(ncap * v->elem, 0);
        v->cap = ncap;
    }
    return (char *)v->data + v->elem * v->n++;
}

static void *vec_at(const vec *v, size_t i)
{
    return (char *)v->data + v->elem * i;
}

static void vec_free(vec *v)
{
    if (v->data) gm_unmap(v->data, v->cap * v->elem);
    v->data = NULL;
    v->n = v->cap = 0;
}

/* ---- the real run ------------------------------------------------------------------------- */

typedef struct real_alloc {
    uint64_t addr, size; /* size: rounded, as printed */
} real_alloc;

typedef struct real_cycle {
    uint64_t start_freed;      /* bytes freed (tracefree) before it started */
    uint64_t mark_alloc_bytes; /* bytes allocated before its tracegc */
    uint64_t triggered, live_end, goal, globals;
    uint64_t heap_scan, stack_scan; /* the scan work of its mark */
    double cons_mark;               /* the cons/mark its trigger was computed with */
    bool have_start, have_mark, have_pacer;
} real_cycle;

typedef struct sample {
    uint64_t at_alloc; /* allocations before the sample */
    uint64_t real, model;
} sample;

typedef struct real_run {
    vec allocs;  /* real_alloc */
    vec cycles;  /* real_cycle */
    vec samples; /* sample */
    uint64_t alloc_bytes, freed_bytes, frees;
    size_t starts, marks, pacers;
} real_run;

static real_cycle *cycle_at(real_run *r, size_t i)
{
    while (r->cycles.n <= i) memset(vec_push(&r->cycles), 0, sizeof(real_cycle));
    return vec_at(&r->cycles, i);
}

/* Unsigned number (decimal, or hex with 0x) at s; NULL when there is none. */
static const char *num(const char *s, uint64_t *out)
{
    if (!s) return NULL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || errno) return NULL;
    *out = v;
    return end;
}

static const char *after(const char *line, const char *tag)
{
    const char *p = line ? strstr(line, tag) : NULL;
    return p ? p + strlen(tag) : NULL;
}

/* A record header, possibly glued after program output, but not a traceback frame
 * ("runtime.tracealloc(...)" while a goroutine is inside it). */
static const char *record(const char *line, const char *tag)
{
    const char *p = strstr(line, tag);
    return p && (p == line || p[-1] != '.') ? p + strlen(tag) : NULL;
}

/* "pacer: U% CPU (25 exp.) for A+B+C B work (E B exp.) in T B -> L B (∆goal D, ...": returns
 * false when the line is not one. */
static bool parse_pacer_end(const char *line, real_cycle *c)
{
    uint64_t d;
    const char *p = after(line, " for ");
    p = num(p, &c->heap_scan);
    if (!p || *p != '+' || !(p = num(p + 1, &c->stack_scan)) || *p != '+' ||
        !num(p + 1, &c->globals))
        return false;
    const char *cm = after(line, "cons/mark ");
    if (!cm) return false;
    c->cons_mark = strtod(cm, NULL);
    p = num(after(line, " B exp.) in "), &c->triggered);
    p = num(after(p, " B -> "), &c->live_end);
    const char *dp = after(p, "goal ");
    if (!p || !dp) return false;
    bool neg = *dp == '-';
    if (!num(dp + neg, &d)) return false;
    c->goal = neg ? c->live_end + d : c->live_end - d;
    return true;
}

static void scan_line(real_run *r, const char *line)
{
    const char *p;
    if ((p = record(line, "tracealloc("))) {
        real_alloc *a = vec_push(&r->allocs);
        if (!(p = num(p, &a->addr)) || !num(p + (*p == ','), &a->size)) a->size = 0;
        r->alloc_bytes += a->size;
    } else if ((p = record(line, "tracefree("))) {
        uint64_t addr, size = 0;
        if ((p = num(p, &addr))) num(p + (*p == ','), &size);
        r->freed_bytes += size;
        r->frees++;
    } else if (strcmp(line, "tracegc()") == 0) {
        real_cycle *c = cycle_at(r, r->marks++);
        c->mark_alloc_bytes = r->alloc_bytes;
        c->have_mark = true;
    } else if (strncmp(line, "pacer: assist ratio=", 20) == 0) {
        real_cycle *c = cycle_at(r, r->starts++);
        c->start_freed = r->freed_bytes;
        c->have_start = true;
    } else if (strncmp(line, "pacer: ", 7) == 0) {
        real_cycle tmp = {0};
        if (parse_pacer_end(line, &tmp)) {
            real_cycle *c = cycle_at(r, r->pacers++);
            c->triggered = tmp.triggered, c->live_end = tmp.live_end;
            c->goal = tmp.goal, c->globals = tmp.globals, c->have_pacer = true;
            c->heap_scan = tmp.heap_scan, c->stack_scan = tmp.stack_scan;
            c->cons_mark = tmp.cons_mark;
        }
    } else if ((p = after(line, "gmfidelity heap-inuse "))) {
        sample *s = vec_push(&r->samples);
        s->at_alloc = r->allocs.n;
        num(p, &s->real);
    }
}

static int scan_log(const char *path, real_run *r, char *err, size_t errlen)
{
    gm_linereader lr;
    if (gm_linereader_open(&lr, path, GM_LINEREADER_MAX_LINE, err, errlen) != 0) return -1;
    r->allocs.elem = sizeof(real_alloc);
    r->cycles.elem = sizeof(real_cycle);
    r->samples.elem = sizeof(sample);
    char *line;
    size_t len;
    bool cut;
    int rc;
    while ((rc = gm_linereader_next(&lr, &line, &len, &cut, err, errlen)) == 1) scan_line(r, line);
    gm_linereader_close(&lr);
    if (rc < 0) return -1;
    if (r->starts == 0 || r->pacers == 0) {
        snprintf(err, errlen,
                 "%s: no gcpacertrace lines: run the program with "
                 "GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1 (and enough allocation "
                 "for one GC cycle)",
                 path);
        return -1;
    }
    return 0;
}

/* Live heap after cycle i's mark: allocated before its tracegc, less freed before cycle i+1
 * started (every span is swept by then). 0 when not known. */
static uint64_t real_marked(real_run *r, size_t i)
{
    if (i + 1 >= r->cycles.n) return 0;
    real_cycle *c = vec_at(&r->cycles, i), *next = vec_at(&r->cycles, i + 1);
    if (!c->have_mark || !next->have_start) return 0;
    return c->mark_alloc_bytes - next->start_freed;
}

/* ---- the model's replay -------------------------------------------------------------------- */

typedef struct moved_free {
    uint64_t marker; /* issue it at this tracegc marker (1-based) */
    uint64_t obj;
} moved_free;

typedef struct model_run {
    vec cycles;     /* gm_gc_cycle */
    vec moved;      /* moved_free, ascending before_alloc */
    uint64_t *skip; /* bit per FREE record: moved */
    size_t skip_words;
    void **ptr; /* object id → model pointer */
    uint64_t nobj;
    uint64_t class_match, page_match, addr_match, compared;
} model_run;

static void on_cycle(const gm_gc_cycle *c, void *arg)
{
    model_run *m = arg;
    *(gm_gc_cycle *)vec_push(&m->cycles) = *c;
}

/* Pass 1: which frees move, and where to. */
static int plan_frees(const char *trace, model_run *m, char *err, size_t errlen)
{
    gm_trace_reader *tr = gm_trace_open(trace, err, errlen);
    if (!tr) return -1;
    const gm_trace_summary *sum = gm_trace_header_summary(tr, NULL);
    m->skip_words = sum->count[GM_TR_FREE] / 64 + 1;
    m->skip = gm_map(m->skip_words * 8, 0);
    m->moved.elem = sizeof(moved_free);
    gm_trace_rec rec;
    uint64_t marks = 0, nfree = 0;
    int rc;
    while ((rc = gm_trace_next(tr, &rec)) == 1) {
        if (rec.kind == GM_TR_MARK && rec.mark == GM_TR_MARK_GC) marks++;
        if (rec.kind != GM_TR_FREE) continue;
        uint64_t f = nfree++;
        if (marks == 0) continue; /* no cycle has found it dead: a free the importer made */
        moved_free *mf = vec_push(&m->moved);
        mf->marker = marks;
        mf->obj = rec.obj;
        if (f / 64 < m->skip_words) m->skip[f / 64] |= 1ull << (f % 64);
    }
    if (rc < 0) snprintf(err, errlen, "%s: %s", trace, gm_trace_error(tr));
    gm_trace_close(tr);
    return rc < 0 ? -1 : 0;
}

static unsigned op_flags(uint8_t f)
{
    return (f & GM_OPF_SCAN ? GM_SCAN : 0) | (f & GM_OPF_ZERO ? GM_ZERO : 0);
}

static void compare_alloc(gm_mheap *h, model_run *m, const real_alloc *ra, void *p)
{
    gm_mspan *s = gm_mheap_span_of(h, (uintptr_t)p);
    uint64_t rounded = !s ? 0 : s->div_mul ? s->elemsize : (uint64_t)s->npages * GM_PAGE_SIZE;
    m->compared++;
    m->class_match += rounded == ra->size;
    m->page_match += ((uintptr_t)p / GM_PAGE_SIZE) == ra->addr / GM_PAGE_SIZE;
    m->addr_match += (uintptr_t)p == ra->addr;
}

/* Pass 2: the replay. */
/* --runtime-pacing: model cycle j (1-based) ends its mark with the runtime's measurements:
 * cycle j's scan work, and the cons/mark that cycle j+1's trigger was computed from (printed
 * on j+1's pacer line). */
static void feed_mark_inputs(gm_mheap *h, gm_m *mm, real_run *r, uint64_t j)
{
    if (j == 0 || j >= r->cycles.n) return;
    real_cycle *c = vec_at(&r->cycles, j - 1), *next = vec_at(&r->cycles, j);
    if (c->have_pacer && next->have_pacer)
        gm_heap_set_mark_inputs(h, mm, next->cons_mark, c->heap_scan, c->stack_scan);
}

static int replay(const char *trace, real_run *r, model_run *m, int gogc, bool runtime_pacing,
                  char *err, size_t errlen)
{
    real_cycle *c0 = vec_at(&r->cycles, 0);
    gm_heap_config cfg = {.nprocs = 1,
                          .gc_percent = gogc,
                          .arena_hints = true,
                          .gc_mode = true,
                          .globals_scan = c0->globals,
                          .concurrent_mark = true,
                          .cycle_hook = on_cycle,
                          .cycle_hook_arg = m};
    m->cycles.elem = sizeof(gm_gc_cycle);
    gm_mheap *h = gm_heap_create(&cfg);
    if (!h) return snprintf(err, errlen, "cannot create the model's heap"), -1;
    gm_m mm;
    gm_m_init(&mm, h);
    gm_trace_reader *tr = gm_trace_open(trace, err, errlen);
    if (!tr) return gm_heap_destroy(h), -1;
    m->nobj = gm_trace_header_summary(tr, NULL)->count[GM_TR_ALLOC];
    m->ptr = gm_map((m->nobj + 1) * sizeof(void *), 0);
    gm_trace_rec rec;
    uint64_t nalloc = 0, nfree = 0, markers = 0;
    size_t mi = 0, si = 0;
    int rc;
    while ((rc = gm_trace_next(tr, &rec)) == 1) {
        if (rec.kind == GM_TR_MARK && rec.mark == GM_TR_MARK_GC) {
            markers++;
            for (; mi < m->moved.n; mi++) {
                moved_free *mf = vec_at(&m->moved, mi);
                if (mf->marker > markers) break;
                gm_heap_free(h, &mm, m->ptr[mf->obj]);
            }
        }
        /* The real mark of the cycle the model is marking has ended. */
        uint64_t marking = atomic_load(&h->gc.marking);
        if (marking && marking <= markers) {
            if (runtime_pacing) feed_mark_inputs(h, &mm, r, marking);
            gm_heap_mark_done(h, &mm);
        }
        if (rec.kind == GM_TR_ALLOC) {
            for (; si < r->samples.n; si++) {
                sample *s = vec_at(&r->samples, si);
                if (s->at_alloc > nalloc) break;
                s->model = h->heap_inuse; /* the real sample does not flush caches either */
            }
            void *p = gm_heap_alloc(h, &mm, rec.size, op_flags(rec.flags));
            if (!p) {
                rc = -2;
                break;
            }
            if (rec.obj < m->nobj) m->ptr[rec.obj] = p;
            if (nalloc < r->allocs.n) compare_alloc(h, m, vec_at(&r->allocs, nalloc), p);
            nalloc++;
        } else if (rec.kind == GM_TR_FREE) {
            uint64_t f = nfree++;
            if (!(m->skip[f / 64] >> (f % 64) & 1)) gm_heap_free(h, &mm, m->ptr[rec.obj]);
        }
    }
    for (; si < r->samples.n; si++) ((sample *)vec_at(&r->samples, si))->model = h->heap_inuse;
    if (rc == -1) snprintf(err, errlen, "%s: %s", trace, gm_trace_error(tr));
    if (rc == -2)
        snprintf(err, errlen, "the model ran out of memory at allocation %llu",
                 (unsigned long long)nalloc);
    gm_trace_close(tr);
    gm_m_detach(&mm);
    gm_heap_destroy(h);
    return rc < 0 ? -1 : 0;
}

/* ---- the report ------------------------------------------------------------------------------ */

typedef struct fid_opts {
    const char *log, *name, *json, *keep_trace;
    int gogc;
    bool check, runtime_pacing;
} fid_opts;

typedef struct verdict {
    size_t real_gcs, model_gcs, compared, start_ok, end_compared, end_ok;
    uint64_t real_peak, model_peak;
    bool pass;
} verdict;

static double rel(uint64_t model, uint64_t real)
{
    return real ? ((double)model - (double)real) / (double)real : 0.0;
}

static bool within(uint64_t model, uint64_t real)
{
    double d = rel(model, real);
    return d <= TOLERANCE && d >= -TOLERANCE;
}

static verdict judge(real_run *r, model_run *m)
{
    verdict v = {.real_gcs = r->pacers, .model_gcs = m->cycles.n};
    v.compared = v.real_gcs < v.model_gcs ? v.real_gcs : v.model_gcs;
    for (size_t i = 0; i < v.compared; i++) {
        real_cycle *c = vec_at(&r->cycles, i);
        gm_gc_cycle *g = vec_at(&m->cycles, i);
        v.start_ok += within(g->trigger, c->triggered);
        uint64_t rm = real_marked(r, i);
        if (!rm) continue;
        v.end_compared++;
        v.end_ok += within(g->heap_marked, rm);
    }
    for (size_t i = 0; i < r->samples.n; i++) {
        sample *s = vec_at(&r->samples, i);
        if (s->real > v.real_peak) v.real_peak = s->real;
        if (s->model > v.model_peak) v.model_peak = s->model;
    }
    size_t diff = v.real_gcs > v.model_gcs ? v.real_gcs - v.model_gcs : v.model_gcs - v.real_gcs;
    v.pass = diff <= 1 && v.start_ok == v.compared && v.end_ok == v.end_compared;
    return v;
}

static double pct(uint64_t a, uint64_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void print_table(const fid_opts *o, real_run *r, model_run *m, const verdict *v)
{
    printf("%s: GOGC=%d, 1 P; %zu allocations, %llu frees (%zu moved to their cycle's mark); "
           "cons/mark and scan work: %s\n",
           o->name, o->gogc, r->allocs.n, (unsigned long long)r->frees, m->moved.n,
           o->runtime_pacing ? "the runtime's" : "the model's");
    printf("%-6s %12s %12s %7s  %12s %12s %7s  %12s %12s %7s\n", "cycle", "trigger: go", "model",
           "diff", "live: go", "model", "diff", "goal: go", "model", "diff");
    size_t n = v->real_gcs > v->model_gcs ? v->real_gcs : v->model_gcs;
    for (size_t i = 0; i < n; i++) {
        real_cycle *c = i < r->cycles.n ? vec_at(&r->cycles, i) : NULL;
        gm_gc_cycle *g = i < m->cycles.n ? vec_at(&m->cycles, i) : NULL;
        uint64_t rm = c ? real_marked(r, i) : 0;
        char cs[3][3][24] = {{"-", "-", ""}, {"-", "-", ""}, {"-", "-", ""}};
        uint64_t rv[3] = {c && c->have_pacer ? c->triggered : 0, rm, c ? c->goal : 0};
        uint64_t mv[3] = {g ? g->trigger : 0, g ? g->heap_marked : 0, g ? g->heap_goal : 0};
        for (int k = 0; k < 3; k++) {
            if (rv[k]) snprintf(cs[k][0], 24, "%llu", (unsigned long long)rv[k]);
            if (g) snprintf(cs[k][1], 24, "%llu", (unsigned long long)mv[k]);
            if (rv[k] && g) snprintf(cs[k][2], 24, "%+.2f%%", 100 * rel(mv[k], rv[k]));
        }
        printf("%-6zu %12s %12s %7s  %12s %12s %7s  %12s %12s %7s\n", i + 1, cs[0][0], cs[0][1],
               cs[0][2], cs[1][0], cs[1][1], cs[1][2], cs[2][0], cs[2][1], cs[2][2]);
    }
    printf("%-32s %12s %12s\n", "", "go", "model");
    printf("%-32s %12zu %12zu\n", "GC cycles", v->real_gcs, v->model_gcs);
    printf("%-32s %12llu %12llu  %+.2f%% (%zu samples)\n", "peak HeapInuse (sampled)",
           (unsigned long long)v->real_peak, (unsigned long long)v->model_peak,
           100 * rel(v->model_peak, v->real_peak), r->samples.n);
    printf("allocations with the same size class: %llu of %llu (%.2f%%)\n",
           (unsigned long long)m->class_match, (unsigned long long)m->compared,
           pct(m->class_match, m->compared));
    printf("  ... placed in the same 8 KiB page:   %llu (%.2f%%)\n",
           (unsigned long long)m->page_match, pct(m->page_match, m->compared));
    printf("  ... at the same address:            %llu (%.2f%%)\n",
           (unsigned long long)m->addr_match, pct(m->addr_match, m->compared));
    printf("goal (GC count within 1, each cycle's trigger and live heap within 5%%): %s — "
           "count %+lld, trigger %zu/%zu, live %zu/%zu\n",
           v->pass ? "met" : "NOT met", (long long)v->model_gcs - (long long)v->real_gcs,
           v->start_ok, v->compared, v->end_ok, v->end_compared);
}

static int write_json(const fid_opts *o, real_run *r, model_run *m, const verdict *v, char *err,
                      size_t errlen)
{
    gm_json j;
    gm_json_init(&j, true);
    gm_json_object_begin(&j, NULL);
    gm_json_str(&j, "name", o->name);
    gm_json_i64(&j, "gogc", o->gogc);
    gm_json_bool(&j, "runtime_pacing", o->runtime_pacing);
    gm_json_u64(&j, "allocations", r->allocs.n);
    gm_json_u64(&j, "frees", r->frees);
    gm_json_u64(&j, "moved_frees", m->moved.n);
    gm_json_u64(&j, "globals", ((real_cycle *)vec_at(&r->cycles, 0))->globals);
    gm_json_array_begin(&j, "cycles");
    size_t n = v->real_gcs > v->model_gcs ? v->real_gcs : v->model_gcs;
    for (size_t i = 0; i < n; i++) {
        real_cycle *c = i < r->cycles.n ? vec_at(&r->cycles, i) : NULL;
        gm_gc_cycle *g = i < m->cycles.n ? vec_at(&m->cycles, i) : NULL;
        gm_json_object_begin(&j, NULL);
        gm_json_u64(&j, "num", i + 1);
        gm_json_object_begin(&j, "go");
        if (c && c->have_pacer) {
            gm_json_u64(&j, "trigger", c->triggered);
            gm_json_u64(&j, "heap_live_at_mark_end", c->live_end);
            gm_json_u64(&j, "heap_goal", c->goal);
        }
        if (c && real_marked(r, i)) gm_json_u64(&j, "heap_marked", real_marked(r, i));
        gm_json_object_end(&j);
        gm_json_object_begin(&j, "model");
        if (g) {
            gm_json_u64(&j, "heap_start", g->heap_start);
            gm_json_u64(&j, "heap_marked", g->heap_marked);
            gm_json_u64(&j, "heap_goal", g->heap_goal);
            gm_json_u64(&j, "trigger", g->trigger);
            gm_json_u64(&j, "frees", g->frees);
        }
        gm_json_object_end(&j);
        gm_json_object_end(&j);
    }
    gm_json_array_end(&j);
    gm_json_u64(&j, "gcs_go", v->real_gcs);
    gm_json_u64(&j, "gcs_model", v->model_gcs);
    gm_json_u64(&j, "peak_heap_inuse_go", v->real_peak);
    gm_json_u64(&j, "peak_heap_inuse_model", v->model_peak);
    gm_json_u64(&j, "samples", r->samples.n);
    gm_json_num(&j, "size_class_match", pct(m->class_match, m->compared) / 100);
    gm_json_num(&j, "same_page", pct(m->page_match, m->compared) / 100);
    gm_json_num(&j, "same_address", pct(m->addr_match, m->compared) / 100);
    gm_json_bool(&j, "goal_met", v->pass);
    gm_json_object_end(&j);
    gm_json_append(&j, "\n", 1);
    int rc = gm_write_file_atomic(o->json, j.buf, j.len, err, errlen);
    gm_json_free(&j);
    return rc;
}

static int usage(const char *why)
{
    fprintf(stderr,
            "gmbench fidelity: %s\n"
            "usage: gmbench fidelity LOG [--gogc N|off] [--runtime-pacing] [--name NAME] "
            "[--json FILE] [--keep-trace FILE] [--check]\n"
            "  LOG: stderr of a Go 1.19 program run with GOMAXPROCS=1 and\n"
            "       GODEBUG=allocfreetrace=1,gctrace=1,gcpacertrace=1 (scripts/fidelity.sh)\n",
            why);
    return GM_EXIT_USAGE;
}

static int parse(int argc, char **argv, fid_opts *o)
{
    *o = (fid_opts){.gogc = 100};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        uint64_t v;
        if (!strcmp(a, "--check"))
            o->check = true;
        else if (!strcmp(a, "--runtime-pacing"))
            o->runtime_pacing = true;
        else if (!strcmp(a, "--gogc") && has && !strcmp(argv[i + 1], "off"))
            o->gogc = -1, i++;
        else if (!strcmp(a, "--gogc") && has && gm_parse_u64(argv[i + 1], 0, &v) == 0 &&
                 v <= 1000000)
            o->gogc = (int)v, i++;
        else if (!strcmp(a, "--name") && has)
            o->name = argv[++i];
        else if (!strcmp(a, "--json") && has)
            o->json = argv[++i];
        else if (!strcmp(a, "--keep-trace") && has)
            o->keep_trace = argv[++i];
        else if (a[0] == '-' && a[1])
            return fprintf(stderr, "gmbench fidelity: bad flag %s\n", a), usage("bad flag");
        else if (!o->log)
            o->log = a;
        else
            return usage("more than one LOG");
    }
    if (!o->log) return usage("no LOG");
    if (!o->name) o->name = o->log;
    return 0;
}

int gm_cmd_fidelity(int argc, char **argv)
{
    fid_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    char err[512], tmp[256];
    real_run r = {0};
    model_run m = {0};
    if (scan_log(o.log, &r, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench fidelity: %s\n", err);
        return GM_EXIT_STREAM;
    }
    const char *trace = o.keep_trace;
    if (!trace) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/gmbench-fidelity-%ld.gmtrace", dir && *dir ? dir : "/tmp",
                 (long)getpid());
        trace = tmp;
    }
    gm_import_stats st;
    rc = GM_EXIT_STREAM;
    if (gm_import_go(o.log, trace, &st, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench fidelity: import: %s\n", err);
        goto out;
    }
    if (st.allocs != r.allocs.n) {
        fprintf(stderr, "gmbench fidelity: the importer wrote %llu allocations, the log has %zu\n",
                (unsigned long long)st.allocs, r.allocs.n);
        goto out;
    }
    if (plan_frees(trace, &m, err, sizeof err) != 0 ||
        replay(trace, &r, &m, o.gogc, o.runtime_pacing, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench fidelity: %s\n", err);
        goto out;
    }
    verdict v = judge(&r, &m);
    print_table(&o, &r, &m, &v);
    rc = 0;
    if (o.json && write_json(&o, &r, &m, &v, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench fidelity: %s\n", err);
        rc = GM_EXIT_IO;
    }
    if (!rc && o.check && !v.pass) rc = 1;
out:
    if (!o.keep_trace) unlink(trace);
    vec_free(&r.allocs), vec_free(&r.cycles), vec_free(&r.samples);
    vec_free(&m.cycles), vec_free(&m.moved);
    if (m.skip) gm_unmap(m.skip, m.skip_words * 8);
    if (m.ptr) gm_unmap(m.ptr, (m.nobj + 1) * sizeof(void *));
    return rc;
}
