//! Unit tests of decoding through encapsulations, over frames built by hand from the layouts
//! in the specifications each builder cites. Corpus captures cover the common shape of each
//! (tests/it/tunnels.rs); these cover the optional fields, the variants no public capture
//! holds, and broken frames.

use super::tests::{ipv4_tcp, reference_checksum};
use super::*;

// ------------------------------------------------------------------------------- builders

/// The inner segment everywhere: 10.0.0.1:40000 -> 10.0.0.2:80, payload "GET".
fn inner4() -> Vec<u8> {
    ipv4_tcp(b"GET")
}

/// The same TCP segment inside IPv6 (RFC 8200 section 3): ::1 -> ::1.
fn inner6() -> Vec<u8> {
    ipv6(6, &inner4()[20..])
}

/// An IPv4 header (RFC 791 section 3.1) with a right checksum, around `payload`.
fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_frag(protocol, payload, 0x4000)
}

/// As [`ipv4`], with the flags and fragment offset word given (0x2000: more fragments).
fn ipv4_frag(protocol: u8, payload: &[u8], flags_offset: u16) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    p.extend_from_slice(&flags_offset.to_be_bytes());
    p.extend_from_slice(&[64, protocol, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    let sum = reference_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv6 header (RFC 8200 section 3), ::1 -> ::1, around `payload`.
fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let plen = payload.len() as u16;
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&plen.to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    p.extend_from_slice(payload);
    p
}

/// An Ethernet II frame: addresses, ethertype, payload.
fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A UDP header (RFC 768) to `dst_port`, with the right length, around `payload`.
fn udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0x30, 0x39];
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn ok(f: &[u8]) -> (Segment<'_>, Via) {
    decode_bytes(LinkType::ETHERNET, f).unwrap_or_else(|e| panic!("{e:?}: {f:02x?}"))
}

fn skip(f: &[u8]) -> Skip {
    match decode_bytes(LinkType::ETHERNET, f) {
        Ok((s, via)) => panic!("decoded {s:?} via {via:?}"),
        Err(e) => e,
    }
}

fn via(kinds: &[Via]) -> Via {
    let mut v = Via::NONE;
    for k in kinds {
        v |= *k;
    }
    v
}

/// The inner segment came out whole, with its addresses.
fn assert_inner(seg: &Segment<'_>, v6: bool) {
    if v6 {
        assert_eq!(seg.src.to_string(), "[::1]:40000");
    } else {
        assert_eq!(seg.src.to_string(), "10.0.0.1:40000");
        assert_eq!(seg.dst.to_string(), "10.0.0.2:80");
    }
    assert_eq!(seg.seq, 1000);
    assert_eq!(seg.payload, b"GET");
    assert_eq!(seg.payload_missing, 0);
    assert_eq!(seg.tcp_header.len(), 20);
}

/// Every cut of `f` short of its end decodes without a panic: as truncated, as not TCP (a cut
/// inside a UDP header's ports hides which tunnel it was), or, once the inner TCP header is
/// whole, as a segment missing the payload the inner IP header announces.
fn every_cut_is_counted(f: &[u8]) {
    for cut in 0..f.len() {
        match decode_bytes(LinkType::ETHERNET, &f[..cut]) {
            Ok((s, _)) => assert_eq!(
                s.payload.len() as u32 + s.payload_missing,
                3,
                "cut at {cut}"
            ),
            Err(Skip::Truncated | Skip::NotTcp) => {}
            Err(e) => panic!("cut at {cut}: {e:?}"),
        }
    }
    // The last cuts fall inside the inner segment's payload.
    let (s, _) = decode_bytes(LinkType::ETHERNET, &f[..f.len() - 1]).unwrap();
    assert_eq!((s.payload.len(), s.payload_missing), (2, 1));
}

