//! Frame decoding: link layer -> IPv4/IPv6 -> TCP, into a [`Segment`] that borrows the frame,
//! through any encapsulation connscope knows, to the innermost TCP segment.
//!
//! Link layers, and what rides on them (VLAN tags, MPLS, PPPoE), are stripped by hand in
//! `link` (they are a few fixed offsets); tunnels carried by IP (IP-in-IP, GRE with ERSPAN,
//! VXLAN, GTP-U, Geneve) in `tunnel`. IP and TCP are sliced with etherparse's lax slicers,
//! which bound the IP payload by the IP length field (never by the frame length, so Ethernet
//! padding never becomes payload) and tell us when snaplen cut the packet short. Every tunnel
//! leads back to an IP header, so decoding is a loop from one IP header to the next, bounded
//! by [`MAX_IP_HEADERS`]. Only the innermost IP and TCP headers become the segment (addresses,
//! checksums, the length that tells snaplen loss apart). Nothing here allocates; a frame that
//! is not TCP, or that is broken, yields a [`Skip`] that the caller counts by kind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, LaxIpSlice, TcpSlice};

use crate::capture::{Frame, LinkType};

mod link;
mod tunnel;

/// One endpoint of a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    /// `ip:port`, or `[v6]:port` for IPv6, as the report schema promises.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(a) => write!(f, "{}:{}", a, self.port),
            IpAddr::V6(a) => write!(f, "[{}]:{}", a, self.port),
        }
    }
}

pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A TCP segment, borrowing its payload from the frame.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// The captured part of the TCP payload.
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture cut off (snaplen).
    pub payload_missing: u32,
    /// The TCP header with its options, to verify the checksum (empty: not verifiable).
    pub tcp_header: &'a [u8],
    /// The IPv4 header checksum is wrong (never set for IPv6, which has none).
    pub bad_ip_checksum: bool,
}

impl Segment<'_> {
    #[inline]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
    /// Sequence space the segment occupies: payload on the wire plus SYN and FIN.
    pub fn wire_len(&self) -> u32 {
        self.payload.len() as u32 + self.payload_missing
    }

    /// Whether the TCP checksum is right; `None` when it cannot be told (the capture cut the
    /// segment short, or the header is not at hand). Costs a pass over the payload, so it is
    /// for the flow workers, not the thread that reads the capture.
    pub fn tcp_checksum_ok(&self) -> Option<bool> {
        if self.payload_missing > 0 || self.tcp_header.len() < 20 {
            return None;
        }
        let len = self.tcp_header.len() + self.payload.len();
        let len = u16::try_from(len).ok()?;
        let mut sum = 0u64;
        // The pseudo-header: addresses, protocol and TCP length (RFC 9293 section 3.1).
        match (self.src.ip, self.dst.ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                sum = ones_sum(&a.octets(), sum);
                sum = ones_sum(&b.octets(), sum);
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                sum = ones_sum(&a.octets(), sum);
                sum = ones_sum(&b.octets(), sum);
            }
            _ => return None,
        }
        let [hi, lo] = len.to_be_bytes();
        sum = ones_sum(&[0, 6, hi, lo], sum);
        // The header's length is a multiple of 4, so the payload's words line up.
        sum = ones_sum(self.tcp_header, sum);
        sum = ones_sum(self.payload, sum);
        Some(fold(sum) == 0xffff)
    }
}

/// Adds `bytes` to a one's complement sum (RFC 1071) kept in native byte order, 32 bits at a
/// time into 64 (no carry is lost below 2^32 words); `fold` finishes it. An odd tail is padded
/// with zeros. Words start at even offsets of `bytes`, so sums of consecutive pieces of even
/// length add up.
#[inline]
fn ones_sum(bytes: &[u8], mut acc: u64) -> u64 {
    let mut words = bytes.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    // Spelled out: a copy of a variable-length tail is a call to memcpy (1.4% of the time).
    let tail = match *words.remainder() {
        [a] => [a, 0, 0, 0],
        [a, b] => [a, b, 0, 0],
        [a, b, c] => [a, b, c, 0],
        _ => return acc,
    };
    acc + u64::from(u32::from_ne_bytes(tail))
}

/// The 16-bit one's complement sum, in network byte order, of what `ones_sum` added up.
#[inline]
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // A byte-swapped sum is the sum of the byte-swapped words (RFC 1071 section 2(B)).
    u16::from_be(acc as u16)
}

/// Why a frame did not yield a TCP segment. Each kind is counted in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not IP (ARP, LLDP, ...), or IP carrying something other than TCP.
    NotTcp,
    /// IP fragment: connscope does not reassemble IP fragments. A fragmented tunnel packet
    /// (GRE, IP-in-IP, or the first fragment of a VXLAN, GTP-U or Geneve datagram) counts too.
    Fragment,
    /// The frame ends before the IP or TCP header does (snaplen, or a cut-off record).
    Truncated,
    /// Header fields that contradict each other (IP header length < 20, TCP data offset < 5,
    /// unknown IP version, ...).
    Malformed,
}

/// The encapsulations a segment came out of: a set, since tunnels nest (GRE inside Geneve,
/// IP-in-IP inside MPLS...). Empty for a plain frame; VLAN tags do not count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Via(u8);

