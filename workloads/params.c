/*
 * params.c — parsing, range-checking and printing workload parameters, so that every front
 * end (gmbench's flags, a trace header, a test) reports the same errors in the same words.
 *
 * Nothing here allocates: messages go into the caller's buffer with snprintf.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm_workload.h"

int gm_wl_param_index(const gm_workload *wl, const char *name)
{
    if (name[0] == '-' && name[1] == '-') name += 2;
    for (unsigned i = 0; i < wl->nparams; i++)
        if (strcmp(wl->params[i].name, name) == 0) return (int)i;
    return -1;
}

static int suffix_shift(char c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 10;
    case 'm':
    case 'M':
        return 20;
    case 'g':
    case 'G':
        return 30;
    }
    return -1;
}

int gm_parse_u64(const char *text, int size, uint64_t *out)
{
    const char *p = text;
    uint64_t v = 0;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (size && *p) {
        int shift = suffix_shift(*p++);
        if (shift < 0 || v > (UINT64_MAX >> shift)) return -1;
        v <<= shift;
    }
    if (*p) return -1;
    *out = v;
    return 0;
}

/* A number as the parser would accept it: sizes with the largest exact binary suffix. */
static void format_number(gm_param_type type, long long i, double v, char *buf, size_t buflen)
{
    if (type == GM_PARAM_REAL) {
        snprintf(buf, buflen, "%g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, buflen, "%.17g", v);
        return;
    }
    if (type == GM_PARAM_SIZE && i > 0) {
        static const char suffix[] = "GMK";
        for (int k = 0; k < 3; k++) {
            long long unit = 1ll << (30 - 10 * k);
            if (i % unit == 0) {
                snprintf(buf, buflen, "%lld%c", i / unit, suffix[k]);
                return;
            }
        }
    }
    snprintf(buf, buflen, "%lld", i);
}

static void list_params(const gm_workload *wl, char *buf, size_t buflen)
{
    size_t len = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < wl->nparams && len < buflen; i++) {
        int w = snprintf(buf + len, buflen - len, "%s--%s", i ? " " : "", wl->params[i].name);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (wl->nparams == 0) snprintf(buf, buflen, "(none)");
}

static void list_choices(const gm_wl_param *p, char *buf, size_t buflen)
{
    size_t len = 0;
    buf[0] = 0;
    for (unsigned i = 0; p->choices[i] && len < buflen; i++) {
        int w = snprintf(buf + len, buflen - len, "%s%s", i ? ", " : "", p->choices[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
}

static int parse_enum(const gm_wl_param *p, const char *text, gm_wl_value *v, char *err,
                      size_t errlen)
{
    for (unsigned i = 0; p->choices[i]; i++) {
        if (strcmp(p->choices[i], text) == 0) {
            v->i = i;
            v->r = i;
            return 0;
        }
    }
    char choices[256];
    list_choices(p, choices, sizeof choices);
    snprintf(err, errlen, "--%s: '%s' is not one of: %s", p->name, text, choices);
    return -2;
}

static int parse_int(const gm_wl_param *p, const char *text, gm_wl_value *v, char *err,
                     size_t errlen)
{
    bool neg = text[0] == '-';
    uint64_t u;
    if (gm_parse_u64(text + neg, p->type == GM_PARAM_SIZE, &u) != 0 || u > INT64_MAX) {
        snprintf(err, errlen,
                 p->type == GM_PARAM_SIZE
                     ? "--%s: '%s' is not a size (an integer with an optional K, M or G suffix)"
                     : "--%s: '%s' is not an integer",
                 p->name, text);
        return -2;
    }
    v->i = neg ? -(int64_t)u : (int64_t)u;
    v->r = (double)v->i;
    return 0;
}

static int parse_real(const gm_wl_param *p, const char *text, gm_wl_value *v, char *err,
                      size_t errlen)
{
    char *end;
    errno = 0;
    double r = strtod(text, &end);
    if (end == text || *end || errno == ERANGE || !isfinite(r)) {
        snprintf(err, errlen, "--%s: '%s' is not a number", p->name, text);
        return -2;
    }
    v->r = r;
    v->i = (int64_t)r;
    return 0;
}

static int parse_value(const gm_wl_param *p, const char *text, gm_wl_value *v, char *err,
                       size_t errlen)
{
    int rc;
    switch (p->type) {
    case GM_PARAM_ENUM:
        return parse_enum(p, text, v, err, errlen);
    case GM_PARAM_INT:
    case GM_PARAM_SIZE:
        rc = parse_int(p, text, v, err, errlen);
        break;
    default:
        rc = parse_real(p, text, v, err, errlen);
        break;
    }
    if (rc == 0 && (v->r < p->min || v->r > p->max)) {
        char val[32], lo[32], hi[32];
        format_number(p->type, v->i, v->r, val, sizeof val);
        format_number(p->type, (long long)p->min, p->min, lo, sizeof lo);
        format_number(p->type, (long long)p->max, p->max, hi, sizeof hi);
        snprintf(err, errlen, "--%s: %s is out of range [%s, %s]", p->name, val, lo, hi);
        rc = -2;
    }
    return rc;
}

int gm_wl_set_param(const gm_workload *wl, gm_wl_config *cfg, const char *name, const char *text,
                    char *err, size_t errlen)
{
    int i = gm_wl_param_index(wl, name);
    if (i < 0) {
        char names[512];
        list_params(wl, names, sizeof names);
        if (name[0] == '-' && name[1] == '-') name += 2;
        snprintf(err, errlen, "unknown parameter --%s for workload %s; valid: %s", name, wl->name,
                 names);
        return -1;
    }
    gm_wl_value v;
    int rc = parse_value(&wl->params[i], text ? text : "", &v, err, errlen);
    if (rc == 0) cfg->values[i] = v;
    return rc;
}

void gm_wl_config_defaults(const gm_workload *wl, gm_wl_config *cfg)
{
    char err[256];
    cfg->seed = 1;
    memset(cfg->values, 0, sizeof cfg->values);
    for (unsigned i = 0; i < wl->nparams; i++) {
        if (parse_value(&wl->params[i], wl->params[i].def, &cfg->values[i], err, sizeof err)) {
            /* A broken table is a bug in this folder, not a user error. */
            fprintf(stderr, "gmbench: workload %s: bad default: %s\n", wl->name, err);
            abort();
        }
    }
}

void gm_wl_format_param(const gm_workload *wl, const gm_wl_config *cfg, unsigned index, char *buf,
                        size_t buflen)
{
    if (buflen == 0) return;
    if (index >= wl->nparams) {
        buf[0] = 0;
        return;
    }
    const gm_wl_param *p = &wl->params[index];
    const gm_wl_value *v = &cfg->values[index];
    if (p->type == GM_PARAM_ENUM)
        snprintf(buf, buflen, "%s", p->choices[v->i]);
    else
        format_number(p->type, (long long)v->i, v->r, buf, buflen);
}
