//! One connection's HTTP/1.x conversation: two half-streams (one carries requests, the other
//! responses) and the queue that pairs them in order.
//!
//! Sides are the flow's indices 0 and 1. When the flow saw the SYN it says which side is the
//! client; for a connection picked up mid-stream both halves look for any start line, and the
//! first one found fixes the roles.

use std::collections::VecDeque;

use super::body::{Body, Step};
use super::head::{self, Fields};
use super::scan::{self, could_start, Found, Start, Want};
use super::{ErrorCounts, HttpError, Protocol, MAX_HEAD};
use crate::proto::RequestKey;
use crate::time::Timestamp;

mod records;
mod start;

pub use records::{CloseContext, Exchange, IdleStats, LastExchange, SessionStats};

/// Distinct Host values kept per connection.
const MAX_HOSTS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The first bytes of the stream decide the protocol.
    Detect,
    Head,
    Body(Body),
    Resync,
    /// CONNECT sent; waiting for the response to say whether a tunnel follows.
    AwaitTunnel,
    /// Not HTTP/1.x (any more): bytes are ignored.
    Ignore,
}

#[derive(Debug)]
struct Half {
    state: State,
    /// A head being assembled, the first bytes while detecting, or a partial line while
    /// resynchronising. Never more than MAX_HEAD.
    buf: Vec<u8>,
    /// Capture time of the first byte in `buf`.
    buf_ts: Timestamp,
    /// Resync: offset 0 of the next input starts a line.
    line_start: bool,
    want: Want,
    /// Resync bytes scanned while the stream has not yet shown HTTP.
    scanned: u64,
    /// The stream did not start like HTTP: give up after a budget of bytes.
    probing: bool,
}

impl Half {
    fn new(state: State, want: Want) -> Half {
        Half {
            state,
            buf: Vec::new(),
            buf_ts: Timestamp::default(),
            line_start: true,
            want,
            scanned: 0,
            probing: state == State::Resync,
        }
    }
}

/// A request waiting for its response.
#[derive(Debug)]
struct Pending {
    exchange: Exchange,
    head: bool,
    connect: bool,
    fields_close: bool,
    fields_keep_alive: bool,
}

/// What an HTTP/1.x connection switched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// 101 Switching Protocols.
    Upgrade,
    /// A 2xx answer to CONNECT.
    Tunnel,
}

#[derive(Debug)]
pub struct Session {
    halves: [Half; 2],
    requests_side: Option<usize>,
    pub protocol: Protocol,
    pending: VecDeque<Pending>,
    /// The response being read: head parsed, body not yet ended.
    /// Boxed: a connection is kept per flow in the table, and this is the largest part of it
    /// (an exchange carries its request key inline); the box lives for one response.
    current: Option<Box<Exchange>>,
    /// Exchanges completed since the caller last drained them.
    pub out: Vec<Exchange>,
    pub stats: SessionStats,
    pub hosts: Vec<String>,
    pub last: Option<LastExchange>,
    /// Keep-Alive: timeout=, max= as the server last advertised them.
    pub keep_alive: Option<(Option<u32>, Option<u32>)>,
    /// The server software its responses named.
    pub software: Option<crate::proto::Software>,
    pub idle: IdleStats,
    pub at_close: Option<CloseContext>,
    /// The connection stopped carrying HTTP/1.x: after 101 Switching Protocols, or after a
    /// 2xx answer to CONNECT.
    pub switched: Option<Switch>,
    last_response_end: Option<Timestamp>,
    next_index: u32,
    detail: bool,
    /// The server sent non-HTTP bytes before the client sent anything.
    server_first: bool,
}

