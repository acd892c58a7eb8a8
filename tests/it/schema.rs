//! A mirror of the documented output schema: if a field is renamed or changes type, these
//! deserialisations fail.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

#[derive(Debug, Deserialize, Clone)]
pub struct KeepAlive {
    pub timeout: Option<u32>,
    pub max: Option<u32>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct IdleGaps {
    pub count: u32,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// `tcp` of a connection, and its sums in the summary.
#[derive(Debug, Deserialize, Clone)]
pub struct Tcp {
    pub retransmitted_bytes: u64,
    pub out_of_order: u64,
    pub gap_bytes: u64,
    pub keepalive_probes: u64,
    pub zero_window_probes: u64,
    pub syn_retransmits: u64,
    pub bad_checksums_client: u64,
    pub bad_checksums_server: u64,
    pub ignored_resets: u64,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Connection {
    pub id: u64,
    pub client: String,
    pub server: String,
    pub start: f64,
    pub end: f64,
    pub packets: u64,
    pub bytes_client: u64,
    pub bytes_server: u64,
    pub handshake: bool,
    pub handshake_rtt_ms: Option<f64>,
    pub protocol: String,
    pub requests: u64,
    pub responses: u64,
    pub unanswered: u32,
    pub closed_by: Option<String>,
    pub close: String,
    pub close_reason: String,
    pub time_wait: Option<String>,
    pub keep_alive: Option<KeepAlive>,
    pub idle_gaps_ms: Option<IdleGaps>,
    pub idle_before_close_ms: Option<f64>,
    pub hosts: Vec<String>,
    pub tcp: Tcp,
    pub http_errors: BTreeMap<String, u32>,
    pub slow_headers_ms: Option<f64>,
    pub evicted: bool,
    pub exchanges: Option<Vec<Request>>,
}

impl Connection {
    pub fn client_port(&self) -> u16 {
        port(&self.client)
    }
    pub fn server_port(&self) -> u16 {
        port(&self.server)
    }
}

pub fn port(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

#[derive(Debug, Deserialize, Clone)]
pub struct Request {
    pub connection: u64,
    pub index: u32,
    pub client: String,
    pub server: String,
    pub method: String,
    pub target: String,
    pub host: Option<String>,
    pub version: String,
    pub start: f64,
    pub status: Option<u16>,
    pub ttfb_ms: Option<f64>,
    pub duration_ms: Option<f64>,
    pub reused: bool,
    pub complete: bool,
}

#[derive(Debug, Deserialize, Clone)]
pub struct BySide {
    pub client: u64,
    pub server: u64,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Server {
    pub server: String,
    pub hosts: Vec<String>,
    pub connections: u64,
    pub handshakes: u64,
    pub midstream: u64,
    pub requests: u64,
    pub responses: u64,
    pub reuse_ratio: f64,
    pub requests_per_connection: BTreeMap<String, u64>,
    pub closed_by: BTreeMap<String, u64>,
    pub close_reasons: BTreeMap<String, u64>,
    pub time_wait: BySide,
    pub keep_alive: Option<KeepAlive>,
    pub ttfb_ms: serde_json::Value,
}

#[derive(Debug, Deserialize, Clone)]
pub struct HostPeak {
    pub host: String,
    pub peak: u64,
    pub at: f64,
    pub total: u64,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Summary {
    pub files: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub duration: f64,
    pub connections: u64,
    pub handshakes: u64,
    pub midstream: u64,
    pub http_connections: u64,
    pub requests: u64,
    pub responses: u64,
    pub unanswered: u64,
    pub reuse_ratio: f64,
    pub requests_per_connection: Option<BTreeMap<String, f64>>,
    pub closed_by: BTreeMap<String, u64>,
    pub close_reasons: BTreeMap<String, u64>,
    pub protocols: BTreeMap<String, u64>,
    pub time_wait: BySide,
    pub time_wait_seconds: f64,
    pub time_wait_peak: Vec<HostPeak>,
    pub tcp: Tcp,
    pub http_errors: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, u64>,
    pub tunnelled: Tunnelled,
    pub stray_segments: u64,
    pub checksums: Checksums,
    pub peak_open_connections: u64,
    pub slow_headers: u64,
    pub limits: BTreeMap<String, u64>,
    pub damage: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, Default, PartialEq, Eq)]
pub struct Tunnelled {
    pub segments: u64,
    pub mpls: u64,
    pub pppoe: u64,
    pub gre: u64,
    pub erspan: u64,
    pub ip_in_ip: u64,
    pub vxlan: u64,
    pub gtp_u: u64,
    pub geneve: u64,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct Checksums {
    pub verified: u64,
    pub bad_tcp: u64,
    pub bad_ip: u64,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Report {
    pub summary: Summary,
    pub servers: Vec<Server>,
    pub connections: Vec<Connection>,
}

/// `tshark -n -r PCAP OPTIONS... -Y FILTER -T fields -e FIELD...`: the second opinion several
/// tests ask for. Returns standard output, one line per frame, fields separated by tabs.
pub fn tshark_fields(pcap: &Path, options: &[&str], filter: &str, fields: &[&str]) -> String {
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(pcap).args(options);
    cmd.args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark is installed by `make test` (Debian package tshark)");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark writes UTF-8")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn capture(name: &str) -> PathBuf {
    root().join("captures").join(name)
}

pub fn connscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run connscope")
}

/// `connscope analyze --format json ARGS...`, parsed; panics with stderr on failure.
pub fn analyze_json(files: &[&Path], extra: &[&str]) -> Report {
    let mut args = vec!["analyze", "--format", "json"];
    args.extend_from_slice(extra);
    let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(files.iter().map(String::as_str));
    let out = connscope(&args);
    assert!(
        out.status.success(),
        "connscope {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output matches the schema")
}
