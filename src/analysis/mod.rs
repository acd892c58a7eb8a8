//! The reducer: connection and exchange events in, records and aggregates out. Pure: no
//! threads, no I/O, no clock.
//!
//! Flows are sharded across workers by their 4-tuple, so every connection is whole in one
//! [`Shard`]. A shard folds each finished connection into aggregates of bounded size
//! (counters, HDR histograms), handed to the engine as [`Delta`]s, and turns what analyses
//! across connections need into compact [`event::Event`]s stamped with their frame number.
//! The engine merges the deltas into one [`Aggregate`] (sums, histogram merges, bounded sorted
//! sets: exact whatever the number of workers) and releases every worker's events in one
//! capture order to a [`Replay`], which computes what needs that order: the peak of open
//! connections, TIME_WAIT per host and side, per-interval figures, and the record stream.

pub mod event;
pub mod findings;
pub mod intervals;
pub mod record;
pub mod summary;
pub mod timewait;

use std::collections::BTreeMap;
use std::io;

use rustc_hash::FxHashMap;

use crate::decode::{Endpoint, Skip, Via};
use crate::flow::table::TableStats;
use crate::flow::{CloseKind, FlowEvents};
use crate::proto::http1::{ErrorCounts, Exchange};
use crate::proto::{CloseReason, Conversation};
use crate::time::Timestamp;
use event::{ConnFacts, Event, Events, ExchangeEvent, Payload, Stamped};
use intervals::Intervals;
pub use record::{Conn, ConnRecord, RequestRecord, Side};
pub use summary::{Report, ServerOut, Summary};
use summary::{ServerAgg, Totals};
use timewait::TimeWait;

/// Where records go as they are released, in capture order.
pub trait Output {
    fn connection(&mut self, rec: &ConnRecord) -> io::Result<()>;
    fn request(&mut self, rec: &RequestRecord) -> io::Result<()>;
}

/// Discards records (text reports need only the aggregates).
pub struct NoOutput;

impl Output for NoOutput {
    fn connection(&mut self, _: &ConnRecord) -> io::Result<()> {
        Ok(())
    }
    fn request(&mut self, _: &RequestRecord) -> io::Result<()> {
        Ok(())
    }
}

/// What becomes of per-connection and per-request records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Records {
    /// Only aggregates are wanted.
    #[default]
    None,
    /// Each record goes to the [`Output`] as it is released.
    Stream,
    /// Every record is kept for one document at the end ([`Report::connections`]).
    Keep,
}

#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// How long an active closer holds TIME_WAIT.
    pub time_wait_secs: f64,
    /// Per-request records as well (with `records` other than `None`).
    pub requests: bool,
    pub records: Records,
    /// A request head slower than this is reported (slow-headers).
    pub slow_headers_ms: f64,
    /// Width of the per-interval buckets.
    pub interval_secs: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            time_wait_secs: 60.0,
            requests: false,
            records: Records::None,
            slow_headers_ms: 1000.0,
            interval_secs: 1.0,
        }
    }
}

/// Frames that did not yield a TCP segment, by kind.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub not_tcp: u64,
    pub fragments: u64,
    pub truncated: u64,
    pub malformed: u64,
}

/// TCP segments decoded from inside an encapsulation: how many in all, and how many came
/// through each kind (a segment in GRE inside Geneve counts for both). Frames skipped inside
/// a tunnel are counted in [`Skipped`] like any other.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct Tunnelled {
    pub segments: u64,
    pub mpls: u64,
    pub pppoe: u64,
    pub gre: u64,
    pub erspan: u64,
    pub ip_in_ip: u64,
    pub vxlan: u64,
    pub gtp_u: u64,
    pub geneve: u64,
}

impl Tunnelled {
    /// Counts one decoded segment (nothing for a plain one).
    #[inline]
    pub fn add(&mut self, via: Via) {
        if !via.is_empty() {
            self.add_tunnelled(via);
        }
    }

    /// The per-kind counts, named as in the schema.
    pub fn kinds(&self) -> [(&'static str, u64); 8] {
        [
            ("mpls", self.mpls),
            ("pppoe", self.pppoe),
            ("gre", self.gre),
            ("erspan", self.erspan),
            ("ip_in_ip", self.ip_in_ip),
            ("vxlan", self.vxlan),
            ("gtp_u", self.gtp_u),
            ("geneve", self.geneve),
        ]
    }

    #[cold]
    fn add_tunnelled(&mut self, via: Via) {
        self.segments += 1;
        for (kind, count) in [
            (Via::MPLS, &mut self.mpls),
            (Via::PPPOE, &mut self.pppoe),
            (Via::GRE, &mut self.gre),
            (Via::ERSPAN, &mut self.erspan),
            (Via::IP_IN_IP, &mut self.ip_in_ip),
            (Via::VXLAN, &mut self.vxlan),
            (Via::GTP_U, &mut self.gtp_u),
            (Via::GENEVE, &mut self.geneve),
        ] {
            *count += u64::from(via.contains(kind));
        }
    }
}

/// What the reader counts: every frame that passed the filter.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameStats {
    pub packets: u64,
    pub wire_bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub skipped: Skipped,
    pub tunnelled: Tunnelled,
}

