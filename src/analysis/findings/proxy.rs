//! Proxy hops, found passively: an upstream request serves a downstream request when the
//! same method and target appear on a connection from the downstream server's address,
//! nested in time inside the downstream exchange (sent after the downstream request began,
//! answered before the downstream response began). Exchanges arrive when they complete, so
//! the upstream one (which completes first) waits in a window of recent exchanges, indexed by
//! method and target, until the downstream one comes.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::{fix_for, severity, Finding, Num, Severity};
use crate::analysis::event::ExchangeEvent;
use crate::analysis::summary::ServerOut;
use crate::decode::Endpoint;
use crate::time::Timestamp;

/// How long an exchange waits to be matched as an upstream one (capture time).
const WINDOW_NS: i64 = 60_000_000_000;
/// Exchanges waiting at most, in all.
const MAX_WAITING: usize = 65_536;

#[derive(Clone, Copy)]
struct Waiting {
    connection: u64,
    index: u32,
    server: Endpoint,
    host: u64,
    start: Timestamp,
    end: Timestamp,
    matched: bool,
}

#[derive(Default, Clone, Copy)]
struct Hop {
    matched: u64,
    /// Matched requests that were the first on their connection (so: connections), on each
    /// side.
    upstream_first: u64,
    downstream_first: u64,
    /// The upstream request kept the downstream Host.
    same_host: u64,
    example_upstream: [u64; 4],
    examples: usize,
}

#[derive(Default)]
pub struct Joiner {
    /// Keyed by a hash of method and target, and the client's address (the proxy's, for a
    /// downstream exchange looking for its upstream one).
    waiting: FxHashMap<(u64, IpAddr), VecDeque<Waiting>>,
    count: usize,
    /// In arrival order, for expiry: (end, key).
    order: VecDeque<(Timestamp, (u64, IpAddr))>,
    hops: FxHashMap<(Endpoint, Endpoint), Hop>,
    /// Addresses that serve connections: only a request from one of them can be a proxy's
    /// upstream request.
    server_ips: FxHashSet<IpAddr>,
}

/// One proxy hop: the proxy as its clients see it (`via`), and its upstream (`server`).
#[derive(Clone, Debug, Serialize)]
pub struct Chain {
    pub via: String,
    pub server: String,
    pub matched_requests: u64,
    pub downstream_requests_per_connection: f64,
    pub upstream_requests_per_connection: f64,
    pub upstream_connections: u64,
    /// Matched upstream requests that carried the downstream Host.
    pub host_kept: u64,
    #[serde(skip)]
    examples: Vec<u64>,
    #[serde(skip)]
    pub(super) via_endpoint: Endpoint,
}

impl Joiner {
    /// A connection to `server` opened.
    pub fn server(&mut self, server: IpAddr) {
        self.server_ips.insert(server);
    }

