//! Memory stays bounded by the configured limits under hostile traffic: a SYN flood and an
//! endless chunked body, written as synthetic captures and run through the binary, whose peak
//! resident memory GNU time reports.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::schema::Report;

/// Writes a little-endian microsecond pcap of Ethernet frames.
struct Pcap(std::io::BufWriter<std::fs::File>);

impl Pcap {
    fn create(path: &Path) -> Pcap {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&h).unwrap();
        Pcap(w)
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        usec: u64,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let total = 20 + 20 + payload.len();
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.1.to_be_bytes());
        f.extend_from_slice(&dst.1.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&((usec / 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&((usec % 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        self.0.write_all(&rec).unwrap();
        self.0.write_all(&f).unwrap();
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

/// Runs `connscope analyze --format jsonl` (records streamed, nothing kept) under GNU time;
/// returns the report rebuilt from its lines and the peak RSS in KiB.
fn run_measured(file: &Path, extra: &[&str]) -> (Report, u64) {
    let out = Command::new("/usr/bin/time")
        .args([
            "-f",
            "PEAK_RSS_KB=%M",
            env!("CARGO_BIN_EXE_connscope"),
            "analyze",
            "--format",
            "jsonl",
        ])
        .args(extra)
        .arg(file)
        .output()
        .expect("GNU time (/usr/bin/time, Debian package `time`, installed by make test)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let rss = err
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_RSS_KB="))
        .and_then(|v| v.trim().parse().ok())
        .expect("peak RSS");
    let (mut connections, mut servers, mut summary) = (Vec::new(), Vec::new(), None);
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str() {
            Some("connection") => connections.push(serde_json::from_value(v).unwrap()),
            Some("server") => servers.push(serde_json::from_value(v).unwrap()),
            Some("summary") => summary = Some(serde_json::from_value(v).unwrap()),
            other => panic!("unexpected line type {other:?}"),
        }
    }
    let report = Report {
        summary: summary.expect("summary line"),
        servers,
        connections,
    };
    (report, rss)
}

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("connscope-limits-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];

#[test]
fn syn_flood_is_bounded_by_the_connection_limit() {
    let path = dir().join("synflood.pcap");
    let mut p = Pcap::create(&path);
    // A real exchange whose connection stays open through the flood.
    let (c, s) = ((CLIENT, 40000), (SERVER, 80));
    p.tcp(0, c, s, 1000, 0, SYN, b"");
    p.tcp(10, s, c, 5000, 1001, SYN | ACK, b"");
    p.tcp(20, c, s, 1001, 5001, ACK, b"");
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    p.tcp(30, c, s, 1001, 5001, PSH_ACK, req);
    p.tcp(40, s, c, 5001, 1001 + req.len() as u32, PSH_ACK, resp);
    // 150,000 spoofed SYNs from 3 sources and 60,000 ports each.
    let flood = 150_000u64;
    for i in 0..flood {
        let src = [192, 0, 2, 1 + (i / 60_000) as u8];
        p.tcp(
            100 + i,
            (src, 1024 + (i % 60_000) as u16),
            s,
            i as u32,
            0,
            SYN,
            b"",
        );
    }
    // The real connection goes on after the flood.
    let t = 100 + flood + 10;
    let seq = 1001 + req.len() as u32;
    p.tcp(t, c, s, seq, 5001 + resp.len() as u32, PSH_ACK, req);
    p.tcp(
        t + 10,
        s,
        c,
        5001 + resp.len() as u32,
        seq + req.len() as u32,
        PSH_ACK,
        resp,
    );
    drop(p);

    let limit = 5_000;
    let (r, rss_limited) = run_measured(&path, &["--max-connections", &limit.to_string()]);
    assert_eq!(r.summary.connections, flood + 1);
    assert!(r.summary.peak_open_connections <= limit);
    let ev = &r.summary.limits;
    assert!(ev["evicted"] >= flood - limit, "{ev:?}");
    assert_eq!(
        ev["evicted"], ev["evicted_half_open"],
        "only half-open ones were evicted"
    );
    let real = r
        .connections
        .iter()
        .find(|c| c.client == "10.0.0.1:40000")
        .unwrap();
    assert_eq!((real.requests, real.responses, real.evicted), (2, 2, false));
    assert_eq!(r.summary.reuse_ratio, 0.5);
    assert_eq!(r.summary.close_reasons.get("evicted"), Some(&ev["evicted"]));

    // The same flood without a binding limit keeps every half-open connection.
    let (_, rss_unlimited) = run_measured(&path, &["--max-connections", "1000000"]);
    assert!(
        rss_limited < 64 * 1024,
        "limited run: peak RSS {rss_limited} KiB"
    );
    assert!(
        rss_limited * 2 < rss_unlimited,
        "limited {rss_limited} KiB vs unlimited {rss_unlimited} KiB"
    );
    eprintln!(
        "SYN flood: peak RSS {rss_limited} KiB with a {limit} limit, {rss_unlimited} KiB without"
    );
}

#[test]
fn endless_chunked_body_holds_no_memory() {
    let path = dir().join("chunked.pcap");
    let mut p = Pcap::create(&path);
    let (c, s) = ((CLIENT, 40001), (SERVER, 80));
    p.tcp(0, c, s, 1000, 0, SYN, b"");
    p.tcp(10, s, c, 5000, 1001, SYN | ACK, b"");
    p.tcp(20, c, s, 1001, 5001, ACK, b"");
    let req = b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    p.tcp(30, c, s, 1001, 5001, PSH_ACK, req);
    let mut seq = 5001u32;
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    p.tcp(40, s, c, seq, 1001 + req.len() as u32, PSH_ACK, head);
    seq = seq.wrapping_add(head.len() as u32);
    // 64 MiB of chunks that never end (no last chunk), in 1448-byte segments.
    let mut chunk = format!("{:x}\r\n", 1400).into_bytes();
    chunk.extend(std::iter::repeat_n(b'x', 1400));
    chunk.extend_from_slice(b"\r\n");
    let segments = (64 << 20) / chunk.len();
    for i in 0..segments {
        p.tcp(
            50 + i as u64,
            s,
            c,
            seq,
            1001 + req.len() as u32,
            PSH_ACK,
            &chunk,
        );
        seq = seq.wrapping_add(chunk.len() as u32);
    }
    drop(p);
    // Two workers: the file is mapped and shared, and the worker with no packets at all must
    // not keep its pages resident.
    let (r, rss) = run_measured(&path, &["--threads", "2"]);
    eprintln!("endless chunked body: peak RSS {rss} KiB with 2 threads");
    let conn = &r.connections[0];
    assert_eq!(conn.requests, 1);
    assert_eq!(
        conn.bytes_server as usize,
        head.len() + segments * chunk.len()
    );
    assert_eq!(
        conn.unanswered, 0,
        "the response started; its body never ended"
    );
    // The body is skipped, never held: memory stays at the program's baseline.
    assert!(rss < 40 * 1024, "peak RSS {rss} KiB for a 64 MiB body");
}