impl FrameStats {
    pub fn frame(&mut self, ts: Timestamp, wire_len: u32) {
        self.packets += 1;
        self.wire_bytes += u64::from(wire_len);
        self.first_ts = Some(self.first_ts.map_or(ts, |f| f.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
    }

    pub fn skip(&mut self, why: Skip) {
        match why {
            Skip::NotTcp => self.skipped.not_tcp += 1,
            Skip::Fragment => self.skipped.fragments += 1,
            Skip::Truncated => self.skipped.truncated += 1,
            Skip::Malformed => self.skipped.malformed += 1,
        }
    }
}

/// One worker's share of the analysis.
pub struct Shard {
    cfg: Config,
    totals: Totals,
    servers: FxHashMap<Endpoint, ServerAgg>,
    events: Events,
    seq: u64,
    /// Exchanges taken from a connection (reused: no allocation per request).
    exchanges: Vec<Exchange>,
}

/// Aggregates a worker folded since it last handed them over.
#[derive(Default)]
pub struct Delta {
    totals: Totals,
    servers: FxHashMap<Endpoint, ServerAgg>,
}

impl Shard {
    pub fn new(cfg: Config) -> Shard {
        Shard {
            cfg,
            totals: Totals::default(),
            servers: FxHashMap::default(),
            events: Events::default(),
            seq: 0,
            exchanges: Vec::new(),
        }
    }

    /// The events produced since the last call, in the order produced.
    /// `empty` (emptied buffers handed back by the aggregator, reused: no allocation per
    /// batch, and nothing allocated here is freed on another thread) takes their place.
    pub fn take_events(&mut self, empty: Events) -> Events {
        debug_assert!(empty.events.is_empty() && empty.payloads.is_empty());
        std::mem::replace(&mut self.events, empty)
    }

    /// The aggregates folded since the last call.
    pub fn take_delta(&mut self) -> Delta {
        Delta {
            totals: std::mem::take(&mut self.totals),
            servers: std::mem::take(&mut self.servers),
        }
    }

    fn push(&mut self, frame: u64, connection: u64, event: Event) {
        self.seq += 1;
        self.events.events.push(Stamped {
            frame,
            connection,
            seq: self.seq,
            event,
        });
    }

    fn server(&mut self, server: Endpoint) -> &mut ServerAgg {
        self.servers
            .entry(server)
            .or_insert_with(|| ServerAgg::new(server))
    }
}

impl FlowEvents<Conversation> for Shard {
    fn opened(&mut self, conn: &Conn) {
        let client = conn.client_side();
        let event = Event::Opened {
            at: conn.first_ts,
            client: conn.ends[client].ip,
            server: conn.ends[1 - client],
            handshake: conn.client.is_some(),
        };
        self.push(conn.id, conn.id, event);
    }

    fn reopened(&mut self, conn: &Conn, frame: u64) {
        // Counted as closed from the RST to here: the RST looked like the end until now.
        let client = conn.client_side();
        let event = Event::Opened {
            at: conn.last_ts,
            client: conn.ends[client].ip,
            server: conn.ends[1 - client],
            handshake: false,
        };
        self.push(frame, conn.id, event);
    }

    fn closed(&mut self, conn: &Conn, frame: u64) {
        let client = conn.client_side();
        let http = conn.app.http1();
        let server_idle = match conn.first_close {
            Some((side, CloseKind::Fin, _))
                if side != client
                    && http.stats.responses > 0
                    && conn.app.close_reason(false) == CloseReason::IdleTimeout =>
            {
                http.last_response_end()
            }
            _ => None,
        };
        let event = Event::Closed {
            at: conn.last_ts,
            client: conn.ends[client].ip,
            server: conn.ends[1 - client],
            server_idle,
        };
        self.push(frame, conn.id, event);
        // The active closer enters TIME_WAIT when the close completes: first FIN, both FINs.
        if let (Some((side, CloseKind::Fin, _)), Some(t0), Some(t1)) =
            (conn.first_close, conn.fin[0], conn.fin[1])
        {
            let role = if side == conn.client_side() {
                Side::Client
            } else {
                Side::Server
            };
            let event = Event::TimeWait {
                host: conn.ends[side].ip,
                side: role,
                at: t0.max(t1),
            };
            self.push(frame, conn.id, event);
        }
    }

    fn app_output(&mut self, conn: &mut Conn, frame: u64) {
        let client = conn.client_side();
        let (client, server) = (conn.ends[client], conn.ends[1 - client]);
        let (id, handshake) = (conn.id, conn.handshake());
        let mut exchanges = std::mem::take(&mut self.exchanges);
        conn.app.take_exchanges(|ex| exchanges.push(ex));
        for exchange in exchanges.drain(..) {
            let ev = ExchangeEvent {
                connection: id,
                client,
                server,
                handshake,
                exchange,
            };
            if let Some(start) = ev.exchange.response_start {
                let us = (i128::from(start.0) - i128::from(ev.exchange.request_start.0)).max(0)
                    as u64
                    / 1000;
                let reused = ev.reused();
                let agg = self.server(server);
                if reused {
                    agg.ttfb_reused.record(us);
                } else {
                    agg.ttfb_new.record(us);
                }
            }
            self.events.payloads.push(Payload::Exchange(ev));
            self.push(frame, id, Event::Exchange);
        }
        self.exchanges = exchanges;
    }

    fn finished(&mut self, conn: Conn, frame: u64) {
        let rec = ConnRecord::build(&conn, self.cfg.slow_headers_ms);
        let server = conn.ends[1 - conn.client_side()];
        let http = conn.app.http1();
        self.totals.add(&rec, &http.stats.errors);
        self.server(server).add(&rec);
        let client = conn.client_side();
        let facts = ConnFacts {
            id: conn.id,
            client: conn.ends[client],
            server,
            start: conn.first_ts,
            end: conn.last_ts,
            handshake: rec.handshake,
            handshake_rtt_ms: rec.handshake_rtt_ms,
            requests: rec.requests,
            responses: rec.responses,
            closed_by: rec.closed_by,
            close: rec.close,
            reason: rec.close_reason,
            fin: [conn.fin[client], conn.fin[1 - client]],
            keep_alive: http.keep_alive,
            idle_before_close_ms: rec.idle_before_close_ms,
            client_wanted_keep_alive: http
                .last
                .is_some_and(|l| !l.req_close && (l.req_minor >= 1 || l.req_keep_alive)),
            in_flight_at_close: http.at_close.map_or(0, |a| a.in_flight),
            last_response_end: http.last_response_end(),
            software: http.software,
        };
        self.events.payloads.push(Payload::Ended(facts));
        self.push(frame, conn.id, Event::Ended);
        if self.cfg.records != Records::None {
            self.push(frame, conn.id, Event::Connection(Box::new(rec)));
        }
    }
}

/// The aggregates of every worker, merged.
#[derive(Default)]
pub struct Aggregate {
    totals: Totals,
    servers: BTreeMap<Endpoint, ServerAgg>,
}

impl Aggregate {
    pub fn add(&mut self, d: Delta) {
        self.totals.merge(&d.totals);
        for (ep, agg) in d.servers {
            match self.servers.get_mut(&ep) {
                Some(a) => a.merge(&agg),
                None => {
                    self.servers.insert(ep, agg);
                }
            }
        }
    }

    /// The report as the aggregates stand (without connection records). `last`: every event
    /// is in (the replay's TIME_WAIT peaks are final).
    pub fn report(&self, inputs: &Inputs, replay: &mut Replay, last: bool) -> Report {
        let mut servers: Vec<ServerOut> = self.servers.values().map(ServerAgg::out).collect();
        servers.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(b.connections.cmp(&a.connections))
                .then_with(|| a.server.cmp(&b.server))
        });
        let peaks = if last {
            replay.time_wait.peaks()
        } else {
            replay.time_wait.peaks_so_far()
        };
        let summary = self.totals.summary(inputs, replay.peak_open, peaks);
        let (findings, chains) = replay.findings.report(
            &servers,
            &summary.time_wait_peak,
            summary.time_wait_seconds,
            summary.duration,
        );
        let costs = replay.findings.costs(&servers);
        Report {
            summary,
            servers,
            findings,
            chains,
            costs,
            connections: Vec::new(),
        }
    }
}

