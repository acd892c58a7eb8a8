//! Findings against the servers' and proxies' own logs, on the captures generate.sh made for
//! them (captures/README.md): each finding is present with the numbers the logs give, and
//! healthy captures raise no warning.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ground_truth::parse_log;
use crate::schema::capture;

fn analyze(name: &str) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(["analyze", "--format", "json"])
        .arg(capture(name))
        .output()
        .unwrap();
    assert!(out.status.success(), "{name}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn log(name: &str) -> String {
    std::fs::read_to_string(capture(name)).unwrap()
}

fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

fn only<'a>(report: &'a Value, kind: &str) -> &'a Value {
    let f = findings(report, kind);
    assert_eq!(f.len(), 1, "one {kind}: {:#}", report["findings"]);
    f[0]
}

fn ev(f: &Value, name: &str) -> f64 {
    f["evidence"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("evidence {name} in {f:#}"))
}

/// Requests per connection (by client port) in an nginx log.
fn nginx_per_connection(name: &str) -> BTreeMap<u16, u64> {
    let mut per = BTreeMap::new();
    for l in parse_log(&log(name)) {
        let n = per.entry(l.client_port).or_insert(0);
        *n = (*n).max(l.connection_requests);
    }
    per
}

fn endpoint(log_name: &str) -> String {
    let l = &parse_log(&log(log_name))[0];
    format!("127.0.0.1:{}", l.server_port)
}

#[test]
fn proxy_with_nginx_defaults_strips_keep_alive_on_its_upstream_hop() {
    let r = analyze("proxy-default.pcap");
    let f = only(&r, "keepalive-stripped");
    let upstream = nginx_per_connection("proxy-default.upstream.nginx.log");
    let downstream = nginx_per_connection("proxy-default.nginx.log");
    assert_eq!(f["server"], endpoint("proxy-default.upstream.nginx.log"));
    assert_eq!(f["via"], endpoint("proxy-default.nginx.log"));
    assert!(upstream.values().all(|&n| n == 1), "nginx's default hop");
    assert_eq!(ev(f, "upstream_requests_per_connection"), 1.0);
    let down_rpc = downstream.values().sum::<u64>() as f64 / downstream.len() as f64;
    assert!((ev(f, "downstream_requests_per_connection") - down_rpc).abs() < 0.01);
    // Every matched request is one the upstream logged, and nearly all were matched.
    let matched = ev(f, "matched_requests") as usize;
    assert!(matched <= upstream.len() && matched * 10 >= upstream.len() * 9);
    assert_eq!(f["severity"], "warning");
    assert!(f["fix"].as_str().unwrap().contains("keepalive"));
}

