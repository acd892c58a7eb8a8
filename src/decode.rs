//! Frame decoding: link layer -> IPv4/IPv6 -> TCP, into a [`Segment`] that borrows the frame.
//!
//! Link layers are stripped by hand (they are a few fixed offsets); IP and TCP are sliced with
//! etherparse's lax slicers, which bound the IP payload by the IP length field (never by the
//! frame length, so Ethernet padding never becomes payload) and tell us when snaplen cut the
//! packet short. Nothing here allocates; a frame that is not TCP, or that is broken, yields a
//! [`Skip`] that the caller counts by kind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, LaxIpSlice, TcpSlice};

use crate::capture::{Frame, LinkType};

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
    /// IP fragment: connscope does not reassemble IP fragments.
    Fragment,
    /// The frame ends before the IP or TCP header does (snaplen, or a cut-off record).
    Truncated,
    /// Header fields that contradict each other (IP header length < 20, TCP data offset < 5,
    /// unknown IP version, ...).
    Malformed,
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
/// More stacked VLAN tags than this is not a real network.
const MAX_VLAN_TAGS: usize = 8;

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Strips VLAN tags starting at an ethertype at `at`; returns (ethertype, offset of payload).
fn skip_vlans(data: &[u8], mut at: usize) -> Result<(u16, usize), Skip> {
    for _ in 0..=MAX_VLAN_TAGS {
        let ethertype = be16(data, at).ok_or(Skip::Truncated)?;
        match ethertype {
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => at += 4,
            _ => return Ok((ethertype, at + 2)),
        }
    }
    Err(Skip::Malformed)
}

/// Returns the IP packet inside a frame of the given link type.
fn ip_payload_of(link: LinkType, data: &[u8]) -> Result<&[u8], Skip> {
    let (ethertype, at) = match link.0 {
        // Ethernet: dst, src, then ethertype (possibly VLAN tags).
        1 => skip_vlans(data, 12)?,
        // BSD NULL: a 4-byte address family in the capturing host's byte order.
        0 => {
            let fam = data.get(..4).ok_or(Skip::Truncated)?;
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let fam = if le <= 0xffff { le } else { be };
            (family_to_ethertype(fam)?, 4)
        }
        // OpenBSD LOOP: the same family field, always in network byte order.
        108 => {
            let fam = data.get(..4).ok_or(Skip::Truncated)?;
            let fam = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            (family_to_ethertype(fam)?, 4)
        }
        // Linux cooked v1: 16-byte header, protocol at 14.
        113 => skip_vlans(data, 14)?,
        // Linux cooked v2: 20-byte header, protocol at 0.
        276 => {
            if data.len() < 20 {
                return Err(Skip::Truncated);
            }
            let proto = be16(data, 0).ok_or(Skip::Truncated)?;
            match proto {
                ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => skip_vlans(data, 22)?,
                p => (p, 20),
            }
        }
        // Raw IP: the version nibble says which.
        12 | 14 | 101 | 228 | 229 => {
            let v = data.first().ok_or(Skip::Truncated)? >> 4;
            match v {
                4 => (ETH_IPV4, 0),
                6 => (ETH_IPV6, 0),
                _ => return Err(Skip::Malformed),
            }
        }
        _ => return Err(Skip::NotTcp),
    };
    match ethertype {
        ETH_IPV4 | ETH_IPV6 => data.get(at..).ok_or(Skip::Truncated),
        _ => Err(Skip::NotTcp),
    }
}

fn family_to_ethertype(fam: u32) -> Result<u16, Skip> {
    match fam {
        2 => Ok(ETH_IPV4),
        // AF_INET6 differs by OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30.
        10 | 24 | 28 | 30 => Ok(ETH_IPV6),
        _ => Err(Skip::NotTcp),
    }
}

/// Decodes one frame down to its TCP segment.
pub fn decode<'a>(frame: &Frame<'a>) -> Result<Segment<'a>, Skip> {
    decode_bytes(frame.link, frame.data)
}

