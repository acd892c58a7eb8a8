//! connscope over the public capture corpus: ~900 captures published by other projects as
//! test fixtures (../shared/corpus, or $CONNSCOPE_CORPUS; see its README.md and MANIFEST.tsv).
//! When the corpus is not there every test here prints a note and passes.
//!
//! Two kinds of test:
//! - robustness, over every file (and a truncated copy of each), each run with a timeout: no
//!   panic, no hang, JSON that matches the schema and is consistent with itself, and exit code
//!   2 only with one line that names the file (and the link type, when that is the reason);
//! - agreement, on files whose HTTP counts are known from the bytes. MANIFEST's tshark numbers
//!   are not ground truth: tshark dissects HTTP only on ports it knows, misses pipelined
//!   requests, and counts retransmitted and ICMP-quoted copies. Every expected number below was
//!   checked against the bytes (tshark -x / follow,tcp, and a reassembly by sequence number
//!   that counts request and status lines); each test says where its truth comes from.
//!
//! A test marked `#[ignore = "connscope bug: ..."]` asserts what the bytes say and fails today.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::schema::{connscope, Connection, Report};

// ---------------------------------------------------------------------------------------------
// The corpus and running connscope over it

pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("CONNSCOPE_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "note: capture corpus not found at {} (set CONNSCOPE_CORPUS); skipping",
            dir.display()
        );
        None
    }
}