impl Session {
    /// `client`: the side that sent the SYN, if the flow saw it. `detail`: keep method,
    /// target and Host of every request.
    pub fn new(client: Option<usize>, detail: bool) -> Session {
        let (halves, requests_side) = match client {
            Some(c) => (
                [
                    Half::new(State::Detect, Want::Request),
                    Half::new(State::Detect, Want::Request),
                ],
                Some(c),
            ),
            None => (
                [
                    Half::new(State::Resync, Want::Either),
                    Half::new(State::Resync, Want::Either),
                ],
                None,
            ),
        };
        let mut s = Session {
            halves,
            requests_side,
            protocol: Protocol::Unknown,
            pending: VecDeque::new(),
            current: None,
            out: Vec::new(),
            stats: SessionStats::default(),
            hosts: Vec::new(),
            last: None,
            keep_alive: None,
            software: None,
            idle: IdleStats::default(),
            at_close: None,
            switched: None,
            last_response_end: None,
            next_index: 0,
            detail,
            server_first: false,
        };
        if let Some(c) = client {
            s.halves[1 - c].want = Want::Response;
        }
        s
    }

    /// The stream is not HTTP/1.x (h2, TLS, or unknown bytes): this decoder will not look at
    /// another byte of it.
    pub fn declined(&self) -> bool {
        !self.protocol.is_http1() && self.halves.iter().all(|h| h.state == State::Ignore)
    }

    /// When the last complete response ended.
    pub fn last_response_end(&self) -> Option<Timestamp> {
        self.last_response_end
    }

    /// The side that sent requests, once known.
    pub fn requests_side(&self) -> Option<usize> {
        self.requests_side
    }

    pub fn data(&mut self, side: usize, mut input: &[u8], ts: Timestamp) {
        while !input.is_empty() {
            let used = match self.halves[side].state {
                State::Ignore => return,
                State::AwaitTunnel => return,
                State::Detect => self.detect(side, input, ts),
                State::Head => self.head(side, input, ts),
                State::Body(mut body) => match body.feed(input) {
                    Ok(Step::More) => {
                        self.halves[side].state = State::Body(body);
                        input.len()
                    }
                    Ok(Step::Done(n)) => {
                        self.body_done(side, ts);
                        n
                    }
                    Err(e) => {
                        self.error(side, e, ts);
                        0
                    }
                },
                State::Resync => self.resync(side, input, ts),
            };
            input = &input[used..];
        }
    }

    /// `len` bytes of this side's stream were lost.
    pub fn gap(&mut self, side: usize, len: u64, ts: Timestamp) {
        let h = &mut self.halves[side];
        match h.state {
            State::Ignore | State::AwaitTunnel => {}
            State::Body(mut body) => match body.gap(len) {
                Ok(Step::More) => h.state = State::Body(body),
                Ok(Step::Done(_)) => self.body_done(side, ts),
                Err(e) => {
                    self.error(side, e, ts);
                    self.after_gap(side);
                }
            },
            State::Resync => {
                h.buf.clear();
                self.after_gap(side);
            }
            State::Head | State::Detect => {
                self.error(side, HttpError::LostFraming, ts);
                self.after_gap(side);
            }
        }
    }

    /// The side's FIN arrived in order.
    pub fn fin(&mut self, side: usize, ts: Timestamp) {
        match self.halves[side].state {
            State::Body(Body::UntilClose) => self.body_done(side, ts),
            State::Body(_) => self.stats.errors.add(HttpError::Unfinished),
            State::Head if !self.halves[side].buf.is_empty() => {
                self.stats.errors.add(HttpError::Unfinished)
            }
            _ => {}
        }
        let h = &mut self.halves[side];
        h.state = State::Ignore;
        h.buf = Vec::new();
    }

    /// Frees what the session no longer needs once both directions have ended (the
    /// connection may linger in the flow table for a while).
    pub fn shrink(&mut self) {
        if self.pending.is_empty() {
            self.pending = VecDeque::new();
        }
        if self.out.is_empty() {
            self.out = Vec::new();
        }
        for h in &mut self.halves {
            if h.state == State::Ignore {
                h.buf = Vec::new();
            }
        }
    }

