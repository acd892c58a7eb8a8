//! The engine: a frame source -> the reading thread (decode, shard) -> N workers (flow
//! tables and analysis shards) -> one aggregator (merged aggregates, ordered events,
//! snapshots). One code path for one worker and for many; files, standard input and live
//! interfaces are all a [`FrameSource`].
//!
//! The reading thread decodes each frame, hashes its 4-tuple (symmetrically, so both
//! directions meet in one worker) and appends the decoded segment to that worker's batch.
//! Payloads are not copied when the file is memory-mapped: workers read them from the map,
//! whose pages are handed back only behind every worker. Batches leave when full, on an idle
//! tick (so that connections age on a quiet link), and regularly to every worker (so that the
//! watermark moves even for a worker without packets). Batches are recycled through a return
//! channel: after warm-up nothing is allocated per packet.
//!
//! Workers send their events and aggregate deltas to the aggregator thread, which releases
//! the events in capture order (see [`watermark`]) and publishes [`Snapshot`]s every
//! `Settings::publish_every` of capture time; the final report is the last one. Records and
//! snapshots go to the caller's [`Sink`] from the aggregator thread, in the order released.
//! Nothing here reads the wall clock: time comes from frames and ticks.

pub mod aggregator;
pub mod batch;
pub mod watermark;
mod worker;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::analysis::event::Events;
use crate::analysis::intervals::Intervals;
use crate::analysis::{self, Delta, FrameStats, NoOutput, Output, Report};
use crate::capture::{CaptureError, CaptureStats, Damage, FrameSource, Next, Progress, SharedMap};
use crate::decode::{self, Segment};
use crate::flow::table::TableStats;
use crate::flow::Limits;
use crate::proto;
use crate::time::Timestamp;
use aggregator::Aggregator;
use batch::{shard_of, Batch, Meta};
use worker::Worker;

/// What the engine is asked to do; built from the command line at the edge.
#[derive(Clone, Debug)]
pub struct Settings {
    pub analysis: analysis::Config,
    pub proto: proto::Config,
    pub limits: Limits,
    /// Workers running flow tables.
    pub threads: usize,
    /// The inputs' names, for the report.
    pub files: Vec<String>,
    /// Publish a snapshot every this many seconds of capture time (live views).
    pub publish_every: Option<f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            analysis: analysis::Config::default(),
            proto: proto::Config::default(),
            limits: Limits::default(),
            threads: 1,
            files: Vec::new(),
            publish_every: None,
        }
    }
}

/// The analysis as it stood at one moment of capture time: immutable, for a live view or a
/// time cursor.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: Timestamp,
    /// Aggregates so far (no connection records).
    pub report: Report,
    /// Connections open, and sockets in TIME_WAIT per side (client, server), at `at`.
    pub open_now: u64,
    pub time_wait_now: (u64, u64),
    /// Per-interval figures so far; the interval ending at `at` is complete.
    pub intervals: Intervals,
    /// Running counts of connections opened and requests, for rates between snapshots.
    pub seen: analysis::Seen,
    /// The capture mechanism's counters (live sources).
    pub capture: Option<CaptureStats>,
}

