/*
 * preload.c — libgmrecord.so: records every malloc-family call of a dynamically linked program
 * (LD_PRELOAD, set by `gmbench record`, see ../record.c) into the raw logs of raw.h.
 *
 * Interposed: malloc, calloc, realloc, reallocarray, free, posix_memalign, aligned_alloc,
 * memalign, valloc, pvalloc (recorded); malloc_usable_size (forwarded); fork handling through
 * pthread_atfork; execve/execv/execvp/execvpe, _exit and _Exit (flush first). Each call is
 * forwarded to the next definition (dlsym(RTLD_NEXT)), normally glibc's.
 *
 * Fast path (one call): the real call, then a TLS load, one fetch_add on the global sequence
 * counter, an optional vDSO clock_gettime, and six stores into the thread's buffer. No lock.
 *
 * Memory: the recorder never calls malloc. Thread buffers are mmap'd (1 MiB). dlsym may
 * allocate while the recorder resolves the real functions; those calls are served from a static
 * bootstrap arena, whose blocks are recognised on free/realloc/malloc_usable_size and never
 * forwarded (and never recorded).
 *
 * Recursion: t_busy (initial-exec TLS, so reading it never allocates and works during the
 * loader's early calls) is set while the recorder works (opening files, flushing, writing the
 * maps copy) and during each real call (so a real function that calls another through the PLT,
 * as glibc's reallocarray calls realloc, records one call, not two); calls made meanwhile are
 * forwarded but not recorded. reallocarray is forwarded as realloc after its overflow check.
 *
 * Threads: a thread's first recorded call maps its buffer and opens its file; a full buffer is
 * written with one write(). At thread exit a pthread key destructor flushes the buffer (it
 * re-arms itself for the later destructor rounds, so frees made by other key destructors are
 * still caught), then unmaps it; calls after its last round are counted as lost. At process
 * exit (our ELF destructor, after the program's atexit handlers and destructors) recording
 * stops and every live thread's buffer is flushed; _exit/_Exit do the same. Lost: a process
 * killed by a signal loses every unflushed buffer (up to 21845 calls per thread); a thread
 * still running when the process exits may lose the call it was making.
 *
 * fork: prepare flushes the calling thread's buffer and takes the thread-list lock (so no other
 * thread holds it across the fork); the parent releases it; the child starts a new image (new
 * prefix, new files, the forking thread's buffer emptied, the other threads' buffers, which do
 * not exist in the child, unmapped). vfork children share our memory: _exit/exec in them do
 * nothing (detected by getpid() != the recorded pid). exec: the calling thread's buffer and the
 * maps copy are written first; the new program inherits LD_PRELOAD and GMRECORD_DIR (unless the
 * program passes an environment without them) and records as a new image of the same pid.
 * Other threads' unflushed calls are lost at exec.
 *
 * Locking: g_lock (a spinlock) guards the thread list; taken at thread start/exit, process
 * exit and fork, never on the fast path. t->flushing (0/1) makes the owner's flush and the
 * exit flush exclusive; after the exit flush it stays 1 and the owner drops what it records.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "raw.h"

#define EXPORT      __attribute__((visibility("default")))
#define TLS         __thread __attribute__((tls_model("initial-exec")))
#define unlikely(x) __builtin_expect(!!(x), 0)
#define RA          ((uint64_t)(uintptr_t)__builtin_return_address(0))

enum {
    BUF_BYTES = 1 << 20,
    BOOT_BYTES = 256 << 10,
    DIR_MAX = 3072,
};

/* ---- the real functions ---- */

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    void (*exit_)(int);
} real;

/* ---- per-thread state ---- */

typedef struct rec_thread {
    gm_rec_event *buf; /* BUF_BYTES / sizeof(gm_rec_event) events, after this header */
    _Atomic uint32_t n;
    _Atomic int flushing;
    uint32_t cap;
    int fd;
    int tid;
    int rounds; /* key destructor rounds seen */
    struct rec_thread *next;
} rec_thread;

static TLS rec_thread *t_self;
static TLS int t_busy;   /* the recorder is working on this thread: record nothing */
static TLS int t_gone;   /* this thread's buffer is gone (it is exiting) */
static TLS int t_initer; /* this thread is resolving the real functions */

