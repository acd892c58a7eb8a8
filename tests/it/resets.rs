//! RSTs that end a connection and RSTs the peers ignored, against truth from elsewhere:
//! - Suricata's evasion captures, where the traffic after the RST and Suricata's own test (one
//!   HTTP transaction, its URL) say the RST was ignored;
//! - a public capture of an honoured RST, where the peer's answers in the bytes (a RST for
//!   every late segment) say it was taken;
//! - RSTs injected into the real nginx streams of captures/: out of the server's window, or in
//!   it but followed by the connection carrying on, as the capture then shows. nginx's log says
//!   how many requests each connection carried whatever the RST claimed, and the close must be
//!   the one the untouched capture has.

use std::collections::BTreeMap;

use crate::corpus::{analyze, by_client_port, ex, exchanges};
use crate::ground_truth::{compare, parse_log};
use crate::schema::{analyze_json, capture, Report};

/// The client sends a RST right after the handshake, with the sequence number the server
/// acknowledged and a good checksum, then its request; the server acknowledges the request,
/// answers 200 and both sides close with FINs. The server took bytes sent after the RST: the
/// peers ignored it (Suricata's security-4710 evasion; its test expects one HTTP transaction,
/// for the URL below). What tshark shows (`-e frame.number -e tcp.flags.str -e tcp.seq
/// -e tcp.ack -e tcp.len`, relative numbers):
/// - 4710-01: 4 client RST seq 1; 5 request (132 bytes); 6 server ACK 133; 7 response (291);
///   8 server FIN; 9 client FIN; 10 server ACK; 11 the response again with a FIN; 12 client
///   RST, after both FINs;
/// - 4710-02: 7 client RST seq 1; 8 request (54); 9 server ACK 55; 10-11 response (154 + 614)
///   with the server's FIN; 12 client FIN; 13 server ACK; 14 client RST, after both FINs.
///
/// So the server closed first, by FIN, after answering a request that said `Connection: close`,
/// and holds TIME_WAIT. connscope used to drop everything after the first RST: 0 requests,
/// protocol unknown, closed by the client's RST.
#[test]
fn request_after_an_ignored_rst() {
    for (rel, target) in [
        (
            "suricata-verify/security-4710-01/input.pcap",
            "/ultrasurf.html",
        ),
        ("suricata-verify/security-4710-02/input.pcap", "/"),
    ] {
        let Some(r) = analyze(rel, &["--requests"]) else {
            return;
        };
        let s = &r.summary;
        assert_eq!((s.requests, s.responses), (1, 1), "{rel}");
        assert_eq!(r.connections.len(), 1, "{rel}");
        let c = &r.connections[0];
        assert_eq!(exchanges(c), [ex("GET", target, Some(200))], "{rel}");
        assert_eq!(c.protocol, "http/1.1", "{rel}");
        assert_eq!(c.closed_by.as_deref(), Some("server"), "{rel}");
        assert_eq!(c.close, "fin", "{rel}");
        assert_eq!(c.close_reason, "client_close", "{rel}");
        assert_eq!(c.time_wait.as_deref(), Some("server"), "{rel}");
        // The RST before the request; the one after both FINs is part of the close.
        assert_eq!(c.tcp.ignored_resets, 1, "{rel}");
        assert_eq!(s.tcp.ignored_resets, 1, "{rel}");
        assert_eq!(s.time_wait.server, 1, "{rel}");
    }
}

/// The client resets while a close-delimited 404 is arriving: frame 7 is its RST, and the
/// server's segments already in flight (frames 8, 10, 12: 1448, 1448 and 771 bytes) are each
/// answered by another RST from the client (9, 11, 13): it took the first RST and has no
/// connection any more. Only frame 5's 1448 bytes reached the client as a connection.
#[test]
fn late_data_after_an_honoured_rst_is_not_counted() {
    let Some(r) = analyze(
        "suricata-verify/bug-78-uricontent/input.pcap",
        &["--requests"],
    ) else {
        return;
    };
    let c = by_client_port(&r, 37010);
    assert_eq!(exchanges(c), [ex("GET", "/blah/", Some(404))]);
    assert_eq!(c.close, "rst");
    assert_eq!(c.closed_by.as_deref(), Some("client"));
    assert_eq!(c.close_reason, "reset");
    assert_eq!(c.bytes_server, 1448);
    assert_eq!(c.tcp.ignored_resets, 0);
}

// ---------------------------------------------------------------------------------------------
// RSTs injected into real streams

/// A pcap record: its 16-byte header and the frame.
type Record = ([u8; 16], Vec<u8>);

/// A little-endian classic pcap (as tcpdump writes the captures/ files on x86): its 24-byte
/// header, and its records.
fn records(bytes: &[u8]) -> (Vec<u8>, Vec<Record>) {
    let magic = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    assert!(
        matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d),
        "not a little-endian classic pcap (magic {magic:#x})"
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((
            bytes[at..at + 16].try_into().unwrap(),
            bytes[at + 16..at + 16 + caplen].to_vec(),
        ));
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "trailing bytes");
    (bytes[..24].to_vec(), out)
}

