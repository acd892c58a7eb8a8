//! Unit tests of the capture reader over constructed files.

use std::io::Read;
use std::path::Path;

use super::*;

/// Chunk sizes every reading test runs with: tiny ones make nearly every record straddle
/// the end of the buffered data.
const CHUNKS: &[usize] = &[1, 3, 7, 16, 61, 4096, DEFAULT_CHUNK];

#[derive(Debug, PartialEq, Eq, Clone)]
struct Got {
    ts: i64,
    link: u32,
    data: Vec<u8>,
    orig_len: u32,
}

/// Reads everything; returns the frames and the damage.
fn read_all_chunk(bytes: &[u8], chunk: usize) -> (Vec<Got>, Option<Damage>, u64) {
    let mut src = Source::from_reader_with_chunk(std::io::Cursor::new(bytes.to_vec()), "t", chunk)
        .expect("open");
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().expect("next_frame") {
        out.push(Got {
            ts: f.ts.0,
            link: f.link.0,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
    }
    // Stays at the end.
    assert!(src.next_frame().unwrap().is_none());
    (out, src.damage().cloned(), src.position())
}

/// Reads with every chunk size and checks they all agree.
fn read_all(bytes: &[u8]) -> (Vec<Got>, Option<Damage>) {
    let (first, dmg, pos) = read_all_chunk(bytes, CHUNKS[0]);
    for &c in &CHUNKS[1..] {
        let (f, d, p) = read_all_chunk(bytes, c);
        assert_eq!(f, first, "chunk {c}");
        assert_eq!(d, dmg, "chunk {c}");
        assert_eq!(p, pos, "chunk {c}");
    }
    if dmg.is_none() {
        assert_eq!(pos, bytes.len() as u64, "consumed everything");
    }
    (first, dmg)
}

fn open_err(bytes: &[u8]) -> CaptureError {
    Source::from_reader(std::io::Cursor::new(bytes.to_vec()), "t").expect_err("should not open")
}

// ---------- builders ----------

struct W {
    big: bool,
    b: Vec<u8>,
}

impl W {
    fn new(big: bool) -> Self {
        W { big, b: Vec::new() }
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&a);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&a);
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&a);
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.b.extend_from_slice(v);
        self
    }
    fn pad4(&mut self) -> &mut Self {
        while !self.b.len().is_multiple_of(4) {
            self.b.push(0);
        }
        self
    }
}

fn pcap_header(magic: u32, big: bool, snaplen: u32, link: u32) -> Vec<u8> {
    let mut w = W::new(big);
    w.u32(magic)
        .u16(2)
        .u16(4)
        .u32(0)
        .u32(0)
        .u32(snaplen)
        .u32(link);
    w.b
}

