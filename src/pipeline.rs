//! The offline pipeline: files -> frames -> segments -> flow tables -> shards -> report.
//!
//! Several files are one capture: frame numbers and connections continue across them, in the
//! order given. With more than one worker, this thread reads and decodes each frame, hashes
//! its 4-tuple (symmetrically, so both directions meet in one worker) and appends the decoded
//! segment to that worker's batch; the workers run the flow table and analysis on their share.
//! Payloads are not copied when the file is memory-mapped: workers read them from the map, and
//! its pages are handed back only behind every worker. Batches are recycled through a return
//! channel: after warm-up nothing is allocated per packet. With one worker everything runs on
//! this thread, on the frames as read.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use crate::analysis::sweep::Sweep;
use crate::analysis::{self, FrameStats, Inputs, Output, Report, Shard};
use crate::capture::{CaptureError, Damage, Filter, Frame, SharedMap, Source};
use crate::decode::{self, Endpoint, Segment};
use crate::flow::table::TableStats;
use crate::flow::{FlowTable, Limits};
use crate::proto::{self, Conversation};
use crate::time::Timestamp;

#[derive(Clone, Debug)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub filter: Option<String>,
    pub analysis: analysis::Config,
    pub limits: Limits,
    /// Workers running flow tables; 1 runs everything on the calling thread.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            files: Vec::new(),
            filter: None,
            analysis: analysis::Config::default(),
            limits: Limits::default(),
            threads: 1,
        }
    }
}

/// Where reading stands, for a progress display.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub file_index: usize,
    pub files: usize,
    /// Bytes read of the current file, and its size if known.
    pub position: u64,
    pub total: Option<u64>,
    pub packets: u64,
}

pub struct Outcome<O> {
    pub report: Report,
    /// Each worker's output, in worker order.
    pub outputs: Vec<O>,
    /// Inputs that were damaged; what could be read was analyzed.
    pub damage: Vec<Damage>,
    /// The output failed (a closed pipe, a full disk); reading stopped there.
    pub write_error: Option<std::io::Error>,
}

/// How often (in frames) the progress callback is called.
const PROGRESS_EVERY: u64 = 1 << 16;
/// How often (in frames) the single-threaded path hands events to the sweep.
const SYNC_EVERY: u64 = 4096;
/// A batch is sent when it holds this many frame bytes or frames.
const BATCH_BYTES: usize = 256 * 1024;
const BATCH_FRAMES: usize = 1024;
/// Batches per worker in flight (full, being processed, or waiting for reuse).
const BATCHES_PER_WORKER: usize = 8;
/// Every worker is also told how far the capture is at least this often in bytes of a mapped
/// file, so that a worker with few packets does not keep the file's pages resident.
const SYNC_BYTES: usize = 8 << 20;

/// The segments one worker is given at a time, decoded. Payloads are read where they lie in a
/// mapped file; from any other input they are copied into `data`.
struct Batch {
    data: Vec<u8>,
    frames: Vec<Meta>,
    /// Every frame of this worker's share up to this number is in this or an earlier batch.
    through: u64,
    /// The file being read, when it is mapped, and the offset in it before which none of this
    /// worker's later frames lie: once this batch is done, the worker needs nothing before it.
    map: Option<SharedMap>,
    upto: usize,
}

struct Meta {
    number: u64,
    ts: Timestamp,
    /// The segment as the reader decoded it, without its bytes...
    seg: Segment<'static>,
    /// ...which are at `start` in the mapped file (`in_map`) or in `data`: the TCP header
    /// (`header` bytes, for the checksum), then the payload (`len` bytes).
    in_map: bool,
    header: u8,
    start: usize,
    len: u32,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            data: Vec::with_capacity(BATCH_BYTES + 65536),
            frames: Vec::with_capacity(BATCH_FRAMES),
            through: 0,
            map: None,
            upto: 0,
        }
    }
    fn full(&self) -> bool {
        self.data.len() >= BATCH_BYTES || self.frames.len() >= BATCH_FRAMES
    }
}

