/*
 * backend.h — the allocators gmbench measures, and how a process proves which one serves it.
 *
 * One measurement runs in a process that holds exactly one allocator. The Go model is linked
 * into gmbench and called through its gm_ API; every other allocator is the Debian package's
 * shared library put in front of glibc with LD_PRELOAD and called through the plain malloc
 * family, exactly as a program linked against it would call it. `bump` is not a competitor: a
 * trivial bump allocator (free does nothing) that measures the driver's own cost per op.
 *
 * Proof of identity (gm_backend_prove), before anything is measured:
 *  1. the definition of `malloc` that the dynamic linker resolved for this process lives in the
 *     backend's library (dladdr on dlsym(RTLD_DEFAULT, "malloc")); glibc and the Go model
 *     require libc's own malloc, i.e. nothing preloaded;
 *  2. the allocator's own introspection sees an allocation the process just made: jemalloc's
 *     thread.allocated counter moves, mimalloc's mi_is_in_heap_region accepts the pointer,
 *     tcmalloc's generic.current_allocated_bytes moves, tbbmalloc's scalable_msize sizes it,
 *     glibc's mallinfo2 in-use bytes move, the Go model's Mallocs counter moves.
 * Allocator-specific functions are looked up with dlsym, so gmbench links none of them.
 */
#ifndef GM_BACKEND_H
#define GM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef struct gm_backend gm_backend;

/* Goroutines (the GM_OP_GO.. ops of gm_workload.h): the Go model runs them on its own stack
 * allocator (gm_g_*); the C allocators have none, and the driver runs their goroutines as a C
 * green-thread runtime does (greenthread.c: stacks from the allocator's malloc, doubled with
 * a memcpy). A handle is the backend's goroutine. park/run may be NULL. */
typedef struct gm_go_ops {
    void *(*create)(void);                                /* NULL on failure */
    void (*exit)(void *g);                                /* frees its stack */
    void *(*push)(void *g, size_t frame);                 /* CALL: the frame, NULL on failure */
    void (*pop)(void *g);                                 /* RET */
    void *(*alloc)(void *g, size_t size, unsigned flags); /* in the frame; flags gm_op flags */
    void (*park)(void *g);                                /* the thread switches away from g */
    void (*run)(void *g);                                 /* the thread switches to g */
    size_t (*stack_size)(const void *g);                  /* bytes of its stack now */
} gm_go_ops;

struct gm_backend {
    const char *name;        /* "gomodel", "glibc", "jemalloc", "mimalloc", "tcmalloc", ... */
    const char *description; /* one line for `gmbench list` */
    const char *soname;      /* the library to LD_PRELOAD (NULL: none) */
    const char *package;     /* Debian package that ships soname (or the backend) */
    const char *dev_package; /* what scripts/deps.sh installs for it */
    bool internal;           /* not a competitor: left out of default comparisons */

    /* The allocation interface the driver calls. flags are gm_op flags (GM_OPF_SCAN matters to
     * the Go model only). align is a power of two >= sizeof(void *). */
    void (*init)(void);        /* once, before the proof; may be NULL */
    void (*thread_init)(void); /* on every thread that will run ops, before the baseline RSS is
                                  read, so per-thread state is not measured; may be NULL */
    void *(*alloc)(size_t size, unsigned flags); /* malloc, or calloc for GM_OPF_ZERO */
    void *(*alloc_aligned)(size_t align, size_t size, unsigned flags); /* posix_memalign */
    void *(*realloc)(void *p, size_t size);
    void (*free)(void *p);
    const gm_go_ops *go; /* NULL: the driver's green threads (greenthread.c) */

    /* The allocator's own view of its memory as members of the current JSON object (bytes
     * allocated, active, mapped, ...) plus "frag_own": its committed/in-use bytes over the
     * bytes it has handed out, where it reports both. May write nothing. */
    void (*stats)(gm_json *j);
    /* Step 2 of the proof; writes what it observed to why. 0 = proven. */
    int (*prove)(char *why, size_t whylen);

    /* Heap profiling (the Go model only; NULL elsewhere). set_site names the call site of
     * the calling thread's next allocations (a trace op's site); register_site gives a site
     * its name; set_mem_profile_rate sets MemProfileRate (0 or -1 with errno);
     * write_heap_profile writes the heap profile to path in format GM_PROFILE_TEXT (legacy
     * text) or GM_PROFILE_PROTO (gomalloc.h), 0 or -1 with errno. */
    void (*set_site)(uint32_t site);
    int (*register_site)(uint32_t site, const char *name);
    int (*set_mem_profile_rate)(int rate);
    int (*write_heap_profile)(const char *path, int format);
};

/* NULL-terminated, in `gmbench list` order (competitors first, internal ones last). */
const gm_backend *const *gm_backends(void);
const gm_backend *gm_backend_find(const char *name);

/* Finds the backend's library on this machine (the multiarch library directories of Debian,
 * then the dynamic linker's cache). Returns true and the absolute path, or false; backends
 * without a library are always installed (path set to ""). */
bool gm_backend_locate(const gm_backend *b, char *path, size_t pathlen);
/* Installed version of the backend's package from dpkg's status file ("" when unknown). */
void gm_backend_version(const gm_backend *b, char *out, size_t outlen);

/* Full identity proof in this process (steps 1 and 2). 0 = this process is served by b. On
 * failure why says what serves it instead. */
int gm_backend_prove(const gm_backend *b, char *why, size_t whylen);
/* Writes to stderr how a command line must start for b to serve it: "LD_PRELOAD=<library> ",
 * or "env -u LD_PRELOAD " for the allocators that need nothing preloaded. */
void gm_backend_print_launch_prefix(const gm_backend *b);
/* The library file that defines the malloc this process calls (for messages). */
const char *gm_malloc_provider(void);

/* greenthread.c: goroutines for backends without their own (b->go == NULL), their stacks
 * from b's alloc/free. */
const gm_go_ops *gm_greenthread_ops(const gm_backend *b);

#endif
