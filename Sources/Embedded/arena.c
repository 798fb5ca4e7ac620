/*
 * sendmail's heap for Swift's own blocks: size classes carved from per-thread arenas, in
 * front of musl's allocator. The Makefile links sendmail with --wrap=posix_memalign
 * --wrap=free (Embedded Swift allocates with posix_memalign only; the C library's own
 * malloc calls still go to musl). Not in the set-id helper: there musl's checks (a double
 * free, a write past a block) stay in force for every block, and it allocates little.
 *
 * Why: musl's allocator (mallocng) hands a size class's memory back to the kernel as soon
 * as the class's last block is freed, until it has seen that class come back a hundred
 * or so times; a short-lived program never gets that far. Each submission paid for about
 * 20 mmap/munmap pairs (8-10 us a pair on this VM) and, for each new group, two page
 * faults (a read of the zero page, then the write): 100 faults of sendmail's 140. Here a
 * block comes from a free list or the arena's next bytes, and a page of the arena faults
 * once, when it is first written.
 *
 * - Memory: each arena is one private mapping of 2 MiB, made when a thread first claims
 *   it (MAP_NORESERVE; a page costs nothing until written). When the mapping cannot be
 *   made (a small ulimit -d or -v: 8 MiB of static arenas made sendmail die at exec),
 *   the thread is served by musl.
 * - Classes: 16-byte steps up to 128 bytes, then four per doubling up to 256 KiB (the
 *   block's 16-byte header included); larger requests go to musl, as do alignments above
 *   16 and every request once the arena is used up (so memory stays bounded: the arena,
 *   then whatever musl holds).
 * - A freed block goes on its class's list and is reused for the next request of that
 *   class; arena memory is never given back while sendmail runs (it runs for a message).
 * - The header holds the class and a state word: freeing a block that is not allocated
 *   (a double free, a pointer into the middle of one) traps, as musl's check would.
 * - An arena per live thread, up to four (sendmail runs at most two at once: a
 *   submission reads ORIGIN on a second thread, mailq renders half of each batch on
 *   one), so that no lock is
 *   shared. A block freed by a thread other than its arena's owner goes on that arena's
 *   lock-free list, taken back whole by the owner on its next request. When a thread
 *   ends its arena, with what is still allocated from it, goes to the next new thread.
 *   (One arena behind a lock cost more than it saved; an arena for the main thread alone
 *   left mailq's 49 render threads on musl, which then mapped and unmapped 49 000 times
 *   and interrupted the other core for each: mailq over 100 000 took 1.4 s, not 0.7.)
 *   `busy` sends a request from a signal handler that interrupted its thread's own to musl.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

int __real_posix_memalign(void **result, size_t alignment, size_t size);
void __real_free(void *pointer);

enum {
    header_size = 16,
    malloc_alignment = 16,
    small_steps = 8,          /* 16, 32, ... 128 bytes */
    largest_class_shift = 18, /* 256 KiB */
    class_count = small_steps + (largest_class_shift - 7) * 4,
    arena_count = 4,
    arena_size = 2 << 20,
};

enum { state_allocated = 0x616c6c6f, state_free = 0x66726565 };

struct header {
    uint32_t class;
    uint32_t state;
    struct header *next; /* on a free list: the next free block of the class */
};

_Static_assert(sizeof(struct header) == header_size, "the header keeps payloads 16-aligned");

struct arena {
    /* Mapped by the arena's first owner, kept for every later one; never unmapped. */
    unsigned char *_Atomic memory;
    size_t used;
    struct header *free_blocks[class_count];
    /* Blocks other threads freed, pushed with a CAS and taken whole by the owner. */
    struct header *_Atomic remote_free;
    volatile sig_atomic_t busy;
    /* A live thread has it (claimed with a CAS, given up when the thread ends). */
    _Atomic int owned;
};

static struct arena arenas[arena_count];
/* This thread's arena: NULL until its first request; `no_arena` when all were taken or
 * once the thread is ending. */
static _Thread_local struct arena *mine;
static struct arena no_arena;
static pthread_key_t release_key;
static pthread_once_t release_key_once = PTHREAD_ONCE_INIT;

/* The class of a block of `total` bytes (header included), or -1 when it is too large. */
static int class_of(size_t total) {
    if (total <= 128) return (int)((total + 15) / 16) - 1;
    if (total > ((size_t)1 << largest_class_shift)) return -1;
    int e = 63 - __builtin_clzll((unsigned long long)(total - 1)); /* 2^e < total <= 2^(e+1) */
    int quarter = (int)((total - 1) >> (e - 2));                   /* 4...7 */
    return small_steps + (e - 7) * 4 + (quarter - 4);
}

static size_t class_size(int class) {
    if (class < small_steps) return (size_t)(class + 1) * 16;
    int e = 7 + (class - small_steps) / 4;
    int quarter = 4 + (class - small_steps) % 4;
    return (size_t)(quarter + 1) << (e - 2);
}

