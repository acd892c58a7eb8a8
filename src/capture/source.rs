//! One interface for every input: files, standard input and live interfaces yield frames, or
//! idle ticks when nothing arrived for a while, so that time moves on a quiet link.

use super::{CaptureError, Damage, Frame, SharedMap};
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
