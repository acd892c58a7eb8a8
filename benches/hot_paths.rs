//! Criterion benchmarks of the hot paths, over real traffic from `captures/` (and, when
//! `bench/run.sh` has made it, a 100,000-packet slice of the large benchmark capture):
//!
//! - `read`: the capture reader alone (`capture::Source::next_frame`), from the page cache;
//! - `decode`: link layer -> IP -> TCP (`decode::decode`) over every frame of a capture;
//! - `flow_table`: `flow::FlowTable::segment` over every decoded segment with a no-op
//!   `FlowEvents`: the 4-tuple lookup, the TCP state machine, both directions' reassembly and
//!   the HTTP sessions fed from them (everything below `analysis`);
//! - `reassembly`: one large server->client transfer through `flow::reassembly::Reassembler`
//!   into a no-op `StreamSink`, in capture order and with one segment in 16 delayed by three
//!   (throughput in segments: in-order payload is handed on without a copy);
//! - `http_head`: `find_head_end`, `parse_request`, `parse_response` over the real heads;
//! - `http_session`: a whole `proto::http1::Session` replaying each connection's reassembled streams in
//!   capture order (pipelined and sequential keep-alive);
//! - `pipeline`: `engine::run` over a capture file with `analysis::NoOutput`.
//!
//! Inputs are built once, before measuring; every iteration starts from fresh state.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use connscope::analysis::NoOutput;
use connscope::capture::Files;
use connscope::capture::{Frame, LinkType, Source};
use connscope::decode::{self, tcp_flags, Segment};
use connscope::engine::{self, Settings};
use connscope::flow::reassembly::{Reassembler, StreamSink};
use connscope::flow::seq::Seq;
use connscope::flow::{Connection, FlowEvents, FlowKey, FlowTable, Limits};
use connscope::proto::http1::head::{find_head_end, parse_request, parse_response};
use connscope::proto::http1::Session;
use connscope::proto::{self, Conversation};
use connscope::time::Timestamp;

// ------------------------------------------------------------------------------- inputs

struct OwnedFrame {
    ts: Timestamp,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

impl OwnedFrame {
    fn frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            link: self.link,
            data: &self.data,
            orig_len: self.orig_len,
        }
    }
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The slice of the benchmark capture that bench/run.sh leaves next to it, if present.
fn bench_slice() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CONNSCOPE_BENCH_SLICE") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let base = match std::env::var_os("CONNSCOPE_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/connscope-bench"),
    };
    let mb = std::env::var("CONNSCOPE_BENCH_MB").unwrap_or_else(|_| "950".into());
    Some(base.join(format!("mb{mb}/slice.pcap"))).filter(|p| p.is_file())
}

/// (name, path) of the captures the benchmarks run over.
fn inputs() -> Vec<(String, PathBuf)> {
    let mut v = vec![
        ("keepalive".to_string(), repo("captures/keepalive.pcap")),
        ("large".to_string(), repo("captures/large.pcap")),
    ];
    if let Some(p) = bench_slice() {
        v.push(("bench-slice".to_string(), p));
    }
    v
}

fn load(path: &Path) -> Vec<OwnedFrame> {
    let mut src = Source::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().expect("readable capture") {
        out.push(OwnedFrame {
            ts: f.ts,
            link: f.link,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
    }
    out
}

fn segments(frames: &[OwnedFrame]) -> Vec<(Timestamp, Segment<'_>)> {
    frames
        .iter()
        .filter_map(|f| decode::decode(&f.frame()).ok().map(|(s, _)| (f.ts, s)))
        .collect()
}

/// Payload segments of one direction of one connection, in capture order.
struct Direction {
    isn_next: Seq,
    segs: Vec<(Seq, Vec<u8>, bool)>,
}

/// The direction that carried the most payload in the capture.
fn largest_direction(frames: &[OwnedFrame]) -> Direction {
    use std::collections::HashMap;
    let mut dirs: HashMap<(connscope::decode::Endpoint, connscope::decode::Endpoint), Direction> =
        HashMap::new();
    for (_, s) in segments(frames) {
        let d = dirs.entry((s.src, s.dst)).or_insert(Direction {
            isn_next: Seq(s.seq),
            segs: Vec::new(),
        });
        if s.has(tcp_flags::SYN) {
            d.isn_next = Seq(s.seq.wrapping_add(1));
        } else if !s.payload.is_empty() || s.has(tcp_flags::FIN) {
            d.segs
                .push((Seq(s.seq), s.payload.to_vec(), s.has(tcp_flags::FIN)));
        }
    }
    dirs.into_values()
        .max_by_key(|d| d.segs.iter().map(|s| s.1.len()).sum::<usize>())
        .expect("a capture with TCP payload")
}

/// What one connection's two streams delivered, in capture order: (side, ts, bytes), side 0
/// being the client. Built with the crate's own reassembler.
struct ConnLog {
    events: Vec<(usize, Timestamp, Vec<u8>)>,
    bytes: usize,
}

struct Collect<'a> {
    side: usize,
    ts: Timestamp,
    out: &'a mut Vec<(usize, Timestamp, Vec<u8>)>,
}

impl StreamSink for Collect<'_> {
    fn data(&mut self, bytes: &[u8]) {
        self.out.push((self.side, self.ts, bytes.to_vec()));
    }
    fn gap(&mut self, _: u64) {}
    fn fin(&mut self) {}
}

