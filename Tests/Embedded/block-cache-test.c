/* make embedded-test: Sources/Embedded/block-cache.c linked as sendmail links it (musl,
 * --wrap=posix_memalign --wrap=free). Prints one line per check; exits 1 on a failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Threads allocating, filling, checking and freeing blocks of many sizes at once (the
 * main thread through the cache, the other past it), freeing each other's blocks too. */
static void *churn(void *seed_pointer) {
    unsigned seed = (unsigned)(uintptr_t)seed_pointer;
    unsigned char *held[64] = {0};
    size_t sizes[64] = {0};
    for (int i = 0; i < 200000; i++) {
        int slot = rand_r(&seed) % 64;
        if (held[slot] != NULL) {
            for (size_t j = 0; j < sizes[slot]; j++)
                if (held[slot][j] != (unsigned char)(slot ^ sizes[slot])) return (void *)1;
            free(held[slot]);
        }
        sizes[slot] = 1 + rand_r(&seed) % 1100;
        held[slot] = block(16, sizes[slot]);
        if (held[slot] == NULL) return (void *)1;
        memset(held[slot], slot ^ sizes[slot], sizes[slot]);
    }
    for (int slot = 0; slot < 64; slot++) free(held[slot]);
    return NULL;
}

static void *allocate_one(void *result) {
    *(void **)result = block(16, 300);
    return NULL;
}

static void *free_one(void *pointer) {
    free(pointer);
    return NULL;
}

int main(void) {
    void *a = block(16, 100);
    free(a);
    void *b = block(16, 100);
    check(a != NULL && b == a, "a freed block comes back for a request of its exact size");
    void *c = block(16, 101);
    check(c != NULL && c != b, "and not for another size");
    void *d = NULL;
    check(posix_memalign(&d, 3, 100) == EINVAL && posix_memalign(&d, 2, 100) == EINVAL, "a bad alignment is still EINVAL");
    void *e = block(64, 100);
    check(e != NULL && ((uintptr_t)e & 63) == 0, "a larger alignment is musl's, aligned");
    free(b);
    free(c);
    free(e);

    pid_t child = fork();
    if (child == 0) {
        void *p = block(16, 200);
        free(p);
#pragma GCC diagnostic ignored "-Wuse-after-free"
        free(p); /* kept once already: must stop here */
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGILL, "a second free of a kept block stops the program (SIGILL)");

    /* A block the other thread allocated, freed here (kept), and one freed there. */
    void *theirs = NULL;
    pthread_t other;
    pthread_create(&other, NULL, allocate_one, &theirs);
    pthread_join(other, NULL);
    free(theirs);
    void *again = block(16, 300);
    check(theirs != NULL && again == theirs, "the main thread keeps a block another thread allocated");
    /* And another thread's free goes past the cache, to musl. */
    pthread_create(&other, NULL, free_one, block(16, 300));
    pthread_join(other, NULL);

    pthread_t threads[2];
    void *results[3] = {(void *)1, (void *)1, (void *)1};
    for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, churn, (void *)(uintptr_t)(t + 1));
    results[2] = churn((void *)(uintptr_t)3);
    for (int t = 0; t < 2; t++) pthread_join(threads[t], &results[t]);
    check(results[0] == NULL && results[1] == NULL && results[2] == NULL,
          "three threads, 600 000 blocks of 1-1100 bytes: every block kept its contents");
    return failures != 0;
}
