/*
 * trace_cmd.c — the trace commands of gmbench: inspect, validate and convert traces
 * (workloads/TRACE_FORMAT.md), import other tools' logs, and record programs.
 *
 *   gmbench trace info F            counts, threads, sizes, peak live bytes, duration
 *   gmbench trace dump F            the text form, one record per line
 *   gmbench trace validate F [--strict]
 *   gmbench trace from-text T --out F
 *   gmbench import go|mtrace LOG --out F
 *   gmbench record --out F [--no-timestamps|--exact-timestamps] -- command args...
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gm_import.h"
#include "gm_record.h"
#include "gm_trace.h"

enum { TRACE_EXIT_INVALID = 1 };

static const char *const kind_names[] = {"", "alloc", "free", "realloc", "mark"};

static void print_summary(const gm_trace_summary *s)
{
    printf("records          %llu\n", (unsigned long long)s->records);
    for (int k = GM_TR_ALLOC; k <= GM_TR_MARK; k++)
        printf("  %-14s %llu\n", kind_names[k], (unsigned long long)s->count[k]);
    printf("invalid          %llu (frees or reallocs of objects that are not live)\n",
           (unsigned long long)s->invalid);
    printf("threads          %u\n", s->threads);
    printf("call sites       %u\n", s->sites);
    printf("peak live        %llu objects, %llu bytes\n", (unsigned long long)s->peak_live_objects,
           (unsigned long long)s->peak_live_bytes);
    if (s->duration_ns)
        printf("duration         %.6f s\n", (double)s->duration_ns / 1e9);
    else
        printf("duration         (no timestamps)\n");
}

static void print_histogram(const gm_trace_stats *st)
{
    uint64_t most = 0;
    for (int k = 0; k < 64; k++)
        if (st->size_histogram[k] > most) most = st->size_histogram[k];
    printf("allocation sizes (%llu bytes requested in all):\n",
           (unsigned long long)st->bytes_allocated);
    for (int k = 0; k < 64; k++) {
        if (!st->size_histogram[k]) continue;
        int bar = (int)(40 * st->size_histogram[k] / most);
        printf("  [%10llu, %10llu)  %10llu  %.*s\n", k ? 1ull << k : 0ull, 2ull << k,
               (unsigned long long)st->size_histogram[k], bar ? bar : 1,
               "########################################");
    }
}

static int trace_info(const char *path)
{
    char err[512];
    gm_trace_stats st;
    gm_trace_reader *r = gm_trace_open(path, err, sizeof err);
    if (!r || gm_trace_scan(path, &st, err, sizeof err) != 0) {
        if (r) gm_trace_close(r);
        fprintf(stderr, "gmbench trace info: %s\n", err);
        return TRACE_EXIT_INVALID;
    }
    /* The thread table grows as the reader goes: read through to name every thread. */
    gm_trace_rec rec;
    while (gm_trace_next(r, &rec) > 0) continue;
    const gm_trace_meta *m = gm_trace_get_meta(r);
    printf("trace            %s\n", path);
    printf("source           %s%s%s\n", m->source ? m->source : "?", m->command ? ": " : "",
           m->command ? m->command : "");
    print_summary(&st.summary);
    print_histogram(&st);
    printf("threads:\n");
    for (uint32_t t = 0; t < gm_trace_nthreads(r) || t < st.summary.threads; t++)
        printf("  %u  %s\n", t, t < gm_trace_nthreads(r) ? gm_trace_thread_name(r, t) : "?");
    gm_trace_close(r);
    return 0;
}

/* Compares what the header claims with what the records say. */
static int summaries_differ(const gm_trace_summary *a, const gm_trace_summary *b, char *what,
                            size_t len)
{
    const struct {
        const char *name;
        uint64_t x, y;
    } f[] = {{"records", a->records, b->records},
             {"allocs", a->count[GM_TR_ALLOC], b->count[GM_TR_ALLOC]},
             {"frees", a->count[GM_TR_FREE], b->count[GM_TR_FREE]},
             {"reallocs", a->count[GM_TR_REALLOC], b->count[GM_TR_REALLOC]},
             {"marks", a->count[GM_TR_MARK], b->count[GM_TR_MARK]},
             {"peak live objects", a->peak_live_objects, b->peak_live_objects},
             {"peak live bytes", a->peak_live_bytes, b->peak_live_bytes},
             {"invalid", a->invalid, b->invalid},
             {"threads", a->threads, b->threads}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].x != f[i].y) {
            snprintf(what, len, "the header says %s = %llu, the records give %llu", f[i].name,
                     (unsigned long long)f[i].x, (unsigned long long)f[i].y);
            return 1;
        }
    return 0;
}

static int trace_validate(const char *path, bool strict)
{
    char err[512];
    bool complete;
    gm_trace_stats st;
    gm_trace_reader *r = gm_trace_open(path, err, sizeof err);
    if (!r || gm_trace_scan(path, &st, err, sizeof err) != 0) {
        if (r) gm_trace_close(r);
        fprintf(stderr, "gmbench trace validate: %s: %s\n", path, err);
        return TRACE_EXIT_INVALID;
    }
    gm_trace_summary header = *gm_trace_header_summary(r, &complete);
    gm_trace_close(r);
    if (complete && summaries_differ(&header, &st.summary, err, sizeof err)) {
        fprintf(stderr, "gmbench trace validate: %s: %s\n", path, err);
        return TRACE_EXIT_INVALID;
    }
    if (st.summary.invalid) {
        fprintf(stderr,
                "gmbench trace validate: %s: %llu frees or reallocs of objects that are "
                "not live%s\n",
                path, (unsigned long long)st.summary.invalid,
                strict ? " (refused: --strict)" : " (replay skips them; --strict refuses)");
        if (strict) return TRACE_EXIT_INVALID;
    }
    printf("%s: valid, %llu records%s\n", path, (unsigned long long)st.summary.records,
           complete ? "" : " (header not patched: written to a pipe or interrupted)");
    return 0;
}

