//! The offline pipeline: files -> frames -> segments -> flow table -> analyzer -> report.
//! Several files are one capture: frame numbers and connections continue across them, in the
//! order given.

use std::path::PathBuf;

use crate::analysis::{self, Analyzer, Output, Report};
use crate::capture::{CaptureError, Damage, Filter, Source};
use crate::decode;
use crate::flow::{FlowTable, Limits};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub filter: Option<String>,
    pub analysis: analysis::Config,
    pub limits: Limits,
}

/// Where reading stands, for a progress display.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub file_index: usize,
    pub files: usize,
    /// Bytes read of the current file, and its size if known.
    pub position: u64,
    pub total: Option<u64>,
    pub packets: u64,
}

pub struct Outcome<O> {
    pub report: Report,
    pub output: O,
    /// Inputs that were damaged; what could be read was analyzed.
    pub damage: Vec<Damage>,
    /// The output failed (a closed pipe, a full disk); reading stopped there.
    pub write_error: Option<std::io::Error>,
}

/// How often (in frames) the progress callback is called.
const PROGRESS_EVERY: u64 = 1 << 16;

pub fn run<O: Output>(
    opts: &Options,
    output: O,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome<O>, CaptureError> {
    let mut filter = opts.filter.as_deref().map(Filter::new);
    let mut table = FlowTable::new(opts.limits);
    let mut an = Analyzer::new(opts.analysis, output);
    let mut damage = Vec::new();
    let mut frame_no: u64 = 0;
    'files: for (i, path) in opts.files.iter().enumerate() {
        let mut src = Source::open(path)?;
        while let Some(frame) = src.next_frame()? {
            frame_no += 1;
            if let Some(f) = filter.as_mut() {
                if !f.matches(&frame)? {
                    continue;
                }
            }
            an.frame(frame.ts, frame.orig_len);
            match decode::decode(&frame) {
                Ok(seg) => table.segment(frame_no, frame.ts, &seg, &mut an),
                Err(why) => an.skip(why),
            }
            if frame_no.is_multiple_of(PROGRESS_EVERY) {
                if an.error.is_some() {
                    break 'files;
                }
                progress(Progress {
                    file_index: i,
                    files: opts.files.len(),
                    position: src.position(),
                    total: src.total_len(),
                    packets: an.packets,
                });
            }
        }
        if let Some(d) = src.damage() {
            damage.push(d.clone());
        }
        progress(Progress {
            file_index: i,
            files: opts.files.len(),
            position: src.position(),
            total: src.total_len(),
            packets: an.packets,
        });
    }
    table.finish_all(&mut an);
    let files = opts.files.iter().map(|p| p.display().to_string()).collect();
    let report = an.report(
        files,
        damage.iter().map(|d| d.to_string()).collect(),
        &table.stats,
    );
    let write_error = an.error.take();
    Ok(Outcome {
        report,
        output: an.into_output(),
        damage,
        write_error,
    })
}
