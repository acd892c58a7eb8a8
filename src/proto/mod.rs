//! Application protocols over reassembled TCP streams. [`Conversation`] is the decoder flow
//! feeds (it implements [`crate::flow::StreamApp`]): it chooses a decoder per connection by
//! content ([`detect`]) and keeps what the analysis reads of it: the protocol, the exchanges
//! completed (taken as events), and why the connection closed in the application's terms.
//!
//! Today HTTP/1.x ([`http1`]) is decoded; a connection that starts with the HTTP/2 preface or
//! a TLS record is labelled and its bytes are no longer looked at. A new protocol is a module
//! here plus a `Decoder` variant; flow and analysis do not change.

pub mod detect;
pub mod http1;
pub mod key;

use serde::Serialize;

use crate::flow::StreamApp;
use crate::time::Timestamp;
use http1::{Exchange, Session, Switch};
pub use key::RequestKey;

/// What a connection carries, as far as connscope can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum Protocol {
    #[serde(rename = "http/1.1")]
    Http11,
    #[serde(rename = "http/1.0")]
    Http10,
    #[serde(rename = "h2")]
    H2,
    #[serde(rename = "tls")]
    Tls,
    #[serde(rename = "unknown")]
    Unknown,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http11 => "http/1.1",
            Protocol::Http10 => "http/1.0",
            Protocol::H2 => "h2",
            Protocol::Tls => "tls",
            Protocol::Unknown => "unknown",
        }
    }
    pub fn is_http1(self) -> bool {
        matches!(self, Protocol::Http11 | Protocol::Http10)
    }
}

/// The server software a response names in its `Server` header, where connscope knows the
/// settings that govern its keep-alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Software {
    Nginx,
    Apache,
    Haproxy,
}

impl Software {
    /// From a `Server` header value (`nginx/1.22.1`, `Apache/2.4.62 (Debian)`, `HAProxy`).
    pub fn from_header(value: &[u8]) -> Option<Software> {
        let v = value.trim_ascii_start();
        let starts = |p: &[u8]| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p);
        if starts(b"nginx") || starts(b"openresty") {
            Some(Software::Nginx)
        } else if starts(b"apache") {
            Some(Software::Apache)
        } else if starts(b"haproxy") {
            Some(Software::Haproxy)
        } else {
            None
        }
    }
}

/// What every connection's decoder is made from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Keep method, target and Host of every request.
    pub detail: bool,
}

/// Which decoder a connection's bytes go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoder {
    /// HTTP/1.x, which also judges a stream's first bytes (see [`detect`]).
    Http1,
    /// Recognised but not decoded: HTTP/2, TLS, or bytes of no known protocol.
    Opaque,
}

/// One connection's application layer.
#[derive(Debug)]
pub struct Conversation {
    decoder: Decoder,
    http1: Session,
}

/// Why a connection ended, in TCP's terms where the application has nothing to say and in
/// the application's terms where it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Still open at the end of the capture.
    Open,
    /// Removed to stay under the connection limit.
    Evicted,
    /// Finished by the idle limit of a live capture: open, but silent for longer.
    IdleLimit,
    /// A SYN nobody answered.
    HalfOpen,
    /// 101 Switching Protocols.
    Upgrade,
    /// A 2xx answer to CONNECT.
    Tunnel,
    Reset,
    /// A request was still unanswered when the close began.
    InFlight,
    NotHttp,
    /// No request at all.
    Unused,
    /// The response's body ran to the close.
    CloseDelimited,
    /// The client's last request said `Connection: close`.
    ClientClose,
    /// HTTP/1.0 without keep-alive.
    Http10,
    /// The server ended a connection the client wanted to keep, after several requests or at
    /// its advertised `Keep-Alive: max`.
    RequestCap,
    /// The server ended a connection the client wanted to keep, after its first request.
    ServerClose,
    /// Nothing said close: one side gave up on an idle connection.
    IdleTimeout,
}