/* ---- process state ---- */

static _Atomic int g_init;        /* 0 not started, 1 resolving, 2 ready */
static _Atomic int g_on;          /* recording (GMRECORD_DIR set, process not exiting) */
static _Atomic uint64_t g_seq;    /* the global order */
static _Atomic uint64_t g_lost;   /* calls not recorded: buffers gone or dropped */
static _Atomic uint32_t g_serial; /* thread files of this image */
static _Atomic int g_lock;
static rec_thread *g_threads; /* live thread states, under g_lock */
static pthread_key_t g_key;
static int g_time = 1;
static int g_tsc; /* times in TSC ticks (the clocksource is the TSC) */
static uint64_t g_start_tsc;
static int g_pid;
static uint64_t g_start_ns;
static unsigned g_page_log2 = 12;
static char g_dir[DIR_MAX];
static char g_prefix[DIR_MAX + 64]; /* "<dir>/<pid>-<start_ns>" */

static _Alignas(64) unsigned char g_boot[BOOT_BYTES];
static _Atomic size_t g_boot_used;

static void lock(void)
{
    while (atomic_exchange_explicit(&g_lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&g_lock, memory_order_relaxed)) __builtin_ia32_pause();
}

static void unlock(void)
{
    atomic_store_explicit(&g_lock, 0, memory_order_release);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The event's time since the image's start: TSC ticks (about 10 ns cheaper than the vDSO's
 * clock_gettime, which reads the TSC too and scales it) or ns. */
/* A clock read costs more than the rest of an event (20-30 ns for RDTSC in a VM), so by
 * default a thread reads it at every g_time-th call and stamps the calls between with the last
 * reading: timestamps stay monotonic per thread, with a resolution of g_time calls. */
static TLS uint64_t t_time;
static TLS uint32_t t_time_left; /* calls until the next clock read (a countdown: no division) */

static inline uint64_t rec_time(void)
{
    if (!g_time) return 0;
    if (t_time_left) {
        t_time_left--;
        return t_time;
    }
    t_time_left = (uint32_t)g_time - 1;
    return t_time = g_tsc ? __rdtsc() - g_start_tsc : now_ns() - g_start_ns;
}

static unsigned log2_ceil(size_t x)
{
    unsigned k = 0;
    while (k < 63 && ((size_t)1 << k) < x) k++;
    return k;
}

/* ---- the bootstrap arena: blocks carry their size in the 16 bytes before them ---- */

static bool boot_owns(const void *p)
{
    return (const unsigned char *)p >= g_boot && (const unsigned char *)p < g_boot + BOOT_BYTES;
}

static void *boot_alloc(size_t size, size_t align)
{
    if (align < 16) align = 16;
    if (size > BOOT_BYTES || align > 4096) return NULL;
    size_t need = ((size + 15) & ~(size_t)15) + align;
    size_t at = atomic_fetch_add(&g_boot_used, need);
    if (at + need > BOOT_BYTES) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t base = (uintptr_t)(g_boot + at + 16);
    uintptr_t p = (base + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)p)[-1] = size;
    return (void *)p; /* static storage: already zero */
}

static size_t boot_size(const void *p)
{
    return ((const size_t *)p)[-1];
}

/* ---- files: no stdio, no malloc ---- */

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return; /* disk full etc.: the converter sees a short file */
        c += k;
        n -= (size_t)k;
    }
}

static size_t read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t used = 0;
    if (fd < 0) return 0;
    while (used < len) {
        ssize_t k = read(fd, buf + used, len - used);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        used += (size_t)k;
    }
    close(fd);
    return used;
}

