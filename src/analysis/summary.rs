//! Aggregates: capture-wide totals and per-server figures, in bounded memory (counters and
//! HDR histograms), and their serialisable form.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use std::collections::BTreeSet;

use super::record::{Close, ConnRecord, KeepAlive, Side, TcpCounters};
use super::timewait::HostPeak;
use super::{bump, merge_counts, merge_errors, Inputs, Skipped, Tunnelled};
use crate::decode::Endpoint;
use crate::proto::http1::ErrorCounts;

/// A lazily allocated HDR histogram of non-negative integers.
pub struct Hist {
    h: Option<Histogram<u64>>,
    sigfig: u8,
}

impl Hist {
    pub fn new(sigfig: u8) -> Hist {
        Hist { h: None, sigfig }
    }

    pub fn record(&mut self, v: u64) {
        let sigfig = self.sigfig;
        let h = self
            .h
            .get_or_insert_with(|| Histogram::new(sigfig).expect("valid significant figures"));
        // Auto-resizing histograms accept any value; saturate rather than fail.
        let _ = h.record(v);
    }

    /// Adds another histogram's counts (exact: same bucket layout).
    pub fn merge(&mut self, other: &Hist) {
        if let Some(o) = &other.h {
            let sigfig = self.sigfig;
            let h = self
                .h
                .get_or_insert_with(|| Histogram::new(sigfig).expect("valid significant figures"));
            let _ = h.add(o);
        }
    }

    pub fn count(&self) -> u64 {
        self.h.as_ref().map_or(0, |h| h.len())
    }

    /// (mean, median, p95, max)
    pub fn stats(&self) -> Option<(f64, u64, u64, u64)> {
        let h = self.h.as_ref().filter(|h| !h.is_empty())?;
        Some((
            h.mean(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.95),
            h.max(),
        ))
    }

    pub fn quantile(&self, q: f64) -> Option<u64> {
        let h = self.h.as_ref().filter(|h| !h.is_empty())?;
        Some(h.value_at_quantile(q))
    }
}

/// Requests-per-connection histogram buckets, as shown in reports.
pub const RPC_BUCKETS: [(&str, u64, u64); 7] = [
    ("0", 0, 0),
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-5", 3, 5),
    ("6-10", 6, 10),
    ("11-100", 11, 100),
    (">100", 101, u64::MAX),
];

