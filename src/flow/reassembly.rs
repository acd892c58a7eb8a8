//! Per-direction TCP stream reassembly with a bounded out-of-order buffer.
//!
//! In-order payload is handed to the [`StreamSink`] straight from the captured segment, without
//! copying; only segments that arrive ahead of a hole are copied, and the bytes held per stream
//! are capped. Losses are never waited on forever: a hole is declared a gap (and its length
//! reported to the sink, so the HTTP decoder can skip body bytes or resynchronise) when
//! - the peer acknowledged data the capture never saw (the capture dropped it, the receiver
//!   did not), data is waiting beyond the hole, and [`REORDER_SLACK`] more packets came and
//!   went without filling it, see [`Reassembler::acked`]. The slack is there because captures
//!   (merged queues, `-i any`) can show an ACK a few packets before the data it acknowledges,
//!   and that data must still be taken;
//! - the held bytes pass the per-stream limit;
//! - the stream ends (RST, end of capture), see [`Reassembler::flush`].
//!
//! Overlaps resolve "first copy wins", as most stacks do, and are counted as retransmissions.
//!
//! After a RST that the peers may yet turn out to have ignored, a stream is *suspended*
//! ([`Reassembler::suspend`]): what it held is delivered as at any end, and what comes next is
//! held, bounded by the same per-stream limit, and given to nobody. [`Reassembler::resume`]
//! delivers it if traffic shows that the connection went on; [`Reassembler::flush`] drops it
//! if the RST ended the connection, so a reset connection's HTTP never sees bytes the reset
//! side refused.

use super::seq::Seq;

/// Receives the reassembled byte stream of one direction.
pub trait StreamSink {
    fn data(&mut self, bytes: &[u8]);
    /// `len` bytes of the stream were lost (capture loss or snaplen); the stream goes on.
    fn gap(&mut self, len: u64);
    /// The sender's FIN, in order: no more data follows.
    fn fin(&mut self);
}

/// Counters kept per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Payload bytes delivered in order.
    pub bytes: u64,
    /// Bytes seen more than once (retransmissions and overlaps; the first copy was kept).
    pub retransmitted_bytes: u64,
    /// Segments that arrived ahead of a hole and were held.
    pub out_of_order: u32,
    /// Bytes declared lost, and in how many holes.
    pub gap_bytes: u64,
    pub gaps: u32,
    pub keepalive_probes: u32,
    pub zero_window_probes: u32,
    /// Segments too far from the expected sequence number to belong to the stream.
    pub out_of_window: u32,
    /// Payload after the FIN, or after a RST that ended the connection.
    pub after_fin_bytes: u64,
}

/// A segment held ahead of a hole: its captured bytes, then `missing` bytes snaplen cut off.
#[derive(Debug)]
struct Held {
    seq: Seq,
    data: Vec<u8>,
    missing: u32,
}

impl Held {
    fn len(&self) -> u32 {
        self.data.len() as u32 + self.missing
    }
    fn end(&self) -> Seq {
        self.seq.plus(self.len())
    }
}

/// Packets of the connection, after an acknowledgment first covered a hole, before the hole is
/// taken as capture loss.
pub const REORDER_SLACK: u32 = 8;

/// Segments further than this from the expected sequence number are not taken as data.
const MAX_AHEAD: i32 = 1 << 30;

#[derive(Debug, Default)]
pub struct Reassembler {
    next: Option<Seq>,
    held: Vec<Held>,
    held_bytes: usize,
    fin: Option<Seq>,
    ended: bool,
    /// A zero-window probe's byte, kept aside: if the receiver took it, the sender's next
    /// segment starts one byte later and the byte is delivered then.
    probe: Option<(Seq, u8)>,
    /// The highest acknowledgment from the peer beyond `next`: bytes before it reached the
    /// receiver, so a hole below it that is followed by held data is capture loss.
    acked: Option<Seq>,
    /// Packets seen while an acknowledged hole stays open.
    waits: u32,
    /// After a RST that may have been ignored: segments are held, not delivered.
    suspended: bool,
    /// Bytes seen twice while suspended: retransmissions if the stream resumes.
    suspended_dups: u64,
    pub stats: StreamStats,
}

