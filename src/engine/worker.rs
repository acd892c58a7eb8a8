//! A worker: one flow table and one analysis shard over its share of the flows. After every
//! batch it hands the aggregator its new events and how far it is; its aggregates go over
//! when the reader asks (`Batch::handover`, `Batch::publish`), and at the end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use super::batch::Batch;
use super::ToAggregator;
use crate::analysis::event::Events;
use crate::analysis::{self, Shard};
use crate::flow::{FlowTable, Limits};
use crate::proto::{self, Conversation};

pub struct Worker {
    pub index: usize,
    pub analysis: analysis::Config,
    pub proto: proto::Config,
    pub limits: Limits,
}

impl Worker {
    /// Runs until the reader closes `batches`; returns the batches it is given back on
    /// `empty` for reuse.
    pub fn run(
        self,
        batches: Receiver<Batch>,
        empty: SyncSender<Batch>,
        out: SyncSender<ToAggregator>,
        recycled: Receiver<Events>,
        stop: &AtomicBool,
    ) {
        let fresh = || recycled.try_recv().unwrap_or_default();
        let w = self.index;
        let mut shard = Shard::new(self.analysis);
        let mut table: FlowTable<Conversation> = FlowTable::new(self.limits, self.proto);
        let mut through = 0;
        for mut batch in batches {
            if !stop.load(Ordering::Relaxed) {
                let file = batch.map.as_ref().map_or(&[][..], |m| m.bytes());
                for m in &batch.frames {
                    let seg = m.segment(file, &batch.data);
                    table.segment(m.number, m.ts, &seg, &mut shard);
                }
                if let Some(now) = batch.tick {
                    table.expire(now, batch.through, &mut shard);
                }
            }
            if let Some(map) = batch.map.take() {
                map.done(w, batch.upto);
            }
            through = batch.through.max(through);
            let delta = (batch.handover || batch.publish.is_some()).then(|| shard.take_delta());
            let msg = ToAggregator::Progress {
                worker: w,
                through,
                events: shard.take_events(fresh()),
                delta,
                publish: batch.publish,
            };
            if out.send(msg).is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            batch.data.clear();
            batch.frames.clear();
            batch.tick = None;
            batch.handover = false;
            batch.publish = None;
            // The reader may have gone: then the batch is simply dropped.
            let _ = empty.send(batch);
        }
        table.finish_all(&mut shard);
        let _ = out.send(ToAggregator::Done {
            worker: w,
            events: shard.take_events(Events::default()),
            delta: shard.take_delta(),
            table: table.stats,
        });
    }
}
