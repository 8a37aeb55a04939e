/*
 * test_json.c — the JSON writer produces exactly the text we expect, the reader accepts what the
 * writer produces and rejects malformed documents at the right offset, hostile input never
 * crashes it, and result files are replaced atomically.
 *
 * Every document handed to the parser is copied into a buffer of exactly its length (no NUL
 * after it), so an ASan build catches any read past the end.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gm_test.h"
#include "json.h"

/* ---- helpers ---- */

/* Inputs of successful parses: raw points into them, so they live until the end of main. */
static void *kept_inputs[256];
static size_t nkept;

static gm_jval *parse_exact(gm_arena *a, const char *text, size_t len, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    gm_jval *v = gm_json_parse(a, copy, len, err, errlen);
    if (v && nkept < sizeof kept_inputs / sizeof kept_inputs[0])
        kept_inputs[nkept++] = copy;
    else if (v)
        abort(); /* raise the limit */
    else
        free(copy);
    return v;
}

static void free_kept_inputs(void)
{
    while (nkept > 0) free(kept_inputs[--nkept]);
}

static void check_text(const char *what, const gm_json *j, const char *want)
{
    bool ok = j->len == strlen(want) && strcmp(j->buf, want) == 0;
    if (!ok) fprintf(stderr, "  %s:\n  got:  [%s]\n  want: [%s]\n", what, j->buf, want);
    CHECK(ok);
}

/* Writes a parsed value back out, as a caller re-emitting a run file would. */
static void emit(gm_json *j, const char *key, const gm_jval *v)
{
    switch (v->type) {
    case GM_JNULL:
        gm_json_null(j, key);
        break;
    case GM_JBOOL:
        gm_json_bool(j, key, v->b);
        break;
    case GM_JNUM:
        gm_json_num(j, key, v->num);
        break;
    case GM_JSTR:
        gm_json_strn(j, key, v->str, v->n);
        break;
    case GM_JARR:
        gm_json_array_begin(j, key);
        for (size_t i = 0; i < v->n; i++) emit(j, NULL, &v->items[i]);
        gm_json_array_end(j);
        break;
    case GM_JOBJ:
        gm_json_object_begin(j, key);
        for (size_t i = 0; i < v->n; i++) emit(j, v->keys[i], &v->items[i]);
        gm_json_object_end(j);
        break;
    }
}

static bool same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static bool equal(const gm_jval *a, const gm_jval *b)
{
    if (a->type != b->type) return false;
    switch (a->type) {
    case GM_JNULL:
        return true;
    case GM_JBOOL:
        return a->b == b->b;
    case GM_JNUM:
        return same_double(a->num, b->num);
    case GM_JSTR:
        return a->n == b->n && memcmp(a->str, b->str, a->n) == 0;
    case GM_JARR:
    case GM_JOBJ:
        if (a->n != b->n) return false;
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == GM_JOBJ && strcmp(a->keys[i], b->keys[i]) != 0) return false;
            if (!equal(&a->items[i], &b->items[i])) return false;
        }
        return true;
    }
    return false;
}

/* Structural invariants of a parsed tree over the input text[0..len). */
static bool tree_ok(const gm_jval *v, const char *text, size_t len)
{
    if (v->raw < text || v->raw + v->rawlen > text + len || v->rawlen == 0) return false;
    switch (v->type) {
    case GM_JSTR:
        return v->str && v->str[v->n] == '\0' && v->raw[0] == '"';
    case GM_JNUM:
        return isfinite(v->num);
    case GM_JARR:
    case GM_JOBJ:
        if (v->n && !v->items) return false;
        if (v->type == GM_JOBJ && v->n && !v->keys) return false;
        for (size_t i = 0; i < v->n; i++)
            if (!tree_ok(&v->items[i], text, len) || (v->type == GM_JOBJ && !v->keys[i]))
                return false;
        return true;
    default:
        return true;
    }
}

/* ---- writer ---- */

