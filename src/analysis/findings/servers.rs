//! Per server: how its connections end (refused keep-alive, idle timeouts, request caps,
//! races) and what its clients do (think times, reconnections, clients that never reuse).

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::{fix_for, severity, Finding, Num, Severity, EXAMPLES};
use crate::analysis::event::{ConnFacts, ExchangeEvent};
use crate::analysis::record::{Close, Side};
use crate::analysis::summary::{Hist, ServerOut};
use crate::analysis::timewait::HostPeak;
use crate::decode::Endpoint;
use crate::proto::{CloseReason, Software};
use crate::time::Timestamp;

/// `Keep-Alive: timeout=, max=` as advertised.
type KeepAlive = (Option<u32>, Option<u32>);

/// Up to this many race times per server.
const RACE_TIMES: usize = 20;

struct Server {
    connections: u64,
    requests: u64,
    /// Connections that carried two requests or more.
    reused: u64,
    /// Connections the client wanted to keep that the server ended after one response.
    refused: u64,
    refused_examples: Vec<u64>,
    /// Idle time before the server's FIN on connections it closed while idle (ms).
    idle_closes: Hist,
    idle_examples: Vec<u64>,
    /// Requests on connections the server ended at a request cap, by count.
    capped: BTreeMap<u64, u64>,
    cap_examples: Vec<u64>,
    /// The software its responses named, on the connection with the highest id that did.
    software: Option<(u64, Software)>,
    /// As advertised on the connection with the highest id that advertised it.
    advertised: Option<(u64, KeepAlive)>,
    /// Idle gaps before requests that reused a connection (ms), and pauses after which the
    /// client came back on a new connection because the server had closed the idle one.
    think: Hist,
    reconnect_pauses: Hist,
    /// Requests that met a server's close: sent after its FIN, or unanswered when it closed.
    races: u64,
    /// Handshakes perfect reuse would have avoided (see `Observer::opened`).
    avoidable: u64,
    /// Handshake round trips (µs).
    rtt: Hist,
    /// Most requests one connection carried.
    most_requests: u64,
    race_times: Vec<f64>,
    race_idle: Hist,
    race_examples: Vec<u64>,
}

impl Server {
    fn new() -> Server {
        Server {
            connections: 0,
            requests: 0,
            reused: 0,
            refused: 0,
            refused_examples: Vec::new(),
            idle_closes: Hist::new(3),
            idle_examples: Vec::new(),
            capped: BTreeMap::new(),
            cap_examples: Vec::new(),
            advertised: None,
            software: None,
            think: Hist::new(3),
            reconnect_pauses: Hist::new(3),
            races: 0,
            avoidable: 0,
            rtt: Hist::new(2),
            most_requests: 0,
            race_times: Vec::new(),
            race_idle: Hist::new(3),
            race_examples: Vec::new(),
        }
    }
}

/// One client host's connections to one server.
#[derive(Default)]
struct Pair {
    connections: u64,
    /// Connections with exactly one request that the client ended.
    single_client_closed: u64,
    examples: Vec<u64>,
    /// The end of the last connection the server closed while idle: (its last response's
    /// end, its end).
    idle_closed: Option<(Timestamp, Timestamp)>,
    /// Connections of the pair open now, and whether one was seen before.
    open: u64,
    seen: bool,
}

/// An open connection's state, kept until it ends.
#[derive(Default)]
struct Open {
    last_response_end: Option<Timestamp>,
    /// The first request left unanswered, and the idle time before it.
    unanswered: Option<(Timestamp, Option<f64>)>,
    unanswered_count: u64,
}

#[derive(Default)]
pub struct Observer {
    servers: FxHashMap<Endpoint, Server>,
    pairs: FxHashMap<(IpAddr, Endpoint), Pair>,
    open: FxHashMap<u64, Open>,
}

/// Keeps the EXAMPLES smallest ids: the same whatever order connections end in.
fn example(v: &mut Vec<u64>, id: u64) {
    if let Err(at) = v.binary_search(&id) {
        v.insert(at, id);
        v.truncate(EXAMPLES);
    }
}

impl Observer {
    fn server(&mut self, s: Endpoint) -> &mut Server {
        self.servers.entry(s).or_insert_with(Server::new)
    }