/// Where the engine's results go, from the aggregator thread.
pub trait Sink: Send {
    /// Records, as they are released in capture order.
    fn records(&mut self) -> &mut dyn Output;
    /// A snapshot, every `Settings::publish_every` of capture time.
    fn snapshot(&mut self, _snap: &Snapshot) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for NoOutput {
    fn records(&mut self) -> &mut dyn Output {
        self
    }
}

/// Records to an [`Output`]; no snapshots.
pub struct RecordsTo<O>(pub O);

impl<O: Output + Send> Sink for RecordsTo<O> {
    fn records(&mut self) -> &mut dyn Output {
        &mut self.0
    }
}

pub struct Outcome {
    pub report: Report,
    /// The last snapshot (the report's figures, with the interval buckets).
    pub last: Snapshot,
    /// Inputs that were damaged; what could be read was analyzed.
    pub damage: Vec<Damage>,
    /// The output failed (a closed pipe, a full disk); reading stopped there.
    pub write_error: Option<std::io::Error>,
}

/// What workers and the reader tell the aggregator.
pub enum ToAggregator {
    Progress {
        worker: usize,
        through: u64,
        events: Events,
        delta: Option<Delta>,
        /// The worker handed its aggregates over for the snapshot due at this time.
        publish: Option<Timestamp>,
    },
    Done {
        worker: usize,
        events: Events,
        delta: Delta,
        table: TableStats,
    },
    /// The reader's frame counts and the capture's counters, before a snapshot and at the end.
    Frames(FrameStats, Option<CaptureStats>),
    /// The capture's counters as they stand (read just after a snapshot was asked for).
    Capture(CaptureStats),
}

/// How often (in frames read) the progress callback is called.
const PROGRESS_EVERY: u64 = 1 << 16;
/// Every worker is told how far the capture is at least this often, in frames and in bytes
/// of a mapped file (so that a worker with few packets does not keep the file's pages
/// resident).
const SYNC_FRAMES: u64 = 1 << 12;
const SYNC_BYTES: usize = 8 << 20;
/// Workers hand their aggregates over every this many syncs (and for snapshots, and at the
/// end).
const HANDOVER_EVERY_SYNCS: u64 = 64;
/// Batches per worker in flight (full, being processed, or waiting for reuse).
const BATCHES_PER_WORKER: usize = 8;
/// Emptied event buffers waiting to go back to each worker.
const RECYCLED_EVENTS: usize = AGGREGATOR_QUEUE + 2;
/// Messages to the aggregator in flight.
const AGGREGATOR_QUEUE: usize = 4;

/// Runs the analysis over `source` to its end. Records go to `sink` in capture order, and
/// snapshots every `settings.publish_every` of capture time.
pub fn run(
    source: &mut dyn FrameSource,
    settings: &Settings,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(Progress, u64),
) -> Result<Outcome, CaptureError> {
    let workers = settings.threads.max(1);
    let mut limits = settings.limits;
    // Each worker tracks its share of the connections.
    limits.max_connections = (limits.max_connections / workers).max(1);
    limits.held_total /= workers;
    let stop = AtomicBool::new(false);
    let (agg_tx, agg_rx) = sync_channel::<ToAggregator>(AGGREGATOR_QUEUE);
    let (read, aggregator) = std::thread::scope(|scope| {
        let stop = &stop;
        let mut recycle = Vec::with_capacity(workers);
        let mut recycled = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = sync_channel::<Events>(RECYCLED_EVENTS);
            recycle.push(tx);
            recycled.push(rx);
        }
        let aggregator = {
            let (cfg, files) = (settings.analysis, settings.files.clone());
            scope.spawn(move || Aggregator::new(cfg, workers, files).run(agg_rx, recycle, sink))
        };
        let mut full_tx: Vec<SyncSender<Batch>> = Vec::with_capacity(workers);
        let mut empty_rx: Vec<Receiver<Batch>> = Vec::with_capacity(workers);
        for (index, recycled) in recycled.into_iter().enumerate() {
            let (ftx, frx) = sync_channel::<Batch>(BATCHES_PER_WORKER);
            let (etx, erx) = sync_channel::<Batch>(BATCHES_PER_WORKER);
            full_tx.push(ftx);
            empty_rx.push(erx);
            let worker = Worker {
                index,
                analysis: settings.analysis,
                proto: settings.proto,
                limits,
            };
            let agg_tx = agg_tx.clone();
            scope.spawn(move || worker.run(frx, etx, agg_tx, recycled, stop));
        }
        let mut reader = Reader {
            workers,
            current: (0..workers).map(|_| Batch::new()).collect(),
            made: vec![1; workers],
            full_tx,
            empty_rx,
            stop,
            stats: FrameStats::default(),
            publish_every: settings
                .publish_every
                .map(|s| ((s * 1e9) as i64).max(1_000_000)),
            next_publish: None,
        };
        let read = reader.read(source, &agg_tx, progress);
        let stats = reader.stats;
        drop(reader); // closes the batch channels: workers finish
        let _ = agg_tx.send(ToAggregator::Frames(stats, source.capture_stats()));
        drop(agg_tx);
        let aggregator = aggregator.join().expect("aggregator panicked");
        (read, aggregator)
    });
    read?;
    let damage = source.damage();
    let damage_lines: Vec<String> = damage.iter().map(|d| d.to_string()).collect();
    let (report, last, write_error) = aggregator.finish(&damage_lines);
    Ok(Outcome {
        report,
        last,
        damage,
        write_error,
    })
}

