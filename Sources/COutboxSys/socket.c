// The two socket calls outboxd's control socket needs that Swift's Glibc module hides
// behind _GNU_SOURCE.
#define _GNU_SOURCE
#include "COutboxSys.h"
#include <stddef.h>
#include <sys/socket.h>

int coutbox_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

long coutbox_peer_uid(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? (long)cred.uid : -1;
}
