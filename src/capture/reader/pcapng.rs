//! pcapng: blocks, interfaces and their timestamp resolutions (draft-ietf-opsawg-pcapng).

use super::*;

/// How one pcapng interface's timestamps become nanoseconds.
#[derive(Clone, Copy, Debug)]
enum TsScale {
    /// Units are 10^-d seconds with d <= 9: multiply by this.
    Mul(i128),
    /// Any other resolution: units per second (`None`: more than fits in u128, so every
    /// timestamp is below one second).
    PerSec(Option<u128>),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Iface {
    link: LinkType,
    snaplen: u32,
    scale: TsScale,
    /// if_tsoffset in nanoseconds (|value| < 2^94, so sums with timestamps fit in i128).
    offset_ns: i128,
}

impl Iface {
    /// The time of a packet block's timestamp `units`: nanoseconds since the epoch, computed
    /// exactly in 128 bits and then taken modulo 2^64 (as Wireshark would print it, modulo
    /// 2^64 ns). pcapng timestamps are unsigned, and at nanosecond resolution they run past
    /// i64 in 2262.
    fn timestamp(&self, units: u64) -> Timestamp {
        let ns: i128 = match self.scale {
            TsScale::Mul(m) => units as i128 * m,
            TsScale::PerSec(None) => 0,
            TsScale::PerSec(Some(per_sec)) => {
                let u = units as u128;
                let secs = u / per_sec;
                // frac < 2^64, so frac * 1e9 < 2^94: no overflow.
                let frac = u % per_sec;
                (secs * 1_000_000_000 + frac * 1_000_000_000 / per_sec) as i128
            }
        };
        // The exact value modulo 2^64: exact for 1677..2262, and beyond that range the
        // differences between frames stay right (saturating would make them all equal). A
        // writer that stores a negative time as an unsigned count of units gets it back.
        Timestamp((ns + self.offset_ns) as i64)
    }
}

/// The scale for an if_tsresol byte.
fn ts_scale(tsresol: u8) -> TsScale {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        if exp <= 9 {
            TsScale::Mul(10i128.pow(9 - exp))
        } else {
            TsScale::PerSec(10u128.checked_pow(exp))
        }
    } else {
        TsScale::PerSec(1u128.checked_shl(exp))
    }
}

impl Source {
    /// The section header block a pcapng file opens with: byte order, version, length.
    pub(super) fn read_shb_at_open(&mut self) -> Result<(), CaptureError> {
        let n = self.fill(12)?;
        if n < 12 {
            return Err(self.bad_header(format!(
                "pcapng section header cut short: {n} of at least 28 bytes"
            )));
        }
        let b = &self.buf[self.start..];
        let big = match rd32(&b[8..], false) {
            PCAPNG_BOM => false,
            x if x.swap_bytes() == PCAPNG_BOM => true,
            x => {
                return Err(
                    self.bad_header(format!("pcapng byte-order magic is {x:08x}, not 1a2b3c4d"))
                )
            }
        };
        let len = rd32(&b[4..], big) as usize;
        if len < 28 || !len.is_multiple_of(4) || len > MAX_RECORD {
            return Err(
                self.bad_header(format!("pcapng section header has bad block length {len}"))
            );
        }
        let n = self.fill(len)?;
        if n < len {
            return Err(self.bad_header(format!(
                "pcapng section header cut short: {n} of {len} bytes"
            )));
        }
        let b = &self.buf[self.start..self.start + len];
        let trail = rd32(&b[len - 4..], big) as usize;
        if trail != len {
            return Err(self.bad_header(format!(
                "pcapng section header length {len} does not match trailing length {trail}"
            )));
        }
        self.consume(len);
        self.file_format = FileFormat::Pcapng;
        self.format = Format::Pcapng {
            big,
            ifaces: Vec::new(),
        };
        Ok(())
    }

    // ----- pcapng blocks -----

