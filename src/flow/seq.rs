//! TCP sequence numbers: 32-bit values compared with wrapping arithmetic (RFC 9293 §3.4).
//! A segment is "after" another when the signed 32-bit difference is positive, so comparisons
//! work across the 2^32 wrap as long as the two are within 2^31 of each other.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// Signed distance `self - other`.
    #[inline]
    pub fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    #[inline]
    pub fn plus(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
    #[inline]
    pub fn lt(self, other: Seq) -> bool {
        self.diff(other) < 0
    }
    #[inline]
    pub fn le(self, other: Seq) -> bool {
        self.diff(other) <= 0
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        let near = Seq(u32::MAX - 10);
        let past = near.plus(20);
        assert_eq!(past.0, 9);
        assert_eq!(past.diff(near), 20);
        assert_eq!(near.diff(past), -20);
        assert!(near.lt(past));
        assert!(!past.lt(near));
        assert!(past.le(past));
    }
}