    /// A new connection: if the server had closed this client's idle connection, the client
    /// came back after a pause and paid a handshake for it.
    ///
    /// Also: a handshake that perfect reuse would have avoided is one a client paid while it
    /// had no other connection to the server open, having had one before.
    pub fn opened(&mut self, at: Timestamp, client: IpAddr, server: Endpoint, handshake: bool) {
        let pair = self.pairs.entry((client, server)).or_default();
        let avoidable = handshake && pair.open == 0 && pair.seen;
        pair.open += 1;
        pair.seen = true;
        let reconnect = match pair.idle_closed.take() {
            Some((last_response, closed)) if handshake && at >= closed => {
                Some(at.millis_since(last_response).max(0.0))
            }
            _ => None,
        };
        let s = self.server(server);
        s.avoidable += u64::from(avoidable);
        if let Some(ms) = reconnect {
            s.reconnect_pauses.record(ms as u64);
        }
    }

    /// A connection closed at `at`; `server_idle`: the server closed it while idle, and its
    /// last response ended then.
    pub fn closed(
        &mut self,
        at: Timestamp,
        server_idle: Option<Timestamp>,
        client: IpAddr,
        server: Endpoint,
    ) {
        let pair = self.pairs.entry((client, server)).or_default();
        pair.open = pair.open.saturating_sub(1);
        if let Some(last) = server_idle {
            pair.idle_closed = Some((last, at));
        }
    }

    pub fn exchange(&mut self, ex: &ExchangeEvent) {
        let open = self.open.entry(ex.connection).or_default();
        let e = &ex.exchange;
        let idle = open
            .last_response_end
            .map(|end| e.request_start.millis_since(end).max(0.0));
        match e.response_end.or(e.response_start) {
            Some(end) if e.status.is_some() => open.last_response_end = Some(end),
            _ => {
                open.unanswered_count += 1;
                if open.unanswered.is_none() {
                    open.unanswered = Some((e.request_start, idle));
                }
            }
        }
        if let (true, Some(ms)) = (ex.reused(), idle) {
            self.server(ex.server).think.record(ms as u64);
        }
    }

    pub fn ended(&mut self, c: &ConnFacts) {
        let open = self.open.remove(&c.id).unwrap_or_default();
        let pair = self.pairs.entry((c.client.ip, c.server)).or_default();
        pair.connections += 1;
        let client_closed = c.closed_by == Some(Side::Client);
        if c.requests == 1 && client_closed {
            pair.single_client_closed += 1;
            example(&mut pair.examples, c.id);
        }
        let server_idle_close = c.closed_by == Some(Side::Server)
            && c.close == Close::Fin
            && c.reason == CloseReason::IdleTimeout
            && c.requests > 0;
        let s = self.server(c.server);
        s.connections += 1;
        s.requests += c.requests;
        s.reused += u64::from(c.requests >= 2);
        s.most_requests = s.most_requests.max(c.requests);
        if let Some(ms) = c.handshake_rtt_ms {
            s.rtt.record((ms * 1000.0).max(0.0) as u64);
        }
        if let Some(sw) = c.software {
            if s.software.is_none_or(|(id, _)| id < c.id) {
                s.software = Some((c.id, sw));
            }
        }
        if let Some(ka) = c.keep_alive {
            if s.advertised.is_none_or(|(id, _)| id < c.id) {
                s.advertised = Some((c.id, ka));
            }
        }
        match c.reason {
            CloseReason::ServerClose if c.client_wanted_keep_alive => {
                s.refused += 1;
                example(&mut s.refused_examples, c.id);
            }
            CloseReason::RequestCap => {
                *s.capped.entry(c.requests).or_insert(0) += 1;
                example(&mut s.cap_examples, c.id);
            }
            _ => {}
        }
        if server_idle_close {
            if let Some(ms) = c.idle_before_close_ms {
                s.idle_closes.record(ms as u64);
                example(&mut s.idle_examples, c.id);
            }
        }
        // The race: requests the server's close met (sent after its FIN, or unanswered
        // when the server closed or reset).
        if c.closed_by == Some(Side::Server) && open.unanswered_count > 0 {
            s.races += open.unanswered_count;
            if let Some((at, idle)) = open.unanswered {
                // The earliest RACE_TIMES, whatever order connections end in.
                let t = at.as_secs_f64();
                let i = s.race_times.partition_point(|&x| x < t);
                s.race_times.insert(i, t);
                s.race_times.truncate(RACE_TIMES);
                if let Some(ms) = idle {
                    s.race_idle.record(ms as u64);
                }
            }
            example(&mut s.race_examples, c.id);
        }
    }

    /// The server's idle timeout as its closes show it (seconds), from the median idle time
    /// before its FINs.
    fn idle_timeout_s(s: &Server) -> Option<f64> {
        (s.idle_closes.count() > 0).then(|| s.idle_closes.quantile(0.5).unwrap_or(0) as f64 / 1e3)
    }

