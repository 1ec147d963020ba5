#!/usr/bin/env python3
"""Counts frames on an interface that contain a marker, from inside a
network namespace (AF_PACKET, no tcpdump needed), until SECONDS pass or
the file STOP appears. Prints "frames=N bytes=B marker=M".

    sniff.py IFACE MARKER SECONDS [STOP]
"""
import os
import select
import socket
import sys
import time

def main():
    iface, marker, secs = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
    stop = sys.argv[4] if len(sys.argv) > 4 else None
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    frames = nbytes = hits = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if stop and os.path.exists(stop):
            break
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        for _ in range(1024):
            try:
                b = s.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            frames += 1
            nbytes += len(b)
            if marker in b:
                hits += 1
    print("frames=%d bytes=%d marker=%d" % (frames, nbytes, hits), flush=True)

main()
