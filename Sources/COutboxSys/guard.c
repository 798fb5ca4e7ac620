/*
 * SECURITY
 * This constructor runs before the Swift runtime initialises (priority 101), in every
 * outbox program. When the kernel says the process was started set-id (AT_SECURE), the
 * parent controls the environment, and the Swift runtime itself honours SWIFT_* variables
 * and libicu honours ICU_DATA before main() could intervene. So every variable is removed
 * here. clearenv() replaces `environ` with NULL, which breaks the runtime's argv lookup;
 * the array is emptied in place instead.
 *
 * In every program, closed descriptors 0-2 are reopened on /dev/null so that a file we
 * open later can never become "stdout" and receive text meant for the terminal.
 */
#define _GNU_SOURCE
#include "COutboxSys.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __GLIBC__
#ifndef COUTBOX_C_MAIN
#error "musl calls constructors without argc/argv: build with COUTBOX_C_MAIN and Swift's entry point renamed (Makefile)"
#endif
#include <link.h>
#include <sys/mman.h>

/* musl's static start-up relocates the program but, unlike glibc (its loader, and its own
 * static start-up), leaves the RELRO segment writable: the GOT, .init_array/.fini_array
 * and Swift's read-only tables. Made read-only here, first, rounded as ld.so rounds it. */
static int protect_relro(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    uintptr_t page = (uintptr_t)getauxval(AT_PAGESZ);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_GNU_RELRO) continue;
        uintptr_t start = (info->dlpi_addr + header->p_vaddr) & ~(page - 1);
        /* Rounded down here: mprotect would round the length up, over .data. */
        uintptr_t end = (info->dlpi_addr + header->p_vaddr + header->p_memsz) & ~(page - 1);
        if (end > start && mprotect((void *)start, end - start, PROT_READ) != 0) _exit(71); /* EX_OSERR */
    }
    return 1; /* a static program is the only object */
}
#endif

extern char **environ;
static int secure_exec;
static int saved_argc;
static char **saved_argv;

/* glibc calls constructors with argc, argv and envp; musl calls them with nothing, so
 * there the arguments are kept by main() below instead. */
__attribute__((constructor(101))) static void coutbox_guard(int argc, char **argv, char **envp) {
    (void)envp;
#ifdef __GLIBC__
    saved_argc = argc;
    saved_argv = argv;
#else
    (void)argc;
    (void)argv;
    dl_iterate_phdr(protect_relro, NULL);
#endif
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            int opened = open("/dev/null", O_RDWR);
            if (opened < 0) _exit(71); /* EX_OSERR: no safe way to continue */
            if (opened != fd) { dup2(opened, fd); close(opened); }
        }
    }
    secure_exec = getauxval(AT_SECURE) != 0;
    if (secure_exec && environ != NULL) environ[0] = NULL;
}

int coutbox_secure_exec(void) { return secure_exec; }

int coutbox_getrandom(void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) { if (errno == EINTR) continue; return -1; }
        p += got; n -= (size_t)got;
    }
    return 0;
}

int coutbox_close_from(unsigned int first) {
    return (int)syscall(SYS_close_range, first, ~0U, 0);
}

int coutbox_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

const int coutbox_o_path = O_PATH;

int coutbox_errno(void) { return errno; }

void coutbox_set_errno(int value) { errno = value; }

int coutbox_openat(int directory, const char *path, int flags, mode_t mode) { return openat(directory, path, flags, mode); }

void coutbox_signal_default(int signal_number) { signal(signal_number, SIG_DFL); }

void coutbox_signal_ignore(int signal_number) { signal(signal_number, SIG_IGN); }

int coutbox_argc(void) { return saved_argc; }

char *coutbox_argv(int index) { return index >= 0 && index < saved_argc && saved_argv != NULL ? saved_argv[index] : NULL; }

char **coutbox_environment(void) { return environ; }

int coutbox_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

int coutbox_spawn_piped(pid_t *pid, const char *path, char *const argv[], char *const envp[], int input, int output) {
    /* The child shares our memory until its exec and we wait meanwhile (vfork): it only
     * makes system calls, and reports a failure in `failed`. No signal handler can run in
     * it: sendmail installs none (SIGPIPE ignored, SIGCHLD default), and exec reset any it
     * inherited. posix_spawn did the same with a heap-allocated action list and a pipe
     * for the error, whose free unmapped musl's page and so interrupted the other core. */
    volatile int failed = 0;
    pid_t child = vfork();
    if (child == 0) {
        if (dup2(input, 0) == 0 && dup2(output, 1) == 1) execve(path, argv, envp);
        failed = errno != 0 ? errno : EINVAL;
        _exit(127);
    }
    if (child < 0) return errno;
    if (failed != 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return failed;
    }
    *pid = child;
    return 0;
}

#ifdef COUTBOX_C_MAIN
/* The Embedded builds (Makefile) name Swift's entry point coutbox_swift_main, so that this
 * main() keeps the arguments under either C library before the Swift code runs. */
int coutbox_swift_main(int argc, char **argv);

int main(int argc, char **argv) {
    saved_argc = argc;
    saved_argv = argv;
    return coutbox_swift_main(argc, argv);
}
#endif

#ifndef __GLIBC__
/* musl has no arc4random_buf, which Embedded Swift's Hasher calls once for its seed.
 * Like glibc's, it cannot fail: without randomness there is no safe seed. */
void arc4random_buf(void *buf, size_t n) {
    if (coutbox_getrandom(buf, n) != 0) abort();
}
#endif
