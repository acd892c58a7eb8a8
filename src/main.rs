//! Terminal set-up, error to exit code; nothing else.
//!
//! Exit codes: 0 success (also when the reader of our output went away: a closed pipe),
//! 1 an I/O error, 2 bad usage or input that is not a supported capture, 3 damaged input
//! (everything readable was analyzed and reported).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use connscope::analysis::NoOutput;
use connscope::analysis::{Output, Seen};
use connscope::capture::{CaptureError, Files, LiveSource, Progress};
use connscope::cli::{AnalyzeArgs, Cli, Command, Format, LiveArgs, LiveFormat};
use connscope::engine;
use connscope::report::{json, text};

pub(crate) const EXIT_IO: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
const EXIT_DAMAGED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze(&args),
        Command::Live(args) => live(&args),
    }
}

/// The text report, in colour only on a terminal and without NO_COLOR.
fn write_text(mut w: impl Write, report: &connscope::analysis::Report) -> io::Result<()> {
    let style = text::Style {
        color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    w.write_all(text::render(report, &style).as_bytes())?;
    w.flush()
}

/// The input could not be read: say why; exit 1 for I/O, 2 for anything else.
fn capture_failed(e: CaptureError) -> ExitCode {
    eprintln!("connscope: {e}");
    ExitCode::from(match e {
        CaptureError::Io { .. } => EXIT_IO,
        _ => EXIT_USAGE,
    })
}

pub(crate) fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        None,
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(250));
    Some(bar)
}

