#!/usr/bin/env python3
"""HTTP/1.x test clients used by captures/generate.sh.

Every sub-command talks to one server and exits non-zero if anything is off.
    seq       HOST PORT PATH...        one HTTPConnection, GET every PATH, close
    idle      HOST PORT PATH PATH      2 GETs, sleep 2.5 s without closing, close
    rst       HOST PORT PATH PATH      2 GETs, then close with SO_LINGER {1,0} (RST)
    midstream HOST PORT READY GO       2 GETs, create READY, wait for GO, 3 GETs 0.2 s apart, close
    pipeline  HOST PORT                raw socket: 5 GETs in one send(), read 5 responses, close;
                                       then 3 pipelined GETs, last with Connection: close, read to EOF
    head304   HOST PORT                HEAD, conditional GET (304), GET /nocontent (204), GET (200)
    slowloris HOST PORT                GET /a.txt; then GET /b.txt with its head sent in 20 pieces
                                       0.08 s apart (1.6 s, under nginx's 2 s); close. Then a second connection that trickles
                                       a head it never finishes until the server closes it.
    fresh     HOST PORT PATH...        a new HTTPConnection for every PATH (HTTP/1.1, no Connection
                                       header, so the server keeps it open), closed after the response
    gaps      HOST PORT GAP N PATH     one HTTPConnection, N GETs GAP s apart; before each reuse it
                                       checks for the server's FIN (as urllib3 does) and reconnects
    stale     HOST PORT GAP            2 GETs, sleep GAP s, a 3rd GET on the same connection (the
                                       server has closed it: the request gets no answer), reconnect, 2 GETs
    race      HOST PORT N SEED         one HTTPConnection, N POSTs, each after a seeded random sleep
                                       of 0.94-1.02 s; prints the statuses; 502s are expected
    advertised HOST PORT N SEED TIMEOUT PATH...
                                       N connections, one after another: 1-4 HTTP/1.0 GETs with
                                       Connection: keep-alive (seeded), each response must say
                                       Connection: keep-alive and Keep-Alive: timeout=TIMEOUT; then
                                       1.5-2.0 s idle (seeded) on the open connection, in which the
                                       server must close it (EOF); then close
"""
import http.client
import os
import random
import select
import socket
import struct
import sys
import time


def conn(host, port):
    return http.client.HTTPConnection(host, int(port), timeout=10)


def get(c, path, method="GET", headers=None, expect=None):
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    print(f"{method} {path} -> {r.status} ({len(body)} bytes)", file=sys.stderr)
    if expect is not None and r.status != expect:
        sys.exit(f"unexpected status {r.status} for {method} {path}, wanted {expect}")
    return r


def cmd_seq(host, port, *paths):
    c = conn(host, port)
    for p in paths:
        get(c, p, expect=200)
    c.close()


def cmd_idle(host, port, p1, p2):
    c = conn(host, port)
    get(c, p1, expect=200)
    get(c, p2, expect=200)
    time.sleep(2.5)  # server keepalive_timeout is 1 s: nginx sends its FIN first
    c.close()


def cmd_rst(host, port, p1, p2):
    c = conn(host, port)
    get(c, p1, expect=200)
    get(c, p2, expect=200)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # abortive close: RST instead of FIN


def cmd_midstream(host, port, ready, go):
    c = conn(host, port)
    get(c, "/a.txt", expect=200)
    get(c, "/b.txt", expect=200)
    open(ready, "w").close()
    deadline = time.time() + 30
    while not os.path.exists(go):
        if time.time() > deadline:
            sys.exit("midstream: timed out waiting for " + go)
        time.sleep(0.05)
    for i, p in enumerate(("/c.txt", "/d.txt", "/e.txt")):
        if i:
            time.sleep(0.2)
        get(c, p, expect=200)
    c.close()


def read_responses(s, n, until_eof=False):
    """Read n complete responses (Content-Length framed); return their status codes."""
    buf = b""
    codes = []
    while len(codes) < n:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                sys.exit(f"EOF after {len(codes)} responses")
            buf += d
        i = buf.index(b"\r\n\r\n")
        head = buf[:i].decode("latin-1").split("\r\n")
        codes.append(int(head[0].split()[1]))
        cl = 0
        for h in head[1:]:
            k, _, v = h.partition(":")
            if k.strip().lower() == "content-length":
                cl = int(v)
        need = i + 4 + cl
        while len(buf) < need:
            d = s.recv(65536)
            if not d:
                sys.exit("EOF inside a body")
            buf += d
        buf = buf[need:]
    if until_eof:
        while s.recv(65536):
            pass
    return codes


