//! TIME_WAIT sockets: each active close holds a socket in TIME_WAIT for `--time-wait` seconds
//! from the moment the connection finished closing. Kept: the peak per host (exact) and the
//! sockets held right now by each side (for interval figures).
//!
//! Events come in capture order (the engine's watermark releases them so), which is time
//! order except where the capture's clock steps back. They wait in a small heap until the
//! newest time seen is [`REORDER_WINDOW`] past them, and are replayed in time order from
//! there, so a peak is exact for timestamps disordered by less than that. Expired sockets
//! leave as time moves on. Memory is bounded by the sockets in TIME_WAIT at one time, not by
//! the length of the capture.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::record::Side;
use crate::time::Timestamp;

/// How far back in time an event may arrive and still be replayed in time order.
pub const REORDER_WINDOW: i64 = 10_000_000_000;

#[derive(Default)]
struct Host {
    /// Expiry times of this host's sockets in TIME_WAIT.
    active: BinaryHeap<Reverse<i64>>,
    peak: u64,
    peak_at: i64,
    total: u64,
}

pub struct TimeWait {
    hold_nanos: i64,
    /// Start times not yet replayed.
    pending: BinaryHeap<Reverse<(i64, IpAddr, Side)>>,
    newest: i64,
    hosts: FxHashMap<IpAddr, Host>,
    /// Expiry times of the sockets each side holds (client, server).
    held: [BinaryHeap<Reverse<i64>>; 2],
}

#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct HostPeak {
    pub host: String,
    pub peak: u64,
    /// When the peak was first reached (seconds since the epoch).
    pub at: f64,
    /// Connections this host closed first.
    pub total: u64,
}

impl TimeWait {
    pub fn new(hold_secs: f64) -> TimeWait {
        TimeWait {
            hold_nanos: (hold_secs * 1e9) as i64,
            pending: BinaryHeap::new(),
            newest: i64::MIN,
            hosts: FxHashMap::default(),
            held: Default::default(),
        }
    }

    /// `host`, the `side` that closed first, entered TIME_WAIT at `at`.
    pub fn add(&mut self, host: IpAddr, side: Side, at: Timestamp) {
        self.pending.push(Reverse((at.0, host, side)));
        self.newest = self.newest.max(at.0);
        self.replay(self.newest.saturating_sub(REORDER_WINDOW));
    }

    /// Sockets in TIME_WAIT at `now` on each side (client, server), as far as events up to
    /// `now` are known. Events still waiting to be replayed are counted without being
    /// replayed: that would put later, earlier-stamped events out of order.
    pub fn held_at(&mut self, now: Timestamp) -> (u64, u64) {
        let mut n = [0u64; 2];
        for (h, n) in self.held.iter_mut().zip(n.iter_mut()) {
            while h.peek().is_some_and(|&Reverse(exp)| exp <= now.0) {
                h.pop();
            }
            *n = h.len() as u64;
        }
        for &Reverse((start, _, side)) in self.pending.iter() {
            if start <= now.0 && start.saturating_add(self.hold_nanos) > now.0 {
                n[usize::from(side == Side::Server)] += 1;
            }
        }
        (n[0], n[1])
    }

    /// Replays events that started at or before `upto`.
    fn replay(&mut self, upto: i64) {
        while let Some(&Reverse((start, host, side))) = self.pending.peek() {
            if start > upto {
                break;
            }
            self.pending.pop();
            let h = self.hosts.entry(host).or_default();
            while h.active.peek().is_some_and(|&Reverse(exp)| exp <= start) {
                h.active.pop();
            }
            let expiry = start.saturating_add(self.hold_nanos);
            h.active.push(Reverse(expiry));
            h.total += 1;
            let n = h.active.len() as u64;
            if n > h.peak {
                h.peak = n;
                h.peak_at = start;
            }
            let held = &mut self.held[usize::from(side == Side::Server)];
            while held.peek().is_some_and(|&Reverse(exp)| exp <= start) {
                held.pop();
            }
            held.push(Reverse(expiry));
        }
    }

    /// Hosts by peak, highest first, once every event is in.
    pub fn peaks(&mut self) -> Vec<HostPeak> {
        self.replay(i64::MAX);
        self.peaks_so_far()
    }

    /// Hosts by peak, highest first, from the events replayed so far.
    pub fn peaks_so_far(&self) -> Vec<HostPeak> {
        let mut v: Vec<HostPeak> = self
            .hosts
            .iter()
            .map(|(ip, h)| HostPeak {
                host: ip.to_string(),
                peak: h.peak,
                at: Timestamp(h.peak_at).as_secs_f64(),
                total: h.total,
            })
            .collect();
        v.sort_by(|a, b| b.peak.cmp(&a.peak).then_with(|| a.host.cmp(&b.host)));
        v
    }

    /// Sockets whose state is kept: pending events and every host's live sockets.
    pub fn tracked(&self) -> usize {
        self.pending.len() + self.hosts.values().map(|h| h.active.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Timestamp {
        Timestamp((secs * 1e9) as i64)
    }

    #[test]
    fn peak_is_exact_for_out_of_order_events() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut tw = TimeWait::new(60.0);
        // Arrive out of order. Expiries 60, 90, 119.5: 3 at t=59.5; the first expires at
        // t=60 as the fourth starts (still 3); at t=61 four are held.
        for t in [30.0, 0.0, 59.5, 60.0, 61.0] {
            tw.add(a, Side::Client, s(t));
        }
        tw.add(b, Side::Server, s(5.0));
        let p = tw.peaks();
        assert_eq!(p[0].host, "10.0.0.1");
        assert_eq!(p[0].peak, 4);
        assert_eq!(p[0].at, 61.0);
        assert_eq!(p[0].total, 5);
        assert_eq!(p[1].peak, 1);
    }

    /// A million closes over 10,000 s, 60 s hold: what is kept stays near the 6,000 sockets
    /// in TIME_WAIT at once (plus the reorder window's events), however long the run.
    #[test]
    fn memory_follows_sockets_held_not_closes_seen() {
        let mut tw = TimeWait::new(60.0);
        let host: IpAddr = "10.0.0.1".parse().unwrap();
        let mut most = 0;
        for i in 0..1_000_000i64 {
            tw.add(host, Side::Client, Timestamp(i * 10_000_000));
            most = most.max(tw.tracked());
        }
        assert!(most <= 6_000 + 1_000 + 2, "{most} tracked");
        let (client, server) = tw.held_at(Timestamp(999_999 * 10_000_000));
        assert_eq!((client, server), (6_000, 0));
        // The same from events still in the reorder window.
        let mut fresh = TimeWait::new(60.0);
        for i in 0..100i64 {
            fresh.add(host, Side::Server, Timestamp(i * 10_000_000));
        }
        assert_eq!(fresh.held_at(Timestamp(99 * 10_000_000)), (0, 100));
        assert_eq!(tw.peaks()[0].peak, 6_000);
    }
}
