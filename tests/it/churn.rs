//! Memory is bounded by the state that is live at one time, not by the length of the capture:
//! a capture of a million short HTTP connections, one after another, needs no more memory
//! than a quarter of it, since at any moment the same number of connections are open and the
//! same number of sockets are in TIME_WAIT.
//!
//! The captures are written here (`write_churn_pcap`) and analyzed by the binary under GNU
//! time, which reports the peak resident memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The one server every churn connection goes to.
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 80);
/// The first connection's SYN, in microseconds since the epoch (2023-11-14).
const T0_US: u64 = 1_700_000_000_000_000;
/// Between two packets of one connection.
const PACKET_GAP_US: u64 = 50;

pub const REQUEST: &[u8] = b"GET /i HTTP/1.1\r\nHost: churn\r\n\r\n";
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Packets `write_churn_pcap` writes per connection.
pub const PACKETS_PER_CONNECTION: u64 = 6;

/// Client address and port of connection `i`: 65,536 addresses (10.1.0.0/16) in turn, the
/// port moving on after each full round (1024..=65535), so a 4-tuple comes back only after
/// 65,536 x 64,512 connections.
fn client_of(i: u64) -> ([u8; 4], u16) {
    let k = i % 65_536;
    let port = 1024 + (i / 65_536) % 64_512;
    ([10, 1, (k >> 8) as u8, k as u8], port as u16)
}

/// One's complement sum of `data` as big-endian 16-bit words (odd length padded with zero).
fn ones_sum(data: &[u8]) -> u32 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(c[0]) << 8 | u32::from(c.get(1).copied().unwrap_or(0));
    }
    sum
}

/// The sum of the two 16-bit halves of a 32-bit field.
fn words(v: u32) -> u32 {
    (v >> 16) + (v & 0xffff)
}

fn addr_words(a: [u8; 4]) -> u32 {
    words(u32::from_be_bytes(a))
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The longest frame: Ethernet, IPv4 and TCP headers and the response.
const MAX_FRAME: usize = 14 + 20 + 20 + RESPONSE.len();

/// A little-endian microsecond pcap of Ethernet/IPv4/TCP frames with correct checksums. The
/// test binary is a debug build, so each frame is patched into a fixed template and its
/// checksums are computed from the fields (the payloads' sums are computed once).
struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    /// Record header and frame.
    buf: [u8; 16 + MAX_FRAME],
    request_sum: u32,
    response_sum: u32,
    packets: u64,
}

impl Writer {
    fn create(path: &Path) -> Writer {
        let file = std::fs::File::create(path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]); // thiszone, sigfigs
        h.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
        h.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        out.write_all(&h).unwrap();
        let mut buf = [0u8; 16 + MAX_FRAME];
        // Ethernet: locally administered MACs, IPv4.
        buf[16..30].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        // IPv4: no options, DF, TTL 64, TCP.
        buf[30..40].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6]);
        // TCP: no options (offset 5), window 65535.
        buf[62] = 0x50;
        buf[64..66].copy_from_slice(&[0xff, 0xff]);
        Writer {
            out,
            buf,
            request_sum: ones_sum(REQUEST),
            response_sum: ones_sum(RESPONSE),
            packets: 0,
        }
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
        let payload_sum = match payload.len() {
            0 => 0,
            _ if payload == REQUEST => self.request_sum,
            _ if payload == RESPONSE => self.response_sum,
            _ => ones_sum(payload),
        };
        let b = &mut self.buf;
        let ip_len = 20 + 20 + payload.len();
        let frame = 14 + ip_len;
        b[0..4].copy_from_slice(&((usec / 1_000_000) as u32).to_le_bytes());
        b[4..8].copy_from_slice(&((usec % 1_000_000) as u32).to_le_bytes());
        b[8..12].copy_from_slice(&(frame as u32).to_le_bytes());
        b[12..16].copy_from_slice(&(frame as u32).to_le_bytes());
        b[32..34].copy_from_slice(&(ip_len as u16).to_be_bytes());
        b[42..46].copy_from_slice(&src.0);
        b[46..50].copy_from_slice(&dst.0);
        let addrs = addr_words(src.0) + addr_words(dst.0);
        // Version/IHL/TOS 0x4500, flags 0x4000, TTL/protocol 0x4006.
        let ip_sum = fold(0x4500 + ip_len as u32 + 0x4000 + 0x4006 + addrs);
        b[40..42].copy_from_slice(&ip_sum.to_be_bytes());
        b[50..52].copy_from_slice(&src.1.to_be_bytes());
        b[52..54].copy_from_slice(&dst.1.to_be_bytes());
        b[54..58].copy_from_slice(&seq.to_be_bytes());
        b[58..62].copy_from_slice(&ack.to_be_bytes());
        b[63] = flags;
        b[70..70 + payload.len()].copy_from_slice(payload);
        let tcp_len = 20 + payload.len() as u32;
        // Pseudo-header (addresses, protocol, TCP length), then the header and the payload.
        let sum = addrs
            + 6
            + tcp_len
            + u32::from(src.1)
            + u32::from(dst.1)
            + words(seq)
            + words(ack)
            + (0x5000 | u32::from(flags))
            + 0xffff
            + payload_sum;
        b[66..68].copy_from_slice(&fold(sum).to_be_bytes());
        self.out.write_all(&b[..16 + frame]).unwrap();
        self.packets += 1;
    }
}

