/*
 * test_trace.c — the trace format (workloads/TRACE_FORMAT.md): writer, reader, scan, text form
 * and replay.
 *
 * Round trips of random records covering every field and its extreme values (with and without
 * timestamps, with and without zstd); the summary (peaks, invalid frees) on a hand-made trace;
 * text → binary → text; the encoding's size on a churn stream; hostile input (every truncation,
 * thousands of byte flips, bad magic, future version, huge lengths and indices, unpatched
 * header), which must fail with "offset N" and never crash or hang; and replay: exactly the
 * recorded number of calls of each kind, frees after their allocations, slot reuse per thread,
 * strict mode, and memory bounded by the live set, not the trace's length.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "gm_test.h"
#include "gm_trace.h"
#include "gm_workload.h"
#include "../workloads/trace_internal.h" /* gm_crc32c and the layout constants, to forge */

static char dir[256];

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return NULL;
    uint8_t *b = malloc((size_t)st.st_size + 1);
    *len = (size_t)read(fd, b, (size_t)st.st_size);
    close(fd);
    return b;
}

static void spill(const char *path, const void *b, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, b, len) == (ssize_t)len);
    close(fd);
}

/* ---- round trips ------------------------------------------------------------------------- */

static uint64_t pick_u64(uint64_t *s)
{
    static const uint64_t edge[] = {
        0, 1, 127, 128, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX - 1, UINT64_MAX};
    uint64_t r = gm_test_splitmix(s);
    return r % 4 == 0 ? edge[(r >> 8) % 10] : r % 4 == 1 ? (r >> 8) % 300 : r >> (r % 64);
}

/* A random record as the reader will return it (fields its kind lacks are zero). */
static gm_trace_rec random_rec(uint64_t *s, uint64_t nallocs, uint32_t nthreads, uint32_t nsites,
                               bool times)
{
    gm_trace_rec r = {0};
    uint64_t x = gm_test_splitmix(s);
    r.kind = (uint8_t)(1 + x % 4);
    r.thread = x >> 8 & 1 ? 0 : (uint32_t)(gm_test_splitmix(s) % nthreads);
    r.time_ns = times ? pick_u64(s) : 0;
    if (r.kind == GM_TR_MARK) r.mark = (uint8_t)(1 + (x >> 16) % 255);
    if (r.kind == GM_TR_FREE || r.kind == GM_TR_REALLOC)
        r.obj =
            x >> 24 & 1 && nallocs ? nallocs - 1 - (gm_test_splitmix(s) % nallocs) : pick_u64(s);
    if (r.kind == GM_TR_ALLOC || r.kind == GM_TR_REALLOC) {
        r.size = pick_u64(s);
        if (r.kind == GM_TR_REALLOC && !r.size) r.size = 1;
        r.flags = (uint8_t)((x >> 32) & 3);
        r.align_log2 = x >> 34 & 1 ? (uint8_t)(3 + (x >> 40) % 24) : 0;
        r.site = (uint32_t)((x >> 48) % (nsites + 1));
    }
    if (r.kind == GM_TR_ALLOC) r.obj = nallocs;
    return r;
}

static bool rec_eq(const gm_trace_rec *a, const gm_trace_rec *b)
{
    return a->kind == b->kind && a->flags == b->flags && a->align_log2 == b->align_log2 &&
           a->mark == b->mark && a->thread == b->thread && a->site == b->site && a->obj == b->obj &&
           a->size == b->size && a->time_ns == b->time_ns;
}

