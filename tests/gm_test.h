/*
 * gm_test.h — the few helpers every test program shares: CHECK that reports file:line and
 * keeps going, CHECK_INVARIANTS that runs a checker, and a summary line at exit.
 */
#ifndef GM_TEST_H
#define GM_TEST_H

#include <stdio.h>
#include <stdlib.h>

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

static inline int gm_test_finish(const char *name)
{
    printf("%s: %d checks, %d passed, %d failed\n", name, gm_test_checks,
           gm_test_checks - gm_test_failures, gm_test_failures);
    return gm_test_failures ? 1 : 0;
}

#endif