    /// The first FIN or RST of the connection, in capture order.
    pub fn closing(&mut self, ts: Timestamp) {
        if self.at_close.is_some() {
            return;
        }
        let mut in_flight = self.pending.len() as u32 + u32::from(self.current.is_some());
        if let Some(r) = self.requests_side {
            let h = &self.halves[r];
            let partial_head = h.state == State::Head && !h.buf.is_empty();
            if partial_head {
                let ms = ts.millis_since(h.buf_ts);
                self.stats.slowest_request_head_ms = self.stats.slowest_request_head_ms.max(ms);
            }
            if partial_head {
                in_flight += 1;
            }
        }
        let idle_ms = match (in_flight, self.last_response_end) {
            (0, Some(end)) => Some(ts.millis_since(end).max(0.0)),
            _ => None,
        };
        self.at_close = Some(CloseContext { in_flight, idle_ms });
    }

    /// The close seen so far was a RST the peers ignored: the next FIN or RST is the close.
    pub fn reopen(&mut self) {
        self.at_close = None;
    }

    /// End of the connection (its last packet at `ts`): what is unfinished is reported.
    pub fn finish(&mut self, ts: Timestamp) {
        if let Some(r) = self.requests_side {
            let h = &self.halves[r];
            if h.state == State::Head && !h.buf.is_empty() {
                let ms = ts.millis_since(h.buf_ts);
                self.stats.slowest_request_head_ms = self.stats.slowest_request_head_ms.max(ms);
                self.stats.errors.add(HttpError::Unfinished);
            }
        }
        if let Some(mut ex) = self.current.take() {
            ex.complete = false;
            self.out.push(*ex);
        }
        while let Some(p) = self.pending.pop_front() {
            self.stats.unanswered += 1;
            self.out.push(p.exchange);
        }
        for h in &mut self.halves {
            h.state = State::Ignore;
            h.buf = Vec::new();
        }
    }

    fn other(side: usize) -> usize {
        1 - side
    }

    fn is_requests(&self, side: usize) -> bool {
        self.requests_side == Some(side)
    }

    fn head(&mut self, side: usize, mut input: &[u8], ts: Timestamp) -> usize {
        let h = &mut self.halves[side];
        let mut skipped = 0;
        if h.buf.is_empty() {
            // Empty lines between messages are allowed (RFC 9112 section 2.2).
            while let [b'\r' | b'\n', rest @ ..] = input {
                input = rest;
                skipped += 1;
            }
            if input.is_empty() {
                return skipped;
            }
            let want = if self.requests_side == Some(side) {
                Want::Request
            } else {
                Want::Response
            };
            if !could_start(input, want) {
                self.error(side, HttpError::MalformedHead, ts);
                return skipped;
            }
            if let Some(end) = head::find_head_end(input, 0) {
                return skipped + self.on_head(side, &input[..end], ts);
            }
            let h = &mut self.halves[side];
            if input.len() >= MAX_HEAD {
                self.error(side, HttpError::HeadTooLarge, ts);
                return skipped + input.len();
            }
            h.buf_ts = ts;
            h.buf.extend_from_slice(input);
            return skipped + input.len();
        }
        let old = h.buf.len();
        let take = input.len().min(MAX_HEAD - old.min(MAX_HEAD));
        h.buf.extend_from_slice(&input[..take]);
        match head::find_head_end(&h.buf, old) {
            Some(end) => {
                let mut buf = std::mem::take(&mut h.buf);
                let head_ts = h.buf_ts;
                if self.requests_side == Some(side) {
                    let ms = ts.millis_since(head_ts);
                    let slowest = &mut self.stats.slowest_request_head_ms;
                    *slowest = slowest.max(ms);
                }
                let used = self.on_head(side, &buf[..end], head_ts);
                if used < end {
                    // Rejected head: look for a start line in the rest of it.
                    self.data(side, &buf[used..end], head_ts);
                }
                buf.clear();
                if self.halves[side].buf.is_empty() {
                    self.halves[side].buf = buf; // keep the allocation for the next head
                }
                end - old
            }
            None if h.buf.len() >= MAX_HEAD => {
                self.error(side, HttpError::HeadTooLarge, ts);
                take
            }
            None => take,
        }
    }