fn pcap_record(big: bool, sec: u32, frac: u32, data: &[u8], orig: u32, extra: usize) -> Vec<u8> {
    let mut w = W::new(big);
    w.u32(sec).u32(frac).u32(data.len() as u32).u32(orig);
    w.bytes(&vec![0xEE; extra]);
    w.bytes(data);
    w.b
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A pcapng block with the given body (padded to 4).
fn block(big: bool, btype: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut w = W::new(big);
    w.u32(btype).u32(total).bytes(body).pad4().u32(total);
    w.b
}

fn shb(big: bool) -> Vec<u8> {
    let mut body = W::new(big);
    body.u32(0x1a2b3c4d).u16(1).u16(0).u64(u64::MAX);
    // An shb_userappl option, to be ignored.
    body.u16(4).u16(5).bytes(b"tests").pad4().u16(0).u16(0);
    block(big, 0x0a0d0d0a, &body.b)
}

/// An IDB with optional if_tsresol and if_tsoffset.
fn idb(big: bool, link: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
    let mut body = W::new(big);
    body.u16(link).u16(0).u32(snaplen);
    // if_name first, to check option walking.
    body.u16(2).u16(3).bytes(b"eth").pad4();
    if let Some(r) = tsresol {
        body.u16(9).u16(1).bytes(&[r]).pad4();
    }
    if let Some(o) = tsoffset {
        body.u16(14).u16(8).u64(o as u64);
    }
    body.u16(0).u16(0);
    block(big, 1, &body.b)
}

fn epb(big: bool, iface: u32, units: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut body = W::new(big);
    body.u32(iface)
        .u32((units >> 32) as u32)
        .u32(units as u32)
        .u32(data.len() as u32)
        .u32(orig)
        .bytes(data)
        .pad4();
    // An epb_flags option.
    body.u16(2).u16(4).u32(1).u16(0).u16(0);
    block(big, 6, &body.b)
}

fn obsolete_pb(big: bool, iface: u16, units: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut body = W::new(big);
    body.u16(iface)
        .u16(0)
        .u32((units >> 32) as u32)
        .u32(units as u32)
        .u32(data.len() as u32)
        .u32(orig)
        .bytes(data);
    block(big, 2, &body.b)
}

fn spb(big: bool, orig: u32, data: &[u8]) -> Vec<u8> {
    let mut body = W::new(big);
    body.u32(orig).bytes(data);
    block(big, 3, &body.b)
}

// ---------- pcap ----------

#[test]
fn pcap_all_magics_and_byte_orders() {
    for big in [false, true] {
        for (magic, nanos) in [(0xa1b2c3d4u32, false), (0xa1b23c4d, true)] {
            let mut f = pcap_header(magic, big, 65535, 1);
            let p1 = payload(60, 1);
            let p2 = payload(1514, 2);
            f.extend(pcap_record(big, 1_700_000_000, 123_456, &p1, 60, 0));
            f.extend(pcap_record(big, 1_700_000_001, 999_999, &p2, 3000, 0));
            f.extend(pcap_record(big, 0, 0, &[], 0, 0));
            let (frames, dmg) = read_all(&f);
            assert!(dmg.is_none(), "{dmg:?}");
            let m = if nanos { 1 } else { 1000 };
            assert_eq!(
                frames,
                vec![
                    Got {
                        ts: 1_700_000_000_000_000_000 + 123_456 * m,
                        link: 1,
                        data: p1,
                        orig_len: 60
                    },
                    Got {
                        ts: 1_700_000_001_000_000_000 + 999_999 * m,
                        link: 1,
                        data: p2,
                        orig_len: 3000
                    },
                    Got {
                        ts: 0,
                        link: 1,
                        data: vec![],
                        orig_len: 0
                    },
                ],
                "big={big} magic={magic:x}"
            );
            let src = Source::from_reader(std::io::Cursor::new(f.clone()), "t").unwrap();
            assert_eq!(
                src.format(),
                if nanos {
                    FileFormat::PcapNanos
                } else {
                    FileFormat::Pcap
                }
            );
        }
    }
}

#[test]
fn pcap_max_timestamp_does_not_overflow() {
    let mut f = pcap_header(0xa1b2c3d4, false, 65535, 1);
    f.extend(pcap_record(false, u32::MAX, u32::MAX, b"x", 1, 0));
    let mut g = pcap_header(0xa1b23c4d, true, 65535, 1);
    g.extend(pcap_record(true, u32::MAX, u32::MAX, b"x", 1, 0));
    assert_eq!(
        read_all(&f).0[0].ts,
        u32::MAX as i64 * 1_000_000_000 + u32::MAX as i64 * 1000
    );
    assert_eq!(
        read_all(&g).0[0].ts,
        u32::MAX as i64 * 1_000_000_000 + u32::MAX as i64
    );
}

#[test]
fn pcap_modified_kuznetzov() {
    for big in [false, true] {
        let mut f = pcap_header(0xa1b2cd34, big, 262144, 113);
        let p1 = payload(44, 3);
        let p2 = payload(70, 4);
        f.extend(pcap_record(big, 10, 20, &p1, 44, 8));
        f.extend(pcap_record(big, 11, 21, &p2, 100, 8));
        let (frames, dmg) = read_all(&f);
        assert!(dmg.is_none());
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].data, p1);
        assert_eq!(frames[0].link, 113);
        assert_eq!(frames[0].ts, 10_000_020_000);
        assert_eq!(frames[1].data, p2);
        assert_eq!(frames[1].orig_len, 100);
        let src = Source::from_reader(std::io::Cursor::new(f), "t").unwrap();
        assert_eq!(src.format(), FileFormat::PcapModified);
    }
}

#[test]
fn pcap_link_type_fcs_bits_are_masked() {
    // Bit 26 (F) set and FCS length 4 in bits 28-31, Ethernet underneath.
    let mut f = pcap_header(0xa1b2c3d4, false, 65535, 0x4400_0001);
    f.extend(pcap_record(false, 1, 2, b"abcd", 4, 0));
    let (frames, _) = read_all(&f);
    assert_eq!(frames[0].link, 1);
}

