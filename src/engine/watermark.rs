//! Releases every worker's events in one capture order. Each worker hands over its events
//! together with how far through the capture it is (every frame of its share up to that
//! number is processed); events wait in a heap and are released once every worker is past
//! them. Capture order (frame numbers), not capture time, because time need not be monotonic
//! (files given out of order, clock steps) and the order must not depend on how the work was
//! split. Memory is bounded by the events in flight between the fastest and the slowest
//! worker.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::analysis::event::Stamped;

/// A worker that has finished is past every frame.
pub const DONE: u64 = u64::MAX;

struct ByKey(Stamped);

impl PartialEq for ByKey {
    fn eq(&self, o: &Self) -> bool {
        self.0.key() == o.0.key()
    }
}
impl Eq for ByKey {}
impl PartialOrd for ByKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByKey {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.key().cmp(&o.0.key())
    }
}

pub struct Watermark {
    pending: BinaryHeap<Reverse<ByKey>>,
    /// Per worker: every frame of its share up to this number is processed and its events
    /// are in `pending`.
    through: Vec<u64>,
}

impl Watermark {
    pub fn new(workers: usize) -> Watermark {
        Watermark {
            pending: BinaryHeap::new(),
            through: vec![0; workers.max(1)],
        }
    }

    /// Worker `w` is through frame `through` (or [`DONE`]); `events` are all it produced up
    /// to there. Events and progress come together, so no event can be overtaken.
    pub fn update(&mut self, w: usize, through: u64, events: Vec<Stamped>) {
        self.pending
            .extend(events.into_iter().map(|e| Reverse(ByKey(e))));
        if let Some(t) = self.through.get_mut(w) {
            *t = (*t).max(through);
        }
    }

    /// The frame number every worker is past.
    pub fn level(&self) -> u64 {
        self.through.iter().copied().min().unwrap_or(DONE)
    }

    /// The next event no worker can precede any more.
    pub fn release(&mut self) -> Option<Stamped> {
        let level = self.level();
        if self.pending.peek()?.0 .0.frame > level {
            return None;
        }
        self.pending.pop().map(|Reverse(ByKey(e))| e)
    }

    /// Events waiting for a slower worker.
    pub fn waiting(&self) -> usize {
        self.pending.len()
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
            event: Event::Opened { at: Timestamp(0) },
        }
    }

    fn drain(w: &mut Watermark) -> Vec<u64> {
        std::iter::from_fn(|| w.release())
            .map(|e| e.frame)
            .collect()
    }

    #[test]
    fn release_waits_for_the_slowest_worker_and_follows_capture_order() {
        let mut w = Watermark::new(2);
        w.update(0, 9, vec![ev(1, 1), ev(9, 2)]);
        // Worker 1 has not reported: nothing is released, its earlier events may come.
        assert_eq!(drain(&mut w), Vec::<u64>::new());
        w.update(1, 5, vec![ev(3, 1), ev(5, 2)]);
        assert_eq!(drain(&mut w), vec![1, 3, 5]);
        w.update(1, DONE, vec![ev(8, 3)]);
        assert_eq!(drain(&mut w), vec![8, 9]);
        assert_eq!(w.waiting(), 0);
    }
}
