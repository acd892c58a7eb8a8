//! Peak TIME_WAIT sockets per host: each active close holds a socket in TIME_WAIT for
//! `--time-wait` seconds from the moment the connection finished closing.
//!
//! Connections reach the analysis up to the flow table's linger time after they close, and
//! not quite in closing order, so events wait in a heap until the capture clock has moved
//! past that window; then they are replayed in time order, which makes the peak exact.
//! Memory is bounded by the sockets in TIME_WAIT at one time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::time::Timestamp;

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
    pending: BinaryHeap<Reverse<(i64, IpAddr)>>,
    hosts: FxHashMap<IpAddr, Host>,
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
            hosts: FxHashMap::default(),
        }
    }

    /// `host` entered TIME_WAIT at `at`.
    pub fn add(&mut self, host: IpAddr, at: Timestamp) {
        self.pending.push(Reverse((at.0, host)));
    }

    /// Replays events that started at or before `upto`; no event earlier than that can
    /// arrive any more.
    pub fn advance(&mut self, upto: Timestamp) {
        while let Some(&Reverse((start, host))) = self.pending.peek() {
            if start > upto.0 {
                break;
            }
            self.pending.pop();
            let h = self.hosts.entry(host).or_default();
            while h.active.peek().is_some_and(|&Reverse(exp)| exp <= start) {
                h.active.pop();
            }
            h.active
                .push(Reverse(start.saturating_add(self.hold_nanos)));
            h.total += 1;
            let n = h.active.len() as u64;
            if n > h.peak {
                h.peak = n;
                h.peak_at = start;
            }
        }
    }

    /// Hosts by peak, highest first.
    pub fn peaks(&mut self) -> Vec<HostPeak> {
        self.advance(Timestamp(i64::MAX));
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
            tw.add(a, s(t));
        }
        tw.add(b, s(5.0));
        let p = tw.peaks();
        assert_eq!(p[0].host, "10.0.0.1");
        assert_eq!(p[0].peak, 4);
        assert_eq!(p[0].at, 61.0);
        assert_eq!(p[0].total, 5);
        assert_eq!(p[1].peak, 1);
    }
}
