/*
 * churn.c — a malloc-heavy program for scripts/record-overhead.sh: each thread keeps a ring
 * of 4096 live objects and, OPS times, frees one and allocates another of a random size in
 * 16..1024 bytes (writing its first byte), every 64th through calloc and every 32nd a realloc.
 *
 *   record_churn OPS [THREADS]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { RING = 4096 };
static long g_ops;

static void *churn(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(uintptr_t)arg + 1;
    char **ring = calloc(RING, sizeof *ring);
    for (long i = 0; i < g_ops; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t slot = (size_t)i % RING, size = 16 + (size_t)(x % 1009);
        if (i % 32 == 31 && ring[slot]) {
            ring[slot] = realloc(ring[slot], size);
        } else {
            free(ring[slot]);
            ring[slot] = i % 64 == 0 ? calloc(1, size) : malloc(size);
        }
        ring[slot][0] = (char)i;
    }
    for (size_t i = 0; i < RING; i++) free(ring[i]);
    free(ring);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: record_churn OPS [THREADS]\n");
        return 2;
    }
    g_ops = atol(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    pthread_t t[64];
    if (threads < 1 || threads > 64) return 2;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return 0;
}
