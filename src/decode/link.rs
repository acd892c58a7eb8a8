//! Link layers and what rides directly on them: the few fixed offsets in front of the IP
//! header by link type, VLAN tags, MPLS label stacks and PPPoE sessions.
//!
//! Every function here ends at an IP packet or a [`Skip`]. None leads back to an Ethernet
//! header, so the only repetition is over VLAN tags and MPLS labels, each bounded.

use super::{Skip, Via};
use crate::capture::LinkType;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MULTICAST: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;
/// More stacked VLAN tags than this is not a real network.
const MAX_VLAN_TAGS: usize = 8;
/// Nor is a deeper MPLS label stack (real ones hold two to five labels).
const MAX_MPLS_LABELS: usize = 16;

#[inline]
pub(super) fn be16(b: &[u8], at: usize) -> Option<u16> {
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
pub(super) fn ip_packet<'a>(
    link: LinkType,
    data: &'a [u8],
    via: &mut Via,
) -> Result<&'a [u8], Skip> {
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
    let rest = data.get(at..).ok_or(Skip::Truncated)?;
    match ethertype {
        ETH_IPV4 | ETH_IPV6 => Ok(rest),
        other => by_ethertype(other, rest, via),
    }
}

/// The IP packet inside an Ethernet frame that starts at its destination address: the frames
/// that VXLAN, Geneve, ERSPAN and GRE's transparent Ethernet bridging carry.
pub(super) fn ethernet<'a>(frame: &'a [u8], via: &mut Via) -> Result<&'a [u8], Skip> {
    let (ethertype, at) = skip_vlans(frame, 12)?;
    let rest = frame.get(at..).ok_or(Skip::Truncated)?;
    match ethertype {
        ETH_IPV4 | ETH_IPV6 => Ok(rest),
        other => by_ethertype(other, rest, via),
    }
}

/// What follows an ethertype: VLAN tags (when GRE or Geneve names one), IP, an MPLS label
/// stack or a PPPoE session. GRE's and Geneve's protocol type fields are ethertypes too.
/// Kept out of line: the common path (IPv4 or IPv6 straight after the link header) never
/// comes here.
#[inline(never)]
pub(super) fn by_ethertype<'a>(
    mut ethertype: u16,
    mut rest: &'a [u8],
    via: &mut Via,
) -> Result<&'a [u8], Skip> {
    if matches!(ethertype, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
        // A tag's two bytes of TCI, then the next ethertype.
        let (next, at) = skip_vlans(rest, 2)?;
        ethertype = next;
        rest = rest.get(at..).ok_or(Skip::Truncated)?;
    }
    match ethertype {
        ETH_IPV4 | ETH_IPV6 => Ok(rest),
        ETH_MPLS | ETH_MPLS_MULTICAST => mpls(rest, via),
        ETH_PPPOE_SESSION => pppoe_session(rest, via),
        _ => Err(Skip::NotTcp),
    }
}

/// An MPLS label stack (RFC 3032 section 2.1): 4-byte entries, the last one with the
/// bottom-of-stack bit S. The stack does not say what follows it (the label implies that);
/// IPv4 and IPv6 are told by the version nibble, as MPLS routers do when they hash packets
/// over equal-cost paths (RFC 4928 section 2). A pseudowire control word (first nibble 0,
/// RFC 4385) and the Ethernet frame that may follow it are not decoded: the nibble alone
/// cannot tell an Ethernet pseudowire from any other.
fn mpls<'a>(rest: &'a [u8], via: &mut Via) -> Result<&'a [u8], Skip> {
    *via |= Via::MPLS;
    for i in 0..MAX_MPLS_LABELS {
        let entry = rest.get(i * 4..i * 4 + 4).ok_or(Skip::Truncated)?;
        if entry[2] & 0x01 != 0 {
            return ip_by_version(&rest[i * 4 + 4..]);
        }
    }
    Err(Skip::Malformed)
}

/// A packet that is IP if its version nibble says so (MPLS, GTP-U and ERSPAN payloads).
pub(super) fn ip_by_version(p: &[u8]) -> Result<&[u8], Skip> {
    match p.first().ok_or(Skip::Truncated)? >> 4 {
        4 | 6 => Ok(p),
        _ => Err(Skip::NotTcp),
    }
}

/// A PPPoE session-stage packet (RFC 2516 sections 4 and 6): VER 1 and TYPE 1 in one byte,
/// CODE 0, the session id, and the length of the PPP frame that follows, which bounds it
/// (a frame cut by the capture is shorter). Then PPP's protocol field (RFC 1661 section 2):
/// 0x0021 is IPv4 (RFC 1332), 0x0057 IPv6 (RFC 5072 section 3). The field may be compressed
/// to one byte (RFC 1661 section 6.5), which shows as an odd first byte.
fn pppoe_session<'a>(rest: &'a [u8], via: &mut Via) -> Result<&'a [u8], Skip> {
    *via |= Via::PPPOE;
    let h = rest.get(..6).ok_or(Skip::Truncated)?;
    if h[0] != 0x11 || h[1] != 0 {
        return Err(Skip::Malformed);
    }
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if len < 2 {
        return Err(Skip::Malformed);
    }
    let ppp = &rest[6..];
    let ppp = ppp.get(..len).unwrap_or(ppp);
    let first = *ppp.first().ok_or(Skip::Truncated)?;
    let (protocol, at) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        (be16(ppp, 0).ok_or(Skip::Truncated)?, 2)
    };
    match protocol {
        0x0021 | 0x0057 => Ok(&ppp[at..]),
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