fn conn_logs(frames: &[OwnedFrame]) -> Vec<ConnLog> {
    use std::collections::HashMap;
    struct St {
        client: connscope::decode::Endpoint,
        streams: [Reassembler; 2],
        events: Vec<(usize, Timestamp, Vec<u8>)>,
    }
    let mut conns: HashMap<FlowKey, St> = HashMap::new();
    let mut order = Vec::new();
    for (ts, s) in segments(frames) {
        let key = FlowKey::of(s.src, s.dst);
        if s.has(tcp_flags::SYN) && !s.has(tcp_flags::ACK) && !conns.contains_key(&key) {
            order.push(key);
            conns.insert(
                key,
                St {
                    client: s.src,
                    streams: Default::default(),
                    events: Vec::new(),
                },
            );
        }
        let Some(c) = conns.get_mut(&key) else {
            continue;
        };
        let side = usize::from(s.src != c.client);
        if s.has(tcp_flags::SYN) {
            c.streams[side].init(Seq(s.seq.wrapping_add(1)));
            continue;
        }
        if !s.payload.is_empty() {
            let mut sink = Collect {
                side,
                ts,
                out: &mut c.events,
            };
            c.streams[side].segment(Seq(s.seq), s.payload, 0, false, false, 4 << 20, &mut sink);
        }
    }
    order
        .into_iter()
        .filter_map(|k| conns.remove(&k))
        .map(|c| ConnLog {
            bytes: c.events.iter().map(|e| e.2.len()).sum(),
            events: c.events,
        })
        .filter(|l| l.bytes > 0)
        .collect()
}

/// Request heads and response heads cut from the reassembled streams.
fn heads(logs: &[ConnLog]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut reqs, mut resps) = (Vec::new(), Vec::new());
    for l in logs {
        for side in 0..2 {
            let stream: Vec<u8> = l
                .events
                .iter()
                .filter(|e| e.0 == side)
                .flat_map(|e| e.2.iter().copied())
                .collect();
            let mut at = 0;
            while let Some(n) = find_head_end(&stream[at..], 0) {
                let head = &stream[at..at + n];
                at += n;
                if side == 0 {
                    let r = parse_request(head).expect("a real request head");
                    at += r.fields.content_length.unwrap_or(0) as usize;
                    reqs.push(head.to_vec());
                } else {
                    let r = parse_response(head).expect("a real response head");
                    at += r.fields.content_length.unwrap_or(0) as usize;
                    resps.push(head.to_vec());
                }
                if at >= stream.len() {
                    break;
                }
            }
        }
    }
    (reqs, resps)
}

// ------------------------------------------------------------------------------- no-ops

struct NoEvents;

impl FlowEvents<Conversation> for NoEvents {
    fn app_output(&mut self, conn: &mut Connection<Conversation>, _: u64) {
        conn.app.take_exchanges(|ex| {
            black_box(ex);
        });
    }
    fn finished(&mut self, conn: Connection<Conversation>, _: u64) {
        black_box(conn);
    }
}

struct NoSink(u64);

impl StreamSink for NoSink {
    fn data(&mut self, bytes: &[u8]) {
        self.0 += black_box(bytes).len() as u64;
    }
    fn gap(&mut self, len: u64) {
        self.0 += len;
    }
    fn fin(&mut self) {}
}

// ------------------------------------------------------------------------------- benches

fn bench_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    for (name, path) in inputs() {
        let bytes = std::fs::metadata(&path).expect("capture").len();
        g.throughput(Throughput::Bytes(bytes));
        g.bench_with_input(BenchmarkId::from_parameter(&name), &path, |b, path| {
            b.iter(|| {
                let mut src = Source::open(path).expect("capture");
                let mut n = 0u64;
                while let Some(f) = src.next_frame().expect("readable") {
                    n += f.data.len() as u64;
                }
                n
            })
        });
    }
    g.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, path) in inputs() {
        let frames = load(&path);
        g.throughput(Throughput::Elements(frames.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(&name), &frames, |b, frames| {
            b.iter(|| {
                let mut payload = 0usize;
                for f in frames {
                    if let Ok((s, _)) = decode::decode(&f.frame()) {
                        payload += s.payload.len();
                    }
                }
                payload
            })
        });
    }
    g.finish();
}