static void write_nested(gm_json *j)
{
    gm_json_object_begin(j, NULL);
    gm_json_str(j, "name", "gm");
    gm_json_u64(j, "n", 3);
    gm_json_array_begin(j, "xs");
    gm_json_u64(j, NULL, 1);
    gm_json_num(j, NULL, 2.5);
    gm_json_null(j, NULL);
    gm_json_object_begin(j, NULL);
    gm_json_object_end(j);
    gm_json_array_begin(j, NULL);
    gm_json_i64(j, NULL, -1);
    gm_json_array_end(j);
    gm_json_array_end(j);
    gm_json_object_begin(j, "empty");
    gm_json_object_end(j);
    gm_json_array_begin(j, "ea");
    gm_json_array_end(j);
    gm_json_bool(j, "t", true);
    gm_json_bool(j, "f", false);
    gm_json_str(j, "nul", NULL);
    gm_json_object_begin(j, "o");
    gm_json_i64(j, "neg", -5);
    gm_json_raw(j, "raw", "[1,2]", 5);
    gm_json_object_end(j);
    gm_json_object_end(j);
}

static void test_writer_layout(void)
{
    gm_json j;
    gm_json_init(&j, false);
    CHECK(j.buf && j.buf[0] == '\0');
    write_nested(&j);
    check_text("compact", &j,
               "{\"name\":\"gm\",\"n\":3,\"xs\":[1,2.5,null,{},[-1]],\"empty\":{},\"ea\":[],"
               "\"t\":true,\"f\":false,\"nul\":null,\"o\":{\"neg\":-5,\"raw\":[1,2]}}");
    CHECK_EQ(j.depth, 0);
    gm_json_free(&j);

    gm_json_init(&j, true);
    write_nested(&j);
    check_text("pretty", &j,
               "{\n"
               "  \"name\": \"gm\",\n"
               "  \"n\": 3,\n"
               "  \"xs\": [\n"
               "    1,\n"
               "    2.5,\n"
               "    null,\n"
               "    {},\n"
               "    [\n"
               "      -1\n"
               "    ]\n"
               "  ],\n"
               "  \"empty\": {},\n"
               "  \"ea\": [],\n"
               "  \"t\": true,\n"
               "  \"f\": false,\n"
               "  \"nul\": null,\n"
               "  \"o\": {\n"
               "    \"neg\": -5,\n"
               "    \"raw\": [1,2]\n"
               "  }\n"
               "}");
    gm_json_free(&j);

    /* A bare top-level scalar and a top-level array. */
    gm_json_init(&j, true);
    gm_json_u64(&j, NULL, 7);
    check_text("top-level scalar", &j, "7");
    gm_json_free(&j);
    gm_json_init(&j, false);
    gm_json_array_begin(&j, NULL);
    gm_json_str(&j, NULL, "a");
    gm_json_str(&j, NULL, "b");
    gm_json_array_end(&j);
    check_text("top-level array", &j, "[\"a\",\"b\"]");
    gm_json_free(&j);

    /* As deep as the writer allows, and large enough to grow the buffer many times. */
    gm_json_init(&j, false);
    for (int d = 0; d < GM_JSON_MAX_DEPTH - 1; d++) gm_json_array_begin(&j, NULL);
    for (int d = 0; d < GM_JSON_MAX_DEPTH - 1; d++) gm_json_array_end(&j);
    CHECK_EQ(j.len, 2 * (GM_JSON_MAX_DEPTH - 1));
    gm_json_free(&j);
    gm_json_init(&j, true);
    gm_json_array_begin(&j, NULL);
    for (int i = 0; i < 200000; i++) gm_json_u64(&j, NULL, (uint64_t)i);
    gm_json_array_end(&j);
    CHECK(j.len > 200000 * 5);
    CHECK(strcmp(j.buf + j.len - 11, "\n  199999\n]") == 0);
    gm_json_free(&j);
}

static void unbalanced_end(void *arg)
{
    (void)arg;
    gm_json j;
    gm_json_init(&j, false);
    gm_json_array_begin(&j, NULL);
    gm_json_array_end(&j);
    gm_json_array_end(&j);
}

static void too_deep(void *arg)
{
    (void)arg;
    gm_json j;
    gm_json_init(&j, false);
    for (int d = 0; d < GM_JSON_MAX_DEPTH; d++) gm_json_object_begin(&j, d ? "k" : NULL);
}

