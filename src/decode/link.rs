//! Link layers: the few fixed offsets in front of the IP header, by link type.

use super::Skip;
use crate::capture::LinkType;

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
pub(super) fn ip_payload_of(link: LinkType, data: &[u8]) -> Result<&[u8], Skip> {
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
