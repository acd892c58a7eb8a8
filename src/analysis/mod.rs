//! The reducer: connection and exchange events in, records and aggregates out.
//!
//! Flows are sharded across workers by their 4-tuple, so every connection is whole in one
//! [`Shard`]. A shard turns each finished connection and completed exchange into a record
//! (streamed to its [`Output`] at once, so nothing per connection is kept unless a whole
//! document was asked for) and folds it into aggregates of bounded size (counters, HDR
//! histograms). [`merge`] combines the shards exactly: sums, histogram merges, sorted sets;
//! figures that need global time order go through the shared [`sweep::Sweep`]. The result
//! does not depend on the number of workers.

pub mod record;
pub mod summary;
pub mod sweep;
pub mod timewait;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::decode::{Endpoint, Skip, Via};
use crate::flow::table::TableStats;
use crate::flow::{CloseKind, FlowEvents};
use crate::proto::http1::{ErrorCounts, Exchange};
use crate::proto::Conversation;
use crate::time::Timestamp;
pub use record::{Conn, ConnRecord, RequestRecord};
pub use summary::{Report, ServerOut, Summary};
use summary::{ServerAgg, Totals};
use sweep::{Pending, Sweep};

/// Where records go as they are produced.
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

#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// How long an active closer holds TIME_WAIT.
    pub time_wait_secs: f64,
    /// Emit a record per request.
    pub requests: bool,
    /// Keep every connection record for a single document (`--format json`).
    pub keep_connections: bool,
    /// A request head slower than this is reported (slow-headers).
    pub slow_headers_ms: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            time_wait_secs: 60.0,
            requests: false,
            keep_connections: false,
            slow_headers_ms: 1000.0,
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
pub struct Shard<O: Output> {
    cfg: Config,
    index: usize,
    out: O,
    /// The first write error; the worker stops producing records when it is set.
    pub error: Option<io::Error>,
    totals: Totals,
    servers: FxHashMap<Endpoint, ServerAgg>,
    sweep: Arc<Sweep>,
    pending: Pending,
    through: u64,
    kept: Vec<ConnRecord>,
    kept_exchanges: FxHashMap<u64, Vec<RequestRecord>>,
    /// Exchanges taken from a connection, reused (no allocation per request).
    exchanges: Vec<Exchange>,
}

impl<O: Output> Shard<O> {
    pub fn new(cfg: Config, index: usize, sweep: Arc<Sweep>, out: O) -> Shard<O> {
        Shard {
            cfg,
            index,
            out,
            error: None,
            totals: Totals::default(),
            servers: FxHashMap::default(),
            sweep,
            pending: Pending::default(),
            through: 0,
            kept: Vec::new(),
            kept_exchanges: FxHashMap::default(),
            exchanges: Vec::new(),
        }
    }

    /// The worker processed every frame of its share up to number `through`.
    pub fn sync(&mut self, through: u64) {
        self.through = self.through.max(through);
        self.sweep
            .sync(self.index, self.through, false, &mut self.pending);
    }

    /// The worker is done (its flow table finished every connection).
    pub fn done(&mut self) {
        self.sweep
            .sync(self.index, self.through, true, &mut self.pending);
    }

    fn write(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }
}

impl<O: Output> FlowEvents<Conversation> for Shard<O> {
    fn opened(&mut self, conn: &Conn) {
        self.pending.opened(conn.id);
    }

    fn reopened(&mut self, _conn: &Conn, frame: u64) {
        // Counted as closed from the RST to here: the RST looked like the end until now.
        self.pending.opened(frame);
    }

    fn closed(&mut self, conn: &Conn, frame: u64) {
        self.pending.closed(frame);
        // The active closer enters TIME_WAIT when the close completes: first FIN, both FINs.
        if let (Some((side, CloseKind::Fin, _)), Some(t0), Some(t1)) =
            (conn.first_close, conn.fin[0], conn.fin[1])
        {
            self.pending
                .time_wait(frame, conn.ends[side].ip, t0.max(t1));
        }
    }