#[test]
fn pcap_unsupported_link_type() {
    let mut f = pcap_header(0xa1b2c3d4, true, 65535, 105);
    f.extend(pcap_record(true, 1, 2, b"abcd", 4, 0));
    match open_err(&f) {
        CaptureError::UnsupportedLinkType { link, .. } => assert_eq!(link, LinkType(105)),
        e => panic!("{e:?}"),
    }
    // Reserved bits 16-25 set: not a link type we know.
    let f = pcap_header(0xa1b2c3d4, false, 65535, 0x0001_0001);
    assert!(matches!(
        open_err(&f),
        CaptureError::UnsupportedLinkType { .. }
    ));
}

#[test]
fn pcap_header_only_and_empty_input() {
    for f in [
        pcap_header(0xa1b2c3d4, false, 65535, 1),
        pcap_header(0xa1b23c4d, true, 0, 101),
        Vec::new(),
    ] {
        let (frames, dmg) = read_all(&f);
        assert!(frames.is_empty());
        assert!(dmg.is_none());
    }
}

#[test]
fn pcap_truncated_last_record() {
    let mut f = pcap_header(0xa1b2c3d4, false, 65535, 1);
    f.extend(pcap_record(false, 1, 0, &payload(100, 0), 100, 0));
    f.extend(pcap_record(false, 2, 0, &payload(200, 0), 200, 0));
    let bad_at = f.len();
    f.extend(pcap_record(false, 3, 0, &payload(300, 0), 300, 0));
    f.truncate(f.len() - 17);
    let (frames, dmg) = read_all(&f);
    assert_eq!(frames.len(), 2);
    let d = dmg.expect("damage");
    assert_eq!(d.offset, bad_at as u64);
    assert_eq!(d.offset, 24 + 116 + 216);
    assert_eq!(d.bytes_skipped, (16 + 300 - 17) as u64);
    assert!(d.what.contains("truncated"), "{}", d.what);

    // Cut inside the record header.
    f.truncate(bad_at + 5);
    let (frames, dmg) = read_all(&f);
    assert_eq!(frames.len(), 2);
    let d = dmg.expect("damage");
    assert_eq!((d.offset, d.bytes_skipped), (bad_at as u64, 5));
}

#[test]
fn pcap_bogus_caplen_and_garbage() {
    // caplen larger than the snaplen and libpcap's maximum.
    let mut f = pcap_header(0xa1b2c3d4, false, 65535, 1);
    f.extend(pcap_record(false, 1, 0, b"hello", 5, 0));
    let bad_at = f.len() as u64;
    let mut w = W::new(false);
    w.u32(5).u32(0).u32(300_000).u32(300_000).bytes(&[0; 40]);
    f.extend(&w.b);
    let (frames, dmg) = read_all(&f);
    assert_eq!(frames.len(), 1);
    let d = dmg.unwrap();
    assert_eq!((d.offset, d.bytes_skipped), (bad_at, 56));

    // A caplen of 4 GiB must not make it allocate.
    let mut f = pcap_header(0xa1b2c3d4, false, u32::MAX, 1);
    let mut w = W::new(false);
    w.u32(5).u32(0).u32(u32::MAX).u32(u32::MAX).bytes(&[0; 8]);
    f.extend(&w.b);
    let (frames, dmg) = read_all(&f);
    assert!(frames.is_empty());
    assert_eq!(dmg.unwrap().offset, 24);

    // caplen above a small snaplen but within libpcap's 262144 is accepted.
    let mut f = pcap_header(0xa1b2c3d4, false, 64, 1);
    f.extend(pcap_record(false, 1, 0, &payload(1500, 9), 1500, 0));
    let (frames, dmg) = read_all(&f);
    assert!(dmg.is_none());
    assert_eq!(frames[0].data.len(), 1500);

    // Text appended after the last packet.
    let mut f = pcap_header(0xa1b2c3d4, true, 65535, 1);
    f.extend(pcap_record(true, 1, 0, b"hello", 5, 0));
    let bad_at = f.len() as u64;
    f.extend(b"this is not a pcap record, just some text appended to the file\n");
    let (frames, dmg) = read_all(&f);
    assert_eq!(frames.len(), 1);
    let d = dmg.unwrap();
    assert_eq!(d.offset, bad_at);
    assert_eq!(d.bytes_skipped, f.len() as u64 - bad_at);
}