pub fn decode_bytes(link: LinkType, data: &[u8]) -> Result<Segment<'_>, Skip> {
    let ip = ip_payload_of(link, data)?;
    let (slice, _ext_err) = LaxIpSlice::from_slice(ip).map_err(|e| {
        use etherparse::err::ip::LaxHeaderSliceError as E;
        match e {
            E::Len(_) => Skip::Truncated,
            E::Content(_) => Skip::Malformed,
        }
    })?;
    let payload = slice.payload();
    if payload.ip_number != IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    if payload.fragmented {
        return Err(Skip::Fragment);
    }
    // What the IP header says the TCP segment's length is, to tell snaplen loss apart.
    let tcp_at = payload.payload.as_ptr() as usize - ip.as_ptr() as usize;
    let mut bad_ip_checksum = false;
    let (src, dst, declared_tcp_len) = match &slice {
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
mod tests {
    use super::*;

    /// An IPv4/TCP packet: 10.0.0.1:40000 -> 10.0.0.2:80, seq 1000, PSH|ACK, payload "GET".
    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 20 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        p.extend_from_slice(&[
            0x9c, 0x40, 0, 80, 0, 0, 0x03, 0xe8, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(payload);
        p
    }

    fn ether(ip: &[u8], vlans: usize) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for i in 0..vlans {
            f.extend_from_slice(&[0x81, 0x00, 0, (100 + i) as u8]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(ip);
        f
    }

    #[test]
    fn ethernet_with_stacked_vlans() {
        for vlans in 0..3 {
            let f = ether(&ipv4_tcp(b"GET"), vlans);
            let s = decode_bytes(LinkType::ETHERNET, &f).unwrap();
            assert_eq!(s.src.to_string(), "10.0.0.1:40000");
            assert_eq!(s.dst.to_string(), "10.0.0.2:80");
            assert_eq!(s.seq, 1000);
            assert_eq!(s.ack, 1);
            assert_eq!(s.flags, tcp_flags::PSH | tcp_flags::ACK);
            assert_eq!(s.payload, b"GET");
            assert_eq!(s.payload_missing, 0);
        }
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut f = ether(&ipv4_tcp(b""), 0);
        f.extend_from_slice(&[0; 6]); // minimum-frame padding
        let s = decode_bytes(LinkType::ETHERNET, &f).unwrap();
        assert!(s.payload.is_empty());
    }

    #[test]
    fn snaplen_cut_counts_missing_payload() {
        let f = ether(&ipv4_tcp(&[b'x'; 100]), 0);
        let cut = &f[..14 + 40 + 30];
        let s = decode_bytes(LinkType::ETHERNET, cut).unwrap();
        assert_eq!(s.payload.len(), 30);
        assert_eq!(s.payload_missing, 70);
        assert_eq!(s.wire_len(), 100);
    }

    #[test]
    fn cut_inside_tcp_header_is_truncated() {
        let f = ether(&ipv4_tcp(b"GET"), 0);
        assert_eq!(
            decode_bytes(LinkType::ETHERNET, &f[..14 + 30]).unwrap_err(),
            Skip::Truncated
        );
        assert_eq!(
            decode_bytes(LinkType::ETHERNET, &f[..10]).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn other_link_layers() {
        let ip = ipv4_tcp(b"GET");
        let mut null_le = vec![2, 0, 0, 0];
        null_le.extend_from_slice(&ip);
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(&ip);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        for (link, f) in [
            (LinkType::NULL, &null_le),
            (LinkType::NULL, &null_be),
            (LinkType::LOOP, &null_be),
            (LinkType::LINUX_SLL, &sll),
            (LinkType::LINUX_SLL2, &sll2),
            (LinkType::RAW, &ip),
            (LinkType::IPV4, &ip),
        ] {
            let s = decode_bytes(link, f).unwrap_or_else(|e| panic!("{link}: {e:?}"));
            assert_eq!(s.payload, b"GET", "{link}");
        }
    }

    #[test]
    fn ipv6_with_extension_header() {
        // IPv6, next header = hop-by-hop (0), then a hop-by-hop header pointing at TCP.
        let tcp = &ipv4_tcp(b"GET")[20..];
        let plen = 8 + tcp.len();
        let mut p = vec![0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, 0, 64];
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(tcp);
        let s = decode_bytes(LinkType::RAW, &p).unwrap();
        assert_eq!(s.src.to_string(), "[::1]:40000");
        assert_eq!(s.payload, b"GET");
    }

    #[test]
    fn non_tcp_and_broken() {
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(
            decode_bytes(LinkType::ETHERNET, &arp).unwrap_err(),
            Skip::NotTcp
        );
        let mut udp = ipv4_tcp(b"");
        udp[9] = 17;
        assert_eq!(decode_bytes(LinkType::RAW, &udp).unwrap_err(), Skip::NotTcp);
        let mut frag = ipv4_tcp(b"GET");
        frag[6] = 0x20; // more fragments
        assert_eq!(
            decode_bytes(LinkType::RAW, &frag).unwrap_err(),
            Skip::Fragment
        );
        let mut bad = ipv4_tcp(b"GET");
        bad[32] = 0x30; // TCP data offset 3 words
        assert_eq!(
            decode_bytes(LinkType::RAW, &bad).unwrap_err(),
            Skip::Malformed
        );
        assert_eq!(
            decode_bytes(LinkType::RAW, &[0x75, 0, 0]).unwrap_err(),
            Skip::Malformed
        );
    }

    /// RFC 1071's worked example (section 3): the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn ones_complement_sum_matches_rfc_1071() {
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(ones_sum(&bytes, 0)), 0xddf2);
        // In pieces of even length, and with an odd tail padded by a zero byte.
        assert_eq!(
            fold(ones_sum(&bytes[6..], ones_sum(&bytes[..6], 0))),
            0xddf2
        );
        assert_eq!(fold(ones_sum(&[0x12], 0)), 0x1200);
    }

    /// The checksum by the book: 16-bit big-endian words, carries folded as they come.
    fn reference_checksum(words: &[u8]) -> u16 {
        let mut sum = 0u32;
        for pair in words.chunks(2) {
            let w = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(w);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// A packet with both checksums filled in by the reference verifies; a flipped bit in the
    /// payload, the header or the IPv4 header is caught.
    #[test]
    fn checksums_are_verified() {
        for payload in [&b""[..], b"GET", b"GET / HTTP/1.1\r\n\r\n"] {
            let mut ip = ipv4_tcp(payload);
            let ip_sum = reference_checksum(&ip[..20]);
            ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
            let mut pseudo = ip[12..20].to_vec();
            pseudo.extend_from_slice(&[0, 6, 0, (20 + payload.len()) as u8]);
            pseudo.extend_from_slice(&ip[20..]);
            let tcp_sum = reference_checksum(&pseudo);
            ip[36..38].copy_from_slice(&tcp_sum.to_be_bytes());
            let seg = decode_bytes(LinkType::RAW, &ip).unwrap();
            assert_eq!(seg.tcp_checksum_ok(), Some(true), "{payload:?}");
            assert!(!seg.bad_ip_checksum);
            for at in [20 + 4, ip.len() - 1] {
                let mut bad = ip.clone();
                bad[at] ^= 0x10;
                let seg = decode_bytes(LinkType::RAW, &bad).unwrap();
                assert_eq!(seg.tcp_checksum_ok(), Some(false), "{payload:?} byte {at}");
            }
            let mut bad = ip.clone();
            bad[8] ^= 1; // the TTL
            assert!(decode_bytes(LinkType::RAW, &bad).unwrap().bad_ip_checksum);
        }
    }

    /// A segment cut short by snaplen cannot be verified.
    #[test]
    fn a_truncated_segment_is_not_verified() {
        let ip = ipv4_tcp(b"GET / HTTP/1.1\r\n\r\n");
        let seg = decode_bytes(LinkType::RAW, &ip[..ip.len() - 4]).unwrap();
        assert_eq!(seg.payload_missing, 4);
        assert_eq!(seg.tcp_checksum_ok(), None);
    }
}
