use super::*;
use crate::proto::detect::H2_PREFACE;

const C: usize = 0; // client side
const S: usize = 1; // server side

fn t(ms: i64) -> Timestamp {
    Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000)
}

/// Feeds a script of (side, bytes) steps, each split into pieces of `step` bytes.
fn run(client: Option<usize>, script: &[(usize, &[u8])], step: usize) -> Session {
    let mut s = Session::new(client, true);
    for (i, (side, bytes)) in script.iter().enumerate() {
        for piece in bytes.chunks(step.max(1)) {
            s.data(*side, piece, t(i as i64 * 10));
        }
    }
    s.finish(t(1_000_000));
    s
}

fn statuses(s: &Session) -> Vec<Option<u16>> {
    s.out.iter().map(|e| e.status).collect()
}

const REQ: &[u8] = b"GET /a HTTP/1.1\r\nHost: example.org\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn keep_alive_exchanges_any_segmentation() {
    for step in [1, 2, 3, 7, 1000] {
        let s = run(Some(C), &[(C, REQ), (S, RESP), (C, REQ), (S, RESP)], step);
        assert_eq!(s.stats.requests, 2, "step {step}");
        assert_eq!(s.stats.responses, 2);
        assert_eq!(statuses(&s), vec![Some(200), Some(200)]);
        assert!(s.out.iter().all(|e| e.complete));
        assert_eq!(s.protocol, Protocol::Http11);
        assert_eq!(s.hosts, vec!["example.org".to_string()]);
        assert_eq!(s.out[1].method, "GET");
        assert_eq!(s.out[1].target, "/a");
        assert_eq!(s.idle.count, 1);
        assert_eq!(s.idle.min_ms, 10.0);
    }
}

#[test]
fn pipelined_requests_in_one_segment() {
    let reqs = [REQ; 5].concat();
    let resps = [RESP; 5].concat();
    let s = run(Some(C), &[(C, &reqs), (S, &resps)], 10_000);
    assert_eq!(s.stats.requests, 5);
    assert_eq!(s.stats.responses, 5);
    let idx: Vec<u32> = s.out.iter().map(|e| e.index).collect();
    assert_eq!(idx, vec![0, 1, 2, 3, 4]);
    assert_eq!(s.idle.count, 0, "pipelined requests have no think time");
}

