/*
 * One copy of the execl benchmark: the process replaces itself with a new image of this
 * program, again and again, carrying the number of execs done so far in its arguments
 * (the way UnixBench's execl test counts).
 *
 * Started with no arguments it takes part in orch's start barrier: it prints "ready", reads
 * "START_NS END_NS" (CLOCK_MONOTONIC, shared by every process of the host) from stdin, sleeps
 * until START_NS and then execs itself with "END_NS 1". An image started with "END_NS COUNT"
 * prints COUNT and exits once END_NS has passed, else execs itself with COUNT + 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000000000LL + now.tv_nsec;
}

static int exec_again(const char *self, const char *end, unsigned long long count)
{
	char text[32];

	snprintf(text, sizeof(text), "%llu", count);
	execl(self, self, end, text, (char *)NULL);
	perror("execl");  /* only reached when the exec failed */
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 1) {
		long long start, end;
		char end_text[32];
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
		snprintf(end_text, sizeof(end_text), "%lld", end);
		return exec_again(argv[0], end_text, 1);
	}
	if (argc != 3) {
		fprintf(stderr, "usage: %s [END_NS COUNT]\n", argv[0]);
		return 2;
	}
	if (monotonic_ns() >= atoll(argv[1])) {
		printf("%s\n", argv[2]);
		return 0;
	}
	return exec_again(argv[0], argv[1], strtoull(argv[2], NULL, 10) + 1);
}
