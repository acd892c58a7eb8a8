//! Arbitrary sequences of TCP segments through the flow table (reassembly, connection state,
//! HTTP on top), with a no-op `FlowEvents`. See `connscope_fuzz::Input` for the layout: the
//! segments' payloads are cut from a client and a server stream at the offsets the
//! operations give, so seeds of real streams exercise real HTTP.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use connscope::time::Timestamp;
use connscope::decode::{tcp_flags as f, Endpoint, Segment};
use connscope::flow::{Connection, FlowEvents, FlowTable, Limits};
use connscope::proto::{self, Conversation};
use connscope_fuzz::Input;
use libfuzzer_sys::fuzz_target;

struct NoEvents;

impl FlowEvents<Conversation> for NoEvents {
    fn app_output(&mut self, conn: &mut Connection<Conversation>, _frame: u64) {
        conn.app.take_exchanges(drop);
    }
    fn finished(&mut self, _conn: Connection<Conversation>, _frame: u64) {}
}

#[derive(Arbitrary, Debug, Default)]
struct Params {
    /// Initial sequence numbers (0 means: just below 2^32, so wraparound is exercised).
    isn: [u32; 2],
    /// Out-of-order bytes held per direction (0: default), and connections at once (0: default).
    held: u16,
    max_connections: u8,
    detail: bool,
}

#[derive(Arbitrary, Debug)]
struct Seg {
    server: bool,
    /// Which of a few 4-tuples (bit 2: IPv6).
    conn: u8,
    /// Offset in the side's stream (relative to ISN + 1), or the raw sequence number.
    off: u32,
    raw_seq: bool,
    len: u16,
    flags: u8,
    /// Acknowledgement, relative to the peer's ISN + 1.
    ack: u32,
    /// Microseconds since the previous segment; the top bit makes them milliseconds.
    dt: u16,
    /// Payload bytes cut by snaplen (when above 240).
    missing: u8,
}

fn endpoints(conn: u8, server: bool) -> (Endpoint, Endpoint) {
    let (c, s) = if conn & 4 == 0 {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    } else {
        (
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        )
    };
    let client = Endpoint {
        ip: c,
        port: 40000 + u16::from(conn % 3),
    };
    let srv = Endpoint { ip: s, port: 80 };
    if server {
        (srv, client)
    } else {
        (client, srv)
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data);
    let (p, segs): (Params, Vec<Seg>) = input.ops();
    let isn = p.isn.map(|i| if i == 0 { 0xffff_fc00 } else { i });
    let defaults = Limits::default();
    let limits = Limits {
        held_per_stream: if p.held == 0 {
            defaults.held_per_stream
        } else {
            usize::from(p.held)
        },
        max_connections: if p.max_connections == 0 {
            defaults.max_connections
        } else {
            usize::from(p.max_connections)
        },
        ..defaults
    };
    let mut table: FlowTable<Conversation> =
        FlowTable::new(limits, proto::Config { detail: p.detail });
    let mut events = NoEvents;
    let mut ts = Timestamp::from_nanos(1_700_000_000_000_000_000);
    let mut frame = 0u64;
    let mut send = |table: &mut FlowTable<Conversation>, s: &Seg, ts: Timestamp| {
        let side = usize::from(s.server);
        let stream = input.streams[side];
        let start = (s.off as usize).min(stream.len());
        let end = start.saturating_add(usize::from(s.len)).min(stream.len());
        let seq = if s.raw_seq {
            s.off
        } else {
            isn[side].wrapping_add(1).wrapping_add(s.off)
        };
        let (src, dst) = endpoints(s.conn, s.server);
        let seg = Segment {
            src,
            dst,
            seq,
            ack: isn[1 - side].wrapping_add(1).wrapping_add(s.ack),
            flags: s.flags,
            window: 65535,
            payload: &stream[start..end],
            payload_missing: u32::from(s.missing.saturating_sub(240)),
            tcp_header: &[],
            bad_ip_checksum: false,
        };
        frame += 1;
        table.segment(frame, ts, &seg, &mut events);
    };
    if segs.is_empty() {
        // The streams as one plain connection carries them: handshake, the client's bytes,
        // the server's, in 536-byte segments, then both FINs.
        let seg = |server: bool, off: usize, len: usize, flags: u8, ack: usize| Seg {
            server,
            conn: 0,
            off: off as u32,
            raw_seq: false,
            len: len as u16,
            flags,
            ack: ack as u32,
            dt: 100,
            missing: 0,
        };
        let [c, s] = input.streams.map(<[u8]>::len);
        let mut plan = vec![
            Seg {
                off: u32::MAX,
                ack: 0,
                ..seg(false, 0, 0, f::SYN, 0)
            },
            Seg {
                off: u32::MAX,
                ack: 0,
                ..seg(true, 0, 0, f::SYN | f::ACK, 0)
            },
            seg(false, 0, 0, f::ACK, 0),
        ];
        for off in (0..c).step_by(536) {
            plan.push(seg(false, off, 536, f::ACK | f::PSH, 0));
        }
        for off in (0..s).step_by(536) {
            plan.push(seg(true, off, 536, f::ACK | f::PSH, c));
        }
        plan.push(seg(false, c, 0, f::ACK | f::FIN, s));
        plan.push(seg(true, s, 0, f::ACK | f::FIN, c + 1));
        plan.push(seg(false, c + 1, 0, f::ACK, s + 1));
        for s in &plan {
            ts = Timestamp::from_nanos(ts.0 + 100_000);
            send(&mut table, s, ts);
        }
    } else {
        for s in &segs {
            let step = if s.dt & 0x8000 != 0 {
                i64::from(s.dt & 0x7fff) * 1_000_000
            } else {
                i64::from(s.dt) * 1_000
            };
            ts = Timestamp::from_nanos(ts.0 + step);
            send(&mut table, s, ts);
        }
    }
    table.finish_all(&mut events);
    assert_eq!(table.open_connections(), 0);
});