/// The reading thread's side of the batches.
struct Reader<'a> {
    workers: usize,
    current: Vec<Batch>,
    /// Batches made so far per worker (at most BATCHES_PER_WORKER).
    made: Vec<usize>,
    full_tx: Vec<SyncSender<Batch>>,
    empty_rx: Vec<Receiver<Batch>>,
    stop: &'a AtomicBool,
    stats: FrameStats,
    /// Snapshot period (ns of capture time), and the next boundary.
    publish_every: Option<i64>,
    next_publish: Option<i64>,
}

impl Reader<'_> {
    /// Sends worker `w`'s batch, marked as in `Batch`, and takes a fresh one. False when the
    /// worker is gone or the analysis stopped.
    fn send(&mut self, w: usize, through: u64, map: &Option<SharedMap>, upto: usize) -> bool {
        let next = match self.empty_rx[w].try_recv() {
            Ok(b) => b,
            Err(_) if self.made[w] < BATCHES_PER_WORKER => {
                self.made[w] += 1;
                Batch::new()
            }
            Err(_) => match self.empty_rx[w].recv() {
                Ok(b) => b,
                Err(_) => return false,
            },
        };
        let mut full = std::mem::replace(&mut self.current[w], next);
        full.through = through;
        full.map = map.clone();
        full.upto = upto;
        self.full_tx[w].send(full).is_ok() && !self.stop.load(Ordering::Relaxed)
    }

    /// Sends every worker its batch (even an empty one) with `tick`, `handover` and
    /// `publish` set.
    fn send_all(
        &mut self,
        through: u64,
        map: &Option<SharedMap>,
        upto: usize,
        tick: Option<Timestamp>,
        handover: bool,
        publish: Option<Timestamp>,
    ) -> bool {
        for w in 0..self.workers {
            self.current[w].tick = tick;
            self.current[w].handover = handover;
            self.current[w].publish = publish;
            if !self.send(w, through, map, upto) {
                return false;
            }
        }
        true
    }

    fn read(
        &mut self,
        source: &mut dyn FrameSource,
        agg: &SyncSender<ToAggregator>,
        progress: &mut dyn FnMut(Progress, u64),
    ) -> Result<(), CaptureError> {
        // The mapped file the batches being filled point into, and where in it every worker
        // was last told how far the capture is.
        let mut file: Option<SharedMap> = None;
        let mut synced_at = 0usize;
        let mut last = 0u64;
        let mut syncs = 0u64;
        let mut reported = 0u64;
        loop {
            let mut tick = None;
            let mut published = false;
            match source.next()? {
                Next::End => break,
                Next::Tick(now) => tick = Some(now),
                Next::Frame { number, frame, map } => {
                    let switched = match (map, &file) {
                        (Some(a), Some(b)) => !a.same(b),
                        (None, None) => false,
                        _ => true,
                    };
                    if switched {
                        // A new file: what points into the last one goes first.
                        for w in 0..self.workers {
                            if !self.current[w].frames.is_empty()
                                && !self.send(w, number - 1, &file, usize::MAX)
                            {
                                return Ok(());
                            }
                        }
                        file = map.cloned();
                        synced_at = 0;
                    }
                    let at = map.and_then(|m| m.offset_of(frame.data)).unwrap_or(0);
                    if number / SYNC_FRAMES != last / SYNC_FRAMES || at >= synced_at + SYNC_BYTES {
                        // Tell every worker, even one without packets, how far the capture
                        // is (for the watermark) and how far the mapped file is (so its pages
                        // can be handed back).
                        synced_at = at;
                        syncs += 1;
                        let handover = syncs.is_multiple_of(HANDOVER_EVERY_SYNCS);
                        if !self.send_all(number - 1, &file, at, None, handover, None) {
                            return Ok(());
                        }
                    }
                    if let Some(when) = self.publish_due(frame.ts) {
                        // Every frame before this one is in the snapshot, none after.
                        published = true;
                        let _ = agg.send(ToAggregator::Frames(self.stats, None));
                        if !self.send_all(number - 1, &file, at, None, true, Some(when)) {
                            return Ok(());
                        }
                    }
                    last = number;
                    self.stats.frame(frame.ts, frame.orig_len);
                    match decode::decode(&frame) {
                        Ok((seg, via)) => {
                            self.stats.tunnelled.add(via);
                            let w = shard_of(&seg.src, &seg.dst, self.workers);
                            self.push(w, number, frame.ts, &seg, map);
                            if self.current[w].full()
                                && !self.send(w, number, &file, at + frame.data.len())
                            {
                                return Ok(());
                            }
                        }
                        Err(why) => self.stats.skip(why),
                    }
                }
            }
            if let Some(now) = tick {
                // Quiet: every worker ages its connections; a snapshot may be due.
                let publish = self.publish_due(now);
                published = publish.is_some();
                let _ = agg.send(ToAggregator::Frames(self.stats, None));
                if !self.send_all(last, &file, synced_at, Some(now), true, publish) {
                    return Ok(());
                }
            }
            if published {
                if let Some(c) = source.capture_stats() {
                    let _ = agg.send(ToAggregator::Capture(c));
                }
            }
            if last / PROGRESS_EVERY != reported / PROGRESS_EVERY || tick.is_some() {
                reported = last;
                progress(source.progress(), self.stats.packets);
            }
        }
        progress(source.progress(), self.stats.packets);
        for w in 0..self.workers {
            if !self.current[w].frames.is_empty() && !self.send(w, last, &file, usize::MAX) {
                break;
            }
        }
        Ok(())
    }

    /// The snapshot boundary that capture time `now` reached, if one is due.
    fn publish_due(&mut self, now: Timestamp) -> Option<Timestamp> {
        let every = self.publish_every?;
        let floor = now.0 - now.0.rem_euclid(every);
        match self.next_publish {
            None => {
                self.next_publish = Some(floor.saturating_add(every));
                None
            }
            Some(next) if now.0 >= next => {
                self.next_publish = Some(floor.saturating_add(every));
                Some(Timestamp(floor))
            }
            Some(_) => None,
        }
    }

    /// Appends a decoded segment to worker `w`'s batch.
    fn push(
        &mut self,
        w: usize,
        number: u64,
        ts: Timestamp,
        seg: &Segment<'_>,
        map: Option<&SharedMap>,
    ) {
        let b = &mut self.current[w];
        // The header and payload lie back to back in the frame, so a map holds them as one.
        let header = seg.tcp_header;
        let in_map = map
            .and_then(|m| m.offset_of(header))
            .filter(|&at| map.and_then(|m| m.offset_of(seg.payload)) == Some(at + header.len()));
        let start = in_map.unwrap_or_else(|| {
            let start = b.data.len();
            b.data.extend_from_slice(header);
            b.data.extend_from_slice(seg.payload);
            start
        });
        b.frames.push(Meta {
            number,
            ts,
            seg: Segment {
                payload: &[],
                tcp_header: &[],
                ..*seg
            },
            in_map: in_map.is_some(),
            // At most 60 bytes (data offset 15 x 4).
            header: header.len() as u8,
            start,
            len: seg.payload.len() as u32,
        });
    }
}