/// Every byte of `f` set to 0x00 and to 0xff in turn: no panic, and a segment, if any, lies
/// inside the frame.
fn every_corruption_is_survived(f: &[u8]) {
    let mut g = f.to_vec();
    for at in 0..f.len() {
        for b in [0x00, 0xff, f[at] ^ 0x01] {
            g[at] = b;
            if let Ok((s, _)) = decode_bytes(LinkType::ETHERNET, &g) {
                let start = s.payload.as_ptr() as usize - g.as_ptr() as usize;
                assert!(start + s.payload.len() <= g.len());
            }
        }
        g[at] = f[at];
    }
}

fn robust(f: &[u8]) {
    every_cut_is_counted(f);
    every_corruption_is_survived(f);
}

// ------------------------------------------------------------------------------- MPLS

/// A label stack entry (RFC 3032 section 2.1): label (20 bits), traffic class (3), bottom of
/// stack (1), TTL (8).
fn label(label: u32, bottom: bool) -> [u8; 4] {
    ((label << 12) | (u32::from(bottom) << 8) | 64).to_be_bytes()
}

#[test]
fn mpls_label_stack_before_ipv4_and_ipv6() {
    let stack = cat(&[&label(16, false), &label(17, true)]);
    let f = eth(0x8847, &cat(&[&stack, &inner4()]));
    let (s, v) = ok(&f);
    assert_inner(&s, false);
    assert_eq!(v, Via::MPLS);
    robust(&f);
    // Multicast MPLS, one label, IPv6 behind it.
    let f = eth(0x8848, &cat(&[&label(2, true), &inner6()]));
    assert_inner(&ok(&f).0, true);
    // Behind VLAN tags, and on Linux cooked captures (SLL: protocol at 14).
    let mut tagged = eth(0x8100, &[0, 100, 0x88, 0x47]);
    tagged.extend_from_slice(&cat(&[&stack, &inner4()]));
    assert_inner(&ok(&tagged).0, false);
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x88, 0x47]);
    sll.extend_from_slice(&cat(&[&stack, &inner4()]));
    let (s, v) = decode_bytes(LinkType::LINUX_SLL, &sll).unwrap();
    assert_inner(&s, false);
    assert_eq!(v, Via::MPLS);
}

#[test]
fn mpls_without_ip_or_without_a_bottom() {
    // A pseudowire control word (first nibble 0, RFC 4385) is not decoded.
    let f = eth(
        0x8847,
        &cat(&[&label(16, true), &[0, 0, 0, 0], &eth(0x0800, &inner4())]),
    );
    assert_eq!(skip(&f), Skip::NotTcp);
    // No bottom of stack in 16 labels.
    let stack: Vec<u8> = (0..17).flat_map(|i| label(16 + i, false)).collect();
    assert_eq!(
        skip(&eth(0x8847, &cat(&[&stack, &inner4()]))),
        Skip::Malformed
    );
    // The frame ends inside the stack, or right after it.
    assert_eq!(skip(&eth(0x8847, &label(16, false))), Skip::Truncated);
    assert_eq!(skip(&eth(0x8847, &label(16, true))), Skip::Truncated);
}

// ------------------------------------------------------------------------------- PPPoE

/// A PPPoE session packet (RFC 2516 section 4): VER/TYPE 0x11, CODE 0, session id 0x1234,
/// LENGTH of the PPP frame (`ppp_len`, normally its real length).
fn pppoe(ppp: &[u8], ppp_len: usize) -> Vec<u8> {
    let mut p = vec![0x11, 0x00, 0x12, 0x34];
    p.extend_from_slice(&(ppp_len as u16).to_be_bytes());
    p.extend_from_slice(ppp);
    p
}

#[test]
fn pppoe_session_with_full_and_compressed_protocol_fields() {
    // PPP protocol 0x0021 (IPv4), 0x0057 (IPv6); 0x21 alone when compressed (RFC 1661 6.5).
    for (ppp, v6) in [
        (cat(&[&[0x00, 0x21], &inner4()]), false),
        (cat(&[&[0x00, 0x57], &inner6()]), true),
        (cat(&[&[0x21], &inner4()]), false),
    ] {
        let f = eth(0x8864, &pppoe(&ppp, ppp.len()));
        let (s, v) = ok(&f);
        assert_inner(&s, v6);
        assert_eq!(v, Via::PPPOE);
        robust(&f);
    }
}