/// Everything the report needs besides the aggregates.
pub struct Inputs {
    pub cfg: Config,
    pub files: Vec<String>,
    pub damage: Vec<String>,
    pub frames: FrameStats,
    pub table: TableStats,
}

/// Running counts of what the replay saw, for rates between two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub opened: u64,
    pub closed: u64,
    pub requests: u64,
    /// Requests that were the first on a connection whose handshake was seen.
    pub first_requests: u64,
}

/// The consumer of every worker's events in capture order.
pub struct Replay {
    cfg: Config,
    pub seen: Seen,
    open: i64,
    peak_open: u64,
    time_wait: TimeWait,
    pub intervals: Intervals,
    /// When the TIME_WAIT gauge is next taken.
    next_gauge: i64,
    findings: findings::Findings,
    kept: Vec<ConnRecord>,
    kept_exchanges: FxHashMap<u64, Vec<RequestRecord>>,
}

impl Replay {
    pub fn new(cfg: Config) -> Replay {
        Replay {
            cfg,
            seen: Seen::default(),
            open: 0,
            peak_open: 0,
            time_wait: TimeWait::new(cfg.time_wait_secs),
            intervals: Intervals::new(cfg.interval_secs),
            next_gauge: i64::MIN,
            findings: findings::Findings::default(),
            kept: Vec::new(),
            kept_exchanges: FxHashMap::default(),
        }
    }

