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
use connscope::capture::CaptureError;
use connscope::cli::{AnalyzeArgs, Cli, Command, Format};
use connscope::pipeline::{self, Progress};
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

/// JSON Lines: every worker streams its lines through a channel to one writer thread; the
/// server and summary lines follow once all workers are done.
fn jsonl(
    opts: &pipeline::Options,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<connscope::capture::Damage>, io::Result<()>), CaptureError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    let writer = std::thread::spawn(move || {
        json::drain_to(
            rx,
            io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        )
    });
    let outcome = pipeline::run(
        opts,
        |_| json::JsonLines::new(json::ChannelWriter::new(tx.clone())),
        on_progress,
    );
    let result = outcome.map(|mut o| {
        let mut r = match o.write_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        };
        for out in &mut o.outputs {
            if r.is_ok() {
                r = out.flush();
            }
        }
        if r.is_ok() {
            let mut last = json::JsonLines::new(json::ChannelWriter::new(tx.clone()));
            r = last.finish(&o.report);
        }
        (o.damage, r)
    });
    drop(tx);
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
    result.map(|(damage, r)| (damage, r.and(written)))
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
    let mut on_progress = |p: Progress| {
        if let Some(bar) = &bar {
            if let Some(t) = p.total {
                bar.set_length(t);
            }
            bar.set_position(p.position);
            bar.set_message(format!(
                "{} packets (file {}/{})",
                p.packets,
                p.file_index + 1,
                p.files
            ));
        }
    };
    let result = match args.format {
        Format::Jsonl => jsonl(&opts, &mut on_progress),
        Format::Json | Format::Text => {
            pipeline::run(&opts, |_| NoOutput, &mut on_progress).map(|o| {
                let mut w = io::BufWriter::new(io::stdout().lock());
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
        }
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
