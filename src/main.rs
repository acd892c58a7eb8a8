//! Terminal set-up, error to exit code; nothing else.
//!
//! Exit codes: 0 success (also when the reader of our output went away: a closed pipe),
//! 1 an I/O error, 2 bad usage or input that is not a supported capture, 3 damaged input
//! (everything readable was analyzed and reported).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use connscope::analysis::NoOutput;
use connscope::capture::{CaptureError, Files, Progress};
use connscope::cli::{AnalyzeArgs, Cli, Command, Format};
use connscope::engine;
use connscope::report::{json, text};

const EXIT_IO: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_DAMAGED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze(&args),
    }
}

fn is_broken_pipe(e: &io::Error) -> bool {
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
        let mut lines = json::JsonLines::new(stdout());
        engine::run(
            &mut source,
            &opts.settings,
            &mut lines,
            None,
            &mut on_progress,
        )
        .map(|o| {
            let r = match o.write_error {
                Some(e) => Err(e),
                None => lines.finish(&o.report),
            };
            (o.damage, r)
        })
    } else {
        let mut none = NoOutput;
        engine::run(
            &mut source,
            &opts.settings,
            &mut none,
            None,
            &mut on_progress,
        )
        .map(|o| {
            let mut w = stdout();
            let r = if args.format == Format::Json {
                json::document(&mut w, &o.report)
            } else {
                let style = text::Style {
                    color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                };
                w.write_all(text::render(&o.report, &style).as_bytes())
                    .and_then(|_| w.flush())
            };
            (o.damage, r)
        })
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Err(e) => {
            eprintln!("connscope: {e}");
            ExitCode::from(match e {
                CaptureError::Io { .. } => EXIT_IO,
                _ => EXIT_USAGE,
            })
        }
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