    pub(super) fn next_pcapng(&mut self) -> Result<Option<Meta>, CaptureError> {
        loop {
            let Format::Pcapng { big, .. } = self.format else {
                return Ok(None);
            };
            let offset = self.position();
            let n = self.fill(12)?;
            if n == 0 {
                return Ok(None);
            }
            if n < 12 {
                self.set_damage(
                    offset,
                    format!("truncated block header: {n} of at least 12 bytes"),
                );
                return Ok(None);
            }
            let b = &self.buf[self.start..self.end];
            let btype = rd32(b, big);
            let mut order = big;
            if btype == PCAPNG_SHB {
                // A new section, possibly in the other byte order.
                order = match rd32(&b[8..], false) {
                    PCAPNG_BOM => false,
                    x if x.swap_bytes() == PCAPNG_BOM => true,
                    x => {
                        self.set_damage(
                            offset,
                            format!("section header with bad byte-order magic {x:08x}"),
                        );
                        return Ok(None);
                    }
                };
            }
            let len32 = rd32(&b[4..], order);
            let len = len32 as usize;
            let min = if btype == PCAPNG_SHB { 28 } else { 12 };
            if len < min || !len.is_multiple_of(4) || len > MAX_RECORD {
                self.set_damage(
                    offset,
                    format!("bad block length {len32} (block type {btype:#x})"),
                );
                return Ok(None);
            }
            let n = self.fill(len)?;
            if n < len {
                self.set_damage(
                    offset,
                    format!("truncated block: type {btype:#x}, {len} bytes announced, {n} present"),
                );
                return Ok(None);
            }
            let s = self.start;
            let blk = &self.buf[s..s + len];
            let trail = rd32(&blk[len - 4..], order);
            if trail != len32 {
                self.set_damage(
                    offset,
                    format!(
                        "block length {len32} does not match trailing length {trail} (block type {btype:#x})"
                    ),
                );
                return Ok(None);
            }
            let body = &blk[8..len - 4];
            match btype {
                PCAPNG_SHB => {
                    self.consume(len);
                    if let Format::Pcapng { big, ifaces } = &mut self.format {
                        *big = order;
                        ifaces.clear();
                    }
                }
                BT_IDB => {
                    if body.len() < 8 {
                        self.set_damage(offset, "interface description block too short".into());
                        return Ok(None);
                    }
                    let iface = parse_idb(body, big);
                    if !iface.link.is_supported() {
                        return Err(CaptureError::UnsupportedLinkType {
                            path: self.path.clone(),
                            link: iface.link,
                        });
                    }
                    self.consume(len);
                    if let Format::Pcapng { ifaces, .. } = &mut self.format {
                        ifaces.push(iface);
                    }
                }
                BT_EPB | BT_PB => {
                    if body.len() < 20 {
                        self.set_damage(offset, format!("packet block too short ({len} bytes)"));
                        return Ok(None);
                    }
                    let if_id = if btype == BT_EPB {
                        rd32(body, big)
                    } else {
                        u32::from(rd16(body, big))
                    };
                    let units =
                        (u64::from(rd32(&body[4..], big)) << 32) | u64::from(rd32(&body[8..], big));
                    let caplen = rd32(&body[12..], big);
                    let orig_len = rd32(&body[16..], big);
                    if caplen as usize > body.len() - 20 {
                        self.set_damage(
                            offset,
                            format!(
                                "packet block's captured length {caplen} exceeds its block ({len} bytes)"
                            ),
                        );
                        return Ok(None);
                    }
                    let Some(iface) = self.iface(if_id) else {
                        self.set_damage(
                            offset,
                            format!(
                                "packet block names interface {if_id}, which was not described"
                            ),
                        );
                        return Ok(None);
                    };
                    let ts = iface.timestamp(units);
                    self.consume(len);
                    return Ok(Some(Meta {
                        start: s + 8 + 20,
                        len: caplen as usize,
                        ts,
                        link: iface.link,
                        orig_len: orig_len.max(caplen),
                    }));
                }
                BT_SPB => {
                    if body.len() < 4 {
                        self.set_damage(
                            offset,
                            format!("simple packet block too short ({len} bytes)"),
                        );
                        return Ok(None);
                    }
                    let orig_len = rd32(body, big);
                    let room = body.len() - 4;
                    let Some(iface) = self.iface(0) else {
                        self.set_damage(
                            offset,
                            "simple packet block before any interface description".into(),
                        );
                        return Ok(None);
                    };
                    let mut caplen = (orig_len as usize).min(room);
                    if iface.snaplen != 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                    self.consume(len);
                    return Ok(Some(Meta {
                        start: s + 8 + 4,
                        len: caplen,
                        // A simple packet block has no timestamp.
                        ts: Timestamp(0),
                        link: iface.link,
                        orig_len: orig_len.max(caplen as u32),
                    }));
                }
                _ => self.consume(len),
            }
        }
    }

    fn iface(&self, id: u32) -> Option<Iface> {
        match &self.format {
            Format::Pcapng { ifaces, .. } => ifaces.get(id as usize).copied(),
            Format::Pcap { .. } => None,
        }
    }
}

/// Parses an interface description block body (after type and length, before the trailer).
fn parse_idb(body: &[u8], big: bool) -> Iface {
    let link = LinkType(u32::from(rd16(body, big)));
    let snaplen = rd32(&body[4..], big);
    let mut iface = Iface {
        link,
        snaplen,
        scale: TsScale::Mul(1_000),
        offset_ns: 0,
    };
    let mut opts = &body[8..];
    // Options: code (2), length (2), value padded to 4. A malformed option list is ignored
    // from the bad option on, as the packets are still readable.
    while opts.len() >= 4 {
        let code = rd16(opts, big);
        let olen = rd16(&opts[2..], big) as usize;
        if code == 0 {
            break;
        }
        let padded = olen.div_ceil(4) * 4;
        if opts.len() < 4 + padded {
            break;
        }
        let val = &opts[4..4 + olen];
        match (code, olen) {
            (9, 1) => iface.scale = ts_scale(val[0]),
            (14, 8) => {
                let secs = rd64(val, big) as i64;
                iface.offset_ns = i128::from(secs) * 1_000_000_000;
            }
            _ => {}
        }
        opts = &opts[4 + padded..];
    }
    iface
}