    /// `proxies`: servers that are proxy front ends (their Server header may be their
    /// upstream's, so their software is not named).
    pub fn findings(&self, proxies: &[Endpoint], out: &mut Vec<Finding>) {
        let mut servers: Vec<(&Endpoint, &Server)> = self.servers.iter().collect();
        servers.sort_by_key(|(e, _)| **e);
        for (ep, s) in servers {
            let server = ep.to_string();
            let software = s
                .software
                .map(|(_, sw)| sw)
                .filter(|_| !proxies.contains(ep));
            let timeout = Self::idle_timeout_s(s);
            let finding =
                |kind, sev, evidence: Vec<(&'static str, Num)>, fix: String, conns: &[u64]| {
                    Finding {
                        kind,
                        severity: sev,
                        server: server.clone(),
                        via: None,
                        host: None,
                        hosts: Vec::new(),
                        evidence: evidence.into_iter().collect(),
                        fix,
                        connections: conns.to_vec(),
                        times: Vec::new(),
                    }
                };
            if s.refused > 0 && s.refused * 2 >= s.connections {
                out.push(finding(
                    "keepalive-refused",
                    severity(s.refused, Severity::Warning),
                    vec![
                        ("connections_refused", Num::Count(s.refused)),
                        ("connections", Num::Count(s.connections)),
                    ],
                    fix_for(
                        software,
                        "set keepalive_timeout above 0 and do not add Connection: close",
                        "remove option httpclose (use option http-keep-alive)",
                        "KeepAlive On",
                    ),
                    &s.refused_examples,
                ));
            }
            if let Some(t) = timeout {
                let closes = s.idle_closes.count();
                let p95 = s.think.quantile(0.95);
                let pause95 = s.reconnect_pauses.quantile(0.95);
                let caused = s.reconnect_pauses.count();
                let clients_p95 = p95.max(pause95).map(|ms| ms as f64 / 1e3);
                if caused > 0 {
                    // Just above the clients' p95 pause.
                    let suggested = clients_p95.map_or(t * 2.0, |c| c * 1.2).ceil().max(1.0);
                    out.push(finding(
                        "idle-timeout",
                        severity(caused, Severity::Warning),
                        vec![
                            ("timeout_s", Num::Measure(round3(t))),
                            ("closes", Num::Count(closes)),
                            (
                                "think_time_p50_ms",
                                Num::Count(
                                    s.think
                                        .quantile(0.5)
                                        .or(s.reconnect_pauses.quantile(0.5))
                                        .unwrap_or(0),
                                ),
                            ),
                            (
                                "think_time_p95_ms",
                                Num::Count(p95.max(pause95).unwrap_or(0)),
                            ),
                            ("handshakes_caused", Num::Count(caused)),
                            ("suggested_timeout_s", Num::Measure(suggested)),
                        ],
                        fix_for(
                            software,
                            &format!("keepalive_timeout {suggested}s"),
                            &format!("timeout http-keep-alive {suggested}s"),
                            &format!("KeepAliveTimeout {suggested}"),
                        ),
                        &s.idle_examples,
                    ));
                }
                // Advertised timeout the closes contradict.
                if let Some((_, (Some(adv), _))) = s.advertised {
                    let adv = f64::from(adv);
                    if closes >= MIN_MISMATCH && (t - adv).abs() > (0.25 * adv).max(0.5) {
                        out.push(finding(
                            "advertised-mismatch",
                            Severity::Warning,
                            vec![
                                ("advertised_timeout_s", Num::Measure(adv)),
                                ("timeout_s", Num::Measure(round3(t))),
                                ("closes", Num::Count(closes)),
                            ],
                            "Make the advertised Keep-Alive timeout= match the idle timeout the server enforces (or drop the header).".into(),
                            &s.idle_examples,
                        ));
                    }
                }
            }
            if let Some((&cap, &n)) = s.capped.iter().max_by_key(|(_, &n)| n) {
                let ka_max = s.advertised.and_then(|(_, (_, m))| m);
                out.push(finding(
                    "request-cap",
                    severity(n, Severity::Warning),
                    vec![
                        ("cap", Num::Count(cap)),
                        ("connections_capped", Num::Count(n)),
                        ("handshakes_caused", Num::Count(n)),
                    ],
                    fix_for(
                        software,
                        &format!("keepalive_requests {} (now {cap})", (cap * 10).max(1000)),
                        "no per-connection request cap unless set by the backend",
                        &format!(
                            "MaxKeepAliveRequests {} (now {})",
                            (cap * 10).max(1000),
                            cap.saturating_sub(1)
                        ),
                    ),
                    &s.cap_examples,
                ));
                if let Some(max) = ka_max {
                    let max = u64::from(max);
                    // Apache's countdown starts at the cap minus the first request.
                    if n >= MIN_MISMATCH && max != cap && max + 1 != cap && max > cap {
                        out.push(finding(
                            "advertised-mismatch",
                            Severity::Info,
                            vec![
                                ("advertised_max", Num::Count(max)),
                                ("cap", Num::Count(cap)),
                            ],
                            "Make the advertised Keep-Alive max= match the server's request cap."
                                .into(),
                            &s.cap_examples,
                        ));
                    }
                }
            }
            if s.races > 0 {
                let mut evidence = vec![
                    ("occurrences", Num::Count(s.races)),
                    (
                        "idle_before_ms",
                        Num::Count(s.race_idle.quantile(0.5).unwrap_or(0)),
                    ),
                ];
                if let Some(t) = timeout {
                    evidence.push(("server_idle_timeout_s", Num::Measure(round3(t))));
                }
                let mut f = finding(
                    "keepalive-race",
                    Severity::Critical,
                    evidence,
                    format!(
                        "Make the client's (or proxy pool's) idle timeout shorter than this server's{}: {}",
                        timeout.map_or(String::new(), |t| format!(" ({t:.1} s)")),
                        fix_for(
                        software,
                            "keepalive_timeout in the upstream block below the upstream's idle timeout",
                            "timeout http-keep-alive below the server's, or http-reuse safe",
                            "KeepAliveTimeout on the upstream above the proxy's pool timeout"
                        )
                    ),
                    &s.race_examples,
                );
                f.times = s.race_times.clone();
                out.push(f);
            }
        }
        // Clients that never reuse, towards servers that allow it.
        let mut pairs: Vec<(&(IpAddr, Endpoint), &Pair)> = self.pairs.iter().collect();
        pairs.sort_by_key(|(k, _)| **k);
        for ((client, server), p) in pairs {
            // The server allows reuse: it never ended a connection its client wanted kept.
            let allows = self
                .servers
                .get(server)
                .is_some_and(|s| s.refused == 0 && s.capped.is_empty() || s.reused > 0);
            if p.single_client_closed >= MIN_NO_REUSE
                && p.single_client_closed == p.connections
                && allows
            {
                out.push(Finding {
                    kind: "no-reuse-client",
                    severity: Severity::Warning,
                    server: server.to_string(),
                    via: None,
                    host: Some(client.to_string()),
                    hosts: Vec::new(),
                    evidence: [
                        ("connections", Num::Count(p.connections)),
                        ("handshakes_avoidable", Num::Count(p.connections - 1)),
                    ]
                    .into_iter()
                    .collect(),
                    fix: format!("Make the client at {client} keep its connection to {server} open and reuse it (an HTTP client with a connection pool; no Connection: close)."),
                    connections: p.examples.clone(),
                    times: Vec::new(),
                });
            }
        }
    }
}

