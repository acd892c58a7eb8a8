//! The flow table: 4-tuple -> connection, with generations.
//!
//! A connection stays in the table while it is open. Once both FINs or a RST were seen it
//! lingers for [`LINGER`] of capture time, so late ACKs and retransmitted FINs still land on
//! it, and then leaves; a SYN with a new ISN on the same 4-tuple ends it at once and starts the
//! next generation. Connections leave through [`FlowEvents::finished`] as they end, so memory
//! is bounded by the connections open at one time, not by the length of the capture.
//!
//! The linger time is also how long a RST has to be shown ignored: traffic that revives the
//! connection (see [`super::reset`]) must come before it runs out, and a connection revived
//! is open again ([`FlowEvents::reopened`]) until it closes again.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::app::StreamApp;
use super::connection::Connection;
use crate::decode::{tcp_flags as f, Endpoint, Segment};
use crate::time::Timestamp;

/// How long a closed connection stays to absorb late packets (capture time): longer than a
/// FIN retransmission timeout, short enough that connection churn does not pile up (the
/// bench capture closes ~3,000 connections a second).
pub const LINGER: i64 = 2_000_000_000;

/// Receives what the table produces.
pub trait FlowEvents<A> {
    /// A connection's first packet (at `conn.first_ts`).
    fn opened(&mut self, _conn: &Connection<A>) {}
    /// A connection closed (both FINs or a RST), or left the table before closing, in frame
    /// number `frame`.
    fn closed(&mut self, _conn: &Connection<A>, _frame: u64) {}
    /// A connection closed by a RST was revived in frame number `frame`: the peers ignored
    /// the RST (see [`super::reset`]). It is open again and will be `closed` again.
    fn reopened(&mut self, _conn: &Connection<A>, _frame: u64) {}
    /// The connection's application decoder has output waiting (`StreamApp::has_output`),
    /// produced by frame number `frame`: take it.
    fn app_output(&mut self, conn: &mut Connection<A>, frame: u64);
    /// A connection left the table, because of frame number `frame` (`u64::MAX` at the end
    /// of the input); its streams and application decoder are finished, and their last
    /// output was taken.
    fn finished(&mut self, conn: Connection<A>, frame: u64);
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Out-of-order bytes held per direction.
    pub held_per_stream: usize,
    /// Out-of-order bytes held by all connections together.
    pub held_total: usize,
    /// Connections tracked at once; past it, half-open ones and then the longest idle are
    /// evicted (finished early, and counted).
    pub max_connections: usize,
    /// An open connection with no packet for this long (capture time) is finished, and
    /// counted (live capture: a peer that vanished must not hold memory for hours).
    pub idle_nanos: Option<i64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            held_per_stream: 4 << 20,
            held_total: 256 << 20,
            max_connections: 500_000,
            idle_nanos: None,
        }
    }
}

/// Direction-independent key: the two endpoints in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey(Endpoint, Endpoint);

