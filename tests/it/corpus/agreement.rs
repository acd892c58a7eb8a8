//! Agreement with what the bytes say: files whose HTTP counts were checked against the bytes
//! (each test says where its truth comes from).

use super::*;

// --- pipelining

/// suricata-verify's test expects 40 HTTP/1.1 transactions; the client's five segments hold 40
/// request lines (8+8+8+8+7 by count of "GET "), the last with `Connection: close`. tshark
/// counts 5 (one per frame).
#[test]
fn forty_pipelined_requests_in_five_segments() {
    let Some(r) = analyze(
        "suricata-verify/http-protocol-nodup/input.pcap",
        &["--requests"],
    ) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.requests, s.responses, s.unanswered), (40, 40, 0));
    assert_eq!((s.connections, s.http_connections, s.handshakes), (1, 1, 1));
    let c = &r.connections[0];
    assert_eq!(c.requests, 40);
    assert!((s.reuse_ratio - 39.0 / 40.0).abs() < 1e-9);
    assert_eq!(c.close_reason, "client_close");
    let ex = c.exchanges.as_ref().unwrap();
    assert!(ex.iter().all(|e| e.method == "GET" && e.status.is_some()));
    assert_eq!(
        ex.iter().map(|e| e.index).collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
}

/// Two requests in one segment with bare LF line ends ("GET /bar/ HTTP/1.1\nHost: ...\n\n"
/// twice), answered by two 200s of Content-Length 39. tshark counts one.
#[test]
fn two_pipelined_requests_with_bare_lf_line_ends() {
    let Some(r) = analyze(
        "suricata-verify/firewall/ruletype-firewall-88-default-accept-tx-pipeline/input.pcap",
        &["--requests"],
    ) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!(r.connections.len(), 1);
    assert_eq!(
        exchanges(c),
        vec![ex("GET", "/bar/", Some(200)), ex("GET", "/foo/", Some(200))]
    );
    assert_eq!(c.hosts, ["testmyids.org"]);
}

/// One segment of a connection picked up mid-stream holding two requests separated by an
/// extra CRLF; no answers. tshark counts one.
#[test]
fn two_pipelined_requests_mid_stream_in_one_segment() {
    let Some(r) = analyze("suricata-verify/detect-pcre/detect-pcre-03/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!(
        (s.requests, s.unanswered, s.midstream, s.handshakes),
        (2, 2, 1, 0)
    );
    assert_eq!(
        r.connections[0].hosts,
        ["one.example.org", "two.example.org"]
    );
}

// --- keep-alive reuse and link types

/// BSD NULL link type with IPv6 (family 30, macOS): one connection carries three requests
/// (a chunked 200, then two 304s); a second connection was picked up mid-stream with no
/// payload worth a request.
#[test]
fn keep_alive_reuse_over_null_ipv6() {
    let Some(r) = analyze("gopacket/pcap/test_loopback.pcap", &[]) else {
        return;
    };
    let c = by_client_port(&r, 58799);
    assert_eq!(
        (c.requests, c.responses, c.protocol.as_str()),
        (3, 3, "http/1.1")
    );
    assert_eq!(c.client, "[::1]:58799");
    assert_eq!(r.summary.requests, 3);
}

/// Linux cooked (SLL): two requests on one connection (tshark agrees per stream).
#[test]
fn keep_alive_reuse_over_sll() {
    let Some(r) = analyze("PcapPlusPlus/Tests/Pcap++Test/PcapExamples/sll.pcap", &[]) else {
        return;
    };
    assert_eq!(requests_per_connection(&r), [2]);
    assert_eq!(r.summary.responses, 2);
    assert!((r.summary.reuse_ratio - 0.5).abs() < 1e-9);
}

/// Linux cooked v2 (SLL2): one request to 192.168.1.21 (suricata-verify expects hostname
/// 192.168.1.21, method GET).
#[test]
fn request_over_sll2() {
    let Some(r) = analyze("suricata-verify/decode-sll2-02/input.pcap", &[]) else {
        return;
    };
    assert_eq!((r.summary.requests, r.summary.responses), (1, 1));
    assert_eq!(r.connections[0].hosts, ["192.168.1.21"]);
}