static void test_roundtrip(bool times, int compress)
{
    enum { N = 20000, THREADS = 300, SITES = 1000 };
    gm_trace_rec *recs = malloc(N * sizeof *recs);
    char err[512];
    gm_trace_meta meta = {
        .source = "test", .command = "a \"command\"", .timestamps = times, .compress = compress};
    const char *path = tpath("rt.gmt");
    gm_trace_writer *w = gm_trace_writer_open(path, &meta, err, sizeof err);
    CHECK(w != NULL);
    if (!w) return;
    char name[64];
    for (uint32_t t = 0; t < THREADS; t++) {
        snprintf(name, sizeof name, "worker %u", t);
        if (t % 7 == 0) name[0] = 0; /* unnamed */
        CHECK_EQ(gm_trace_add_thread(w, name), t);
    }
    uint64_t s = 42 + (uint64_t)times * 7 + (uint64_t)compress, nallocs = 0;
    for (int i = 0; i < N; i++) {
        if (i % 50 == 0 && i / 50 < SITES) {
            snprintf(name, sizeof name, "pkg.func%d", i / 50);
            CHECK_EQ(gm_trace_add_site(w, name), (uint32_t)(i / 50 + 1));
        }
        uint32_t nsites = i / 50 + 1 < SITES ? (uint32_t)(i / 50 + 1) : SITES;
        recs[i] = random_rec(&s, nallocs, THREADS, nsites, times);
        uint64_t id = gm_trace_write(w, &recs[i]);
        if (recs[i].kind == GM_TR_ALLOC) CHECK_EQ(id, nallocs++);
    }
    gm_trace_summary ws;
    CHECK(gm_trace_writer_close(w, &ws, err, sizeof err) == 0);
    gm_trace_reader *r = gm_trace_open(path, err, sizeof err);
    CHECK(r != NULL);
    if (!r) return;
    bool complete;
    CHECK(gm_trace_header_summary(r, &complete)->records == N && complete);
    CHECK(!strcmp(gm_trace_get_meta(r)->command, meta.command));
    CHECK(gm_trace_get_meta(r)->timestamps == times &&
          gm_trace_get_meta(r)->compress == !!compress);
    gm_trace_rec got;
    int i = 0, e, bad = 0;
    while ((e = gm_trace_next(r, &got)) == 1 && i < N) bad += !rec_eq(&got, &recs[i++]);
    CHECK_EQ(e, 0);
    CHECK_EQ(i, N);
    CHECK_EQ(bad, 0);
    CHECK_EQ(gm_trace_nthreads(r), THREADS);
    CHECK(!strcmp(gm_trace_thread_name(r, 8), "worker 8") &&
          !strcmp(gm_trace_thread_name(r, 7), ""));
    CHECK(!strcmp(gm_trace_site_name(r, 1), "pkg.func0") && gm_trace_site_name(r, 0) == NULL);
    CHECK(gm_trace_end_summary(r) && gm_trace_end_summary(r)->records == N);
    gm_trace_close(r);
    gm_trace_stats st;
    CHECK(gm_trace_scan(path, &st, err, sizeof err) == 0);
    CHECK(st.header_patched && memcmp(&st.summary, &ws, sizeof ws) == 0);
    CHECK(st.summary.invalid > 0); /* random frees of unknown ids */
    free(recs);
}

/* ---- summary ----------------------------------------------------------------------------- */

static const char *summary_text = "# a hand-made trace\n"
                                  "thread 0 main\n"
                                  "thread 1 \\x20worker\\\\1\\x09\n"
                                  "site 1 main.build\n"
                                  "alloc a t0 10 scan site=1 @100\n"
                                  "alloc b t1 20 zero align=64 @90\n"
                                  "free a t1 @200\n"
                                  "   \n"
                                  "alloc c 5 @210\n"
                                  "realloc b t1 100 @220\n"
                                  "mark gc t1 @230\n"
                                  "free x99 @240\n"
                                  "free a @250\n"
                                  "alloc a 1K site=2 @260\n"
                                  "mark 7\n";

static const char *summary_dump = "thread 0 main\n"
                                  "thread 1 \\x20worker\\\\1\\x09\n"
                                  "site 1 main.build\n"
                                  "site 2 \n"
                                  "alloc x0 t0 10 scan site=1 @100\n"
                                  "alloc x1 t1 20 zero align=64 @90\n"
                                  "free x0 t1 @200\n"
                                  "alloc x2 t0 5 @210\n"
                                  "realloc x1 t1 100 @220\n"
                                  "mark gc t1 @230\n"
                                  "free x99 t0 @240\n"
                                  "free x0 t0 @250\n"
                                  "alloc x3 t0 1024 site=2 @260\n"
                                  "mark 7 t0 @260\n";

static char *dump(const char *path)
{
    static char buf[1 << 16];
    const char *out = tpath("dump.txt");
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char err[512];
    int rc = gm_trace_to_text(path, fd, err, sizeof err);
    close(fd);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "  to_text: %s\n", err);
    size_t n = 0;
    uint8_t *b = slurp(out, &n);
    n = n < sizeof buf - 1 ? n : sizeof buf - 1;
    memcpy(buf, b, n);
    buf[n] = 0;
    free(b);
    char *body = strchr(buf, '\n'); /* after the comment line with the meta */
    return body ? body + 1 : buf;
}

