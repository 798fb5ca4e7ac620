#ifndef COUTBOXDAEMON_H
#define COUTBOXDAEMON_H
// Calls only outboxd and outboxctl need, kept out of COutboxSys so that the set-id drop
// helper links none of them.
#include <spawn.h>

/// accept4(2) with SOCK_CLOEXEC, no address; returns the new fd or -1 with errno set.
int coutbox_accept_cloexec(int fd);

/// The uid of the peer of a UNIX socket (SO_PEERCRED); -1 when unknown.
long coutbox_peer_uid(int fd);

/// posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34, hidden from Swift behind
/// _GNU_SOURCE): the child closes every descriptor >= from before exec.
int coutbox_spawn_close_from(posix_spawn_file_actions_t *actions, int from);

/// renameat2(2) with RENAME_NOREPLACE (link + unlink where the file system lacks it):
/// fails with EEXIST instead of replacing an existing newpath. Returns 0 or -1 with errno.
int coutbox_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);

/// No core dumps and no ptrace by other processes of the same user (prctl
/// PR_SET_DUMPABLE 0, RLIMIT_CORE 0): outboxd's memory holds passwords and OAuth2
/// tokens. Returns 0 or -1 with errno set.
int coutbox_forbid_core_dumps(void);

#endif