/* Copies /proc/self/maps and writes the .proc file (through temporaries renamed into place). */
static void write_process_files(const char *state)
{
    char tmp[sizeof g_prefix + 16], dst[sizeof g_prefix + 16], buf[4096];
    snprintf(tmp, sizeof tmp, "%s.maps.tmp", g_prefix);
    snprintf(dst, sizeof dst, "%s.maps", g_prefix);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int in = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (out >= 0 && in >= 0) {
        ssize_t k;
        while ((k = read(in, buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
            if (k > 0) write_all(out, buf, (size_t)k);
    }
    if (in >= 0) close(in);
    if (out >= 0) {
        close(out);
        rename(tmp, dst);
    }

    char exe[1024], cmd[2048];
    ssize_t e = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[e > 0 ? e : 0] = 0;
    size_t c = read_file("/proc/self/cmdline", cmd, sizeof cmd - 1);
    while (c > 0 && cmd[c - 1] == 0) c--;
    for (size_t i = 0; i < c; i++)
        if (cmd[i] == 0 || cmd[i] == '\n') cmd[i] = ' ';
    cmd[c] = 0;
    int len = snprintf(buf, sizeof buf,
                       "pid %d\nppid %d\nstart_ns %llu\nstate %s\nlost %llu\nexe %s\ncmdline %s\n",
                       g_pid, (int)getppid(), (unsigned long long)g_start_ns, state,
                       (unsigned long long)atomic_load(&g_lost), exe, cmd);
    snprintf(tmp, sizeof tmp, "%s.proc.tmp", g_prefix);
    snprintf(dst, sizeof dst, "%s.proc", g_prefix);
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return;
    write_all(out, buf, len < 0 ? 0 : (size_t)len > sizeof buf ? sizeof buf : (size_t)len);
    close(out);
    rename(tmp, dst);
}

/* A new image: this process (at start) or a fork child. */
static void image_start(void)
{
    g_pid = (int)getpid();
    g_start_tsc = __rdtsc();
    g_start_ns = now_ns();
    atomic_store(&g_serial, 0);
    snprintf(g_prefix, sizeof g_prefix, "%s/%d-%llu", g_dir, g_pid, (unsigned long long)g_start_ns);
    write_process_files("running");
}

/* Opens the thread's file and writes its header; -1 when it cannot. */
static int thread_open_file(rec_thread *t)
{
    char path[sizeof g_prefix + 32];
    uint32_t serial = atomic_fetch_add(&g_serial, 1);
    snprintf(path, sizeof path, "%s.t%u.ev", g_prefix, serial);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    gm_rec_file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, GM_REC_MAGIC, 8);
    h.version = GM_REC_VERSION;
    h.event_size = sizeof(gm_rec_event);
    h.pid = g_pid;
    h.tid = t->tid;
    h.serial = serial;
    h.flags = g_time ? GM_REC_F_TIMES | (g_tsc ? GM_REC_F_TSC : 0u) : 0u;
    h.start_ns = g_start_ns;
    h.start_tsc = g_start_tsc;
    write_all(fd, &h, sizeof h);
    return fd;
}

/* Writes buf[0, n) of t and a CLOCK event after them (the slot beyond cap is kept for it);
 * the caller holds t->flushing. */
static void thread_write_locked(rec_thread *t)
{
    uint32_t n = atomic_load_explicit(&t->n, memory_order_acquire);
    if (n && t->fd >= 0) {
        uint64_t seq = atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed);
        uint64_t units = g_tsc ? __rdtsc() - g_start_tsc : 0, ns = now_ns() - g_start_ns;
        gm_rec_pack(&t->buf[n], seq, GM_REC_CLOCK, 0, ns, g_tsc ? units : ns, 0, 0);
        write_all(t->fd, t->buf, (size_t)(n + 1) * sizeof(gm_rec_event));
    }
    if (n && t->fd < 0) atomic_fetch_add(&g_lost, n);
    atomic_store_explicit(&t->n, 0, memory_order_relaxed);
}

/* The owner flushes its own buffer (full, fork, exec, thread exit). */
static void thread_flush(rec_thread *t)
{
    int busy = t_busy;
    t_busy = 1;
    int zero = 0;
    if (atomic_compare_exchange_strong(&t->flushing, &zero, 1)) {
        thread_write_locked(t);
        atomic_store_explicit(&t->flushing, 0, memory_order_release);
    } else { /* the process is exiting and has flushed this buffer: drop */
        atomic_fetch_add(&g_lost, atomic_load(&t->n));
        atomic_store_explicit(&t->n, 0, memory_order_relaxed);
    }
    t_busy = busy;
}

static rec_thread *thread_attach(void)
{
    if (t_gone) return NULL;
    t_busy = 1;
    void *m =
        mmap(NULL, BUF_BYTES + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        t_gone = 1;
        t_busy = 0;
        return NULL;
    }
    rec_thread *t = m;
    t->buf = (gm_rec_event *)((char *)m + 4096);
    t->cap = BUF_BYTES / sizeof(gm_rec_event) - 1; /* the last slot: the flush's CLOCK */
    t->tid = (int)syscall(SYS_gettid);
    lock(); /* the file name uses g_prefix, which a fork child rewrites */
    t->fd = thread_open_file(t);
    t->next = g_threads;
    g_threads = t;
    unlock();
    pthread_setspecific(g_key, t);
    t_self = t;
    t_busy = 0;
    return t;
}

static void thread_unlink_locked(rec_thread *t)
{
    for (rec_thread **pp = &g_threads; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            return;
        }
}

/* pthread key destructor: flush, and stay armed for the later rounds. */
static void thread_exit(void *v)
{
    rec_thread *t = v;
    thread_flush(t);
    if (++t->rounds < PTHREAD_DESTRUCTOR_ITERATIONS) {
        pthread_setspecific(g_key, t);
        return;
    }
    t_busy = 1;
    t_self = NULL;
    t_gone = 1;
    lock();
    thread_unlink_locked(t);
    unlock();
    /* The exit flusher may hold t->flushing forever; it no longer looks at t once unlinked. */
    if (t->fd >= 0) close(t->fd);
    munmap(t, BUF_BYTES + 4096);
}

static void record(unsigned kind, void *p, size_t size, unsigned align_log2, uint64_t site)
{
    rec_thread *t = t_self;
    if (unlikely(!t)) {
        t = thread_attach();
        if (!t) {
            atomic_fetch_add_explicit(&g_lost, 1, memory_order_relaxed);
            return;
        }
    }
    uint64_t seq = atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    gm_rec_pack(&t->buf[n], seq, kind, align_log2, (uint64_t)(uintptr_t)p, size, site, rec_time());
    atomic_store_explicit(&t->n, n + 1, memory_order_release);
    if (unlikely(n + 1 == t->cap)) thread_flush(t);
}

static inline bool recording(void)
{
    return !t_busy && atomic_load_explicit(&g_on, memory_order_relaxed);
}

/* ---- process start and end ---- */

static void stop_and_flush_all(const char *state)
{
    t_busy = 1;
    atomic_store(&g_on, 0);
    lock();
    for (rec_thread *t = g_threads; t; t = t->next) {
        int zero = 0;
        while (!atomic_compare_exchange_weak(&t->flushing, &zero, 1)) {
            zero = 0;
            __builtin_ia32_pause();
        }
        thread_write_locked(t); /* t->flushing stays 1: the owner drops from now on */
    }
    unlock();
    write_process_files(state);
}

static void fork_prepare(void)
{
    if (t_self && atomic_load(&g_on)) thread_flush(t_self);
    lock();
}

static void fork_parent(void)
{
    unlock();
}

static void fork_child(void)
{
    t_busy = 1;
    rec_thread *self = t_self;
    for (rec_thread *t = g_threads, *next; t; t = next) {
        next = t->next;
        if (t->fd >= 0) close(t->fd); /* the parent's files */
        if (t != self) munmap(t, BUF_BYTES + 4096);
    }
    g_threads = NULL;
    atomic_store(&g_lock, 0);
    if (atomic_load(&g_on)) {
        atomic_store(&g_lost, 0);
        image_start();
        if (self) {
            atomic_store(&self->n, 0); /* the parent's (already flushed) calls */
            atomic_store(&self->flushing, 0);
            self->tid = (int)syscall(SYS_gettid);
            self->fd = thread_open_file(self);
            self->next = NULL;
            g_threads = self;
        }
    } else if (self) {
        t_self = NULL;
        t_gone = 1;
    }
    t_busy = 0;
}

/* Resolves the real functions and reads the environment. Returns false when called back from
 * inside the resolution (dlsym allocating): the caller serves the bootstrap arena. */
static bool rec_init(void)
{
    int st = atomic_load_explicit(&g_init, memory_order_acquire);
    if (st == 2) return true;
    if (t_initer) return false;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&g_init, &zero, 1)) {
        while (atomic_load_explicit(&g_init, memory_order_acquire) != 2) __builtin_ia32_pause();
        return true;
    }
    t_initer = 1;
    t_busy = 1;
