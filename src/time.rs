//! Capture time: the one time type every layer shares. A leaf: it imports nothing.
//!
//! Everything below `capture` takes time from frames (and from the idle ticks a live source
//! yields), never from the wall clock, so replaying a file gives the same answer as watching
//! the same traffic live.

/// Capture time in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_nanos(n: i64) -> Self {
        Timestamp(n)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Signed difference `self - earlier` in milliseconds.
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        // i128: hostile files can put timestamps anywhere in the i64 range.
        (i128::from(self.0) - i128::from(earlier.0)) as f64 / 1e6
    }
    /// `self + nanos`, saturating at the ends of the range.
    pub fn plus_nanos(self, nanos: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos))
    }
}
