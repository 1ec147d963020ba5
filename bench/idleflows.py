#!/usr/bin/env python3
"""Opens N TCP connections to HOST:PORT (an echo server), checks each one
end to end with a 1-byte echo, prints one summary line, then keeps them all
open (idle) until it is killed.
usage: idleflows.py HOST PORT [N=1000]
prints: "connected=C echoed=E failed=F first_error=..." then "READY"."""
import signal
import socket
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
addr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
socks, failed, first_error = [], 0, ""
t0 = time.monotonic()
deadline = t0 + 90  # a hanging path must not stall the benchmark
for i in range(n):
    if time.monotonic() > deadline:
        failed += n - i
        first_error = first_error or f"#{i}: gave up after 90 s"
        break
    try:
        s = socket.create_connection(addr, timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    except OSError as e:
        failed += 1
        first_error = first_error or f"#{i}: {e}"
echoed = 0
for s in socks:
    if time.monotonic() > deadline + 30:
        first_error = first_error or "echo check: gave up"
        break
    try:
        s.sendall(b"x")
        if s.recv(1) == b"x":
            echoed += 1
    except OSError as e:
        first_error = first_error or f"echo: {e}"
print(f"connected={len(socks)} echoed={echoed} failed={failed} "
      f"seconds={time.monotonic() - t0:.2f} first_error={first_error or '-'}",
      flush=True)
print("READY", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(3600)
