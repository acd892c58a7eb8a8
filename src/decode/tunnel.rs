//! Tunnels carried by IP: IP-in-IP, GRE (with ERSPAN), and over UDP, VXLAN, GTP-U and Geneve.
//!
//! [`inner_ip`] takes an IP packet whose payload is not TCP and returns the IP packet inside
//! it, or why there is none. The UDP tunnels are recognised by the destination port their
//! specifications assign, as Wireshark does by default; a tunnel on another port is not
//! decoded. Checksums of the outer layers are not verified: only the innermost IP and TCP
//! headers are (see `Segment`).

use etherparse::{IpNumber, Ipv6ExtensionSlice, LaxIpSlice};

use super::link::{be16, by_ethertype, ethernet, ip_by_version};
use super::{Skip, Via};

/// RFC 7348 section 5.
const VXLAN_PORT: u16 = 4789;
/// 3GPP TS 29.281 section 4.4.2.
const GTP_U_PORT: u16 = 2152;
/// RFC 8926 section 3.3.
const GENEVE_PORT: u16 = 6081;

/// GRE's and Geneve's protocol type for an Ethernet frame (transparent Ethernet bridging).
const TRANSPARENT_ETHERNET: u16 = 0x6558;
const ERSPAN_I_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;
/// GTP-U extension headers followed before giving up (real packets carry one or two).
const MAX_GTP_EXTENSIONS: usize = 8;

/// The IP packet tunnelled in the payload of `slice`. Out of line: the common path (TCP
/// straight inside the first IP header) never comes here.
#[inline(never)]
pub(super) fn inner_ip<'a>(slice: &LaxIpSlice<'a>, via: &mut Via) -> Result<&'a [u8], Skip> {
    let p = slice.payload();
    match p.ip_number {
        // IPv4 in IP (RFC 2003, RFC 2473), IPv6 in IP (RFC 4213 section 3, RFC 2473).
        IpNumber::IPV4 | IpNumber::IPV6 => {
            if p.fragmented {
                return Err(Skip::Fragment);
            }
            *via |= Via::IP_IN_IP;
            let want = if p.ip_number == IpNumber::IPV4 { 4 } else { 6 };
            match p.payload.first() {
                None => Err(Skip::Truncated),
                Some(b) if b >> 4 != want => Err(Skip::Malformed),
                Some(_) => Ok(p.payload),
            }
        }
        IpNumber::GRE => {
            if p.fragmented {
                return Err(Skip::Fragment);
            }
            gre(p.payload, via)
        }
        IpNumber::UDP => udp(slice, via),
        _ => Err(Skip::NotTcp),
    }
}

/// GRE (RFC 2784 section 2, with RFC 2890 section 2's key and sequence number): flags C, R,
/// K, S in the first byte, the version in the low bits of the second, the protocol type (an
/// ethertype), then 4 bytes each for the checksum (and reserved field), the key and the
/// sequence number when their flags are set. Version 1 (PPTP's enhanced GRE, RFC 2637) and
/// RFC 1701's source routing are not decoded.
fn gre<'a>(d: &'a [u8], via: &mut Via) -> Result<&'a [u8], Skip> {
    *via |= Via::GRE;
    let h = d.get(..4).ok_or(Skip::Truncated)?;
    let flags = h[0];
    if h[1] & 0x07 != 0 || flags & 0x40 != 0 {
        return Err(Skip::NotTcp);
    }
    let checksum = flags & 0x80 != 0;
    let key = flags & 0x20 != 0;
    let sequence = flags & 0x10 != 0;
    let at = 4 + 4 * (usize::from(checksum) + usize::from(key) + usize::from(sequence));
    let rest = d.get(at..).ok_or(Skip::Truncated)?;
    match u16::from_be_bytes([h[2], h[3]]) {
        TRANSPARENT_ETHERNET => ethernet(rest, via),
        // ERSPAN (draft-foschiano-erspan-03): type I has no header of its own and a GRE
        // header without a sequence number; type II has one and an 8-byte ERSPAN header.
        ERSPAN_I_II => {
            *via |= Via::ERSPAN;
            if !sequence {
                return ethernet(rest, via);
            }
            let e = rest.get(..8).ok_or(Skip::Truncated)?;
            if e[0] >> 4 != 1 {
                return Err(Skip::NotTcp);
            }
            ethernet(&rest[8..], via)
        }
        // ERSPAN type III: a 12-byte header whose last bit (O) announces an 8-byte platform
        // specific subheader, and whose frame type (5 bits of byte 10) is 0 for Ethernet.
        ERSPAN_III => {
            *via |= Via::ERSPAN;
            let e = rest.get(..12).ok_or(Skip::Truncated)?;
            if e[0] >> 4 != 2 || (e[10] >> 2) & 0x1f != 0 {
                return Err(Skip::NotTcp);
            }
            let at = if e[11] & 0x01 != 0 { 20 } else { 12 };
            ethernet(rest.get(at..).ok_or(Skip::Truncated)?, via)
        }
        protocol => by_ethertype(protocol, rest, via),
    }
}

