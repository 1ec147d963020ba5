#!/usr/bin/env python3
"""Test HTTP server: serves a directory on ADDR:PORT with a listen backlog
big enough for the concurrency tests (http.server's default is 5, which
turns a burst of connections into 1 s SYN retransmits)."""
import functools
import http.server
import sys


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


addr, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                            directory=root)
Server((addr, port), handler).serve_forever()