#[test]
fn pppoe_that_is_not_ip_or_is_broken() {
    let ip = cat(&[&[0x00, 0x21], &inner4()]);
    // LCP (0xc021) and PPPoE discovery (ethertype 0x8863) are not TCP.
    let lcp = cat(&[&[0xc0, 0x21], &[1, 1, 0, 4]]);
    assert_eq!(skip(&eth(0x8864, &pppoe(&lcp, lcp.len()))), Skip::NotTcp);
    assert_eq!(skip(&eth(0x8863, &pppoe(&[], 0))), Skip::NotTcp);
    // Wrong version/type or code.
    let mut bad = pppoe(&ip, ip.len());
    bad[0] = 0x21;
    assert_eq!(skip(&eth(0x8864, &bad)), Skip::Malformed);
    let mut bad = pppoe(&ip, ip.len());
    bad[1] = 0x09; // PADI's code, in a session packet
    assert_eq!(skip(&eth(0x8864, &bad)), Skip::Malformed);
    // A LENGTH too short for the protocol field, and one that cuts the IP header: the LENGTH
    // bounds the PPP frame, whatever follows in the Ethernet frame.
    assert_eq!(skip(&eth(0x8864, &pppoe(&ip, 1))), Skip::Malformed);
    assert_eq!(skip(&eth(0x8864, &pppoe(&ip, 12))), Skip::Truncated);
    // A header cut short.
    assert_eq!(skip(&eth(0x8864, &[0x11, 0])), Skip::Truncated);
}

// ------------------------------------------------------------------------------- IP in IP

#[test]
fn ip_in_ip_all_four_ways() {
    // Protocol 4 (RFC 2003) and 41 (RFC 4213 section 3) in IPv4; both in IPv6 (RFC 2473).
    for (f, v6) in [
        (eth(0x0800, &ipv4(4, &inner4())), false),
        (eth(0x0800, &ipv4(41, &inner6())), true),
        (eth(0x86dd, &ipv6(4, &inner4())), false),
        (eth(0x86dd, &ipv6(41, &inner6())), true),
    ] {
        let (s, v) = ok(&f);
        assert_inner(&s, v6);
        assert_eq!(v, Via::IP_IN_IP);
        robust(&f);
    }
}

#[test]
fn ip_in_ip_that_lies_or_is_fragmented() {
    // Protocol 4 with an IPv6 packet inside.
    assert_eq!(skip(&eth(0x0800, &ipv4(4, &inner6()))), Skip::Malformed);
    // An outer fragment (more fragments set) is a fragment, whatever it carries.
    let f = eth(0x0800, &ipv4_frag(4, &inner4(), 0x2000));
    assert_eq!(skip(&f), Skip::Fragment);
    // An outer header with nothing after it.
    assert_eq!(skip(&eth(0x0800, &ipv4(4, &[]))), Skip::Truncated);
}

/// Tunnels nest; past MAX_IP_HEADERS IP headers in one frame the frame is malformed, and the
/// work a hostile frame can ask for is bounded.
#[test]
fn nesting_is_bounded() {
    let mut p = inner4();
    for _ in 1..MAX_IP_HEADERS {
        p = ipv4(4, &p);
    }
    let f = eth(0x0800, &p);
    let (s, v) = ok(&f);
    assert_inner(&s, false);
    assert_eq!(v, Via::IP_IN_IP);
    let f = eth(0x0800, &ipv4(4, &p));
    assert_eq!(skip(&f), Skip::Malformed);
}

