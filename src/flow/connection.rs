//! One TCP connection as seen at the capture point: roles, handshake, close, and the two
//! reassembled directions feeding the application decoder ([`StreamApp`]).
//!
//! Sides are indices: side 0 is the source of the first packet seen, side 1 its peer. The
//! client is the side that sent the SYN (or, from a SYN-ACK alone, the other side); for a
//! connection picked up mid-stream it is inferred at the end, from who sent HTTP requests and
//! then from port numbers.
//!
//! A RST ends the connection unless it cannot have been accepted or the peers are seen to go
//! on after it (see [`super::reset`]); such RSTs are counted in `ignored_resets`. RSTs after a
//! FIN are aborts of a closing connection and always end it.

use super::app::StreamApp;
use super::reassembly::{Reassembler, StreamSink};
use super::reset::{seq_end, PendingReset, RcvWindow};
use super::seq::Seq;
use crate::decode::{tcp_flags as f, Endpoint, Segment};
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    Fin,
    Rst,
}

#[derive(Clone, Copy, Debug)]
pub struct Syn {
    pub isn: u32,
    pub first: Timestamp,
    /// The last SYN sent before the SYN-ACK (handshake RTT is measured from it, as Karn's
    /// rule measures from an unambiguous transmission).
    pub last: Timestamp,
    pub retransmits: u32,
}

#[derive(Debug)]
pub struct Connection<A> {
    /// Frame number (1-based, across all input files) of the connection's first packet.
    pub id: u64,
    pub ends: [Endpoint; 2],
    /// The SYN sender, when the handshake was seen.
    pub client: Option<usize>,
    pub syn: Option<Syn>,
    pub synack: Option<(u32, Timestamp)>,
    /// The client's ACK of the SYN-ACK.
    pub handshake_ack: Option<Timestamp>,
    pub streams: [Reassembler; 2],
    window_zero: [bool; 2],
    pub fin: [Option<Timestamp>; 2],
    pub rst: Option<(usize, Timestamp)>,
    /// The first FIN or RST of what ended the connection (a RST the peers ignored is not).
    pub first_close: Option<(usize, CloseKind, Timestamp)>,
    /// Per side: how far its sequence space reached, and what it showed of its receive window.
    high: [Option<Seq>; 2],
    rcv: [RcvWindow; 2],
    /// The RST that ended the connection, while the peers may yet show they ignored it.
    reset: Option<PendingReset>,
    /// RSTs that did not end the connection: outside the receiver's window, or followed by
    /// traffic that shows the peers went on.
    pub ignored_resets: u32,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub packets: [u64; 2],
    /// The application decoder the streams feed.
    pub app: A,
    /// Both FINs seen, or a RST: the connection is over (it may linger for late packets).
    pub closed_at: Option<Timestamp>,
    pub finished: bool,
    /// Removed from the table to respect the connection limit, before it ended.
    pub evicted: bool,
    /// Finished by the idle limit: open, but silent for longer than it.
    pub idle_expired: bool,
    /// Segments each side (index as `ends`) sent with a wrong TCP or IPv4 checksum.
    pub bad_checksums: [u64; 2],
}

/// Adapts the application decoder to receive one direction's stream.
struct ToApp<'a, A> {
    app: &'a mut A,
    side: usize,
    ts: Timestamp,
}

impl<A: StreamApp> StreamSink for ToApp<'_, A> {
    fn data(&mut self, bytes: &[u8]) {
        self.app.data(self.side, bytes, self.ts);
    }
    fn gap(&mut self, len: u64) {
        self.app.gap(self.side, len, self.ts);
    }
    fn fin(&mut self) {
        self.app.fin(self.side, self.ts);
    }
}

