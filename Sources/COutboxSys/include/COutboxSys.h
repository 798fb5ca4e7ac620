#ifndef COUTBOXSYS_H
#define COUTBOXSYS_H
#include <stddef.h>
#include <sys/types.h>
#include <spawn.h>

/// Whether the kernel marked this process AT_SECURE (set-id execution) when it started.
/// Decided once, in a constructor that runs before the Swift runtime, and never re-read.
int coutbox_secure_exec(void);

/// Fills buf with n bytes from getrandom(2); returns 0 or -1 with errno set.
int coutbox_getrandom(void *buf, size_t n);

/// close_range(2) for fds >= first; returns 0 or -1 with errno set.
int coutbox_close_from(unsigned int first);

/// pipe2(2) with O_CLOEXEC; returns 0 or -1 with errno set.
int coutbox_pipe_cloexec(int fds[2]);

/// accept4(2) with SOCK_CLOEXEC, no address; returns the new fd or -1 with errno set.
int coutbox_accept_cloexec(int fd);

/// The uid of the peer of a UNIX socket (SO_PEERCRED); -1 when unknown.
long coutbox_peer_uid(int fd);

/// posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34, hidden from Swift behind
/// _GNU_SOURCE): the child closes every descriptor >= from before exec.
int coutbox_spawn_close_from(posix_spawn_file_actions_t *actions, int from);

/// O_PATH (needs _GNU_SOURCE, which Swift's Glibc module does not define).
extern const int coutbox_o_path;

#endif
