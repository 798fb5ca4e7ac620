#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "COutboxDaemon.h"

int coutbox_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    if (renameat2(olddirfd, oldpath, newdirfd, newpath, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    // A file system without RENAME_NOREPLACE: link(2) never replaces either. A crash
    // between the two calls leaves a second name in the temporary directory, which the
    // owner's start-up sweep removes before it reads the queue.
    if (linkat(olddirfd, oldpath, newdirfd, newpath, 0) != 0) return -1;
    (void)unlinkat(olddirfd, oldpath, 0);
    return 0;
}
