//! connscope's per-connection request counts against the servers' own logs.
//!
//! Each capture in captures/ was made by captures/generate.sh from real clients and servers;
//! nginx logged `$connection` and `$connection_requests` for every request, so the log says
//! how many requests each TCP connection (identified by the client's port) carried.

use std::collections::BTreeMap;
use std::fs;

use crate::schema::{analyze_json, capture, tshark_fields, Connection, Report};

/// One nginx log line (log_format connscope, see captures/generate.sh).
#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    pub(crate) client_ip: String,
    pub(crate) client_port: u16,
    pub(crate) server_port: u16,
    pub(crate) connection: u64,
    pub(crate) connection_requests: u64,
    pub(crate) msec: f64,
    pub(crate) request: String,
    pub(crate) status: u16,
}

pub(crate) fn parse_log(text: &str) -> Vec<LogLine> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(8, ' ').collect();
            LogLine {
                client_ip: f[0].to_string(),
                client_port: f[1].parse().unwrap(),
                server_port: f[3].parse().unwrap(),
                connection: f[4].parse().unwrap(),
                connection_requests: f[5].parse().unwrap(),
                msec: f[6].parse().unwrap(),
                request: f[7].split('"').nth(1).unwrap_or("").to_string(),
                status: f[7]
                    .split('"')
                    .nth(2)
                    .unwrap_or("")
                    .split_whitespace()
                    .next()
                    .unwrap_or("0")
                    .parse()
                    .unwrap(),
            }
        })
        // nginx logs a head that timed out (client_header_timeout) as a 408 request; it was
        // never sent in full, and connscope reports it as an unfinished head instead.
        .filter(|l| l.status != 408)
        .collect()
}

fn endpoint_ip(e: &str) -> String {
    let host = &e[..e.rfind(':').unwrap()];
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// Requests per nginx connection, as connscope and as the log say.
pub(crate) struct Comparison {
    pub(crate) mismatches: Vec<String>,
    pub(crate) matched: usize,
}

pub(crate) fn compare(report: &Report, log: &[LogLine]) -> Comparison {
    let mut by_conn: BTreeMap<u64, Vec<&LogLine>> = BTreeMap::new();
    for l in log {
        by_conn.entry(l.connection).or_default().push(l);
    }
    let mut mismatches = Vec::new();
    let mut matched = 0;
    let mut used = vec![false; report.connections.len()];
    for (id, lines) in &by_conn {
        let first = lines[0];
        // nginx's counter itself must be consistent: 1..=n on one connection.
        let max = lines.iter().map(|l| l.connection_requests).max().unwrap();
        assert_eq!(
            max as usize,
            lines.len(),
            "nginx connection {id}: log lines vs counter"
        );
        let found: Vec<(usize, &Connection)> = report
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.client_port() == first.client_port
                    && c.server_port() == first.server_port
                    && endpoint_ip(&c.client) == first.client_ip
            })
            .collect();
        let [(i, c)] = found[..] else {
            mismatches.push(format!(
                "nginx connection {id} (client port {}): {} connscope connections",
                first.client_port,
                found.len()
            ));
            continue;
        };
        used[i] = true;
        // A connection picked up mid-stream shows only what came after the capture began.
        let expect = if c.handshake {
            lines.len() as u64
        } else {
            lines.iter().filter(|l| l.msec >= c.start - 0.001).count() as u64
        };
        if c.requests != expect {
            mismatches.push(format!(
                "nginx connection {id} (client port {}): connscope {} requests, nginx {expect} ({:?})",
                first.client_port,
                c.requests,
                lines.iter().map(|l| &l.request).collect::<Vec<_>>()
            ));
        } else {
            matched += 1;
        }
    }
    // No request-carrying connection to the logging server that nginx did not see.
    let ports: Vec<u16> = log.iter().map(|l| l.server_port).collect();
    for (c, used) in report.connections.iter().zip(used) {
        if !used && c.requests > 0 && ports.contains(&c.server_port()) {
            mismatches.push(format!(
                "connscope connection {} -> {} with {} requests is not in the nginx log",
                c.client, c.server, c.requests
            ));
        }
    }
    Comparison {
        mismatches,
        matched,
    }
}

const SCENARIOS: &[&str] = &[
    "keepalive",
    "conn-close",
    "http10",
    "pipelining",
    "chunked",
    "large",
    "idle-timeout",
    "request-cap",
    "midstream",
    "ipv6",
    "vlan",
    "sll",
    "sll2",
    "proxy-close",
    "head-304-204",
    "expect-100",
    "rst",
    "slowloris",
];

fn run(name: &str) -> (Report, Vec<LogLine>) {
    let pcap = capture(&format!("{name}.pcap"));
    let log = fs::read_to_string(capture(&format!("{name}.nginx.log")))
        .unwrap_or_else(|e| panic!("{name}.nginx.log: {e}"));
    (analyze_json(&[&pcap], &[]), parse_log(&log))
}