#[test]
fn proxy_with_an_upstream_pool_is_a_healthy_chain() {
    let r = analyze("proxy-pool.pcap");
    assert!(findings(&r, "keepalive-stripped").is_empty());
    let chains = r["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1, "{chains:#?}");
    let upstream = nginx_per_connection("proxy-pool.upstream.nginx.log");
    assert_eq!(
        chains[0]["server"],
        endpoint("proxy-pool.upstream.nginx.log")
    );
    assert_eq!(
        chains[0]["upstream_connections"].as_u64(),
        Some(upstream.len() as u64)
    );
    assert!(
        chains[0]["upstream_requests_per_connection"]
            .as_f64()
            .unwrap()
            > 10.0
    );
}

#[test]
fn haproxy_httpclose_refuses_keep_alive() {
    let r = analyze("haproxy-httpclose.pcap");
    let f = only(&r, "keepalive-refused");
    // haproxy's own log: every client connection carried one request.
    let haproxy_requests = log("haproxy-httpclose.haproxy.log")
        .lines()
        .filter(|l| l.contains("HTTP/1."))
        .count() as f64;
    assert!(haproxy_requests >= 30.0);
    assert_eq!(ev(f, "connections_refused"), haproxy_requests);
}

#[test]
fn apache_request_cap_and_idle_timeout_match_its_log_and_config() {
    let r = analyze("apache-cap.pcap");
    // %k counts the requests kept alive on a connection (0 for the first).
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    for l in log("apache-cap.apache.log").lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let k: u64 = f[4].parse().unwrap();
        let n = per.entry(f[1].to_string()).or_insert(0);
        *n = (*n).max(k + 1);
    }
    let cap = *per.values().max().unwrap();
    assert_eq!(cap, 6, "MaxKeepAliveRequests 5 allows 6");
    let f = only(&r, "request-cap");
    assert_eq!(ev(f, "cap") as u64, cap);
    // Its responses say Server: Apache: the fix names Apache's directive and its value now.
    let fix = f["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("Apache: MaxKeepAliveRequests") && fix.contains("(now 5)"),
        "{fix}"
    );
    assert_eq!(
        ev(f, "connections_capped") as usize,
        per.values().filter(|&&n| n == cap).count()
    );
    // KeepAliveTimeout 2: the server's FIN came 2.001 s after its last response.
    let idle = only(&r, "idle-timeout");
    assert!((ev(idle, "timeout_s") - 2.0).abs() <= 0.2);
    // The python client's request after the 3 s pause met Apache's close: sent, never
    // logged (45 requests in the capture, 44 in the log).
    let race = only(&r, "keepalive-race");
    assert_eq!(ev(race, "occurrences"), 1.0);
    assert!(ev(race, "idle_before_ms") >= 3000.0);
}

#[test]
fn nginx_short_timeouts_give_the_cap_and_the_timeout() {
    let r = analyze("nginx-short-timeouts.pcap");
    let per = nginx_per_connection("nginx-short-timeouts.nginx.log");
    let f = only(&r, "request-cap");
    assert_eq!(ev(f, "cap") as u64, *per.values().max().unwrap());
    assert_eq!(ev(f, "cap"), 10.0, "keepalive_requests 10");
    let fix = f["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("nginx: keepalive_requests") && fix.contains("(now 10)"),
        "{fix}"
    );
    let idle = only(&r, "idle-timeout");
    assert!(
        (ev(idle, "timeout_s") - 1.0).abs() <= 0.1,
        "keepalive_timeout 1s"
    );
    assert!(ev(idle, "suggested_timeout_s") > 1.5, "clients pause 1.5 s");
    assert_eq!(
        ev(idle, "handshakes_caused"),
        4.0,
        "python reconnected 4 times"
    );
    // The clients pause 1.5 s: keep idle connections 2 s.
    let cost = &r["costs"]["servers"][0];
    assert_eq!(cost["recommended_idle_timeout_s"].as_f64(), Some(2.0));
}

#[test]
fn a_client_that_never_reuses_is_named() {
    let r = analyze("no-reuse-client.pcap");
    let f = only(&r, "no-reuse-client");
    let per = nginx_per_connection("no-reuse-client.nginx.log");
    assert!(per.values().all(|&n| n == 1));
    assert_eq!(ev(f, "connections") as usize, per.len());
    assert_eq!(f["host"], "127.0.0.1");
    // Every handshake after the first was avoidable: the client never held two at once.
    let cost = &r["costs"]["servers"][0];
    assert_eq!(
        cost["handshakes_avoidable"].as_u64(),
        Some(per.len() as u64 - 1)
    );
    assert!(cost["avoidable_cost_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn keepalive_race_count_equals_the_proxy_error_log() {
    let r = analyze("keepalive-race.pcap");
    let failures = log("keepalive-race.error.log")
        .lines()
        .filter(|l| l.contains("upstream prematurely closed connection"))
        .count();
    assert!(failures >= 3);
    let f = only(&r, "keepalive-race");
    assert_eq!(ev(f, "occurrences") as usize, failures);
    assert_eq!(f["severity"], "critical");
    assert!((ev(f, "server_idle_timeout_s") - 1.0).abs() <= 0.1);
    assert_eq!(f["times"].as_array().unwrap().len(), failures.min(20));
    // The proxy's access log shows the 502s its clients got.
    let bad_gateway = parse_log(&log("keepalive-race.nginx.log"))
        .iter()
        .filter(|l| l.status == 502)
        .count();
    assert_eq!(bad_gateway, failures);
}

#[test]
fn healthy_captures_raise_no_warning() {
    for name in [
        "keepalive.pcap",
        "pipelining.pcap",
        "chunked.pcap",
        "large.pcap",
        "head-304-204.pcap",
        "ipv6.pcap",
        "proxy-pool.pcap",
    ] {
        let r = analyze(name);
        for f in r["findings"].as_array().unwrap() {
            assert_eq!(f["severity"], "info", "{name}: {f:#}");
        }
    }
}

#[test]
fn an_advertised_timeout_the_server_does_not_keep_is_named() {
    // keepalive_timeout 1s 5s: nginx advertises Keep-Alive: timeout=5 and closes after 1 s.
    let r = analyze("nginx-advertised.pcap");
    let f = only(&r, "advertised-mismatch");
    assert_eq!(ev(f, "advertised_timeout_s"), 5.0);
    assert!((ev(f, "timeout_s") - 1.0).abs() <= 0.1);
    // The python client's connections, each left idle until nginx closed it.
    let per = nginx_per_connection("nginx-advertised.nginx.log");
    assert_eq!(ev(f, "closes") as usize, per.len() - 2, "all but ab's two");
}

#[test]
fn a_server_that_closes_first_holds_time_wait() {
    let r = analyze("time-wait.pcap");
    let per = nginx_per_connection("time-wait.nginx.log");
    assert!(per.values().all(|&n| n == 1) && per.len() == 1500);
    let f = findings(&r, "time-wait-pressure");
    let host = f
        .iter()
        .find(|f| f["host"] == "127.0.0.1")
        .expect("host finding");
    // Every connection closed within 10 s, all inside the 60 s hold: nginx's 1,500 plus
    // the connections ab opened and closed unused.
    assert!(ev(host, "peak") as usize >= per.len(), "{host:#}");
    let server = f
        .iter()
        .find(|f| f["host"].is_null())
        .expect("server finding");
    assert_eq!(ev(server, "server_closes_first") as usize, per.len());
}

#[test]
fn haproxy_http_server_close_strips_keep_alive_on_its_upstream_hop() {
    // proxy-close: haproxy `option http-server-close` keeps its clients alive and opens one
    // upstream connection per request (nginx's log: 35 connections of 1).
    let r = analyze("proxy-close.pcap");
    let f = only(&r, "keepalive-stripped");
    let upstream = nginx_per_connection("proxy-close.nginx.log");
    assert!(upstream.values().all(|&n| n == 1) && upstream.len() == 35);
    assert_eq!(f["server"], endpoint("proxy-close.nginx.log"));
    assert_eq!(f["via"], "127.0.0.1:18014");
    assert_eq!(ev(f, "upstream_requests_per_connection"), 1.0);
    let matched = ev(f, "matched_requests") as usize;
    assert!(matched <= upstream.len() && matched * 10 >= upstream.len() * 9);
    // Client side, from haproxy's log: 35 requests on 5 connections.
    let haproxy = log("proxy-close.haproxy.log");
    let ports: std::collections::BTreeSet<&str> = haproxy
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    let down = haproxy.lines().count() as f64 / ports.len() as f64;
    assert!((ev(f, "downstream_requests_per_connection") - down).abs() < 0.01);
}