    fn app_output(&mut self, conn: &mut Conn, _frame: u64) {
        let server = conn.ends[1 - conn.client_side()];
        let mut exchanges = std::mem::take(&mut self.exchanges);
        conn.app.take_exchanges(|ex| exchanges.push(ex));
        for ex in exchanges.drain(..) {
            if let Some(start) = ex.response_start {
                let us =
                    (i128::from(start.0) - i128::from(ex.request_start.0)).max(0) as u64 / 1000;
                let agg = self
                    .servers
                    .entry(server)
                    .or_insert_with(|| ServerAgg::new(server));
                if record::reused(conn, ex.index) {
                    agg.ttfb_reused.record(us);
                } else {
                    agg.ttfb_new.record(us);
                }
            }
            if self.cfg.requests && self.error.is_none() {
                let rec = RequestRecord::build(conn, ex);
                if self.cfg.keep_connections {
                    self.kept_exchanges
                        .entry(rec.connection)
                        .or_default()
                        .push(rec);
                } else {
                    let r = self.out.request(&rec);
                    self.write(r);
                }
            }
        }
        self.exchanges = exchanges;
    }

    fn finished(&mut self, conn: Conn) {
        let rec = ConnRecord::build(&conn, self.cfg.slow_headers_ms);
        let server = conn.ends[1 - conn.client_side()];
        self.totals.add(&rec, &conn.app.http1().stats.errors);
        self.servers
            .entry(server)
            .or_insert_with(|| ServerAgg::new(server))
            .add(&rec);
        if self.cfg.keep_connections {
            self.kept.push(rec);
        } else if self.error.is_none() {
            let r = self.out.connection(&rec);
            self.write(r);
        }
    }
}

/// Everything the merge needs besides the shards.
pub struct Inputs {
    pub cfg: Config,
    pub files: Vec<String>,
    pub damage: Vec<String>,
    pub frames: FrameStats,
    pub tables: Vec<TableStats>,
}

/// Combines the shards into one report; returns the shards' outputs in worker order.
pub fn merge<O: Output>(inputs: Inputs, shards: Vec<Shard<O>>, sweep: &Sweep) -> (Report, Vec<O>) {
    let mut totals = Totals::default();
    let mut servers: BTreeMap<Endpoint, ServerAgg> = BTreeMap::new();
    let mut connections = Vec::new();
    let mut exchanges: FxHashMap<u64, Vec<RequestRecord>> = FxHashMap::default();
    let mut outputs = Vec::with_capacity(shards.len());
    for shard in shards {
        totals.merge(&shard.totals);
        for (ep, agg) in shard.servers {
            match servers.get_mut(&ep) {
                Some(a) => a.merge(&agg),
                None => {
                    servers.insert(ep, agg);
                }
            }
        }
        connections.extend(shard.kept);
        exchanges.extend(shard.kept_exchanges);
        outputs.push(shard.out);
    }
    let mut table = TableStats::default();
    for t in &inputs.tables {
        table.merge(t);
    }
    let (peak_open, time_wait_peak) = sweep.finish();
    let mut servers: Vec<ServerOut> = servers.values().map(ServerAgg::out).collect();
    servers.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then(b.connections.cmp(&a.connections))
            .then_with(|| a.server.cmp(&b.server))
    });
    let summary = totals.summary(&inputs, &table, peak_open, time_wait_peak);
    connections.sort_by_key(|c: &ConnRecord| c.id);
    for c in &mut connections {
        if let Some(mut ex) = exchanges.remove(&c.id) {
            ex.sort_by_key(|e| e.index);
            c.exchanges = Some(ex);
        } else if inputs.cfg.requests {
            c.exchanges = Some(Vec::new());
        }
    }
    (
        Report {
            summary,
            servers,
            connections,
        },
        outputs,
    )
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
