//! The aggregator: the one consumer of every worker's output. It merges their aggregate
//! deltas, releases their events in capture order through the watermark to the analysis
//! replay (peak open connections, TIME_WAIT, intervals, records to the sink), and publishes
//! immutable snapshots to the sink when the reader asks for one and every worker has handed
//! its aggregates over. The final report is the last snapshot.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc::{Receiver, SyncSender};

use super::watermark::{Watermark, DONE};
use super::{Sink, Snapshot, ToAggregator};
use crate::analysis::event::Events;
use crate::analysis::{self, Aggregate, FrameStats, Inputs, Replay, Report};
use crate::capture::CaptureStats;
use crate::flow::table::TableStats;
use crate::time::Timestamp;

pub struct Aggregator {
    cfg: analysis::Config,
    /// The inputs' names, for the snapshots' summaries.
    files: Vec<String>,
    workers: usize,
    watermark: Watermark,
    aggregate: Aggregate,
    replay: Replay,
    table: TableStats,
    frames: FrameStats,
    capture: Option<CaptureStats>,
    /// Snapshots asked for, and how many workers have handed their aggregates over for each.
    due: BTreeMap<Timestamp, usize>,
    /// The first write error; nothing more is written after it.
    pub error: Option<io::Error>,
}

impl Aggregator {
    pub fn new(cfg: analysis::Config, workers: usize, files: Vec<String>) -> Aggregator {
        Aggregator {
            cfg,
            files,
            workers,
            watermark: Watermark::new(workers),
            aggregate: Aggregate::default(),
            replay: Replay::new(cfg),
            table: TableStats::default(),
            frames: FrameStats::default(),
            capture: None,
            due: BTreeMap::new(),
            error: None,
        }
    }

    /// Takes messages until every worker and the reader are done; records and snapshots go
    /// to `sink`. Each worker's emptied event buffers go back to it on `recycle`.
    pub fn run(
        mut self,
        rx: Receiver<ToAggregator>,
        recycle: Vec<SyncSender<Events>>,
        sink: &mut dyn Sink,
    ) -> Aggregator {
        for msg in rx {
            match msg {
                ToAggregator::Progress {
                    worker,
                    through,
                    events,
                    delta,
                    publish,
                } => {
                    let mut events = events;
                    self.watermark.update(worker, through, &mut events);
                    if let Some(tx) = recycle.get(worker) {
                        // A worker with enough buffers already lets this one go.
                        let _ = tx.try_send(events);
                    }
                    if let Some(d) = delta {
                        self.aggregate.add(d);
                    }
                    if let Some(at) = publish {
                        *self.due.entry(at).or_insert(0) += 1;
                    }
                }
                ToAggregator::Done {
                    worker,
                    events,
                    delta,
                    table,
                } => {
                    let mut events = events;
                    self.watermark.update(worker, DONE, &mut events);
                    self.aggregate.add(delta);
                    self.table.merge(&table);
                }
                ToAggregator::Frames(frames, capture) => {
                    self.frames = frames;
                    self.capture = capture.or(self.capture);
                }
                ToAggregator::Capture(capture) => self.capture = Some(capture),
            }
            self.release(sink);
            while let Some((&at, &n)) = self.due.first_key_value() {
                if n < self.workers {
                    break;
                }
                self.due.pop_first();
                let snap = self.snapshot(&[], at, false);
                if self.error.is_none() {
                    if let Err(e) = sink.snapshot(&snap) {
                        self.error = Some(e);
                    }
                }
            }
        }
        self.release(sink);
        self
    }

    fn release(&mut self, sink: &mut dyn Sink) {
        while let Some((ev, payload)) = self.watermark.release() {
            if self.error.is_some() {
                continue;
            }
            if let Err(e) = self.replay.apply(ev, payload, sink.records()) {
                self.error = Some(e);
            }
        }
    }

    /// The analysis as it stands at capture time `at` (`last`: every event is in).
    pub fn snapshot(&mut self, damage: &[String], at: Timestamp, last: bool) -> Snapshot {
        let inputs = Inputs {
            cfg: self.cfg,
            files: self.files.clone(),
            damage: damage.to_vec(),
            frames: self.frames,
            table: self.table,
        };
        Snapshot {
            at,
            report: self.aggregate.report(&inputs, &mut self.replay, last),
            open_now: self.replay.open_now(),
            time_wait_now: self.replay.time_wait_at(at),
            intervals: self.replay.intervals.clone(),
            seen: self.replay.seen,
            capture: self.capture,
        }
    }

    /// The final report (the last snapshot plus the records kept for one document), and the
    /// last snapshot itself.
    pub fn finish(mut self, damage: &[String]) -> (Report, Snapshot, Option<io::Error>) {
        let at = self.frames.last_ts.unwrap_or_default();
        let snap = self.snapshot(damage, at, true);
        let mut report = snap.report.clone();
        report.connections = self.replay.take_connections();
        (report, snap, self.error)
    }
}