#[test]
fn bodiless_responses() {
    let script: &[(usize, &[u8])] = &[
        (C, b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        (C, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        (
            S,
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n",
        ),
        (C, b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
        (S, b"HTTP/1.1 204 No Content\r\n\r\n"),
        (C, REQ),
        (S, RESP),
    ];
    let s = run(Some(C), script, 5);
    assert_eq!(
        statuses(&s),
        vec![Some(200), Some(304), Some(204), Some(200)]
    );
    assert_eq!(s.stats.errors.total(), 0);
}

#[test]
fn continue_and_early_hints_before_final() {
    let script: &[(usize, &[u8])] = &[
        (C, b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"),
        (S, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (C, b"data"),
        (S, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
        (C, REQ),
        (S, RESP),
    ];
    let s = run(Some(C), script, 3);
    assert_eq!(statuses(&s), vec![Some(201), Some(200)]);
    assert_eq!(s.out[0].informational, 2);
    assert_eq!(s.stats.informational, 2);
    assert_eq!(s.stats.responses, 2);
}

#[test]
fn chunked_response_with_trailers() {
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;x=y\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for step in 1..12 {
        let s = run(Some(C), &[(C, REQ), (S, resp), (C, REQ), (S, RESP)], step);
        assert_eq!(statuses(&s), vec![Some(200), Some(200)], "step {step}");
        assert!(s.out.iter().all(|e| e.complete));
    }
}

#[test]
fn chunked_request_body() {
    let req: &[u8] =
        b"POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let s = run(Some(C), &[(C, req), (C, REQ), (S, RESP), (S, RESP)], 4);
    assert_eq!(s.stats.requests, 2);
    assert_eq!(s.stats.responses, 2);
}

#[test]
fn close_delimited_response_ends_at_fin() {
    let mut s = Session::new(Some(C), false);
    s.data(C, b"GET / HTTP/1.0\r\n\r\n", t(0));
    s.data(S, b"HTTP/1.0 200 OK\r\n\r\nbody bytes", t(1));
    assert!(s.out.is_empty());
    s.fin(S, t(2));
    assert_eq!(s.out.len(), 1);
    assert!(s.out[0].complete);
    let last = s.last.unwrap();
    assert!(last.close_delimited && last.http10_no_keep_alive());
}

#[test]
fn upgrade_and_connect_stop_parsing() {
    let script: &[(usize, &[u8])] = &[
        (
            C,
            b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        ),
        (
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        ),
        (C, b"\x81\x85garbage that is not http"),
    ];
    let s = run(Some(C), script, 7);
    assert_eq!(s.switched, Some(Switch::Upgrade));
    assert_eq!(s.stats.requests, 1);
    assert_eq!(s.stats.errors.total(), 0);

    let script: &[(usize, &[u8])] = &[
        (C, b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
        (S, b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n"),
        (
            C,
            b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nProxy-Authorization: x\r\n\r\n",
        ),
        (S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (C, b"\x16\x03\x01\x00\x05hello"),
        (S, b"\x16\x03\x03\x00\x05hello"),
    ];
    let s = run(Some(C), script, 5);
    assert_eq!(s.switched, Some(Switch::Tunnel));
    assert_eq!(statuses(&s), vec![Some(407), Some(200)]);
    assert_eq!(s.stats.errors.total(), 0);
}

#[test]
fn other_protocols_are_labelled() {
    let s = run(
        Some(C),
        &[(C, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00")],
        1,
    );
    assert_eq!(s.protocol, Protocol::H2);
    let s = run(Some(C), &[(C, b"\x16\x03\x01\x02\x00\x01\x00")], 1);
    assert_eq!(s.protocol, Protocol::Tls);
    let s = run(
        Some(C),
        &[(S, b"SSH-2.0-OpenSSH\r\n"), (C, b"SSH-2.0-x\r\n")],
        100,
    );
    assert_eq!(s.protocol, Protocol::Unknown);
    assert_eq!(s.stats.errors.total(), 0);
    let s = run(Some(C), &[(C, b"\x00\x01binary"), (S, b"\x02\x03")], 100);
    assert_eq!(s.protocol, Protocol::Unknown);
    assert_eq!(s.stats.errors.total(), 0);
}

#[test]
fn proxy_protocol_prefix_is_skipped() {
    let pp: &[u8] = b"PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\n";
    let s = run(Some(C), &[(C, &[pp, REQ].concat()), (S, RESP)], 6);
    assert_eq!(s.stats.requests, 1);
    assert_eq!(statuses(&s), vec![Some(200)]);
}

#[test]
fn midstream_starts_in_a_body_and_finds_roles() {
    // Capture began inside a response body; the roles are unknown to the flow, and the
    // server side (0 here) speaks first.
    let script: &[(usize, &[u8])] = &[
        (0, b"tail of an earlier body\r\nline\n"),
        (1, REQ),
        (0, RESP),
        (1, REQ),
        (0, RESP),
    ];
    for step in [1, 4, 100] {
        let s = run(None, script, step);
        assert_eq!(s.requests_side(), Some(1), "step {step}");
        assert_eq!(s.stats.requests, 2);
        assert_eq!(statuses(&s), vec![Some(200), Some(200)]);
    }
}

#[test]
fn gap_in_body_keeps_framing_gap_in_head_resyncs() {
    let mut s = Session::new(Some(C), false);
    s.data(C, REQ, t(0));
    s.data(
        S,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        t(1),
    );
    s.gap(S, 80, t(2));
    s.data(S, b"0123456789", t(3));
    s.data(C, REQ, t(4));
    s.data(S, RESP, t(5));
    assert_eq!(s.out.len(), 2);
    assert_eq!(s.stats.resyncs, 0);

    // Lose the middle of a request head: the next request is found again.
    s.data(C, b"GET /x HTTP/1.1\r\nHo", t(6));
    s.gap(C, 30, t(7));
    s.data(C, b"ader: y\r\n\r\n", t(8));
    s.data(C, REQ, t(9));
    s.data(S, RESP, t(10));
    s.finish(t(1_000_000));
    assert_eq!(s.stats.requests, 3);
    assert_eq!(s.stats.resyncs, 1);
    assert_eq!(
        s.stats.errors.iter().next(),
        Some((HttpError::LostFraming, 1))
    );
}

#[test]
fn persistence_flags() {
    let s = run(
        Some(C),
        &[
            (C, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            (
                S,
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
        100,
    );
    let l = s.last.unwrap();
    assert!(l.req_close && l.resp_close && !l.http10_no_keep_alive());
    let s = run(
        Some(C),
        &[
            (C, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n"),
        ],
        100,
    );
    assert!(!s.last.unwrap().http10_no_keep_alive());
    assert_eq!(s.keep_alive, Some((Some(5), Some(100))));
    assert_eq!(s.protocol, Protocol::Http10);
}

#[test]
fn hostile_heads_are_bounded() {
    let mut s = Session::new(Some(C), false);
    s.data(C, b"GET / HTTP/1.1\r\nX: ", t(0));
    let junk = vec![b'a'; 4096];
    for _ in 0..40 {
        s.data(C, &junk, t(1));
    }
    assert!(s.halves[C].buf.len() <= MAX_HEAD);
    assert_eq!(
        s.stats.errors.iter().next(),
        Some((HttpError::HeadTooLarge, 1))
    );
    s.data(C, b"\r\n\r\n", t(2));
    s.data(C, REQ, t(3));
    assert_eq!(s.stats.requests, 1);
}

#[test]
fn unanswered_requests_are_reported() {
    let mut s = Session::new(Some(C), false);
    s.data(C, REQ, t(0));
    s.data(S, RESP, t(1));
    s.closing(t(1001));
    s.data(C, REQ, t(1002));
    s.finish(t(1_000_000));
    assert_eq!(s.stats.unanswered, 1);
    let ctx = s.at_close.unwrap();
    assert_eq!(ctx.in_flight, 0);
    assert_eq!(ctx.idle_ms, Some(1000.0));
}

/// keepalive.pcap with the first piece of ab's first request lost from the capture: the
/// response was seen before any request, and the connection was taken for a server-first
/// protocol, losing all 51 requests.
#[test]
fn response_before_a_lost_request_keeps_the_connection() {
    let mut s = Session::new(Some(C), false);
    s.data(S, &RESP[..20], t(0));
    s.data(S, &RESP[20..], t(0));
    s.gap(C, 38, t(1));
    s.data(C, b"eep-Alive\r\nHost: h\r\n\r\n", t(1));
    s.data(C, REQ, t(2));
    s.data(S, RESP, t(3));
    s.finish(t(1_000_000));
    assert_eq!(s.stats.requests, 1);
    assert_eq!(s.stats.responses, 1);
    assert_eq!(s.protocol, Protocol::Http11);
}

/// suricata-verify http-gap-whole-body: a response body and two stray bytes were lost; the
/// next segment starts with a status line, which resync used to skip (it wanted a line
/// start and the gap hid the preceding LF).
#[test]
fn message_right_after_a_gap_is_found() {
    let mut s = Session::new(Some(C), false);
    s.data(C, &[REQ, REQ].concat(), t(0));
    s.data(S, b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n", t(1));
    s.gap(S, 14, t(2));
    s.data(S, RESP, t(3));
    s.finish(t(4));
    assert_eq!(statuses(&s), vec![Some(200), Some(200)]);
}

/// nDPI http-manipulated.pcap and gnutella.pcap: runs of spaces in the request line and
/// obs-fold continuation lines, both of which RFC 9112 lets a recipient accept.
#[test]
fn lenient_request_heads() {
    let script: &[(usize, &[u8])] = &[
        (C, b"GET    /a   HTTP/1.1\r\nHost: h\r\n\r\n"),
        (S, RESP),
        (
            C,
            b"GET /b HTTP/1.1\r\nHost: h\r\nX-Long: one\r\n\ttwo\r\n\r\n",
        ),
        (S, RESP),
    ];
    let s = run(Some(C), script, 100);
    assert_eq!(statuses(&s), vec![Some(200), Some(200)]);
    assert_eq!(s.out[0].target, "/a");
    assert_eq!(s.stats.errors.total(), 0);
}

/// suricata-verify http2 captures: an h2 server's SETTINGS reached the wire before the
/// client's preface; and nDPI http2.pcapng, where the SYN was not captured.
#[test]
fn h2_preface_after_server_bytes_or_mid_stream() {
    let settings: &[u8] = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let s = run(Some(C), &[(S, settings), (C, H2_PREFACE)], 100);
    assert_eq!(s.protocol, Protocol::H2);
    let s = run(None, &[(0, H2_PREFACE), (1, settings)], 100);
    assert_eq!(s.protocol, Protocol::H2);
    // An SSH banner from the server and anything from the client stays unknown, quietly.
    let s = run(
        Some(C),
        &[(S, b"SSH-2.0-x\r\n"), (C, b"GET / HTTP/1.1\r\n\r\n")],
        100,
    );
    assert_eq!(s.protocol, Protocol::Unknown);
    assert_eq!(s.stats.errors.total(), 0);
}