/// The worker a flow belongs to: a hash of its two endpoints that does not depend on their
/// order (so both directions meet), cheap enough for the reading thread.
fn shard_of(a: &Endpoint, b: &Endpoint, workers: usize) -> usize {
    fn mix(e: &Endpoint) -> u64 {
        let ip = match e.ip {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let x = u128::from(v6);
                (x as u64) ^ ((x >> 64) as u64).rotate_left(29)
            }
        };
        // MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
        let mut x = ip ^ (u64::from(e.port) << 48);
        x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    ((mix(a) ^ mix(b)) % workers as u64) as usize
}

pub fn run<O, F>(
    opts: &Options,
    mut make_output: F,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome<O>, CaptureError>
where
    O: Output + Send,
    F: FnMut(usize) -> O,
{
    let workers = opts.threads.max(1);
    let sweep = Arc::new(Sweep::new(workers, opts.analysis.time_wait_secs));
    let mut limits = opts.limits;
    // Each worker tracks its share of the connections.
    limits.max_connections = (limits.max_connections / workers).max(1);
    limits.held_total /= workers;
    let proto_cfg = proto::Config {
        detail: opts.analysis.requests,
    };
    let mut reader = Reader::new(opts)?;
    let (shards, tables, frames, damage) = if workers == 1 {
        let mut shard = Shard::new(opts.analysis, 0, sweep.clone(), make_output(0));
        let mut table: FlowTable<Conversation> = FlowTable::new(limits, proto_cfg);
        reader.read_all(0, progress, |number, frame, stats, _| {
            match decode::decode(&frame) {
                Ok((seg, via)) => {
                    stats.tunnelled.add(via);
                    table.segment(number, frame.ts, &seg, &mut shard)
                }
                Err(why) => stats.skip(why),
            }
            if number.is_multiple_of(SYNC_EVERY) {
                shard.sync(number);
                if shard.error.is_some() {
                    return false;
                }
            }
            true
        })?;
        table.finish_all(&mut shard);
        shard.done();
        let (frames, damage) = reader.finish();
        (vec![shard], vec![table.stats], frames, damage)
    } else {
        let outputs: Vec<O> = (0..workers).map(&mut make_output).collect();
        run_parallel(opts, limits, &sweep, outputs, &mut reader, progress)?
    };
    let files = opts.files.iter().map(|p| p.display().to_string()).collect();
    let inputs = Inputs {
        cfg: opts.analysis,
        files,
        damage: damage.iter().map(|d| d.to_string()).collect(),
        frames,
        tables,
    };
    let mut shards = shards;
    let write_error = shards.iter_mut().find_map(|s| s.error.take());
    let (report, outputs) = analysis::merge(inputs, shards, &sweep);
    Ok(Outcome {
        report,
        outputs,
        damage,
        write_error,
    })
}

type Parts<O> = (Vec<Shard<O>>, Vec<TableStats>, FrameStats, Vec<Damage>);

fn run_parallel<O: Output + Send>(
    opts: &Options,
    limits: Limits,
    sweep: &Arc<Sweep>,
    outputs: Vec<O>,
    reader: &mut Reader,
    progress: &mut dyn FnMut(Progress),
) -> Result<Parts<O>, CaptureError> {
    let workers = outputs.len();
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        let mut full_tx: Vec<SyncSender<Batch>> = Vec::with_capacity(workers);
        let mut empty_rx: Vec<Receiver<Batch>> = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for (w, out) in outputs.into_iter().enumerate() {
            let (ftx, frx) = sync_channel::<Batch>(BATCHES_PER_WORKER);
            let (etx, erx) = sync_channel::<Batch>(BATCHES_PER_WORKER);
            full_tx.push(ftx);
            empty_rx.push(erx);
            let (cfg, sweep, stop) = (opts.analysis, sweep.clone(), stop.clone());
            let proto_cfg = proto::Config {
                detail: cfg.requests,
            };
            handles.push(scope.spawn(move || {
                let mut shard = Shard::new(cfg, w, sweep, out);
                let mut table: FlowTable<Conversation> = FlowTable::new(limits, proto_cfg);
                for mut batch in frx {
                    if !stop.load(Ordering::Relaxed) {
                        let file = batch.map.as_ref().map_or(&[][..], |m| m.bytes());
                        for m in &batch.frames {
                            let from = if m.in_map { file } else { &batch.data[..] };
                            let at = m.start + usize::from(m.header);
                            let seg = Segment {
                                tcp_header: &from[m.start..at],
                                payload: &from[at..at + m.len as usize],
                                ..m.seg
                            };
                            table.segment(m.number, m.ts, &seg, &mut shard);
                        }
                    }
                    if let Some(map) = batch.map.take() {
                        map.done(w, batch.upto);
                    }
                    shard.sync(batch.through);
                    if shard.error.is_some() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    batch.data.clear();
                    batch.frames.clear();
                    // The reader may have gone: then the batch is simply dropped.
                    let _ = etx.send(batch);
                }
                table.finish_all(&mut shard);
                shard.done();
                (shard, table.stats)
            }));
        }
        let mut current: Vec<Batch> = (0..workers).map(|_| Batch::new()).collect();
        let mut made = vec![1usize; workers];
        // Sends worker w's batch, marked as in `Batch`, and takes a fresh one.
        let mut send = |w: usize,
                        through: u64,
                        map: &Option<SharedMap>,
                        upto: usize,
                        current: &mut Vec<Batch>|
         -> bool {
            let next = match empty_rx[w].try_recv() {
                Ok(b) => b,
                Err(_) if made[w] < BATCHES_PER_WORKER => {
                    made[w] += 1;
                    Batch::new()
                }
                Err(_) => match empty_rx[w].recv() {
                    Ok(b) => b,
                    Err(_) => return false, // the worker is gone
                },
            };
            let mut full = std::mem::replace(&mut current[w], next);
            full.through = through;
            full.map = map.clone();
            full.upto = upto;
            full_tx[w].send(full).is_ok() && !stop.load(Ordering::Relaxed)
        };
        let mut last = 0;
        // The mapped file the batches being filled point into, and where in it every worker
        // was last told how far the capture is.
        let mut file: Option<SharedMap> = None;
        let mut synced_at = 0usize;
        let result = reader.read_all(workers, progress, |number, frame, stats, map| {
            last = number;
            let switched = match (map, &file) {
                (Some(a), Some(b)) => !a.same(b),
                (None, None) => false,
                _ => true,
            };
            if switched {
                // A new file: what points into the last one goes first.
                for w in 0..workers {
                    if !current[w].frames.is_empty()
                        && !send(w, number - 1, &file, usize::MAX, &mut current)
                    {
                        return false;
                    }
                }
                file = map.cloned();
                synced_at = 0;
            }
            let at = map.and_then(|m| m.offset_of(frame.data)).unwrap_or(0);
            // Tell every worker, even one without packets, how far the capture is (for the
            // sweep), and how far the mapped file is (so its pages can be handed back).
            if number.is_multiple_of(SYNC_EVERY * 16) || at >= synced_at + SYNC_BYTES {
                synced_at = at;
                for w in 0..workers {
                    if !send(w, number - 1, &file, at, &mut current) {
                        return false;
                    }
                }
            }
            let seg = match decode::decode(&frame) {
                Ok((seg, via)) => {
                    stats.tunnelled.add(via);
                    seg
                }
                Err(why) => {
                    stats.skip(why);
                    return true;
                }
            };
            let w = shard_of(&seg.src, &seg.dst, workers);
            let b = &mut current[w];
            // The header and payload lie back to back in the frame, so a map holds them as one.
            let header = seg.tcp_header;
            let in_map = map.and_then(|m| m.offset_of(header)).filter(|&at| {
                map.and_then(|m| m.offset_of(seg.payload)) == Some(at + header.len())
            });
            let start = in_map.unwrap_or_else(|| {
                let start = b.data.len();
                b.data.extend_from_slice(header);
                b.data.extend_from_slice(seg.payload);
                start
            });
            b.frames.push(Meta {
                number,
                ts: frame.ts,
                seg: Segment {
                    payload: &[],
                    tcp_header: &[],
                    ..seg
                },
                in_map: in_map.is_some(),
                // At most 60 bytes (data offset 15 x 4).
                header: header.len() as u8,
                start,
                len: seg.payload.len() as u32,
            });
            if b.full() {
                return send(w, number, &file, at + frame.data.len(), &mut current);
            }
            true
        });
        for w in 0..workers {
            if !current[w].frames.is_empty() {
                send(w, last, &file, usize::MAX, &mut current);
            }
        }
        drop(full_tx);
        let mut shards = Vec::with_capacity(workers);
        let mut tables = Vec::with_capacity(workers);
        for h in handles {
            let (shard, table) = h.join().expect("worker panicked");
            shards.push(shard);
            tables.push(table);
        }
        result?;
        let (frames, damage) = std::mem::take(reader).finish();
        Ok((shards, tables, frames, damage))
    })
}

