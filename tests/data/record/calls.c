/*
 * calls.c — the program test_record records: a known sequence of malloc-family calls, with
 * its own count of what the trace must hold written to a file, so the test compares the trace
 * against the program rather than against constants.
 *
 *   record_calls main COUNTS   every interposed function, 2 threads with a cross-thread free,
 *                              a fork child that exits with exit() (COUNTS.<pid>) and one that
 *                              leaves with _exit() (COUNTS.<pid>)
 *   record_calls exec COUNTS   two allocations, then exec of itself as "leaf" (same pid)
 *   record_calls leaf COUNTS   four allocations and their frees
 *   record_calls fail          exits with status 3 after one allocation
 *
 * Counts: "allocs frees reallocs zero" over the calls this file makes (the test keeps only
 * records whose call site is in this program, and the frees and reallocs of those objects).
 * Built with -fno-builtin so that the compiler neither merges nor drops any call.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned allocs, frees, reallocs, zero;
static void *volatile handoff;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void write_counts(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) exit(90);
    fprintf(f, "%u %u %u %u\n", allocs, frees, reallocs, zero);
    fclose(f);
}

static void *producer(void *arg)
{
    (void)arg;
    void *small[10];
    for (int i = 0; i < 10; i++) small[i] = malloc(48);
    for (int i = 0; i < 10; i++) free(small[i]);
    void *q = malloc(333); /* freed by the consumer */
    allocs += 11;
    frees += 10;
    pthread_mutex_lock(&mu);
    handoff = q;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!handoff) pthread_cond_wait(&cv, &mu);
    free(handoff);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static int run_main(const char *counts)
{
    char *p1 = malloc(100);
    char *p2 = calloc(10, 20);
    void *p3 = NULL;
    memset(p1, 1, 100);
    p1 = realloc(p1, 200);     /* grows (may stay) */
    p1 = realloc(p1, 1 << 20); /* moves: an mmap'd chunk */
    if (posix_memalign(&p3, 64, 100) != 0) return 91;
    void *p4 = aligned_alloc(128, 256);
    void *p5 = memalign(256, 50);
    void *p6 = valloc(1000);
    void *p7 = pvalloc(1000);
    free(NULL); /* not recorded */
    void *p8 = realloc(NULL, 64);
    p8 = reallocarray(p8, 4, 32);
    void *gone = realloc(p8, 0); /* glibc frees p8 and returns NULL */
    allocs += 8;
    reallocs += 3;
    frees += 1;
    zero += 1;
    if (gone) return 92;

    pthread_t a, b;
    pthread_create(&b, NULL, consumer, NULL);
    pthread_create(&a, NULL, producer, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    frees += 1;

    fflush(NULL);
    pid_t c1 = fork();
    if (c1 == 0) { /* its own trace: six objects, and a free of the parent's p2 (unknown) */
        allocs = frees = reallocs = zero = 0;
        void *v[5];
        for (int i = 0; i < 5; i++) v[i] = malloc(77);
        void *z = calloc(3, 10);
        for (int i = 0; i < 5; i++) free(v[i]);
        free(z);
        free(p2);
        allocs = 6, frees = 6, zero = 1;
        char path[4096];
        snprintf(path, sizeof path, "%s.%d", counts, (int)getpid());
        write_counts(path);
        exit(0);
    }
    pid_t c2 = fork();
    if (c2 == 0) { /* leaves with _exit: the recorder must flush on that path too */
        char path[4096];
        snprintf(path, sizeof path, "%s.%d", counts, (int)getpid());
        allocs = 3, frees = 0, reallocs = 0, zero = 0;
        write_counts(path);
        for (int i = 0; i < 3; i++) (void)malloc(99);
        _exit(0);
    }
    int st1 = 0, st2 = 0;
    waitpid(c1, &st1, 0);
    waitpid(c2, &st2, 0);
    if (!WIFEXITED(st1) || WEXITSTATUS(st1) || !WIFEXITED(st2) || WEXITSTATUS(st2)) return 93;

    free(p1);
    free(p2);
    free(p3);
    free(p4);
    free(p5);
    free(p6);
    free(p7);
    frees += 7;
    write_counts(counts);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "fail") == 0) {
        (void)malloc(10);
        return 3;
    }
    if (argc != 3) return 2;
    if (strcmp(argv[1], "main") == 0) return run_main(argv[2]);
    if (strcmp(argv[1], "exec") == 0) {
        (void)malloc(11);
        (void)malloc(12);
        char *args[] = {argv[0], "leaf", argv[2], NULL};
        execv("/proc/self/exe", args);
        return 94;
    }
    if (strcmp(argv[1], "leaf") == 0) {
        void *v[4];
        for (int i = 0; i < 4; i++) v[i] = malloc(1000 + (size_t)i);
        for (int i = 0; i < 4; i++) free(v[i]);
        allocs = 4, frees = 4;
        write_counts(argv[2]);
        return 0;
    }
    return 2;
}
