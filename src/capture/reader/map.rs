//! A capture file mapped into memory and shared with the threads that read frames from it,
//! and the prefetch hint the reader gives for what it will read next.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A capture file mapped into memory, which other threads may read frames from where they lie
/// (see [`Source::share`]) instead of being handed copies.
///
/// The reader hands parsed pages back to the kernel as it goes, so that resident memory stays
/// bounded however long the file is. Once shared, it hands back only pages that every reader
/// has declared done with ([`SharedMap::done`]). Handing back a page early would cost memory
/// and time but not correctness: the map is a read-only private file mapping, so a page that
/// is touched again is read from the file again.
#[derive(Clone)]
pub struct SharedMap(Arc<Mapped>);

struct Mapped {
    map: memmap2::Mmap,
    /// Per reader: it needs no byte before this offset any more.
    done: Box<[AtomicUsize]>,
}

impl SharedMap {
    pub(super) fn new(map: memmap2::Mmap) -> SharedMap {
        SharedMap(Arc::new(Mapped {
            map,
            done: Box::new([]),
        }))
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.0.map
    }

    /// Where `part`, a slice of [`SharedMap::bytes`], starts in the file.
    pub fn offset_of(&self, part: &[u8]) -> Option<usize> {
        let base = self.0.map.as_ptr() as usize;
        let at = (part.as_ptr() as usize).checked_sub(base)?;
        (at + part.len() <= self.0.map.len()).then_some(at)
    }

    /// Reader `reader` (below the count given to [`Source::share`]) needs nothing before
    /// `offset` any more.
    pub fn done(&self, reader: usize, offset: usize) {
        if let Some(d) = self.0.done.get(reader) {
            d.fetch_max(offset, Ordering::Release);
        }
    }

    /// The same map, in the same file, as `other`.
    pub fn same(&self, other: &SharedMap) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Makes room for `readers` readers to say how far they are; false if the map is shared
    /// already (only its source may do this, before handing out clones).
    pub(super) fn share(&mut self, readers: usize) -> bool {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => {
                inner.done = (0..readers).map(|_| AtomicUsize::new(0)).collect();
                true
            }
            None => false,
        }
    }

    /// Hands `len` bytes of pages from `offset` back to the kernel: they are read from the
    /// file again if touched.
    ///
    /// # Safety
    /// Nothing may borrow those pages' bytes: the calling thread holds no slice of them, and
    /// every reader has said it is done with them ([`SharedMap::all_done`]).
    pub(super) unsafe fn release(&self, offset: usize, len: usize) {
        // SAFETY: the caller's promise, and the map is a read-only private file mapping, so a
        // page dropped early would only be read again, with the same bytes.
        let _ = unsafe {
            self.0
                .map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
        };
    }

    /// The offset before which every reader is done (the whole file if it was never shared).
    pub(super) fn all_done(&self) -> usize {
        self.0
            .done
            .iter()
            .map(|d| d.load(Ordering::Acquire))
            .min()
            .unwrap_or(usize::MAX)
    }
}

/// Hints that the first `lines` cache lines (64 bytes) of `bytes` will be read soon. Never
/// faults, whatever the address; a no-op off x86-64.
#[inline(always)]
pub(super) fn prefetch(bytes: &[u8], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = bytes.as_ptr().cast::<i8>();
        for line in 0..lines.min(bytes.len().div_ceil(64)) {
            // SAFETY: SSE is part of the x86-64 baseline, and a prefetch is only a hint: it
            // never faults and never reads into the program, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, lines);
}