impl Via {
    pub const NONE: Via = Via(0);
    /// An MPLS label stack (ethertype 0x8847 or 0x8848).
    pub const MPLS: Via = Via(1);
    /// A PPPoE session (ethertype 0x8864).
    pub const PPPOE: Via = Via(1 << 1);
    /// GRE (IP protocol 47), ERSPAN included.
    pub const GRE: Via = Via(1 << 2);
    /// ERSPAN type I, II or III, inside GRE.
    pub const ERSPAN: Via = Via(1 << 3);
    /// IPv4 or IPv6 straight inside IPv4 or IPv6 (IP protocols 4 and 41).
    pub const IP_IN_IP: Via = Via(1 << 4);
    /// VXLAN (UDP port 4789).
    pub const VXLAN: Via = Via(1 << 5);
    /// GTP-U (UDP port 2152).
    pub const GTP_U: Via = Via(1 << 6);
    /// Geneve (UDP port 6081).
    pub const GENEVE: Via = Via(1 << 7);

    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    #[inline]
    pub fn contains(self, other: Via) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOrAssign for Via {
    #[inline]
    fn bitor_assign(&mut self, other: Via) {
        self.0 |= other.0;
    }
}

/// More IP headers than this in one frame (each tunnel adds one) is not a real network; such
/// a frame is counted as malformed. It bounds the work a hostile frame can ask for.
pub const MAX_IP_HEADERS: usize = 8;

/// Decodes one frame down to its innermost TCP segment; says which encapsulations it came out
/// of ([`Via::NONE`] for plain frames).
pub fn decode<'a>(frame: &Frame<'a>) -> Result<(Segment<'a>, Via), Skip> {
    decode_bytes(frame.link, frame.data)
}

/// [`decode`] over a frame's bytes. The common path (TCP in the first IP header) is straight
/// code; a tunnel sends the frame to [`tunnelled`].
pub fn decode_bytes(link: LinkType, data: &[u8]) -> Result<(Segment<'_>, Via), Skip> {
    let mut via = Via::NONE;
    let ip = link::ip_packet(link, data, &mut via)?;
    // Borrowed where etherparse put it: moving the slice out of the Result costs a stalled
    // copy on every frame (perf showed it).
    let sliced = LaxIpSlice::from_slice(ip);
    let slice = match &sliced {
        Ok((slice, _ext_err)) => slice,
        Err(e) => return Err(ip_error(e)),
    };
    let payload = slice.payload();
    if payload.ip_number == IpNumber::TCP {
        if payload.fragmented {
            return Err(Skip::Fragment);
        }
        return tcp_segment(ip, slice).map(|seg| (seg, via));
    }
    tunnelled(slice, via)
}

/// The rest of [`decode_bytes`] when the first IP header does not carry TCP: a loop from one
/// IP header to the next, through one tunnel each time round, so the nesting is bounded by
/// [`MAX_IP_HEADERS`] and nothing recurses.
#[cold]
#[inline(never)]
fn tunnelled<'a>(outer: &LaxIpSlice<'a>, mut via: Via) -> Result<(Segment<'a>, Via), Skip> {
    let mut ip = tunnel::inner_ip(outer, &mut via)?;
    for _ in 1..MAX_IP_HEADERS {
        let (slice, _ext_err) = LaxIpSlice::from_slice(ip).map_err(|e| ip_error(&e))?;
        let payload = slice.payload();
        if payload.ip_number == IpNumber::TCP {
            if payload.fragmented {
                return Err(Skip::Fragment);
            }
            return tcp_segment(ip, &slice).map(|seg| (seg, via));
        }
        ip = tunnel::inner_ip(&slice, &mut via)?;
    }
    Err(Skip::Malformed)
}

fn ip_error(e: &etherparse::err::ip::LaxHeaderSliceError) -> Skip {
    use etherparse::err::ip::LaxHeaderSliceError as E;
    match e {
        E::Len(_) => Skip::Truncated,
        E::Content(_) => Skip::Malformed,
    }
}

/// The TCP segment in the IP packet `ip`, which `slice` has sliced.
#[inline(always)]
fn tcp_segment<'a>(ip: &'a [u8], slice: &LaxIpSlice<'a>) -> Result<Segment<'a>, Skip> {
    let payload = slice.payload();
    // What the IP header says the TCP segment's length is, to tell snaplen loss apart.
    let tcp_at = payload.payload.as_ptr() as usize - ip.as_ptr() as usize;
    let mut bad_ip_checksum = false;
    let (src, dst, declared_tcp_len) = match slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            // 20 to 60 bytes: cheap enough for the reading thread.
            bad_ip_checksum = fold(ones_sum(h.slice(), 0)) != 0xffff;
            let total = usize::from(h.total_len());
            // total_len 0 appears on TSO captures: trust what was captured.
            let declared = if total == 0 {
                None
            } else {
                total.checked_sub(tcp_at)
            };
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                declared,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let plen = usize::from(h.payload_length());
            // Jumbograms (payload length 0) carry their length in an option: trust the capture.
            let declared = if plen == 0 {
                None
            } else {
                (plen + 40).checked_sub(tcp_at)
            };
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                declared,
            )
        }
    };
    let tcp = TcpSlice::from_slice(payload.payload).map_err(|e| {
        use etherparse::err::tcp::HeaderSliceError as E;
        match e {
            E::Len(_) => Skip::Truncated,
            E::Content(_) => Skip::Malformed,
        }
    })?;
    let data = tcp.payload();
    let header_len = tcp.header_slice().len();
    let payload_missing = match declared_tcp_len {
        Some(d) if payload.incomplete => d.saturating_sub(header_len).saturating_sub(data.len()),
        _ => 0,
    };
    let b = tcp.slice();
    Ok(Segment {
        src: Endpoint {
            ip: src,
            port: tcp.source_port(),
        },
        dst: Endpoint {
            ip: dst,
            port: tcp.destination_port(),
        },
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: b[13] & 0x3f,
        window: tcp.window_size(),
        payload: data,
        payload_missing: u32::try_from(payload_missing).unwrap_or(u32::MAX),
        tcp_header: tcp.header_slice(),
        bad_ip_checksum,
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tunnel_tests;