/// Raw IP (LINKTYPE 101): 19 requests over 4 connections, the busiest with 10 (tshark's
/// per-stream counts agree with a reassembly of the bytes).
#[test]
fn raw_ip_request_counts() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/raw_ip.pcap",
        &[],
    ) else {
        return;
    };
    assert_eq!(r.summary.requests, 19);
    assert_eq!(r.summary.http_connections, 4);
    assert_eq!(max_requests(&r), 10);
}

/// Raw IPv6: 3 requests on one connection; and 9 over 4 connections (3, 4, 1, 1).
#[test]
fn raw_ipv6_request_counts() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_ipv6_http_stream.pcap",
        &[],
    ) else {
        return;
    };
    assert_eq!(requests_per_connection(&r), [3]);
    let r = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/four_ipv6_http_streams.pcap",
        &[],
    )
    .unwrap();
    assert_eq!(requests_per_connection(&r), [3, 4, 1, 1]);
    assert_eq!(r.summary.responses, 9);
    assert!(r.connections[0]
        .client
        .starts_with("[2001:618:400::5199:cc70]:"));
}

/// IPv6 over NULL: one request to [::1]:8000 (suricata-verify expects hostname "[::1]").
#[test]
fn ipv6_over_null() {
    let Some(r) = analyze("suricata-verify/http-ipv6/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!(
        (c.client.as_str(), c.server.as_str()),
        ("[::1]:55717", "[::1]:8000")
    );
    assert_eq!((c.requests, c.responses), (1, 1));
}

/// 802.1Q-tagged Ethernet with 18 retransmissions and a retransmitted SYN: one request, one
/// response (suricata-verify expects hostname "nx2500-242-4-server", status 200).
#[test]
fn vlan_tagged_with_syn_retransmission() {
    let Some(r) = analyze("suricata-verify/bug-4376/syn_retransmit_with_ts.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((r.summary.connections, c.requests, c.responses), (1, 1, 1));
    assert_eq!(c.hosts, ["nx2500-242-4-server"]);
    assert_eq!(c.tcp.syn_retransmits, 1);
    assert!(c.tcp.retransmitted_bytes > 0);
}

/// 802.1Q-tagged IPv6 (link-local addresses): one request to www.net1.bg, never answered.
#[test]
fn vlan_tagged_ipv6() {
    let Some(r) = analyze("suricata-verify/bug-814/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses, c.unanswered), (1, 0, 1));
    assert_eq!(c.hosts, ["www.net1.bg"]);
    assert!(c.client.starts_with("[fe80::"));
}

/// SLL, real mobile traffic: 82 requests over 21 connections picked up mid-stream, up to 35 on
/// one (tshark's per-stream counts agree on every stream).
#[test]
fn many_keep_alive_connections_over_sll() {
    let Some(r) = analyze("nDPI/default/pcap/quickplay.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.requests, s.http_connections, s.midstream), (82, 21, 21));
    assert_eq!(max_requests(&r), 35);
}

/// 41 connections with one HTTP/1.1 request each, answered by HTTP/1.0 without keep-alive.
#[test]
fn one_request_per_connection() {
    let Some(r) = analyze("suricata-verify/http-range-multiflows/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.connections, s.requests, s.responses), (41, 41, 41));
    assert_eq!(max_requests(&r), 1);
    assert_eq!(s.reuse_ratio, 0.0);
    assert_eq!(s.close_reasons["http10"], 41);
}

// --- TCP: wraparound, gaps, retransmissions, TFO, urgent data

/// The client's ISN is 4294964795 (2^32 - 2501): sequence numbers wrap inside the first
/// request. Two requests, two responses.
#[test]
fn sequence_wraparound_in_a_keep_alive_connection() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_tcp_stream_max_seq.pcap",
        &[],
    ) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses, c.handshake), (2, 2, true));
}

