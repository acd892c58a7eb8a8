#!/usr/bin/env python3
"""HTTP/1.1 keep-alive upstream that closes every connection after exactly IDLE seconds
without a request (captures/generate.sh, keepalive-race).

Single-threaded selector loop. A connection is idle from its accept or from the moment
its last response was written; when IDLE seconds pass with no byte of a new request, the
server closes it with a plain close() (FIN). Requests (Content-Length bodies) get
200 "ok". Every request is logged in nginx's connscope log_format (see generate.sh):
    $remote_addr $remote_port $server_addr $server_port $connection $connection_requests
    $msec "$request" $status $body_bytes_sent "$http_connection"
with $connection = this server's own connection serial (from 1). Idle closes go to stderr.
    usage: race_upstream.py HOST PORT IDLE_SECONDS LOGFILE"""
import selectors
import socket
import sys
import time


class Conn:
    def __init__(self, sock, serial):
        self.sock, self.serial, self.n, self.buf = sock, serial, 0, b""
        self.peer, self.local = sock.getpeername(), sock.getsockname()
        self.last = time.monotonic()


def main(host, port, idle, logfile):
    idle = float(idle)
    log = open(logfile, "a", buffering=1)
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(64)
    sel.register(ls, selectors.EVENT_READ, None)
    conns, serial = {}, 0

    def close(c, why):
        sel.unregister(c.sock)
        c.sock.close()
        del conns[c.serial]
        print(f"close #{c.serial} {c.peer[1]}: {why}, {c.n} requests", file=sys.stderr, flush=True)

    def serve(c):
        while b"\r\n\r\n" in c.buf:
            head, _, rest = c.buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            hdr = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            cl = int(hdr.get("content-length", "0"))
            if len(rest) < cl:
                return
            c.buf = rest[cl:]
            c.n += 1
            body = f"ok: connection {c.serial}, request {c.n}, {cl} bytes received\n".encode()
            c.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                           % (len(body), body))
            c.last = time.monotonic()
            print(f'{c.peer[0]} {c.peer[1]} {c.local[0]} {c.local[1]} {c.serial} {c.n} {time.time():.3f} '
                  f'"{lines[0]}" 200 {len(body)} "{hdr.get("connection", "-")}"', file=log)

    while True:
        now = time.monotonic()
        waits = [c.last + idle - now for c in conns.values() if not c.buf]
        for key, _ in sel.select(max(0.0, min(waits)) if waits else None):
            if key.data is None:
                s, _ = ls.accept()
                serial += 1
                conns[serial] = c = Conn(s, serial)
                sel.register(s, selectors.EVENT_READ, c)
                continue
            c = key.data
            try:
                d = c.sock.recv(65536)
            except ConnectionError as e:
                close(c, f"recv: {e}")
                continue
            if not d:
                close(c, "peer closed")
                continue
            c.buf += d
            serve(c)
        now = time.monotonic()
        for c in list(conns.values()):
            if not c.buf and now - c.last >= idle:
                close(c, f"idle {now - c.last:.4f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
