//! Command-line interface: clap types, turned into validated engine settings. Nothing past
//! this module sees clap, and choices such as the output format reach the engine only as
//! settings (which records to keep or stream).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analysis::{self, Records};
use crate::capture::LiveOptions;
use crate::engine::Settings;
use crate::flow::Limits;
use crate::proto;

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
    /// Capture from a network interface and analyze as traffic flows.
    Live(LiveArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Jsonl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LiveFormat {
    Text,
    Jsonl,
}

/// Options of the analysis itself, the same for files and live capture.
#[derive(clap::Args, Debug)]
pub struct EngineArgs {
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
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (`any` for all); default: the one libpcap picks.
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// BPF filter expression, run in the kernel.
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// `jsonl`: connection lines as connections end and a summary line every interval;
    /// `text`: a status line on standard error (on a terminal) and the report at the end.
    #[arg(long, value_enum, default_value_t = LiveFormat::Text)]
    pub format: LiveFormat,
    /// Stop after this many seconds (default: at Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Seconds of capture time between summary lines.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// Also write every captured packet to this pcap file (as tcpdump -w).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Bytes kept of each packet.
    #[arg(long, value_name = "N", default_value_t = 262_144)]
    pub snaplen: i32,
    /// Kernel buffer for packets not read yet, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20)]
    pub buffer_size: i32,
    /// A connection with no packet for this many seconds is finished (counted as
    /// `summary.limits.idle_expired`), so memory follows the connections really open.
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub idle_limit: f64,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// What `analyze` reads, and how.
#[derive(Clone, Debug)]
pub struct Analyze {
    pub files: Vec<PathBuf>,
    pub filter: Option<String>,
    pub settings: Settings,
}

/// What `live` captures, and how.
#[derive(Clone, Debug)]
pub struct Live {
    pub capture: LiveOptions,
    pub settings: Settings,
}

fn positive(name: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{name} must be a number of seconds > 0, not {v}"))
    }
}

impl EngineArgs {
    fn settings(&self, records: Records) -> Result<Settings, String> {
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
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 || threads > 256 {
            return Err(format!(
                "--threads must be between 1 and 256, not {threads}"
            ));
        }
        Ok(Settings {
            threads,
            files: Vec::new(),
            analysis: analysis::Config {
                time_wait_secs: self.time_wait,
                requests: self.requests,
                records,
                slow_headers_ms: self.slow_headers_ms,
                ..analysis::Config::default()
            },
            // Method, target and Host of every request travel inline with its exchange event
            // (proto::RequestKey); whole, as strings, only when the output shows them.
            proto: proto::Config {
                detail: self.requests,
            },
            limits: Limits {
                held_per_stream: self.max_held_bytes,
                held_total: self.max_held_total,
                max_connections: self.max_connections.max(1),
                ..Limits::default()
            },
            publish_every: None,
        })
    }
}

impl AnalyzeArgs {
    pub fn options(&self) -> Result<Analyze, String> {
        let stdin_count = self.files.iter().filter(|p| p.as_os_str() == "-").count();
        if stdin_count > 1 {
            return Err("standard input (-) can be given only once".into());
        }
        let records = match self.format {
            Format::Text => Records::None,
            Format::Jsonl => Records::Stream,
            Format::Json => Records::Keep,
        };
        let mut settings = self.engine.settings(records)?;
        settings.files = self.files.iter().map(|p| p.display().to_string()).collect();
        Ok(Analyze {
            files: self.files.clone(),
            filter: self.filter.clone(),
            settings,
        })
    }
}

impl LiveArgs {
    pub fn options(&self) -> Result<Live, String> {
        let interval = positive("--interval", self.interval)?;
        let idle = positive("--idle-limit", self.idle_limit)?;
        let duration = match self.duration {
            Some(d) => Some(Duration::from_secs_f64(positive("--duration", d)?)),
            None => None,
        };
        if self.snaplen <= 0 || self.buffer_size <= 0 {
            return Err("--snaplen and --buffer-size must be > 0".into());
        }
        let records = match self.format {
            LiveFormat::Text => Records::None,
            LiveFormat::Jsonl => Records::Stream,
        };
        let mut settings = self.engine.settings(records)?;
        settings.analysis.interval_secs = interval;
        settings.publish_every = Some(interval);
        settings.limits.idle_nanos = Some((idle * 1e9) as i64);
        settings.files = vec![self.interface.clone().unwrap_or_default()];
        Ok(Live {
            capture: LiveOptions {
                interface: self.interface.clone(),
                filter: self.filter.clone(),
                snaplen: self.snaplen,
                buffer_size: self.buffer_size,
                write: self.write.clone(),
                duration,
                ..LiveOptions::default()
            },
            settings,
        })
    }
}
