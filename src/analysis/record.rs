//! Per-connection and per-request records: the stable output schema (documented in README).
//! A connection's record is built once, when it leaves the flow table; a request's from its
//! exchange event, when the engine releases it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::event::ExchangeEvent;
use crate::flow::{CloseKind, Connection};
use crate::proto::{CloseReason, Conversation, Protocol};

/// A connection as the analysis sees it: TCP facts plus its application layer.
pub type Conn = Connection<Conversation>;

/// One end of a connection, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

/// How a connection's close began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Close {
    Open,
    Fin,
    Rst,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct KeepAlive {
    pub timeout: Option<u32>,
    pub max: Option<u32>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct IdleGaps {
    pub count: u32,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TcpCounters {
    pub retransmitted_bytes: u64,
    pub out_of_order: u64,
    pub gap_bytes: u64,
    pub keepalive_probes: u64,
    pub zero_window_probes: u64,
    pub syn_retransmits: u64,
    /// Segments with a wrong TCP or IPv4 checksum, by sender (used all the same).
    pub bad_checksums_client: u64,
    pub bad_checksums_server: u64,
    /// RSTs that did not end the connection: outside the receiver's window, or followed by
    /// traffic that shows the peers went on.
    pub ignored_resets: u64,
}

impl TcpCounters {
    pub fn add(&mut self, o: &TcpCounters) {
        self.retransmitted_bytes += o.retransmitted_bytes;
        self.out_of_order += o.out_of_order;
        self.gap_bytes += o.gap_bytes;
        self.keepalive_probes += o.keepalive_probes;
        self.zero_window_probes += o.zero_window_probes;
        self.syn_retransmits += o.syn_retransmits;
        self.bad_checksums_client += o.bad_checksums_client;
        self.bad_checksums_server += o.bad_checksums_server;
        self.ignored_resets += o.ignored_resets;
    }
}

/// One TCP connection.
#[derive(Clone, Debug, Serialize)]
pub struct ConnRecord {
    /// Frame number of the connection's first packet (1-based, across all input files).
    pub id: u64,
    pub client: String,
    pub server: String,
    pub start: f64,
    pub end: f64,
    pub packets: u64,
    /// Payload bytes each side sent (in order, as reassembled).
    pub bytes_client: u64,
    pub bytes_server: u64,
    /// The opening SYN was seen.
    pub handshake: bool,
    pub handshake_rtt_ms: Option<f64>,
    pub protocol: Protocol,
    pub requests: u64,
    pub responses: u64,
    pub unanswered: u32,
    pub closed_by: Option<Side>,
    pub close: Close,
    pub close_reason: CloseReason,
    /// The side left in TIME_WAIT: the first FIN's sender, once both FINs were seen.
    pub time_wait: Option<Side>,
    pub keep_alive: Option<KeepAlive>,
    pub idle_gaps_ms: Option<IdleGaps>,
    /// Idle time between the last response and the first FIN, when nothing was in flight.
    pub idle_before_close_ms: Option<f64>,
    pub hosts: Vec<String>,
    pub tcp: TcpCounters,
    pub http_errors: BTreeMap<&'static str, u32>,
    /// How long the slowest request head took to arrive, when it passed the slow-headers
    /// threshold (slowloris).
    pub slow_headers_ms: Option<f64>,
    /// Evicted from the table (connection limit) before it ended.
    pub evicted: bool,
    /// Exchanges of this connection, with `--requests` in `json` format only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchanges: Option<Vec<RequestRecord>>,
}

/// One request and its response.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub connection: u64,
    pub index: u32,
    pub client: String,
    pub server: String,
    pub method: String,
    pub target: String,
    pub host: Option<String>,
    pub version: &'static str,
    pub start: f64,
    pub status: Option<u16>,
    pub ttfb_ms: Option<f64>,
    pub duration_ms: Option<f64>,
    pub reused: bool,
    pub complete: bool,
}

fn side(side: usize, client: usize) -> Side {
    if side == client {
        Side::Client
    } else {
        Side::Server
    }
}

/// Whether an exchange went over a connection that was already in use: it is not the first
/// request (`index` > 0), or the connection was picked up mid-stream (its handshake was not
/// seen, so even the first request seen was not the first).
pub fn reused(index: u32, handshake: bool) -> bool {
    index > 0 || !handshake
}

/// Why the connection ended: TCP's facts first, then what the application says.
pub fn close_reason(c: &Conn) -> CloseReason {
    match c.first_close {
        None if c.evicted => CloseReason::Evicted,
        None if c.idle_expired => CloseReason::IdleLimit,
        None if c.half_open() => CloseReason::HalfOpen,
        None => CloseReason::Open,
        Some((_, kind, _)) => c.app.close_reason(kind == CloseKind::Rst),
    }
}

impl ConnRecord {
    /// `slow_headers_ms`: the threshold above which a request head is reported as slow.
    pub fn build(c: &Conn, slow_headers_ms: f64) -> ConnRecord {
        let client = c.client_side();
        let server = 1 - client;
        let (closed_by, close) = match c.first_close {
            None => (None, Close::Open),
            Some((s, kind, _)) => (
                Some(side(s, client)),
                if kind == CloseKind::Fin {
                    Close::Fin
                } else {
                    Close::Rst
                },
            ),
        };
        let time_wait = match c.first_close {
            Some((s, CloseKind::Fin, _)) if c.fin[0].is_some() && c.fin[1].is_some() => {
                Some(side(s, client))
            }
            _ => None,
        };
        let http = c.app.http1();
        let idle = http.idle;
        let mut tcp = TcpCounters {
            syn_retransmits: c.syn.map_or(0, |s| u64::from(s.retransmits)),
            bad_checksums_client: c.bad_checksums[client],
            bad_checksums_server: c.bad_checksums[1 - client],
            ignored_resets: u64::from(c.ignored_resets),
            ..TcpCounters::default()
        };
        for s in &c.streams {
            tcp.retransmitted_bytes += s.stats.retransmitted_bytes;
            tcp.out_of_order += u64::from(s.stats.out_of_order);
            tcp.gap_bytes += s.stats.gap_bytes;
            tcp.keepalive_probes += u64::from(s.stats.keepalive_probes);
            tcp.zero_window_probes += u64::from(s.stats.zero_window_probes);
        }
        ConnRecord {
            id: c.id,
            client: c.ends[client].to_string(),
            server: c.ends[server].to_string(),
            start: c.first_ts.as_secs_f64(),
            end: c.last_ts.as_secs_f64(),
            packets: c.packets[0] + c.packets[1],
            bytes_client: c.streams[client].stats.bytes,
            bytes_server: c.streams[server].stats.bytes,
            handshake: c.handshake(),
            handshake_rtt_ms: c.handshake_rtt_ms(),
            protocol: c.app.protocol(),
            requests: http.stats.requests,
            responses: http.stats.responses,
            unanswered: http.stats.unanswered,
            closed_by,
            close,
            close_reason: close_reason(c),
            time_wait,
            keep_alive: http
                .keep_alive
                .map(|(timeout, max)| KeepAlive { timeout, max }),
            idle_gaps_ms: (idle.count > 0).then(|| IdleGaps {
                count: idle.count,
                min: idle.min_ms,
                max: idle.max_ms,
                mean: idle.sum_ms / f64::from(idle.count),
            }),
            idle_before_close_ms: http.at_close.and_then(|a| a.idle_ms),
            hosts: http.hosts.clone(),
            tcp,
            http_errors: http
                .stats
                .errors
                .iter()
                .map(|(e, n)| (e.name(), n))
                .collect(),
            slow_headers_ms: Some(http.stats.slowest_request_head_ms)
                .filter(|&ms| ms >= slow_headers_ms),
            evicted: c.evicted,
            exchanges: None,
        }
    }
}

impl RequestRecord {
    pub fn build(ev: ExchangeEvent) -> RequestRecord {
        let reused = ev.reused();
        let ex = ev.exchange;
        RequestRecord {
            connection: ev.connection,
            index: ex.index,
            client: ev.client.to_string(),
            server: ev.server.to_string(),
            method: ex.method,
            target: ex.target,
            host: ex.host,
            version: if ex.minor == 0 {
                "HTTP/1.0"
            } else {
                "HTTP/1.1"
            },
            start: ex.request_start.as_secs_f64(),
            status: ex.status,
            ttfb_ms: ex.response_start.map(|r| r.millis_since(ex.request_start)),
            duration_ms: ex.response_end.map(|r| r.millis_since(ex.request_start)),
            reused,
            complete: ex.complete,
        }
    }
}