/// An Ethernet/IPv4/TCP frame's offsets: (TCP header, payload, end of the IP packet).
fn tcp_offsets(frame: &[u8]) -> Option<(usize, usize, usize)> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let ip_len = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let tcp = 14 + ihl;
    let data = tcp + usize::from(frame[tcp + 12] >> 4) * 4;
    Some((tcp, data, 14 + ip_len))
}

/// For every connection to `server_port` that carries a second request, a RST from the
/// client's address inserted just before that request: a copy of the request's frame with
/// the payload cut off, the flags set to RST+ACK and the sequence number moved by `seq_shift`
/// (0: exactly where the server's window starts). Returns the new capture and the client
/// ports that got one.
fn inject_client_rsts(bytes: &[u8], server_port: u16, seq_shift: u32) -> (Vec<u8>, Vec<u16>) {
    let (header, recs) = records(bytes);
    // Per client port: how many payload-carrying client segments so far, and whether the
    // server has sent data since the first.
    let mut seen: BTreeMap<u16, (u32, bool)> = BTreeMap::new();
    let mut ports = Vec::new();
    let mut out = header;
    for (rec, frame) in recs {
        if let Some((tcp, data, end)) = tcp_offsets(&frame) {
            let sport = u16::from_be_bytes([frame[tcp], frame[tcp + 1]]);
            let dport = u16::from_be_bytes([frame[tcp + 2], frame[tcp + 3]]);
            let has_payload = end > data && frame[tcp + 13] & 0x04 == 0;
            if sport == server_port && has_payload {
                if let Some(s) = seen.get_mut(&dport) {
                    s.1 = s.0 > 0;
                }
            }
            if dport == server_port && has_payload {
                let s = seen.entry(sport).or_insert((0, false));
                if s.0 == 1 && s.1 {
                    let mut rst = frame[..data].to_vec();
                    let ip_len = (data - 14) as u16;
                    rst[16..18].copy_from_slice(&ip_len.to_be_bytes());
                    rst[tcp + 13] = 0x14; // RST, ACK
                    let seq = u32::from_be_bytes(rst[tcp + 4..tcp + 8].try_into().unwrap());
                    rst[tcp + 4..tcp + 8]
                        .copy_from_slice(&seq.wrapping_add(seq_shift).to_be_bytes());
                    let mut h = rec;
                    h[8..12].copy_from_slice(&(rst.len() as u32).to_le_bytes());
                    h[12..16].copy_from_slice(&(rst.len() as u32).to_le_bytes());
                    out.extend_from_slice(&h);
                    out.extend_from_slice(&rst);
                    ports.push(sport);
                }
                s.0 += 1;
            }
        }
        out.extend_from_slice(&rec);
        out.extend_from_slice(&frame);
    }
    (out, ports)
}

fn analyze_derived(name: &str, bytes: &[u8]) -> Report {
    let path = std::env::temp_dir().join(format!("connscope-rst-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("write derived capture");
    let r = analyze_json(&[&path], &[]);
    let _ = std::fs::remove_file(&path);
    r
}

/// The close of each connection, by client port.
fn closes(r: &Report) -> BTreeMap<u16, (String, Option<String>, String, Option<String>)> {
    r.connections
        .iter()
        .map(|c| {
            (
                c.client_port(),
                (
                    c.close.clone(),
                    c.closed_by.clone(),
                    c.close_reason.clone(),
                    c.time_wait.clone(),
                ),
            )
        })
        .collect()
}

/// keepalive.pcap (nginx, six keep-alive connections of 5 to 51 requests), with a RST from
/// each client injected before its second request: half the sequence space away (a blind
/// injection, RFC 5961 section 3), and exactly at the start of the server's window. The
/// capture then shows both connections carrying on: the server acknowledges and answers the
/// requests sent after the RST. Either way nginx's log is the truth for the requests, and the
/// untouched capture for the close.
#[test]
fn injected_rsts_that_the_connection_outlived() {
    let pcap = capture("keepalive.pcap");
    let bytes = std::fs::read(&pcap).unwrap();
    let log = parse_log(&std::fs::read_to_string(capture("keepalive.nginx.log")).unwrap());
    let untouched = analyze_json(&[&pcap], &[]);
    assert_eq!(untouched.summary.tcp.ignored_resets, 0);
    for (name, shift) in [("blind", 0x8000_0000u32), ("in-window", 0)] {
        let (derived, ports) = inject_client_rsts(&bytes, log[0].server_port, shift);
        assert_eq!(ports.len(), 6, "{name}: one RST per connection");
        let r = analyze_derived(name, &derived);
        let cmp = compare(&r, &log);
        assert!(cmp.mismatches.is_empty(), "{name}: {:?}", cmp.mismatches);
        assert_eq!(cmp.matched, 6, "{name}");
        assert_eq!(closes(&r), closes(&untouched), "{name}");
        for c in &r.connections {
            assert_eq!(c.tcp.ignored_resets, 1, "{name}: {}", c.client);
        }
        assert_eq!(r.summary.tcp.ignored_resets, 6, "{name}");
        assert_eq!(r.summary.requests, untouched.summary.requests, "{name}");
        assert_eq!(r.summary.responses, untouched.summary.responses, "{name}");
    }
}