/// Only the client's side, with one 1420-byte segment missing inside the first POST's body:
/// two POSTs (seq 1 and 2872), nothing answered. tshark counts one.
#[test]
fn one_sided_capture_with_a_missing_segment() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/unidirectional_tcp_stream_with_missing_packet.pcap",
        &[],
    ) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses, c.unanswered), (2, 0, 2));
    assert_eq!(c.tcp.gap_bytes, 1420);
}

/// Retransmitted requests and ICMP errors quoting them: tshark counts 14 request frames; the
/// reassembled streams hold 8 requests (1, 2, 3, 1, 1 on five connections) and 8 responses.
#[test]
fn retransmissions_and_icmp_quotes_are_not_requests() {
    let Some(r) = analyze("suricata-verify/filestore-5408/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.requests, s.responses, s.http_connections), (8, 8, 5));
    assert_eq!(requests_per_connection(&r), [2, 1, 3, 1, 1]);
    assert!(s.tcp.retransmitted_bytes > 0);
}

/// TCP Fast Open: the second connection's request rides in the SYN. suricata-verify expects
/// two HTTP transactions.
#[test]
fn tcp_fast_open_request_in_the_syn() {
    let Some(r) = analyze("suricata-verify/tcp-fastopen-03/tfo.pcap", &["--requests"]) else {
        return;
    };
    assert_eq!((r.summary.requests, r.summary.responses), (2, 2));
    let c = by_client_port(&r, 55534);
    assert_eq!(
        exchanges(c),
        [ex("GET", "//index.php?page=../../../etc/passwd", Some(200))]
    );
}

/// A byte sent as TCP urgent data in the middle of the request line; port 9090. One request,
/// one response.
#[test]
fn urgent_byte_inside_the_request_line() {
    let Some(r) = analyze("suricata-verify/tcp-urgp-01-oob/tcp-urgent1.pcap", &[]) else {
        return;
    };
    assert_eq!((r.summary.requests, r.summary.responses), (1, 1));
}

/// HTTP/1.0 with gaps inside response bodies of known length (Content-Length 12 and 70):
/// suricata-verify expects /1, /2, /3 all answered 200.
#[test]
fn gaps_inside_bodies_of_known_length() {
    for rel in [
        "suricata-verify/http-gap-simple/input.pcap",
        "suricata-verify/http-gap-double/input.pcap",
    ] {
        let Some(r) = analyze(rel, &["--requests"]) else {
            return;
        };
        let c = &r.connections[0];
        assert_eq!(
            exchanges(c),
            [
                ex("GET", "/1", Some(200)),
                ex("GET", "/2", Some(200)),
                ex("GET", "/3", Some(200))
            ],
            "{rel}"
        );
        assert!(c.tcp.gap_bytes > 0, "{rel}");
        assert_eq!(c.protocol, "http/1.0");
    }
}

// --- HTTP versions, chunking, non-standard ports, mid-stream starts

/// HTTP/1.0 with `Connection: keep-alive` on both sides; the client closed the idle
/// connection.
#[test]
fn http10_keep_alive_closed_by_the_idle_client() {
    let Some(r) = analyze("suricata-verify/alert-distance-within-1/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!(
        (c.protocol.as_str(), c.requests, c.responses),
        ("http/1.0", 1, 1)
    );
    assert_eq!(c.closed_by.as_deref(), Some("client"));
    assert_eq!(c.close_reason, "idle_timeout");
}

/// Cleartext HTTP on port 443: three requests on one connection, one response chunked.
#[test]
fn keep_alive_with_chunked_response_on_port_443() {
    let Some(r) = analyze("suricata-verify/http-brotli-ce/input.pcap", &[]) else {
        return;
    };
    assert_eq!(requests_per_connection(&r), [3]);
    assert_eq!(r.summary.responses, 3);
    assert_eq!(r.connections[0].server_port(), 443);
}

/// HTTP on ports tshark does not dissect as HTTP: client port 5060 to 8888 (tshark: SIP), and
/// a request to an SSH server (answered by its banner, so unanswered).
#[test]
fn http_recognised_on_any_port() {
    let Some(r) = analyze("nDPI/default/pcap/http_on_sip_port.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.client_port(), c.server_port()), (5060, 8888));
    assert_eq!((c.requests, c.responses), (1, 1));
    let r = analyze("suricata-verify/output-eve-anomaly-02/input.pcap", &[]).unwrap();
    let c = &r.connections[0];
    assert_eq!(c.server_port(), 22);
    assert_eq!((c.requests, c.responses, c.unanswered), (1, 0, 1));
}

/// A connection whose SYN was not captured: one request and its response.
#[test]
fn connection_picked_up_mid_stream() {
    let Some(r) = analyze("suricata-verify/alert-testmyids-midstream3/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!(
        (s.midstream, s.handshakes, s.requests, s.responses),
        (1, 0, 1, 1)
    );
}

/// Nikto's requests, client side only, one per connection: 797 connections with a request
/// line. Two heads are not valid HTTP and are not counted: one has a control character (0x1f)
/// as a header value, the other a space inside its target
/// ("GET /cgi-bin/handler/netsonar;cat /etc/passwd|?data=Download HTTP/1.1"). No server
/// answered either, so nothing says they were taken as requests. tshark counts 797.
#[test]
fn scanner_requests_one_per_connection() {
    let Some(r) = analyze("nDPI/default/pcap/WebattackRCE.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!(
        (s.connections, s.requests, s.http_connections),
        (797, 795, 795)
    );
    assert_eq!(max_requests(&r), 1);
}

// --- protocols other than HTTP/1.x, and CONNECT tunnels

/// The HTTP/2 connection preface from the client (prior knowledge): protocol h2, no HTTP/1
/// requests.
#[test]
fn h2_preface_is_labelled_h2() {
    let Some(r) = analyze("suricata-verify/http2-continuation/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.protocol.as_str(), c.requests), ("h2", 0));
    assert_eq!(c.close_reason, "not_http");
}

/// TLS over IPv6 to port 443: both connections labelled tls.
#[test]
fn tls_over_ipv6_is_labelled_tls() {
    let Some(r) = analyze("suricata-verify/community-id-ipv6/input.pcap", &[]) else {
        return;
    };
    assert_eq!(r.summary.connections, 2);
    assert!(r.connections.iter().all(|c| c.protocol == "tls"));
    assert_eq!(r.summary.requests, 0);
}

/// CONNECT answered 200 ends HTTP parsing (close_reason tunnel). suricata-verify counts a
/// second transaction, the GET sent inside the tunnel to the proxy's peer; connscope
/// documents that a tunnel's payload is not the connection's HTTP, so one request.
#[test]
fn connect_tunnel_ends_http_parsing() {
    for rel in [
        "suricata-verify/http-connect/http-connect-simple/input.pcap",
        "suricata-verify/http-connect/http-connect-tls/input.pcap",
    ] {
        let Some(r) = analyze(rel, &["--requests"]) else {
            return;
        };
        let c = &r.connections[0];
        assert_eq!(
            exchanges(c)[0],
            ex("CONNECT", "abc:443", Some(200)),
            "{rel}"
        );
        assert_eq!(
            (c.requests, c.close_reason.as_str()),
            (1, "tunnel"),
            "{rel}"
        );
    }
}

// --- damaged input

/// The file ends one byte into a record header: exit 3, the damage described on stderr and in
/// summary.damage, and everything before it analyzed (8 requests, 8 responses on one
/// connection, as tshark reads it).
#[test]
fn capture_cut_short_reports_damage_and_partial_results() {
    let rel = "suricata-verify/http-mime-truncated/input.pcap";
    let Some((code, r, err)) = analyze_any(rel, &[]) else {
        return;
    };
    assert_eq!(code, 3);
    assert_eq!(r.summary.damage.len(), 1);
    assert!(
        r.summary.damage[0].contains("byte 2715459"),
        "{:?}",
        r.summary.damage
    );
    assert!(err.contains("byte 2715459") && err.contains(rel), "{err}");
    assert_eq!((r.summary.requests, r.summary.responses), (8, 8));
}
