#!/usr/bin/env python3
"""UDP test servers on ADDR: an echo on port 7 and a minimal DNS server on
port 53 that answers every A query with 10.77.1.53 (and NXDOMAIN for
nothing: it is a test fixture, not a resolver). Runs until killed."""
import socket
import struct
import sys
import threading

addr = sys.argv[1]


def echo():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 7))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        q, peer = s.recvfrom(512)
        if len(q) < 17:
            continue
        end = 12
        while end < len(q) and q[end]:
            end += q[end] + 1
        question = q[12:end + 5]
        qtype = struct.unpack("!H", q[end + 1:end + 3])[0]
        flags = 0x8180 | (struct.unpack("!H", q[2:4])[0] & 0x0100)
        ans = b""
        if qtype == 1:
            ans = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + \
                socket.inet_aton("10.77.1.53")
        hdr = q[:2] + struct.pack("!HHHHH", flags, 1, 1 if ans else 0, 0, 0)
        s.sendto(hdr + question + ans, peer)


threading.Thread(target=echo, daemon=True).start()
dns()
