/* make embedded-test: Sources/Embedded/arena.c linked as sendmail links it (musl,
 * --wrap=posix_memalign --wrap=free). Prints one line per check; exits 1 on a failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char *what) {
    printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) failures++;
}

static void *block(size_t alignment, size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, alignment, size) != 0) return NULL;
    return p;
}

/* Threads allocating, filling, checking and freeing blocks of many sizes at once (each
 * from its own arena, some past it from musl), freeing each other's blocks too:
 * slots are shared, so a block is often freed by a thread that did not allocate it. */
enum { slots = 96 };
static unsigned char *_Atomic held[slots];

static void *churn(void *seed_pointer) {
    unsigned seed = (unsigned)(uintptr_t)seed_pointer;
    for (int i = 0; i < 60000; i++) {
        int slot = rand_r(&seed) % slots;
        unsigned char *mine = __atomic_exchange_n(&held[slot], NULL, __ATOMIC_ACQ_REL);
        if (mine != NULL) {
            size_t size;
            memcpy(&size, mine, sizeof size);
            for (size_t j = sizeof size; j < size; j++)
                if (mine[j] != (unsigned char)(size ^ j)) return (void *)1;
            free(mine);
        }
        /* Mostly small, sometimes up to 300 KiB (past the largest class: musl's). */
        size_t size = sizeof(size_t) + (rand_r(&seed) % 64 == 0 ? rand_r(&seed) % 300000 : rand_r(&seed) % 2000);
        mine = block(16, size);
        if (mine == NULL || ((uintptr_t)mine & 15) != 0) return (void *)1;
        memcpy(mine, &size, sizeof size);
        for (size_t j = sizeof size; j < size; j++) mine[j] = (unsigned char)(size ^ j);
        unsigned char *old = __atomic_exchange_n(&held[slot], mine, __ATOMIC_ACQ_REL);
        if (old != NULL) free(old);
    }
    return NULL;
}

static void *allocate_one(void *result) {
    *(void **)result = block(16, 300);
    return NULL;
}

/* 32 blocks of 1-1200 bytes filled with the thread's number (its index in `left`). */
static unsigned char *(*left_base)[32];
static void *allocate_many(void *blocks) {
    unsigned char **out = blocks;
    unsigned char number = (unsigned char)((unsigned char *(*)[32])blocks - left_base);
    for (int i = 0; i < 32; i++) {
        out[i] = block(16, 1 + i * 37 + 1);
        if (out[i] != NULL) memset(out[i], number, 1 + i * 37 + 1);
    }
    return NULL;
}

static void *free_one(void *pointer) {
    free(pointer);
    return NULL;
}

/* Under a data limit below an arena's 2 MiB, the first request maps none and falls back:
 * the limit is what this process already uses plus 1 MiB (VmData, in kB). */
