"""Benchmark: the agent's overhead on a TCP connect storm over loopback (connect + accept events).

A bounded loop connects to a listener on 127.0.0.1 and accepts each connection; the agent
records a ``net_connect`` and a ``net_accept`` per round trip. Needs root.

Usage: python bench/connect_storm.py [-n 20000] [--rounds 3]
"""

from __future__ import annotations

import sys

from workload_storm import main

CODE = """
import socket, sys, time
n = int(sys.argv[1])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(128)
addr = srv.getsockname()
t = time.perf_counter()
for _ in range(n):
    c = socket.socket(); c.connect(addr)
    s, _ = srv.accept(); s.close(); c.close()
print(time.perf_counter() - t)
"""

if __name__ == "__main__":
    sys.exit(main("connect storm", "connects", CODE, 20000))