static void test_summary_and_text(void)
{
    char err[512];
    const char *txt = tpath("hand.txt"), *bin = tpath("hand.gmt"), *bin2 = tpath("hand2.gmt");
    spill(txt, summary_text, strlen(summary_text));
    CHECK(gm_trace_from_text(txt, bin, err, sizeof err) == 0);
    gm_trace_stats st;
    CHECK(gm_trace_scan(bin, &st, err, sizeof err) == 0);
    CHECK_EQ(st.summary.records, 10);
    CHECK_EQ(st.summary.count[GM_TR_ALLOC], 4);
    CHECK_EQ(st.summary.count[GM_TR_FREE], 3);
    CHECK_EQ(st.summary.count[GM_TR_REALLOC], 1);
    CHECK_EQ(st.summary.count[GM_TR_MARK], 2);
    CHECK_EQ(st.summary.invalid, 2);            /* x99 never allocated; a freed twice */
    CHECK_EQ(st.summary.peak_live_objects, 3);  /* b, c, then the second a */
    CHECK_EQ(st.summary.peak_live_bytes, 1129); /* b 100 + c 5 + a 1024 */
    CHECK_EQ(st.summary.duration_ns, 260);
    CHECK_EQ(st.summary.threads, 2);
    CHECK_EQ(st.summary.sites, 2);
    CHECK_EQ(st.size_histogram[3], 1); /* 10 */
    CHECK_EQ(st.bytes_allocated, 10 + 20 + 5 + 1024);
    /* Table entries come out ahead of the records buffered when they were added (the writer
     * sends them at once): site 2, first used by the last alloc, is listed with site 1. */
    char *text = dump(bin);
    CHECK(!strcmp(text, summary_dump));
    if (strcmp(text, summary_dump)) fprintf(stderr, "  dump:\n%s", text);
    /* The dump converts back to the same records (the object labels included). */
    spill(txt, text, strlen(text));
    CHECK(gm_trace_from_text(txt, bin2, err, sizeof err) == 0);
    CHECK(!strcmp(dump(bin2), summary_dump));
    size_t l1, l2;
    uint8_t *b1 = slurp(bin, &l1), *b2 = slurp(bin2, &l2);
    CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
}

static void expect_text_error(const char *text, const char *want)
{
    char err[512] = "";
    const char *txt = tpath("bad.txt");
    spill(txt, text, strlen(text));
    CHECK(gm_trace_from_text(txt, tpath("bad.gmt"), err, sizeof err) == -1);
    CHECK(strstr(err, want) != NULL);
    if (!strstr(err, want)) fprintf(stderr, "  want '%s', got '%s'\n", want, err);
    CHECK(access(tpath("bad.gmt"), F_OK) != 0); /* no partial trace left behind */
}

static void test_text_errors(void)
{
    expect_text_error("alloc a 8\nfrob x\n", "line 2: unknown line type 'frob'");
    expect_text_error("alloc a\n", "line 1: alloc needs a size");
    expect_text_error("\n\nfree nosuch\n", "line 3: object nosuch was never allocated");
    expect_text_error("alloc a 8 align=24\n", "line 1: align=24");
    expect_text_error("alloc a 8\nrealloc a 0\n", "line 2: realloc to size 0");
    expect_text_error("thread 1 x\n", "line 1: thread 1 out of order");
    expect_text_error("mark foo\n", "line 1: mark needs gc");
    expect_text_error("alloc a 8 bogus\n", "line 1: unexpected 'bogus'");
    expect_text_error("site 1 \\q\n", "line 1: bad escape");
}

/* ---- size of the encoding ---------------------------------------------------------------- */

/* Writes a synthetic workload's stream as a trace; returns the number of records. */
static uint64_t write_workload(const char *path, const char *name, uint64_t ops, unsigned threads,
                               int compress)
{
    const gm_workload *wl = gm_workload_find(name);
    gm_wl_config cfg;
    gm_wl_config_defaults(wl, &cfg);
    cfg.ops = ops;
    cfg.threads = threads;
    char err[512];
    gm_wl_gen *g = gm_wl_open(wl, &cfg, err, sizeof err);
    gm_trace_meta meta = {.source = "test", .compress = compress};
    gm_trace_writer *w = gm_trace_writer_open(path, &meta, err, sizeof err);
    CHECK(g && w);
    if (!g || !w) exit(1);
    for (unsigned t = 0; t < threads; t++) gm_trace_add_thread(w, "");
    uint64_t *obj = malloc(sizeof(uint64_t) * g->nslots);
    static gm_op ops_buf[4096];
    size_t n;
    while ((n = gm_wl_next(g, ops_buf, 4096)) > 0)
        for (size_t i = 0; i < n; i++) {
            const gm_op *o = &ops_buf[i];
            gm_trace_rec r = {.kind = o->kind,
                              .flags = o->flags,
                              .align_log2 = o->align_log2,
                              .thread = o->thread,
                              .obj = obj[o->id],
                              .size = o->size};
            uint64_t id = gm_trace_write(w, &r);
            if (o->kind == GM_OP_ALLOC) obj[o->id] = id;
        }
    free(obj);
    gm_wl_close(g);
    CHECK(gm_trace_writer_close(w, NULL, err, sizeof err) == 0);
    return ops;
}

