#!/usr/bin/env python3
"""A download that reports its stalls: fetch.py URL PROGRESS. GETs URL,
hashes the body as it comes (nothing goes to disk), keeps the byte count
so far in the file PROGRESS (rewritten at most every 50 ms) and prints,
for every pause longer than 250 ms between two reads, "gap START END"
(wall clock, ns, as `date +%s%N`), then "bytes=N sha256=HEX" at the end.
Exits 1 when the transfer fails or is cut short."""
import hashlib
import http.client
import os
import sys
import time
import urllib.parse

GAP_NS = 250_000_000

url, progress = sys.argv[1], sys.argv[2]
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
conn.request("GET", u.path)
resp = conn.getresponse()
if resp.status != 200:
    print("status %d" % resp.status, flush=True)
    sys.exit(1)
want = int(resp.getheader("Content-Length", "-1"))
h = hashlib.sha256()
got = 0
last = time.time_ns()
shown = 0


def show(n):
    tmp = progress + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % n)
    os.replace(tmp, progress)


while True:
    try:
        b = resp.read1(262144)
    except OSError as e:
        print("read failed after %d bytes: %s" % (got, e), flush=True)
        sys.exit(1)
    now = time.time_ns()
    if not b:
        break
    if now - last > GAP_NS:
        print("gap %d %d" % (last, now), flush=True)
    last = now
    h.update(b)
    got += len(b)
    if now - shown > 50_000_000:
        show(got)
        shown = now
show(got)
print("bytes=%d sha256=%s" % (got, h.hexdigest()), flush=True)
sys.exit(0 if got == want else 1)