/// A UDP datagram: a tunnel if its destination port names one. Its payload is bounded by the
/// UDP length (the capture may have cut it shorter).
fn udp<'a>(slice: &LaxIpSlice<'a>, via: &mut Via) -> Result<&'a [u8], Skip> {
    let p = slice.payload();
    let d = p.payload;
    let port = be16(d, 2).ok_or(Skip::NotTcp)?;
    if !matches!(port, VXLAN_PORT | GTP_U_PORT | GENEVE_PORT) {
        return Err(Skip::NotTcp);
    }
    if p.fragmented {
        // Only the first fragment holds the UDP header; later ones cannot be told from any
        // other UDP.
        return Err(if first_fragment(slice) {
            Skip::Fragment
        } else {
            Skip::NotTcp
        });
    }
    let h = d.get(..8).ok_or(Skip::Truncated)?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if len < 8 {
        return Err(Skip::Malformed);
    }
    let body = d.get(8..len).unwrap_or(&d[8..]);
    match port {
        VXLAN_PORT => vxlan(body, via),
        GTP_U_PORT => gtp_u(body, via),
        _ => geneve(body, via),
    }
}

fn first_fragment(slice: &LaxIpSlice<'_>) -> bool {
    match slice {
        LaxIpSlice::Ipv4(v4) => v4.header().fragments_offset().value() == 0,
        LaxIpSlice::Ipv6(v6) => v6.extensions().clone().into_iter().all(|e| match e {
            Ipv6ExtensionSlice::Fragment(f) => f.fragment_offset().value() == 0,
            _ => true,
        }),
    }
}

/// VXLAN (RFC 7348 section 5): flags (I set for a valid VNI), 24 reserved bits, the 24-bit
/// VNI and 8 reserved bits, then an Ethernet frame. Reserved bits are ignored on receipt, as
/// the RFC says.
fn vxlan<'a>(body: &'a [u8], via: &mut Via) -> Result<&'a [u8], Skip> {
    *via |= Via::VXLAN;
    ethernet(body.get(8..).ok_or(Skip::Truncated)?, via)
}

/// Geneve (RFC 8926 section 3.4): version (2 bits, 0) and options length (6 bits, in 4-byte
/// words), flags, the protocol type (an ethertype), the 24-bit VNI, a reserved byte, then the
/// options. A receiver must drop an unknown version, so it is not decoded.
fn geneve<'a>(body: &'a [u8], via: &mut Via) -> Result<&'a [u8], Skip> {
    *via |= Via::GENEVE;
    let h = body.get(..8).ok_or(Skip::Truncated)?;
    if h[0] >> 6 != 0 {
        return Err(Skip::NotTcp);
    }
    let at = 8 + 4 * usize::from(h[0] & 0x3f);
    let rest = body.get(at..).ok_or(Skip::Truncated)?;
    match u16::from_be_bytes([h[2], h[3]]) {
        TRANSPARENT_ETHERNET => ethernet(rest, via),
        protocol => by_ethertype(protocol, rest, via),
    }
}

/// GTP-U (3GPP TS 29.281 section 5): flags (version 1, protocol type 1, then E, S and PN),
/// the message type (255 for a G-PDU, which carries a user packet; the others are
/// signalling), the length of what follows the first 8 bytes, the TEID. When any of E, S, PN
/// is set, 4 more bytes follow: sequence number, N-PDU number and the type of the next
/// extension header, read only when E is set. Each extension header (section 5.2) gives its
/// length in 4-byte units in its first byte and the next type in its last. The user packet
/// is IP when its version nibble says so.
fn gtp_u<'a>(body: &'a [u8], via: &mut Via) -> Result<&'a [u8], Skip> {
    *via |= Via::GTP_U;
    let h = body.get(..8).ok_or(Skip::Truncated)?;
    let flags = h[0];
    if flags >> 5 != 1 || flags & 0x10 == 0 || h[1] != 0xff {
        return Err(Skip::NotTcp);
    }
    let rest = &body[8..];
    let rest = rest
        .get(..usize::from(u16::from_be_bytes([h[2], h[3]])))
        .unwrap_or(rest);
    let mut at = 0;
    if flags & 0x07 != 0 {
        let optional = rest.get(..4).ok_or(Skip::Truncated)?;
        at = 4;
        if flags & 0x04 != 0 {
            let mut next = optional[3];
            let mut followed = 0;
            while next != 0 {
                if followed == MAX_GTP_EXTENSIONS {
                    return Err(Skip::Malformed);
                }
                followed += 1;
                let len = 4 * usize::from(*rest.get(at).ok_or(Skip::Truncated)?);
                if len == 0 {
                    return Err(Skip::Malformed);
                }
                next = *rest.get(at + len - 1).ok_or(Skip::Truncated)?;
                at += len;
            }
        }
    }
    ip_by_version(rest.get(at..).ok_or(Skip::Truncated)?)
}