/* Misuse is a harness bug: the writer aborts with a message instead of writing bad JSON. */
static void test_writer_misuse(void)
{
    char out[512];
    int st = gm_run_child(unbalanced_end, NULL, out, sizeof out);
    CHECK(gm_child_aborted(st) && strstr(out, "JSON writer misuse: array_end"));
    st = gm_run_child(too_deep, NULL, out, sizeof out);
    CHECK(gm_child_aborted(st) && strstr(out, "JSON writer misuse: containers nested deeper"));
}

static void test_writer_escaping(void)
{
    gm_json j;
    gm_json_init(&j, false);
    gm_json_object_begin(&j, NULL);
    gm_json_str(&j, "s", "a\"b\\c/d\n\t\r\b\f\x01\x1f\x7f");
    gm_json_strn(&j, "nul", "a\0b", 3);
    gm_json_str(&j, "utf8", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* é € 😀 pass through */
    /* Not UTF-8: a stray continuation byte, a truncated sequence, an overlong '/', a UTF-16
     * surrogate encoded in UTF-8, 0xff. Each bad byte becomes U+FFFD. */
    gm_json_str(&j, "bad", "\x80|\xc3|\xc0\xaf|\xed\xa0\x80|\xff");
    gm_json_str(&j, "k\"\n", "");
    gm_json_object_end(&j);
    check_text("escaping", &j,
               "{\"s\":\"a\\\"b\\\\c/d\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\","
               "\"nul\":\"a\\u0000b\","
               "\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
               "\"bad\":\"\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\","
               "\"k\\\"\\n\":\"\"}");
    gm_json_free(&j);
}

static void test_writer_numbers(void)
{
    gm_json j;
    gm_json_init(&j, false);
    gm_json_array_begin(&j, NULL);
    static const double nums[] = {
        0,          1e6,        -0.0,   0.1,     1.5,
        -2.25,      1e300,      -1e-7,  1.0 / 3, 1e17,
        1e19,       0x1p53 + 2, 0x1p64, 5e-324,  1.7976931348623157e308,
        123456.789,
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) gm_json_num(&j, NULL, nums[i]);
    gm_json_num(&j, NULL, NAN);
    gm_json_num(&j, NULL, INFINITY);
    gm_json_num(&j, NULL, -INFINITY);
    gm_json_u64(&j, NULL, UINT64_MAX);
    gm_json_u64(&j, NULL, 0);
    gm_json_i64(&j, NULL, INT64_MIN);
    gm_json_i64(&j, NULL, INT64_MAX);
    gm_json_array_end(&j);
    check_text("numbers", &j,
               "[0,1000000,-0,0.1,1.5,-2.25,1e+300,-1e-07,0.3333333333333333,"
               "100000000000000000,10000000000000000000,9007199254740994,"
               "1.8446744073709552e+19,4.94065645841247e-324,1.7976931348623157e+308,"
               "123456.789,null,null,null,18446744073709551615,0,-9223372036854775808,"
               "9223372036854775807]");
    gm_json_free(&j);
}

/* ---- reader ---- */

static void test_reader_values(void)
{
    gm_arena *a = gm_arena_create();
    char err[128] = "";
    const char *doc = " {\"a\": {\"b\": {\"c\": 42.5}}, \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\/\","
                      " \"arr\": [true, false, null, -0, 1E3, 2e-2, \"\"], \"e\": {},"
                      " \"dup\": 1, \"dup\": 2, \"big\": 18446744073709551615,"
                      " \"esc\": \"\\\"\\\\\\b\\f\\r\\t\\u0000z\", \"a.b\": 3 } \n";
    gm_jval *v = parse_exact(a, doc, strlen(doc), err, sizeof err);
    CHECK(v != NULL);
    if (!v) {
        fprintf(stderr, "  parse failed: %s\n", err);
        gm_arena_destroy(a);
        return;
    }
    CHECK(tree_ok(v, v->raw, v->rawlen));
    CHECK_EQ(v->type, GM_JOBJ);
    CHECK_EQ(v->n, 9);
    CHECK(v->raw[0] == '{' && v->raw[v->rawlen - 1] == '}');
    CHECK(gm_json_get_num(v, "a.b.c", 0) == 42.5);
    CHECK(gm_json_get(v, "a.b")->type == GM_JOBJ);
    CHECK(gm_json_get(v, "a.b.c.d") == NULL);
    CHECK(gm_json_get(v, "a.x") == NULL);
    CHECK(gm_json_get(v, "") == v);
    CHECK(gm_json_get(v, "a.b") != NULL && gm_json_get_num(v, "a.b", -1) == -1);
    CHECK(gm_json_get(v, "arr.0") == NULL); /* paths name object members only */
    CHECK(strcmp(gm_json_get_str(v, "s", "?"), "x\xc3\xa9\xf0\x9f\x98\x80\n/") == 0);
    CHECK(strcmp(gm_json_get_str(v, "a", "def"), "def") == 0);
    CHECK(strcmp(gm_json_get_str(v, "missing", "def"), "def") == 0);
    CHECK(gm_json_get_num(v, "dup", 0) == 2); /* the last duplicate wins */
    CHECK(gm_json_get_num(v, "missing", 7) == 7);
    CHECK(gm_json_get_num(v, "big", 0) == 18446744073709551615.0);
    const gm_jval *big = gm_json_get(v, "big");
    CHECK(big && big->rawlen == 20 && memcmp(big->raw, "18446744073709551615", 20) == 0);
    const gm_jval *esc = gm_json_get(v, "esc");
    CHECK(esc && esc->n == 8 && memcmp(esc->str, "\"\\\b\f\r\t\0z", 9) == 0);
    const gm_jval *arr = gm_json_get(v, "arr");
    CHECK(arr && arr->type == GM_JARR && arr->n == 7 && arr->keys == NULL);
    if (arr && arr->n == 7) {
        CHECK(arr->items[0].type == GM_JBOOL && arr->items[0].b);
        CHECK(arr->items[1].type == GM_JBOOL && !arr->items[1].b);
        CHECK(arr->items[2].type == GM_JNULL);
        CHECK(same_double(arr->items[3].num, -0.0));
        CHECK(arr->items[4].num == 1000 && arr->items[4].rawlen == 3);
        CHECK(arr->items[5].num == 2e-2);
        CHECK(arr->items[6].type == GM_JSTR && arr->items[6].n == 0 && arr->items[6].str[0] == 0);
    }
    const gm_jval *e = gm_json_get(v, "e");
    CHECK(e && e->type == GM_JOBJ && e->n == 0 && e->rawlen == 2);
    CHECK(gm_json_get(NULL, "a") == NULL);

    /* Scalars at the top level, and surrounding whitespace. */
    static const char *scalars[] = {"0", " true ", "null", "\"\"", "-1.5e-3", "[]", "\t{}\r\n"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        CHECK(parse_exact(a, scalars[i], strlen(scalars[i]), err, sizeof err) != NULL);
    gm_arena_destroy(a);
}

static void test_round_trip(void)
{
    gm_arena *a = gm_arena_create();
    char err[128];
    uint64_t seed = 1;
    gm_json j;
    gm_json_init(&j, false);
    gm_json_object_begin(&j, NULL);
    gm_json_array_begin(&j, "doubles");
    enum { NDOUBLES = 20000 };
    static double d[NDOUBLES];
    for (int i = 0; i < NDOUBLES; i++) {
        uint64_t bits;
        do {
            bits = gm_test_splitmix(&seed);
            if (i % 4 == 1) /* ordinary magnitudes too, not only the extremes */
                bits = (bits & 0x800fffffffffffffull) | (uint64_t)(1003 + i % 40) << 52;
            if (i % 4 == 2) /* integers, including the %.0f range up to 2^64 */
                bits = 0, d[i] = (double)(gm_test_splitmix(&seed) >> (i % 64));
            if (bits) memcpy(&d[i], &bits, sizeof bits);
        } while (!isfinite(d[i]));
        gm_json_num(&j, NULL, d[i]);
    }
    gm_json_array_end(&j);
    gm_json_array_begin(&j, "strings");
    char s[256];
    for (int i = 0; i < 255; i++) s[i] = (char)(i + 1); /* 0x01..0xff: ASCII and invalid bytes */
    gm_json_strn(&j, NULL, s, 255);
    gm_json_strn(&j, NULL, "\0\xe2\x82\xac\xf4\x8f\xbf\xbf", 8); /* NUL, €, U+10FFFF */
    gm_json_array_end(&j);
    gm_json_u64(&j, "u64max", UINT64_MAX);
    gm_json_i64(&j, "i64", -1234567890123);
    gm_json_object_end(&j);

    gm_jval *v = parse_exact(a, j.buf, j.len, err, sizeof err);
    CHECK(v != NULL);
    if (!v) {
        fprintf(stderr, "  round trip parse: %s\n", err);
    } else {
        const gm_jval *ds = gm_json_get(v, "doubles");
        CHECK(ds && ds->n == NDOUBLES);
        int bad = 0;
        for (int i = 0; ds && i < NDOUBLES; i++) {
            if (!same_double(ds->items[i].num, d[i]) && bad++ < 5)
                fprintf(stderr, "  double %.17g came back as %.17g (%.*s)\n", d[i],
                        ds->items[i].num, (int)ds->items[i].rawlen, ds->items[i].raw);
        }
        CHECK_EQ(bad, 0);
        const gm_jval *ss = gm_json_get(v, "strings");
        CHECK(ss && ss->n == 2);
        if (ss && ss->n == 2) {
            /* ASCII comes back as written; 0x80..0xff (never valid alone) as U+FFFD each. */
            CHECK(ss->items[0].n == 127 + 128 * 3);
            CHECK(memcmp(ss->items[0].str, s, 127) == 0);
            CHECK(memcmp(ss->items[0].str + 127, "\xef\xbf\xbd", 3) == 0);
            CHECK(ss->items[1].n == 8 && memcmp(ss->items[1].str, "\0\xe2\x82\xac", 4) == 0);
        }
        const gm_jval *u = gm_json_get(v, "u64max");
        CHECK(u && u->rawlen == 20 && memcmp(u->raw, "18446744073709551615", 20) == 0);
        CHECK(gm_json_get_num(v, "i64", 0) == -1234567890123.0);

        /* writer(parse(x)) parses to the same tree, in both layouts. */
        for (int pretty = 0; pretty < 2; pretty++) {
            gm_json k;
            gm_json_init(&k, pretty);
            emit(&k, NULL, v);
            gm_jval *w = parse_exact(a, k.buf, k.len, err, sizeof err);
            CHECK(w && equal(v, w));
            gm_json_free(&k);
        }
    }
    gm_json_free(&j);
    gm_arena_destroy(a);
}

static void test_reader_errors(void)
{
    static const struct {
        const char *doc;
        const char *err;
    } cases[] = {
        {"", "offset 0: expected a value"},
        {"   ", "offset 3: expected a value"},
        {"{", "offset 1: expected a string key in object"},
        {"{\"alpha\":1,\"beta\"2}", "offset 17: expected ':' after object key"},
        {"{\"a\" :1,\"b\" 2}", "offset 12: expected ':' after object key"},
        {"{\"a\":1,}", "offset 7: expected a string key in object"},
        {"{1:2}", "offset 1: expected a string key in object"},
        {"{\"a\":1 \"b\":2}", "offset 7: expected ',' or '}' in object"},
        {"{\"a\":}", "offset 5: expected a value"},
        {"[1,]", "offset 3: expected a value"},
        {"[1 2]", "offset 3: expected ',' or ']' in array"},
        {"[\"a\":1]", "offset 4: expected ',' or ']' in array"},
        {"[", "offset 1: expected a value"},
        {"[1", "offset 2: expected ',' or ']' in array"},
        {"01", "offset 1: trailing characters after the value"},
        {"[1] x", "offset 4: trailing characters after the value"},
        {"{}{}", "offset 2: trailing characters after the value"},
        {"-", "offset 1: invalid number: expected a digit"},
        {"-a", "offset 1: invalid number: expected a digit"},
        {"1.", "offset 2: invalid number: expected a digit after '.'"},
        {"1.e5", "offset 2: invalid number: expected a digit after '.'"},
        {"1e", "offset 2: invalid number: expected a digit in the exponent"},
        {"1e+", "offset 3: invalid number: expected a digit in the exponent"},
        {"+1", "offset 0: expected a value"},
        {".5", "offset 0: expected a value"},
        {"0x10", "offset 1: trailing characters after the value"},
        {"1e400", "offset 0: number out of range"},
        {"[-1e999]", "offset 1: number out of range"},
        {"NaN", "offset 0: expected a value"},
        {"Infinity", "offset 0: expected a value"},
        {"tru", "offset 0: expected a value"},
        {"nul", "offset 0: expected a value"},
        {"True", "offset 0: expected a value"},
        {"truex", "offset 4: trailing characters after the value"},
        {"\"abc", "offset 0: unterminated string"},
        {"\"abc\\", "offset 0: unterminated string"},
        {"\"a\\x\"", "offset 2: invalid escape in string"},
        {"\"\\u12g4\"", "offset 1: invalid \\u escape"},
        {"\"\\u12\"", "offset 1: invalid \\u escape"},
        {"\"\\ud800\"", "offset 1: unpaired surrogate in \\u escape"},
        {"\"\\ud800\\u0041\"", "offset 1: unpaired surrogate in \\u escape"},
        {"\"\\udc00\"", "offset 1: unpaired surrogate in \\u escape"},
        {"\"a\x01\"", "offset 2: control character in string"},
        {"\"a\nb\"", "offset 2: control character in string"},
        {"\"\xff\"", "offset 1: invalid UTF-8 in string"},
        {"\"\xc0\xaf\"", "offset 1: invalid UTF-8 in string"},
        {"\"\xed\xa0\x80\"", "offset 1: invalid UTF-8 in string"},
        {"\"\xe2\x82\"", "offset 1: invalid UTF-8 in string"},
        {"\xef\xbb\xbf{}", "offset 0: expected a value"}, /* a BOM is not JSON */
        {"{\"a\":[1,{\"b\":[tru]}]}", "offset 14: expected a value"},
        {"\v1", "offset 0: expected a value"},
    };
    gm_arena *a = gm_arena_create();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[128] = "";
        gm_jval *v = parse_exact(a, cases[i].doc, strlen(cases[i].doc), err, sizeof err);
        bool ok = v == NULL && strcmp(err, cases[i].err) == 0;
        if (!ok)
            fprintf(stderr, "  [%s]: got \"%s\", want \"%s\"\n", cases[i].doc, err, cases[i].err);
        CHECK(ok);
    }

    /* Nesting: 64 levels parse, 65 do not, and a million do not exhaust the stack. */
    char deep[2 * GM_JSON_MAX_DEPTH + 2], err[128];
    for (int n = GM_JSON_MAX_DEPTH; n <= GM_JSON_MAX_DEPTH + 1; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        gm_jval *v = parse_exact(a, deep, 2 * (size_t)n, err, sizeof err);
        if (n == GM_JSON_MAX_DEPTH)
            CHECK(v != NULL);
        else
            CHECK(v == NULL && strcmp(err, "offset 64: nesting deeper than GM_JSON_MAX_DEPTH "
                                           "(64)") == 0);
    }
    size_t huge = 1000000;
    char *h = malloc(huge);
    memset(h, '[', huge);
    CHECK(gm_json_parse(a, h, huge, err, sizeof err) == NULL);
    memset(h, '{', huge);
    CHECK(gm_json_parse(a, h, huge, err, sizeof err) == NULL);
    free(h);

    /* A NULL or empty error buffer is allowed. */
    CHECK(gm_json_parse(a, "[", 1, NULL, 0) == NULL);
    CHECK(gm_json_parse(a, "x", 1, err, 0) == NULL);
    gm_arena_destroy(a);
}

static const char valid_doc[] =
    "{\"run\":{\"allocator\":\"gomalloc\",\"threads\":8,\"ok\":true,\"x\":null},"
    "\"latency\":{\"malloc\":{\"p50_ns\":21,\"p99_ns\":1.25e2,\"hist\":[0,1,-2.5,3e-7]}},"
    "\"note\":\"tab\\t \\u00e9 \\ud83d\\ude00 \\\"q\\\"\",\"e\":[],\"o\":{}}";

/* Every proper prefix of a document fails with an error that names an offset in the text. */
static void test_truncated(void)
{
    gm_arena *a = gm_arena_create();
    char err[128];
    size_t len = strlen(valid_doc);
    CHECK(parse_exact(a, valid_doc, len, err, sizeof err) != NULL);
    for (size_t n = 0; n < len; n++) {
        err[0] = '\0';
        gm_jval *v = parse_exact(a, valid_doc, n, err, sizeof err);
        unsigned long off = ~0ul;
        bool ok = v == NULL && sscanf(err, "offset %lu: ", &off) == 1 && off <= n;
        if (!ok) fprintf(stderr, "  prefix %zu: %s\n", n, v ? "parsed" : err);
        CHECK(ok);
    }
    gm_arena_destroy(a);
}

/* Hostile input: random bytes over a JSON-heavy alphabet, and random edits of a valid document.
 * Nothing may crash or read out of bounds (ASan), and whatever parses must be a sound tree
 * that survives writer -> parser unchanged. */
static void test_fuzz(void)
{
    static const char alphabet[] = "{}[]\",:.-+eE0123456789 \\u\\ntrufalsn\x01\x80\xc3\xa9\xff";
    uint64_t seed = 99;
    gm_arena *a = gm_arena_create();
    char err[128];
    int parsed = 0, failed = 0;
    const int iters = 200000;
    size_t vlen = strlen(valid_doc);
    char *buf = malloc(vlen + 64);
    for (int it = 0; it < iters; it++) {
        size_t n;
        if (it % 2 == 0) {
            n = gm_test_splitmix(&seed) % 48;
            for (size_t i = 0; i < n; i++) {
                uint64_t r = gm_test_splitmix(&seed);
                buf[i] = r % 8 == 0 ? (char)(r >> 8) : alphabet[(r >> 8) % (sizeof alphabet - 1)];
            }
        } else {
            memcpy(buf, valid_doc, vlen);
            n = vlen;
            int edits = 1 + (int)(gm_test_splitmix(&seed) % 4);
            for (int e = 0; e < edits; e++) {
                uint64_t r = gm_test_splitmix(&seed);
                size_t at = (size_t)(r % n);
                char c = alphabet[(r >> 16) % (sizeof alphabet - 1)];
                switch ((r >> 32) % 4) {
                case 0:
                    buf[at] = c;
                    break;
                case 1:
                    buf[at] = (char)(r >> 40);
                    break;
                case 2: /* delete */
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                    break;
                case 3: /* insert */
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                    break;
                }
                if (n == 0 || n >= vlen + 60) break;
            }
        }
        char *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        gm_jval *v = gm_json_parse(a, copy, n, err, sizeof err);
        if (v) {
            parsed++;
            CHECK(tree_ok(v, copy, n));
            gm_json j;
            gm_json_init(&j, it % 4 == 1);
            emit(&j, NULL, v);
            gm_jval *w = gm_json_parse(a, j.buf, j.len, err, sizeof err);
            CHECK(w && equal(v, w));
            gm_json_free(&j);
        } else {
            failed++;
            CHECK(strncmp(err, "offset ", 7) == 0);
        }
        free(copy);
        if (it % 5000 == 4999) { /* keep arena use bounded */
            gm_arena_destroy(a);
            a = gm_arena_create();
        }
    }
    free(buf);
    gm_arena_destroy(a);
    printf("fuzz: %d inputs, %d parsed, %d rejected\n", iters, parsed, failed);
    CHECK(parsed > 100 && failed > 100);
}

/* A document with many members: arena use stays linear in its size. */
static void test_large_document(void)
{
    gm_json j;
    gm_json_init(&j, false);
    gm_json_array_begin(&j, NULL);
    for (int i = 0; i < 20000; i++) {
        gm_json_object_begin(&j, NULL);
        gm_json_u64(&j, "i", (uint64_t)i);
        gm_json_array_begin(&j, "v");
        for (int k = 0; k < 10; k++) gm_json_num(&j, NULL, k * 0.5);
        gm_json_array_end(&j);
        gm_json_object_end(&j);
    }
    gm_json_array_end(&j);
    gm_arena *a = gm_arena_create();
    char err[128];
    gm_jval *v = gm_json_parse(a, j.buf, j.len, err, sizeof err);
    CHECK(v && v->n == 20000);
    if (v && v->n == 20000) {
        CHECK(gm_json_get_num(&v->items[12345], "i", -1) == 12345);
        const gm_jval *arr = gm_json_get(&v->items[12345], "v");
        CHECK(arr && arr->n == 10 && arr->items[9].num == 4.5);
    }
    gm_arena_destroy(a);
    gm_json_free(&j);
}

/* ---- files ---- */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d) closedir(d);
    return n;
}