/* The arena whose memory holds `pointer`, or NULL. (A block reached this thread after
 * its arena was mapped, through whatever handed it over: the acquire load sees it.) */
static struct arena *arena_of(const void *pointer) {
    uintptr_t p = (uintptr_t)pointer;
    for (int i = 0; i < arena_count; i++) {
        uintptr_t start = (uintptr_t)__atomic_load_n(&arenas[i].memory, __ATOMIC_ACQUIRE);
        if (start != 0 && p >= start && p - start < arena_size) return &arenas[i];
    }
    return NULL;
}

/* Run as the thread ends (a pthread key's destructor): what it frees after this goes on
 * the arena's remote list like any other thread's. */
static void release_arena(void *arena) {
    mine = &no_arena;
    __atomic_store_n(&((struct arena *)arena)->owned, 0, __ATOMIC_RELEASE);
}

static void create_release_key(void) {
    if (pthread_key_create(&release_key, release_arena) != 0) release_key = (pthread_key_t)-1;
}

static struct arena *this_thread_arena(void) {
    if (mine == NULL) {
        mine = &no_arena;
        for (int i = 0; i < arena_count; i++) {
            int expected = 0;
            if (!__atomic_compare_exchange_n(&arenas[i].owned, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) continue;
            if (arenas[i].memory == NULL) {
                void *m = mmap(NULL, arena_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                if (m == MAP_FAILED) {
                    __atomic_store_n(&arenas[i].owned, 0, __ATOMIC_RELEASE);
                    break;
                }
                __atomic_store_n(&arenas[i].memory, (unsigned char *)m, __ATOMIC_RELEASE);
            }
            mine = &arenas[i];
            break;
        }
        /* Without a key the arena stays this thread's: only its free memory is lost. */
        pthread_once(&release_key_once, create_release_key);
        if (mine != &no_arena && release_key != (pthread_key_t)-1) pthread_setspecific(release_key, mine);
    }
    return mine == &no_arena ? NULL : mine;
}

static void take_back_remote_frees(struct arena *a) {
    struct header *h = __atomic_exchange_n(&a->remote_free, NULL, __ATOMIC_ACQUIRE);
    while (h != NULL) {
        struct header *next = h->next;
        h->next = a->free_blocks[h->class];
        a->free_blocks[h->class] = h;
        h = next;
    }
}

static void *arena_allocate(struct arena *a, int class) {
    if (__atomic_load_n(&a->remote_free, __ATOMIC_RELAXED) != NULL) take_back_remote_frees(a);
    struct header *h = a->free_blocks[class];
    if (h != NULL) {
        if (h->state != state_free || h->class != (uint32_t)class) __builtin_trap();
        a->free_blocks[class] = h->next;
    } else {
        size_t size = class_size(class);
        if (arena_size - a->used < size) return NULL;
        h = (struct header *)(a->memory + a->used);
        a->used += size;
        h->class = (uint32_t)class;
    }
    h->state = state_allocated;
    h->next = NULL;
    return h + 1;
}

int __wrap_posix_memalign(void **result, size_t alignment, size_t size) {
    /* A valid alignment (a power of two, at least a pointer) that 16 covers; any other
     * request goes to musl, which answers EINVAL where it should. */
    int aligned = alignment >= sizeof(void *) && (alignment & (alignment - 1)) == 0 && alignment <= malloc_alignment;
    int class = size <= SIZE_MAX - header_size ? class_of(size + header_size) : -1;
    struct arena *a = aligned && class >= 0 ? this_thread_arena() : NULL;
    if (a != NULL && !a->busy) {
        a->busy = 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the flag is set before the lists are touched */
        void *block = arena_allocate(a, class);
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* and cleared after */
        a->busy = 0;
        if (block != NULL) {
            *result = block;
            return 0;
        }
    }
    return __real_posix_memalign(result, alignment, size);
}

void __wrap_free(void *pointer) {
    if (pointer == NULL) return;
    struct arena *owner = arena_of(pointer);
    if (owner == NULL) {
        __real_free(pointer);
        return;
    }
    struct header *h = (struct header *)pointer - 1;
    /* Only a block this file handed out is freed here: anything else (a second free, a
     * pointer that is not a block's start) stops the program. */
    if (((uintptr_t)pointer & (malloc_alignment - 1)) != 0 || h->state != state_allocated || h->class >= class_count)
        __builtin_trap();
    h->state = state_free;
    if (owner == mine && !owner->busy) {
        owner->busy = 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        h->next = owner->free_blocks[h->class];
        owner->free_blocks[h->class] = h;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        owner->busy = 0;
        return;
    }
    struct header *head = __atomic_load_n(&owner->remote_free, __ATOMIC_RELAXED);
    do {
        h->next = head;
    } while (!__atomic_compare_exchange_n(&owner->remote_free, &head, h, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}