impl FlowKey {
    pub fn of(a: Endpoint, b: Endpoint) -> FlowKey {
        if a <= b {
            FlowKey(a, b)
        } else {
            FlowKey(b, a)
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub connections: u64,
    /// Segments on no known connection that could not start one (a lone ACK or RST).
    pub stray_segments: u64,
    /// Connections finished early to stay under `max_connections`, and how many of them
    /// were half-open.
    pub evicted: u64,
    pub evicted_half_open: u64,
    /// Times the total out-of-order limit made a connection give up on its holes.
    pub held_overflows: u64,
    /// Open connections finished by the idle limit.
    pub idle_expired: u64,
    /// Segments whose TCP checksum could be verified (captured whole), and those that were
    /// wrong; IPv4 headers with a wrong checksum. All are used anyway: checksum offload
    /// makes wrong checksums normal on the capturing host's own packets.
    pub checksums_verified: u64,
    pub bad_tcp_checksums: u64,
    pub bad_ip_checksums: u64,
}

impl TableStats {
    pub fn merge(&mut self, o: &TableStats) {
        self.connections += o.connections;
        self.stray_segments += o.stray_segments;
        self.evicted += o.evicted;
        self.evicted_half_open += o.evicted_half_open;
        self.held_overflows += o.held_overflows;
        self.idle_expired += o.idle_expired;
        self.checksums_verified += o.checksums_verified;
        self.bad_tcp_checksums += o.bad_tcp_checksums;
        self.bad_ip_checksums += o.bad_ip_checksums;
    }
}

pub struct FlowTable<A: StreamApp> {
    map: FxHashMap<FlowKey, Connection<A>>,
    /// Closed connections in closing order: (closed at, key, id, frame number of the close).
    closing: VecDeque<(Timestamp, FlowKey, u64, u64)>,
    limits: Limits,
    app: A::Config,
    held_total: usize,
    /// When open connections are next looked at for the idle limit.
    next_idle_scan: i64,
    pub stats: TableStats,
}

impl<A: StreamApp> FlowTable<A> {
    /// `app`: what each connection's application decoder is made from.
    pub fn new(limits: Limits, app: A::Config) -> FlowTable<A> {
        FlowTable {
            map: FxHashMap::default(),
            closing: VecDeque::new(),
            limits,
            app,
            held_total: 0,
            next_idle_scan: i64::MIN,
            stats: TableStats::default(),
        }
    }

    pub fn open_connections(&self) -> usize {
        self.map.len()
    }

    /// Takes one segment, captured at `ts` in frame number `frame`.
    pub fn segment(
        &mut self,
        frame: u64,
        ts: Timestamp,
        seg: &Segment<'_>,
        events: &mut impl FlowEvents<A>,
    ) {
        self.expire(ts, frame, events);
        let mut bad_checksum = seg.bad_ip_checksum;
        self.stats.bad_ip_checksums += u64::from(seg.bad_ip_checksum);
        if let Some(ok) = seg.tcp_checksum_ok() {
            self.stats.checksums_verified += 1;
            self.stats.bad_tcp_checksums += u64::from(!ok);
            bad_checksum |= !ok;
        }
        let key = FlowKey::of(seg.src, seg.dst);
        // Only a SYN can start a new generation: other segments look the key up once.
        let new_generation = seg.has(f::SYN)
            && self.map.get(&key).is_some_and(|conn| {
                if !seg.has(f::ACK) {
                    conn.is_new_syn(seg.seq)
                } else {
                    // A SYN-ACK on a finished connection: its SYN was not captured.
                    conn.closed_at.is_some() && conn.synack.is_none_or(|(isn, _)| isn != seg.seq)
                }
            });
        if new_generation {
            if let Some(old) = self.map.remove(&key) {
                self.held_total -= old.held_bytes();
                if old.closed_at.is_none() {
                    events.closed(&old, frame);
                }
                Self::finish(old, frame, events);
            }
        }
        let conn = match self.map.get_mut(&key) {
            Some(c) => c,
            None => {
                if !(seg.has(f::SYN)
                    || seg.has(f::FIN)
                    || !seg.payload.is_empty()
                    || seg.payload_missing > 0)
                {
                    self.stats.stray_segments += 1;
                    return;
                }
                if self.map.len() >= self.limits.max_connections.max(1) {
                    self.evict(frame, events);
                }
                self.stats.connections += 1;
                let conn = Connection::new(frame, seg, ts, self.app);
                events.opened(&conn);
                self.map.entry(key).or_insert(conn)
            }
        };
        if bad_checksum {
            conn.bad_checksums[conn.side_of(&seg.src)] += 1;
        }
        let was_closed = conn.closed_at.is_some();
        let held_before = conn.held_bytes();
        let revived = conn.segment(seg, ts, self.limits.held_per_stream);
        if revived {
            events.reopened(conn, frame);
        }
        self.held_total = self.held_total + conn.held_bytes() - held_before;
        if self.held_total > self.limits.held_total {
            let held = conn.held_bytes();
            conn.drop_holes();
            self.held_total -= held - conn.held_bytes();
            self.stats.held_overflows += 1;
        }
        if conn.app.has_output() {
            events.app_output(conn, frame);
        }
        if !was_closed || revived {
            if let Some(at) = conn.closed_at {
                conn.app.shrink();
                events.closed(conn, frame);
                self.closing.push_back((at, key, conn.id, frame));
            }
        }
    }

    /// Makes room: finishes the tenth of the table that matters least: half-open connections
    /// first (a SYN flood), then those idle the longest. Batching keeps the cost per new
    /// connection constant.
    fn evict(&mut self, frame: u64, events: &mut impl FlowEvents<A>) {
        let mut order: Vec<(bool, Timestamp, FlowKey)> = self
            .map
            .iter()
            .map(|(k, c)| (!c.half_open(), c.last_ts, *k))
            .collect();
        let n = (order.len() / 10).max(1);
        order.select_nth_unstable(n - 1);
        for &(_, _, key) in &order[..n] {
            if let Some(mut conn) = self.map.remove(&key) {
                self.stats.evicted += 1;
                self.stats.evicted_half_open += u64::from(conn.half_open());
                self.held_total -= conn.held_bytes();
                conn.evicted = true;
                if conn.closed_at.is_none() {
                    events.closed(&conn, frame);
                }
                Self::finish(conn, frame, events);
            }
        }
    }

    /// Finishes connections that closed more than LINGER ago, and open ones silent for longer
    /// than the idle limit (looked for a few times per limit, not on every call). `frame`:
    /// the frame number the caller is at.
    pub fn expire(&mut self, now: Timestamp, frame: u64, events: &mut impl FlowEvents<A>) {
        if let Some(idle) = self.limits.idle_nanos {
            if now.0 >= self.next_idle_scan {
                self.next_idle_scan = now.0.saturating_add((idle / 4).max(1));
                self.expire_idle(now, idle, frame, events);
            }
        }
        while let Some(&(at, key, id, frame)) = self.closing.front() {
            if now.0.saturating_sub(at.0) < LINGER {
                break;
            }
            self.closing.pop_front();
            // Not a later generation, nor a connection revived since (it may have closed
            // again: then a later entry is its own).
            if self
                .map
                .get(&key)
                .is_some_and(|c| c.id == id && c.closed_at == Some(at))
            {
                if let Some(conn) = self.map.remove(&key) {
                    self.held_total -= conn.held_bytes();
                    Self::finish(conn, frame, events);
                }
            }
        }
    }

    #[cold]
    fn expire_idle(
        &mut self,
        now: Timestamp,
        idle: i64,
        frame: u64,
        events: &mut impl FlowEvents<A>,
    ) {
        let mut silent: Vec<(u64, FlowKey)> = self
            .map
            .iter()
            .filter(|(_, c)| c.closed_at.is_none() && now.0.saturating_sub(c.last_ts.0) >= idle)
            .map(|(k, c)| (c.id, *k))
            .collect();
        silent.sort_unstable();
        for (_, key) in silent {
            if let Some(mut conn) = self.map.remove(&key) {
                self.stats.idle_expired += 1;
                self.held_total -= conn.held_bytes();
                conn.idle_expired = true;
                events.closed(&conn, frame);
                Self::finish(conn, frame, events);
            }
        }
    }

    /// End of input: every connection still in the table is finished, oldest first.
    pub fn finish_all(&mut self, events: &mut impl FlowEvents<A>) {
        // Sorted by key, not moved: a connection is a kilobyte.
        let mut order: Vec<(u64, FlowKey)> = self.map.iter().map(|(k, c)| (c.id, *k)).collect();
        order.sort_unstable();
        self.closing.clear();
        self.held_total = 0;
        for (_, key) in order {
            if let Some(c) = self.map.remove(&key) {
                Self::finish(c, u64::MAX, events);
            }
        }
    }

    /// `frame`: the frame number that made the connection leave (`u64::MAX` at the end).
    fn finish(mut conn: Connection<A>, frame: u64, events: &mut impl FlowEvents<A>) {
        conn.finish();
        if conn.app.has_output() {
            events.app_output(&mut conn, frame);
        }
        events.finished(conn, frame);
    }
}
