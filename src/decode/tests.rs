//! Unit tests of frame decoding over literal byte arrays.

use super::*;

/// The segment alone, for tests of plain frames.
fn segment(link: LinkType, data: &[u8]) -> Result<Segment<'_>, Skip> {
    decode_bytes(link, data).map(|(seg, _via)| seg)
}

/// An IPv4/TCP packet: 10.0.0.1:40000 -> 10.0.0.2:80, seq 1000, PSH|ACK, payload "GET".
pub(super) fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
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
        let s = segment(LinkType::ETHERNET, &f).unwrap();
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
    let s = segment(LinkType::ETHERNET, &f).unwrap();
    assert!(s.payload.is_empty());
}

#[test]
fn snaplen_cut_counts_missing_payload() {
    let f = ether(&ipv4_tcp(&[b'x'; 100]), 0);
    let cut = &f[..14 + 40 + 30];
    let s = segment(LinkType::ETHERNET, cut).unwrap();
    assert_eq!(s.payload.len(), 30);
    assert_eq!(s.payload_missing, 70);
    assert_eq!(s.wire_len(), 100);
}

#[test]
fn cut_inside_tcp_header_is_truncated() {
    let f = ether(&ipv4_tcp(b"GET"), 0);
    assert_eq!(
        segment(LinkType::ETHERNET, &f[..14 + 30]).unwrap_err(),
        Skip::Truncated
    );
    assert_eq!(
        segment(LinkType::ETHERNET, &f[..10]).unwrap_err(),
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
        let s = segment(link, f).unwrap_or_else(|e| panic!("{link}: {e:?}"));
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
    let s = segment(LinkType::RAW, &p).unwrap();
    assert_eq!(s.src.to_string(), "[::1]:40000");
    assert_eq!(s.payload, b"GET");
}

#[test]
fn non_tcp_and_broken() {
    let mut arp = vec![0u8; 12];
    arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
    assert_eq!(segment(LinkType::ETHERNET, &arp).unwrap_err(), Skip::NotTcp);
    let mut udp = ipv4_tcp(b"");
    udp[9] = 17;
    assert_eq!(segment(LinkType::RAW, &udp).unwrap_err(), Skip::NotTcp);
    let mut frag = ipv4_tcp(b"GET");
    frag[6] = 0x20; // more fragments
    assert_eq!(segment(LinkType::RAW, &frag).unwrap_err(), Skip::Fragment);
    let mut bad = ipv4_tcp(b"GET");
    bad[32] = 0x30; // TCP data offset 3 words
    assert_eq!(segment(LinkType::RAW, &bad).unwrap_err(), Skip::Malformed);
    assert_eq!(
        segment(LinkType::RAW, &[0x75, 0, 0]).unwrap_err(),
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
pub(super) fn reference_checksum(words: &[u8]) -> u16 {
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
        let seg = segment(LinkType::RAW, &ip).unwrap();
        assert_eq!(seg.tcp_checksum_ok(), Some(true), "{payload:?}");
        assert!(!seg.bad_ip_checksum);
        for at in [20 + 4, ip.len() - 1] {
            let mut bad = ip.clone();
            bad[at] ^= 0x10;
            let seg = segment(LinkType::RAW, &bad).unwrap();
            assert_eq!(seg.tcp_checksum_ok(), Some(false), "{payload:?} byte {at}");
        }
        let mut bad = ip.clone();
        bad[8] ^= 1; // the TTL
        assert!(segment(LinkType::RAW, &bad).unwrap().bad_ip_checksum);
    }
}

/// A segment cut short by snaplen cannot be verified.
#[test]
fn a_truncated_segment_is_not_verified() {
    let ip = ipv4_tcp(b"GET / HTTP/1.1\r\n\r\n");
    let seg = segment(LinkType::RAW, &ip[..ip.len() - 4]).unwrap();
    assert_eq!(seg.payload_missing, 4);
    assert_eq!(seg.tcp_checksum_ok(), None);
}