/// Writes a classic pcap of `n_connections` short HTTP/1.1 connections to one server
/// (10.0.0.1:80), connection `i` starting `i * spacing_us` microseconds after the first, its
/// packets 50 µs apart. Six packets each: SYN; SYN-ACK; the client's ACK carrying the request
/// `GET /i` (ACK|PSH); the response `200 OK` with a 2-byte body, carrying the server's FIN
/// (FIN|ACK|PSH); the client's FIN-ACK; the server's last ACK. (The handshake's third ACK and
/// the server's FIN ride on the data segments to keep the capture small: the test binary is a
/// debug build.) The server closes first, so each connection leaves one server socket in
/// TIME_WAIT. Client addresses and ports vary (see `client_of`). Returns the packets written.
///
/// `spacing_us` must exceed the 250 µs a connection lasts, or the packets of consecutive
/// connections would be written out of time order.
pub fn write_churn_pcap(path: &Path, n_connections: u64, spacing_us: u64) -> u64 {
    assert!(
        spacing_us > (PACKETS_PER_CONNECTION - 1) * PACKET_GAP_US,
        "connections would overlap"
    );
    let mut w = Writer::create(path);
    let (req, resp) = (REQUEST.len() as u32, RESPONSE.len() as u32);
    let s = SERVER;
    for i in 0..n_connections {
        let c = client_of(i);
        // Initial sequence numbers vary with the connection, and wrap now and then.
        let ci = (i as u32).wrapping_mul(2_654_435_761);
        let si = ci ^ 0x5a5a_5a5a;
        let t = T0_US + i * spacing_us;
        let at = |k: u64| t + k * PACKET_GAP_US;
        let (c1, s1) = (ci.wrapping_add(1), si.wrapping_add(1));
        let (c2, s2) = (c1.wrapping_add(req), s1.wrapping_add(resp));
        w.tcp(at(0), c, s, ci, 0, SYN, b"");
        w.tcp(at(1), s, c, si, c1, SYN | ACK, b"");
        w.tcp(at(2), c, s, c1, s1, ACK | PSH, REQUEST);
        w.tcp(at(3), s, c, s1, c2, FIN | ACK | PSH, RESPONSE);
        w.tcp(at(4), c, s, c2, s2.wrapping_add(1), FIN | ACK, b"");
        w.tcp(
            at(5),
            s,
            c,
            s2.wrapping_add(1),
            c2.wrapping_add(1),
            ACK,
            b"",
        );
    }
    w.out.flush().unwrap();
    w.packets
}

/// A directory under the system's temporary directory, removed when dropped (also when the
/// test fails: the captures are large).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("connscope-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `connscope analyze FILE --format text --threads 2` under GNU time: (standard output, peak
/// RSS in KiB from the last line of standard error).
fn text_measured(file: &Path) -> (String, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", env!("CARGO_BIN_EXE_connscope"), "analyze"])
        .arg(file)
        .args(["--format", "text", "--threads", "2"])
        .env("NO_COLOR", "1")
        .output()
        .expect("GNU time (/usr/bin/time, Debian package `time`, installed by make test)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {err}", file.display());
    let rss = err
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS on the last line of stderr: {err}"));
    (String::from_utf8(out.stdout).expect("UTF-8 report"), rss)
}