/// Server idle closes needed before an advertised value is called contradicted.
const MIN_MISMATCH: u64 = 5;
/// Connections of one client that never reused before it is called a non-reusing client.
const MIN_NO_REUSE: u64 = 5;
/// A host that holds at least this many sockets in TIME_WAIT at once is under pressure.
pub const TIME_WAIT_WARN: u64 = 1_000;
pub const TIME_WAIT_CRITICAL: u64 = 20_000;

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Hosts that keep many sockets in TIME_WAIT, and servers that close first (and so hold
/// TIME_WAIT themselves).
pub fn time_wait_pressure(
    servers: &[ServerOut],
    peaks: &[HostPeak],
    hold_secs: f64,
    duration_secs: f64,
    out: &mut Vec<Finding>,
) {
    for p in peaks.iter().filter(|p| p.peak >= TIME_WAIT_WARN) {
        let rate = if duration_secs > 0.0 {
            p.total as f64 / duration_secs
        } else {
            0.0
        };
        out.push(Finding {
            kind: "time-wait-pressure",
            severity: if p.peak >= TIME_WAIT_CRITICAL {
                Severity::Critical
            } else {
                Severity::Warning
            },
            server: servers
                .iter()
                .find(|s| s.server.rsplit_once(':').map(|(ip, _)| ip.trim_matches(['[', ']'])) == Some(p.host.as_str()))
                .map_or_else(|| p.host.clone(), |s| s.server.clone()),
            via: None,
            host: Some(p.host.clone()),
            hosts: Vec::new(),
            evidence: [
                ("peak", Num::Count(p.peak)),
                ("rate_per_s", Num::Measure((rate * 10.0).round() / 10.0)),
                ("closes", Num::Count(p.total)),
                ("hold_s", Num::Measure(hold_secs)),
            ]
            .into_iter()
            .collect(),
            fix: format!(
                "Reuse connections from {} (keep-alive, a connection pool) so it closes fewer; if it must close, let the peer close first, or widen the port range (net.ipv4.ip_local_port_range).",
                p.host
            ),
            connections: Vec::new(),
            times: Vec::new(),
        });
    }
    for s in servers {
        let held = s.time_wait.server;
        let total = s.time_wait.client + held;
        if held >= TIME_WAIT_WARN && held * 2 > total {
            out.push(Finding {
                kind: "time-wait-pressure",
                severity: Severity::Info,
                server: s.server.clone(),
                via: None,
                host: None,
                hosts: Vec::new(),
                evidence: [
                    ("server_closes_first", Num::Count(held)),
                    ("client_closes_first", Num::Count(s.time_wait.client)),
                ]
                .into_iter()
                .collect(),
                fix: "The server closes first and holds TIME_WAIT itself: let clients close (longer keep-alive on the server, clients that close when done).".into(),
                connections: Vec::new(),
                times: Vec::new(),
            });
        }
    }
}

/// What one server's connections cost, and what the traffic asks of its keep-alive.
#[derive(Clone, Debug, Serialize)]
pub struct ServerCost {
    pub server: String,
    pub handshakes: u64,
    /// Handshakes a client paid with no other connection to the server open, having had one
    /// before: keeping the earlier one open would have avoided them.
    pub handshakes_avoidable: u64,
    /// Median handshake round trip, and what the avoidable handshakes cost at it.
    pub handshake_rtt_ms: Option<f64>,
    pub avoidable_cost_ms: Option<f64>,
    /// Median time to first byte of a connection's first request and of reused ones.
    pub ttfb_new_ms: Option<f64>,
    pub ttfb_reused_ms: Option<f64>,
    /// The idle timeout the clients' pauses ask for: 1.2 x their p95 (reused gaps and
    /// pauses before reconnecting), rounded up; none when no pause was seen.
    pub recommended_idle_timeout_s: Option<f64>,
    /// Requests one connection should be allowed: 10 x the most seen, at least 1,000.
    pub recommended_requests_per_connection: u64,
}

/// Per server (most avoidable handshakes first) and in total.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Costs {
    pub handshakes_avoidable: u64,
    pub avoidable_cost_ms: f64,
    pub servers: Vec<ServerCost>,
}

