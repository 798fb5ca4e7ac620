/* Floors for `make bench`. Built static.
 *   floor noop              exit at once (the cost of exec itself)
 *   floor once DIR          one durable write: create DIR/tmp/x, 1 KiB, fsync, rename to
 *                           DIR/new/<pid>, fsync DIR/new — what a submission must at least do
 *   floor loop DIR N        the same N times in one process: median and p99 per write
 *   floor split DIR         the privilege split's floor: this program reads the message on
 *                           stdin, starts itself as `once` with a pipe (posix_spawn, as
 *                           sendmail starts outboxdrop), writes the message into it, and
 *                           waits; the child reads it all, then does the durable write */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void durable(const char *dir, int i) {
    char tmp[4096], dst[4096], newdir[4096];
    static char buf[1024];
    snprintf(tmp, sizeof tmp, "%s/tmp/%d.%d", dir, getpid(), i);
    snprintf(dst, sizeof dst, "%s/new/%d.%d", dir, getpid(), i);
    snprintf(newdir, sizeof newdir, "%s/new", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0640);
    if (fd < 0 || write(fd, buf, sizeof buf) != sizeof buf || fsync(fd) != 0) { perror(tmp); exit(1); }
    close(fd);
    if (rename(tmp, dst) != 0) { perror("rename"); exit(1); }
    int d = open(newdir, O_RDONLY | O_DIRECTORY);
    if (d < 0 || fsync(d) != 0) { perror(newdir); exit(1); }
    close(d);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "noop") == 0) return 0;
    if (argc >= 3 && strcmp(argv[1], "once") == 0) {
        static char in[1 << 16];
        while (read(0, in, sizeof in) > 0) {}
        durable(argv[2], 0);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "split") == 0) {
        static char msg[1 << 16];
        ssize_t n = read(0, msg, sizeof msg);
        int p[2];
        posix_spawn_file_actions_t fa;
        pid_t child;
        char *args[] = {argv[0], "once", argv[2], NULL};
        if (n < 0 || pipe(p) != 0) { perror("split"); return 1; }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[0], 0);
        posix_spawn_file_actions_addclose(&fa, p[1]);
        if (posix_spawn(&child, "/proc/self/exe", &fa, NULL, args, environ) != 0) { perror("posix_spawn"); return 1; }
        close(p[0]);
        if (write(p[1], msg, n) != n) { perror("write"); return 1; }
        close(p[1]);
        int status;
        if (waitpid(child, &status, 0) != child || status != 0) return 1;
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "loop") == 0) {
        int n = atoi(argv[3]);
        double *ms = calloc(n, sizeof *ms);
        for (int i = 0; i < n; i++) {
            struct timespec a, z;
            clock_gettime(CLOCK_MONOTONIC, &a);
            durable(argv[2], i + 1);
            clock_gettime(CLOCK_MONOTONIC, &z);
            ms[i] = (z.tv_sec - a.tv_sec) * 1e3 + (z.tv_nsec - a.tv_nsec) / 1e6;
        }
        qsort(ms, n, sizeof *ms, cmp);
        printf("%-44s n=%d  median %.3f ms  p99 %.3f ms\n", "floor: write+fsync+rename+fsync(dir) loop", n, ms[n / 2], ms[(int)(n * 0.99)]);
        return 0;
    }
    fprintf(stderr, "usage: floor noop | once DIR | loop DIR N | split DIR\n");
    return 64;
}
