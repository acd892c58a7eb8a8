//! Figures per interval of capture time: what a live view prints every second and what a time
//! cursor over a saved capture shows. Fed by the ordered event replay, so the same capture
//! gives the same buckets whatever the number of workers.
//!
//! Memory is bounded: past [`MAX_BUCKETS`] buckets, neighbours are merged two by two and the
//! width doubles, so a long capture keeps coarser buckets rather than more of them.

use std::collections::VecDeque;

use serde::Serialize;

use crate::time::Timestamp;

pub const MAX_BUCKETS: usize = 4096;

/// One interval's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the interval (capture time).
    #[serde(skip)]
    pub start: Timestamp,
    pub new_connections: u64,
    pub closed_connections: u64,
    pub requests: u64,
    /// Requests that were the first on a connection whose handshake was seen.
    pub first_requests: u64,
    /// Connections open, and sockets in TIME_WAIT per side, when the interval ended (or now,
    /// for the interval in progress).
    pub open: u64,
    pub time_wait_client: u64,
    pub time_wait_server: u64,
}

impl Bucket {
    /// Share of the interval's requests that did not pay for a new connection.
    pub fn reuse_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            (self.requests - self.first_requests) as f64 / self.requests as f64
        }
    }

    fn merge(&mut self, later: &Bucket) {
        self.new_connections += later.new_connections;
        self.closed_connections += later.closed_connections;
        self.requests += later.requests;
        self.first_requests += later.first_requests;
        self.open = later.open;
        self.time_wait_client = later.time_wait_client;
        self.time_wait_server = later.time_wait_server;
    }
}

#[derive(Clone, Debug)]
pub struct Intervals {
    width: i64,
    buckets: VecDeque<Bucket>,
}

impl Intervals {
    /// Buckets `width_secs` wide (at least a millisecond).
    pub fn new(width_secs: f64) -> Intervals {
        Intervals {
            width: ((width_secs * 1e9) as i64).max(1_000_000),
            buckets: VecDeque::new(),
        }
    }

    pub fn width_secs(&self) -> f64 {
        self.width as f64 / 1e9
    }

    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter()
    }

    /// The bucket covering `at`, opened (with the gauges of the one before) if needed. Times
    /// before the first bucket count in the first; a clock that steps back counts in the
    /// latest bucket.
    fn at(&mut self, at: Timestamp) -> &mut Bucket {
        let Some(last) = self.buckets.back() else {
            self.buckets.push_back(Bucket {
                start: Timestamp(at.0 - at.0.rem_euclid(self.width)),
                ..Bucket::default()
            });
            return self.buckets.back_mut().expect("just pushed");
        };
        let end = last.start.0.saturating_add(self.width);
        if at.0 >= end {
            let gauges = *last;
            let start = Timestamp(at.0 - at.0.rem_euclid(self.width));
            self.buckets.push_back(Bucket {
                start,
                open: gauges.open,
                time_wait_client: gauges.time_wait_client,
                time_wait_server: gauges.time_wait_server,
                ..Bucket::default()
            });
            if self.buckets.len() > MAX_BUCKETS {
                self.coarsen();
            }
        }
        self.buckets.back_mut().expect("not empty")
    }

    fn coarsen(&mut self) {
        self.width = self.width.saturating_mul(2);
        let old = std::mem::take(&mut self.buckets);
        for b in old {
            let start = Timestamp(b.start.0 - b.start.0.rem_euclid(self.width));
            match self.buckets.back_mut() {
                Some(last) if last.start == start => last.merge(&b),
                _ => self.buckets.push_back(Bucket { start, ..b }),
            }
        }
    }

    pub fn opened(&mut self, at: Timestamp, open_now: u64) {
        let b = self.at(at);
        b.new_connections += 1;
        b.open = open_now;
    }

    pub fn closed(&mut self, at: Timestamp, open_now: u64) {
        let b = self.at(at);
        b.closed_connections += 1;
        b.open = open_now;
    }

    pub fn request(&mut self, at: Timestamp, reused: bool) {
        let b = self.at(at);
        b.requests += 1;
        b.first_requests += u64::from(!reused);
    }

    pub fn time_wait(&mut self, at: Timestamp, held: (u64, u64)) {
        let b = self.at(at);
        (b.time_wait_client, b.time_wait_server) = held;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Timestamp {
        Timestamp((secs * 1e9) as i64)
    }

    #[test]
    fn events_land_in_their_interval_and_gauges_carry_over() {
        let mut iv = Intervals::new(1.0);
        iv.opened(s(10.2), 1);
        iv.request(s(10.3), false);
        iv.request(s(10.9), true);
        iv.opened(s(12.5), 2);
        let b: Vec<Bucket> = iv.buckets().copied().collect();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].start, s(10.0));
        assert_eq!((b[0].new_connections, b[0].requests), (1, 2));
        assert_eq!(b[0].reuse_ratio(), 0.5);
        assert_eq!((b[1].start, b[1].open), (s(12.0), 2));
    }

    #[test]
    fn long_captures_coarsen_instead_of_growing() {
        let mut iv = Intervals::new(1.0);
        for i in 0..(3 * MAX_BUCKETS as i64) {
            iv.request(Timestamp(i * 1_000_000_000), false);
        }
        assert!(iv.buckets().count() <= MAX_BUCKETS);
        assert_eq!(iv.width_secs(), 4.0);
        assert_eq!(
            iv.buckets().map(|b| b.requests).sum::<u64>(),
            3 * MAX_BUCKETS as u64
        );
    }
}