impl<A: StreamApp> Connection<A> {
    pub fn new(id: u64, seg: &Segment<'_>, ts: Timestamp, app: A::Config) -> Connection<A> {
        let client = if seg.has(f::SYN) {
            Some(if seg.has(f::ACK) { 1 } else { 0 })
        } else {
            None
        };
        Connection {
            id,
            ends: [seg.src, seg.dst],
            client,
            syn: None,
            synack: None,
            handshake_ack: None,
            streams: Default::default(),
            window_zero: [false; 2],
            fin: [None; 2],
            rst: None,
            first_close: None,
            high: [None; 2],
            rcv: Default::default(),
            reset: None,
            ignored_resets: 0,
            first_ts: ts,
            last_ts: ts,
            packets: [0; 2],
            app: A::new(client, app),
            closed_at: None,
            finished: false,
            evicted: false,
            idle_expired: false,
            bad_checksums: [0; 2],
        }
    }

    pub fn side_of(&self, src: &Endpoint) -> usize {
        usize::from(*src != self.ends[0])
    }

    /// Whether a SYN (without ACK) with this ISN starts a new connection on this 4-tuple
    /// rather than retransmitting this one's.
    pub fn is_new_syn(&self, isn: u32) -> bool {
        match self.syn {
            Some(s) => s.isn != isn,
            None => true,
        }
    }

    /// Whether the handshake was seen from its first SYN.
    pub fn handshake(&self) -> bool {
        self.syn.is_some()
    }

    /// Time from the SYN to the client's ACK of the SYN-ACK: one round trip, wherever the
    /// capture point is on the path.
    pub fn handshake_rtt_ms(&self) -> Option<f64> {
        let syn = self.syn?;
        let ack = self.handshake_ack?;
        Some(ack.millis_since(syn.last))
    }

    /// Takes one segment. Returns true when it revived the connection: the RST that closed it
    /// turned out to be ignored by the peers.
    pub fn segment(&mut self, seg: &Segment<'_>, ts: Timestamp, held_limit: usize) -> bool {
        let side = self.side_of(&seg.src);
        let peer = 1 - side;
        self.packets[side] += 1;
        self.last_ts = ts;
        if seg.has(f::RST) {
            self.reset(side, seg, ts);
            return false;
        }
        let revived = self.reset.as_mut().is_some_and(|r| r.observe(side, seg));
        if revived {
            self.revive(ts);
        }
        self.rcv[side].sent(seg);
        let end = seq_end(seg);
        if self.high[side].is_none_or(|h| h.lt(end) && end.diff(h) <= 1 << 30) {
            self.high[side] = Some(end);
        }
        let mut seq = Seq(seg.seq);
        if seg.has(f::SYN) {
            if seg.has(f::ACK) {
                if self.synack.is_none() {
                    self.synack = Some((seg.seq, ts));
                }
                if self.client.is_none() {
                    self.client = Some(peer);
                }
                self.streams[side].init(seq.plus(1));
                self.streams[peer].init(Seq(seg.ack));
            } else {
                match &mut self.syn {
                    None => {
                        self.syn = Some(Syn {
                            isn: seg.seq,
                            first: ts,
                            last: ts,
                            retransmits: 0,
                        });
                        self.client = Some(side);
                    }
                    Some(s) => {
                        s.retransmits += 1;
                        if self.synack.is_none() {
                            s.last = ts;
                        }
                    }
                }
                self.streams[side].init(seq.plus(1));
            }
            seq = seq.plus(1);
        } else if self.handshake_ack.is_none()
            && self.client == Some(side)
            && seg.has(f::ACK)
            && self
                .synack
                .is_some_and(|(isn, _)| seg.ack == isn.wrapping_add(1))
        {
            self.handshake_ack = Some(ts);
        }
        self.window_zero[side] = seg.window == 0;
        if seg.has(f::ACK) {
            let mut sink = ToApp {
                app: &mut self.app,
                side: peer,
                ts,
            };
            self.streams[peer].acked(Seq(seg.ack), &mut sink);
        }
        let fin = seg.has(f::FIN);
        if !seg.payload.is_empty() || seg.payload_missing > 0 || fin {
            let mut sink = ToApp {
                app: &mut self.app,
                side,
                ts,
            };
            self.streams[side].segment(
                seq,
                seg.payload,
                seg.payload_missing,
                fin,
                self.window_zero[peer],
                held_limit,
                &mut sink,
            );
        }
        if fin {
            // After the segment's own payload, so a response carried with the FIN counts.
            self.note_close(side, CloseKind::Fin, ts);
            self.fin[side].get_or_insert(ts);
        }
        if self.fin[0].is_some() && self.fin[1].is_some() {
            self.closed_at.get_or_insert(ts);
        }
        revived
    }