    pub fn exchange(&mut self, ex: &ExchangeEvent) {
        let e = &ex.exchange;
        let key = e.key.method.hash() ^ e.key.target.hash().rotate_left(17);
        let (Some(end), Some(resp)) = (e.response_end, e.response_start) else {
            return;
        };
        // As a downstream exchange: an upstream one from this server's address, nested. The
        // queue is in completion order: scanning back from the newest, nothing that ended
        // before this request began can match.
        let proxy_ip = ex.server.ip;
        if let Some(q) = self.waiting.get_mut(&(key, proxy_ip)) {
            let mut found = None;
            for up in q.iter_mut().rev() {
                if up.end < e.request_start {
                    break;
                }
                if !up.matched
                    && up.server != ex.server
                    && up.connection != ex.connection
                    && up.start >= e.request_start
                    && up.end <= resp
                {
                    up.matched = true;
                    found = Some(*up);
                    break;
                }
            }
            if let Some(up) = found {
                let hop = self.hops.entry((ex.server, up.server)).or_default();
                hop.matched += 1;
                hop.upstream_first += u64::from(up.index == 0);
                hop.downstream_first += u64::from(e.index == 0);
                hop.same_host += u64::from(up.host == e.key.host.hash());
                if hop.examples < hop.example_upstream.len() && up.index == 0 {
                    hop.example_upstream[hop.examples] = up.connection;
                    hop.examples += 1;
                }
            }
        }
        // As a possible upstream exchange for a later downstream one.
        self.expire(end);
        if !self.server_ips.contains(&ex.client.ip) {
            return;
        }
        if self.count >= MAX_WAITING {
            self.evict_oldest();
        }
        let at = (key, ex.client.ip);
        self.waiting.entry(at).or_default().push_back(Waiting {
            connection: ex.connection,
            index: e.index,
            server: ex.server,
            host: e.key.host.hash(),
            start: e.request_start,
            end,
            matched: false,
        });
        self.order.push_back((end, at));
        self.count += 1;
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some(&(end, _)) = self.order.front() {
            if now.0.saturating_sub(end.0) < WINDOW_NS {
                break;
            }
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        let Some((_, key)) = self.order.pop_front() else {
            return;
        };
        if let Some(q) = self.waiting.get_mut(&key) {
            q.pop_front();
            self.count -= 1;
            if q.is_empty() {
                self.waiting.remove(&key);
            }
        }
    }

    /// Every hop seen, with the requests per connection on each side.
    pub fn chains(&self, servers: &[ServerOut]) -> Vec<Chain> {
        let rpc = |ep: &Endpoint| -> f64 {
            let name = ep.to_string();
            servers
                .iter()
                .find(|s| s.server == name)
                .filter(|s| s.connections > 0)
                .map_or(0.0, |s| {
                    s.requests as f64 / (s.connections - s.midstream).max(1) as f64
                })
        };
        let mut v: Vec<Chain> = self
            .hops
            .iter()
            .filter(|(_, h)| h.matched > 0)
            .map(|((via, server), h)| Chain {
                via: via.to_string(),
                server: server.to_string(),
                matched_requests: h.matched,
                downstream_requests_per_connection: round2(rpc(via)),
                upstream_requests_per_connection: round2(
                    h.matched as f64 / h.upstream_first.max(1) as f64,
                ),
                upstream_connections: h.upstream_first,
                host_kept: h.same_host,
                examples: h.example_upstream[..h.examples].to_vec(),
                via_endpoint: *via,
            })
            .collect();
        v.sort_by(|a, b| a.via.cmp(&b.via).then_with(|| a.server.cmp(&b.server)));
        v
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A hop whose upstream side does not reuse while its clients do. The fix is the proxy's
/// setting; a proxy's Server header may be its upstream's, so all three are named.
pub fn stripped(chains: &[Chain], out: &mut Vec<Finding>) {
    for c in chains {
        let down = c.downstream_requests_per_connection;
        let up = c.upstream_requests_per_connection;
        if up >= 1.2 || down < 1.5 {
            continue;
        }
        // With a pool reusing as the clients do, this many upstream connections would do.
        let needed = (c.matched_requests as f64 / down).ceil() as u64;
        out.push(Finding {
            kind: "keepalive-stripped",
            severity: severity(c.matched_requests, Severity::Warning),
            server: c.server.clone(),
            via: Some(c.via.clone()),
            host: None,
            hosts: Vec::new(),
            evidence: [
                ("matched_requests", Num::Count(c.matched_requests)),
                ("downstream_requests_per_connection", Num::Measure(down)),
                ("upstream_requests_per_connection", Num::Measure(up)),
                ("upstream_connections", Num::Count(c.upstream_connections)),
                (
                    "handshakes_avoidable",
                    Num::Count(c.upstream_connections.saturating_sub(needed)),
                ),
            ]
            .into_iter()
            .collect(),
            fix: format!(
                "The proxy at {} opens a new upstream connection per request: {}",
                c.via,
                fix_for(
                    None,
                    "proxy_http_version 1.1; proxy_set_header Connection \"\"; and keepalive 32 in the upstream block",
                    "option http-keep-alive instead of option httpclose / http-server-close",
                    "ProxyPass ... keepalive=On (mod_proxy_http reuses by default; no SetEnv proxy-nokeepalive)"
                )
            ),
            connections: c.examples.clone(),
            times: Vec::new(),
        });
    }
}
