#!/usr/bin/env python3
"""Writes malformed IPv4 packets towards DST through the kernel's routing
(so they enter the agent's TUN): bad TCP checksum, bad TCP data offset, UDP
length mismatch, overrunning IP options, a fragment. A bounded number of
rounds, then it exits. The kernel fills in the IP total length and header
checksum (IP_HDRINCL), so those two cannot be broken this way."""
import socket
import struct
import sys
import time

dst = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 50
src = "100.64.0.1"


def ip_header(proto, payload_len, options=b"", frag=0):
    ihl = 5 + len(options) // 4
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 0, 0x1234, frag, 64,
                       proto, 0, socket.inet_aton(src),
                       socket.inet_aton(dst)) + options


def tcp(flags=0x02, doff=5, csum=0xdead):
    return struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, doff << 4, flags,
                       65535, csum, 0)


def udp(length):
    return struct.pack("!HHHH", 40000, 53, length, 0) + b"x" * 8


packets = [
    ip_header(6, 20) + tcp(csum=0xbad),              # bad TCP checksum
    ip_header(6, 20) + tcp(doff=15),                 # data offset past end
    ip_header(17, 16) + udp(200),                    # UDP length mismatch
    ip_header(6, 20, options=b"\x44\x28\x00\x00") + tcp(),  # option overruns
    ip_header(6, 20, frag=0x2000) + tcp(),           # first fragment (MF)
]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sent = 0
for _ in range(rounds):
    for p in packets:
        try:
            s.sendto(p, (dst, 0))
            sent += 1
        except OSError:
            pass
    # Paced, so the TUN queue (shared with a running transfer) does not
    # overflow: what is measured is the agent's parser, not the kernel.
    time.sleep(0.002)
print(sent)
