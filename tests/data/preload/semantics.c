/*
 * semantics.c — the malloc family's observable behaviour, printed line by line, for
 * tests/preload_programs.sh: the transcript under LD_PRELOAD=libgomalloc-preload.so must equal
 * the one under glibc's own malloc (alloc/preload.c promises Debian 12 glibc's semantics).
 * Only what both must agree on is printed: NULL or not, errno, alignment, usable sizes being
 * large enough, contents kept by realloc. Then threads and fork: worker threads allocate and
 * free across threads while the main thread forks repeatedly; each child allocates, frees and
 * exits; every thread exits (its cache is flushed by the key destructor) and new ones start.
 *
 * Built with -fno-builtin so that the compiler keeps every call as written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Sizes the compiler cannot see, so it neither warns about them nor folds the calls. */
static volatile size_t size_max = SIZE_MAX, half = SIZE_MAX / 2, over = (size_t)PTRDIFF_MAX + 1;

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuse-after-free" /* a failed realloc leaves p valid */
#endif

static void show(const char *what, void *p, size_t align)
{
    int e = errno;
    printf("%-40s %s errno=%d", what, p ? "ptr" : "NULL", p ? 0 : e);
    if (p && align) printf(" aligned(%zu)=%d", align, (uintptr_t)p % align == 0);
    printf("\n");
}

static void family(void)
{
    errno = 0;
    void *p = malloc(0);
    show("malloc(0)", p, 0);
    free(p);
    free(NULL);
    printf("free(NULL) ok\n");
    errno = 0;
    show("malloc(SIZE_MAX)", malloc(size_max), 0);
    errno = 0;
    show("malloc(PTRDIFF_MAX+1)", malloc(over), 0);
    errno = 0;
    show("calloc(SIZE_MAX/2, 3)", calloc(half, 3), 0);
    errno = 0;
    p = calloc(0, 16);
    show("calloc(0, 16)", p, 0);
    free(p);
    unsigned char *z = calloc(1000, 3);
    int zero = 1;
    for (int i = 0; i < 3000; i++) zero &= z[i] == 0;
    printf("calloc(1000, 3) zeroed=%d usable>=3000=%d\n", zero, malloc_usable_size(z) >= 3000);
    free(z);

    /* realloc */
    char *s = realloc(NULL, 10);
    show("realloc(NULL, 10)", s, 0);
    strcpy(s, "abcdefghi");
    for (size_t n = 20; n < 300000; n = n * 3 + 1) {
        s = realloc(s, n);
        printf("realloc grow to %-8zu kept=%d usable>=n=%d\n", n, !strcmp(s, "abcdefghi"),
               malloc_usable_size(s) >= n);
    }
    s = realloc(s, 5);
    printf("realloc shrink kept=%d\n", !memcmp(s, "abcde", 5));
    errno = 0;
    show("realloc(p, SIZE_MAX) keeps p", realloc(s, size_max), 0);
    printf("after failed realloc kept=%d\n", !memcmp(s, "abcde", 5));
    errno = 0;
    show("realloc(p, 0)", realloc(s, 0), 0);
    errno = 0;
    p = reallocarray(NULL, 10, 10);
    show("reallocarray(NULL, 10, 10)", p, 0);
    errno = 0;
    show("reallocarray(p, SIZE_MAX, 2)", reallocarray(p, size_max, 2), 0);
    free(p);
    printf("malloc_usable_size(NULL)=%zu\n", malloc_usable_size(NULL));

    /* alignment */
    static const size_t aligns[] = {0, 1, 2, 3, 8, 16, 24, 32, 64, 100, 4096, 8192, 65536, 1 << 21};
    static const size_t sizes[] = {0, 1, 5, 24, 100, 5000, 40000};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t a = aligns[i];
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            char what[80];
            void *q = NULL;
            errno = 0;
            int rc = posix_memalign(&q, a, sizes[k]);
            printf("posix_memalign(%zu, %zu) rc=%d errno=%d", a, sizes[k], rc, errno);
            if (!rc) printf(" aligned=%d", (uintptr_t)q % a == 0);
            printf("\n");
            if (!rc) free(q);
            size_t pow2 = 1;
            while (pow2 < a) pow2 <<= 1;
            errno = 0;
            snprintf(what, sizeof what, "aligned_alloc(%zu, %zu)", a, sizes[k]);
            q = aligned_alloc(a, sizes[k]);
            show(what, q, pow2);
            free(q);
            errno = 0;
            snprintf(what, sizeof what, "memalign(%zu, %zu)", a, sizes[k]);
            q = memalign(a, sizes[k]);
            show(what, q, pow2);
            free(q);
        }
    }
    errno = 0;
    show("memalign(SIZE_MAX/2+2, 8)", memalign(half + 2, 8), 0);
    errno = 0;
    p = valloc(100);
    show("valloc(100)", p, 4096);
    free(p);
    errno = 0;
    p = pvalloc(100);
    show("pvalloc(100)", p, 4096);
    printf("pvalloc(100) usable>=4096=%d\n", malloc_usable_size(p) >= 4096);
    free(p);
    errno = 0;
    show("pvalloc(SIZE_MAX)", pvalloc(size_max), 0);
    /* strdup and friends allocate inside libc: freed here by whichever malloc serves us */
    char *d = strdup("a string from libc");
    printf("strdup ok=%d\n", d && !strcmp(d, "a string from libc"));
    free(d);
}

/* ---- threads and fork ---- */

enum { THREADS = 4, ROUNDS = 3, SLOTS = 512 };
static void *_Atomic shared[SLOTS]; /* handed between threads: freed by whoever takes it */
static _Atomic int stop;

static void *churn(void *arg)
{
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    while (!stop) {
        for (int i = 0; i < 2000; i++) {
            x = x * 1103515245u + 12345;
            size_t n = (x >> 8) % 3 == 0 ? (x >> 12) % 70000 : (x >> 12) % 200;
            void *p = malloc(n + 1);
            memset(p, 0x5a, n + 1);
            void *old = atomic_exchange(&shared[(x >> 4) % SLOTS], p);
            free(old);
        }
    }
    return NULL;
}

static int fork_round(void)
{
    int bad = 0;
    for (int f = 0; f < 20; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* The child: one thread, a heap copied mid-flight. Allocate, free, take the other
             * threads' objects too. */
            for (int i = 0; i < 20000; i++) {
                void *p = malloc((size_t)(i % 3000) + 1);
                memset(p, 1, (size_t)(i % 3000) + 1);
                free(p);
            }
            for (int i = 0; i < SLOTS; i++) free(atomic_exchange(&shared[i], NULL));
            pthread_t t;
            if (pthread_create(&t, NULL, churn, (void *)99) == 0) {
                stop = 1;
                pthread_join(t, NULL);
            }
            _exit(0);
        }
        int st;
        bad += pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st);
    }
    return bad;
}

static void threads_and_fork(void)
{
    int bad = 0;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[THREADS];
        stop = 0;
        for (int i = 0; i < THREADS; i++)
            pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(r * THREADS + i));
        bad += fork_round();
        stop = 1;
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL); /* exit: caches flushed */
    }
    for (int i = 0; i < SLOTS; i++) free(atomic_exchange(&shared[i], NULL));
    printf("threads and fork: %d rounds, %d failed children\n", ROUNDS, bad);
}

int main(void)
{
    family();
    threads_and_fork();
    return 0;
}
