"""Run one measured program and report its wall time and peak memory.

    python -S -I bench/launch.py RESULT_FILE /abs/program [args...]

Why a launcher: Linux's ru_maxrss of a child counts the memory of the
process it was forked from (the high-water mark is carried across exec), so
a child of the bench runner, grown big by seeding, would inherit the
runner's size. Started with -S -I this process is ~8 MB, the floor of every
memory figure; it spawns the program (posix_spawn shares its small memory),
waits, and writes "seconds maxrss_kb exit_status" to RESULT_FILE. Its own
start-up is outside the measured time. stdin, stdout and stderr pass through.
"""
import os
import sys
import time


def main():
    result, argv = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as handle:
        handle.write("%r %d %d\n" % (seconds, usage.ru_maxrss, code))


main()