#[test]
fn pcap_record_larger_than_chunk_grows_buffer() {
    let mut f = pcap_header(0xa1b2c3d4, false, 262144, 1);
    let big = payload(200_000, 7);
    f.extend(pcap_record(false, 1, 0, &payload(10, 1), 10, 0));
    f.extend(pcap_record(false, 1, 0, &big, 200_000, 0));
    f.extend(pcap_record(false, 1, 0, &payload(10, 2), 10, 0));
    for chunk in [16, 1000, 65536] {
        let (frames, dmg, _) = read_all_chunk(&f, chunk);
        assert!(dmg.is_none());
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].data, big);
    }
}

// ---------- pcapng ----------

/// Two sections of opposite byte order; the first has two interfaces of different link
/// types and resolutions, the second one interface with 2^-20 resolution and an offset.
fn two_section_pcapng() -> (Vec<u8>, Vec<Got>) {
    let mut f = Vec::new();
    let mut want = Vec::new();
    // Section 1, little-endian.
    f.extend(shb(false));
    f.extend(idb(false, 1, 65535, None, None)); // microseconds
    f.extend(idb(false, 113, 0, Some(9), None)); // nanoseconds
                                                 // A name resolution block and a custom block to skip.
    f.extend(block(
        false,
        4,
        &[1, 0, 8, 0, 10, 0, 0, 1, b'h', b'o', b's', b't', 0, 0, 0, 0],
    ));
    f.extend(block(false, 0x0000_0BAD, &[0xAB; 20]));
    let a = payload(60, 1);
    f.extend(epb(false, 0, 1_700_000_000_123_456, &a, 60));
    want.push(Got {
        ts: 1_700_000_000_123_456_000,
        link: 1,
        data: a,
        orig_len: 60,
    });
    let b = payload(33, 2);
    f.extend(epb(false, 1, 1_700_000_000_123_456_789, &b, 1000));
    want.push(Got {
        ts: 1_700_000_000_123_456_789,
        link: 113,
        data: b,
        orig_len: 1000,
    });
    // An interface statistics block.
    let mut isb = W::new(false);
    isb.u32(0).u32(0).u32(0).u16(0).u16(0);
    f.extend(block(false, 5, &isb.b));
    let c = payload(1, 3);
    f.extend(obsolete_pb(false, 1, 5, &c, 1));
    want.push(Got {
        ts: 5,
        link: 113,
        data: c,
        orig_len: 1,
    });

    // Section 2, big-endian: interfaces start over.
    f.extend(shb(true));
    f.extend(idb(true, 101, 64, Some(0x80 | 20), Some(-3600)));
    // 1.5 s plus one unit (1/1048576 s = 953.67 ns, truncated).
    let units = (1_700_000_000u64 << 20) + (1 << 19) + 1;
    let d = payload(64, 4);
    f.extend(epb(true, 0, units, &d, 1500));
    want.push(Got {
        ts: (1_700_000_000 - 3600) * 1_000_000_000 + 500_000_000 + 953,
        link: 101,
        data: d,
        orig_len: 1500,
    });
    // SPB: caplen = min(orig_len, snaplen 64, room).
    let e = payload(100, 5);
    f.extend(spb(true, 100, &e));
    want.push(Got {
        ts: 0,
        link: 101,
        data: e[..64].to_vec(),
        orig_len: 100,
    });
    let g = payload(10, 6);
    f.extend(spb(true, 7, &g)); // orig_len below the room: padding is not data
    want.push(Got {
        ts: 0,
        link: 101,
        data: g[..7].to_vec(),
        orig_len: 7,
    });
    (f, want)
}

#[test]
fn pcapng_two_sections_two_interfaces() {
    let (f, want) = two_section_pcapng();
    let (frames, dmg) = read_all(&f);
    assert!(dmg.is_none(), "{dmg:?}");
    assert_eq!(frames, want);
    let src = Source::from_reader(std::io::Cursor::new(f), "t").unwrap();
    assert_eq!(src.format(), FileFormat::Pcapng);
}

