#!/usr/bin/env python3
"""Builds the seed corpora in fuzz/corpus/<target>/ from captures/*.pcap and a sample of the
public corpus (../shared/corpus or $CONNSCOPE_CORPUS). Needs tshark (to reassemble streams).

  capture     whole small capture files (pcap, nanosecond pcap, pcapng; every link type)
  decode      single frames: [link type index][frame bytes] (index into the target's LINKS)
  http        [0][client_len u16 LE][client stream][server stream] of one TCP connection
  reassembly  the same layout (with no operations the target plays the streams in order)

Usage: fuzz/make_seeds.py   (from anywhere; rewrites fuzz/corpus/)
"""

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
CORPUS = os.environ.get("CONNSCOPE_CORPUS", os.path.join(ROOT, "..", "shared", "corpus"))
OUT = os.path.join(FUZZ, "corpus")

# Must match LINKS in fuzz_targets/decode.rs.
LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105]

# Small captures from the public corpus, chosen for formats, link types and HTTP shapes.
SAMPLE = [
    "suricata-verify/http-protocol-nodup/input.pcap",  # 40 pipelined requests
    "suricata-verify/firewall/ruletype-firewall-88-default-accept-tx-pipeline/input.pcap",
    "suricata-verify/http-connect/http-connect-simple/input.pcap",  # CONNECT tunnel
    "suricata-verify/http-gap-whole-body/input.pcap",  # gap in a body
    "suricata-verify/http-ipv6/input.pcap",  # NULL, IPv6
    "suricata-verify/decode-sll2-02/input.pcap",  # SLL2
    "suricata-verify/bug-814/input.pcap",  # VLAN, IPv6
    "suricata-verify/http2-continuation/input.pcap",  # h2 preface
    "suricata-verify/tcp-fastopen-03/tfo.pcap",  # data in the SYN
    "suricata-verify/tcp-urgp-01-oob/tcp-urgent1.pcap",
    "suricata-verify/http-chunked/input.pcap",
    "suricata-verify/http-multiple-cl/input.pcap",
    "suricata-verify/http-mime-truncated/input.pcap",  # damaged (only frames are used)
    "gopacket/pcap/test_loopback.pcap",  # NULL, chunked, 304s
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_tcp_stream_max_seq.pcap",  # wraparound
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/raw_ip.pcap",
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_ipv6_http_stream.pcap",
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/sll2.pcap",
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng",  # several interfaces
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_http_stream_rst.pcap",  # QinQ + PPPoE
    "nDPI/default/pcap/http2.pcapng",
    "nDPI/default/pcap/gnutella.pcap",  # obs-fold
    "nDPI/default/pcap/http-manipulated.pcap",
    "scapy/http_chunk.pcap",  # keep-alive probe
    "tcpdump/ipv4_tcp_http_xml_tso.pcap",  # TSO
    "pcap-parser/ntp.pcap",
    "libpcap/http_PPI.pcap",  # unsupported link type
    # Encapsulations (tests/it/tunnels.rs)
    "PcapPlusPlus/Tests/Packet++Test/PacketExamples/MplsPackets.pcap",  # QinQ + MPLS
    "suricata-verify/bug-4810/pppoe-session-http.pcap",
    "suricata-verify/bug-2576-02-ips/temp1.pcap",  # GRE, transparent Ethernet bridging
    "suricata-verify/bug-5437-02/input.pcap",  # GRE + ERSPAN II
    "nDPI/default/pcap/6in4tunnel.pcap",
    "nDPI/default/pcap/4in6tunnel.pcap",
    "libpcap/AH-IPcomp-IPv4.pcap",  # IPsec AH tunnel mode, IPcomp
    "suricata-verify/vxlan-non-zero-reserved-fields/input.pcap",
    "nDPI/default/pcap/http_origin_different_than_host.pcap",  # QinQ + GTP-U
    "suricata-verify/bug-6402-01/input.pcap",  # Geneve + GRE
]

CAPTURE_MAX = 24 << 10  # bytes of one capture seed
STREAM_MAX = 6 << 10  # bytes of one direction in an http/reassembly seed
FRAMES_PER_FILE = 12


def write(target, data, tag=""):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16] + (("-" + tag) if tag else "")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frames(path):
    """(link type, frame bytes) of a classic pcap or pcapng file; stops at damage."""
    b = open(path, "rb").read()
    if len(b) < 24:
        return
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        link = struct.unpack(e + "I", b[20:24])[0] & 0x03FFFFFF
        at = 24
        while at + 16 <= len(b):
            cap = struct.unpack(e + "I", b[at + 8 : at + 12])[0]
            if at + 16 + cap > len(b):
                return
            yield link, b[at + 16 : at + 16 + cap]
            at += 16 + cap
    elif magic == b"\x0a\x0d\x0d\x0a":
        e, at, links = "<", 0, []
        while at + 12 <= len(b):
            if b[at : at + 4] == b"\x0a\x0d\x0d\x0a":
                e = ">" if b[at + 8 : at + 12] == b"\x1a\x2b\x3c\x4d" else "<"
                links = []
            btype, blen = struct.unpack(e + "II", b[at : at + 8])
            if blen < 12 or at + blen > len(b):
                return
            body = b[at + 8 : at + blen - 4]
            if btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                iface, _, _, cap = struct.unpack(e + "IIII", body[:16])
                if iface < len(links):
                    yield links[iface], body[20 : 20 + cap]
            at += blen