/// Every capture under the corpus directory (everything but its README, MANIFEST and the
/// suricata-verify test descriptions), as paths relative to it, sorted.
fn corpus_files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read corpus directory") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("md" | "yaml" | "tsv")
            ) {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The `path` column of MANIFEST.tsv.
fn manifest_paths(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("MANIFEST header").split('\t').collect();
    let col = header
        .iter()
        .position(|h| *h == "path")
        .expect("path column");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').nth(col).expect("path field").to_string())
        .collect()
}

/// One run of the binary.
struct Run {
    /// None: killed (by us at the timeout, or by a signal).
    code: Option<i32>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
}

/// Runs connscope with `args`, killing it after `timeout`. stdout and stderr are drained by
/// threads so that a large report cannot fill the pipe and stall the child.
fn run_with_timeout(args: &[OsString], timeout: Duration) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn connscope");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let mut nap = Duration::from_millis(1);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for connscope") {
            break s;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed connscope");
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        timed_out,
        stdout: out_reader.join().unwrap(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// Runs `job` over `items` on a few threads; returns the results in item order.
fn parallel<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = job(item);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

fn timeout() -> Duration {
    let secs = std::env::var("CONNSCOPE_CORPUS_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

// ---------------------------------------------------------------------------------------------
// Link types read from the file itself, to know which files connscope must refuse

/// The link types the README promises: Ethernet, NULL, raw IP (DLT 12/14, LINKTYPE 101,
/// IPV4 228, IPV6 229), LOOP, SLL, SLL2.
const SUPPORTED_LINK_TYPES: [u32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

/// Link types declared in a pcap header or in pcapng interface description blocks.
fn declared_link_types(bytes: &[u8]) -> Vec<u32> {
    let rd32 = |b: &[u8], big: bool| {
        let a = [b[0], b[1], b[2], b[3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    if bytes.len() < 24 {
        return Vec::new();
    }
    let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 => vec![rd32(&bytes[20..], false) & 0x03ff_ffff],
        0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => vec![rd32(&bytes[20..], true) & 0x03ff_ffff],
        0x0a0d_0d0a => {
            let mut links = Vec::new();
            let mut at = 0;
            let mut big = false;
            while at + 12 <= bytes.len() {
                let btype = rd32(&bytes[at..], big);
                if btype == 0x0a0d_0d0a {
                    big = bytes[at + 8..at + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
                }
                let len = rd32(&bytes[at + 4..], big) as usize;
                if len < 12 || at + len > bytes.len() {
                    break;
                }
                if btype == 1 && len >= 20 {
                    let b = &bytes[at + 8..at + 10];
                    let link = if big {
                        u16::from_be_bytes([b[0], b[1]])
                    } else {
                        u16::from_le_bytes([b[0], b[1]])
                    };
                    links.push(u32::from(link));
                }
                at += len;
            }
            links
        }
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Checks of one run

/// Everything that must hold of one run over a file; returns what did not.
fn check_run(rel: &str, shown_path: &str, bytes: &[u8], run: &Run) -> Vec<String> {
    let mut bad = Vec::new();
    let stderr_tail = || {
        let lines: Vec<&str> = run.stderr.lines().collect();
        lines[lines.len().saturating_sub(6)..].join("\n      ")
    };
    if run.timed_out {
        bad.push(format!("{rel}: no answer after {:?} (killed)", run.elapsed));
        return bad;
    }
    let Some(code) = run.code else {
        bad.push(format!(
            "{rel}: killed by a signal\n      {}",
            stderr_tail()
        ));
        return bad;
    };
    let unsupported: Vec<u32> = declared_link_types(bytes)
        .into_iter()
        .filter(|l| !SUPPORTED_LINK_TYPES.contains(l))
        .collect();
    match code {
        0 | 3 => {
            if !unsupported.is_empty() {
                bad.push(format!(
                    "{rel}: exit {code}, but it declares unsupported link type(s) {unsupported:?}"
                ));
            }
            match serde_json::from_slice::<Report>(&run.stdout) {
                Err(e) => bad.push(format!(
                    "{rel}: exit {code} but stdout is not the schema: {e}"
                )),
                Ok(r) => bad.extend(
                    consistency(&r, shown_path)
                        .into_iter()
                        .map(|m| format!("{rel}: {m}")),
                ),
            }
            if code == 3 {
                let lines: Vec<&str> = run.stderr.lines().collect();
                if lines.is_empty()
                    || !lines
                        .iter()
                        .all(|l| l.starts_with("connscope: ") && l.contains(shown_path))
                {
                    bad.push(format!(
                        "{rel}: exit 3 must describe the damage, naming the file, on stderr:\n      {}",
                        stderr_tail()
                    ));
                }
            } else if !run.stderr.is_empty() {
                bad.push(format!(
                    "{rel}: exit 0 with stderr:\n      {}",
                    stderr_tail()
                ));
            }
        }
        2 => {
            let text = run.stderr.trim_end_matches('\n');
            if text.is_empty() || text.contains('\n') || !text.contains(shown_path) {
                bad.push(format!(
                    "{rel}: exit 2 must be exactly one line naming the file:\n      {}",
                    stderr_tail()
                ));
            }
            if !run.stdout.is_empty() {
                bad.push(format!("{rel}: exit 2 with output on stdout"));
            }
            if let Some(l) = unsupported.first() {
                if !(text.contains("unsupported link type") && text.contains(&format!("({l})"))) {
                    bad.push(format!(
                        "{rel}: link type {l} is unsupported; stderr must name it: {text}"
                    ));
                }
            }
        }
        101 => bad.push(format!("{rel}: PANIC (exit 101)\n      {}", stderr_tail())),
        other => bad.push(format!("{rel}: exit {other}\n      {}", stderr_tail())),
    }
    bad
}

/// What a report must say about itself: the summary agrees with its connections and servers.
fn consistency(r: &Report, shown_path: &str) -> Vec<String> {
    let s = &r.summary;
    let c = &r.connections;
    let mut bad = Vec::new();
    let mut same = |what: &str, summary: u64, from_parts: u64| {
        if summary != from_parts {
            bad.push(format!(
                "summary.{what} = {summary} but the parts add up to {from_parts}"
            ));
        }
    };
    same("connections", s.connections, c.len() as u64);
    same("requests", s.requests, c.iter().map(|c| c.requests).sum());
    same(
        "responses",
        s.responses,
        c.iter().map(|c| c.responses).sum(),
    );
    same(
        "unanswered",
        s.unanswered,
        c.iter().map(|c| u64::from(c.unanswered)).sum(),
    );
    same(
        "http_connections",
        s.http_connections,
        c.iter().filter(|c| c.requests > 0).count() as u64,
    );
    same(
        "handshakes",
        s.handshakes,
        c.iter().filter(|c| c.handshake).count() as u64,
    );
    same(
        "handshakes + midstream",
        s.handshakes + s.midstream,
        s.connections,
    );
    same("protocols", s.protocols.values().sum(), s.connections);
    same(
        "close_reasons",
        s.close_reasons.values().sum(),
        s.connections,
    );
    same(
        "requests (servers)",
        s.requests,
        r.servers.iter().map(|v| v.requests).sum(),
    );
    if let Some(max) = s
        .requests_per_connection
        .as_ref()
        .and_then(|m| m.get("max"))
    {
        let real = c.iter().map(|c| c.requests).max().unwrap_or(0);
        if *max as u64 != real {
            bad.push(format!(
                "requests_per_connection.max = {max} but the busiest connection has {real}"
            ));
        }
    }
    if !c.windows(2).all(|w| w[0].id < w[1].id) {
        bad.push("connections are not in order of their first packet".into());
    }
    if s.files != [shown_path] {
        bad.push(format!("summary.files = {:?}", s.files));
    }
    bad
}

// ---------------------------------------------------------------------------------------------
// Robustness over every file

/// A copy of `bytes` cut at a point chosen from the file's name (deterministic, spread over
/// the whole file past the first 24 bytes).
fn truncated(rel: &str, bytes: &[u8]) -> Vec<u8> {
    let h = rel.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let span = bytes.len().saturating_sub(25).max(1) as u64;
    let cut = 24 + (h % span) as usize;
    bytes[..cut.min(bytes.len())].to_vec()
}

#[test]
fn every_corpus_file_is_analyzed_without_panic_or_hang() {
    let Some(dir) = corpus_dir() else { return };
    let files = corpus_files(&dir);
    let manifest = manifest_paths(&dir);
    let missing: Vec<&String> = manifest.iter().filter(|p| !files.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "MANIFEST.tsv lists files that are not there: {missing:?}"
    );
    assert!(
        files.len() >= 100,
        "only {} files in the corpus",
        files.len()
    );

    let scratch = std::env::temp_dir().join(format!("connscope-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let limit = timeout();
    let started = Instant::now();
    let results = parallel(&files, |rel| {
        let path = dir.join(rel);
        let bytes = std::fs::read(&path).expect("read corpus file");
        let shown = path.display().to_string();
        let args: Vec<OsString> = vec![
            "analyze".into(),
            "--format".into(),
            "json".into(),
            path.clone().into(),
        ];
        let whole = run_with_timeout(&args, limit);
        let mut bad = check_run(rel, &shown, &bytes, &whole);

        // The same file cut short at an arbitrary point: a capture that ends mid-record.
        let cut = truncated(rel, &bytes);
        let cut_path = scratch.join(rel.replace('/', "__"));
        std::fs::write(&cut_path, &cut).expect("write truncated copy");
        let cut_shown = cut_path.display().to_string();
        let args: Vec<OsString> = vec![
            "analyze".into(),
            "--format".into(),
            "json".into(),
            cut_path.clone().into(),
        ];
        let part = run_with_timeout(&args, limit);
        let label = format!("{rel} (cut to {} of {} bytes)", cut.len(), bytes.len());
        bad.extend(check_run(&label, &cut_shown, &cut, &part));
        let _ = std::fs::remove_file(&cut_path);
        (rel.clone(), whole.code, whole.elapsed, bad)
    });
    let _ = std::fs::remove_dir_all(&scratch);

    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for (_, code, _, _) in &results {
        *codes
            .entry(code.map_or("killed".into(), |c| c.to_string()))
            .or_default() += 1;
    }
    let slowest = results.iter().max_by_key(|r| r.2).unwrap();
    eprintln!(
        "corpus: {} files (+ a truncated copy of each) in {:.1?}; exit codes of the whole files \
         {codes:?}; slowest {} ({:.1?})",
        files.len(),
        started.elapsed(),
        slowest.0,
        slowest.2
    );
    let failures: Vec<String> = results.into_iter().flat_map(|r| r.3).collect();
    assert!(
        failures.is_empty(),
        "{} problem(s) over the corpus:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn unsupported_link_types_are_refused_by_name() {
    let Some(dir) = corpus_dir() else { return };
    // The link types as the files declare them (checked with xxd): Cisco HDLC, ARCNET (Linux
    // header), and PPI.
    for (rel, link) in [
        ("suricata-verify/decode-chdlc-01/hdlc-http_1tx.pcap", 104),
        ("tcpdump/arcnet-rfc1051-arp-icmp-http.pcap", 129),
        ("tcpdump/arcnet-rfc1201-arp-icmp-http.pcap", 129),
        ("libpcap/arcnet-rfc1051-arp-icmp-http.pcap", 129),
        ("libpcap/http_PPI.pcap", 192),
    ] {
        let path = dir.join(rel);
        let out = connscope(&["analyze", "--format", "json", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rel}: {err}");
        assert!(out.stdout.is_empty(), "{rel}");
        assert_eq!(err.lines().count(), 1, "{rel}: {err}");
        assert!(
            err.contains(path.to_str().unwrap())
                && err.contains("unsupported link type")
                && err.contains(&format!("({link})")),
            "{rel}: {err}"
        );
    }
    let chdlc = dir.join("suricata-verify/decode-chdlc-01/hdlc-http_1tx.pcap");
    let out = connscope(&["analyze", chdlc.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("C_HDLC"));
}

// ---------------------------------------------------------------------------------------------
// Agreement with what the bytes say

/// `connscope analyze --format json EXTRA... FILE` on a corpus file: (exit code, report,
/// stderr). None when the corpus is absent. Panics unless the exit code is 0 or 3.
fn analyze_any(rel: &str, extra: &[&str]) -> Option<(i32, Report, String)> {
    let dir = corpus_dir()?;
    let path = dir.join(rel);
    assert!(path.is_file(), "{} is not in the corpus", path.display());
    let mut args = vec!["analyze", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let out = connscope(&args);
    let code = out.status.code().expect("exit code");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(code == 0 || code == 3, "{rel}: exit {code}: {err}");
    let report = serde_json::from_slice(&out.stdout).expect("json output matches the schema");
    Some((code, report, err))
}

/// As [`analyze_any`], for a file that must be read without damage.
pub(crate) fn analyze(rel: &str, extra: &[&str]) -> Option<Report> {
    let (code, report, err) = analyze_any(rel, extra)?;
    assert_eq!(code, 0, "{rel}: {err}");
    Some(report)
}

/// The connection whose client uses `client_port`.
pub(crate) fn by_client_port(r: &Report, client_port: u16) -> &Connection {
    let found: Vec<&Connection> = r
        .connections
        .iter()
        .filter(|c| c.client_port() == client_port)
        .collect();
    assert_eq!(found.len(), 1, "connections from port {client_port}");
    found[0]
}

/// Requests per connection, in connection order, for connections that carried any.
fn requests_per_connection(r: &Report) -> Vec<u64> {
    r.connections
        .iter()
        .filter(|c| c.requests > 0)
        .map(|c| c.requests)
        .collect()
}

fn max_requests(r: &Report) -> u64 {
    r.connections.iter().map(|c| c.requests).max().unwrap_or(0)
}

pub(crate) fn exchanges(c: &Connection) -> Vec<(String, String, Option<u16>)> {
    c.exchanges
        .as_ref()
        .expect("run with --requests")
        .iter()
        .map(|e| (e.method.clone(), e.target.clone(), e.status))
        .collect()
}

pub(crate) fn ex(method: &str, target: &str, status: Option<u16>) -> (String, String, Option<u16>) {
    (method.to_string(), target.to_string(), status)
}

// --- pipelining

/// suricata-verify's test expects 40 HTTP/1.1 transactions; the client's five segments hold 40
/// request lines (8+8+8+8+7 by count of "GET "), the last with `Connection: close`. tshark
/// counts 5 (one per frame).
#[test]
fn forty_pipelined_requests_in_five_segments() {
    let Some(r) = analyze(
        "suricata-verify/http-protocol-nodup/input.pcap",
        &["--requests"],
    ) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.requests, s.responses, s.unanswered), (40, 40, 0));
    assert_eq!((s.connections, s.http_connections, s.handshakes), (1, 1, 1));
    let c = &r.connections[0];
    assert_eq!(c.requests, 40);
    assert!((s.reuse_ratio - 39.0 / 40.0).abs() < 1e-9);
    assert_eq!(c.close_reason, "client_close");
    let ex = c.exchanges.as_ref().unwrap();
    assert!(ex.iter().all(|e| e.method == "GET" && e.status.is_some()));
    assert_eq!(
        ex.iter().map(|e| e.index).collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
}

/// Two requests in one segment with bare LF line ends ("GET /bar/ HTTP/1.1\nHost: ...\n\n"
/// twice), answered by two 200s of Content-Length 39. tshark counts one.
#[test]
fn two_pipelined_requests_with_bare_lf_line_ends() {
    let Some(r) = analyze(
        "suricata-verify/firewall/ruletype-firewall-88-default-accept-tx-pipeline/input.pcap",
        &["--requests"],
    ) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!(r.connections.len(), 1);
    assert_eq!(
        exchanges(c),
        vec![ex("GET", "/bar/", Some(200)), ex("GET", "/foo/", Some(200))]
    );
    assert_eq!(c.hosts, ["testmyids.org"]);
}

/// One segment of a connection picked up mid-stream holding two requests separated by an
/// extra CRLF; no answers. tshark counts one.
#[test]
fn two_pipelined_requests_mid_stream_in_one_segment() {
    let Some(r) = analyze("suricata-verify/detect-pcre/detect-pcre-03/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!(
        (s.requests, s.unanswered, s.midstream, s.handshakes),
        (2, 2, 1, 0)
    );
    assert_eq!(
        r.connections[0].hosts,
        ["one.example.org", "two.example.org"]
    );
}

// --- keep-alive reuse and link types

/// BSD NULL link type with IPv6 (family 30, macOS): one connection carries three requests
/// (a chunked 200, then two 304s); a second connection was picked up mid-stream with no
/// payload worth a request.
#[test]
fn keep_alive_reuse_over_null_ipv6() {
    let Some(r) = analyze("gopacket/pcap/test_loopback.pcap", &[]) else {
        return;
    };
    let c = by_client_port(&r, 58799);
    assert_eq!(
        (c.requests, c.responses, c.protocol.as_str()),
        (3, 3, "http/1.1")
    );
    assert_eq!(c.client, "[::1]:58799");
    assert_eq!(r.summary.requests, 3);
}

/// Linux cooked (SLL): two requests on one connection (tshark agrees per stream).
#[test]
fn keep_alive_reuse_over_sll() {
    let Some(r) = analyze("PcapPlusPlus/Tests/Pcap++Test/PcapExamples/sll.pcap", &[]) else {
        return;
    };
    assert_eq!(requests_per_connection(&r), [2]);
    assert_eq!(r.summary.responses, 2);
    assert!((r.summary.reuse_ratio - 0.5).abs() < 1e-9);
}

/// Linux cooked v2 (SLL2): one request to 192.168.1.21 (suricata-verify expects hostname
/// 192.168.1.21, method GET).
#[test]
fn request_over_sll2() {
    let Some(r) = analyze("suricata-verify/decode-sll2-02/input.pcap", &[]) else {
        return;
    };
    assert_eq!((r.summary.requests, r.summary.responses), (1, 1));
    assert_eq!(r.connections[0].hosts, ["192.168.1.21"]);
}

/// Raw IP (LINKTYPE 101): 19 requests over 4 connections, the busiest with 10 (tshark's
/// per-stream counts agree with a reassembly of the bytes).
#[test]
fn raw_ip_request_counts() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/raw_ip.pcap",
        &[],
    ) else {
        return;
    };
    assert_eq!(r.summary.requests, 19);
    assert_eq!(r.summary.http_connections, 4);
    assert_eq!(max_requests(&r), 10);
}

/// Raw IPv6: 3 requests on one connection; and 9 over 4 connections (3, 4, 1, 1).
#[test]
fn raw_ipv6_request_counts() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_ipv6_http_stream.pcap",
        &[],
    ) else {
        return;
    };
    assert_eq!(requests_per_connection(&r), [3]);
    let r = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/four_ipv6_http_streams.pcap",
        &[],
    )
    .unwrap();
    assert_eq!(requests_per_connection(&r), [3, 4, 1, 1]);
    assert_eq!(r.summary.responses, 9);
    assert!(r.connections[0]
        .client
        .starts_with("[2001:618:400::5199:cc70]:"));
}

/// IPv6 over NULL: one request to [::1]:8000 (suricata-verify expects hostname "[::1]").
#[test]
fn ipv6_over_null() {
    let Some(r) = analyze("suricata-verify/http-ipv6/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!(
        (c.client.as_str(), c.server.as_str()),
        ("[::1]:55717", "[::1]:8000")
    );
    assert_eq!((c.requests, c.responses), (1, 1));
}

/// 802.1Q-tagged Ethernet with 18 retransmissions and a retransmitted SYN: one request, one
/// response (suricata-verify expects hostname "nx2500-242-4-server", status 200).
#[test]
fn vlan_tagged_with_syn_retransmission() {
    let Some(r) = analyze("suricata-verify/bug-4376/syn_retransmit_with_ts.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((r.summary.connections, c.requests, c.responses), (1, 1, 1));
    assert_eq!(c.hosts, ["nx2500-242-4-server"]);
    assert_eq!(c.tcp.syn_retransmits, 1);
    assert!(c.tcp.retransmitted_bytes > 0);
}

/// 802.1Q-tagged IPv6 (link-local addresses): one request to www.net1.bg, never answered.
#[test]
fn vlan_tagged_ipv6() {
    let Some(r) = analyze("suricata-verify/bug-814/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses, c.unanswered), (1, 0, 1));
    assert_eq!(c.hosts, ["www.net1.bg"]);
    assert!(c.client.starts_with("[fe80::"));
}

/// SLL, real mobile traffic: 82 requests over 21 connections picked up mid-stream, up to 35 on
/// one (tshark's per-stream counts agree on every stream).
#[test]
fn many_keep_alive_connections_over_sll() {
    let Some(r) = analyze("nDPI/default/pcap/quickplay.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.requests, s.http_connections, s.midstream), (82, 21, 21));
    assert_eq!(max_requests(&r), 35);
}

/// 41 connections with one HTTP/1.1 request each, answered by HTTP/1.0 without keep-alive.
#[test]
fn one_request_per_connection() {
    let Some(r) = analyze("suricata-verify/http-range-multiflows/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.connections, s.requests, s.responses), (41, 41, 41));
    assert_eq!(max_requests(&r), 1);
    assert_eq!(s.reuse_ratio, 0.0);
    assert_eq!(s.close_reasons["http10"], 41);
}

// --- TCP: wraparound, gaps, retransmissions, TFO, urgent data

/// The client's ISN is 4294964795 (2^32 - 2501): sequence numbers wrap inside the first
/// request. Two requests, two responses.
#[test]
fn sequence_wraparound_in_a_keep_alive_connection() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/one_tcp_stream_max_seq.pcap",
        &[],
    ) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses, c.handshake), (2, 2, true));
}

/// Only the client's side, with one 1420-byte segment missing inside the first POST's body:
/// two POSTs (seq 1 and 2872), nothing answered. tshark counts one.
#[test]
fn one_sided_capture_with_a_missing_segment() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/unidirectional_tcp_stream_with_missing_packet.pcap",
        &[],
    ) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses, c.unanswered), (2, 0, 2));
    assert_eq!(c.tcp.gap_bytes, 1420);
}

/// Retransmitted requests and ICMP errors quoting them: tshark counts 14 request frames; the
/// reassembled streams hold 8 requests (1, 2, 3, 1, 1 on five connections) and 8 responses.
#[test]
fn retransmissions_and_icmp_quotes_are_not_requests() {
    let Some(r) = analyze("suricata-verify/filestore-5408/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!((s.requests, s.responses, s.http_connections), (8, 8, 5));
    assert_eq!(requests_per_connection(&r), [2, 1, 3, 1, 1]);
    assert!(s.tcp.retransmitted_bytes > 0);
}

/// TCP Fast Open: the second connection's request rides in the SYN. suricata-verify expects
/// two HTTP transactions.
#[test]
fn tcp_fast_open_request_in_the_syn() {
    let Some(r) = analyze("suricata-verify/tcp-fastopen-03/tfo.pcap", &["--requests"]) else {
        return;
    };
    assert_eq!((r.summary.requests, r.summary.responses), (2, 2));
    let c = by_client_port(&r, 55534);
    assert_eq!(
        exchanges(c),
        [ex("GET", "//index.php?page=../../../etc/passwd", Some(200))]
    );
}

/// A byte sent as TCP urgent data in the middle of the request line; port 9090. One request,
/// one response.
#[test]
fn urgent_byte_inside_the_request_line() {
    let Some(r) = analyze("suricata-verify/tcp-urgp-01-oob/tcp-urgent1.pcap", &[]) else {
        return;
    };
    assert_eq!((r.summary.requests, r.summary.responses), (1, 1));
}

/// HTTP/1.0 with gaps inside response bodies of known length (Content-Length 12 and 70):
/// suricata-verify expects /1, /2, /3 all answered 200.
#[test]
fn gaps_inside_bodies_of_known_length() {
    for rel in [
        "suricata-verify/http-gap-simple/input.pcap",
        "suricata-verify/http-gap-double/input.pcap",
    ] {
        let Some(r) = analyze(rel, &["--requests"]) else {
            return;
        };
        let c = &r.connections[0];
        assert_eq!(
            exchanges(c),
            [
                ex("GET", "/1", Some(200)),
                ex("GET", "/2", Some(200)),
                ex("GET", "/3", Some(200))
            ],
            "{rel}"
        );
        assert!(c.tcp.gap_bytes > 0, "{rel}");
        assert_eq!(c.protocol, "http/1.0");
    }
}

// --- HTTP versions, chunking, non-standard ports, mid-stream starts

/// HTTP/1.0 with `Connection: keep-alive` on both sides; the client closed the idle
/// connection.
#[test]
fn http10_keep_alive_closed_by_the_idle_client() {
    let Some(r) = analyze("suricata-verify/alert-distance-within-1/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!(
        (c.protocol.as_str(), c.requests, c.responses),
        ("http/1.0", 1, 1)
    );
    assert_eq!(c.closed_by.as_deref(), Some("client"));
    assert_eq!(c.close_reason, "idle_timeout");
}

/// Cleartext HTTP on port 443: three requests on one connection, one response chunked.
#[test]
fn keep_alive_with_chunked_response_on_port_443() {
    let Some(r) = analyze("suricata-verify/http-brotli-ce/input.pcap", &[]) else {
        return;
    };
    assert_eq!(requests_per_connection(&r), [3]);
    assert_eq!(r.summary.responses, 3);
    assert_eq!(r.connections[0].server_port(), 443);
}

/// HTTP on ports tshark does not dissect as HTTP: client port 5060 to 8888 (tshark: SIP), and
/// a request to an SSH server (answered by its banner, so unanswered).
#[test]
fn http_recognised_on_any_port() {
    let Some(r) = analyze("nDPI/default/pcap/http_on_sip_port.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.client_port(), c.server_port()), (5060, 8888));
    assert_eq!((c.requests, c.responses), (1, 1));
    let r = analyze("suricata-verify/output-eve-anomaly-02/input.pcap", &[]).unwrap();
    let c = &r.connections[0];
    assert_eq!(c.server_port(), 22);
    assert_eq!((c.requests, c.responses, c.unanswered), (1, 0, 1));
}

/// A connection whose SYN was not captured: one request and its response.
#[test]
fn connection_picked_up_mid_stream() {
    let Some(r) = analyze("suricata-verify/alert-testmyids-midstream3/input.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!(
        (s.midstream, s.handshakes, s.requests, s.responses),
        (1, 0, 1, 1)
    );
}

/// Nikto's requests, client side only, one per connection: 797 connections with a request
/// line. Two heads are not valid HTTP and are not counted: one has a control character (0x1f)
/// as a header value, the other a space inside its target
/// ("GET /cgi-bin/handler/netsonar;cat /etc/passwd|?data=Download HTTP/1.1"). No server
/// answered either, so nothing says they were taken as requests. tshark counts 797.
#[test]
fn scanner_requests_one_per_connection() {
    let Some(r) = analyze("nDPI/default/pcap/WebattackRCE.pcap", &[]) else {
        return;
    };
    let s = &r.summary;
    assert_eq!(
        (s.connections, s.requests, s.http_connections),
        (797, 795, 795)
    );
    assert_eq!(max_requests(&r), 1);
}

// --- protocols other than HTTP/1.x, and CONNECT tunnels

/// The HTTP/2 connection preface from the client (prior knowledge): protocol h2, no HTTP/1
/// requests.
#[test]
fn h2_preface_is_labelled_h2() {
    let Some(r) = analyze("suricata-verify/http2-continuation/input.pcap", &[]) else {
        return;
    };
    let c = &r.connections[0];
    assert_eq!((c.protocol.as_str(), c.requests), ("h2", 0));
    assert_eq!(c.close_reason, "not_http");
}

/// TLS over IPv6 to port 443: both connections labelled tls.
#[test]
fn tls_over_ipv6_is_labelled_tls() {
    let Some(r) = analyze("suricata-verify/community-id-ipv6/input.pcap", &[]) else {
        return;
    };
    assert_eq!(r.summary.connections, 2);
    assert!(r.connections.iter().all(|c| c.protocol == "tls"));
    assert_eq!(r.summary.requests, 0);
}

/// CONNECT answered 200 ends HTTP parsing (close_reason tunnel). suricata-verify counts a
/// second transaction, the GET sent inside the tunnel to the proxy's peer; connscope
/// documents that a tunnel's payload is not the connection's HTTP, so one request.
#[test]
fn connect_tunnel_ends_http_parsing() {
    for rel in [
        "suricata-verify/http-connect/http-connect-simple/input.pcap",
        "suricata-verify/http-connect/http-connect-tls/input.pcap",
    ] {
        let Some(r) = analyze(rel, &["--requests"]) else {
            return;
        };
        let c = &r.connections[0];
        assert_eq!(
            exchanges(c)[0],
            ex("CONNECT", "abc:443", Some(200)),
            "{rel}"
        );
        assert_eq!(
            (c.requests, c.close_reason.as_str()),
            (1, "tunnel"),
            "{rel}"
        );
    }
}

// --- damaged input

/// The file ends one byte into a record header: exit 3, the damage described on stderr and in
/// summary.damage, and everything before it analyzed (8 requests, 8 responses on one
/// connection, as tshark reads it).
#[test]
fn capture_cut_short_reports_damage_and_partial_results() {
    let rel = "suricata-verify/http-mime-truncated/input.pcap";
    let Some((code, r, err)) = analyze_any(rel, &[]) else {
        return;
    };
    assert_eq!(code, 3);
    assert_eq!(r.summary.damage.len(), 1);
    assert!(
        r.summary.damage[0].contains("byte 2715459"),
        "{:?}",
        r.summary.damage
    );
    assert!(err.contains("byte 2715459") && err.contains(rel), "{err}");
    assert_eq!((r.summary.requests, r.summary.responses), (8, 8));
}

// ---------------------------------------------------------------------------------------------
// Derived captures: the same traffic re-encapsulated must give the same answers

/// Rewrites a little- or big-endian microsecond/nanosecond pcap: a new link type, and each
/// frame passed through `frame`.
fn rewrite_pcap(bytes: &[u8], link: u32, frame: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let big = match u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        m => panic!("not a classic pcap (magic {m:#x})"),
    };
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let wr = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = bytes[..20].to_vec();
    out.extend_from_slice(&wr(link));
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = rd(&bytes[at + 8..]) as usize;
        let orig = rd(&bytes[at + 12..]) as usize;
        let data = &bytes[at + 16..at + 16 + caplen];
        let new = frame(data);
        let grown = new.len() as isize - caplen as isize;
        out.extend_from_slice(&bytes[at..at + 8]);
        out.extend_from_slice(&wr(new.len() as u32));
        out.extend_from_slice(&wr((orig as isize + grown) as u32));
        out.extend_from_slice(&new);
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "trailing bytes in the source pcap");
    out
}

/// What must not change when only the link layer changes.
fn essentials(r: &Report) -> (u64, u64, u64, u64, Vec<u64>, BTreeMap<String, u64>) {
    let s = &r.summary;
    (
        s.packets,
        s.connections,
        s.requests,
        s.responses,
        requests_per_connection(r),
        s.close_reasons.clone(),
    )
}

fn analyze_bytes(name: &str, bytes: &[u8]) -> Report {
    let path = std::env::temp_dir().join(format!("connscope-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("write derived capture");
    let out = connscope(&["analyze", "--format", "json", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output matches the schema")
}

/// The 40 pipelined requests again, with an 802.1ad outer tag and an 802.1Q inner tag (QinQ)
/// inserted into every frame, and with a single 802.1Q tag: the same answers.
#[test]
fn vlan_and_qinq_tags_change_nothing() {
    let Some(dir) = corpus_dir() else { return };
    let bytes = std::fs::read(dir.join("suricata-verify/http-protocol-nodup/input.pcap")).unwrap();
    assert_eq!(declared_link_types(&bytes), [1]);
    let plain = analyze_bytes("plain.pcap", &bytes);
    let tag = |tags: &'static [[u8; 4]]| {
        move |f: &[u8]| {
            let mut v = f[..12].to_vec();
            for t in tags {
                v.extend_from_slice(t);
            }
            v.extend_from_slice(&f[12..]);
            v
        }
    };
    let qinq = rewrite_pcap(
        &bytes,
        1,
        tag(&[[0x88, 0xa8, 0x00, 0x64], [0x81, 0x00, 0x00, 0x0a]]),
    );
    let dot1q = rewrite_pcap(&bytes, 1, tag(&[[0x81, 0x00, 0x20, 0x07]]));
    assert_eq!(
        essentials(&analyze_bytes("qinq.pcap", &qinq)),
        essentials(&plain)
    );
    assert_eq!(
        essentials(&analyze_bytes("dot1q.pcap", &dot1q)),
        essentials(&plain)
    );
    assert_eq!(plain.summary.requests, 40);
}

/// The NULL/IPv6 keep-alive capture rewritten as OpenBSD LOOP (link type 108: the address
/// family in network byte order, AF_INET6 = 24): the same answers.
#[test]
fn loop_link_type_like_null() {
    let Some(dir) = corpus_dir() else { return };
    let bytes = std::fs::read(dir.join("gopacket/pcap/test_loopback.pcap")).unwrap();
    assert_eq!(declared_link_types(&bytes), [0]);
    let plain = analyze_bytes("null.pcap", &bytes);
    let as_loop = rewrite_pcap(&bytes, 108, |f| {
        let fam = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
        assert_eq!(fam, 30, "macOS AF_INET6 in host (little-endian) order");
        let mut v = 24u32.to_be_bytes().to_vec();
        v.extend_from_slice(&f[4..]);
        v
    });
    assert_eq!(
        essentials(&analyze_bytes("loop.pcap", &as_loop)),
        essentials(&plain)
    );
    assert_eq!(plain.summary.requests, 3);
}

/// A capture cut at every record boundary and in the middle of every record header and body
/// of a small keep-alive capture: never a panic; exit 0 exactly when the cut falls on a record
/// boundary, 3 otherwise; the requests found never exceed the whole file's and never go down
/// as the cut moves later.
#[test]
fn cuts_anywhere_give_partial_results() {
    let Some(dir) = corpus_dir() else { return };
    let bytes = std::fs::read(dir.join("gopacket/pcap/test_loopback.pcap")).unwrap();
    let mut boundaries = vec![24];
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen =
            u32::from_le_bytes([bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]]);
        at += 16 + caplen as usize;
        boundaries.push(at);
    }
    let mut cuts = Vec::new();
    for w in boundaries.windows(2) {
        cuts.extend([w[0], w[0] + 1, w[0] + 15, w[0] + 16, (w[0] + w[1]) / 2]);
    }
    cuts.push(bytes.len());
    let scratch = std::env::temp_dir().join(format!("connscope-cuts-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let results = parallel(&cuts, |&cut| {
        let path = scratch.join(format!("cut-{cut}.pcap"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let run = run_with_timeout(
            &[
                "analyze".into(),
                "--format".into(),
                "json".into(),
                path.clone().into(),
            ],
            timeout(),
        );
        let bad = check_run(
            &format!("cut at {cut}"),
            &path.display().to_string(),
            &bytes[..cut],
            &run,
        );
        let requests = serde_json::from_slice::<Report>(&run.stdout)
            .map(|r| r.summary.requests)
            .ok();
        (cut, run.code, requests, bad)
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let mut last = 0;
    for (cut, code, requests, bad) in results {
        assert!(bad.is_empty(), "{bad:?}");
        let expected = if boundaries.contains(&cut) { 0 } else { 3 };
        assert_eq!(code, Some(expected), "cut at {cut}");
        let requests = requests.unwrap();
        assert!(
            requests >= last && requests <= 3,
            "cut at {cut}: {requests} requests"
        );
        last = requests;
    }
    assert_eq!(last, 3);
}

// ---------------------------------------------------------------------------------------------
// Regressions: bugs this corpus showed (fixed in d21cb04), and one still open

/// A client-side-only capture with losses: PcapPlusPlus kept only segments that start a
/// request, 381 distinct ones, 273 of which hold a complete head (the other 108 heads continue
/// in a segment that was not captured, so they cannot be counted). On the connection from
/// port 60401 three complete GETs sit at seq 1, 407 and 1672, with 796 bytes lost before the
/// third. connscope used to count 2 there and 222 in all: after a gap, resync never tried the
/// first byte after the hole, where a request line starts.
#[test]
fn request_right_after_a_gap_is_counted() {
    let rel = "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/4KHttpRequests.pcap";
    let Some(r) = analyze(rel, &["--requests", "--filter", "tcp port 60401"]) else {
        return;
    };
    let c = by_client_port(&r, 60401);
    assert_eq!(c.requests, 3, "{:?}", exchanges(c));
    let r = analyze(rel, &[]).unwrap();
    assert_eq!(r.summary.requests, 273);
}

/// The same on the server side (connscope used to count 618): 677 distinct segments start with
/// a status line, on connections picked up mid-stream without their requests. 675 are
/// responses connscope can know, counting the one 101: frame 502's head has a line of HTML
/// without a colon (malformed on purpose), and on port 61222 a 302 with Content-Length 689 is
/// followed at the very next sequence number by another response: the answer to a HEAD request
/// the capture does not show, so its 689 "body" bytes swallow the next head.
#[test]
fn response_right_after_a_gap_is_counted() {
    let Some(r) = analyze(
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/650HttpResponses.pcap",
        &[],
    ) else {
        return;
    };
    assert_eq!(r.summary.responses, 675);
}

/// The first response's 12-byte body and 2 stray bytes after it (14 bytes) were lost; the next
/// segment starts with "HTTP/1.0 200 OK". suricata-verify expects /1, /2 and /3 all answered
/// 200; connscope used to pair only the first and report the others in flight.
#[test]
fn response_after_a_gap_over_a_whole_body() {
    let Some(r) = analyze(
        "suricata-verify/http-gap-whole-body/input.pcap",
        &["--requests"],
    ) else {
        return;
    };
    assert_eq!(
        exchanges(&r.connections[0]),
        [
            ex("GET", "/1", Some(200)),
            ex("GET", "/2", Some(200)),
            ex("GET", "/3", Some(200))
        ]
    );
}

/// Connections picked up mid-stream whose first client segment is a 1-byte TCP keep-alive
/// probe (0x00 at snd.nxt - 1; in http_chunk.pcap the server's ACK carries a D-SACK for it).
/// connscope used to take the byte as data and then miss the request right after it:
/// http_chunk.pcap has one GET answered by a chunked 200 (it said 0 requests, protocol
/// unknown); many-protocols.pcap port 55193 has two GETs answered 200 (it said 1).
#[test]
fn request_after_a_keep_alive_probe_at_a_mid_stream_start() {
    let Some(r) = analyze("scapy/http_chunk.pcap", &[]) else {
        return;
    };
    let c = by_client_port(&r, 53226);
    assert_eq!(
        (c.requests, c.responses, c.protocol.as_str()),
        (1, 1, "http/1.1")
    );
    let r = analyze(
        "PcapPlusPlus/Tests/ExamplesTest/pcap_examples/many-protocols.pcap",
        &["--filter", "tcp port 55193"],
    )
    .unwrap();
    assert_eq!(by_client_port(&r, 55193).requests, 2);
}

/// h2 with prior knowledge where the server's SETTINGS frame reaches the wire before the
/// client's preface: the SYN says who the client is and its first bytes are
/// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". connscope used to give up on "the server spoke first,
/// and not HTTP" and label the connections unknown.
#[test]
fn h2_preface_after_server_settings() {
    for rel in [
        "suricata-verify/bug-5929-02/http2_multiple_headers.pcap",
        "suricata-verify/http2-authority-mismatch/authority_and_host_2.pcap",
        "suricata-verify/http2-keywords/input.pcap",
        "suricata-verify/http2-userinfo-authority/http2_userinfo_in_authority_1.pcap",
    ] {
        let Some(r) = analyze(rel, &[]) else {
            return;
        };
        assert_eq!(r.connections[0].protocol, "h2", "{rel}");
    }
}

/// The client's first captured bytes are the h2 preface, but the SYN was not captured (SLL,
/// port 29518): connscope used to start such a session in resync, which never looked for the
/// preface.
#[test]
fn h2_preface_mid_stream() {
    let Some(r) = analyze("nDPI/default/pcap/http2.pcapng", &[]) else {
        return;
    };
    assert_eq!(r.connections[0].protocol, "h2");
}

/// gtk-gnutella's requests continue a header on the next line (obs-fold: a line starting with
/// a TAB, RFC 9112 section 5.2, which a server may accept by replacing it with SP); the
/// servers did, answering 206, 206 and 200. connscope used to reject the heads
/// (malformed_head) and label the connections unknown.
#[test]
fn request_heads_with_obs_fold() {
    let Some(r) = analyze("nDPI/default/pcap/gnutella.pcap", &[]) else {
        return;
    };
    for port in [50327, 50328, 50330] {
        let c = by_client_port(&r, port);
        assert_eq!((c.requests, c.responses), (1, 1), "client port {port}");
    }
}

/// "GET                  /aaaa..._very_long_uri HTTP/1.1": runs of spaces between request
/// line elements, which RFC 9112 section 3 lets recipients accept; the server answered 200,
/// then the same connection carried GET /rick.gif. connscope used to count one request there.
#[test]
fn request_line_with_repeated_spaces() {
    let Some(r) = analyze("nDPI/default/pcap/http-manipulated.pcap", &[]) else {
        return;
    };
    let c = by_client_port(&r, 33684);
    assert_eq!((c.requests, c.responses), (2, 2));
}