/// The number after `label` on the text report's line that starts with it ("connections
/// 1,000,000 ...").
fn figure(report: &str, label: &str) -> u64 {
    let line = report
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in the report:\n{report}"));
    let digits: String = line[label.len()..]
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in {line:?}"))
}

/// 1234567 as "1,234,567", as the text report writes counts.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[test]
fn churn_capture_is_what_it_says() {
    // A small one, checked field by field through the json report.
    let dir = TempDir::new("churn-small");
    let path = dir.0.join("churn-small.pcap");
    let n = 300;
    let packets = write_churn_pcap(&path, n, 1_000);
    assert_eq!(packets, n * PACKETS_PER_CONNECTION);
    let r = crate::schema::analyze_json(&[&path], &[]);
    let s = &r.summary;
    assert_eq!((s.packets, s.connections, s.handshakes), (packets, n, n));
    assert_eq!((s.requests, s.responses, s.unanswered), (n, n, 0));
    assert_eq!(s.checksums.verified, packets);
    assert_eq!(s.checksums.bad_tcp + s.checksums.bad_ip, 0);
    assert_eq!((s.time_wait.client, s.time_wait.server), (0, n));
    assert_eq!(s.closed_by.get("server"), Some(&n));
    assert_eq!(s.close_reasons.get("idle_timeout"), Some(&n));
    // 1 ms apart, each holding TIME_WAIT 60 s: all 300 at once, on the server.
    assert_eq!(s.time_wait_peak[0].host, "10.0.0.1");
    assert_eq!(s.time_wait_peak[0].peak, n);
    assert_eq!(r.connections[0].client, "10.1.0.0:1024");
    assert_eq!(r.connections[1].client, "10.1.0.1:1024");
    assert!(r.connections.iter().all(|c| c.server == "10.0.0.1:80"));
}

/// The acceptance test: a million connections, 1 ms apart (1000 s of capture, far
/// beyond the 60 s of TIME_WAIT), need no more memory than 250,000 of them. From the first
/// minute on, 60,000 server sockets are in TIME_WAIT and one connection is open (a few
/// thousand linger, closed, in the flow table), in either file.
#[test]
fn memory_is_bounded_by_concurrent_state() {
    let started = Instant::now();
    let dir = TempDir::new("churn");
    let spacing_us = 1_000;
    let mut measured = Vec::new();
    for n in [250_000u64, 1_000_000] {
        let path = dir.0.join(format!("churn-{n}.pcap"));
        let t = Instant::now();
        let packets = write_churn_pcap(&path, n, spacing_us);
        let written = t.elapsed();
        let t = Instant::now();
        let (report, rss) = text_measured(&path);
        eprintln!(
            "churn {n} connections ({packets} packets, {:.0} s of capture): peak RSS {rss} KiB \
             (written in {:.1} s, analyzed in {:.1} s)",
            (n * spacing_us) as f64 / 1e6,
            written.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        assert_eq!(figure(&report, "connections"), n, "{report}");
        assert_eq!(figure(&report, "requests"), n, "{report}");
        assert!(
            report.contains(&format!("client 0, server {} (held 60 s)", count(n))),
            "TIME_WAIT: {report}"
        );
        // A connection closes every millisecond and holds TIME_WAIT for 60 s: the server
        // closes first, so it holds them: a critical TIME_WAIT finding for its address.
        assert!(report.contains("peak 60,000 at once"), "{report}");
        assert!(
            report.contains("[critical] time-wait-pressure 10.0.0.1:80 (host 10.0.0.1)")
                && report.contains("peak=60000"),
            "{report}"
        );
        std::fs::remove_file(&path).unwrap();
        measured.push(rss);
    }
    let (quarter, full) = (measured[0], measured[1]);
    eprintln!(
        "peak RSS: {quarter} KiB for 250,000 connections, {full} KiB for 1,000,000 ({:+.1}%); \
         test took {:.1} s",
        (full as f64 / quarter as f64 - 1.0) * 100.0,
        started.elapsed().as_secs_f64()
    );
    let bound = quarter + quarter * 15 / 100 + 8 * 1024;
    assert!(
        full <= bound,
        "peak RSS grows with the length of the capture: {full} KiB for 1,000,000 connections, \
         {quarter} KiB for 250,000 (bound {bound} KiB: +15% + 8 MiB)"
    );
}
