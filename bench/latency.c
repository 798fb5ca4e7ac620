/* Spawn latency harness for `make bench`: runs commands N times each with stdin from a
 * file, and prints median, p99 and mean wall time per run in ms.
 *   latency LABEL N INPUT cmd [args...]
 *   latency -a N INPUT LABEL cmd [args...] [-- LABEL cmd [args...]]...
 * With -a the commands take turns (run 1 of each, then run 2 of each, ...), so that a
 * drift in the disk's fsync time during the run weighs on each of them alike; then each
 * command's median is also given as a multiple of the first command's. */
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

struct command {
    const char *label;
    char **argv; /* NULL-terminated */
    double *ms;
    int failures;
};

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double run_once(struct command *c, const char *input) {
    int fd = open(input, O_RDONLY);
    if (fd < 0) { perror(input); exit(1); }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid;
    if (posix_spawn(&pid, c->argv[0], &fa, NULL, c->argv, environ) != 0) { perror("spawn"); exit(1); }
    int status;
    waitpid(pid, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &z);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) c->failures++;
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    return (z.tv_sec - a.tv_sec) * 1e3 + (z.tv_nsec - a.tv_nsec) / 1e6;
}

/* Prints one command's line; returns its median. */
static double report(struct command *c, int n, double base) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += c->ms[i];
    qsort(c->ms, n, sizeof *c->ms, cmp);
    double median = c->ms[n / 2];
    printf("%-44s n=%d  median %.3f ms  p99 %.3f ms  mean %.3f ms", c->label, n, median, c->ms[(int)(n * 0.99)], sum / n);
    if (base > 0) printf("  (%.2fx)", median / base);
    printf("%s\n", c->failures ? "  FAILURES" : "");
    return median;
}

int main(int argc, char **argv) {
    int alternate = argc > 1 && strcmp(argv[1], "-a") == 0;
    if (argc < 5 + alternate) {
        fprintf(stderr, "usage: latency LABEL N INPUT cmd [args...]\n"
                        "       latency -a N INPUT LABEL cmd [args...] [-- LABEL cmd [args...]]...\n");
        return 64;
    }
    struct command commands[16];
    int count = 0, n = atoi(argv[2]);
    const char *input = argv[3];
    if (!alternate) {
        commands[count++] = (struct command){argv[1], argv + 4, NULL, 0};
    } else {
        for (int i = 4; i < argc && count < 16;) {
            if (i + 1 >= argc) { fprintf(stderr, "latency: %s has no command\n", argv[i]); return 64; }
            commands[count++] = (struct command){argv[i], argv + i + 1, NULL, 0};
            int j = i + 1;
            while (j < argc && strcmp(argv[j], "--") != 0) j++;
            if (j < argc) argv[j] = NULL; /* ends this command's argv */
            i = j + 1;
        }
    }
    if (n < 1) { fprintf(stderr, "latency: N must be at least 1\n"); return 64; }
    for (int c = 0; c < count; c++) commands[c].ms = calloc(n, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < count; c++) commands[c].ms[i] = run_once(&commands[c], input);
    int failures = 0;
    double base = 0;
    for (int c = 0; c < count; c++) {
        double median = report(&commands[c], n, alternate && c > 0 ? base : 0);
        if (c == 0) base = median;
        failures += commands[c].failures;
    }
    return failures != 0;
}
