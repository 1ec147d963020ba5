#!/usr/bin/env python3
"""Tiny threaded TCP echo server for the ztnad benchmark (one thread per
connection, TCP_NODELAY on every accepted socket).
usage: echo.py ADDR PORT"""
import socket
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    return
                s.sendall(b)
        except OSError:
            return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 4096


if __name__ == "__main__":
    addr, port = sys.argv[1], int(sys.argv[2])
    with Server((addr, port), Echo) as srv:
        print(f"echo: listening on {addr}:{port}", flush=True)
        srv.serve_forever()