impl Reassembler {
    /// Sets the first expected sequence number (ISN + 1 from the SYN).
    pub fn init(&mut self, next: Seq) {
        if self.next.is_none() {
            self.next = Some(next);
        }
    }

    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Takes one segment: `data` captured, then `missing` bytes cut off by snaplen.
    /// `peer_window_zero`: the receiver last advertised a zero window.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        seq: Seq,
        data: &[u8],
        missing: u32,
        fin: bool,
        peer_window_zero: bool,
        held_limit: usize,
        sink: &mut impl StreamSink,
    ) {
        let len = (data.len() as u32).saturating_add(missing);
        if self.next.is_none() && len <= 1 && !fin {
            // A stream picked up mid-way whose first segment is a single byte: a TCP
            // keep-alive probe (seq = next - 1), not the start of the data.
            self.stats.keepalive_probes += 1;
            return;
        }
        let next = *self.next.get_or_insert(seq);
        if self.ended {
            self.stats.after_fin_bytes += u64::from(len);
            return;
        }
        let d = seq.diff(next);
        if !(-MAX_AHEAD..=MAX_AHEAD).contains(&d) {
            self.stats.out_of_window += 1;
            return;
        }
        if !fin && len <= 1 && d == -1 {
            // TCP keep-alive: seq = next - 1 with zero or one (old) byte.
            self.stats.keepalive_probes += 1;
            return;
        }
        if self.suspended {
            self.hold_suspended(seq, data, missing, fin, held_limit);
            return;
        }
        if let Some((pseq, byte)) = self.probe {
            if pseq == next && d == 1 {
                // The receiver accepted the probe byte: it belongs to the stream.
                self.probe = None;
                self.deliver(&[byte], 0, sink);
            } else if d <= 0 {
                self.probe = None;
            }
        }
        if peer_window_zero && !fin && len == 1 && d == 0 && missing == 0 {
            self.stats.zero_window_probes += 1;
            self.probe = Some((seq, data[0]));
            return;
        }
        if len > 0 {
            let next = self.next.unwrap_or(seq);
            let d = seq.diff(next);
            if d <= 0 {
                let overlap = d.unsigned_abs();
                if overlap >= len {
                    self.stats.retransmitted_bytes += u64::from(len);
                } else {
                    self.stats.retransmitted_bytes += u64::from(overlap);
                    let o = overlap as usize;
                    let (bytes, miss) = if o <= data.len() {
                        (&data[o..], missing)
                    } else {
                        (&data[..0], len - overlap)
                    };
                    self.deliver(bytes, miss, sink);
                    self.drain(sink);
                }
            } else {
                self.stats.out_of_order += 1;
                self.stats.retransmitted_bytes += self.hold(seq, data, missing);
                self.skip_acked_hole(sink);
                if self.held_bytes > held_limit {
                    // Over the limit: give up on the oldest hole.
                    let first = self.held[0].seq;
                    self.skip_until(first, sink);
                }
            }
        }
        if fin {
            let at = seq.plus(len);
            if self.fin.is_none() {
                self.fin = Some(at);
            }
        }
        self.check_fin(sink);
    }

    /// The peer acknowledged everything before `ack`. If data is held beyond a hole that the
    /// acknowledgment covers, the hole was lost by the capture: it becomes a gap now.
    /// Otherwise the acknowledgment is remembered until such data arrives or the stream ends.
    pub fn acked(&mut self, ack: Seq, sink: &mut impl StreamSink) {
        let Some(next) = self.next else { return };
        if self.ended {
            return;
        }
        let d = ack.diff(next);
        if d > 0 && d <= MAX_AHEAD {
            if self.acked.is_none_or(|a| a.lt(ack)) {
                self.acked = Some(ack);
            }
            if !self.suspended {
                self.skip_acked_hole(sink);
            }
        }
    }

    fn skip_acked_hole(&mut self, sink: &mut impl StreamSink) {
        let (Some(ack), Some(next)) = (self.acked, self.next) else {
            return;
        };
        if ack.le(next) {
            self.acked = None;
            return;
        }
        self.waits += 1;
        let Some(first) = self.held.first() else {
            return;
        };
        if first.seq.le(ack) && self.waits > REORDER_SLACK {
            let mut upto = ack;
            if let Some(f) = self.fin {
                // The FIN takes one sequence number; the ACK of it is not a hole.
                if f.lt(upto) {
                    upto = f;
                }
            }
            self.skip_until(upto, sink);
            self.check_fin(sink);
        }
    }

    /// Gives up on every hole: what is held is delivered now, the holes before it reported as
    /// gaps. Used when memory limits are reached. A suspended stream drops what it holds
    /// instead (if it resumes, those bytes are a hole like any other).
    pub fn drop_holes(&mut self, sink: &mut impl StreamSink) {
        if self.suspended {
            self.release();
            self.suspended_dups = 0;
            return;
        }
        if let Some(last) = self.held.last() {
            let end = last.end();
            self.skip_until(end, sink);
            self.check_fin(sink);
        }
    }

    /// End of the stream without a FIN in order (RST, end of capture, eviction): what is held
    /// is delivered with the holes before it reported as gaps. A suspended stream ends
    /// without delivering what came after the RST: it is counted as after-the-end bytes.
    pub fn flush(&mut self, sink: &mut impl StreamSink) {
        if self.ended {
            return;
        }
        if self.suspended {
            self.stats.after_fin_bytes += self.held.iter().map(|h| u64::from(h.len())).sum::<u64>();
            self.suspended = false;
            self.suspended_dups = 0;
            self.ended = true;
            self.release();
            return;
        }
        self.deliver_all(sink);
        self.ended = true;
        self.release();
    }

    /// A RST that the peers may have ignored: delivers what is held (holes as gaps), as at
    /// the end of the stream, then holds whatever comes next until [`Self::resume`] or
    /// [`Self::flush`] says whether the connection went on.
    pub fn suspend(&mut self, sink: &mut impl StreamSink) {
        if self.ended || self.suspended {
            return;
        }
        self.deliver_all(sink);
        self.release();
        self.suspended = !self.ended;
    }

    /// The connection went on after the RST: what was held since is delivered in order.
    pub fn resume(&mut self, sink: &mut impl StreamSink) {
        if !self.suspended {
            return;
        }
        self.suspended = false;
        self.stats.retransmitted_bytes += std::mem::take(&mut self.suspended_dups);
        if self.next.is_some() {
            self.drain(sink);
            self.skip_acked_hole(sink);
            self.check_fin(sink);
        }
    }

    /// Held data while suspended: only bytes beyond those delivered, up to the limit. The
    /// counters are left alone: the bytes may never count, if the RST ended the connection.
    fn hold_suspended(&mut self, seq: Seq, data: &[u8], missing: u32, fin: bool, limit: usize) {
        let len = (data.len() as u32).saturating_add(missing);
        if fin && self.fin.is_none() {
            self.fin = Some(seq.plus(len));
        }
        let Some(next) = self.next else { return };
        let d = seq.diff(next);
        let overlap = if d < 0 { d.unsigned_abs() } else { 0 };
        if len == 0 || overlap >= len {
            self.suspended_dups += u64::from(len);
            return;
        }
        self.suspended_dups += u64::from(overlap);
        let o = overlap as usize;
        let (start, bytes, miss) = if o <= data.len() {
            (seq.plus(overlap), &data[o..], missing)
        } else {
            (seq.plus(overlap), &data[..0], len - overlap)
        };
        if self.held_bytes + bytes.len() > limit {
            // Past the limit: not kept. If the connection goes on this is a hole, and the
            // peer's acknowledgments turn it into a gap as for any loss.
            return;
        }
        self.suspended_dups += self.hold(start, bytes, miss);
    }

    /// Delivers everything held, and what the peer acknowledged but the capture never showed,
    /// with the holes as gaps.
    fn deliver_all(&mut self, sink: &mut impl StreamSink) {
        if let Some(last) = self.held.last() {
            let end = last.end();
            self.skip_until(end, sink);
        }
        if let (Some(a), Some(n), None) = (self.acked, self.next, self.fin) {
            // Acknowledged by the peer but never captured.
            if n.lt(a) {
                self.skip_until(a, sink);
            }
        }
        if let (Some(f), Some(n)) = (self.fin, self.next) {
            if n.lt(f) {
                self.skip_until(f, sink);
            }
        }
        self.check_fin(sink);
    }

    /// Frees buffers once the stream is over (the connection may linger in the table).
    pub fn release(&mut self) {
        self.held = Vec::new();
        self.held_bytes = 0;
    }

    fn deliver(&mut self, data: &[u8], missing: u32, sink: &mut impl StreamSink) {
        if !data.is_empty() {
            sink.data(data);
            self.stats.bytes += data.len() as u64;
        }
        if missing > 0 {
            sink.gap(u64::from(missing));
            self.stats.gap_bytes += u64::from(missing);
            self.stats.gaps += 1;
        }
        let n = self.next.expect("deliver after init");
        self.next = Some(n.plus(data.len() as u32 + missing));
        self.waits = 0;
    }

    /// Delivers held segments that have become contiguous.
    fn drain(&mut self, sink: &mut impl StreamSink) {
        while let Some(first) = self.held.first() {
            let next = self.next.expect("drain after init");
            let d = first.seq.diff(next);
            if d > 0 {
                break;
            }
            let h = self.held.remove(0);
            self.held_bytes -= h.data.len();
            let overlap = d.unsigned_abs();
            if overlap >= h.len() {
                self.stats.retransmitted_bytes += u64::from(h.len());
                continue;
            }
            self.stats.retransmitted_bytes += u64::from(overlap);
            let o = overlap as usize;
            if o <= h.data.len() {
                self.deliver(&h.data[o..], h.missing, sink);
            } else {
                self.deliver(&[], h.len() - overlap, sink);
            }
        }
    }

    /// Declares the bytes from `next` up to `upto` lost, except what is held.
    fn skip_until(&mut self, upto: Seq, sink: &mut impl StreamSink) {
        loop {
            let next = self.next.expect("skip after init");
            match self.held.first() {
                Some(h) if h.seq.lt(upto) || h.seq.le(next) => {
                    let d = h.seq.diff(next);
                    if d > 0 {
                        self.deliver(&[], d as u32, sink);
                    }
                    self.drain(sink);
                }
                _ => break,
            }
        }
        let next = self.next.expect("skip after init");
        let d = upto.diff(next);
        if d > 0 {
            self.deliver(&[], d as u32, sink);
        }
        self.drain(sink);
    }

    /// Inserts a segment at or ahead of `next`, keeping only the parts no held segment covers.
    /// Returns how many of its bytes were held already.
    fn hold(&mut self, seq: Seq, data: &[u8], missing: u32) -> u64 {
        let mut dups = 0;
        let next = self.next.expect("hold after init");
        let rel = |s: Seq| s.diff(next) as i64;
        let start = rel(seq);
        let end = start + data.len() as i64 + i64::from(missing);
        let mut cursor = start;
        let mut i = self.held.partition_point(|h| rel(h.end()) <= start);
        let mut pieces: Vec<(usize, Held)> = Vec::new();
        while cursor < end {
            let (hs, he) = match self.held.get(i) {
                Some(h) => (rel(h.seq), rel(h.end())),
                None => (end, end),
            };
            if hs > cursor {
                let piece_end = hs.min(end);
                pieces.push((i, Self::piece(seq, data, start, cursor, piece_end)));
            }
            if he > cursor {
                dups += (he.min(end) - hs.max(cursor)).max(0) as u64;
            }
            cursor = cursor.max(he);
            i += 1;
        }
        for (offset, (at, piece)) in pieces.into_iter().enumerate() {
            self.held_bytes += piece.data.len();
            self.held.insert(at + offset, piece);
        }
        dups
    }

    /// The part `[from, to)` (stream offsets relative to `next`) of a segment starting at `start`.
    fn piece(seq: Seq, data: &[u8], start: i64, from: i64, to: i64) -> Held {
        let a = (from - start) as usize;
        let b = (to - start) as usize;
        let dlen = data.len();
        let bytes = if a < dlen {
            data[a..b.min(dlen)].to_vec()
        } else {
            Vec::new()
        };
        let missing = (b - a - bytes.len()) as u32;
        Held {
            seq: seq.plus(a as u32),
            data: bytes,
            missing,
        }
    }

    fn check_fin(&mut self, sink: &mut impl StreamSink) {
        if let (Some(f), Some(n)) = (self.fin, self.next) {
            if n == f && !self.ended {
                self.ended = true;
                self.next = Some(f.plus(1));
                sink.fin();
                self.release();
            }
        }
    }
}

#[cfg(test)]
mod tests;
