#!/usr/bin/env python3
"""A hostile upstream resolver for the agent's DNS forwarder, on ADDR:53.
Runs until killed. By query name (the first label decides):

  good     A 198.51.100.7 (a public address)
  evil     A 100.64.1.1 (the agent's synthetic range)
  inside   A 10.78.0.9 (a catalog service CIDR)
  chain    CNAME chain with compression pointers ending in A 10.78.0.10
  mapped   AAAA ::ffff:100.64.1.1 (IPv4-mapped synthetic address)
  https    HTTPS 1 . alpn=h2 ipv4hint=10.78.0.11 (a catalog service CIDR)
  spoofid  first an answer with the wrong id (A 198.51.100.66), then the
           real one (A 198.51.100.7)
  spoofport  the same, the first from port 5353 instead of 53
  spoofq   the same, the first with another question (other.example)
  spoofqr  the same, the first without the QR bit
  silent   no answer at all
anything else: NXDOMAIN."""
import socket
import struct
import sys
import time

addr = sys.argv[1]
WRONG = "198.51.100.66"
RIGHT = "198.51.100.7"


def qname(q):
    """Returns (labels, offset after qtype/qclass) of the question."""
    labels, o = [], 12
    while q[o]:
        labels.append(q[o + 1:o + 1 + q[o]])
        o += 1 + q[o]
    return labels, o + 5


def encode(labels):
    return b"".join(bytes([len(x)]) + x for x in labels) + b"\0"


def a_rr(ip, name=b"\xc0\x0c"):
    return name + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)


def response(q, answers, n, rcode=0, qr=True, question=None, qid=None):
    """Header + the query's question (or another) + n answer records."""
    _, end = qname(q)
    flags = (0x8000 if qr else 0) | 0x0180 | rcode
    hdr = (qid if qid is not None else q[:2]) + \
        struct.pack("!HHHHH", flags, 1, n, 0, 0)
    return hdr + (question or q[12:end]) + answers


def chain(q):
    # name CNAME x.cdn.example (target spelled out), x.cdn.example CNAME
    # y.<ptr to cdn.example>, y.cdn.example A 10.78.0.10.
    _, end = qname(q)
    base = 12 + (end - 12)  # answers start here
    t1 = encode([b"x", b"cdn", b"example"])
    rr1 = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, len(t1)) + t1
    x_off = base + len(rr1) - len(t1)
    cdn_off = x_off + 2
    t2 = b"\x01y" + struct.pack("!H", 0xC000 | cdn_off)
    rr2 = struct.pack("!H", 0xC000 | x_off) + \
        struct.pack("!HHIH", 5, 1, 60, len(t2)) + t2
    y_off = base + len(rr1) + len(rr2) - len(t2)
    rr3 = a_rr("10.78.0.10", struct.pack("!H", 0xC000 | y_off))
    return response(q, rr1 + rr2 + rr3, 3)


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind((addr, 5353))
    print("ready", flush=True)
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 17:
            continue
        labels, _ = qname(q)
        first = labels[0].lower() if labels else b""
        print("query", b".".join(labels).decode(errors="replace"), peer,
              flush=True)
        if first == b"silent":
            continue
        if first == b"good":
            s.sendto(response(q, a_rr(RIGHT), 1), peer)
        elif first == b"evil":
            s.sendto(response(q, a_rr("100.64.1.1"), 1), peer)
        elif first == b"inside":
            s.sendto(response(q, a_rr("10.78.0.9"), 1), peer)
        elif first == b"chain":
            s.sendto(chain(q), peer)
        elif first == b"mapped":
            ip = socket.inet_pton(socket.AF_INET6, "::ffff:100.64.1.1")
            rr = b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 60, 16) + ip
            s.sendto(response(q, rr, 1), peer)
        elif first == b"https":
            params = struct.pack("!HHB", 1, 3, 2) + b"h2" + \
                struct.pack("!HH", 4, 4) + socket.inet_aton("10.78.0.11")
            rd = struct.pack("!HB", 1, 0) + params
            rr = b"\xc0\x0c" + struct.pack("!HHIH", 65, 1, 60, len(rd)) + rd
            s.sendto(response(q, rr, 1), peer)
        elif first.startswith(b"spoof"):
            bad = response(q, a_rr(WRONG), 1)
            if first == b"spoofid":
                qid = struct.pack("!H", struct.unpack("!H", q[:2])[0] ^ 0x5555)
                bad = response(q, a_rr(WRONG), 1, qid=qid)
            elif first == b"spoofq":
                other_q = encode([b"other", b"example"]) + q[qname(q)[1] - 4:qname(q)[1]]
                bad = response(q, a_rr(WRONG), 1, question=other_q)
            elif first == b"spoofqr":
                bad = response(q, a_rr(WRONG), 1, qr=False)
            (other if first == b"spoofport" else s).sendto(bad, peer)
            time.sleep(0.3)
            s.sendto(response(q, a_rr(RIGHT), 1), peer)
        else:
            s.sendto(response(q, b"", 0, rcode=3), peer)


main()
