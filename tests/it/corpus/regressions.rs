//! Regressions: bugs this corpus showed (fixed in d21cb04), each pinned to the file that
//! showed it. (The one left open then, data after a RST the peers ignored, is fixed and tested
//! in tests/it/resets.rs.)

use super::*;

/// A client-side-only capture with losses: PcapPlusPlus kept only segments that start a
/// request, 381 distinct ones, 273 of which hold a complete head (the other 108 heads continue
/// in a segment that was not captured, so they cannot be counted). On the connection from
/// port 60401 three complete GETs sit at seq 1, 407 and 1672, with 796 bytes lost before the
/// third. connscope used to count 2 there and 222 in all: after a gap, resync never tried the
/// first byte after the hole, where a request line starts.
#[test]
fn request_right_after_a_gap_is_counted() {
    let rel = "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/4KHttpRequests.pcap";
    let Some(r) = analyze(rel, &["--requests", "--filter", "tcp port 60401"]) else {
        return;
    };
    let c = by_client_port(&r, 60401);
    assert_eq!(c.requests, 3, "{:?}", exchanges(c));
    let r = analyze(rel, &[]).unwrap();
    assert_eq!(r.summary.requests, 273);
}

/// The same on the server side (connscope used to count 618): 677 distinct segments start with
/// a status line, on connections picked up mid-stream without their requests. 675 are
/// responses connscope can know, counting the one 101: frame 502's head has a line of HTML
/// without a colon (malformed on purpose), and on port 61222 a 302 with Content-Length 689 is
/// followed at the very next sequence number by another response: the answer to a HEAD request
/// the capture does not show, so its 689 "body" bytes swallow the next head.
#[test]
fn response_right_after_a_gap_is_counted() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/650HttpResponses.pcap",
        &[],
    ) else {
        return;
    };
    assert_eq!(r.summary.responses, 675);
}

/// The first response's 12-byte body and 2 stray bytes after it (14 bytes) were lost; the next
/// segment starts with "HTTP/1.0 200 OK". suricata-verify expects /1, /2 and /3 all answered
/// 200; connscope used to pair only the first and report the others in flight.
#[test]
fn response_after_a_gap_over_a_whole_body() {
    let Some(r) = analyze(
        "suricata-verify/http-gap-whole-body/input.pcap",
        &["--requests"],
    ) else {
        return;
    };
    assert_eq!(
        exchanges(&r.connections[0]),
        [
            ex("GET", "/1", Some(200)),
            ex("GET", "/2", Some(200)),
            ex("GET", "/3", Some(200))
        ]
    );
}

/// Connections picked up mid-stream whose first client segment is a 1-byte TCP keep-alive
/// probe (0x00 at snd.nxt - 1; in http_chunk.pcap the server's ACK carries a D-SACK for it).
/// connscope used to take the byte as data and then miss the request right after it:
/// http_chunk.pcap has one GET answered by a chunked 200 (it said 0 requests, protocol
/// unknown); many-protocols.pcap port 55193 has two GETs answered 200 (it said 1).
#[test]
fn request_after_a_keep_alive_probe_at_a_mid_stream_start() {
    let Some(r) = analyze("scapy/http_chunk.pcap", &[]) else {
        return;
    };
    let c = by_client_port(&r, 53226);
    assert_eq!(
        (c.requests, c.responses, c.protocol.as_str()),
        (1, 1, "http/1.1")
    );
    let r = analyze(
        "PcapPlusPlus/Tests/ExamplesTest/pcap_examples/many-protocols.pcap",
        &["--filter", "tcp port 55193"],
    )
    .unwrap();
    assert_eq!(by_client_port(&r, 55193).requests, 2);
}

/// h2 with prior knowledge where the server's SETTINGS frame reaches the wire before the
/// client's preface: the SYN says who the client is and its first bytes are
/// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". connscope used to give up on "the server spoke first,
/// and not HTTP" and label the connections unknown.
#[test]
fn h2_preface_after_server_settings() {
    for rel in [
        "suricata-verify/bug-5929-02/http2_multiple_headers.pcap",
        "suricata-verify/http2-authority-mismatch/authority_and_host_2.pcap",
        "suricata-verify/http2-keywords/input.pcap",
        "suricata-verify/http2-userinfo-authority/http2_userinfo_in_authority_1.pcap",
    ] {
        let Some(r) = analyze(rel, &[]) else {
            return;
        };
        assert_eq!(r.connections[0].protocol, "h2", "{rel}");
    }
}

/// The client's first captured bytes are the h2 preface, but the SYN was not captured (SLL,
/// port 29518): connscope used to start such a session in resync, which never looked for the
/// preface.
#[test]
fn h2_preface_mid_stream() {
    let Some(r) = analyze("nDPI/default/pcap/http2.pcapng", &[]) else {
        return;
    };
    assert_eq!(r.connections[0].protocol, "h2");
}

/// gtk-gnutella's requests continue a header on the next line (obs-fold: a line starting with
/// a TAB, RFC 9112 section 5.2, which a server may accept by replacing it with SP); the
/// servers did, answering 206, 206 and 200. connscope used to reject the heads
/// (malformed_head) and label the connections unknown.
#[test]
fn request_heads_with_obs_fold() {
    let Some(r) = analyze("nDPI/default/pcap/gnutella.pcap", &[]) else {
        return;
    };
    for port in [50327, 50328, 50330] {
        let c = by_client_port(&r, port);
        assert_eq!((c.requests, c.responses), (1, 1), "client port {port}");
    }
}

/// "GET                  /aaaa..._very_long_uri HTTP/1.1": runs of spaces between request
/// line elements, which RFC 9112 section 3 lets recipients accept; the server answered 200,
/// then the same connection carried GET /rick.gif. connscope used to count one request there.
#[test]
fn request_line_with_repeated_spaces() {
    let Some(r) = analyze("nDPI/default/pcap/http-manipulated.pcap", &[]) else {
        return;
    };
    let c = by_client_port(&r, 33684);
    assert_eq!((c.requests, c.responses), (2, 2));
}
