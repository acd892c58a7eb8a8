#!/usr/bin/env python3
"""A point-to-point link with latency, in user space (captures/generate.sh, keepalive-race).

This kernel has no netem, so the upstream hop of keepalive-race gets its delay here: two
tun devices, one in each network namespace, and this process copies every IP packet from
one to the other after DELAY_MS. The two namespaces then see each other as DELAY_MS away
(one way), so a FIN or a request is in flight for that long, as on a real network.
    usage: tunwire.py NS_A DEV_A NS_B DEV_B DELAY_MS READY_FILE
The devices must exist (ip -n NS tuntap add dev DEV mode tun). Stops on SIGTERM, or
by itself after 600 s."""
import ctypes
import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF, IFF_TUN, IFF_NO_PI, CLONE_NEWNET = 0x400454CA, 0x0001, 0x1000, 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit(f"setns {path}: {os.strerror(ctypes.get_errno())}")
    os.close(fd)


def open_tun(ns, dev):
    setns(f"/var/run/netns/{ns}")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main(ns_a, dev_a, ns_b, dev_b, delay_ms, ready):
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    a, b = open_tun(ns_a, dev_a), open_tun(ns_b, dev_b)
    libc.setns(home, CLONE_NEWNET)
    peer = {a: b, b: a}
    delay = float(delay_ms) / 1000
    queue, seq = [], 0
    open(ready, "w").close()
    end = time.monotonic() + 600
    while time.monotonic() < end:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 0.5
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            while True:
                try:
                    pkt = os.read(fd, 65535)
                except BlockingIOError:
                    break
                seq += 1
                heapq.heappush(queue, (now + delay, seq, peer[fd], pkt))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
            except OSError:
                pass


if __name__ == "__main__":
    main(*sys.argv[1:])