impl Observer {
    pub fn costs(&self, servers: &[ServerOut]) -> Costs {
        let mut out = Costs::default();
        let by_name: FxHashMap<String, &Server> = self
            .servers
            .iter()
            .map(|(e, s)| (e.to_string(), s))
            .collect();
        for s in servers.iter().filter(|s| s.requests > 0) {
            let Some(&o) = by_name.get(&s.server) else {
                continue;
            };
            let rtt = o.rtt.quantile(0.5).map(|us| us as f64 / 1e3);
            let cost = rtt.map(|r| round3(r * o.avoidable as f64));
            let pause = o
                .think
                .quantile(0.95)
                .max(o.reconnect_pauses.quantile(0.95));
            out.handshakes_avoidable += o.avoidable;
            out.avoidable_cost_ms += cost.unwrap_or(0.0);
            out.servers.push(ServerCost {
                server: s.server.clone(),
                handshakes: s.handshakes,
                handshakes_avoidable: o.avoidable,
                handshake_rtt_ms: rtt.map(round3),
                avoidable_cost_ms: cost,
                ttfb_new_ms: s.ttfb_ms.new.map(|t| t.p50),
                ttfb_reused_ms: s.ttfb_ms.reused.map(|t| t.p50),
                recommended_idle_timeout_s: pause.map(|ms| (ms as f64 / 1e3 * 1.2).ceil().max(1.0)),
                recommended_requests_per_connection: (o.most_requests * 10).max(1000),
            });
        }
        out.avoidable_cost_ms = round3(out.avoidable_cost_ms);
        out.servers.sort_by(|a, b| {
            b.handshakes_avoidable
                .cmp(&a.handshakes_avoidable)
                .then_with(|| a.server.cmp(&b.server))
        });
        out
    }
}
