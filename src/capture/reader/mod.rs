//! Streaming reader of pcap and pcapng files.
//!
//! The input is read in large chunks into one reusable buffer; frames are slices of that
//! buffer. A record that straddles the end of the buffered data is completed by moving the
//! unread tail to the front and reading more; the buffer grows only for a record larger than
//! itself, and never beyond [`MAX_RECORD`]. Nothing is allocated per packet. Regular files of
//! a useful size are mapped into memory instead (map.rs). The file header and pcap's records
//! are in pcap.rs, pcapng's blocks and interfaces in pcapng.rs.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{CaptureError, Damage, LinkType};
use crate::time::Timestamp;

mod map;
mod pcap;
mod pcapng;

use map::prefetch;
pub use map::SharedMap;
use pcapng::Iface;

/// Regular files at least this large are memory-mapped instead of read.
const MAP_MIN: u64 = 1 << 20;

/// Default size of one read from the input.
pub const DEFAULT_CHUNK: usize = 2 << 20;

/// Largest record (pcap packet or pcapng block) the reader accepts; a length field above this
/// is treated as damage rather than as a reason to allocate.
pub const MAX_RECORD: usize = 256 << 20;

/// libpcap's MAXIMUM_SNAPLEN: a pcap record's captured length may exceed the header's snaplen
/// up to this much without being called damage (libpcap and Wireshark accept such files, and
/// some writers store a snaplen of 0 or a too-small one).
const PCAP_TOLERATED_CAPLEN: u32 = 262_144;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAP_MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

const BT_IDB: u32 = 1;
const BT_PB: u32 = 2;
const BT_SPB: u32 = 3;
const BT_EPB: u32 = 6;

/// Which file format the source is reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic pcap with microsecond timestamps.
    Pcap,
    /// Classic pcap with nanosecond timestamps (magic 0xa1b23c4d).
    PcapNanos,
    /// Alexey Kuznetzov's modified pcap (magic 0xa1b2cd34, 24-byte record headers).
    PcapModified,
    Pcapng,
}

/// The bytes being parsed: a reusable buffer that `read` fills, or a whole regular file mapped
/// into memory (no copy at all; the kernel's copy into a read buffer was 17% of the wall time
/// on the bench capture).
enum Buf {
    Owned(Vec<u8>),
    Mapped(SharedMap),
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Buf::Owned(v) => v,
            Buf::Mapped(m) => m.bytes(),
        }
    }
}

impl Buf {
    /// The growable buffer. A mapped file is never refilled (it is all there from the start),
    /// so this copy never happens in practice; it keeps the type honest without a panic.
    fn owned(&mut self) -> &mut Vec<u8> {
        if let Buf::Mapped(m) = self {
            *self = Buf::Owned(m.bytes().to_vec());
        }
        match self {
            Buf::Owned(v) => v,
            Buf::Mapped(_) => unreachable!("converted above"),
        }
    }
}

enum Input {
    /// A regular file: its size is known and damage can be measured by seeking.
    File(File),
    /// Standard input, a pipe, or anything else that can only be read forward.
    Stream(Box<dyn Read + Send>),
}

impl Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::Stream(r) => r.read(buf),
        }
    }
}

enum Format {
    Pcap {
        big: bool,
        nanos: bool,
        rec_hdr: usize,
        snaplen: u32,
        link: LinkType,
    },
    Pcapng {
        big: bool,
        ifaces: Vec<Iface>,
    },
}

/// Where the current frame lies in the buffer and what it is.
/// Where the next frame lies in the source's buffer, without borrowing it: a caller that
/// loops (over filtered frames, over files) asks for this, then for [`Source::frame`].
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    start: usize,
    len: usize,
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
}

/// A pcap or pcapng capture being read, from a file or standard input.
pub struct Source {
    path: PathBuf,
    input: Input,
    total_len: Option<u64>,
    buf: Buf,
    /// With a mapped file: pages before this offset were handed back (see `release_read`).
    released: usize,
    /// Index in `buf` of the first unconsumed byte.
    start: usize,
    /// Index in `buf` one past the last valid byte.
    end: usize,
    /// Input offset of `buf[0]`.
    base: u64,
    /// The input reported end of file.
    eof: bool,
    /// Read size (and initial buffer size).
    chunk: usize,
    format: Format,
    file_format: FileFormat,
    done: bool,
    damage: Option<Damage>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("format", &self.file_format)
            .field("position", &self.position())
            .field("total_len", &self.total_len)
            .field("damage", &self.damage)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Opens a pcap or pcapng file; the path `-` means standard input (streamed).
    pub fn open(path: &Path) -> Result<Source, CaptureError> {
        Self::open_with_chunk(path, DEFAULT_CHUNK)
    }

