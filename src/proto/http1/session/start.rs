//! Where HTTP/1.x starts: the first bytes of a connection (HTTP, h2's preface, TLS, or a
//! server-first protocol), and resynchronisation at the next start line after a gap or on a
//! connection picked up mid-stream, within a scan budget.

use super::*;
use crate::proto::detect::{self, ClientStart, H2_PREFACE};

/// Bytes of a non-HTTP-looking client stream searched for a request before giving up.
const UNKNOWN_SCAN_BUDGET: u64 = 64 * 1024;
/// The same for each direction of a connection picked up mid-stream.
const MIDSTREAM_SCAN_BUDGET: u64 = 1024 * 1024;

impl Session {
    /// The first byte after a hole may begin a message (a capture often loses whole
    /// segments, and segments often start messages): let resync try it as a line start.
    /// Only a whole, well-formed start line is taken, so a mid-line position costs nothing.
    pub(super) fn after_gap(&mut self, side: usize) {
        let h = &mut self.halves[side];
        if h.state == State::Resync {
            h.line_start = true;
        }
    }

    fn ignore_both(&mut self, protocol: Protocol) {
        self.protocol = protocol;
        for h in &mut self.halves {
            h.state = State::Ignore;
            h.buf = Vec::new();
        }
    }

    /// First bytes of a connection whose SYN was seen.
    pub(super) fn detect(&mut self, side: usize, input: &[u8], ts: Timestamp) -> usize {
        if !self.is_requests(side) {
            let client = &self.halves[Self::other(side)].state;
            if self.protocol.is_http1() || matches!(client, State::Head | State::Body(_)) {
                self.halves[side].state = State::Head;
                return 0;
            }
            let first_bytes = self.halves[side].scanned == 0;
            if *client == State::Detect && first_bytes && !detect::could_be_status_line(input) {
                // The server spoke first, and not HTTP: an SSH or SMTP banner, or an h2
                // server's SETTINGS racing the client's preface. The client's first bytes
                // will tell which; this side is not HTTP/1.x in any case.
                self.server_first = true;
                let h = &mut self.halves[side];
                h.state = State::Ignore;
                h.buf = Vec::new();
                return input.len();
            }
            self.halves[side].scanned += input.len() as u64;
            // Otherwise the client's request is not visible yet (held behind a hole, or lost):
            // a response without its request cannot be paired; skip it.
            return input.len();
        }
        let h = &mut self.halves[side];
        if h.buf.is_empty() {
            h.buf_ts = ts;
        }
        let room = detect::CLIENT_START_BYTES - h.buf.len().min(detect::CLIENT_START_BYTES);
        let take = input.len().min(room);
        h.buf.extend_from_slice(&input[..take]);
        let next = match detect::client_start(&h.buf) {
            ClientStart::Partial => return take,
            ClientStart::H2 => {
                self.ignore_both(Protocol::H2);
                return input.len();
            }
            ClientStart::Tls => {
                self.ignore_both(Protocol::Tls);
                return input.len();
            }
            _ if self.server_first => {
                // A server-first protocol that is neither h2 nor TLS.
                self.ignore_both(Protocol::Unknown);
                return input.len();
            }
            ClientStart::Undecided => return take,
            ClientStart::Request => State::Head,
            ClientStart::Other => {
                // Not HTTP at its start; it may still be after a prefix (a PROXY protocol
                // line, say): look for a request line a little further.
                h.want = Want::Request;
                h.line_start = true;
                h.probing = true;
                State::Resync
            }
        };
        // Replay the buffered bytes in the new state (one level deep: never Detect again).
        h.state = next;
        let buffered = std::mem::take(&mut h.buf);
        let ts0 = h.buf_ts;
        self.data(side, &buffered, ts0);
        take
    }

    /// A start line was found on `side`: fix the roles if they were open.
    fn found(&mut self, side: usize, kind: Start) {
        self.halves[side].probing = false;
        if self.requests_side.is_none() {
            let req = if kind == Start::Request {
                side
            } else {
                Self::other(side)
            };
            self.requests_side = Some(req);
            self.halves[req].want = Want::Request;
            self.halves[Self::other(req)].want = Want::Response;
        }
    }

    pub(super) fn resync(&mut self, side: usize, input: &[u8], ts: Timestamp) -> usize {
        if self.requests_side.is_none()
            && self.halves[side].scanned == 0
            && input.starts_with(H2_PREFACE)
        {
            // Picked up mid-stream, but the client's first captured bytes are the h2 preface.
            self.ignore_both(Protocol::H2);
            return input.len();
        }
        let budget_spent = {
            let h = &mut self.halves[side];
            h.scanned += input.len() as u64;
            let budget = if self.requests_side.is_some() {
                UNKNOWN_SCAN_BUDGET
            } else {
                MIDSTREAM_SCAN_BUDGET
            };
            h.probing && !self.protocol.is_http1() && h.scanned > budget
        };
        if budget_spent {
            self.ignore_both(Protocol::Unknown);
            return input.len();
        }
        let h = &mut self.halves[side];
        let want = h.want;
        if !h.buf.is_empty() {
            // A line began in an earlier segment: complete it first.
            let Some(nl) = memchr::memchr(b'\n', input) else {
                if h.buf.len() + input.len() <= scan::MAX_LINE {
                    h.buf.extend_from_slice(input);
                } else {
                    h.buf.clear();
                    h.line_start = false;
                }
                return input.len();
            };
            h.buf.extend_from_slice(&input[..=nl]);
            if let Some(kind) = scan::start_line(&h.buf, want) {
                h.state = State::Head;
                self.found(side, kind);
                // The start line is in `buf`: the head continues from there.
                return nl + 1;
            }
            h.buf.clear();
            h.line_start = true;
            return nl + 1;
        }
        match scan::find_start(input, h.line_start, want) {
            Found::At(at, kind) => {
                h.state = State::Head;
                self.found(side, kind);
                at
            }
            Found::Partial(at) => {
                h.buf_ts = ts;
                h.buf.extend_from_slice(&input[at..]);
                input.len()
            }
            Found::Nothing => {
                h.line_start = input.last() == Some(&b'\n');
                input.len()
            }
        }
    }
}
