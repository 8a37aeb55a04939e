/*
 * gm_test.h — the few helpers every test program shares: CHECK that reports file:line and
 * keeps going, CHECK_INVARIANTS that runs a checker, and a summary line at exit.
 */
#ifndef GM_TEST_H
#define GM_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gm_testing.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define GM_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define GM_TEST_SANITIZED 1
#endif
#endif
#ifndef GM_TEST_SANITIZED
#define GM_TEST_SANITIZED 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static int gm_test_failures, gm_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        gm_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            gm_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        unsigned long long gm_a_ = (unsigned long long)(a), gm_b_ = (unsigned long long)(b);       \
        gm_test_checks++;                                                                          \
        if (gm_a_ != gm_b_) {                                                                      \
            gm_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%llu vs %llu)\n", __FILE__,         \
                    __LINE__, #a, #b, gm_a_, gm_b_);                                               \
        }                                                                                          \
    } while (0)

/* Run a checker (returns NULL or a description); stop the test at the first violation, since
 * later steps would only repeat it. */
#define CHECK_INVARIANTS(call)                                                                     \
    do {                                                                                           \
        char gm_buf_[512];                                                                         \
        const char *gm_err_ = (call);                                                              \
        (void)gm_buf_;                                                                             \
        gm_test_checks++;                                                                          \
        if (gm_err_) {                                                                             \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, gm_err_);       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define GM_CHECKBUF gm_buf_, sizeof gm_buf_

/* splitmix64: the seeded generator every test shares (deterministic for a seed). */
static inline uint64_t gm_test_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define CHECK_HEAP(h) CHECK_INVARIANTS(gm_heap_check((h), GM_CHECKBUF))

/* A private heap made from cfg, with m initialised for it; exits if it cannot be made. */
static inline gm_mheap *gm_test_heap_cfg(gm_m *m, const gm_heap_config *cfg)
{
    gm_mheap *h = gm_heap_create(cfg);
    if (!h) {
        fprintf(stderr, "gm_heap_create failed\n");
        exit(1);
    }
    gm_m_init(m, h);
    return h;
}

/* A private heap without arena hints. */
static inline gm_mheap *gm_test_heap(gm_m *m, int nprocs, int gc_percent)
{
    gm_heap_config cfg = {.nprocs = nprocs, .gc_percent = gc_percent, .arena_hints = false};
    return gm_test_heap_cfg(m, &cfg);
}

static inline gm_memstats gm_test_memstats(gm_mheap *h, gm_m *m)
{
    gm_memstats ms;
    gm_heap_read_memstats(h, m, &ms);
    return ms;
}

/* Death tests: run fn(arg) in a forked child whose stderr goes to a pipe. Returns the child's
 * wait status (-1 if no child could be made); its stderr is in out. */
static inline int gm_run_child(void (*fn)(void *), void *arg, char *out, size_t outn)
{
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn(arg);
        _exit(0); /* survived: the parent reports it */
    }
    close(fd[1]);
    size_t len = 0;
    for (ssize_t r; len + 1 < outn && (r = read(fd[0], out + len, outn - 1 - len)) != 0;) {
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        len += (size_t)r;
    }
    out[len] = 0;
    close(fd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

static inline bool gm_child_aborted(int st)
{
    return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

typedef struct {
    gm_mheap *h;
    gm_m *m;
    void *p;
} gm_free_args;

static inline void gm_free_in_child(void *arg)
{
    gm_free_args *a = arg;
    gm_heap_free(a->h, a->m, a->p);
}

/* gm_heap_free(h, m, p) must abort with a message naming p. */
static inline void gm_expect_free_aborts(gm_mheap *h, gm_m *m, void *p, const char *why)
{
    char out[1024], ptr[64];
    int st = gm_run_child(gm_free_in_child, &(gm_free_args){h, m, p}, out, sizeof out);
    snprintf(ptr, sizeof ptr, "free(%p)", p);
    bool ok = gm_child_aborted(st) && strstr(out, "gomalloc: free(0x") && strstr(out, ptr);
    if (!ok) fprintf(stderr, "  %s: status %#x, child said: %s\n", why, st, out);
    CHECK(ok);
}

static inline int gm_test_finish(const char *name)
{
    printf("%s: %d checks, %d passed, %d failed\n", name, gm_test_checks,
           gm_test_checks - gm_test_failures, gm_test_failures);
    return gm_test_failures ? 1 : 0;
}

#endif