    /// Parses a complete head; returns how many of its bytes were used: all of them, or on a
    /// parse error only the first line, so a resync can find a start line inside the rest.
    fn on_head(&mut self, side: usize, bytes: &[u8], ts: Timestamp) -> usize {
        let result = if self.is_requests(side) {
            match head::parse_request(bytes) {
                Ok(req) => {
                    self.on_request(side, req, ts);
                    Ok(())
                }
                // obs-fold (RFC 9112 section 5.2): a recipient may replace it with spaces.
                Err(e) => match head::unfold(bytes) {
                    Some(unfolded) => head::parse_request(&unfolded)
                        .map(|req| self.on_request(side, req, ts))
                        .map_err(|_| e),
                    None => Err(e),
                },
            }
        } else {
            head::parse_response(bytes).map(|resp| self.on_response(side, resp, ts))
        };
        match result {
            Ok(()) => bytes.len(),
            Err(e) => {
                self.error(side, e, ts);
                self.halves[side].line_start = true;
                memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1)
            }
        }
    }

    fn on_request(&mut self, side: usize, req: head::Request<'_>, ts: Timestamp) {
        self.stats.requests += 1;
        if !self.protocol.is_http1() {
            self.protocol = if req.fields.minor == 0 {
                Protocol::Http10
            } else {
                Protocol::Http11
            };
        }
        for &e in &req.fields.errors {
            self.stats.errors.add(e);
        }
        if let Some(host) = req.host {
            if self.hosts.len() < MAX_HOSTS && !self.hosts.iter().any(|h| h.as_bytes() == host) {
                self.hosts.push(String::from_utf8_lossy(host).into_owned());
            }
        }
        if self.pending.is_empty() && self.current.is_none() {
            if let Some(end) = self.last_response_end {
                self.idle.add(ts.millis_since(end).max(0.0));
            }
        }
        let connect = req.method.eq_ignore_ascii_case("CONNECT");
        let exchange = Exchange {
            index: self.next_index,
            key: RequestKey::new(req.method.as_bytes(), req.target.as_bytes(), req.host),
            method: if self.detail {
                req.method.to_owned()
            } else {
                String::new()
            },
            target: if self.detail {
                req.target.to_owned()
            } else {
                String::new()
            },
            host: if self.detail {
                req.host.map(|h| String::from_utf8_lossy(h).into_owned())
            } else {
                None
            },
            minor: req.fields.minor,
            request_start: ts,
            ..Exchange::default()
        };
        self.next_index = self.next_index.saturating_add(1);
        let f = &req.fields;
        let next = if connect {
            State::AwaitTunnel
        } else if f.transfer_encoding {
            if f.content_length.is_some() {
                self.stats.errors.add(HttpError::TeAndCl);
            }
            if f.chunked_last {
                State::Body(Body::chunked())
            } else {
                // A server must answer 400 and close (RFC 9112 section 6.3).
                self.stats.errors.add(HttpError::BadTransferEncoding);
                State::Resync
            }
        } else if f.errors.iter().any(|e| {
            matches!(
                e,
                HttpError::BadContentLength | HttpError::ConflictingContentLength
            )
        }) {
            State::Resync
        } else {
            match f.content_length {
                Some(n) if n > 0 => State::Body(Body::Length(n)),
                _ => State::Head,
            }
        };
        self.pending.push_back(Pending {
            exchange,
            head: req.method.eq_ignore_ascii_case("HEAD"),
            connect,
            fields_close: f.conn_close,
            fields_keep_alive: f.conn_keep_alive,
        });
        self.set_state(side, next);
    }

    fn on_response(&mut self, side: usize, resp: head::Response, ts: Timestamp) {
        let status = resp.status;
        let f: Fields = resp.fields;
        for &e in &f.errors {
            self.stats.errors.add(e);
        }
        if (100..200).contains(&status) && status != 101 {
            self.stats.informational += 1;
            if let Some(p) = self.pending.front_mut() {
                p.exchange.informational = p.exchange.informational.saturating_add(1);
            }
            self.set_state(side, State::Head);
            return;
        }
        if self.current.is_some() {
            // A new response while the last one was unframed (close-delimited in a pipeline).
            self.flush_current(false);
        }
        self.stats.responses += 1;
        if f.server.is_some() {
            self.software = f.server;
        }
        if f.keep_alive_timeout.is_some() || f.keep_alive_max.is_some() {
            self.keep_alive = Some((f.keep_alive_timeout, f.keep_alive_max));
        }
        let pending = self.pending.pop_front();
        if pending.is_none() {
            self.stats.errors.add(HttpError::ResponseWithoutRequest);
        }
        let (is_head, connect) = pending
            .as_ref()
            .map_or((false, false), |p| (p.head, p.connect));
        let mut last = LastExchange {
            answered: true,
            resp_close: f.conn_close,
            resp_keep_alive: f.conn_keep_alive,
            resp_minor: f.minor,
            status,
            ..LastExchange::default()
        };
        if let Some(p) = &pending {
            last.req_close = p.fields_close;
            last.req_keep_alive = p.fields_keep_alive;
            last.req_minor = p.exchange.minor;
        } else {
            last.req_minor = 1;
        }
        if connect
            && self
                .requests_side
                .is_some_and(|r| self.halves[r].state == State::AwaitTunnel)
        {
            let r = self.requests_side.unwrap_or(0);
            self.halves[r].state = State::Head;
        }
        let mut ex = pending.map(|p| p.exchange);
        if let Some(ex) = &mut ex {
            ex.status = Some(status);
            ex.response_start = Some(ts);
        }
        let body = if status == 101 || (connect && (200..300).contains(&status)) {
            self.switched = Some(if status == 101 {
                Switch::Upgrade
            } else {
                Switch::Tunnel
            });
            None
        } else if is_head || status == 204 || status == 304 {
            None
        } else if f.transfer_encoding {
            if f.content_length.is_some() {
                self.stats.errors.add(HttpError::TeAndCl);
            }
            Some(if f.chunked_last {
                Body::chunked()
            } else {
                Body::UntilClose
            })
        } else if f.errors.iter().any(|e| {
            matches!(
                e,
                HttpError::BadContentLength | HttpError::ConflictingContentLength
            )
        }) {
            last.close_delimited = true;
            Some(Body::UntilClose)
        } else {
            match f.content_length {
                Some(0) => None,
                Some(n) => Some(Body::Length(n)),
                None => {
                    last.close_delimited = true;
                    Some(Body::UntilClose)
                }
            }
        };
        self.last = Some(last);
        self.current = ex.map(Box::new);
        match body {
            Some(b) => self.set_state(side, State::Body(b)),
            None => self.body_done(side, ts),
        }
        if self.switched.is_some() {
            for h in &mut self.halves {
                h.state = State::Ignore;
                h.buf = Vec::new();
            }
        }
    }

    /// A message body (or a bodiless message) ended at `ts`.
    fn body_done(&mut self, side: usize, ts: Timestamp) {
        if !self.is_requests(side) {
            if let Some(mut ex) = self.current.take() {
                ex.response_end = Some(ts);
                ex.complete = true;
                self.out.push(*ex);
            }
            self.last_response_end = Some(ts);
        }
        self.set_state(side, State::Head);
    }

    fn flush_current(&mut self, complete: bool) {
        if let Some(mut ex) = self.current.take() {
            ex.complete = complete;
            self.out.push(*ex);
        }
    }

    fn set_state(&mut self, side: usize, state: State) {
        let h = &mut self.halves[side];
        if h.state != State::Ignore {
            h.state = state;
        }
        if state == State::Resync {
            h.buf.clear();
            h.line_start = false;
        }
    }

    /// Framing is lost on this side: count it and look for the next start line.
    fn error(&mut self, side: usize, e: HttpError, _ts: Timestamp) {
        self.stats.errors.add(e);
        self.stats.resyncs += 1;
        if !self.is_requests(side) {
            self.flush_current(false);
        }
        let h = &mut self.halves[side];
        if h.state != State::Ignore {
            h.state = State::Resync;
            h.buf.clear();
            h.line_start = false;
        }
    }
}

#[cfg(test)]
mod tests;
