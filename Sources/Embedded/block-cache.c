/*
 * A cache of freed small blocks in front of musl's allocator, for the Embedded sendmail
 * (the Makefile links it with --wrap=posix_memalign --wrap=free: Embedded Swift allocates
 * with posix_memalign only). Not in the set-id helper: there musl's own checks (a double
 * free, a write past a block) stay in force for every block, and the helper allocates
 * little.
 *
 * Why: musl's allocator (mallocng) hands a size class's memory back to the kernel as
 * soon as the class's last block is freed, until it has seen that class come back a
 * hundred or so times. A short-lived program never gets that far, so its first malloc and
 * free in each size class cost an mmap and a munmap: 8-10 us a pair on this VM, about 20
 * pairs in each submission.
 *
 * Freed blocks of up to 1 KiB are kept, a few per exact size, and handed back for a
 * request of exactly that size (mallocng checks on free that nothing was written past
 * the size asked for, so a block is never reused for a larger request). A kept block is
 * still allocated as far as musl knows, which is also what stops it unmapping the rest of
 * its group. At most 4 blocks of each size: 2 MiB in theory, a few KiB in practice.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

int __real_posix_memalign(void **result, size_t alignment, size_t size);
void __real_free(void *pointer);

enum { largest_kept = 1024, kept_per_size = 4, malloc_alignment = 16 };
static void *kept[largest_kept + 1][kept_per_size];
static unsigned char kept_count[largest_kept + 1];
/* Only the main thread uses the cache, so it needs no lock and no atomic (the listings'
 * second thread goes to musl: two threads sharing a lock's cache line cost more than the
 * cache saved). `busy` makes it safe to re-enter from a signal handler: that call goes
 * to musl too. */
static pthread_t main_thread;
static volatile sig_atomic_t busy;

__attribute__((constructor(102))) static void note_main_thread(void) { main_thread = pthread_self(); }

static int try_lock(void) {
    if (busy || !pthread_equal(pthread_self(), main_thread)) return 0;
    busy = 1;
    return 1;
}

static void unlock(void) { busy = 0; }

int __wrap_posix_memalign(void **result, size_t alignment, size_t size) {
    /* A valid alignment (a power of two, at least a pointer) that musl's 16 covers; any
     * other request goes to musl, which answers EINVAL where it should. */
    int aligned = alignment >= sizeof(void *) && (alignment & (alignment - 1)) == 0 && alignment <= malloc_alignment;
    if (aligned && size > 0 && size <= largest_kept && try_lock()) {
        void *block = NULL;
        if (kept_count[size] > 0) block = kept[size][--kept_count[size]];
        unlock();
        if (block != NULL) {
            *result = block;
            return 0;
        }
    }
    return __real_posix_memalign(result, alignment, size);
}

void __wrap_free(void *pointer) {
    if (pointer == NULL) return;
    size_t size = malloc_usable_size(pointer);
    if (size > 0 && size <= largest_kept && try_lock()) {
        int is_kept = 0;
        /* A second free of a kept block would hand it out twice: stop, as musl's own
         * double-free check would have (the block is still allocated as far as it knows). */
        for (unsigned i = 0; i < kept_count[size]; i++)
            if (kept[size][i] == pointer) __builtin_trap();
        if (kept_count[size] < kept_per_size) {
            kept[size][kept_count[size]++] = pointer;
            is_kept = 1;
        }
        unlock();
        if (is_kept) return;
    }
    __real_free(pointer);
}