fn rpc_bucket(n: u64) -> usize {
    RPC_BUCKETS
        .iter()
        .position(|&(_, lo, hi)| n >= lo && n <= hi)
        .unwrap_or(RPC_BUCKETS.len() - 1)
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct BySide {
    pub client: u64,
    pub server: u64,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ClosedBy {
    pub client: u64,
    pub server: u64,
    pub open: u64,
}

impl BySide {
    /// The side that sent a connection's first FIN is the active closer, bound for TIME_WAIT.
    fn add_active_closer(&mut self, r: &ConnRecord) {
        match (r.close, r.closed_by) {
            (Close::Fin, Some(Side::Client)) => self.client += 1,
            (Close::Fin, Some(Side::Server)) => self.server += 1,
            _ => {}
        }
    }

    fn merge(&mut self, o: &BySide) {
        self.client += o.client;
        self.server += o.server;
    }
}

impl ClosedBy {
    fn merge(&mut self, o: &ClosedBy) {
        self.client += o.client;
        self.server += o.server;
        self.open += o.open;
    }

    fn add(&mut self, who: Option<Side>) {
        match who {
            Some(Side::Client) => self.client += 1,
            Some(Side::Server) => self.server += 1,
            None => self.open += 1,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct PerConnection {
    pub mean: f64,
    pub median: u64,
    pub p95: u64,
    pub max: u64,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Ttfb {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct TtfbSplit {
    /// First request on a connection whose handshake was seen.
    pub new: Option<Ttfb>,
    pub reused: Option<Ttfb>,
}

fn ttfb(h: &Hist) -> Option<Ttfb> {
    Some(Ttfb {
        count: h.count(),
        p50: h.quantile(0.5)? as f64 / 1000.0,
        p95: h.quantile(0.95)? as f64 / 1000.0,
    })
}

fn reuse_ratio(requests: u64, with_requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        (requests - with_requests) as f64 / requests as f64
    }
}

/// What servers and the whole capture both count of each connection.
#[derive(Default)]
pub struct Counts {
    connections: u64,
    handshakes: u64,
    requests: u64,
    responses: u64,
    /// Connections that carried at least one request.
    with_requests: u64,
    closed_by: ClosedBy,
    close_reasons: BTreeMap<&'static str, u64>,
    time_wait: BySide,
}

impl Counts {
    fn add(&mut self, r: &ConnRecord) {
        self.connections += 1;
        self.handshakes += u64::from(r.handshake);
        self.requests += r.requests;
        self.responses += r.responses;
        self.with_requests += u64::from(r.requests > 0);
        self.closed_by.add(r.closed_by);
        bump(&mut self.close_reasons, r.close_reason.name());
        self.time_wait.add_active_closer(r);
    }

    fn merge(&mut self, o: &Counts) {
        self.connections += o.connections;
        self.handshakes += o.handshakes;
        self.requests += o.requests;
        self.responses += o.responses;
        self.with_requests += o.with_requests;
        self.closed_by.merge(&o.closed_by);
        merge_counts(&mut self.close_reasons, &o.close_reasons);
        self.time_wait.merge(&o.time_wait);
    }

    fn reuse_ratio(&self) -> f64 {
        reuse_ratio(self.requests, self.with_requests)
    }
}

pub struct ServerAgg {
    server: Endpoint,
    /// The smallest Host names (a bounded set that does not depend on arrival order).
    hosts: BTreeSet<String>,
    counts: Counts,
    rpc: [u64; RPC_BUCKETS.len()],
    /// As advertised on the latest connection (highest id) that advertised it.
    keep_alive: Option<(u64, KeepAlive)>,
    pub ttfb_new: Hist,
    pub ttfb_reused: Hist,
}

const MAX_SERVER_HOSTS: usize = 16;

impl ServerAgg {
    pub fn new(server: Endpoint) -> ServerAgg {
        ServerAgg {
            server,
            hosts: BTreeSet::new(),
            counts: Counts::default(),
            rpc: [0; RPC_BUCKETS.len()],
            keep_alive: None,
            ttfb_new: Hist::new(2),
            ttfb_reused: Hist::new(2),
        }
    }

    pub fn add(&mut self, r: &ConnRecord) {
        self.counts.add(r);
        self.rpc[rpc_bucket(r.requests)] += 1;
        if let Some(k) = r.keep_alive {
            if self.keep_alive.is_none_or(|(id, _)| id < r.id) {
                self.keep_alive = Some((r.id, k));
            }
        }
        for h in &r.hosts {
            self.add_host(h);
        }
    }

    fn add_host(&mut self, h: &str) {
        if self.hosts.len() < MAX_SERVER_HOSTS {
            self.hosts.insert(h.to_string());
        } else if self.hosts.last().is_some_and(|last| h < last.as_str()) && !self.hosts.contains(h)
        {
            self.hosts.pop_last();
            self.hosts.insert(h.to_string());
        }
    }

    /// Adds another shard's figures for the same server.
    pub fn merge(&mut self, o: &ServerAgg) {
        self.counts.merge(&o.counts);
        for (a, b) in self.rpc.iter_mut().zip(o.rpc.iter()) {
            *a += b;
        }
        if let Some((id, k)) = o.keep_alive {
            if self.keep_alive.is_none_or(|(mine, _)| mine < id) {
                self.keep_alive = Some((id, k));
            }
        }
        for h in &o.hosts {
            self.add_host(h);
        }
        self.ttfb_new.merge(&o.ttfb_new);
        self.ttfb_reused.merge(&o.ttfb_reused);
    }

    pub fn out(&self) -> ServerOut {
        let c = &self.counts;
        ServerOut {
            server: self.server.to_string(),
            hosts: self.hosts.iter().cloned().collect(),
            connections: c.connections,
            handshakes: c.handshakes,
            midstream: c.connections - c.handshakes,
            requests: c.requests,
            responses: c.responses,
            reuse_ratio: c.reuse_ratio(),
            requests_per_connection: RPC_BUCKETS
                .iter()
                .zip(self.rpc.iter())
                .map(|(&(label, _, _), &n)| (label, n))
                .collect(),
            closed_by: c.closed_by,
            close_reasons: c.close_reasons.clone(),
            time_wait: c.time_wait,
            keep_alive: self.keep_alive.map(|(_, k)| k),
            ttfb_ms: TtfbSplit {
                new: ttfb(&self.ttfb_new),
                reused: ttfb(&self.ttfb_reused),
            },
        }
    }
}

/// One server endpoint's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ServerOut {
    pub server: String,
    pub hosts: Vec<String>,
    pub connections: u64,
    pub handshakes: u64,
    pub midstream: u64,
    pub requests: u64,
    pub responses: u64,
    pub reuse_ratio: f64,
    /// Connections by how many requests they carried.
    pub requests_per_connection: BTreeMap<&'static str, u64>,
    pub closed_by: ClosedBy,
    pub close_reasons: BTreeMap<&'static str, u64>,
    pub time_wait: BySide,
    pub keep_alive: Option<KeepAlive>,
    pub ttfb_ms: TtfbSplit,
}

#[derive(Default)]
pub struct Totals {
    counts: Counts,
    unanswered: u64,
    rpc: Option<Box<Hist>>,
    protocols: BTreeMap<&'static str, u64>,
    tcp: TcpCounters,
    http_errors: BTreeMap<&'static str, u64>,
    slow_headers: u64,
}

impl Totals {
    pub fn add(&mut self, r: &ConnRecord, errors: &ErrorCounts) {
        self.counts.add(r);
        self.unanswered += u64::from(r.unanswered);
        if r.requests > 0 {
            self.rpc
                .get_or_insert_with(|| Box::new(Hist::new(3)))
                .record(r.requests);
        }
        bump(&mut self.protocols, r.protocol.name());
        self.tcp.add(&r.tcp);
        merge_errors(&mut self.http_errors, errors);
        self.slow_headers += u64::from(r.slow_headers_ms.is_some());
    }

    pub fn merge(&mut self, o: &Totals) {
        self.counts.merge(&o.counts);
        self.unanswered += o.unanswered;
        if let Some(h) = &o.rpc {
            self.rpc
                .get_or_insert_with(|| Box::new(Hist::new(3)))
                .merge(h);
        }
        merge_counts(&mut self.protocols, &o.protocols);
        self.tcp.add(&o.tcp);
        merge_counts(&mut self.http_errors, &o.http_errors);
        self.slow_headers += o.slow_headers;
    }

    pub(crate) fn summary(
        &self,
        inputs: &Inputs,
        peak_open: u64,
        time_wait_peak: Vec<HostPeak>,
    ) -> Summary {
        let a = &inputs.frames;
        let table = &inputs.table;
        let (start, end) = (a.first_ts, a.last_ts);
        let rpc = self.rpc.as_ref().and_then(|h| h.stats());
        let c = &self.counts;
        Summary {
            files: inputs.files.clone(),
            packets: a.packets,
            bytes: a.wire_bytes,
            start: start.map(|t| t.as_secs_f64()),
            end: end.map(|t| t.as_secs_f64()),
            duration: match (start, end) {
                (Some(s), Some(e)) => (e.0 - s.0) as f64 / 1e9,
                _ => 0.0,
            },
            connections: c.connections,
            handshakes: c.handshakes,
            midstream: c.connections - c.handshakes,
            http_connections: c.with_requests,
            requests: c.requests,
            responses: c.responses,
            unanswered: self.unanswered,
            reuse_ratio: c.reuse_ratio(),
            requests_per_connection: rpc.map(|(mean, median, p95, max)| PerConnection {
                mean,
                median,
                p95,
                max,
            }),
            closed_by: c.closed_by,
            close_reasons: c.close_reasons.clone(),
            protocols: self.protocols.clone(),
            time_wait: c.time_wait,
            time_wait_seconds: inputs.cfg.time_wait_secs,
            time_wait_peak,
            tcp: self.tcp,
            http_errors: self.http_errors.clone(),
            skipped: a.skipped,
            tunnelled: a.tunnelled,
            stray_segments: table.stray_segments,
            checksums: Checksums {
                verified: table.checksums_verified,
                bad_tcp: table.bad_tcp_checksums,
                bad_ip: table.bad_ip_checksums,
            },
            peak_open_connections: peak_open,
            slow_headers: self.slow_headers,
            limits: Limits {
                evicted: table.evicted,
                evicted_half_open: table.evicted_half_open,
                held_overflows: table.held_overflows,
                idle_expired: table.idle_expired,
            },
            damage: inputs.damage.clone(),
        }
    }
}

/// Checksums: segments whose TCP checksum could be verified (captured whole), wrong TCP
/// checksums among them, and wrong IPv4 header checksums. Nothing is dropped for a wrong
/// checksum: with checksum offload, the capturing host's own packets carry wrong ones.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Checksums {
    pub verified: u64,
    pub bad_tcp: u64,
    pub bad_ip: u64,
}

/// Capture-wide figures.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub files: Vec<String>,
    pub packets: u64,
    /// Bytes on the wire (frame lengths, including what snaplen cut off).
    pub bytes: u64,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub duration: f64,
    pub connections: u64,
    /// Connections whose opening SYN was seen.
    pub handshakes: u64,
    /// Connections already open when the capture started.
    pub midstream: u64,
    /// Connections that carried at least one request.
    pub http_connections: u64,
    pub requests: u64,
    pub responses: u64,
    pub unanswered: u64,
    pub reuse_ratio: f64,
    pub requests_per_connection: Option<PerConnection>,
    pub closed_by: ClosedBy,
    pub close_reasons: BTreeMap<&'static str, u64>,
    pub protocols: BTreeMap<&'static str, u64>,
    /// Connections each side closed first (and so held in TIME_WAIT).
    pub time_wait: BySide,
    pub time_wait_seconds: f64,
    pub time_wait_peak: Vec<HostPeak>,
    pub tcp: TcpCounters,
    pub http_errors: BTreeMap<&'static str, u64>,
    pub skipped: Skipped,
    /// TCP segments that came out of an encapsulation (MPLS, PPPoE, GRE, ...), by kind.
    pub tunnelled: Tunnelled,
    pub stray_segments: u64,
    pub checksums: Checksums,
    /// Most connections open at once (from first packet to close), by capture time.
    pub peak_open_connections: u64,
    /// Connections whose slowest request head passed the slow-headers threshold.
    pub slow_headers: u64,
    /// What the state limits cost: when non-zero, some figures are partial.
    pub limits: Limits,
    pub damage: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Limits {
    /// Connections finished early to stay under the connection limit (half-open first).
    pub evicted: u64,
    pub evicted_half_open: u64,
    /// Times the total out-of-order limit made a connection give up on its holes.
    pub held_overflows: u64,
    /// Open connections finished by the idle limit (live capture only).
    #[serde(skip_serializing_if = "is_zero")]
    pub idle_expired: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Everything one analysis produced.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub servers: Vec<ServerOut>,
    /// What is wrong with reuse and what to change, most severe first.
    pub findings: Vec<super::findings::Finding>,
    /// Every proxy hop seen, healthy or not.
    pub chains: Vec<super::findings::Chain>,
    /// What connections cost per server, and the keep-alive settings the traffic asks for.
    pub costs: super::findings::Costs,
    pub connections: Vec<ConnRecord>,
}