/// Reads the input files in order, numbering and filtering frames.
#[derive(Default)]
struct Reader {
    files: Vec<PathBuf>,
    filter: Option<Filter>,
    stats: FrameStats,
    damage: Vec<Damage>,
}

impl Reader {
    fn new(opts: &Options) -> Result<Reader, CaptureError> {
        Ok(Reader {
            files: opts.files.clone(),
            filter: opts.filter.as_deref().map(Filter::new),
            stats: FrameStats::default(),
            damage: Vec::new(),
        })
    }

    /// Calls `each(frame number, frame, stats, map)` for every frame that passes the filter,
    /// until it returns false. With `share_with` > 0, a mapped file is shared with that many
    /// threads, and `map` is the file the frame lies in (see [`Source::share`]).
    fn read_all(
        &mut self,
        share_with: usize,
        progress: &mut dyn FnMut(Progress),
        mut each: impl FnMut(u64, Frame<'_>, &mut FrameStats, Option<&SharedMap>) -> bool,
    ) -> Result<(), CaptureError> {
        let mut number: u64 = 0;
        let files = self.files.len();
        for (i, path) in self.files.iter().enumerate() {
            let mut src = Source::open(path)?;
            let map = if share_with > 0 {
                src.share(share_with)
            } else {
                None
            };
            let at = |src: &Source, packets| Progress {
                file_index: i,
                files,
                position: src.position(),
                total: src.total_len(),
                packets,
            };
            while let Some(frame) = src.next_frame()? {
                number += 1;
                // Counted on every frame read, so a selective filter does not starve it.
                let report = number.is_multiple_of(PROGRESS_EVERY);
                let keep = match self.filter.as_mut() {
                    Some(f) => f.matches(&frame)?,
                    None => true,
                };
                if keep {
                    self.stats.frame(frame.ts, frame.orig_len);
                    if !each(number, frame, &mut self.stats, map.as_ref()) {
                        return Ok(());
                    }
                }
                if report {
                    progress(at(&src, self.stats.packets));
                }
            }
            if let Some(d) = src.damage() {
                self.damage.push(d.clone());
            }
            progress(at(&src, self.stats.packets));
        }
        Ok(())
    }

    fn finish(self) -> (FrameStats, Vec<Damage>) {
        (self.stats, self.damage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Flows that differ only in the client's port (one client, one server: a load test).
    fn ports(i: u32) -> (Endpoint, Endpoint) {
        let client = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 1024 + i as u16,
        };
        let server = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
        };
        (client, server)
    }

    /// Many clients, servers on IPv4 and IPv6.
    fn ends(i: u32) -> (Endpoint, Endpoint) {
        let client = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i % 251))),
            port: 1024 + (i % 60_000) as u16,
        };
        let server = Endpoint {
            ip: if i.is_multiple_of(2) {
                IpAddr::V4(Ipv4Addr::new(10, 1, 0, (i % 7) as u8))
            } else {
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, (i % 7) as u16))
            },
            port: [80, 443, 8080][(i % 3) as usize],
        };
        (client, server)
    }

    /// Both directions of a flow go to one worker, and flows spread evenly over workers.
    #[test]
    fn shards_are_symmetric_and_even() {
        for (workers, make) in [2, 3, 4, 7]
            .into_iter()
            .flat_map(|w| [(w, ports as fn(u32) -> (Endpoint, Endpoint)), (w, ends)])
        {
            let mut per = vec![0u32; workers];
            let flows = 20_000;
            for i in 0..flows {
                let (c, s) = make(i);
                let w = shard_of(&c, &s, workers);
                assert_eq!(w, shard_of(&s, &c, workers));
                per[w] += 1;
            }
            let mean = flows / workers as u32;
            for n in &per {
                assert!(n.abs_diff(mean) * 10 < mean, "{workers} workers: {per:?}");
            }
        }
    }
}
