/* timed RESULT LOG PROG ARGS...: run PROG with stdin /dev/null and stdout+stderr to LOG, and write
 * "<wall ns> <peak RSS KiB> <exit status>" to RESULT. The bench's spawner: a small process, so that the peak RSS
 * the kernel reports for PROG (which counts the memory of the process that exec'd it) is PROG's own and not the
 * Python bench's; and the clock starts right before the spawn, so this program's own start-up is not timed.
 * SIGINT, SIGTERM and SIGHUP are passed on to PROG. Exit status 0 unless this program itself failed (then 127). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

extern char **environ;
static volatile pid_t child = -1;

static void forward(int sig) { if (child > 0) kill(child, sig); }

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: timed RESULT LOG PROG ARGS...\n"); return 127; }
    struct sigaction sa = { .sa_handler = forward };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); sigaction(SIGTERM, &sa, NULL); sigaction(SIGHUP, &sa, NULL);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* The child starts with default dispositions and an empty mask, as if a shell had started it. */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t all, none;
    sigfillset(&all); sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[3], &fa, &at, argv + 3, environ);
    if (rc != 0) { fprintf(stderr, "timed: %s: %s\n", argv[3], strerror(rc)); return 127; }
    child = pid;
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) { perror("timed: wait4"); return 127; }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    FILE *out = fopen(argv[1], "w");
    if (!out) { perror(argv[1]); return 127; }
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(out, "%lld %ld %d\n", ns, ru.ru_maxrss, code);
    return fclose(out) == 0 ? 0 : 127;
}
