//! Findings: what is wrong with reuse, where, and which setting fixes it. Built from the
//! ordered event replay (every worker's exchanges and finished connections in capture order,
//! so the result does not depend on how flows were sharded) and the merged aggregates.
//!
//! One file per concern: proxy.rs joins requests across proxy hops (keepalive-stripped and
//! the chains), servers.rs observes each server's closes (keepalive-refused, idle-timeout,
//! request-cap, keepalive-race, advertised-mismatch) and clients (no-reuse-client), and
//! TIME_WAIT pressure comes from the replay's TIME_WAIT peaks. Memory is bounded by the
//! servers, client-server pairs and open connections seen, and by a time window of recent
//! exchanges for the proxy join.

mod proxy;
mod servers;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::event::{ConnFacts, ExchangeEvent};
use super::summary::ServerOut;
use super::timewait::HostPeak;
use crate::decode::Endpoint;
use crate::proto::Software;
use crate::time::Timestamp;
pub use proxy::Chain;
pub use servers::{Costs, ServerCost};

/// Below this many occurrences a finding's evidence is thin: it is reported as `info`.
pub const MIN_OCCURRENCES: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A number of evidence: a count or a measure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Num {
    Count(u64),
    Measure(f64),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Count(n) => write!(f, "{n}"),
            Num::Measure(x) if x.fract() == 0.0 && x.abs() < 1e15 => write!(f, "{x:.0}"),
            Num::Measure(x) => write!(f, "{x:.2}"),
        }
    }
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub kind: &'static str,
    pub severity: Severity,
    /// The endpoint ("ip:port") the finding is about.
    pub server: String,
    /// For a proxy hop: the proxy's endpoint as its clients see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// For a client or a host: its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub hosts: Vec<String>,
    pub evidence: BTreeMap<&'static str, Num>,
    /// One sentence: the setting to change.
    pub fix: String,
    /// Up to 10 connection ids (frame numbers) that show it.
    pub connections: Vec<u64>,
    /// Capture times (seconds) of occurrences, where they matter (races), up to 20.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<f64>,
}

/// Up to this many example connections per finding.
pub const EXAMPLES: usize = 10;

/// Everything the findings are built from, fed in capture order.
#[derive(Default)]
pub struct Findings {
    servers: servers::Observer,
    proxy: proxy::Joiner,
}

impl Findings {
    pub fn exchange(&mut self, ex: &ExchangeEvent) {
        self.servers.exchange(ex);
        self.proxy.exchange(ex);
    }

    pub fn ended(&mut self, c: &ConnFacts) {
        self.servers.ended(c);
    }

    /// A connection from `client` to `server` opened (`handshake`: its SYN was seen).
    pub fn opened(&mut self, at: Timestamp, client: IpAddr, server: Endpoint, handshake: bool) {
        self.proxy.server(server.ip);
        self.servers.opened(at, client, server, handshake);
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
        self.servers.closed(at, server_idle, client, server);
    }

    /// What each server's connections cost, and the keep-alive settings the traffic asks for.
    pub fn costs(&self, servers: &[ServerOut]) -> Costs {
        self.servers.costs(servers)
    }

    /// The findings, most severe first (then by kind and server), and every proxy hop seen.
    pub fn report(
        &self,
        servers: &[ServerOut],
        time_wait: &[HostPeak],
        time_wait_secs: f64,
        duration_secs: f64,
    ) -> (Vec<Finding>, Vec<Chain>) {
        let hosts = |server: &str| -> Vec<String> {
            servers
                .iter()
                .find(|s| s.server == server)
                .map(|s| s.hosts.clone())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        // A proxy may pass its upstream's Server header on: its software is not named.
        let chains = self.proxy.chains(servers);
        let proxies: Vec<Endpoint> = chains.iter().map(|c| c.via_endpoint).collect();
        self.servers.findings(&proxies, &mut out);
        servers::time_wait_pressure(servers, time_wait, time_wait_secs, duration_secs, &mut out);
        proxy::stripped(&chains, &mut out);
        for f in &mut out {
            if f.hosts.is_empty() {
                f.hosts = hosts(&f.server);
            }
        }
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.kind.cmp(b.kind))
                .then_with(|| a.server.cmp(&b.server))
                .then_with(|| a.host.cmp(&b.host))
        });
        (out, chains)
    }
}

/// The fix: for the server software its `Server` header names, or, where the traffic does not
/// say, the setting in each of the three common ones.
pub(crate) fn fix_for(
    software: Option<Software>,
    nginx: &str,
    haproxy: &str,
    apache: &str,
) -> String {
    match software {
        Some(Software::Nginx) => format!("nginx: {nginx}."),
        Some(Software::Haproxy) => format!("HAProxy: {haproxy}."),
        Some(Software::Apache) => format!("Apache: {apache}."),
        None => format!("nginx: {nginx}; HAProxy: {haproxy}; Apache: {apache}."),
    }
}

/// `n` and `of` as a severity: thin evidence is `info`.
pub(crate) fn severity(occurrences: u64, worse: Severity) -> Severity {
    if occurrences < MIN_OCCURRENCES {
        Severity::Info
    } else {
        worse
    }
}
