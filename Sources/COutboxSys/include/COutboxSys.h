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

/// renameat2(2) with RENAME_NOREPLACE (link + unlink where the file system lacks it):
/// fails with EEXIST instead of replacing an existing newpath. Returns 0 or -1 with errno.
int coutbox_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);

/// O_PATH (needs _GNU_SOURCE, which Swift's Glibc module does not define).
extern const int coutbox_o_path;

#endif