    pub fn open_now(&self) -> u64 {
        self.open.max(0) as u64
    }

    /// Sockets in TIME_WAIT at `at`, per side (client, server).
    pub fn time_wait_at(&mut self, at: Timestamp) -> (u64, u64) {
        self.time_wait.held_at(at)
    }

    /// Takes the next event in capture order (with its payload, for an
    /// [`Event::Exchange`] or an [`Event::Ended`]); records go to `out`.
    pub fn apply(
        &mut self,
        ev: Stamped,
        payload: Option<Payload>,
        out: &mut dyn Output,
    ) -> io::Result<()> {
        match ev.event {
            Event::Opened {
                at,
                client,
                server,
                handshake,
            } => {
                self.findings.opened(at, client, server, handshake);
                self.seen.opened += 1;
                self.open += 1;
                self.peak_open = self.peak_open.max(self.open_now());
                self.intervals.opened(at, self.open_now());
            }
            Event::Closed {
                at,
                client,
                server,
                server_idle,
            } => {
                self.findings.closed(at, server_idle, client, server);
                self.seen.closed += 1;
                self.open -= 1;
                self.intervals.closed(at, self.open_now());
            }
            Event::TimeWait { host, side, at } => {
                self.time_wait.add(host, side, at);
                // The gauge a few times per interval: counting costs the events in the
                // reorder window.
                if at.0 >= self.next_gauge {
                    let held = self.time_wait.held_at(at);
                    self.intervals.time_wait(at, held);
                    let step = (self.intervals.width_secs() * 0.25e9) as i64;
                    self.next_gauge = at.0.saturating_add(step.max(1));
                }
            }
            Event::Ended => {
                if let Some(Payload::Ended(facts)) = payload {
                    self.findings.ended(&facts);
                }
            }
            Event::Exchange => {
                let Some(Payload::Exchange(ex)) = payload else {
                    return Ok(());
                };
                self.findings.exchange(&ex);
                self.seen.requests += 1;
                self.seen.first_requests += u64::from(!ex.reused());
                self.intervals
                    .request(ex.exchange.request_start, ex.reused());
                if self.cfg.requests && self.cfg.records != Records::None {
                    let rec = RequestRecord::build(ex);
                    if self.cfg.records == Records::Keep {
                        self.kept_exchanges
                            .entry(rec.connection)
                            .or_default()
                            .push(rec);
                    } else {
                        out.request(&rec)?;
                    }
                }
            }
            Event::Connection(rec) => {
                if self.cfg.records == Records::Keep {
                    self.kept.push(*rec);
                } else {
                    out.connection(&rec)?;
                }
            }
        }
        Ok(())
    }

    /// The records kept for one document, by connection id, with their exchanges.
    pub fn take_connections(&mut self) -> Vec<ConnRecord> {
        let mut connections = std::mem::take(&mut self.kept);
        connections.sort_by_key(|c: &ConnRecord| c.id);
        for c in &mut connections {
            if let Some(mut ex) = self.kept_exchanges.remove(&c.id) {
                ex.sort_by_key(|e| e.index);
                c.exchanges = Some(ex);
            } else if self.cfg.requests {
                c.exchanges = Some(Vec::new());
            }
        }
        connections
    }
}

/// Counts by name, for close reasons and protocols.
pub(crate) fn bump(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
    *map.entry(key).or_insert(0) += 1;
}

pub(crate) fn merge_counts(
    into: &mut BTreeMap<&'static str, u64>,
    from: &BTreeMap<&'static str, u64>,
) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

pub(crate) fn merge_errors(map: &mut BTreeMap<&'static str, u64>, errors: &ErrorCounts) {
    for (e, n) in errors.iter() {
        *map.entry(e.name()).or_insert(0) += u64::from(n);
    }
}
