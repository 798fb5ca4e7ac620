/* Spawn latency harness for `make bench`: runs a command N times sequentially, each with
 * stdin from a file, and prints median, p99 and mean wall time per run in ms. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: latency LABEL N INPUT cmd [args...]\n"); return 64; }
    const char *label = argv[1];
    int n = atoi(argv[2]);
    const char *input = argv[3];
    double *ms = calloc(n, sizeof *ms);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        int fd = open(input, O_RDONLY);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fd, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        struct timespec a, z;
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid_t pid;
        if (posix_spawn(&pid, argv[4], &fa, NULL, argv + 4, environ) != 0) { perror("spawn"); return 1; }
        int status;
        waitpid(pid, &status, 0);
        clock_gettime(CLOCK_MONOTONIC, &z);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
        posix_spawn_file_actions_destroy(&fa);
        close(fd);
        ms[i] = (z.tv_sec - a.tv_sec) * 1e3 + (z.tv_nsec - a.tv_nsec) / 1e6;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += ms[i];
    qsort(ms, n, sizeof *ms, cmp);
    printf("%-44s n=%d  median %.3f ms  p99 %.3f ms  mean %.3f ms%s\n", label, n, ms[n / 2], ms[(int)(n * 0.99)],
           sum / n, failures ? "  FAILURES" : "");
    return failures != 0;
}