#define RESOLVE(name) *(void **)&real.name = dlsym(RTLD_NEXT, #name)
    RESOLVE(malloc);
    RESOLVE(calloc);
    RESOLVE(realloc);
    RESOLVE(free);
    RESOLVE(posix_memalign);
    RESOLVE(aligned_alloc);
    RESOLVE(memalign);
    RESOLVE(valloc);
    RESOLVE(pvalloc);
    RESOLVE(malloc_usable_size);
    RESOLVE(execve);
    RESOLVE(execvpe);
    *(void **)&real.exit_ = dlsym(RTLD_NEXT, "_exit");
#undef RESOLVE
    t_initer = 0;
    if (!real.malloc || !real.free || !real.calloc || !real.realloc) {
        static const char msg[] = "libgmrecord: cannot find the real malloc (dlsym)\n";
        write_all(2, msg, sizeof msg - 1);
        syscall(SYS_exit_group, 127);
    }
    atomic_store_explicit(&g_init, 2, memory_order_release);

    const char *dir = getenv(GM_REC_ENV_DIR);
    const char *tm = getenv(GM_REC_ENV_TIME);
    g_time = tm ? atoi(tm) : 1;
    if (g_time < 0) g_time = 1;
    g_page_log2 = log2_ceil((size_t)sysconf(_SC_PAGESIZE));
    char cs[16] = {0};
    read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource", cs,
              sizeof cs - 1);
    g_tsc = strcmp(cs, "tsc\n") == 0;
    if (dir && *dir && strlen(dir) < sizeof g_dir) {
        memcpy(g_dir, dir, strlen(dir) + 1);
        if (pthread_key_create(&g_key, thread_exit) == 0 &&
            pthread_atfork(fork_prepare, fork_parent, fork_child) == 0) {
            image_start();
            atomic_store(&g_on, 1);
        }
    }
    t_busy = 0;
    return true;
}