    /// [`Source::open`] with a chosen read size.
    pub fn open_with_chunk(path: &Path, chunk: usize) -> Result<Source, CaptureError> {
        if path.as_os_str() == "-" {
            return Self::start(
                Input::Stream(Box::new(io::stdin())),
                path.to_path_buf(),
                None,
                chunk,
            );
        }
        let io_err = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_file() {
            let len = meta.len();
            // Map files of a useful size, unless the caller asked for a particular read size
            // (tests exercising record boundaries). SAFETY: the map is read-only; if another
            // process truncates the file while it is mapped, reading the lost pages raises
            // SIGBUS, the risk every mmap reader (ripgrep, tcpdump -r on BSDs) takes.
            let map = if chunk == DEFAULT_CHUNK && len >= MAP_MIN && len <= usize::MAX as u64 {
                unsafe { memmap2::Mmap::map(&file) }.ok()
            } else {
                None
            };
            let mut src = Self::start_lazy(Input::File(file), path.to_path_buf(), Some(len), chunk);
            if let Some(map) = map {
                let _ = map.advise(memmap2::Advice::Sequential);
                src.end = map.len();
                src.eof = true;
                src.buf = Buf::Mapped(SharedMap::new(map));
            }
            src.read_file_header()?;
            Ok(src)
        } else {
            // A FIFO, character device or /dev/fd/N from process substitution: stream it.
            Self::start(
                Input::Stream(Box::new(file)),
                path.to_path_buf(),
                None,
                chunk,
            )
        }
    }

