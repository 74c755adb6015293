"""Benchmark: the agent's overhead on a file-write storm under a watched prefix (/tmp/).

A bounded loop opens a file with O_CREAT|O_TRUNC, writes 64 bytes and closes it; every open
is a ``file_write`` event (the worst case: the path matches a watched prefix). Needs root.

Usage: python bench/file_storm.py [-n 100000] [--rounds 3]
"""

from __future__ import annotations

import sys

from workload_storm import main

CODE = """
import os, sys, time
n, d = int(sys.argv[1]), sys.argv[2]
path = os.path.join(d, "storm")
data = b"x" * 64
t = time.perf_counter()
for _ in range(n):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data); os.close(fd)
print(time.perf_counter() - t)
"""

if __name__ == "__main__":
    sys.exit(main("file-write storm", "writes", CODE, 100000))