__attribute__((constructor)) static void rec_constructor(void)
{
    rec_init();
}

__attribute__((destructor)) static void rec_destructor(void)
{
    if (atomic_load(&g_on)) stop_and_flush_all("exit");
}

/* ---- the interposed functions ---- */

EXPORT void *malloc(size_t size)
{
    if (unlikely(!rec_init())) return boot_alloc(size, 16);
    if (!recording()) return real.malloc(size);
    t_busy = 1;
    void *p = real.malloc(size);
    t_busy = 0;
    record(GM_REC_MALLOC, p, size, 0, RA);
    return p;
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    if (unlikely(!rec_init())) {
        if (size && nmemb > SIZE_MAX / size) return NULL;
        return boot_alloc(nmemb * size, 16);
    }
    if (!recording()) return real.calloc(nmemb, size);
    t_busy = 1;
    void *p = real.calloc(nmemb, size);
    t_busy = 0;
    record(GM_REC_CALLOC, p, nmemb * size, 0, RA);
    return p;
}

EXPORT void free(void *p)
{
    if (!p || boot_owns(p)) return;
    if (unlikely(!rec_init())) return; /* cannot happen: p came from somewhere */
    if (!recording()) {
        real.free(p);
        return;
    }
    record(GM_REC_FREE, p, 0, 0, RA);
    t_busy = 1;
    real.free(p);
    t_busy = 0;
}