#[test]
fn pcapng_interface_of_previous_section_is_gone() {
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, None, None));
    f.extend(idb(false, 1, 0, None, None));
    f.extend(epb(false, 1, 1, b"abc", 3));
    f.extend(shb(false));
    f.extend(idb(false, 1, 0, None, None));
    f.extend(epb(false, 0, 1, b"abc", 3));
    let bad_at = f.len() as u64;
    f.extend(epb(false, 1, 1, b"abc", 3));
    let (frames, dmg) = read_all(&f);
    assert_eq!(frames.len(), 2);
    let d = dmg.unwrap();
    assert_eq!(d.offset, bad_at);
    assert_eq!(d.bytes_skipped, f.len() as u64 - bad_at);
    assert!(d.what.contains("interface 1"), "{}", d.what);
}

#[test]
fn pcapng_timestamp_resolutions() {
    let cases: &[(Option<u8>, Option<i64>, u64, i64)] = &[
        (None, None, 1_000_001, 1_000_001_000),
        (Some(6), None, 7, 7_000),
        (Some(0), None, 2, 2_000_000_000),
        (Some(3), Some(10), 1, 10_001_000_000),
        (Some(9), Some(-20), 5, -19_999_999_995),
        // Picoseconds: truncated to nanoseconds.
        (Some(12), None, 1_234_567_890_123, 1_234_567_890),
        // 2^-10: 1024 units per second.
        (Some(0x80 | 10), None, 1024 * 3 + 512, 3_500_000_000),
        (Some(0x80), None, 4, 4_000_000_000),
        // Absurd resolutions: everything is below a nanosecond.
        (Some(127), None, u64::MAX, 0),
        (Some(0x80 | 127), None, u64::MAX, 0),
        // Out of i64 range: modulo 2^64, no overflow panic. u64::MAX seconds is -1 s mod 2^64.
        (Some(0), None, u64::MAX, -1_000_000_000),
        // A negative time stored as unsigned microseconds (as in PcapPlusPlus's
        // pcapng-example.pcapng) comes back negative.
        (
            Some(6),
            None,
            0u64.wrapping_sub(505_425_287),
            -505_425_287_000,
        ),
        // (2^63 - 1) s + 1 us: 2^63 * 1e9 is 0 mod 2^64.
        (Some(6), Some(i64::MAX), 1, -1_000_000_000 + 1_000),
        (Some(6), Some(i64::MIN), 1, 1_000),
    ];
    for &(res, off, units, want) in cases {
        for big in [false, true] {
            let mut f = shb(big);
            f.extend(idb(big, 1, 0, res, off));
            f.extend(epb(big, 0, units, b"x", 1));
            let (frames, dmg) = read_all(&f);
            assert!(dmg.is_none());
            assert_eq!(
                frames[0].ts, want,
                "tsresol {res:?} offset {off:?} units {units}"
            );
        }
    }
}

#[test]
fn pcapng_header_only() {
    let (frames, dmg) = read_all(&shb(true));
    assert!(frames.is_empty() && dmg.is_none());
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, None, None));
    let (frames, dmg) = read_all(&f);
    assert!(frames.is_empty() && dmg.is_none());
}

#[test]
fn pcapng_truncated_last_block() {
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, None, None));
    f.extend(epb(false, 0, 1, &payload(100, 0), 100));
    let bad_at = f.len();
    f.extend(epb(false, 0, 2, &payload(100, 0), 100));
    let full = f.len();
    for cut in [1, 4, 11, 12, 50, full - bad_at - 1] {
        let (frames, dmg) = read_all(&f[..full - cut]);
        assert_eq!(frames.len(), 1);
        let d = dmg.expect("damage");
        assert_eq!(d.offset, bad_at as u64);
        assert_eq!(d.bytes_skipped, (full - cut - bad_at) as u64);
    }
}

