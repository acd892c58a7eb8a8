//! Command-line interface: clap types, turned into validated engine settings. Nothing past
//! this module sees clap, and choices such as the output format reach the engine only as
//! settings (which records to keep or stream).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analysis::{self, Records};
use crate::engine::Settings;
use crate::flow::Limits;
use crate::proto;

/// What `analyze` reads, and how.
#[derive(Clone, Debug)]
pub struct Analyze {
    pub files: Vec<PathBuf>,
    pub filter: Option<String>,
    pub settings: Settings,
}

#[derive(Parser, Debug)]
#[command(
    name = "connscope",
    version,
    about = "Passive analyzer of HTTP connection reuse (keep-alive)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyze saved captures (pcap or pcapng; `-` reads standard input).
    Analyze(AnalyzeArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files, analyzed as one capture in the order given; `-` is standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// BPF filter expression, compiled by libpcap as tcpdump does.
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Seconds an active closer holds TIME_WAIT (Linux: 60).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub time_wait: f64,
    /// Also report every request: `request` lines in jsonl, `exchanges` arrays in json.
    #[arg(long)]
    pub requests: bool,
    /// Out-of-order bytes held per TCP direction before a hole is declared lost.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_held_bytes: usize,
    /// Out-of-order bytes held by all connections together.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_held_total: usize,
    /// Connections tracked at once; past it half-open, then longest-idle ones are evicted.
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    pub max_connections: usize,
    /// Worker threads for flow tracking and HTTP decoding (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// A request head that takes longer than this to arrive is reported as slow-headers.
    #[arg(long, value_name = "MS", default_value_t = 1000.0)]
    pub slow_headers_ms: f64,
}

impl AnalyzeArgs {
    pub fn options(&self) -> Result<Analyze, String> {
        if !(self.time_wait.is_finite() && self.time_wait >= 0.0) {
            return Err(format!(
                "--time-wait must be a number of seconds >= 0, not {}",
                self.time_wait
            ));
        }
        if !(self.slow_headers_ms.is_finite() && self.slow_headers_ms >= 0.0) {
            return Err(format!(
                "--slow-headers-ms must be >= 0, not {}",
                self.slow_headers_ms
            ));
        }
        let stdin_count = self.files.iter().filter(|p| p.as_os_str() == "-").count();
        if stdin_count > 1 {
            return Err("standard input (-) can be given only once".into());
        }
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 || threads > 256 {
            return Err(format!(
                "--threads must be between 1 and 256, not {threads}"
            ));
        }
        let records = match self.format {
            Format::Text => Records::None,
            Format::Jsonl => Records::Stream,
            Format::Json => Records::Keep,
        };
        Ok(Analyze {
            files: self.files.clone(),
            filter: self.filter.clone(),
            settings: Settings {
                threads,
                files: self.files.iter().map(|p| p.display().to_string()).collect(),
                analysis: analysis::Config {
                    time_wait_secs: self.time_wait,
                    requests: self.requests,
                    records,
                    slow_headers_ms: self.slow_headers_ms,
                    ..analysis::Config::default()
                },
                // Method, target and Host of every request travel with its exchange event,
                // for analyses across connections, whatever the output shows.
                proto: proto::Config { detail: true },
                limits: Limits {
                    held_per_stream: self.max_held_bytes,
                    held_total: self.max_held_total,
                    max_connections: self.max_connections.max(1),
                },
            },
        })
    }
}
