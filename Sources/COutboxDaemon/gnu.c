// Calls outboxd needs that Swift's Glibc module hides behind _GNU_SOURCE: two for its
// control socket, one for spawning auth_password_command with no inherited descriptor.
#define _GNU_SOURCE
#include "COutboxDaemon.h"
#include <stddef.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>

int coutbox_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

long coutbox_peer_uid(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? (long)cred.uid : -1;
}

int coutbox_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int coutbox_forbid_core_dumps(void) {
    /* Best effort: the unit's seccomp filter refuses setrlimit (@resources), and sets
     * LimitCORE=0 itself. Not dumpable is what matters: no core, no ptrace. */
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
