//! What a session reports: its exchanges, the last one's shape, idle times, and counts.

use super::*;
use crate::proto::RequestKey;

/// A request and its response (if one came).
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    /// 0 for the connection's first request.
    pub index: u32,
    /// Method, target and Host, always, inline (see [`RequestKey`]).
    pub key: RequestKey,
    /// Method, target and Host whole: filled only when per-request detail was asked for.
    pub method: String,
    pub target: String,
    pub host: Option<String>,
    /// HTTP minor version of the request.
    pub minor: u8,
    pub request_start: Timestamp,
    /// First byte of the final response's head, and the end of its body.
    pub response_start: Option<Timestamp>,
    pub response_end: Option<Timestamp>,
    pub status: Option<u16>,
    /// 1xx responses before the final one (100 Continue, 103 Early Hints).
    pub informational: u8,
    /// The response was framed to its end.
    pub complete: bool,
}

/// Persistence as the last exchange left it; decides the close reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastExchange {
    pub req_close: bool,
    pub req_keep_alive: bool,
    pub req_minor: u8,
    pub answered: bool,
    pub resp_close: bool,
    pub resp_keep_alive: bool,
    pub resp_minor: u8,
    pub close_delimited: bool,
    pub status: u16,
}

impl LastExchange {
    /// HTTP/1.0 on either side without keep-alive (RFC 9112 section 9.3).
    pub fn http10_no_keep_alive(&self) -> bool {
        (self.req_minor == 0 && !self.req_keep_alive)
            || (self.answered && self.resp_minor == 0 && !self.resp_keep_alive)
    }
}

/// Think time between a response's end and the next request on the same connection.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IdleStats {
    pub count: u32,
    pub min_ms: f64,
    pub max_ms: f64,
    pub sum_ms: f64,
}

impl IdleStats {
    pub(super) fn add(&mut self, ms: f64) {
        if self.count == 0 || ms < self.min_ms {
            self.min_ms = ms;
        }
        if ms > self.max_ms {
            self.max_ms = ms;
        }
        self.sum_ms += ms;
        self.count += 1;
    }
}

/// The HTTP state at the moment the first FIN or RST was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CloseContext {
    /// Requests sent but not yet (fully) answered.
    pub in_flight: u32,
    /// Time since the last response ended, when nothing was in flight.
    pub idle_ms: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionStats {
    pub requests: u64,
    /// Final responses (1xx not included).
    pub responses: u64,
    pub informational: u32,
    pub unanswered: u32,
    pub resyncs: u32,
    pub errors: ErrorCounts,
    /// The longest a request head took from its first byte to its end (or, unfinished, to
    /// the connection's close): the slowloris shape.
    pub slowest_request_head_ms: f64,
}
