#!/usr/bin/env python3
"""A TCP target that misbehaves on purpose: ADDR PORT DELAY. For every
connection it sends its FIN at once (shutdown of its write side), never
reads a byte (tiny receive buffer, so writes to it back up), and DELAY
seconds after the accept closes with unread data and SO_LINGER 0: a RST.
Prints one line per event. Runs until killed."""
import socket
import struct
import sys
import threading
import time

addr, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])


def victim(c, n):
    c.shutdown(socket.SHUT_WR)
    print("halfsink %d: accepted %d, FIN sent" % (port, n), flush=True)
    time.sleep(delay)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    print("halfsink %d: reset %d" % (port, n), flush=True)


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# Set before listen, so accepted sockets start with the small window.
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind((addr, port))
s.listen(16)
n = 0
while True:
    c, _ = s.accept()
    n += 1
    threading.Thread(target=victim, args=(c, n), daemon=True).start()
