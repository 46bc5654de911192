/*
 * One copy of the spawn benchmark, as UnixBench's spawn runs it: fork a child that exits at
 * once, wait for it, again and again. Built with -DEXEC='"/bin/true"' it is the sysexec
 * benchmark, as UnixBench's syscall exec runs it: the child execs that program instead (an exec
 * that fails exits the child with 127, which the parent reports).
 *
 * It takes part in orch's start barrier: it prints "ready", reads "START_NS END_NS"
 * (CLOCK_MONOTONIC, shared by every process of the host) from stdin, sleeps until START_NS,
 * forks until END_NS has passed and prints the number of children waited for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(void)
{
	long long start, end;
	unsigned long long count = 0;
	struct timespec wake;

	printf("ready\n");
	fflush(stdout);
	if (scanf("%lld %lld", &start, &end) != 2) {
		fprintf(stderr, "expected START_NS END_NS on stdin\n");
		return 2;
	}
	wake.tv_sec = start / 1000000000LL;
	wake.tv_nsec = start % 1000000000LL;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL) == EINTR)
		;
	while (monotonic_ns() < end) {
		int status;
		pid_t child = fork();

		if (child == 0) {
#ifdef EXEC
			execl(EXEC, EXEC, (char *)NULL);
			_exit(127);
#else
			_exit(0);
#endif
		}
		if (child < 0) {
			perror("fork");
			return 1;
		}
		if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "child %d did not exit cleanly\n", (int)child);
			return 1;
		}
		count++;
	}
	printf("%llu\n", count);
	return 0;
}