#[test]
fn request_counts_equal_nginx_connection_requests() {
    let mut failures = Vec::new();
    for name in SCENARIOS {
        let (report, log) = run(name);
        let cmp = compare(&report, &log);
        assert!(
            cmp.matched > 0 || !cmp.mismatches.is_empty(),
            "{name}: nothing compared"
        );
        for m in cmp.mismatches {
            failures.push(format!("{name}: {m}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn conn_on(r: &Report, client_port: u16) -> &Connection {
    r.connections
        .iter()
        .find(|c| c.client_port() == client_port)
        .unwrap_or_else(|| panic!("no connection from port {client_port}"))
}

#[test]
fn idle_timeout_is_closed_by_server_after_its_keepalive_timeout() {
    // nginx keepalive_timeout 1s; the client waits 2.5 s after its second request.
    let (r, log) = run("idle-timeout");
    let c = conn_on(&r, log[0].client_port);
    assert_eq!(c.requests, 2);
    assert_eq!(c.closed_by.as_deref(), Some("server"));
    assert_eq!(c.close, "fin");
    assert_eq!(c.close_reason, "idle_timeout");
    assert_eq!(c.time_wait.as_deref(), Some("server"));
    let idle = c.idle_before_close_ms.expect("idle time before close");
    assert!(
        (950.0..1500.0).contains(&idle),
        "idle before close {idle} ms"
    );
}

#[test]
fn request_cap_connections_end_at_the_cap() {
    // nginx keepalive_requests 3: full connections carry 3 requests and nginx closes them.
    let (r, log) = run("request-cap");
    let mut capped = 0;
    for c in r.connections.iter().filter(|c| c.requests == 3) {
        assert_eq!(c.closed_by.as_deref(), Some("server"), "{}", c.client);
        assert_eq!(c.close_reason, "request_cap", "{}", c.client);
        capped += 1;
    }
    let full = log.iter().filter(|l| l.connection_requests == 3).count();
    assert_eq!(capped, full);
    assert!(r.connections.iter().all(|c| c.requests <= 3));
}

/// Who sent each connection's first FIN or RST, by client port, as tshark reads the capture:
/// a second opinion from a tool that shares no code with connscope.
fn tshark_first_closer(pcap: &std::path::Path, server_port: u16) -> BTreeMap<u16, &'static str> {
    let out = tshark_fields(
        pcap,
        &[],
        "tcp.flags.fin==1 || tcp.flags.reset==1",
        &["tcp.srcport", "tcp.dstport"],
    );
    let mut first = BTreeMap::new();
    for line in out.lines() {
        let p: Vec<u16> = line
            .split('\t')
            .map(|x| x.trim().parse().unwrap())
            .collect();
        let (client, who) = if p[0] == server_port {
            (p[1], "server")
        } else {
            (p[0], "client")
        };
        first.entry(client).or_insert(who);
    }
    first
}

#[test]
fn connection_close_ends_every_connection_after_one_request() {
    let (r, log) = run("conn-close");
    assert_eq!(
        r.summary.connections as usize,
        log.len(),
        "one request per connection"
    );
    let closer = tshark_first_closer(&capture("conn-close.pcap"), log[0].server_port);
    let (mut client, mut server) = (0, 0);
    for c in &r.connections {
        assert_eq!(c.requests, 1);
        assert!(
            matches!(c.close_reason.as_str(), "client_close" | "http10"),
            "{}: {}",
            c.client,
            c.close_reason
        );
        let who = closer[&c.client_port()];
        assert_eq!(c.closed_by.as_deref(), Some(who), "{}", c.client);
        assert_eq!(c.time_wait.as_deref(), Some(who), "{}", c.client);
        if who == "client" {
            client += 1
        } else {
            server += 1
        }
    }
    assert_eq!(
        (r.summary.time_wait.client, r.summary.time_wait.server),
        (client, server)
    );
    assert!(
        server > 0,
        "nginx closes Connection: close and HTTP/1.0 connections"
    );
    assert_eq!(r.summary.reuse_ratio, 0.0);
}

#[test]
fn http10_keep_alive_only_when_asked() {
    let (r, _) = run("http10");
    for c in &r.connections {
        if c.requests > 1 {
            assert_ne!(
                c.close_reason, "http10",
                "{} reused, so kept alive",
                c.client
            );
        } else {
            assert_eq!(c.close_reason, "http10", "{}", c.client);
        }
    }
    assert!(r.summary.protocols.contains_key("http/1.0"));
}

#[test]
fn midstream_connection_has_no_handshake() {
    let (r, log) = run("midstream");
    assert_eq!(r.summary.midstream, 1);
    assert_eq!(r.summary.handshakes, r.summary.connections - 1);
    let mid = r.connections.iter().find(|c| !c.handshake).unwrap();
    assert!(mid.handshake_rtt_ms.is_none());
    // The log confirms this connection served requests before the capture began.
    let start = r.summary.start.unwrap();
    assert!(log
        .iter()
        .any(|l| l.client_port == mid.client_port() && l.msec < start));
    // Roles were inferred from the HTTP requests, not from the SYN.
    assert_eq!(mid.server_port(), log[0].server_port);
}

#[test]
fn link_types_and_ipv6_decode_alike() {
    for name in ["vlan", "sll", "sll2", "ipv6"] {
        let (r, log) = run(name);
        assert_eq!(r.summary.requests as usize, log.len(), "{name}");
        assert_eq!(r.summary.skipped.get("malformed"), Some(&0), "{name}");
    }
    let (r, _) = run("ipv6");
    assert!(r.connections.iter().all(|c| c.client.starts_with("[::1]:")));
}

#[test]
fn reset_is_reported_with_its_sender() {
    let (r, log) = run("rst");
    let c = conn_on(&r, log[0].client_port);
    assert_eq!(c.close, "rst");
    assert_eq!(c.close_reason, "reset");
    assert_eq!(c.closed_by.as_deref(), Some("client"));
    assert_eq!(c.time_wait, None, "an abortive close leaves no TIME_WAIT");
    // Its sequence number is the one nginx acknowledged last, and nothing follows it.
    assert_eq!(c.tcp.ignored_resets, 0);
}

#[test]
fn handshake_rtt_is_measured() {
    let (r, _) = run("keepalive");
    for c in &r.connections {
        let rtt = c.handshake_rtt_ms.expect("handshake seen");
        assert!((0.0..50.0).contains(&rtt), "loopback RTT {rtt} ms");
    }
}

#[test]
fn proxy_keeps_clients_alive_but_not_its_upstream() {
    // haproxy (option http-server-close) on 18014 in front of nginx on 18114. Client side
    // truth: haproxy's log, one line per request with the client's port. Upstream truth: the
    // nginx log (checked in request_counts_equal_nginx_connection_requests).
    let (r, nginx) = run("proxy-close");
    let haproxy = fs::read_to_string(capture("proxy-close.haproxy.log")).unwrap();
    let mut per_port: BTreeMap<u16, u64> = BTreeMap::new();
    let mut frontend = 0;
    for line in haproxy.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(' ').collect();
        *per_port.entry(f[1].parse().unwrap()).or_default() += 1;
        frontend = f[3].parse::<u16>().unwrap();
    }
    let client_side: Vec<&Connection> = r
        .connections
        .iter()
        .filter(|c| c.server_port() == frontend)
        .collect();
    assert_eq!(client_side.len(), per_port.len());
    for c in &client_side {
        assert_eq!(
            Some(&c.requests),
            per_port.get(&c.client_port()),
            "{}",
            c.client
        );
    }
    let upstream = nginx[0].server_port;
    let server = |port: u16| {
        r.servers
            .iter()
            .find(|s| crate::schema::port(&s.server) == port)
            .unwrap()
    };
    assert_eq!(
        server(upstream).reuse_ratio,
        0.0,
        "one request per upstream connection"
    );
    assert_eq!(server(upstream).connections as usize, nginx.len());
    assert!(
        server(frontend).reuse_ratio > 0.8,
        "clients reuse their connections"
    );
}

#[test]
fn slow_request_heads_are_reported_with_their_duration() {
    // nginx client_header_timeout 2s. The first connection's second head arrives in 20 pieces
    // 80 ms apart; the second connection never finishes its head and nginx closes it (logged
    // as 408).
    let (r, log) = run("slowloris");
    let raw = fs::read_to_string(capture("slowloris.nginx.log")).unwrap();
    let timed_out: Vec<u16> = raw
        .lines()
        .filter(|l| l.contains("\" 408 "))
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(timed_out.len(), 1);
    let slow = conn_on(&r, log[0].client_port);
    assert_eq!(slow.requests, 2);
    let ms = slow.slow_headers_ms.expect("slow head reported");
    assert!((1000.0..2000.0).contains(&ms), "trickled head took {ms} ms");
    let stuck = conn_on(&r, timed_out[0]);
    assert_eq!(stuck.requests, 0);
    assert_eq!(stuck.closed_by.as_deref(), Some("server"));
    assert_eq!(stuck.close_reason, "in_flight");
    let ms = stuck.slow_headers_ms.expect("unfinished head reported");
    assert!(
        (1950.0..2500.0).contains(&ms),
        "nginx gave up after {ms} ms"
    );
    assert_eq!(r.summary.slow_headers, 2);
}