#[test]
fn pcapng_bad_block_lengths() {
    let mut base = shb(false);
    base.extend(idb(false, 1, 0, None, None));
    base.extend(epb(false, 0, 1, b"abc", 3));
    let bad_at = base.len() as u64;
    let good = epb(false, 0, 2, b"defg", 4);

    let mut not_mult4 = good.clone();
    not_mult4[4] += 1;
    let mut too_small = good.clone();
    too_small[4..8].copy_from_slice(&8u32.to_le_bytes());
    let mut huge = good.clone();
    huge[4..8].copy_from_slice(&0xFFFF_FFFCu32.to_le_bytes());
    let mut trailer = good.clone();
    let n = trailer.len();
    trailer[n - 4] ^= 4;
    let mut caplen_too_big = good.clone();
    caplen_too_big[20..24].copy_from_slice(&1000u32.to_le_bytes());
    let mut bad_shb = shb(false);
    bad_shb[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let short_epb = block(false, 6, &[0; 16]);
    let short_idb = block(false, 1, &[1, 0, 0, 0]);
    let spb_no_iface = {
        let mut v = shb(false);
        v.extend(spb(false, 3, b"abc"));
        v
    };

    for (name, tail, what) in [
        (
            "not a multiple of 4",
            not_mult4,
            "bad block length 49 (block type 0x6)",
        ),
        ("below 12", too_small, "bad block length 8"),
        ("huge", huge, "bad block length 4294967292"),
        (
            "trailer mismatch",
            trailer,
            "does not match trailing length",
        ),
        ("caplen beyond block", caplen_too_big, "exceeds its block"),
        ("bad byte-order magic", bad_shb, "byte-order magic 04030201"),
        ("short epb", short_epb, "packet block too short"),
        (
            "short idb",
            short_idb,
            "interface description block too short",
        ),
        (
            "spb without interface",
            spb_no_iface,
            "before any interface",
        ),
    ] {
        let mut f = base.clone();
        f.extend(&tail);
        f.extend(&good); // a good block after the bad one is not read
        let (frames, dmg) = read_all(&f);
        assert_eq!(frames.len(), 1, "{name}");
        let d = dmg.unwrap_or_else(|| panic!("{name}: no damage"));
        let at = if name == "spb without interface" {
            bad_at + shb(false).len() as u64
        } else {
            bad_at
        };
        assert_eq!(d.offset, at, "{name}");
        assert_eq!(d.bytes_skipped, f.len() as u64 - at, "{name}");
        assert!(d.what.contains(what), "{name}: {}", d.what);
    }
}

#[test]
fn pcapng_unsupported_interface_is_an_error_when_read() {
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, None, None));
    f.extend(epb(false, 0, 1, b"abc", 3));
    f.extend(idb(false, 127, 0, None, None)); // radiotap
    f.extend(epb(false, 1, 1, b"abc", 3));
    let mut src = Source::from_reader_with_chunk(std::io::Cursor::new(f), "t", 5).unwrap();
    assert!(src.next_frame().unwrap().is_some());
    match src.next_frame() {
        Err(CaptureError::UnsupportedLinkType { link, .. }) => assert_eq!(link, LinkType(127)),
        other => panic!("{other:?}"),
    }
    assert!(src.next_frame().unwrap().is_none());
}

#[test]
fn pcapng_large_skipped_block_and_large_packet() {
    let mut f = shb(true);
    f.extend(block(true, 0x8000_0001, &vec![7u8; 300_000]));
    f.extend(idb(true, 1, 0, None, None));
    let big = payload(100_003, 1);
    f.extend(epb(true, 0, 1, &big, 100_003));
    for chunk in [64, 4096, 1 << 20] {
        let (frames, dmg, pos) = read_all_chunk(&f, chunk);
        assert!(dmg.is_none());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, big);
        assert_eq!(pos, f.len() as u64);
    }
}

// ---------- not a capture, bad headers ----------

#[test]
fn not_a_capture() {
    for (bytes, want) in [
        (
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "47 45 54 20 2f 20 48 54 (looks like text)",
        ),
        (
            &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6][..],
            "1f 8b 08 00 01 02 03 04 (gzip-compressed; decompress it first)",
        ),
        (&[0xa1, 0xb2][..], "a1 b2"),
        (
            &[
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ][..],
            "00 00 00 00 00 00 00 00",
        ),
    ] {
        match open_err(bytes) {
            CaptureError::NotACapture { magic, path } => {
                assert_eq!(magic, want);
                assert_eq!(path, Path::new("t"));
            }
            e => panic!("{e:?}"),
        }
    }
}

