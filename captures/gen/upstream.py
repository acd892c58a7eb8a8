#!/usr/bin/env python3
"""Tiny HTTP/1.1 upstream behind nginx proxy_pass (captures/generate.sh).
Reads the whole request body (Content-Length or chunked) and answers
200 'received N bytes'.  usage: upstream.py HOST PORT"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def body_len(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            n = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return n
                n += len(self.rfile.read(size))
                self.rfile.readline()
        cl = int(self.headers.get("Content-Length") or 0)
        left = cl
        while left:
            d = self.rfile.read(min(left, 65536))
            if not d:
                break
            left -= len(d)
        return cl - left

    def answer(self):
        body = f"received {self.body_len()} bytes\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = answer


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