/// Checksums are the innermost headers' (what tshark shows as the last value of each field):
/// a wrong outer IPv4 checksum is not counted, a wrong inner one is.
#[test]
fn checksums_are_the_innermost_ones() {
    let mut inner = inner4();
    let sum = reference_checksum(&inner[..20]);
    inner[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut pseudo = inner[12..20].to_vec();
    pseudo.extend_from_slice(&[0, 6, 0, 23]);
    pseudo.extend_from_slice(&inner[20..]);
    let sum = reference_checksum(&pseudo);
    inner[36..38].copy_from_slice(&sum.to_be_bytes());
    let mut outer = ipv4(4, &inner);
    outer[10] ^= 0xff;
    let f = eth(0x0800, &outer);
    let (s, _) = ok(&f);
    assert!(!s.bad_ip_checksum);
    assert_eq!(s.tcp_checksum_ok(), Some(true));
    let mut f = f.clone();
    f[14 + 20 + 8] ^= 1; // the inner TTL
    let (s, _) = ok(&f);
    assert!(s.bad_ip_checksum);
    assert_eq!(s.tcp_checksum_ok(), Some(true));
}

// ------------------------------------------------------------------------------- GRE

/// A GRE header (RFC 2784 section 2.1; key and sequence number, RFC 2890 section 2): flags
/// byte (C 0x80, K 0x20, S 0x10), version 0, protocol type, then the optional fields.
fn gre(flags: u8, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut g = vec![flags, 0];
    g.extend_from_slice(&protocol.to_be_bytes());
    if flags & 0x80 != 0 {
        g.extend_from_slice(&[0xab, 0xcd, 0, 0]); // checksum, reserved1
    }
    if flags & 0x20 != 0 {
        g.extend_from_slice(&[0, 0, 0x10, 0x01]); // key
    }
    if flags & 0x10 != 0 {
        g.extend_from_slice(&[0, 0, 0, 7]); // sequence number
    }
    g.extend_from_slice(payload);
    g
}

#[test]
fn gre_with_every_combination_of_optional_fields() {
    for flags in [0x00, 0x80, 0x20, 0x10, 0xa0, 0x90, 0x30, 0xb0] {
        for (protocol, inner, v6) in [(0x0800, inner4(), false), (0x86dd, inner6(), true)] {
            let f = eth(0x0800, &ipv4(47, &gre(flags, protocol, &inner)));
            let (s, v) = ok(&f);
            assert_inner(&s, v6);
            assert_eq!(v, Via::GRE, "flags {flags:#x}");
            robust(&f);
        }
    }
    // Transparent Ethernet bridging (0x6558), over IPv6, with a VLAN tag inside.
    let mut tagged = eth(0x8100, &[0, 5, 0x08, 0x00]);
    tagged.extend_from_slice(&inner4());
    let f = eth(0x86dd, &ipv6(47, &gre(0x20, 0x6558, &tagged)));
    let (s, v) = ok(&f);
    assert_inner(&s, false);
    assert_eq!(v, Via::GRE);
    robust(&f);
    // MPLS over GRE (RFC 4023).
    let f = eth(
        0x0800,
        &ipv4(47, &gre(0, 0x8847, &cat(&[&label(20, true), &inner4()]))),
    );
    assert_eq!(ok(&f).1, via(&[Via::GRE, Via::MPLS]));
}

#[test]
fn gre_that_is_not_decoded_or_is_broken() {
    // Version 1 (PPTP's enhanced GRE, RFC 2637) and source routing (RFC 1701) are not decoded.
    let mut v1 = gre(0x30, 0x880b, &[0xff, 0x03, 0x00, 0x21]);
    v1[1] = 0x81;
    assert_eq!(skip(&eth(0x0800, &ipv4(47, &v1))), Skip::NotTcp);
    let routed = gre(0x40, 0x0800, &inner4());
    assert_eq!(skip(&eth(0x0800, &ipv4(47, &routed))), Skip::NotTcp);
    // Keepalives and other protocols.
    assert_eq!(skip(&eth(0x0800, &ipv4(47, &gre(0, 0, &[])))), Skip::NotTcp);
    // Cut inside the optional fields.
    let f = eth(0x0800, &ipv4(47, &gre(0xb0, 0x0800, &[])[..10]));
    assert_eq!(skip(&f), Skip::Truncated);
    // A fragmented GRE packet.
    let f = eth(0x0800, &ipv4_frag(47, &gre(0, 0x0800, &inner4()), 0x2000));
    assert_eq!(skip(&f), Skip::Fragment);
}

// ------------------------------------------------------------------------------- ERSPAN

/// ERSPAN type II header (draft-foschiano-erspan-03): version 1, VLAN 7, session 5, index.
const ERSPAN_II: [u8; 8] = [0x10, 0x07, 0x00, 0x05, 0x00, 0x00, 0x00, 0x12];

/// ERSPAN type III header: version 2, VLAN 7, session 5, timestamp, SGT, then P, FT (5 bits),
/// hardware id, D, Gra and O; `o` sets O, announcing an 8-byte platform specific subheader.
fn erspan_iii(frame_type: u8, o: bool) -> Vec<u8> {
    let mut h = vec![0x20, 0x07, 0x00, 0x05, 1, 2, 3, 4, 0, 0];
    h.push(frame_type << 2);
    h.push(u8::from(o));
    if o {
        h.extend_from_slice(&[0x0c, 0, 0, 0, 9, 9, 9, 9]);
    }
    h
}

#[test]
fn erspan_types_one_two_and_three() {
    let mirrored = eth(0x0800, &inner4());
    for g in [
        gre(0x00, 0x88be, &mirrored),                                 // type I
        gre(0x10, 0x88be, &cat(&[&ERSPAN_II, &mirrored])),            // type II
        gre(0x10, 0x22eb, &cat(&[&erspan_iii(0, false), &mirrored])), // type III
        gre(0x10, 0x22eb, &cat(&[&erspan_iii(0, true), &mirrored])),
    ] {
        let f = eth(0x0800, &ipv4(47, &g));
        let (s, v) = ok(&f);
        assert_inner(&s, false);
        assert_eq!(v, via(&[Via::GRE, Via::ERSPAN]));
        robust(&f);
    }
}

#[test]
fn erspan_that_is_not_decoded() {
    let mirrored = eth(0x0800, &inner4());
    // Type II with another version number; type III carrying an IP packet (frame type 2).
    let mut bad = ERSPAN_II;
    bad[0] = 0x20;
    let f = eth(
        0x0800,
        &ipv4(47, &gre(0x10, 0x88be, &cat(&[&bad, &mirrored]))),
    );
    assert_eq!(skip(&f), Skip::NotTcp);
    let g = gre(0x10, 0x22eb, &cat(&[&erspan_iii(2, false), &inner4()]));
    assert_eq!(skip(&eth(0x0800, &ipv4(47, &g))), Skip::NotTcp);
    // The platform specific subheader announced but cut off.
    let g = gre(0x10, 0x22eb, &erspan_iii(0, true)[..16]);
    assert_eq!(skip(&eth(0x0800, &ipv4(47, &g))), Skip::Truncated);
}

// ------------------------------------------------------------------------------- VXLAN

/// A VXLAN header (RFC 7348 section 5): flags with I (0x08), reserved, VNI 0x123456, reserved.
fn vxlan(frame: &[u8]) -> Vec<u8> {
    cat(&[&[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0], frame])
}

#[test]
fn vxlan_over_ipv4_and_ipv6() {
    let f = eth(
        0x0800,
        &ipv4(17, &udp(4789, &vxlan(&eth(0x86dd, &inner6())))),
    );
    let (s, v) = ok(&f);
    assert_inner(&s, true);
    assert_eq!(v, Via::VXLAN);
    robust(&f);
    let f = eth(
        0x86dd,
        &ipv6(17, &udp(4789, &vxlan(&eth(0x0800, &inner4())))),
    );
    assert_inner(&ok(&f).0, false);
    robust(&f);
}

#[test]
fn udp_that_is_not_a_tunnel_or_is_broken() {
    let inside = vxlan(&eth(0x0800, &inner4()));
    // Another port (VXLAN-GPE's 4790 among them).
    assert_eq!(
        skip(&eth(0x0800, &ipv4(17, &udp(4790, &inside)))),
        Skip::NotTcp
    );
    // A UDP length below its own header.
    let mut d = udp(4789, &inside);
    d[4..6].copy_from_slice(&[0, 7]);
    assert_eq!(skip(&eth(0x0800, &ipv4(17, &d))), Skip::Malformed);
    // A UDP length that ends inside the inner IP header bounds the datagram.
    let mut d = udp(4789, &inside);
    d[4..6].copy_from_slice(&(8 + 8 + 14 + 10u16).to_be_bytes());
    assert_eq!(skip(&eth(0x0800, &ipv4(17, &d))), Skip::Truncated);
    // The first fragment of a VXLAN datagram is a fragment; later ones cannot be told from
    // other UDP.
    let f = eth(0x0800, &ipv4_frag(17, &udp(4789, &inside), 0x2000));
    assert_eq!(skip(&f), Skip::Fragment);
    let f = eth(0x0800, &ipv4_frag(17, &udp(4789, &inside), 0x0010));
    assert_eq!(skip(&f), Skip::NotTcp);
    // The same over IPv6, with a fragment header (RFC 8200 section 4.5): offset 0, M set.
    let frag = cat(&[&[17, 0, 0x00, 0x01, 0, 0, 0, 1], &udp(4789, &inside)]);
    assert_eq!(skip(&eth(0x86dd, &ipv6(44, &frag))), Skip::Fragment);
    let frag = cat(&[&[17, 0, 0x00, 0x10, 0, 0, 0, 1], &udp(4789, &inside)]);
    assert_eq!(skip(&eth(0x86dd, &ipv6(44, &frag))), Skip::NotTcp);
}

// ------------------------------------------------------------------------------- Geneve

/// A Geneve header (RFC 8926 section 3.4) with one 8-byte option (class 0x0108, type 1, one
/// word of data), protocol type `protocol`, VNI 0x000102.
fn geneve(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut g = vec![0x02, 0x00];
    g.extend_from_slice(&protocol.to_be_bytes());
    g.extend_from_slice(&[0, 1, 2, 0]);
    g.extend_from_slice(&[0x01, 0x08, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    g.extend_from_slice(payload);
    g
}

#[test]
fn geneve_with_ethernet_or_ip_inside() {
    let f = eth(
        0x0800,
        &ipv4(17, &udp(6081, &geneve(0x6558, &eth(0x0800, &inner4())))),
    );
    let (s, v) = ok(&f);
    assert_inner(&s, false);
    assert_eq!(v, Via::GENEVE);
    robust(&f);
    // IPv4 straight inside, then GRE, then IPv4: the shape of suricata-verify's bug-6402-01.
    let gre_in = ipv4(47, &gre(0, 0x0800, &inner4()));
    let f = eth(0x0800, &ipv4(17, &udp(6081, &geneve(0x0800, &gre_in))));
    let (s, v) = ok(&f);
    assert_inner(&s, false);
    assert_eq!(v, via(&[Via::GENEVE, Via::GRE]));
    robust(&f);
}

#[test]
fn geneve_that_is_not_decoded_or_is_broken() {
    let mut g = geneve(0x0800, &inner4());
    g[0] |= 0x40; // version 1
    assert_eq!(skip(&eth(0x0800, &ipv4(17, &udp(6081, &g)))), Skip::NotTcp);
    // Options longer than the packet.
    let mut g = geneve(0x0800, &[]);
    g[0] = 0x3f;
    assert_eq!(
        skip(&eth(0x0800, &ipv4(17, &udp(6081, &g)))),
        Skip::Truncated
    );
}

// ------------------------------------------------------------------------------- GTP-U

/// A GTP-U G-PDU (3GPP TS 29.281 section 5.1): flags (version 1, PT 1, E S PN), message type
/// 255, the length of what follows the first 8 bytes, TEID; then the optional 4 bytes when
/// any of E, S, PN is set, the extension headers (section 5.2) and the user packet.
fn gtp_u(flags: u8, after_teid: &[u8], packet: &[u8]) -> Vec<u8> {
    let mut g = vec![0x30 | flags, 0xff];
    g.extend_from_slice(&((after_teid.len() + packet.len()) as u16).to_be_bytes());
    g.extend_from_slice(&[0x03, 0xd4, 0x4f, 0x54]);
    g.extend_from_slice(after_teid);
    g.extend_from_slice(packet);
    g
}

/// The optional fields announcing a PDU session container (type 0x85), then that container:
/// length 1 (4 bytes), two bytes of content, no next header.
const SEQ_AND_ONE_EXTENSION: [u8; 8] = [0x12, 0x34, 0x00, 0x85, 0x01, 0x10, 0x05, 0x00];

#[test]
fn gtp_u_with_and_without_optional_fields_and_extensions() {
    for g in [
        gtp_u(0, &[], &inner4()),
        gtp_u(0x02, &[0x12, 0x34, 0, 0], &inner4()), // S: a sequence number
        gtp_u(0x02, &[0x12, 0x34, 0, 0x85], &inner4()), // next type without E: ignored
        gtp_u(0x04, &SEQ_AND_ONE_EXTENSION, &inner4()),
    ] {
        let f = eth(0x0800, &ipv4(17, &udp(2152, &g)));
        let (s, v) = ok(&f);
        assert_inner(&s, false);
        assert_eq!(v, Via::GTP_U);
        robust(&f);
    }
    let f = eth(0x86dd, &ipv6(17, &udp(2152, &gtp_u(0, &[], &inner6()))));
    assert_inner(&ok(&f).0, true);
}

#[test]
fn gtp_u_that_is_not_decoded_or_is_broken() {
    let f = |g: &[u8]| eth(0x0800, &ipv4(17, &udp(2152, g)));
    // An echo request (message type 1) and an end marker (254) carry no user packet.
    let mut echo = gtp_u(0, &[], &[]);
    echo[1] = 1;
    assert_eq!(skip(&f(&echo)), Skip::NotTcp);
    let mut end = gtp_u(0, &[], &[]);
    end[1] = 254;
    assert_eq!(skip(&f(&end)), Skip::NotTcp);
    // GTPv2 (version 2) and GTP' (PT 0).
    let mut v2 = gtp_u(0, &[], &inner4());
    v2[0] = 0x48;
    assert_eq!(skip(&f(&v2)), Skip::NotTcp);
    let mut prime = gtp_u(0, &[], &inner4());
    prime[0] = 0x20;
    assert_eq!(skip(&f(&prime)), Skip::NotTcp);
    // A user packet that is not IP (an Ethernet PDU session).
    assert_eq!(
        skip(&f(&gtp_u(0, &[], &eth(0x0800, &inner4())))),
        Skip::NotTcp
    );
    // An extension header of length 0.
    let zero = [0x12, 0x34, 0x00, 0x85, 0x00, 0x10, 0x05, 0x00];
    assert_eq!(skip(&f(&gtp_u(0x04, &zero, &inner4()))), Skip::Malformed);
    // A chain of more extension headers than MAX_GTP_EXTENSIONS.
    let mut chain = vec![0x12, 0x34, 0x00, 0x85];
    for _ in 0..9 {
        chain.extend_from_slice(&[0x01, 0, 0, 0x85]);
    }
    chain.extend_from_slice(&[0x01, 0, 0, 0x00]);
    assert_eq!(skip(&f(&gtp_u(0x04, &chain, &inner4()))), Skip::Malformed);
    // A GTP length that ends inside the extension header bounds it.
    let mut short = gtp_u(0x04, &SEQ_AND_ONE_EXTENSION, &inner4());
    short[2..4].copy_from_slice(&6u16.to_be_bytes());
    assert_eq!(skip(&f(&short)), Skip::Truncated);
}
