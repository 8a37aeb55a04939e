/*
 * env.h — the environment a measurement was taken in; every result carries it.
 */
#ifndef GM_ENV_H
#define GM_ENV_H

#include "backend.h"
#include "json.h"

/* Writes an "env" object: cpu model, logical CPUs, kernel (uname), glibc version, compiler and
 * flags gmbench was built with, build type, transparent hugepage settings, git commit,
 * hostname, time (UTC, ISO 8601), and for each backend in `backends` (NULL-terminated; NULL
 * for all) its library path and Debian package version. Allocates nothing with malloc. */
void gm_env_write(gm_json *j, const char *key, const gm_backend *const *backends);

#endif