/* realloc and reallocarray: BEGIN before the call, the result after it (raw.h). */
static void *realloc_common(void *old, size_t nmemb, size_t size, uint64_t site)
{
    size_t bytes;
    if (__builtin_mul_overflow(nmemb, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(!rec_init()) || boot_owns(old)) {
        /* A bootstrap block (or a call during bootstrap) becomes a real block, unrecorded. */
        void *p = g_init == 2 ? real.malloc(bytes) : boot_alloc(bytes, 16);
        if (p && old) memcpy(p, old, boot_size(old) < bytes ? boot_size(old) : bytes);
        return p;
    }
    if (!recording()) return real.realloc(old, bytes);
    if (old) record(GM_REC_REALLOC_BEGIN, old, bytes, 0, site);
    t_busy = 1;
    void *p = real.realloc(old, bytes);
    t_busy = 0;
    record(GM_REC_REALLOC, p, bytes, old ? GM_REC_HAD_OLD : 0, site);
    return p;
}

EXPORT void *realloc(void *old, size_t size)
{
    return realloc_common(old, 1, size, RA);
}

EXPORT void *reallocarray(void *old, size_t nmemb, size_t size)
{
    return realloc_common(old, nmemb, size, RA);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (unlikely(!rec_init())) {
        *out = boot_alloc(size, align);
        return *out ? 0 : ENOMEM;
    }
    if (!recording()) return real.posix_memalign(out, align, size);
    t_busy = 1;
    int rc = real.posix_memalign(out, align, size);
    t_busy = 0;
    record(GM_REC_POSIX_MEMALIGN, rc == 0 ? *out : NULL, size, log2_ceil(align), RA);
    return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (unlikely(!rec_init())) return boot_alloc(size, align);
    if (!recording()) return real.aligned_alloc(align, size);
    t_busy = 1;
    void *p = real.aligned_alloc(align, size);
    t_busy = 0;
    record(GM_REC_ALIGNED_ALLOC, p, size, log2_ceil(align), RA);
    return p;
}

EXPORT void *memalign(size_t align, size_t size)
{
    if (unlikely(!rec_init())) return boot_alloc(size, align);
    if (!recording()) return real.memalign(align, size);
    t_busy = 1;
    void *p = real.memalign(align, size);
    t_busy = 0;
    record(GM_REC_MEMALIGN, p, size, log2_ceil(align), RA);
    return p;
}

EXPORT void *valloc(size_t size)
{
    if (unlikely(!rec_init())) return boot_alloc(size, 4096);
    if (!recording()) return real.valloc(size);
    t_busy = 1;
    void *p = real.valloc(size);
    t_busy = 0;
    record(GM_REC_VALLOC, p, size, g_page_log2, RA);
    return p;
}

EXPORT void *pvalloc(size_t size)
{
    if (unlikely(!rec_init())) return boot_alloc(size, 4096);
    if (!recording()) return real.pvalloc(size);
    t_busy = 1;
    void *p = real.pvalloc(size);
    t_busy = 0;
    size_t page = (size_t)1 << g_page_log2;
    size_t rounded = size ? (size + page - 1) & ~(page - 1) : page;
    record(GM_REC_PVALLOC, p, rounded, g_page_log2, RA);
    return p;
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p) return 0;
    if (boot_owns(p)) return boot_size(p);
    if (unlikely(!rec_init()) || !real.malloc_usable_size) return 0;
    return real.malloc_usable_size(p);
}

/* ---- exec and _exit: write what this image recorded before it goes ---- */

static bool own_image(void)
{
    /* A vfork child shares our memory and our pid variable but has its own pid. */
    return atomic_load(&g_on) && (int)syscall(SYS_getpid) == g_pid;
}

static void before_exec(void)
{
    if (!own_image()) return;
    if (t_self) thread_flush(t_self);
    int busy = t_busy;
    t_busy = 1;
    write_process_files("exec");
    t_busy = busy;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    rec_init();
    before_exec();
    return real.execve(path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    rec_init();
    before_exec();
    return real.execve(path, argv, environ);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    rec_init();
    before_exec();
    return real.execvpe(file, argv, envp);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    rec_init();
    before_exec();
    return real.execvpe(file, argv, environ);
}

static __attribute__((noreturn)) void exit_common(int status)
{
    rec_init();
    if (own_image()) stop_and_flush_all("exit");
    if (real.exit_) real.exit_(status);
    for (;;) syscall(SYS_exit_group, status);
}

EXPORT __attribute__((noreturn)) void _exit(int status)
{
    exit_common(status);
}

EXPORT __attribute__((noreturn)) void _Exit(int status)
{
    exit_common(status);
}
