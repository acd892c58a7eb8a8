//! The reducer: connection and exchange events in, records and aggregates out.
//!
//! [`Analyzer`] receives finished connections and completed exchanges from the flow table,
//! turns each into a record (streamed to an [`Output`] at once, so nothing per connection is
//! kept unless the caller asks for a whole document), and folds it into per-server and
//! capture-wide aggregates of bounded size (histograms, counters).

pub mod record;
pub mod summary;
pub mod timewait;

use std::collections::BTreeMap;
use std::io;

use rustc_hash::FxHashMap;

use crate::capture::Timestamp;
use crate::decode::{Endpoint, Skip};
use crate::flow::{Connection, FlowEvents};
use crate::http::{ErrorCounts, Exchange};
pub use record::{ConnRecord, RequestRecord};
pub use summary::{Report, ServerOut, Summary};
use summary::{ServerAgg, Totals};
use timewait::TimeWait;

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

pub struct Analyzer<O: Output> {
    cfg: Config,
    out: O,
    /// The first write error; the driver stops reading when it is set.
    pub error: Option<io::Error>,
    pub packets: u64,
    pub wire_bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub skipped: Skipped,
    totals: Totals,
    servers: FxHashMap<Endpoint, ServerAgg>,
    time_wait: TimeWait,
    kept: Vec<ConnRecord>,
    kept_exchanges: FxHashMap<u64, Vec<RequestRecord>>,
}

impl<O: Output> Analyzer<O> {
    pub fn new(cfg: Config, out: O) -> Analyzer<O> {
        Analyzer {
            cfg,
            out,
            error: None,
            packets: 0,
            wire_bytes: 0,
            first_ts: None,
            last_ts: None,
            skipped: Skipped::default(),
            totals: Totals::default(),
            servers: FxHashMap::default(),
            time_wait: TimeWait::new(cfg.time_wait_secs),
            kept: Vec::new(),
            kept_exchanges: FxHashMap::default(),
        }
    }

    /// Counts a frame; call for every frame read, before decoding.
    pub fn frame(&mut self, ts: Timestamp, wire_len: u32) {
        self.packets += 1;
        self.wire_bytes += u64::from(wire_len);
        self.first_ts = Some(self.first_ts.map_or(ts, |f| f.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
        // Connections reach us up to LINGER after they close: TIME_WAIT events older than
        // that are complete and can be replayed.
        if self.packets.is_multiple_of(1024) {
            self.time_wait.advance(Timestamp(
                ts.0.saturating_sub(crate::flow::table::LINGER + 1),
            ));
        }
    }

    pub fn skip(&mut self, why: Skip) {
        match why {
            Skip::NotTcp => self.skipped.not_tcp += 1,
            Skip::Fragment => self.skipped.fragments += 1,
            Skip::Truncated => self.skipped.truncated += 1,
            Skip::Malformed => self.skipped.malformed += 1,
        }
    }

    pub fn into_output(self) -> O {
        self.out
    }

    pub fn output(&mut self) -> &mut O {
        &mut self.out
    }

    fn write(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    /// Builds the final report. `table` gives the flow table's counters.
    pub fn report(
        &mut self,
        files: Vec<String>,
        damage: Vec<String>,
        table: &crate::flow::table::TableStats,
    ) -> Report {
        let mut servers: Vec<ServerOut> = self.servers.values().map(ServerAgg::out).collect();
        servers.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(b.connections.cmp(&a.connections))
                .then_with(|| a.server.cmp(&b.server))
        });
        let totals = std::mem::take(&mut self.totals);
        let summary = totals.summary(files, damage, self, table);
        self.totals = totals;
        let mut connections = std::mem::take(&mut self.kept);
        connections.sort_by_key(|c| c.id);
        for c in &mut connections {
            if let Some(mut ex) = self.kept_exchanges.remove(&c.id) {
                ex.sort_by_key(|e| e.index);
                c.exchanges = Some(ex);
            } else if self.cfg.requests {
                c.exchanges = Some(Vec::new());
            }
        }
        Report {
            summary,
            servers,
            connections,
        }
    }

    pub(crate) fn time_wait_peaks(&mut self) -> Vec<timewait::HostPeak> {
        self.time_wait.peaks()
    }

    pub(crate) fn time_wait_secs(&self) -> f64 {
        self.cfg.time_wait_secs
    }
}

impl<O: Output> FlowEvents for Analyzer<O> {
    fn exchange(&mut self, conn: &Connection, ex: Exchange) {
        let server = conn.ends[1 - conn.client_side()];
        let reused = ex.index > 0 || !conn.handshake();
        if let Some(start) = ex.response_start {
            let us = (start.0 - ex.request_start.0).max(0) as u64 / 1000;
            let agg = self
                .servers
                .entry(server)
                .or_insert_with(|| ServerAgg::new(server));
            if reused {
                agg.ttfb_reused.record(us);
            } else {
                agg.ttfb_new.record(us);
            }
        }
        if self.cfg.requests {
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

    fn finished(&mut self, conn: Connection) {
        let rec = ConnRecord::build(&conn, self.cfg.slow_headers_ms);
        let client = conn.client_side();
        let server = conn.ends[1 - client];
        if let (Some(side), Some(t0), Some(t1)) = (rec.time_wait, conn.fin[0], conn.fin[1]) {
            let host = if side == "client" {
                conn.ends[client].ip
            } else {
                server.ip
            };
            self.time_wait.add(host, t0.max(t1));
        }
        self.totals.add(&rec, &conn.http.stats.errors);
        let agg = self
            .servers
            .entry(server)
            .or_insert_with(|| ServerAgg::new(server));
        agg.add(&rec);
        if self.cfg.keep_connections {
            self.kept.push(rec);
        } else {
            let r = self.out.connection(&rec);
            self.write(r);
        }
    }
}

/// Counts by name, for close reasons and protocols.
pub(crate) fn bump(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
    *map.entry(key).or_insert(0) += 1;
}

pub(crate) fn merge_errors(map: &mut BTreeMap<&'static str, u64>, errors: &ErrorCounts) {
    for (e, n) in errors.iter() {
        *map.entry(e.name()).or_insert(0) += u64::from(n);
    }
}