static void test_files(void)
{
    char dir[] = "/tmp/gm_test_json.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/result.json", dir);

    CHECK(gm_write_file_atomic(path, "{\"a\":1}\n", 8, err, sizeof err) == 0);
    size_t len = 0;
    char *p = gm_read_file(path, &len, err, sizeof err);
    CHECK(p && len == 8 && strcmp(p, "{\"a\":1}\n") == 0);
    if (p) gm_unmap(p, len + 1);

    /* Replacing: the new content, and no temporary file left behind. */
    static char big[3 << 20];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    CHECK(gm_write_file_atomic(path, big, sizeof big, err, sizeof err) == 0);
    p = gm_read_file(path, &len, err, sizeof err);
    CHECK(p && len == sizeof big && memcmp(p, big, len) == 0 && p[len] == '\0');
    if (p) gm_unmap(p, len + 1);
    CHECK_EQ(count_entries(dir), 1);

    /* Empty file. */
    CHECK(gm_write_file_atomic(path, "", 0, err, sizeof err) == 0);
    p = gm_read_file(path, &len, err, sizeof err);
    CHECK(p && len == 0 && p[0] == '\0');
    if (p) gm_unmap(p, 1);

    /* A missing directory: an error naming the step and the reason, nothing created. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope/result.json", dir);
    err[0] = '\0';
    CHECK(gm_write_file_atomic(missing, "x", 1, err, sizeof err) == -1);
    CHECK(strncmp(err, "open ", 5) == 0 && strstr(err, "No such file or directory"));
    CHECK_EQ(count_entries(dir), 1);

    /* rename fails (the target is a non-empty directory): the temporary file is removed and
     * the directory is untouched. */
    char sub[300], inner[320];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(inner, sizeof inner, "%s/keep", sub);
    CHECK(mkdir(sub, 0755) == 0);
    CHECK(gm_write_file_atomic(inner, "k", 1, err, sizeof err) == 0);
    err[0] = '\0';
    CHECK(gm_write_file_atomic(sub, "x", 1, err, sizeof err) == -1);
    CHECK(strncmp(err, "rename ", 7) == 0 && strstr(err, ": "));
    CHECK_EQ(count_entries(dir), 2); /* result.json and sub */
    CHECK_EQ(count_entries(sub), 1);
    struct stat st;
    CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode));

    /* Reading: missing file, a directory, and a /proc file whose st_size is 0. */
    err[0] = '\0';
    CHECK(gm_read_file(missing, &len, err, sizeof err) == NULL);
    CHECK(strncmp(err, "open ", 5) == 0 && strstr(err, "No such file or directory"));
    CHECK(gm_read_file(sub, &len, err, sizeof err) == NULL && strstr(err, "Is a directory"));
    p = gm_read_file("/proc/self/status", &len, err, sizeof err);
    CHECK(p && len > 0 && strlen(p) == len && strstr(p, "Name:"));
    if (p) gm_unmap(p, len + 1);

    unlink(inner);
    rmdir(sub);
    unlink(path);
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    test_writer_layout();
    test_writer_escaping();
    test_writer_misuse();
    test_writer_numbers();
    test_reader_values();
    test_round_trip();
    test_reader_errors();
    test_truncated();
    test_large_document();
    test_fuzz();
    test_files();
    free_kept_inputs();
    return gm_test_finish("test_json");
}
