#!/usr/bin/env python3
"""HTTP GET whose reader is paced: at most PACE bytes a second (TCP flow
control holds the sender back, as curl --limit-rate does) until the file
GO exists, then as fast as it can. So a transfer lasts as long as a test
needs it to, and then finishes without waiting out a fixed rate.

  pacedget.py HOST PORT PATH PACE GO PROGRESS

PROGRESS gets the number of body bytes read so far (rewritten about ten
times a second); at the end it prints "BYTES SHA256" of the body. Exit 1
when the response is not a 200 or ends before its Content-Length."""
import hashlib
import os
import socket
import sys
import time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pace, go, progress = float(sys.argv[4]), sys.argv[5], sys.argv[6]

s = socket.create_connection((host, port), timeout=60)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
head = b""
while b"\r\n\r\n" not in head:
    b = s.recv(4096)
    if not b:
        sys.exit("pacedget: connection closed in the headers")
    head += b
head, body = head.split(b"\r\n\r\n", 1)
lines = head.decode("latin-1").split("\r\n")
if lines[0].split()[1] != "200":
    sys.exit("pacedget: " + lines[0])
length = None
for l in lines[1:]:
    k, _, v = l.partition(":")
    if k.strip().lower() == "content-length":
        length = int(v)
h = hashlib.sha256(body)
n = len(body)
t0 = time.monotonic()
last = 0.0
fast = False
while True:
    now = time.monotonic()
    if not fast and os.path.exists(go):
        fast = True
    if not fast:
        ahead = n - pace * (now - t0)
        if ahead > 0:
            time.sleep(min(ahead / pace, 0.05))
            continue
    if now - last > 0.1:
        with open(progress + ".tmp", "w") as f:
            f.write("%d\n" % n)
        os.replace(progress + ".tmp", progress)
        last = now
    b = s.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
with open(progress, "w") as f:
    f.write("%d\n" % n)
if length is not None and n != length:
    sys.exit("pacedget: %d of %d bytes" % (n, length))
print(n, h.hexdigest())