static int allocates_under_small_limit(void) {
    pid_t child = fork();
    if (child == 0) {
        FILE *status = fopen("/proc/self/status", "r");
        char line[256];
        long data_kb = -1;
        while (status != NULL && fgets(line, sizeof line, status) != NULL)
            if (sscanf(line, "VmData: %ld kB", &data_kb) == 1) break;
        if (data_kb < 0) _exit(2);
        struct rlimit limit = {(rlim_t)(data_kb + 1024) * 1024, (rlim_t)(data_kb + 1024) * 1024};
        if (setrlimit(RLIMIT_DATA, &limit) != 0) _exit(3);
        unsigned char *p = block(16, 100);
        if (p == NULL) _exit(4);
        memset(p, 7, 100);
        free(p);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int stopped_by_trap(void (*action)(void)) {
    pid_t child = fork();
    if (child == 0) {
        action();
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGILL;
}

#pragma GCC diagnostic ignored "-Wuse-after-free"
static void double_free(void) {
    void *p = block(16, 200);
    free(p);
    free(p);
}

static void interior_free(void) {
    char *p = block(16, 200);
    free(p + 16);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line out before a trap in a later check */
    /* First, before this process has mapped any arena. */
    check(allocates_under_small_limit(), "under a data limit too small for an arena, a request is still served");
    void *a = block(16, 100);
    free(a);
    void *b = block(16, 100);
    check(a != NULL && b == a, "a freed block comes back for the next request of its class");
    void *c = block(16, 2000);
    check(c != NULL && c != b, "and not for another class");
    void *d = NULL;
    check(posix_memalign(&d, 3, 100) == EINVAL && posix_memalign(&d, 2, 100) == EINVAL, "a bad alignment is still EINVAL");
    void *e = block(64, 100);
    check(e != NULL && ((uintptr_t)e & 63) == 0, "a larger alignment is musl's, aligned");
    void *f = block(16, 1 << 20);
    check(f != NULL, "a block past the largest class is musl's");
    free(b);
    free(c);
    free(e);
    free(f);

    /* Sizes at every class edge hold their bytes and do not overlap their neighbours. */
    int edges_ok = 1;
    unsigned char *blocks[200];
    size_t sizes[200];
    int n = 0;
    for (size_t size = 1; size <= 300000 && n < 200; size = size * 5 / 4 + 1) {
        sizes[n] = size;
        blocks[n] = block(16, size);
        if (blocks[n] == NULL) edges_ok = 0;
        else memset(blocks[n], n, size);
        n++;
    }
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; blocks[i] && j < sizes[i]; j++)
            if (blocks[i][j] != (unsigned char)i) edges_ok = 0;
        free(blocks[i]);
    }
    check(edges_ok, "blocks of 1 byte to 300 000 bytes keep their contents side by side");

    /* Threads that end hand their arena on: twenty in turn, each leaving blocks that the
     * main thread checks and frees only after later threads took the arena over (first,
     * while the arenas are fresh: later their free lists would hide a bad hand-over). */
    pthread_t other;
    static unsigned char *left[20][32];
    left_base = left;
    int handed_ok = 1;
    for (int t = 0; t < 20; t++) {
        pthread_create(&other, NULL, allocate_many, left[t]);
        pthread_join(other, NULL);
        if (t >= 3)
            for (int i = 0; i < 32; i++) {
                if (left[t - 3][i] == NULL || left[t - 3][i][0] != (unsigned char)(t - 3) ||
                    left[t - 3][i][i * 37] != (unsigned char)(t - 3))
                    handed_ok = 0;
                free(left[t - 3][i]);
            }
    }
    for (int t = 17; t < 20; t++)
        for (int i = 0; i < 32; i++) free(left[t][i]);
    check(handed_ok, "twenty threads in turn: blocks outlive the thread that allocated them");

    check(stopped_by_trap(double_free), "a second free of a block stops the program (SIGILL)");
    check(stopped_by_trap(interior_free), "freeing a pointer inside a block stops the program (SIGILL)");

    /* A block another thread allocated (from its arena) freed here, and the main thread's freed there. */
    void *theirs = NULL;
    pthread_create(&other, NULL, allocate_one, &theirs);
    pthread_join(other, NULL);
    free(theirs);
    void *ours = block(16, 300);
    pthread_create(&other, NULL, free_one, ours);
    pthread_join(other, NULL);
    void *again = block(16, 300);
    check(theirs != NULL && again == ours, "a block the main thread allocated and another freed comes back to it");
    free(again);

    /* Used up: the arena's 2 MiB in 100 KiB blocks, then musl's, all usable. */
    void *many[64];
    int many_ok = 1;
    for (int i = 0; i < 64; i++) {
        many[i] = block(16, 100000);
        if (many[i] == NULL) many_ok = 0;
        else memset(many[i], i, 100000);
    }
    for (int i = 0; i < 64; i++) {
        if (many[i] && ((unsigned char *)many[i])[99999] != (unsigned char)i) many_ok = 0;
        free(many[i]);
    }
    check(many_ok, "past the arena's end requests go on to musl");

    pthread_t threads[2];
    void *results[3] = {(void *)1, (void *)1, (void *)1};
    for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, churn, (void *)(uintptr_t)(t + 1));
    results[2] = churn((void *)(uintptr_t)3);
    for (int t = 0; t < 2; t++) pthread_join(threads[t], &results[t]);
    check(results[0] == NULL && results[1] == NULL && results[2] == NULL,
          "three threads, 180 000 blocks of up to 300 000 bytes freed by any thread: every block kept its contents");
    for (int slot = 0; slot < slots; slot++) free(held[slot]);

    return failures != 0;
}
