//! The aggregator: the one consumer of every worker's output. It merges their aggregate
//! deltas, releases their events in capture order through the watermark to the analysis
//! replay (peak open connections, TIME_WAIT, intervals, records to the output), and
//! publishes immutable snapshots. The final report is the last snapshot.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use super::watermark::{Watermark, DONE};
use super::{Snapshot, ToAggregator};
use crate::analysis::{self, Aggregate, FrameStats, Inputs, Output, Replay, Report};
use crate::flow::table::TableStats;

pub struct Aggregator {
    cfg: analysis::Config,
    watermark: Watermark,
    aggregate: Aggregate,
    replay: Replay,
    table: TableStats,
    frames: FrameStats,
    /// The first write error; nothing more is written after it.
    pub error: Option<io::Error>,
}

impl Aggregator {
    pub fn new(cfg: analysis::Config, workers: usize) -> Aggregator {
        Aggregator {
            cfg,
            watermark: Watermark::new(workers),
            aggregate: Aggregate::default(),
            replay: Replay::new(cfg),
            table: TableStats::default(),
            frames: FrameStats::default(),
            error: None,
        }
    }

    /// Takes messages until every worker and the reader are done. Snapshots go to
    /// `snapshots` when the reader asks for one (`ToAggregator::Publish`).
    pub fn run(
        mut self,
        rx: Receiver<ToAggregator>,
        out: &mut dyn Output,
        snapshots: Option<SyncSender<Arc<Snapshot>>>,
    ) -> Aggregator {
        for msg in rx {
            match msg {
                ToAggregator::Progress {
                    worker,
                    through,
                    events,
                    delta,
                } => {
                    self.watermark.update(worker, through, events);
                    if let Some(d) = delta {
                        self.aggregate.add(d);
                    }
                }
                ToAggregator::Done {
                    worker,
                    events,
                    delta,
                    table,
                } => {
                    self.watermark.update(worker, DONE, events);
                    self.aggregate.add(delta);
                    self.table.merge(&table);
                }
                ToAggregator::Frames(frames) => self.frames = frames,
                ToAggregator::Publish(frames) => {
                    self.frames = frames;
                    self.release(out);
                    if let Some(tx) = &snapshots {
                        // A slow reader of snapshots misses some; the analysis never waits.
                        let _ = tx.try_send(Arc::new(self.snapshot(&[], &[], false)));
                    }
                    continue;
                }
            }
            self.release(out);
        }
        self.release(out);
        self
    }

    fn release(&mut self, out: &mut dyn Output) {
        while let Some(ev) = self.watermark.release() {
            if self.error.is_some() {
                continue;
            }
            if let Err(e) = self.replay.apply(ev, out) {
                self.error = Some(e);
            }
        }
    }

    /// The analysis as it stands (`last`: every event is in).
    pub fn snapshot(&mut self, files: &[String], damage: &[String], last: bool) -> Snapshot {
        let inputs = Inputs {
            cfg: self.cfg,
            files: files.to_vec(),
            damage: damage.to_vec(),
            frames: self.frames,
            table: self.table,
        };
        Snapshot {
            report: self.aggregate.report(&inputs, &mut self.replay, last),
            open_now: self.replay.open_now(),
            intervals: self.replay.intervals.clone(),
        }
    }

    /// The final report: the last snapshot, plus the records kept for one document.
    pub fn finish(mut self, files: &[String], damage: &[String]) -> (Report, Option<io::Error>) {
        let mut report = self.snapshot(files, damage, true).report;
        report.connections = self.replay.take_connections();
        (report, self.error)
    }
}
