//! Capture input: the only module that reads capture files, touches libpcap for live capture,
//! or reads the wall clock. Every input is a [`FrameSource`] (source.rs): it yields borrowed
//! frames `(timestamp, link type, bytes)` numbered across the whole input, idle ticks (live
//! only: the wall clock turned into capture time on a quiet link), and the end. Nothing past
//! this module knows about file formats or libpcap.
//!
//! Contract (other modules rely on it):
//! - [`Files`] reads files (or standard input) in the order given as one capture, applying
//!   the BPF filter; [`LiveSource`] captures from an interface (live.rs).
//! - `Source::open(path)` opens a pcap or pcapng file, or standard input for `-`.
//! - `Source::next_frame()` returns `Ok(Some(Frame))` borrowing an internal buffer that is
//!   reused (no allocation per packet), `Ok(None)` at the end, or a `CaptureError`.
//! - Damage that leaves a readable prefix (a truncated last record, garbage appended, a bad
//!   pcapng block length) ends the stream with `Ok(None)` and is reported by `Source::damage()`
//!   with the byte offset and what was wrong, so the caller can report partial results.
//! - Errors instead: `NotACapture` (unknown magic; an empty input is an empty capture, not an
//!   error), `BadHeader` (the file header itself is cut short or inconsistent),
//!   `UnsupportedLinkType` (from `open` for pcap, from `next_frame` when a pcapng interface
//!   description with one is reached), `Io`.
//! - Timestamps: pcap seconds + micro/nanoseconds; pcapng units scaled by `if_tsresol`
//!   (power of 10 or 2) plus `if_tsoffset`, computed exactly and taken modulo 2^64 ns (exact
//!   for 1677..2262). Simple Packet Blocks carry no time and get `Timestamp(0)`.
//! - `Filter` runs libpcap BPF (`pcap_offline_filter`) on frames, compiled once per link type.

use std::fmt;
use std::path::PathBuf;

#[cfg(test)]
mod corpus_tests;
mod filter;
pub mod live;
#[cfg(test)]
mod live_tests;
mod reader;
pub mod source;
#[cfg(test)]
mod tests;

pub use filter::Filter;
pub use live::{LiveOptions, LiveSource};
pub use reader::{FileFormat, Meta, SharedMap, Source, DEFAULT_CHUNK, MAX_RECORD};
pub use source::{CaptureStats, Files, FrameSource, Next, Progress};

use crate::time::Timestamp;

/// A libpcap link-layer header type (LINKTYPE_* value as stored in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The link types the decoder understands. DLT_RAW is 12 on most systems (14 on
    /// OpenBSD); files normally store the LINKTYPE value 101, but some writers store the DLT.
    pub fn is_supported(self) -> bool {
        matches!(self.0, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NULL (BSD loopback)",
            1 => "EN10MB (Ethernet)",
            12 | 14 | 101 => "RAW (raw IP)",
            108 => "LOOP (OpenBSD loopback)",
            113 => "LINUX_SLL (Linux cooked v1)",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2 (Linux cooked v2)",
            6 => "IEEE802_5 (Token Ring)",
            9 => "PPP",
            50 => "PPP_HDLC",
            104 => "C_HDLC (Cisco HDLC)",
            105 => "IEEE802_11 (Wi-Fi)",
            129 => "ARCNET_LINUX",
            192 => "PPI (per-packet information)",
            119 => "PRISM_HEADER (802.11)",
            127 => "IEEE802_11_RADIOTAP (802.11 + radiotap)",
            139 => "MTP2_WITH_PHDR",
            143 => "DOCSIS",
            147..=162 => "USER0..USER15 (private use)",
            165 => "SCCP",
            187 => "BLUETOOTH_HCI_H4",
            189 => "USB_LINUX",
            195 => "IEEE802_15_4_WITHFCS",
            201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
            220 => "USB_LINUX_MMAPPED",
            239 => "NFLOG (Linux netfilter log)",
            249 => "USBPCAP",
            _ => "unknown",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// One captured frame, borrowing the reader's buffer until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    /// The bytes that were captured (`caplen` of them).
    pub data: &'a [u8],
    /// The frame's length on the wire; larger than `data.len()` when snaplen cut it.
    pub orig_len: u32,
}

/// What made the reader stop before the end of the file while keeping what it had read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// File (or `-` for standard input) and byte offset where the damage starts.
    pub path: PathBuf,
    pub offset: u64,
    /// Bytes from `offset` to the end of the input that could not be read as packets.
    pub bytes_skipped: u64,
    pub what: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: damaged at byte {}: {} ({} bytes not read)",
            self.path.display(),
            self.offset,
            self.what,
            self.bytes_skipped
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng file (first bytes {magic})")]
    NotACapture { path: PathBuf, magic: String },
    #[error("{path}: unsupported link type {link}; connscope reads Ethernet (with VLAN tags), Linux cooked SLL/SLL2, BSD NULL/LOOP and raw IPv4/IPv6")]
    UnsupportedLinkType { path: PathBuf, link: LinkType },
    #[error("{path}: damaged file header: {what}")]
    BadHeader { path: PathBuf, what: String },
    #[error("bad filter {expr:?}: {msg}")]
    Filter { expr: String, msg: String },
    /// Live capture: the process may not open the interface.
    #[error("{interface}: no permission to capture ({message}); run as root, or grant the capability: sudo setcap cap_net_raw,cap_net_admin=eip $(command -v connscope)")]
    Permission { interface: String, message: String },
    /// Live capture: libpcap knows no interface of that name.
    #[error("{interface}: no such interface; available: {}", if .available.is_empty() { "none found".to_string() } else { .available.join(", ") })]
    NoSuchInterface {
        interface: String,
        available: Vec<String>,
    },
    /// Live capture: any other libpcap failure (opening, reading, statistics).
    #[error("{interface}: live capture failed: {message}")]
    Live { interface: String, message: String },
}