    /// A RST from `side`.
    fn reset(&mut self, side: usize, seg: &Segment<'_>, ts: Timestamp) {
        if let Some(r) = &mut self.reset {
            r.more += 1;
            return;
        }
        let open = self.closed_at.is_none() && self.fin == [None, None];
        if open && !self.rcv[1 - side].accepts(Seq(seg.seq)) {
            self.ignored_resets += 1;
            return;
        }
        self.note_close(side, CloseKind::Rst, ts);
        if self.rst.is_none() {
            self.rst = Some((side, ts));
        }
        if open {
            self.reset = Some(PendingReset::new(side, Seq(seg.seq), self.high[side]));
            for side in 0..2 {
                let mut sink = ToApp {
                    app: &mut self.app,
                    side,
                    ts,
                };
                self.streams[side].suspend(&mut sink);
            }
        } else {
            self.end_streams(ts);
        }
        self.closed_at.get_or_insert(ts);
    }

    /// The pending RST was ignored: the connection is open again, and what the streams held
    /// since the RST is delivered. A FIN seen meanwhile is now the first close.
    fn revive(&mut self, ts: Timestamp) {
        let Some(r) = self.reset.take() else { return };
        self.ignored_resets += 1 + r.more;
        self.first_close = None;
        self.rst = None;
        self.closed_at = None;
        self.app.reopen();
        for side in 0..2 {
            let mut sink = ToApp {
                app: &mut self.app,
                side,
                ts,
            };
            self.streams[side].resume(&mut sink);
        }
        let fins = [(0, self.fin[0]), (1, self.fin[1])];
        if let Some((side, at)) = fins
            .into_iter()
            .filter_map(|(s, t)| t.map(|t| (s, t)))
            .min_by_key(|&(_, t)| t)
        {
            self.note_close(side, CloseKind::Fin, at);
        }
    }

    fn note_close(&mut self, side: usize, kind: CloseKind, ts: Timestamp) {
        if self.first_close.is_none() {
            self.first_close = Some((side, kind, ts));
            self.app.closing(ts);
        }
    }

    /// Delivers what the streams hold (with holes as gaps) and ends them.
    fn end_streams(&mut self, ts: Timestamp) {
        for side in 0..2 {
            let mut sink = ToApp {
                app: &mut self.app,
                side,
                ts,
            };
            self.streams[side].flush(&mut sink);
        }
    }

    /// Out-of-order bytes held in both directions.
    pub fn held_bytes(&self) -> usize {
        self.streams[0].held_bytes() + self.streams[1].held_bytes()
    }

    /// Gives up on every hole in both directions (a memory limit was reached).
    pub fn drop_holes(&mut self) {
        for side in 0..2 {
            let mut sink = ToApp {
                app: &mut self.app,
                side,
                ts: self.last_ts,
            };
            self.streams[side].drop_holes(&mut sink);
        }
    }

    /// A SYN was seen and nothing answered it (a SYN flood leaves many of these).
    pub fn half_open(&self) -> bool {
        self.syn.is_some() && self.synack.is_none() && self.packets[1] == 0
    }

    /// The connection leaves the table: end the streams and the application decoder.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.end_streams(self.last_ts);
        self.app.finish(self.last_ts);
        self.finished = true;
    }

    /// The client side: from the SYN, else from what the application saw (who sent HTTP
    /// requests), else the side with the higher (ephemeral-looking) port.
    pub fn client_side(&self) -> usize {
        if let Some(c) = self.client.or(self.app.client_hint()) {
            return c;
        }
        let (p0, p1) = (self.ends[0].port, self.ends[1].port);
        match (p0 < 1024, p1 < 1024) {
            (true, false) => 1,
            (false, true) => 0,
            _ => usize::from(p0 < p1),
        }
    }
}
