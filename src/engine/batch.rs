//! What the reading thread hands each worker: a batch of decoded segments whose payloads lie
//! in a memory-mapped file or were copied into the batch, and the shard hash that decides
//! which worker a flow belongs to.

use std::net::IpAddr;

use crate::capture::SharedMap;
use crate::decode::{Endpoint, Segment};
use crate::time::Timestamp;

/// A batch is sent when it holds this many frame bytes or frames.
pub const BATCH_BYTES: usize = 256 * 1024;
pub const BATCH_FRAMES: usize = 1024;

/// The segments one worker is given at a time, decoded. Payloads are read where they lie in a
/// mapped file; from any other input they are copied into `data`.
pub struct Batch {
    pub data: Vec<u8>,
    pub frames: Vec<Meta>,
    /// Every frame of this worker's share up to this number is in this or an earlier batch.
    pub through: u64,
    /// The file being read, when it is mapped, and the offset in it before which none of this
    /// worker's later frames lie: once this batch is done, the worker needs nothing before it.
    pub map: Option<SharedMap>,
    pub upto: usize,
    /// Capture time has reached this instant (a live source's idle tick): the worker ages
    /// its connections to it.
    pub tick: Option<Timestamp>,
    /// The worker hands its aggregates over after this batch.
    pub handover: bool,
    /// A snapshot at this capture time is due: the worker hands its aggregates over and says
    /// so, and the aggregator publishes once every worker has.
    pub publish: Option<Timestamp>,
}

pub struct Meta {
    pub number: u64,
    pub ts: Timestamp,
    /// The segment as the reader decoded it, without its bytes...
    pub seg: Segment<'static>,
    /// ...which are at `start` in the mapped file (`in_map`) or in `data`: the TCP header
    /// (`header` bytes, for the checksum), then the payload (`len` bytes).
    pub in_map: bool,
    pub header: u8,
    pub start: usize,
    pub len: u32,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new()
    }
}

impl Batch {
    pub fn new() -> Batch {
        Batch {
            data: Vec::with_capacity(BATCH_BYTES + 65536),
            frames: Vec::with_capacity(BATCH_FRAMES),
            through: 0,
            map: None,
            upto: 0,
            tick: None,
            handover: false,
            publish: None,
        }
    }
    pub fn full(&self) -> bool {
        self.data.len() >= BATCH_BYTES || self.frames.len() >= BATCH_FRAMES
    }
}

/// The worker a flow belongs to: a hash of its two endpoints that does not depend on their
/// order (so both directions meet), cheap enough for the reading thread.
pub fn shard_of(a: &Endpoint, b: &Endpoint, workers: usize) -> usize {
    fn mix(e: &Endpoint) -> u64 {
        let ip = match e.ip {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let x = u128::from(v6);
                (x as u64) ^ ((x >> 64) as u64).rotate_left(29)
            }
        };
        // MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
        let mut x = ip ^ (u64::from(e.port) << 48);
        x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    ((mix(a) ^ mix(b)) % workers as u64) as usize
}

impl Meta {
    /// The segment, with its header and payload read from `file` (the mapped file) or from
    /// the batch's own bytes.
    #[inline]
    pub fn segment<'a>(&self, file: &'a [u8], data: &'a [u8]) -> Segment<'a> {
        let from = if self.in_map { file } else { data };
        let at = self.start + usize::from(self.header);
        Segment {
            tcp_header: &from[self.start..at],
            payload: &from[at..at + self.len as usize],
            ..self.seg
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Flows that differ only in the client's port (one client, one server: a load test).
    fn ports(i: u32) -> (Endpoint, Endpoint) {
        let client = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 1024 + i as u16,
        };
        let server = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
        };
        (client, server)
    }

    /// Many clients, servers on IPv4 and IPv6.
    fn ends(i: u32) -> (Endpoint, Endpoint) {
        let client = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i % 251))),
            port: 1024 + (i % 60_000) as u16,
        };
        let server = Endpoint {
            ip: if i.is_multiple_of(2) {
                IpAddr::V4(Ipv4Addr::new(10, 1, 0, (i % 7) as u8))
            } else {
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, (i % 7) as u16))
            },
            port: [80, 443, 8080][(i % 3) as usize],
        };
        (client, server)
    }

    /// Both directions of a flow go to one worker, and flows spread evenly over workers.
    #[test]
    fn shards_are_symmetric_and_even() {
        for (workers, make) in [2, 3, 4, 7]
            .into_iter()
            .flat_map(|w| [(w, ports as fn(u32) -> (Endpoint, Endpoint)), (w, ends)])
        {
            let mut per = vec![0u32; workers];
            let flows = 20_000;
            for i in 0..flows {
                let (c, s) = make(i);
                let w = shard_of(&c, &s, workers);
                assert_eq!(w, shard_of(&s, &c, workers));
                per[w] += 1;
            }
            let mean = flows / workers as u32;
            for n in &per {
                assert!(n.abs_diff(mean) * 10 < mean, "{workers} workers: {per:?}");
            }
        }
    }
}