    /// Reads a capture from any byte stream; `name` is used in messages. The total length is
    /// unknown and damage is measured by reading to the end.
    pub fn from_reader<R: Read + Send + 'static>(
        reader: R,
        name: impl Into<PathBuf>,
    ) -> Result<Source, CaptureError> {
        Self::from_reader_with_chunk(reader, name, DEFAULT_CHUNK)
    }

    /// [`Source::from_reader`] with a chosen read size (tests use tiny ones).
    pub fn from_reader_with_chunk<R: Read + Send + 'static>(
        reader: R,
        name: impl Into<PathBuf>,
        chunk: usize,
    ) -> Result<Source, CaptureError> {
        Self::start(Input::Stream(Box::new(reader)), name.into(), None, chunk)
    }

    fn start(
        input: Input,
        path: PathBuf,
        total_len: Option<u64>,
        chunk: usize,
    ) -> Result<Source, CaptureError> {
        let mut src = Self::start_lazy(input, path, total_len, chunk);
        src.read_file_header()?;
        Ok(src)
    }

    /// A source that has not read its file header yet.
    fn start_lazy(input: Input, path: PathBuf, total_len: Option<u64>, chunk: usize) -> Source {
        let chunk = chunk.clamp(1, MAX_RECORD);
        Source {
            released: 0,
            path,
            input,
            total_len,
            buf: Buf::Owned(vec![0; chunk]),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            chunk,
            format: Format::Pcap {
                big: false,
                nanos: false,
                rec_hdr: 16,
                snaplen: 0,
                link: LinkType::ETHERNET,
            },
            file_format: FileFormat::Pcap,
            done: false,
            damage: None,
        }
    }

    /// Next frame, borrowing the internal buffer until the next call. `Ok(None)` at the end
    /// of the input, and also when reading stopped because of damage (see [`Source::damage`]).
    pub fn next_frame(&mut self) -> Result<Option<super::Frame<'_>>, CaptureError> {
        Ok(self.next_meta()?.map(|m| self.frame(&m)))
    }

    /// The frame at `m`, as the last [`Source::next_meta`] returned it.
    #[inline]
    pub fn frame(&self, m: &Meta) -> super::Frame<'_> {
        super::Frame {
            ts: m.ts,
            link: m.link,
            data: &self.buf[m.start..m.start + m.len],
            orig_len: m.orig_len,
        }
    }

    /// Reads the next frame's record and says where it lies; its bytes stay valid until the
    /// next call.
    pub fn next_meta(&mut self) -> Result<Option<Meta>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        self.release_read();
        let next = if matches!(self.format, Format::Pcap { .. }) {
            self.next_pcap()
        } else {
            self.next_pcapng()
        };
        match next {
            Ok(Some(m)) => {
                if let Buf::Mapped(_) = self.buf {
                    // The next record is a cache miss otherwise (nothing has read it yet): ask
                    // for its header and the frame's first bytes while this frame is decoded.
                    // A pcapng block also ends with its length, which is checked before the
                    // block is used: ask for a full-sized Ethernet block's lines too.
                    let lines = if matches!(self.format, Format::Pcap { .. }) {
                        2
                    } else {
                        24
                    };
                    prefetch(&self.buf[self.start..self.end], lines);
                }
                Ok(Some(m))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// The mapped file, to be read by `readers` other threads as well, each of which says what
    /// it is done with ([`SharedMap::done`]); pages are handed back only behind all of them.
    /// `None` if the input is not mapped (standard input, a pipe, a small file): frames must
    /// then be copied before the next call to [`Source::next_frame`].
    pub fn share(&mut self, readers: usize) -> Option<SharedMap> {
        let Buf::Mapped(m) = &mut self.buf else {
            return None;
        };
        m.share(readers).then(|| m.clone())
    }

    /// Set when reading stopped early because of damage.
    pub fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Size of the input if known (a regular file), for a progress bar.
    pub fn total_len(&self) -> Option<u64> {
        self.total_len
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> FileFormat {
        self.file_format
    }

    // ----- buffer management -----

    /// Number of unconsumed bytes buffered.
    #[inline]
    /// Hands the pages of a mapped file that were already parsed back to the page cache, so
    /// resident memory stays bounded however long the file is: mapped pages count as the
    /// process's own once touched.
    fn release_read(&mut self) {
        const STEP: usize = 2 << 20;
        const PAGE: usize = 4096;
        if let Buf::Mapped(map) = &self.buf {
            let upto = self.start & !(PAGE - 1);
            if upto >= self.released + STEP {
                // Behind every thread it was shared with, too.
                let upto = upto.min(map.all_done() & !(PAGE - 1));
                if upto < self.released + STEP {
                    return;
                }
                // SAFETY: the map is a read-only private file mapping; dropping its pages only
                // means they are read from the file again if touched, with the same bytes. In
                // this thread nothing borrows them: frames live until the next call, and
                // `&mut self` proves the last one is gone; other threads said they are done
                // with them.
                unsafe { map.release(self.released, upto - self.released) };
                self.released = upto;
            }
        }
    }

    fn avail(&self) -> usize {
        self.end - self.start
    }

    /// Makes at least `need` bytes available from `start` unless the input ends first;
    /// returns how many are available. `need` must not exceed `MAX_RECORD` (callers check).
    fn fill(&mut self, need: usize) -> Result<usize, CaptureError> {
        if self.avail() >= need || self.eof {
            return Ok(self.avail());
        }
        if self.start == self.end {
            self.base += self.start as u64;
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.start < need {
            // The record does not fit in the rest of the buffer: move the unread tail to
            // the front.
            let (start, end) = (self.start, self.end);
            self.buf.owned().copy_within(start..end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.avail() < need {
            if self.end == self.buf.len() {
                // A record larger than the buffer. Grow by doubling as its bytes actually
                // arrive, so a bogus length in a short input costs at most twice the input.
                let new_len = self.buf.len().saturating_mul(2).max(self.chunk).min(need);
                self.buf.owned().resize(new_len, 0);
            }
            let end = self.end;
            // Read as much as fits, but never wait for more than this record needs: a live
            // pipe returns what it has.
            match self.input.read(&mut self.buf.owned()[end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n.min(self.buf.len() - end),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CaptureError::Io {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(self.avail())
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.avail());
        self.start += n;
    }

    /// Stops reading because of damage at input offset `offset` (at or after the consumed
    /// position), measuring how much of the input is left unread.
    fn set_damage(&mut self, offset: u64, what: String) {
        let read_so_far = self.base + self.end as u64;
        let rest: u64 = if self.eof {
            0
        } else {
            match &mut self.input {
                Input::File(f) => match (f.stream_position(), f.seek(SeekFrom::End(0))) {
                    (Ok(pos), Ok(end)) => end.saturating_sub(pos),
                    _ => self.total_len.map_or(0, |t| t.saturating_sub(read_so_far)),
                },
                Input::Stream(r) => {
                    // Count what is left by reading it (into the buffer's spare room).
                    let mut n = 0u64;
                    let from = self.end;
                    let scratch = &mut self.buf.owned()[from..];
                    let mut small = [0u8; 4096];
                    let scratch: &mut [u8] = if scratch.len() >= 4096 {
                        scratch
                    } else {
                        &mut small
                    };
                    loop {
                        match r.read(scratch) {
                            Ok(0) => break,
                            Ok(k) => n += k as u64,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                    n
                }
            }
        };
        self.eof = true;
        self.damage = Some(Damage {
            path: self.path.clone(),
            offset,
            bytes_skipped: read_so_far.saturating_sub(offset) + rest,
            what,
        });
    }

    fn not_a_capture(&self) -> CaptureError {
        let head = &self.buf[self.start..self.end.min(self.start + 8)];
        let mut magic = head
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        if magic.is_empty() {
            magic.push_str("(none)");
        }
        let hint = match head {
            [0x1f, 0x8b, ..] => Some("gzip-compressed; decompress it first"),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some("zstd-compressed; decompress it first"),
            [b'B', b'Z', b'h', ..] => Some("bzip2-compressed; decompress it first"),
            [0xfd, b'7', b'z', b'X', b'Z', ..] => Some("xz-compressed; decompress it first"),
            [b'P', b'K', 3, 4, ..] => Some("a zip archive"),
            _ if head
                .iter()
                .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
            {
                Some("looks like text")
            }
            _ => None,
        };
        if let Some(h) = hint {
            magic = format!("{magic} ({h})");
        }
        CaptureError::NotACapture {
            path: self.path.clone(),
            magic,
        }
    }

    fn bad_header(&self, what: impl Into<String>) -> CaptureError {
        CaptureError::BadHeader {
            path: self.path.clone(),
            what: what.into(),
        }
    }
}

#[inline]
fn rd16(b: &[u8], big: bool) -> u16 {
    let a = [b[0], b[1]];
    if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

#[inline]
fn rd32(b: &[u8], big: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

#[inline]
fn rd64(b: &[u8], big: bool) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    if big {
        u64::from_be_bytes(a)
    } else {
        u64::from_le_bytes(a)
    }
}