static int need_out(const char *cmd, int argc, char **argv, const char **in, const char **out)
{
    *in = *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            *out = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return fprintf(stderr, "gmbench %s: unknown flag %s\n", cmd, argv[i]), GM_EXIT_USAGE;
        else if (!*in)
            *in = argv[i];
        else
            return fprintf(stderr, "gmbench %s: unexpected argument %s\n", cmd, argv[i]),
                   GM_EXIT_USAGE;
    }
    if (!*in || !*out) {
        fprintf(stderr, "gmbench %s: usage: %s INPUT --out TRACE\n", cmd, cmd);
        return GM_EXIT_USAGE;
    }
    return 0;
}

int gm_cmd_trace(int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    char err[512];
    if (argc == 2 && !strcmp(sub, "info")) return trace_info(argv[1]);
    if (argc == 2 && !strcmp(sub, "dump")) {
        if (gm_trace_to_text(argv[1], STDOUT_FILENO, err, sizeof err) == 0) return 0;
        fprintf(stderr, "gmbench trace dump: %s\n", err);
        return TRACE_EXIT_INVALID;
    }
    if ((argc == 2 || argc == 3) && !strcmp(sub, "validate")) {
        bool strict = argc == 3 && !strcmp(argv[2], "--strict");
        if (argc == 3 && !strict) goto usage;
        return trace_validate(argv[1], strict);
    }
    if (!strcmp(sub, "from-text")) {
        const char *in, *out;
        int rc = need_out("trace from-text", argc - 1, argv + 1, &in, &out);
        if (rc) return rc;
        if (gm_trace_from_text(in, out, err, sizeof err) == 0) return 0;
        fprintf(stderr, "gmbench trace from-text: %s\n", err);
        return TRACE_EXIT_INVALID;
    }
usage:
    fprintf(stderr, "gmbench trace: usage: trace info F | trace dump F | trace validate F "
                    "[--strict] | trace from-text TEXT --out F\n");
    return GM_EXIT_USAGE;
}

int gm_cmd_import(int argc, char **argv)
{
    const char *fmt = argc > 0 ? argv[0] : "", *in, *out;
    int (*import)(const char *, const char *, gm_import_stats *, char *, size_t) =
        !strcmp(fmt, "go")       ? gm_import_go
        : !strcmp(fmt, "mtrace") ? gm_import_mtrace
                                 : NULL;
    if (!import) {
        fprintf(stderr, "gmbench import: unknown format '%s'; valid: go mtrace\n", fmt);
        return GM_EXIT_USAGE;
    }
    int rc = need_out("import", argc - 1, argv + 1, &in, &out);
    if (rc) return rc;
    gm_import_stats st;
    char err[512];
    if (import(in, out, &st, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench import %s: %s\n", fmt, err);
        return TRACE_EXIT_INVALID;
    }
    printf("%s: %llu records (%llu allocs, %llu frees, %llu reallocs, %llu markers) from %llu "
           "lines; %llu frees of unknown addresses and %llu unrelated lines skipped\n",
           out, (unsigned long long)st.records, (unsigned long long)st.allocs,
           (unsigned long long)st.frees, (unsigned long long)st.reallocs,
           (unsigned long long)st.marks, (unsigned long long)st.lines,
           (unsigned long long)st.unmatched_frees, (unsigned long long)st.skipped_lines);
    return 0;
}

/* gmbench record [--no-timestamps|--exact-timestamps] [--keep-raw] [--compress LEVEL] --out F
 * -- command args... Timestamps are read at every 32nd call of a thread unless exact.
 * Exits with the command's status (128 + N for signal N), as a wrapper should. */
int gm_cmd_record(int argc, char **argv)
{
    /* Coarse timestamps by default: a clock read at every call would be most of the cost. */
    gm_record_config cfg = {.timestamps = true, .time_every = 32};
    int i = 0;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        uint64_t level;
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            cfg.out = argv[++i];
        else if (!strcmp(argv[i], "--no-timestamps"))
            cfg.timestamps = false;
        else if (!strcmp(argv[i], "--exact-timestamps"))
            cfg.time_every = 1;
        else if (!strcmp(argv[i], "--keep-raw"))
            cfg.keep_raw = true;
        else if (!strcmp(argv[i], "--compress") && i + 1 < argc &&
                 gm_parse_u64(argv[i + 1], 0, &level) == 0 && level >= 1 && level <= 19)
            cfg.compress = (int)level, i++;
        else {
            fprintf(stderr,
                    "gmbench record: bad flag %s (expected --out F, --no-timestamps, "
                    "--keep-raw, --compress 1..19, then -- COMMAND)\n",
                    argv[i]);
            return GM_EXIT_USAGE;
        }
    }
    if (!cfg.out || i + 1 >= argc) {
        fprintf(stderr, "gmbench record: usage: record --out F [flags] -- COMMAND ARGS...\n");
        return GM_EXIT_USAGE;
    }
    cfg.argv = argv + i + 1;
    char err[512];
    /* The result lists up to 64 traces (about 270 KiB): from mmap, like all harness memory. */
    gm_record_result *res = gm_map(sizeof *res, 0);
    if (gm_record_run(&cfg, res, err, sizeof err) != 0) {
        fprintf(stderr, "gmbench record: %s\n", err);
        return GM_EXIT_USAGE;
    }
    gm_record_print(res, STDERR_FILENO);
    int status = res->status;
    gm_unmap(res, sizeof *res);
    return status;
}