static double bytes_per_op(const char *path, uint64_t ops)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    return (double)st.st_size / (double)ops;
}

static void test_size(void)
{
    const uint64_t ops = 200000;
    const char *p = tpath("churn.gmt");
    struct {
        const char *wl;
        unsigned threads;
    } cases[] = {{"churn", 1}, {"churn", 4}, {"batch", 1}, {"larson", 4}, {"producer-consumer", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_workload(p, cases[i].wl, ops, cases[i].threads, 0);
        double raw = bytes_per_op(p, ops);
#ifdef GM_HAVE_ZSTD
        write_workload(p, cases[i].wl, ops, cases[i].threads, 3);
        double z = bytes_per_op(p, ops);
#else
        double z = 0;
#endif
        printf("bytes/op %s threads %u: %.3f raw, %.3f zstd-3\n", cases[i].wl, cases[i].threads,
               raw, z);
        CHECK(raw < 8.0); /* a property of the encoding: tag + small varints */
    }
}

/* ---- hostile input ----------------------------------------------------------------------- */

/* Reads a trace from memory to the end; 0 clean, -1 error (err set). */
static int read_mem(const uint8_t *b, size_t len, char *err, size_t errlen)
{
    gm_trace_reader *r = gm_trace_open_mem(b, len, err, errlen);
    if (!r) return -1;
    gm_trace_rec rec;
    int e;
    uint64_t n = 0;
    while ((e = gm_trace_next(r, &rec)) == 1) n++;
    if (e < 0) snprintf(err, errlen, "%s", gm_trace_error(r));
    gm_trace_close(r);
    return e;
}

static void test_truncations_and_flips(const char *path)
{
    size_t len;
    uint8_t *b = slurp(path, &len), *c = malloc(len);
    char err[512];
    CHECK(read_mem(b, len, err, sizeof err) == 0);
    int bad = 0;
    for (size_t l = 0; l < len; l++) {
        memcpy(c, b, l); /* a copy of exactly l bytes, so ASan sees any overread */
        err[0] = 0;
        if (read_mem(c, l, err, sizeof err) != -1 || !strstr(err, "offset ")) {
            if (!bad++) fprintf(stderr, "  truncation at %zu: '%s'\n", l, err);
        }
    }
    CHECK_EQ(bad, 0);
    uint64_t s = 7;
    int flips = GM_TEST_SANITIZED ? 2000 : 10000;
    for (int i = 0; i < flips; i++) {
        memcpy(c, b, len);
        size_t at = gm_test_splitmix(&s) % len;
        c[at] ^= (uint8_t)(1 + gm_test_splitmix(&s) % 255);
        err[0] = 0;
        if (read_mem(c, len, err, sizeof err) != -1 || !strstr(err, "offset ")) {
            if (!bad++) fprintf(stderr, "  flip at %zu: '%s'\n", at, err);
        }
        /* Several flips at once: only "no crash, no hang" is promised. */
        for (int k = 0; k < 4; k++) c[gm_test_splitmix(&s) % len] = (uint8_t)gm_test_splitmix(&s);
        read_mem(c, len, err, sizeof err);
    }
    CHECK_EQ(bad, 0);
    free(b);
    free(c);
}

/* A valid chunk (type, payload, CRC) appended at b + *len. */
static void forge_chunk(uint8_t *b, size_t *len, uint8_t type, const uint8_t *payload, size_t n,
                        uint64_t claimed)
{
    uint8_t *start = b + *len, *p = start;
    *p++ = type;
    p += gm_varint_put(p, claimed);
    memcpy(p, payload, n);
    p += n;
    gm_le_put(p, gm_crc32c(0, start, (size_t)(p - start)), 4);
    *len = (size_t)(p + 4 - b);
}

static void expect_mem_error(const uint8_t *b, size_t len, const char *want)
{
    char err[512] = "";
    CHECK(read_mem(b, len, err, sizeof err) == -1);
    CHECK(strstr(err, want) != NULL);
    if (!strstr(err, want)) fprintf(stderr, "  want '%s', got '%s'\n", want, err);
}

static void test_forged(void)
{
    size_t len;
    uint8_t *b = slurp(tpath("hand.gmt"), &len), *c = malloc(len + 4096);
    size_t head = GM_TRACE_FIXED_LEN + (size_t)gm_le_get(b + 12, 4) + 4, n;
    memcpy(c, b, len);
    c[0] = 'X';
    expect_mem_error(c, len, "offset 0: not a gomalloc trace");
    memcpy(c, b, len);
    c[8] = 2;
    expect_mem_error(c, len, "offset 8: trace version 2 is not supported");
    memcpy(c, b, len);
    c[11] = 0x80;
    expect_mem_error(c, len, "offset 10: unknown header flags");
    memcpy(c, b, len);
    c[20] ^= 1;
    expect_mem_error(c, len, "header checksum mismatch");
    uint8_t pay[64];
    struct {
        uint8_t type;
        const char *payload; /* bytes */
        size_t n;
        uint64_t claimed;
        const char *want;
    } cases[] = {
        {GM_TRC_OPS, "", 0, (uint64_t)1 << 40, "exceeds the 16777216-byte limit"},
        {GM_TRC_OPS, "", 0, 1000, "file ends inside a chunk"},
        {GM_TRC_THREAD, "\x05\x00", 2, 2, "thread 5 out of order (expected 1)"},
        {GM_TRC_THREAD, "\x01\xff\xff\x03", 4, 4, "bad thread name"},
        {GM_TRC_SITE, "\xff\xff\xff\xff\x0f\x00", 6, 6, "site 4294967295 out of order"},
        {GM_TRC_OPS, "\xff\xff\xff\x7f\x00\x08", 6, 6, "ops chunk claims 268435455 records"},
        {GM_TRC_OPS, "\x01\x04\x07\x05", 4, 4, "thread not in the thread table"},
        {GM_TRC_OPS, "\x01\x08\x09\x05", 4, 4, "site not in the site table"},
        {GM_TRC_OPS, "\x01\x40\x02\x05", 4, 4, "alignment out of range"},
        {GM_TRC_OPS, "\x01\x02\x00\x00", 4, 4, "realloc to size 0"},
        {GM_TRC_OPS, "\x01\x03\x00", 3, 3, "mark 0 is reserved"},
        {GM_TRC_OPS, "\x01\x04\x85", 3, 3, "record truncated"},
        {GM_TRC_OPS, "\x01\x00\x05\x00", 4, 4, "bytes left over"},
        {GM_TRC_OPS, "\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 12, 12,
         "malformed varint"},
        {GM_TRC_OPS, "\x01\x80\x00\x05", 4, 4, "time delta in a trace without timestamps"},
        {GM_TRC_OPS_ZSTD, "\x01\x02\x00", 3, 3, "does not allow them"},
        {0x33, "", 0, 0, "unknown chunk type 0x33"},
        {GM_TRC_END, "\x00", 1, 1, "malformed END chunk"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n = head;
        memcpy(c, b, head);
        c[10] &= (uint8_t)~GM_TRF_TIMESTAMPS; /* and reseal the header */
        gm_le_put(c + head - 4, gm_crc32c(0, c, head - 4), 4);
        forge_chunk(c, &n, GM_TRC_THREAD, (const uint8_t *)"\x00\x01m", 3, 3);
        memcpy(pay, cases[i].payload, cases[i].n);
        forge_chunk(c, &n, cases[i].type, pay, cases[i].n, cases[i].claimed);
        if (cases[i].claimed != cases[i].n) n -= 4 + cases[i].n; /* the claim is the lie */
        expect_mem_error(c, n, cases[i].want);
    }
    /* An optional chunk (0x40..0x7f) is skipped; then the trace must still end properly. */
    n = head;
    memcpy(c, b, head);
    forge_chunk(c, &n, 0x41, (const uint8_t *)"future", 6, 6);
    memcpy(c + n, b + head, len - head);
    char err[512];
    CHECK(read_mem(c, n + len - head, err, sizeof err) == 0);
    expect_mem_error(c, n, "trace ends without an END chunk");
    memcpy(c, b, len);
    c[len] = 0;
    expect_mem_error(c, len + 1, "data after the END chunk");
    free(b);
    free(c);
}

/* ---- an unpatched header (written to a pipe) ---------------------------------------------- */

static void test_unpatched(void)
{
    const char *p = tpath("stdout.gmt");
    fflush(stdout);
    int saved = dup(1), fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    char err[512];
    gm_trace_meta meta = {.source = "pipe"};
    gm_trace_writer *w = gm_trace_writer_open("-", &meta, err, sizeof err);
    gm_trace_add_thread(w, "t");
    for (int i = 0; i < 100; i++) {
        gm_trace_rec r = {.kind = GM_TR_ALLOC, .size = 16};
        uint64_t id = gm_trace_write(w, &r);
        if (i % 2) gm_trace_write(w, &(gm_trace_rec){.kind = GM_TR_FREE, .obj = id});
    }
    CHECK(gm_trace_writer_close(w, NULL, err, sizeof err) == 0);
    dup2(saved, 1);
    close(saved);
    gm_trace_reader *r = gm_trace_open(p, err, sizeof err);
    bool complete = true;
    CHECK(r && gm_trace_header_summary(r, &complete)->records == 0 && !complete);
    gm_trace_close(r);
    gm_trace_stats st;
    CHECK(gm_trace_scan(p, &st, err, sizeof err) == 0 && !st.header_patched);
    CHECK_EQ(st.summary.peak_live_objects, 51);
    gm_wl_gen *g = gm_trace_gen_open(p, false, err, sizeof err); /* scans first */
    CHECK(g && g->nslots == 51 && g->cfg.ops == 150);            /* one thread: the peak */
    gm_wl_close(g);
}

/* ---- replay ------------------------------------------------------------------------------ */

enum { RT_THREADS = 8, RT_RECORDS = 30000 };
static bool rt_invalid[RT_RECORDS]; /* the records replay skips */

/* A random multi-threaded trace: cross-thread frees, reallocs, invalid frees, markers. */
static gm_trace_rec *write_threaded(const char *path, int compress)
{
    gm_trace_rec *recs = malloc(RT_RECORDS * sizeof *recs);
    uint64_t *live = malloc(RT_RECORDS * sizeof *live), nlive = 0, nallocs = 0, s = 99;
    char err[512];
    gm_trace_meta meta = {.source = "test", .timestamps = true, .compress = compress};
    gm_trace_writer *w = gm_trace_writer_open(path, &meta, err, sizeof err);
    for (int t = 0; t < RT_THREADS; t++) gm_trace_add_thread(w, "w");
    gm_trace_add_site(w, "f");
    for (int i = 0; i < RT_RECORDS; i++) {
        uint64_t x = gm_test_splitmix(&s), pick = nlive ? (x >> 20) % nlive : 0;
        gm_trace_rec r = {.thread = (uint32_t)(x % RT_THREADS), .time_ns = (uint64_t)i * 10};
        unsigned what = (unsigned)(x >> 8) % 100;
        if (what < 2) {
            r.kind = GM_TR_MARK, r.mark = GM_TR_MARK_GC;
        } else if (what < 4) {
            r.kind = GM_TR_FREE, r.obj = nallocs + 5; /* never allocated */
            rt_invalid[i] = true;
        } else if (what < 45 && nlive) {
            r.kind = GM_TR_FREE, r.obj = live[pick], live[pick] = live[--nlive];
        } else if (what < 50 && nlive) {
            r.kind = GM_TR_REALLOC, r.obj = live[pick], r.size = 1 + (x >> 40) % 5000;
        } else {
            r.kind = GM_TR_ALLOC, r.size = (x >> 40) % 3000, r.site = x >> 60 & 1;
            r.flags = (uint8_t)(x >> 50 & 3), r.align_log2 = x >> 55 & 1 ? 6 : 0;
            live[nlive++] = nallocs;
        }
        uint64_t id = gm_trace_write(w, &r);
        if (r.kind == GM_TR_ALLOC) r.obj = id, nallocs++;
        recs[i] = r;
        if (what == 44 && r.kind == GM_TR_FREE && i + 1 < RT_RECORDS) /* a double free */
            gm_trace_write(w, &r), recs[++i] = r, rt_invalid[i] = true;
    }
    CHECK(gm_trace_writer_close(w, NULL, err, sizeof err) == 0);
    free(live);
    return recs;
}

static void test_replay(int compress)
{
    const char *path = tpath("threads.gmt");
    gm_trace_rec *recs = write_threaded(path, compress);
    char err[512];
    gm_trace_stats st;
    CHECK(gm_trace_scan(path, &st, err, sizeof err) == 0);
    gm_wl_gen *g = gm_trace_gen_open(path, false, err, sizeof err);
    CHECK(g != NULL);
    if (!g) return;
    CHECK_EQ(g->cfg.threads, RT_THREADS);
    CHECK_EQ(g->nslots, 2 * st.summary.peak_live_objects);
    gm_stream_track t;
    gm_stream_track_init(&t, g->nslots, g->cfg.threads);
    uint16_t *freer = calloc(g->nslots, sizeof *freer); /* 1 + last freeing thread */
    static gm_op ops[1000];
    size_t n, peak_at, r = 0, mismatch = 0, foreign_reuse = 0, ok = 1;
    while ((n = gm_wl_next(g, ops, 1000)) > 0) {
        if (gm_stream_track_ops(&t, ops, n, &peak_at) != 0) {
            fprintf(stderr, "  tracker: %s\n", t.err);
            ok = 0;
        }
        for (size_t i = 0; i < n; i++, r++) {
            const gm_op *o = &ops[i];
            while (r < RT_RECORDS && (recs[r].kind == GM_TR_MARK || rt_invalid[r])) r++;
            mismatch += r >= RT_RECORDS || o->kind != recs[r].kind || o->thread != recs[r].thread ||
                        o->size != recs[r].size || o->flags != recs[r].flags ||
                        o->align_log2 != recs[r].align_log2 || o->site != recs[r].site;
            if (o->kind == GM_OP_ALLOC && freer[o->id] && freer[o->id] != o->thread + 1)
                foreign_reuse++;
            if (o->kind == GM_OP_FREE) freer[o->id] = (uint16_t)(o->thread + 1);
        }
    }
    CHECK(ok);
    CHECK(gm_trace_gen_error(g) == NULL);
    if (gm_trace_gen_error(g)) fprintf(stderr, "  replay: %s\n", gm_trace_gen_error(g));
    /* Exactly the recorded calls of each kind: the trace's counts minus the skipped invalid
     * ones (all frees here: the random reallocs only name live objects). */
    CHECK_EQ(t.count[GM_OP_ALLOC], st.summary.count[GM_TR_ALLOC]);
    CHECK_EQ(t.count[GM_OP_FREE], st.summary.count[GM_TR_FREE] - st.summary.invalid);
    CHECK_EQ(t.count[GM_OP_REALLOC], st.summary.count[GM_TR_REALLOC]);
    CHECK_EQ(t.nops, g->cfg.ops);
    CHECK(st.summary.invalid > 100 && st.summary.count[GM_TR_MARK] > 100);
    uint64_t rep, inv, marks;
    gm_trace_gen_counts(g, &rep, &inv, &marks);
    CHECK(rep == t.nops && inv == st.summary.invalid && marks == st.summary.count[GM_TR_MARK]);
    CHECK_EQ(t.peak_live_bytes, st.summary.peak_live_bytes);
    CHECK_EQ(mismatch, 0);
    CHECK_EQ(foreign_reuse, gm_trace_gen_steals(g));
    printf("replay: %llu ops on %u threads, %u slots, %llu steals\n", (unsigned long long)t.nops,
           g->cfg.threads, g->nslots, (unsigned long long)gm_trace_gen_steals(g));
    free(freer);
    gm_stream_track_destroy(&t);
    gm_wl_close(g);
    free(recs);
}

static void test_strict(void)
{
    char err[512];
    const char *txt = tpath("strict.txt"), *bin = tpath("strict.gmt");
    const char *text = "alloc a 8\nalloc b 8 t1\nfree a t1\nfree a\nfree b\n";
    spill(txt, text, strlen(text));
    CHECK(gm_trace_from_text(txt, bin, err, sizeof err) == 0);
    for (int strict = 0; strict < 2; strict++) {
        gm_wl_gen *g = gm_trace_gen_open(bin, strict, err, sizeof err);
        CHECK(g && g->cfg.ops == 4 && g->cfg.threads == 2);
        gm_op ops[16];
        size_t total = 0, n;
        while ((n = gm_wl_next(g, ops + total, 16 - total)) > 0) total += n;
        CHECK_EQ(total, strict ? 3 : 4);
        const char *e = gm_trace_gen_error(g);
        CHECK(strict ? e && strstr(e, "record 3") && strstr(e, "offset ") : !e);
        if (strict && e) printf("strict replay: %s\n", e);
        gm_wl_close(g);
    }
}

/* Producer-consumer: every free is on the other thread, so the producer's own list stays
 * empty; once the 2 × peak slots are used it steals, and every steal is a reuse of a slot the
 * other thread freed (and the only such reuse). */
static void test_steals(void)
{
    const char *path = tpath("pc.gmt");
    char err[512];
    write_workload(path, "producer-consumer", 20000, 2, 0);
    gm_wl_gen *g = gm_trace_gen_open(path, false, err, sizeof err);
    CHECK(g != NULL);
    if (!g) return;
    gm_stream_track t;
    gm_stream_track_init(&t, g->nslots, g->cfg.threads);
    uint16_t *freer = calloc(g->nslots, sizeof *freer);
    static gm_op ops[1000];
    size_t n, peak_at, foreign = 0, ok = 1;
    while ((n = gm_wl_next(g, ops, 1000)) > 0) {
        ok &= gm_stream_track_ops(&t, ops, n, &peak_at) == 0;
        for (size_t i = 0; i < n; i++) {
            if (ops[i].kind == GM_OP_ALLOC && freer[ops[i].id] &&
                freer[ops[i].id] != ops[i].thread + 1)
                foreign++;
            if (ops[i].kind == GM_OP_FREE) freer[ops[i].id] = (uint16_t)(ops[i].thread + 1);
        }
    }
    CHECK(ok && gm_trace_gen_error(g) == NULL && t.nops == 20000);
    CHECK(gm_trace_gen_steals(g) > 0);
    CHECK_EQ(foreign, gm_trace_gen_steals(g));
    free(freer);
    gm_stream_track_destroy(&t);
    gm_wl_close(g);
}

/* Replays a whole trace; returns the most memory the generator had mapped. */
static uint64_t replay_mapped(const char *path, uint64_t *nops)
{
    char err[512];
    gm_wl_gen *g = gm_trace_gen_open(path, false, err, sizeof err);
    CHECK(g != NULL);
    if (!g) return 0;
    static gm_op ops[4096];
    uint64_t most = 0, m;
    size_t n;
    *nops = 0;
    while ((n = gm_wl_next(g, ops, 4096)) > 0) {
        *nops += n;
        if ((m = gm_trace_gen_mapped_bytes(g)) > most) most = m;
    }
    CHECK(gm_trace_gen_error(g) == NULL);
    gm_wl_close(g);
    return most;
}

static void test_bounded_memory(void)
{
    uint64_t big = GM_TEST_SANITIZED ? 1000000 : 5000000, n1, n2;
    write_workload(tpath("small.gmt"), "churn", 50000, 1, 0);
    write_workload(tpath("big.gmt"), "churn", big, 1, 0);
    uint64_t m1 = replay_mapped(tpath("small.gmt"), &n1), m2 = replay_mapped(tpath("big.gmt"), &n2);
    printf("replay mapped bytes: %llu for %llu ops, %llu for %llu ops\n", (unsigned long long)m1,
           (unsigned long long)n1, (unsigned long long)m2, (unsigned long long)n2);
    CHECK_EQ(n1, 50000);
    CHECK_EQ(n2, big);
    CHECK_EQ(m1, m2); /* the same live set: the same memory, 100 times the length */
    CHECK(m2 < 4 * MiB);
}

/* The op stream's goroutine kinds and the NOESCAPE flag have no encoding: the writer refuses
 * them and reports it at close (gm_workload.h, TRACE_FORMAT.md). */
static void test_goroutine_ops_rejected(void)
{
    static const struct {
        uint8_t kind, flags;
        const char *why;
    } cases[] = {
        {GM_OP_GO, 0, "unknown record kind"},
        {GM_OP_CALL, 0, "unknown record kind"},
        {GM_OP_RET, 0, "unknown record kind"},
        {GM_OP_ALLOC, GM_OPF_NOESCAPE, "unknown flags"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        gm_trace_meta meta = {.source = "test"};
        gm_trace_writer *w = gm_trace_writer_open(tpath("goroutine.gmt"), &meta, err, sizeof err);
        CHECK(w != NULL);
        if (!w) return;
        gm_trace_add_thread(w, "");
        gm_trace_rec r = {.kind = cases[i].kind, .flags = cases[i].flags, .size = 16};
        gm_trace_write(w, &r);
        CHECK(gm_trace_writer_close(w, NULL, err, sizeof err) == -1);
        if (!strstr(err, cases[i].why)) fprintf(stderr, "  kind %u: %s\n", cases[i].kind, err);
        CHECK(strstr(err, cases[i].why) != NULL);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/gm_test_trace.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    for (int times = 0; times < 2; times++) {
        test_roundtrip(times, 0);
#ifdef GM_HAVE_ZSTD
        test_roundtrip(times, 3);
#endif
    }
    test_summary_and_text();
    test_text_errors();
    test_size();
    test_forged();
    test_truncations_and_flips(tpath("hand.gmt"));
#ifdef GM_HAVE_ZSTD
    write_workload(tpath("small-z.gmt"), "batch", 3000, 1, 3);
    test_truncations_and_flips(tpath("small-z.gmt"));
#endif
    test_unpatched();
    test_replay(0);
#ifdef GM_HAVE_ZSTD
    test_replay(3);
#endif
    test_strict();
    test_steals();
    test_bounded_memory();
    test_goroutine_ops_rejected();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return gm_test_finish("test_trace");
}
