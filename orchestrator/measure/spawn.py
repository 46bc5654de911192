"""One copy of the spawn benchmark: posix_spawn a binary and wait for it, again and again.

Run as `python -m orchestrator.measure.spawn BINARY`; it follows the start barrier of execl.c:
print "ready", read "START_NS END_NS" (CLOCK_MONOTONIC) from stdin, start at START_NS and print
the number of spawns finished once END_NS has passed. Imports nothing heavy: it starts per copy.
"""

from __future__ import annotations

import os
import sys
import time


def main(binary: str) -> int:
    print("ready", flush=True)
    start, end = (int(word) for word in sys.stdin.readline().split())
    delay = start - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    if delay > 0:
        time.sleep(delay / 1e9)
    count = 0
    while time.clock_gettime_ns(time.CLOCK_MONOTONIC) < end:
        status = os.waitpid(os.posix_spawn(binary, [binary], os.environ), 0)[1]
        if os.waitstatus_to_exitcode(status) != 0:
            print(f"{binary} exited with {os.waitstatus_to_exitcode(status)}", file=sys.stderr)
            return 1
        count += 1
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