impl CloseReason {
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Open => "open",
            CloseReason::Evicted => "evicted",
            CloseReason::IdleLimit => "idle_limit",
            CloseReason::HalfOpen => "half_open",
            CloseReason::Upgrade => "upgrade",
            CloseReason::Tunnel => "tunnel",
            CloseReason::Reset => "reset",
            CloseReason::InFlight => "in_flight",
            CloseReason::NotHttp => "not_http",
            CloseReason::Unused => "unused",
            CloseReason::CloseDelimited => "close_delimited",
            CloseReason::ClientClose => "client_close",
            CloseReason::Http10 => "http10",
            CloseReason::RequestCap => "request_cap",
            CloseReason::ServerClose => "server_close",
            CloseReason::IdleTimeout => "idle_timeout",
        }
    }
}

impl Conversation {
    pub fn protocol(&self) -> Protocol {
        self.http1.protocol
    }

    /// The HTTP/1.x decoder's state (counts, persistence, idle times).
    pub fn http1(&self) -> &Session {
        &self.http1
    }

    /// Takes the exchanges completed since the last call, in order.
    pub fn take_exchanges(&mut self, mut each: impl FnMut(Exchange)) {
        for ex in self.http1.out.drain(..) {
            each(ex);
        }
    }

    /// Why the connection closed, once its first FIN or RST (`rst`) was seen.
    pub fn close_reason(&self, rst: bool) -> CloseReason {
        let s = &self.http1;
        match s.switched {
            Some(Switch::Upgrade) => return CloseReason::Upgrade,
            Some(Switch::Tunnel) => return CloseReason::Tunnel,
            None => {}
        }
        if rst {
            return CloseReason::Reset;
        }
        if s.at_close.is_some_and(|a| a.in_flight > 0) {
            return CloseReason::InFlight;
        }
        if !s.protocol.is_http1() {
            return CloseReason::NotHttp;
        }
        if s.stats.requests == 0 {
            return CloseReason::Unused;
        }
        let Some(last) = s.last else {
            return CloseReason::InFlight;
        };
        if last.close_delimited {
            CloseReason::CloseDelimited
        } else if last.req_close {
            CloseReason::ClientClose
        } else if last.http10_no_keep_alive() {
            CloseReason::Http10
        } else if last.resp_close {
            // The server ended a connection the client wanted to keep. After more than one
            // request, or at an advertised Keep-Alive max, that is a per-connection request cap.
            let at_max = s
                .keep_alive
                .and_then(|(_, max)| max)
                .is_some_and(|m| s.stats.requests >= u64::from(m));
            if s.stats.requests >= 2 || at_max {
                CloseReason::RequestCap
            } else {
                CloseReason::ServerClose
            }
        } else {
            CloseReason::IdleTimeout
        }
    }
}

impl StreamApp for Conversation {
    type Config = Config;

    fn new(client: Option<usize>, cfg: Config) -> Self {
        Conversation {
            decoder: Decoder::Http1,
            http1: Session::new(client, cfg.detail),
        }
    }

    #[inline]
    fn data(&mut self, side: usize, bytes: &[u8], ts: Timestamp) {
        if self.decoder == Decoder::Http1 {
            self.http1.data(side, bytes, ts);
            if self.http1.declined() {
                self.decoder = Decoder::Opaque;
            }
        }
    }

    fn gap(&mut self, side: usize, len: u64, ts: Timestamp) {
        if self.decoder == Decoder::Http1 {
            self.http1.gap(side, len, ts);
        }
    }

    fn fin(&mut self, side: usize, ts: Timestamp) {
        if self.decoder == Decoder::Http1 {
            self.http1.fin(side, ts);
        }
    }

    fn closing(&mut self, ts: Timestamp) {
        self.http1.closing(ts);
    }

    fn reopen(&mut self) {
        self.http1.reopen();
    }

    fn finish(&mut self, ts: Timestamp) {
        self.http1.finish(ts);
    }

    fn shrink(&mut self) {
        self.http1.shrink();
    }

    fn client_hint(&self) -> Option<usize> {
        self.http1.requests_side()
    }

    #[inline]
    fn has_output(&self) -> bool {
        !self.http1.out.is_empty()
    }
}
