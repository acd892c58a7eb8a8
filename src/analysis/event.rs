//! What a worker's reducer hands on for analyses across connections: compact events stamped
//! with the frame number that caused them, so that the engine can release every worker's
//! events in one capture order (see `engine::watermark`), whatever the number of workers.

use std::net::IpAddr;

use super::record::{Close, ConnRecord, Side};
use crate::decode::Endpoint;
use crate::proto::http1::Exchange;
use crate::proto::{CloseReason, Software};
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
    /// A connection's first packet (`handshake`: its SYN), or a connection revived (its RST
    /// was ignored; `handshake` false).
    Opened {
        at: Timestamp,
        client: IpAddr,
        server: Endpoint,
        handshake: bool,
    },
    /// A connection closed (both FINs or a RST), or left the table before closing.
    /// `server_idle`: the server closed it with nothing in flight after answering: when its
    /// last response ended.
    Closed {
        at: Timestamp,
        client: IpAddr,
        server: Endpoint,
        server_idle: Option<Timestamp>,
    },
    /// `host`, the `side` that closed first, entered TIME_WAIT at `at`.
    TimeWait {
        host: IpAddr,
        side: Side,
        at: Timestamp,
    },
    /// A request and its response (or the end of the connection without one). The exchange
    /// itself ([`ExchangeEvent`], a few hundred bytes with its method, target and Host
    /// inline) travels beside the events as a [`Payload`], in order, so that the other
    /// events stay small and no exchange needs an allocation of its own.
    Exchange,
    /// A connection left the flow table; its facts ([`ConnFacts`]) travel as a payload.
    Ended,
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

/// What an [`Event::Exchange`] or [`Event::Ended`] carries.
#[derive(Debug)]
pub enum Payload {
    Exchange(ExchangeEvent),
    Ended(ConnFacts),
}

impl Event {
    /// Whether the event's payload travels beside it.
    pub fn has_payload(&self) -> bool {
        matches!(self, Event::Exchange | Event::Ended)
    }
}

/// What analyses across connections need of a finished connection, without allocation.
#[derive(Clone, Copy, Debug)]
pub struct ConnFacts {
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub start: Timestamp,
    pub end: Timestamp,
    pub handshake: bool,
    pub handshake_rtt_ms: Option<f64>,
    pub requests: u64,
    pub responses: u64,
    pub closed_by: Option<Side>,
    pub close: Close,
    pub reason: CloseReason,
    /// When each side's FIN was seen (client, server).
    pub fin: [Option<Timestamp>; 2],
    /// `Keep-Alive: timeout=, max=` as the server last advertised them.
    pub keep_alive: Option<(Option<u32>, Option<u32>)>,
    /// Idle time between the last response and the first FIN, when nothing was in flight.
    pub idle_before_close_ms: Option<f64>,
    /// The client's last request asked to keep the connection (HTTP/1.1 without close, or
    /// 1.0 with keep-alive).
    pub client_wanted_keep_alive: bool,
    /// Requests in flight when the close began.
    pub in_flight_at_close: u32,
    pub last_response_end: Option<Timestamp>,
    /// The server software its responses named.
    pub software: Option<Software>,
}

/// A worker's events since it last handed them over, and the payloads of those that have
/// one, in the same order.
#[derive(Debug, Default)]
pub struct Events {
    pub events: Vec<Stamped>,
    pub payloads: Vec<Payload>,
}

#[cfg(test)]
mod tests {
    /// Events wait in queues and in the watermark by the thousand: keep them small.
    #[test]
    fn events_are_small() {
        assert!(std::mem::size_of::<super::Stamped>() <= 96);
    }
}
