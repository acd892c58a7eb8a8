//! RSTs that did not end the connection.
//!
//! A receiver takes a RST only if its sequence number is in the receive window (RFC 9293
//! section 3.10.7.4; RFC 5961 section 3.2 narrows that to exactly RCV.NXT and answers the rest
//! of the window with a challenge ACK). Anything else is dropped: a blind injection, or a
//! stale RST of an earlier connection on the same 4-tuple. A capture point does not know
//! RCV.NXT, but it has seen what the receiver acknowledged, which RCV.NXT can only have
//! passed, and the windows it advertised, which bound how far ahead a sender may go. So a RST
//! from before the receiver's last acknowledgment, or beyond the right edge of every window
//! it offered, cannot have been accepted: it is counted and the connection goes on.
//!
//! A RST inside that range may still not have been taken: the receiver's stack may want the
//! exact RCV.NXT, or the RST was lost after the capture point, or an evasion tool sent it for
//! the monitor alone. The only way to know is what follows. The RST ends the connection for
//! now ([`PendingReset`]); if its receiver then acknowledges sequence space that the RST's
//! sender sent after the RST, the receiver took data the RST should have made it refuse, and
//! the connection is revived. Nothing else revives it: the common aftermath of an honoured
//! RST (the receiver's data that was already in flight, answered by more RSTs) shows no such
//! acknowledgment. A connection whose RST is pending leaves the flow table when its linger
//! time runs out, as any closed connection does, so nothing is held waiting for evidence.

use super::seq::Seq;
use crate::decode::{tcp_flags as f, Segment};

/// The largest window scale shift (RFC 7323 section 2.3). The scale is not parsed, so the
/// right edge assumes it: only a RST beyond any window the receiver could have offered is
/// called out of window.
const MAX_WINDOW_SHIFT: u32 = 14;

/// Sequence-space distances beyond this are not taken as progress (a stray or forged value).
const MAX_AHEAD: i32 = 1 << 30;

/// What the capture has shown of one side's receive state.
#[derive(Clone, Copy, Debug, Default)]
pub struct RcvWindow {
    /// The highest acknowledgment this side sent.
    ack: Option<Seq>,
    /// The furthest right edge (ACK + window) this side advertised.
    right: Option<Seq>,
}

impl RcvWindow {
    /// A segment this side sent (not a RST).
    pub fn sent(&mut self, seg: &Segment<'_>) {
        if !seg.has(f::ACK) {
            return;
        }
        let ack = Seq(seg.ack);
        // The window of a SYN is never scaled (RFC 7323 section 2.2).
        let shift = if seg.has(f::SYN) { 0 } else { MAX_WINDOW_SHIFT };
        let right = ack.plus(u32::from(seg.window) << shift);
        if self
            .ack
            .is_none_or(|a| a.lt(ack) && ack.diff(a) <= MAX_AHEAD)
        {
            self.ack = Some(ack);
        }
        if self
            .right
            .is_none_or(|r| r.lt(right) && right.diff(r) <= MAX_AHEAD)
        {
            self.right = Some(right);
        }
    }

    /// Whether this side could have accepted a RST with sequence number `seq`: unknown (no
    /// acknowledgment seen yet) counts as yes.
    pub fn accepts(&self, seq: Seq) -> bool {
        match (self.ack, self.right) {
            (Some(ack), Some(right)) => ack.le(seq) && seq.le(right),
            _ => true,
        }
    }
}

/// A RST in the receiver's window that ended the connection, unless what follows shows the
/// peers went on.
#[derive(Clone, Copy, Debug)]
pub struct PendingReset {
    /// The RST's sender.
    pub side: usize,
    /// The sender's sequence space up to here was sent before the RST.
    sent_before: Seq,
    /// How far the sender's sequence space reached after the RST.
    sent_after: Seq,
    /// Further RSTs while this one was pending.
    pub more: u32,
}

impl PendingReset {
    /// `seq`: the RST's sequence number; `high`: the end of the sender's sequence space seen
    /// before it.
    pub fn new(side: usize, seq: Seq, high: Option<Seq>) -> PendingReset {
        let before = match high {
            Some(h) if seq.lt(h) && h.diff(seq) <= MAX_AHEAD => h,
            _ => seq,
        };
        PendingReset {
            side,
            sent_before: before,
            sent_after: before,
            more: 0,
        }
    }

    /// A segment other than a RST from `side`, after the RST. True when it shows that the
    /// RST's receiver took data sent after the RST: the RST was ignored.
    pub fn observe(&mut self, side: usize, seg: &Segment<'_>) -> bool {
        if seg.has(f::SYN) {
            // A new handshake is the flow table's business (a new generation).
            return false;
        }
        if side == self.side {
            let end = seq_end(seg);
            let d = end.diff(self.sent_before);
            if d > 0 && d <= MAX_AHEAD && self.sent_after.lt(end) {
                self.sent_after = end;
            }
            return false;
        }
        let ack = Seq(seg.ack);
        seg.has(f::ACK) && self.sent_before.lt(ack) && ack.le(self.sent_after)
    }
}

/// The end of a segment's sequence space (payload, SYN and FIN).
pub fn seq_end(seg: &Segment<'_>) -> Seq {
    Seq(seg.seq)
        .plus(seg.wire_len())
        .plus(u32::from(seg.has(f::SYN)))
        .plus(u32::from(seg.has(f::FIN)))
}

#[cfg(test)]
mod tests;
