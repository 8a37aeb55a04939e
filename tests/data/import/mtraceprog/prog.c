/*
 * prog.c — a small C program that traces its own heap with glibc's mtrace(); its MALLOC_TRACE
 * log is the real input of tests/test_import.c (see ../README.md for how it was produced).
 * It exercises every form glibc 2.36 writes: malloc, calloc, memalign family, free, realloc
 * (grow, shrink, from NULL, to 0), free(NULL), and a free of memory allocated before mtrace().
 */
#include <malloc.h>
#include <mcheck.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *left, *right;
    int val;
};

static struct node *build(int depth)
{
    if (depth == 0) return NULL;
    struct node *n = malloc(sizeof *n);
    n->left = build(depth - 1);
    n->right = build(depth - 1);
    n->val = depth;
    return n;
}

static void drop(struct node *n)
{
    if (!n) return;
    drop(n->left);
    drop(n->right);
    free(n);
}

int main(void)
{
    char *early = malloc(40); /* allocated before tracing: its free is unmatched */
    mtrace();
    struct node *t = build(5); /* 31 nodes */
    char *buf = calloc(100, 1);
    void *al = memalign(64, 200);
    void *pm = NULL;
    if (posix_memalign(&pm, 4096, 5000) != 0) return 1;
    void *aa = aligned_alloc(256, 512);
    char *s = NULL;
    for (int i = 1; i <= 6; i++) s = realloc(s, (size_t)i * 1000); /* first one: realloc(NULL) */
    s = realloc(s, 10);                                            /* shrink */
    free(NULL);                                                    /* not logged */
    char *big = malloc(300000);                                    /* mmapped chunk */
    big = realloc(big, 600000);
    char *z = malloc(16);
    z = realloc(z, 0); /* frees z, returns NULL */
    char *d = strdup("hello");
    printf("t=%d buf=%d z=%p\n", t->val, buf[0], (void *)z);
    drop(t);
    free(buf);
    free(al);
    free(pm);
    free(aa);
    free(s);
    free(big);
    free(d);
    free(early);
    muntrace();
    return 0;
}
