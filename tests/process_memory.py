"""This process's resident memory, for tests that bound what a code path keeps (Linux: /proc)."""

import os


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
