//! One interface for every input: files, standard input and live interfaces yield frames, or
//! idle ticks when nothing arrived for a while, so that time moves on a quiet link.

use std::path::PathBuf;

use super::{CaptureError, Damage, Filter, Frame, SharedMap, Source};
use crate::time::Timestamp;

/// What a frame source yields next.
pub enum Next<'a> {
    /// A frame that passed the filter. `number` counts every frame read from the start of the
    /// input (1-based), filtered or not, so that numbers match Wireshark's. `map` is the
    /// memory-mapped file the frame lies in, when the source shares one with workers.
    Frame {
        number: u64,
        frame: Frame<'a>,
        map: Option<&'a SharedMap>,
    },
    /// Nothing arrived for a while; capture time has reached this instant. Only a live source
    /// yields ticks: it is the one place where the wall clock becomes capture time.
    Tick(Timestamp),
    /// The input ended (end of file, Ctrl-C, or the duration ran out).
    End,
}

/// Where reading stands, for a progress display.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub file_index: usize,
    pub files: usize,
    /// Bytes read of the current file, and its size if known.
    pub position: u64,
    pub total: Option<u64>,
}

/// Counters the capture mechanism keeps (libpcap's `pcap_stats` for a live interface).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub received: u64,
    pub dropped_kernel: u64,
    pub dropped_interface: u64,
}

pub trait FrameSource {
    fn next(&mut self) -> Result<Next<'_>, CaptureError>;
    fn progress(&self) -> Progress {
        Progress::default()
    }
    /// Damage found in the inputs so far (files cut short or corrupted).
    fn damage(&self) -> Vec<Damage> {
        Vec::new()
    }
    /// Live sources: libpcap's counters.
    fn capture_stats(&mut self) -> Option<CaptureStats> {
        None
    }
}

/// Capture files (or standard input, `-`) read in the order given as one capture: frame
/// numbers continue across them. A regular file is memory-mapped and, with `share_with` > 0,
/// shared with that many worker threads (see `Source::share`).
pub struct Files {
    paths: Vec<PathBuf>,
    filter: Option<Filter>,
    share_with: usize,
    /// Index of the file being read (`paths.len()` when done).
    index: usize,
    current: Option<Source>,
    map: Option<SharedMap>,
    number: u64,
    damage: Vec<Damage>,
}

impl Files {
    /// `filter`: a BPF expression, compiled for each link type met.
    pub fn new(paths: Vec<PathBuf>, filter: Option<&str>, share_with: usize) -> Files {
        Files {
            paths,
            filter: filter.map(Filter::new),
            share_with,
            index: 0,
            current: None,
            map: None,
            number: 0,
            damage: Vec::new(),
        }
    }

    /// Opens the next file; false when there is none.
    fn open_next(&mut self) -> Result<bool, CaptureError> {
        if let Some(done) = self.current.take() {
            if let Some(d) = done.damage() {
                self.damage.push(d.clone());
            }
            self.map = None;
            self.index += 1;
        }
        let Some(path) = self.paths.get(self.index) else {
            return Ok(false);
        };
        let mut src = Source::open(path)?;
        self.map = if self.share_with > 0 {
            src.share(self.share_with)
        } else {
            None
        };
        self.current = Some(src);
        Ok(true)
    }
}

impl FrameSource for Files {
    fn next(&mut self) -> Result<Next<'_>, CaptureError> {
        let meta = loop {
            let Some(src) = self.current.as_mut() else {
                if self.index >= self.paths.len() || !self.open_next()? {
                    return Ok(Next::End);
                }
                continue;
            };
            let Some(meta) = src.next_meta()? else {
                self.open_next()?;
                if self.current.is_none() {
                    return Ok(Next::End);
                }
                continue;
            };
            self.number += 1;
            let keep = match self.filter.as_mut() {
                Some(f) => f.matches(&src.frame(&meta))?,
                None => true,
            };
            if keep {
                break meta;
            }
        };
        let src = self.current.as_ref().expect("a file is open");
        Ok(Next::Frame {
            number: self.number,
            frame: src.frame(&meta),
            map: self.map.as_ref(),
        })
    }

    fn progress(&self) -> Progress {
        Progress {
            file_index: self.index.min(self.paths.len().saturating_sub(1)),
            files: self.paths.len(),
            position: self.current.as_ref().map_or(0, |s| s.position()),
            total: self.current.as_ref().and_then(|s| s.total_len()),
        }
    }

    fn damage(&self) -> Vec<Damage> {
        self.damage.clone()
    }
}
