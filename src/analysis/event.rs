//! What a worker's reducer hands on for analyses across connections: compact events stamped
//! with the frame number that caused them, so that the engine can release every worker's
//! events in one capture order (see `engine::watermark`), whatever the number of workers.

use std::net::IpAddr;

use super::record::{ConnRecord, Side};
use crate::decode::Endpoint;
use crate::proto::http1::Exchange;
use crate::time::Timestamp;

/// An event and its place in capture order: the frame number that caused it, then the
/// connection it is about, then the order in which its worker produced it.
#[derive(Debug)]
pub struct Stamped {
    pub frame: u64,
    pub connection: u64,
    pub seq: u64,
    pub event: Event,
}

impl Stamped {
    pub fn key(&self) -> (u64, u64, u64) {
        (self.frame, self.connection, self.seq)
    }
}

#[derive(Debug)]
pub enum Event {
    /// A connection's first packet, or a connection revived (its RST was ignored).
    Opened { at: Timestamp },
    /// A connection closed (both FINs or a RST), or left the table before closing.
    Closed { at: Timestamp },
    /// `host`, the `side` that closed first, entered TIME_WAIT at `at`.
    TimeWait {
        host: IpAddr,
        side: Side,
        at: Timestamp,
    },
    /// A request and its response (or the end of the connection without one). The exchange
    /// itself ([`ExchangeEvent`], a few hundred bytes with its method, target and Host
    /// inline) travels beside the events, in order, so that the other events stay small
    /// and no exchange needs an allocation of its own.
    Exchange,
    /// A connection's record, when records were asked for (`Config::records`).
    Connection(Box<ConnRecord>),
}

/// One exchange, always with what identifies the request (method, target, Host), so that
/// analyses across connections (proxy hops, races) need no per-request option.
#[derive(Debug)]
pub struct ExchangeEvent {
    pub connection: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    /// The connection's handshake was seen (for the reuse rule of its first request).
    pub handshake: bool,
    pub exchange: Exchange,
}

impl ExchangeEvent {
    /// Not the connection's first request, or on a connection picked up mid-stream.
    pub fn reused(&self) -> bool {
        super::record::reused(self.exchange.index, self.handshake)
    }
}

/// A worker's events since it last handed them over, and the exchanges of its
/// [`Event::Exchange`] events in the same order.
#[derive(Debug, Default)]
pub struct Events {
    pub events: Vec<Stamped>,
    pub exchanges: Vec<ExchangeEvent>,
}

#[cfg(test)]
mod tests {
    /// Events wait in queues and in the watermark by the thousand: keep them small.
    #[test]
    fn events_are_small() {
        assert!(std::mem::size_of::<super::Stamped>() <= 64);
    }
}