def cmd_slowloris(host, port):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: slow\r\n\r\n")
    if read_responses(s, 1) != [200]:
        sys.exit("slowloris: first response")
    head = b"GET /b.txt HTTP/1.1\r\nHost: slow\r\nUser-Agent: slowloris-test\r\nX-Pad: " + b"p" * 40 + b"\r\n\r\n"
    step = -(-len(head) // 20)
    for i in range(0, len(head), step):
        s.sendall(head[i:i + step])
        time.sleep(0.08)
    if read_responses(s, 1) != [200]:
        sys.exit("slowloris: second response")
    s.close()
    # Never finished: one header line every 0.5 s until the server gives up.
    s = socket.create_connection((host, int(port)))
    s.sendall(b"GET /c.txt HTTP/1.1\r\nHost: slow\r\n")
    try:
        for i in range(20):
            time.sleep(0.5)
            s.sendall(b"X-Slow-%d: 1\r\n" % i)
            if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                break
    except (BlockingIOError,):
        pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()


def cmd_pipeline(host, port):
    def req(path, extra=""):
        return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: connscope-pipeline\r\n{extra}\r\n"

    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall("".join(req(p) for p in ("/a.txt", "/b.txt", "/c.txt", "/d.txt", "/e.txt")).encode())
    print("pipeline 1:", read_responses(s, 5), file=sys.stderr)
    s.close()

    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall((req("/a.txt") + req("/b.txt") + req("/c.txt", "Connection: close\r\n")).encode())
    print("pipeline 2:", read_responses(s, 3, until_eof=True), file=sys.stderr)
    s.close()


def cmd_head304(host, port):
    c = conn(host, port)
    r = get(c, "/a.txt", method="HEAD", expect=200)
    lm = r.getheader("Last-Modified")
    get(c, "/a.txt", headers={"If-Modified-Since": lm}, expect=304)
    get(c, "/nocontent", expect=204)
    get(c, "/b.txt", expect=200)
    c.close()


def cmd_fresh(host, port, *paths):
    for p in paths:
        c = conn(host, port)
        get(c, p, expect=200)
        c.close()


def cmd_gaps(host, port, gap, n, path):
    c = conn(host, port)
    reconnects = 0
    for i in range(int(n)):
        if i:
            time.sleep(float(gap))
            if c.sock is not None:
                r, _, _ = select.select([c.sock], [], [], 0)
                if r and c.sock.recv(1, socket.MSG_PEEK) == b"":
                    print("the server closed the idle connection (FIN seen before reuse): reconnecting",
                          file=sys.stderr)
                    reconnects += 1
                    c.close()
        get(c, path, expect=200)
    c.close()
    print(f"gaps: {n} requests, {reconnects} reconnects", file=sys.stderr)


def cmd_stale(host, port, gap):
    c = conn(host, port)
    get(c, "/a.txt", expect=200)
    get(c, "/b.txt", expect=200)
    time.sleep(float(gap))
    try:
        get(c, "/c.txt", expect=200)
        sys.exit("stale: the idle connection still answered")
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
        print(f"stale: request on the idle connection failed: {type(e).__name__}: {e}; reconnecting",
              file=sys.stderr)
    c.close()
    get(c, "/c.txt", expect=200)
    get(c, "/d.txt", expect=200)
    c.close()


def cmd_race(host, port, n, seed):
    rnd = random.Random(int(seed))
    c = conn(host, port)
    statuses = {}
    for i in range(int(n)):
        if i:
            time.sleep(rnd.uniform(0.94, 1.02))
        body = f"request={i + 1}\n".encode()
        c.request("POST", "/race", body=body, headers={"Content-Type": "text/plain"})
        r = c.getresponse()
        r.read()
        statuses[r.status] = statuses.get(r.status, 0) + 1
        if r.status not in (200, 502):
            sys.exit(f"race: unexpected status {r.status}")
    c.close()
    print("race: " + " ".join(f"{k}={v}" for k, v in sorted(statuses.items())), file=sys.stderr)


def read_response(s):
    """One Content-Length framed response on a non-pipelined socket: (status, {header: value})."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            sys.exit("EOF before a response head")
        buf += d
    i = buf.index(b"\r\n\r\n")
    lines = buf[:i].decode("latin-1").split("\r\n")
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    need = i + 4 + int(headers.get("content-length", "0"))
    while len(buf) < need:
        d = s.recv(65536)
        if not d:
            sys.exit("EOF inside a body")
        buf += d
    if len(buf) != need:
        sys.exit("more bytes than one response")
    return int(lines[0].split()[1]), headers


def cmd_advertised(host, port, n, seed, timeout, *paths):
    rnd = random.Random(int(seed))
    want = f"timeout={timeout}"
    for i in range(int(n)):
        s = socket.create_connection((host, int(port)), timeout=10)
        k = rnd.randint(1, 4)
        for j in range(k):
            p = paths[(i + j) % len(paths)]
            s.sendall(f"GET {p} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: connscope-advertised\r\n"
                      "Connection: keep-alive\r\n\r\n".encode())
            status, h = read_response(s)
            if status != 200 or h.get("connection", "").lower() != "keep-alive" or h.get("keep-alive") != want:
                sys.exit(f"advertised: GET {p} -> {status}, Connection: {h.get('connection')}, "
                         f"Keep-Alive: {h.get('keep-alive')} (wanted 200, keep-alive, {want})")
        idle = rnd.uniform(1.5, 2.0)
        t0 = time.monotonic()
        r, _, _ = select.select([s], [], [], idle)
        fin = time.monotonic() - t0
        if not r or s.recv(1, socket.MSG_PEEK) != b"":
            sys.exit(f"advertised: connection {i + 1}: no server close within {idle:.2f} s idle")
        time.sleep(max(0.0, idle - fin))
        s.close()
        print(f"advertised: conn {i + 1}: {k} requests, Keep-Alive: {want}, server FIN after "
              f"{fin:.3f} s idle, client closed after {idle:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