fn bench_flow_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table");
    for (name, path) in inputs() {
        let frames = load(&path);
        let segs = segments(&frames);
        g.throughput(Throughput::Elements(segs.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(&name), &segs, |b, segs| {
            b.iter(|| {
                let mut table: FlowTable<Conversation> =
                    FlowTable::new(Limits::default(), proto::Config::default());
                let mut ev = NoEvents;
                for (i, (ts, s)) in segs.iter().enumerate() {
                    table.segment(i as u64 + 1, *ts, s, &mut ev);
                }
                table.finish_all(&mut ev);
                table.stats.connections
            })
        });
    }
    g.finish();
}

fn bench_reassembly(c: &mut Criterion) {
    let frames = load(&repo("captures/large.pcap"));
    let dir = largest_direction(&frames);
    let total: usize = dir.segs.iter().map(|s| s.1.len()).sum();
    let mut reordered = dir.segs.clone();
    // one segment in every 16 arrives three segments late
    let mut i = 0;
    while i + 4 < reordered.len() {
        reordered[i..i + 4].rotate_left(1);
        i += 16;
    }
    let mut g = c.benchmark_group("reassembly");
    // per segment: the sink does not copy, so bytes per second would only restate that
    g.throughput(Throughput::Elements(dir.segs.len() as u64));
    for (name, segs) in [("in_order", &dir.segs), ("reordered", &reordered)] {
        g.bench_with_input(BenchmarkId::new(name, "large"), segs, |b, segs| {
            b.iter(|| {
                let mut r = Reassembler::default();
                r.init(dir.isn_next);
                let mut sink = NoSink(0);
                for (seq, data, fin) in segs.iter() {
                    r.segment(*seq, data, 0, *fin, false, 4 << 20, &mut sink);
                }
                r.flush(&mut sink);
                assert_eq!(sink.0 as usize, total);
                sink.0
            })
        });
    }
    g.finish();
}

fn bench_http_head(c: &mut Criterion) {
    let logs = conn_logs(&load(&repo("captures/keepalive.pcap")));
    let (reqs, resps) = heads(&logs);
    let req_bytes: usize = reqs.iter().map(Vec::len).sum();
    let resp_bytes: usize = resps.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("http_head");
    g.throughput(Throughput::Bytes(resp_bytes as u64));
    g.bench_function("find_head_end/responses", |b| {
        b.iter(|| {
            resps
                .iter()
                .filter_map(|h| find_head_end(h, 0))
                .sum::<usize>()
        })
    });
    g.throughput(Throughput::Bytes(req_bytes as u64));
    g.bench_function("parse_request", |b| {
        b.iter(|| {
            reqs.iter()
                .filter_map(|h| parse_request(h).ok())
                .map(|r| r.target.len())
                .sum::<usize>()
        })
    });
    g.throughput(Throughput::Bytes(resp_bytes as u64));
    g.bench_function("parse_response", |b| {
        b.iter(|| {
            resps
                .iter()
                .filter_map(|h| parse_response(h).ok())
                .map(|r| r.status as u64 + r.fields.content_length.unwrap_or(0))
                .sum::<u64>()
        })
    });
    g.finish();
}

fn bench_http_session(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_session");
    for name in ["pipelining", "keepalive"] {
        let logs = conn_logs(&load(&repo(&format!("captures/{name}.pcap"))));
        let bytes: usize = logs.iter().map(|l| l.bytes).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &logs, |b, logs| {
            b.iter(|| {
                let mut responses = 0u64;
                for l in logs {
                    let mut s = Session::new(Some(0), false);
                    let mut last = Timestamp::default();
                    for (side, ts, data) in &l.events {
                        s.data(*side, data, *ts);
                        last = *ts;
                    }
                    s.finish(last);
                    responses += s.out.len() as u64;
                }
                responses
            })
        });
    }
    g.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    for (name, path) in inputs() {
        let bytes = std::fs::metadata(&path).expect("capture").len();
        g.throughput(Throughput::Bytes(bytes));
        for threads in [1, 2] {
            let settings = Settings {
                threads,
                ..Settings::default()
            };
            let id = format!("{name}/threads-{threads}");
            g.bench_with_input(
                BenchmarkId::from_parameter(&id),
                &settings,
                |b, settings| {
                    b.iter(|| {
                        let mut source = Files::new(vec![path.clone()], None, threads);
                        let out = engine::run(&mut source, settings, &mut NoOutput, &mut |_, _| {})
                            .expect("engine");
                        out.report.summary.requests
                    })
                },
            );
        }
    }
    g.finish();
}

fn config() -> Criterion {
    // A shared 2-core machine: enough samples for a stable median, short enough for `make bench`.
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_read, bench_decode, bench_flow_table, bench_reassembly, bench_http_head,
        bench_http_session, bench_pipeline
}
criterion_main!(benches);
