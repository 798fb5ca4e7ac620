#ifndef COUTBOXSYS_H
#define COUTBOXSYS_H
#include <stddef.h>
#include <sys/types.h>

/// Whether the kernel marked this process AT_SECURE (set-id execution) when it started.
/// Decided once, in a constructor that runs before the Swift runtime, and never re-read.
int coutbox_secure_exec(void);

/// Fills buf with n bytes from getrandom(2); returns 0 or -1 with errno set.
int coutbox_getrandom(void *buf, size_t n);

/// close_range(2) for fds >= first; returns 0 or -1 with errno set.
int coutbox_close_from(unsigned int first);

/// pipe2(2) with O_CLOEXEC; returns 0 or -1 with errno set.
int coutbox_pipe_cloexec(int fds[2]);


/// O_PATH (needs _GNU_SOURCE, which Swift's Glibc module does not define).
extern const int coutbox_o_path;

/// What Swift's Glibc overlay adds to the C library, for the code sendmail and the drop
/// helper are built from, also as Embedded Swift (no overlay there): errno, the variadic
/// openat and fcntl (F_SETPIPE_SZ), the signal dispositions (macros), the arguments (no
/// CommandLine there; kept by the constructor, which glibc calls with argc and argv, or by
/// guard.c's main() in the Embedded builds), and `environ`.
int coutbox_errno(void);
void coutbox_set_errno(int value);
int coutbox_openat(int directory, const char *path, int flags, mode_t mode);
void coutbox_signal_default(int signal);
void coutbox_signal_ignore(int signal);
int coutbox_argc(void);
char *coutbox_argv(int index);
char **coutbox_environment(void);
int coutbox_set_pipe_size(int fd, int size);

/// posix_spawn of `path` with stdin on `input` and stdout on `output`, nothing else
/// changed, without touching the heap (vfork, dup2, execve): sendmail's drop helper.
/// Returns 0 and the pid, or an errno (the exec's own when it failed). Only for a caller
/// that installs no signal handlers.
int coutbox_spawn_piped(pid_t *pid, const char *path, char *const argv[], char *const envp[], int input, int output);

#endif
