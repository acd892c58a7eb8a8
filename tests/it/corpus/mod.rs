//! connscope over the public capture corpus: ~900 captures published by other projects as
//! test fixtures (../shared/corpus, or $CONNSCOPE_CORPUS; see its README.md and MANIFEST.tsv).
//! When the corpus is not there every test here fails, unless CONNSCOPE_NO_CORPUS=1 is set
//! (then each prints a note and passes); on CI (CI set) a missing corpus always fails.
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
//! A test marked `#[ignore = "connscope bug: ..."]` would assert what the bytes say and fail
//! today; there is none at the moment.
//!
//! The tests are split by theme: sweep.rs (every file), agreement.rs (counts checked against
//! the bytes), derived.rs (re-encapsulated and cut copies), regressions.rs.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::schema::{connscope, Connection, Report};

mod agreement;
mod derived;
mod regressions;
mod sweep;

// ---------------------------------------------------------------------------------------------
// The corpus and running connscope over it

pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("CONNSCOPE_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    // Skipping is opt-in, and never on CI: a corpus that went missing must not pass quietly.
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    if !ci && std::env::var_os("CONNSCOPE_NO_CORPUS").is_some_and(|v| v == "1") {
        eprintln!(
            "note: capture corpus not found at {}; skipping (CONNSCOPE_NO_CORPUS=1)",
            dir.display()
        );
        return None;
    }
    panic!(
        "capture corpus not found at {} (no MANIFEST.tsv): set CONNSCOPE_CORPUS to its \
         directory, or CONNSCOPE_NO_CORPUS=1 to skip the corpus tests (not honoured when CI \
         is set)",
        dir.display()
    );
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
// Agreement with what the bytes say

/// `connscope analyze --format json EXTRA... FILE` on a corpus file: (exit code, report,
/// stderr). None when the corpus is absent and skipping was asked for. Panics unless the exit code is 0 or 3.
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