fn analyze(args: &AnalyzeArgs) -> ExitCode {
    let opts = match args.options() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("connscope: {msg}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let bar = progress_bar();
    let mut on_progress = |p: Progress, packets: u64| {
        if let Some(bar) = &bar {
            if let Some(t) = p.total {
                bar.set_length(t);
            }
            bar.set_position(p.position);
            bar.set_message(format!(
                "{} packets (file {}/{})",
                packets,
                p.file_index + 1,
                p.files
            ));
        }
    };
    let workers = opts.settings.threads;
    let mut source = Files::new(opts.files.clone(), opts.filter.as_deref(), workers);
    let stdout = || io::BufWriter::with_capacity(1 << 16, io::stdout());
    let result = if args.format == Format::Jsonl {
        let mut sink = engine::RecordsTo(json::JsonLines::new(stdout()));
        engine::run(&mut source, &opts.settings, &mut sink, &mut on_progress).map(|o| {
            let r = match o.write_error {
                Some(e) => Err(e),
                None => sink.0.finish(&o.report),
            };
            (o.damage, r)
        })
    } else {
        engine::run(&mut source, &opts.settings, &mut NoOutput, &mut on_progress).map(|o| {
            let mut w = stdout();
            let r = if args.format == Format::Json {
                json::document(&mut w, &o.report)
            } else {
                write_text(&mut w, &o.report)
            };
            (o.damage, r)
        })
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Err(e) => capture_failed(e),
        Ok((_, Err(e))) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Ok((_, Err(e))) => {
            eprintln!("connscope: writing the report: {e}");
            ExitCode::from(EXIT_IO)
        }
        Ok((damage, Ok(()))) if !damage.is_empty() => {
            for d in &damage {
                eprintln!("connscope: {d}");
            }
            ExitCode::from(EXIT_DAMAGED)
        }
        Ok(_) => ExitCode::SUCCESS,
    }
}

/// What a live run writes as it goes: jsonl records and a summary line per interval, or a
/// status line on a terminal.
struct LiveSink {
    lines: Option<json::JsonLines<io::BufWriter<io::Stdout>>>,
    none: NoOutput,
    status: bool,
    /// The previous snapshot's time and counts, for the interval's rates.
    last: Option<(i64, Seen)>,
    interval: f64,
}

impl LiveSink {
    /// The figures between the previous snapshot and this one.
    fn interval(&mut self, snap: &engine::Snapshot) -> json::IntervalOut {
        let (t0, s0) = self
            .last
            .unwrap_or((snap.at.0 - (self.interval * 1e9) as i64, Seen::default()));
        let s = snap.seen;
        self.last = Some((snap.at.0, s));
        // The last interval may be cut short (or empty) by the end of the capture.
        let secs = ((snap.at.0 - t0) as f64 / 1e9).max(0.0);
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let requests = s.requests - s0.requests;
        let first = s.first_requests - s0.first_requests;
        json::IntervalOut {
            seconds: secs,
            new_connections_per_s: per_s(s.opened - s0.opened),
            requests_per_s: per_s(requests),
            reuse_ratio: if requests == 0 {
                0.0
            } else {
                (requests - first) as f64 / requests as f64
            },
            open_connections: snap.open_now,
            time_wait_client: snap.time_wait_now.0,
            time_wait_server: snap.time_wait_now.1,
        }
    }
}

fn capture_out(snap: &engine::Snapshot) -> json::CaptureOut {
    let c = snap.capture.unwrap_or_default();
    json::CaptureOut {
        received: c.received,
        dropped_kernel: c.dropped_kernel,
        dropped_interface: c.dropped_interface,
    }
}

impl engine::Sink for LiveSink {
    fn records(&mut self) -> &mut dyn Output {
        match &mut self.lines {
            Some(l) => l,
            None => &mut self.none,
        }
    }

    fn snapshot(&mut self, snap: &engine::Snapshot) -> io::Result<()> {
        let interval = self.interval(snap);
        if let Some(lines) = &mut self.lines {
            lines.live_summary(&snap.report.summary, &interval, &capture_out(snap))?;
        }
        if self.status {
            let s = &snap.report.summary;
            eprint!(
                "\r\x1b[K{} packets, {} connections, {} requests ({:.0}/s), reuse {:.2}, open {}, dropped {}",
                s.packets,
                snap.seen.opened,
                snap.seen.requests,
                interval.requests_per_s,
                interval.reuse_ratio,
                snap.open_now,
                capture_out(snap).dropped_kernel,
            );
        }
        Ok(())
    }
}

fn live(args: &LiveArgs) -> ExitCode {
    let mut opts = match args.options() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("connscope: {msg}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Ctrl-C and SIGTERM end the capture cleanly: the report covers what was captured.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("connscope: cannot handle signal {sig}: {e}");
            return ExitCode::from(EXIT_IO);
        }
    }
    opts.capture.stop = stop;
    let mut source = match LiveSource::open(opts.capture.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("connscope: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    opts.settings.files = vec![source.interface().to_string()];
    let jsonl = args.format == LiveFormat::Jsonl;
    let mut sink = LiveSink {
        lines: jsonl
            .then(|| json::JsonLines::new(io::BufWriter::with_capacity(1 << 16, io::stdout()))),
        none: NoOutput,
        status: !jsonl && io::stderr().is_terminal(),
        last: None,
        interval: args.interval,
    };
    let result = engine::run(&mut source, &opts.settings, &mut sink, &mut |_, _| {});
    if sink.status {
        eprintln!();
    }
    let outcome = match result {
        Ok(o) => o,
        Err(e) => return capture_failed(e),
    };
    let written = match (outcome.write_error, &mut sink.lines) {
        (Some(e), _) => Err(e),
        (None, Some(_)) => {
            let interval = sink.interval(&outcome.last);
            let capture = capture_out(&outcome.last);
            let lines = sink.lines.as_mut().expect("jsonl");
            lines
                .servers(&outcome.report)
                .and_then(|_| lines.live_summary(&outcome.report.summary, &interval, &capture))
        }
        (None, None) => write_text(io::stdout().lock(), &outcome.report),
    };
    match written {
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connscope: writing the report: {e}");
            ExitCode::from(EXIT_IO)
        }
        Ok(()) => ExitCode::SUCCESS,
    }
}
