//! Releases every worker's events in one capture order. Each worker hands over its events
//! together with how far through the capture it is (every frame of its share up to that
//! number is processed); events wait in a heap and are released once every worker is past
//! them. Capture order (frame numbers), not capture time, because time need not be monotonic
//! (files given out of order, clock steps) and the order must not depend on how the work was
//! split. Memory is bounded by the events in flight between the fastest and the slowest
//! worker.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::analysis::event::{Events, Payload, Stamped};

/// A worker that has finished is past every frame.
pub const DONE: u64 = u64::MAX;

/// A waiting event's key (frame, connection, seq), its slot, and its payload's slot
/// (`usize::MAX` for none).
type Entry = (u64, u64, u64, usize, usize);

pub struct Watermark {
    /// Events waiting, in slots; the heap orders their keys and slot numbers only, so that a
    /// sift moves 32 bytes, not an event.
    slots: Vec<Option<Stamped>>,
    free: Vec<usize>,
    /// The payloads of waiting events that have one; the slot is kept beside the heap entry.
    payloads: Vec<Option<Payload>>,
    free_payloads: Vec<usize>,
    pending: BinaryHeap<Reverse<Entry>>,
    /// Per worker: every frame of its share up to this number is processed and its events
    /// are in `pending`.
    through: Vec<u64>,
}

impl Watermark {
    pub fn new(workers: usize) -> Watermark {
        Watermark {
            slots: Vec::new(),
            free: Vec::new(),
            payloads: Vec::new(),
            free_payloads: Vec::new(),
            pending: BinaryHeap::new(),
            through: vec![0; workers.max(1)],
        }
    }

    /// Worker `w` is through frame `through` (or [`DONE`]); `events` are all it produced up
    /// to there. Events and progress come together, so no event can be overtaken.
    /// `events` is left empty, its buffers kept for reuse.
    pub fn update(&mut self, w: usize, through: u64, events: &mut Events) {
        let mut payloads = events.payloads.drain(..);
        for e in events.events.drain(..) {
            let (frame, conn, seq) = e.key();
            let ex_slot = match e.event.has_payload().then(|| payloads.next()).flatten() {
                Some(x) => put(&mut self.payloads, &mut self.free_payloads, x),
                None => usize::MAX,
            };
            let slot = put(&mut self.slots, &mut self.free, e);
            self.pending
                .push(Reverse((frame, conn, seq, slot, ex_slot)));
        }
        if let Some(t) = self.through.get_mut(w) {
            *t = (*t).max(through);
        }
    }

    /// The frame number every worker is past.
    pub fn level(&self) -> u64 {
        self.through.iter().copied().min().unwrap_or(DONE)
    }

    /// The next event no worker can precede any more, with its payload.
    pub fn release(&mut self) -> Option<(Stamped, Option<Payload>)> {
        let level = self.level();
        let &Reverse((frame, _, _, slot, ex_slot)) = self.pending.peek()?;
        if frame > level {
            return None;
        }
        self.pending.pop();
        self.free.push(slot);
        let payload = self.payloads.get_mut(ex_slot).and_then(|x| {
            self.free_payloads.push(ex_slot);
            x.take()
        });
        Some((self.slots[slot].take()?, payload))
    }

    /// Events waiting for a slower worker.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

/// Puts `x` in a free slot of `slots` (or a new one) and says which.
fn put<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<usize>, x: T) -> usize {
    match free.pop() {
        Some(i) => {
            slots[i] = Some(x);
            i
        }
        None => {
            slots.push(Some(x));
            slots.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::event::Event;
    use crate::time::Timestamp;

    fn ev(frame: u64, seq: u64) -> Stamped {
        Stamped {
            frame,
            connection: frame,
            seq,
            event: Event::Closed {
                at: Timestamp(0),
                client: std::net::Ipv4Addr::LOCALHOST.into(),
                server: crate::decode::Endpoint {
                    ip: std::net::Ipv4Addr::LOCALHOST.into(),
                    port: 80,
                },
                server_idle: None,
            },
        }
    }

    fn drain(w: &mut Watermark) -> Vec<u64> {
        std::iter::from_fn(|| w.release())
            .map(|(e, _)| e.frame)
            .collect()
    }

    fn evs(v: Vec<Stamped>) -> Events {
        Events {
            events: v,
            payloads: Vec::new(),
        }
    }

    #[test]
    fn release_waits_for_the_slowest_worker_and_follows_capture_order() {
        let mut w = Watermark::new(2);
        w.update(0, 9, &mut evs(vec![ev(1, 1), ev(9, 2)]));
        // Worker 1 has not reported: nothing is released, its earlier events may come.
        assert_eq!(drain(&mut w), Vec::<u64>::new());
        w.update(1, 5, &mut evs(vec![ev(3, 1), ev(5, 2)]));
        assert_eq!(drain(&mut w), vec![1, 3, 5]);
        w.update(1, DONE, &mut evs(vec![ev(8, 3)]));
        assert_eq!(drain(&mut w), vec![8, 9]);
        assert_eq!(w.waiting(), 0);
    }
}