def streams(path):
    """(client bytes, server bytes) of each TCP connection, as tshark reassembles them."""
    out = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream"],
        capture_output=True, text=True,
    ).stdout.split()
    ids = sorted({int(x) for x in out if x.isdigit()})[:40]
    for n in ids:
        text = subprocess.run(
            ["tshark", "-r", path, "-q", "-z", f"follow,tcp,raw,{n}"],
            capture_output=True, text=True,
        ).stdout
        sides = [bytearray(), bytearray()]
        body = text.split("===================================================================")
        if len(body) < 2:
            continue
        for line in body[1].splitlines():
            if not line.strip() or ":" in line or line.startswith("Follow") or line.startswith("Filter"):
                continue
            side = 1 if line.startswith("\t") else 0
            try:
                sides[side] += bytes.fromhex(line.strip())
            except ValueError:
                continue
        if sides[0] or sides[1]:
            yield bytes(sides[0]), bytes(sides[1])


def _ip4(proto, payload, flags=0x4000):
    h = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, flags, 64, proto, 0,
                              bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])))
    s = sum(struct.unpack(">10H", bytes(h)))
    s = (s & 0xFFFF) + (s >> 16)
    h[10:12] = struct.pack(">H", ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF)
    return bytes(h) + payload


def _eth(ethertype, payload):
    return bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + struct.pack(">H", ethertype) + payload


def _udp(dst_port, payload):
    return struct.pack(">HHHH", 12345, dst_port, 8 + len(payload), 0) + payload


def tunnel_frames():
    """Ethernet frames for encapsulation variants no sampled capture holds; the layouts are
    those of src/decode/tunnel_tests.rs (which cites the specifications)."""
    tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1000, 1, 0x50, 0x18, 0xFFFF, 0, 0)
    inner = _ip4(6, tcp + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    gtp_ext = b"\x12\x34\x00\x85" + b"\x01\x10\x05\x00"  # PDU session container
    return [
        _eth(0x8847, struct.pack(">II", 16 << 12 | 64, 17 << 12 | 1 << 8 | 64) + inner),
        _eth(0x8864, b"\x11\x00\x12\x34" + struct.pack(">H", 1 + len(inner)) + b"\x21" + inner),
        _eth(0x0800, _ip4(47, b"\xb0\x00\x08\x00" + bytes(12) + inner)),  # GRE with C, K, S
        _eth(0x0800, _ip4(47, b"\x00\x00\x88\xbe" + _eth(0x0800, inner))),  # ERSPAN I
        _eth(0x0800, _ip4(47, b"\x10\x00\x22\xeb" + bytes(4) + b"\x20\x07\x00\x05" + bytes(6)
                          + b"\x00\x01" + bytes(8) + _eth(0x0800, inner))),  # ERSPAN III
        _eth(0x0800, _ip4(4, inner)),
        _eth(0x0800, _ip4(17, _udp(2152, b"\x34\xff" + struct.pack(">H", 8 + len(inner))
                                   + b"\x00\x00\x00\x01" + gtp_ext + inner))),
        _eth(0x0800, _ip4(17, _udp(6081, b"\x02\x00\x65\x58\x00\x01\x02\x00"
                                   + b"\x01\x08\x01\x01\xde\xad\xbe\xef" + _eth(0x0800, inner)))),
    ]


def stream_seed(client, server):
    client, server = client[:STREAM_MAX], server[:STREAM_MAX]
    return bytes([0]) + struct.pack("<H", len(client)) + client + server


def main():
    if shutil.which("tshark") is None:
        sys.exit("make_seeds.py needs tshark")
    for t in ("capture", "decode", "http", "reassembly"):
        shutil.rmtree(os.path.join(OUT, t), ignore_errors=True)
    files = sorted(
        os.path.join(ROOT, "captures", f)
        for f in os.listdir(os.path.join(ROOT, "captures"))
        if f.endswith(".pcap")
    )
    if os.path.isdir(CORPUS):
        files += [os.path.join(CORPUS, p) for p in SAMPLE if os.path.isfile(os.path.join(CORPUS, p))]
    else:
        print(f"note: no corpus at {CORPUS}; seeds from captures/ only", file=sys.stderr)
    seen_streams = set()
    for path in files:
        raw = open(path, "rb").read()
        if len(raw) <= CAPTURE_MAX:
            write("capture", raw)
        got = 0
        for link, fr in frames(path):
            if link not in LINKS or got >= FRAMES_PER_FILE:
                continue
            # The first frames (handshake), then ones carrying data.
            if got < 4 or len(fr) > 80:
                write("decode", bytes([LINKS.index(link)]) + fr)
                got += 1
        per_file = 0
        for client, server in streams(path):
            key = (client[:64], server[:64])
            if key in seen_streams or per_file >= 6:
                continue
            seen_streams.add(key)
            per_file += 1
            seed = stream_seed(client, server)
            write("http", seed)
            write("reassembly", seed)
    for fr in tunnel_frames():
        write("decode", bytes([LINKS.index(1)]) + fr, "tunnel")
    # A few hand-written exchanges for shapes the captures may lack.
    for client, server in [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n"),
        (b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
        (b"POST /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", b"HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\nclose-delimited body"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"),
        (b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", b"\x16\x03\x03\x00\x02\x02\x00"),
    ]:
        seed = stream_seed(client, server)
        write("http", seed, "hand")
        write("reassembly", seed, "hand")
    total = 0
    for t in ("capture", "decode", "http", "reassembly"):
        d = os.path.join(OUT, t)
        n = len(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        total += size
        print(f"{t:11} {n:4} seeds {size / 1024:8.1f} KiB")
    print(f"total       {total / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