#[test]
fn bad_headers() {
    let h = pcap_header(0xa1b2c3d4, false, 65535, 1);
    for n in [4, 10, 23] {
        assert!(
            matches!(open_err(&h[..n]), CaptureError::BadHeader { .. }),
            "{n}"
        );
    }
    let s = shb(false);
    for n in [4, 11, 12, 27, s.len() - 1] {
        assert!(
            matches!(open_err(&s[..n]), CaptureError::BadHeader { .. }),
            "{n}"
        );
    }
    let mut s2 = s.clone();
    s2[8..12].copy_from_slice(b"ABCD");
    assert!(matches!(open_err(&s2), CaptureError::BadHeader { .. }));
    let mut s3 = s.clone();
    s3[4] = 13;
    assert!(matches!(open_err(&s3), CaptureError::BadHeader { .. }));
    let mut s4 = s.clone();
    let n = s4.len();
    s4[n - 1] = 9;
    assert!(matches!(open_err(&s4), CaptureError::BadHeader { .. }));
}

// ---------- files, positions, robustness ----------

#[test]
fn file_input_reports_length_position_and_damage() {
    let mut f = pcap_header(0xa1b2c3d4, false, 65535, 1);
    f.extend(pcap_record(false, 1, 0, &payload(100, 0), 100, 0));
    let bad_at = f.len() as u64;
    f.extend(pcap_record(false, 2, 0, &payload(5000, 0), 5000, 0));
    f.truncate(f.len() - 1000);
    let path = std::env::temp_dir().join(format!(
        "connscope-capture-test-{}.pcap",
        std::process::id()
    ));
    std::fs::write(&path, &f).unwrap();
    for chunk in [7, 100, 1 << 20] {
        let mut src = Source::open_with_chunk(&path, chunk).unwrap();
        assert_eq!(src.total_len(), Some(f.len() as u64));
        assert_eq!(src.path(), path.as_path());
        assert_eq!(src.position(), 24);
        assert!(src.next_frame().unwrap().is_some());
        assert_eq!(src.position(), bad_at);
        assert!(src.next_frame().unwrap().is_none());
        let d = src.damage().unwrap();
        assert_eq!(d.offset, bad_at);
        assert_eq!(d.bytes_skipped, f.len() as u64 - bad_at);
        assert_eq!(d.path, path);
        assert!(d.to_string().contains("damaged at byte 140"), "{d}");
    }
    std::fs::remove_file(&path).ok();
    match Source::open(Path::new("/nonexistent/connscope.pcap")) {
        Err(CaptureError::Io { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// A reader that returns at most a few bytes per call, like a slow pipe.
struct Dribble(Vec<u8>, usize);

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len() - self.1).min(1 + self.1 % 5);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

#[test]
fn short_reads_are_handled() {
    let (f, want) = two_section_pcapng();
    let mut src = Source::from_reader(Dribble(f, 0), "-").unwrap();
    let mut got = Vec::new();
    while let Some(fr) = src.next_frame().unwrap() {
        got.push(fr.data.to_vec());
    }
    assert_eq!(got, want.into_iter().map(|g| g.data).collect::<Vec<_>>());
}

/// Every prefix and many byte corruptions of valid files: no panic, no hang, and whatever
/// is read is a prefix-consistent set of frames.
#[test]
fn mutations_never_panic() {
    let (ng, _) = two_section_pcapng();
    let mut pc = pcap_header(0xa1b2cd34, true, 65535, 1);
    for i in 0..5u8 {
        pc.extend(pcap_record(
            true,
            i as u32,
            0,
            &payload(40 + i as usize, i),
            50,
            8,
        ));
    }
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for file in [&ng, &pc] {
        for cut in 0..=file.len() {
            exercise(&file[..cut], 13);
        }
        for _ in 0..3000 {
            let mut m = file.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            exercise(&m, 1 + (next() as usize % 50));
        }
    }
}

fn exercise(bytes: &[u8], chunk: usize) {
    if let Ok(mut src) =
        Source::from_reader_with_chunk(std::io::Cursor::new(bytes.to_vec()), "m", chunk)
    {
        let mut n = 0;
        while let Ok(Some(f)) = src.next_frame() {
            assert!(f.data.len() <= bytes.len());
            n += 1;
            assert!(n <= bytes.len());
        }
        assert!(src.position() <= bytes.len() as u64);
        if let Some(d) = src.damage() {
            assert_eq!(d.offset + d.bytes_skipped, bytes.len() as u64);
        }
    }
}

#[test]
fn source_and_filter_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Source>();
    assert_send::<Filter>();
}
