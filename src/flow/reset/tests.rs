//! RSTs over literal segments, through the flow table: which end a connection, which are
//! ignored, and what the table reports for each.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::analysis::record::{Close, Side};
use crate::analysis::{Conn, ConnRecord};
use crate::decode::{Endpoint, Segment};
use crate::flow::table::LINGER;
use crate::flow::{CloseKind, FlowEvents, FlowTable, Limits};
use crate::proto::{self, Conversation};
use crate::time::Timestamp;

const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
/// Both ISNs close to 2^32, so every test crosses the wrap.
const CLIENT_ISN: u32 = u32::MAX - 60;
const SERVER_ISN: u32 = u32::MAX - 150;
/// A receive window as Linux advertises it with scaling on (502 << 7 = 64256 bytes).
const WINDOW: u16 = 502;

const SYN: u8 = f::SYN;
const ACK: u8 = f::ACK;
const PSH_ACK: u8 = f::PSH | f::ACK;
const FIN_ACK: u8 = f::FIN | f::ACK;
const RST_ACK: u8 = f::RST | f::ACK;

#[derive(Default)]
struct Recorder {
    /// ("opened" | "closed" | "reopened", frame)
    events: Vec<(&'static str, u64)>,
    statuses: Vec<Option<u16>>,
    done: Vec<Conn>,
}

impl FlowEvents<Conversation> for Recorder {
    fn opened(&mut self, conn: &Conn) {
        self.events.push(("opened", conn.id));
    }
    fn closed(&mut self, _conn: &Conn, frame: u64) {
        self.events.push(("closed", frame));
    }
    fn reopened(&mut self, _conn: &Conn, frame: u64) {
        self.events.push(("reopened", frame));
    }
    fn app_output(&mut self, conn: &mut Conn, _frame: u64) {
        conn.app.take_exchanges(|ex| self.statuses.push(ex.status));
    }
    fn finished(&mut self, conn: Conn, _frame: u64) {
        self.done.push(conn);
    }
}

/// One client and one server, their next sequence numbers, and the capture clock.
struct Wire {
    table: FlowTable<Conversation>,
    rec: Recorder,
    frame: u64,
    now: i64,
    client: Endpoint,
    server: Endpoint,
    /// Next sequence number of each side.
    c: u32,
    s: u32,
}

impl Wire {
    fn new() -> Wire {
        let ip = |d| IpAddr::V4(Ipv4Addr::new(10, 0, 0, d));
        Wire {
            table: FlowTable::new(Limits::default(), proto::Config::default()),
            rec: Recorder::default(),
            frame: 0,
            now: 1_000_000_000,
            client: Endpoint {
                ip: ip(1),
                port: 40_000,
            },
            server: Endpoint {
                ip: ip(2),
                port: 80,
            },
            c: CLIENT_ISN,
            s: SERVER_ISN,
        }
    }

    /// Sends one segment; returns its frame number.
    fn send(&mut self, client: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> u64 {
        let (src, dst) = if client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let window = if flags & SYN != 0 { 64_240 } else { WINDOW };
        let seg = Segment {
            src,
            dst,
            seq,
            ack,
            flags,
            window,
            payload,
            payload_missing: 0,
            tcp_header: &[],
            bad_ip_checksum: false,
        };
        self.frame += 1;
        self.now += 1_000_000;
        self.table
            .segment(self.frame, Timestamp(self.now), &seg, &mut self.rec);
        self.frame
    }

    fn handshake(&mut self) {
        self.send(true, SYN, self.c, 0, b"");
        self.c = self.c.wrapping_add(1);
        self.send(false, SYN | ACK, self.s, self.c, b"");
        self.s = self.s.wrapping_add(1);
        self.send(true, ACK, self.c, self.s, b"");
    }

    /// Sends `flags` with `payload` from one side at its next sequence number, which moves
    /// past the payload and `extra` (1 for a FIN).
    fn advance(&mut self, client: bool, flags: u8, payload: &[u8], extra: u32) -> u64 {
        let n = payload.len() as u32 + extra;
        if client {
            let f = self.send(true, flags, self.c, self.s, payload);
            self.c = self.c.wrapping_add(n);
            f
        } else {
            let f = self.send(false, flags, self.s, self.c, payload);
            self.s = self.s.wrapping_add(n);
            f
        }
    }

    fn data(&mut self, client: bool, bytes: &[u8]) -> u64 {
        self.advance(client, PSH_ACK, bytes, 0)
    }

    fn ack(&mut self, client: bool) -> u64 {
        if client {
            self.send(true, ACK, self.c, self.s, b"")
        } else {
            self.send(false, ACK, self.s, self.c, b"")
        }
    }

    fn fin(&mut self, client: bool) -> u64 {
        self.advance(client, FIN_ACK, b"", 1)
    }

    /// One request and its response, acknowledged.
    fn exchange(&mut self) {
        self.data(true, REQ);
        self.data(false, RESP);
        self.ack(true);
    }

    fn finish(mut self) -> Recorder {
        self.table.finish_all(&mut self.rec);
        self.rec
    }
}

fn only(rec: &Recorder) -> &Conn {
    assert_eq!(rec.done.len(), 1, "one connection");
    &rec.done[0]
}

#[test]
fn window_bounds_what_a_receiver_can_accept() {
    let seg = |flags, ack: u32, window| Segment {
        src: Wire::new().client,
        dst: Wire::new().server,
        seq: 0,
        ack,
        flags,
        window,
        payload: b"",
        payload_missing: 0,
        tcp_header: &[],
        bad_ip_checksum: false,
    };
    let mut w = RcvWindow::default();
    assert!(w.accepts(Seq(12345)), "nothing acknowledged yet: unknown");
    // A SYN-ACK's window is not scaled: [ack, ack + 1000].
    let ack = u32::MAX - 10;
    w.sent(&seg(SYN | ACK, ack, 1000));
    assert!(w.accepts(Seq(ack)));
    assert!(w.accepts(Seq(ack).plus(1000)));
    assert!(!w.accepts(Seq(ack).plus(1001)));
    assert!(
        !w.accepts(Seq(ack).plus(u32::MAX)),
        "just before the acknowledged point"
    );
    // Later windows may be scaled by up to 2^14; an older acknowledgment changes nothing.
    w.sent(&seg(ACK, ack.wrapping_add(20), 2));
    w.sent(&seg(ACK, ack, 1));
    assert!(
        !w.accepts(Seq(ack).plus(19)),
        "below the latest acknowledgment"
    );
    assert!(w.accepts(Seq(ack).plus(20 + (2 << 14))));
    assert!(!w.accepts(Seq(ack).plus(21 + (2 << 14))));
}

/// RFC 5961 section 3: a blind attacker's RST lands at a random sequence number. Outside the
/// window no receiver accepts it; the connection carries on and the RST is counted.
#[test]
fn out_of_window_rst_does_not_end_the_connection() {
    let mut w = Wire::new();
    w.handshake();
    w.exchange();
    // Half the sequence space away, from the client's address; then a stale one, just below
    // what the server already acknowledged.
    w.send(true, RST_ACK, w.c.wrapping_add(0x8000_0000), w.s, b"");
    w.send(true, RST_ACK, w.c.wrapping_sub(1000), w.s, b"");
    w.exchange();
    let last = w.fin(false);
    w.fin(true);
    w.ack(false);
    let rec = w.finish();
    let c = only(&rec);
    assert_eq!(c.ignored_resets, 2);
    assert_eq!(c.app.http1().stats.requests, 2);
    assert_eq!(c.app.http1().stats.responses, 2);
    assert!(
        matches!(c.first_close, Some((1, CloseKind::Fin, _))),
        "server FIN"
    );
    assert_eq!(rec.events, [("opened", 1), ("closed", last + 1)]);
    let r = ConnRecord::build(c, 1000.0);
    assert_eq!((r.close, r.closed_by), (Close::Fin, Some(Side::Server)));
    assert_eq!(r.time_wait, Some(Side::Server));
    assert_eq!(r.tcp.ignored_resets, 2);
}

/// The shape of Suricata's security-4710 evasion: an in-window RST right after the
/// handshake, then the request, which the server acknowledges and answers.
#[test]
fn in_window_rst_the_peers_ignored_is_revived() {
    let mut w = Wire::new();
    w.handshake();
    let rst = w.send(true, RST_ACK, w.c, w.s, b"");
    // A second RST while the first is pending: ignored too, if the connection goes on.
    w.send(true, RST_ACK, w.c, w.s, b"");
    w.data(true, REQ); // held, not yet given to HTTP: the RST may have been honoured
    let revived = w.ack(false); // the server took bytes sent after the RST
    w.data(false, RESP);
    w.ack(true);
    w.exchange();
    w.fin(false);
    let last = w.fin(true);
    w.ack(false);
    let rec = w.finish();
    let c = only(&rec);
    assert_eq!(c.ignored_resets, 2);
    assert_eq!(
        (c.app.http1().stats.requests, c.app.http1().stats.responses),
        (2, 2)
    );
    assert_eq!(rec.statuses, [Some(200), Some(200)]);
    assert_eq!(
        rec.events,
        [
            ("opened", 1),
            ("closed", rst),
            ("reopened", revived),
            ("closed", last)
        ]
    );
    let r = ConnRecord::build(c, 1000.0);
    assert_eq!((r.close, r.closed_by), (Close::Fin, Some(Side::Server)));
    assert_eq!(r.close_reason.name(), "idle_timeout");
    assert_eq!(
        r.time_wait,
        Some(Side::Server),
        "the real close was by FINs"
    );
}

/// A client aborts (SO_LINGER 0) while the response is on its way: the server's segments
/// already in flight arrive after the RST and are answered with more RSTs. That is an
/// honoured RST: the connection ends at it, and what came after never reaches HTTP.
#[test]
fn honoured_rst_ends_the_connection_and_late_data_is_dropped() {
    let run = |late: bool| {
        let mut w = Wire::new();
        w.handshake();
        w.exchange();
        w.data(true, REQ);
        w.data(false, &RESP[..20]);
        let rst = w.send(true, RST_ACK, w.c, w.s, b"");
        if late {
            let s = w.s;
            w.data(false, &RESP[20..]);
            w.send(true, f::RST, w.c, 0, b"");
            // The server's retransmission, and an ACK of the client's pre-RST request.
            w.send(false, PSH_ACK, s, w.c, &RESP[20..]);
            w.send(true, f::RST, w.c, 0, b"");
        }
        (rst, w.finish())
    };
    let (rst, plain) = run(false);
    let (_, late) = run(true);
    for rec in [&plain, &late] {
        let c = only(rec);
        assert_eq!(c.ignored_resets, 0);
        assert!(matches!(c.first_close, Some((0, CloseKind::Rst, _))));
        assert_eq!(rec.events, [("opened", 1), ("closed", rst)]);
        assert_eq!(ConnRecord::build(c, 1000.0).close_reason.name(), "reset");
    }
    let (p, l) = (only(&plain), only(&late));
    assert_eq!(
        l.app.http1().stats,
        p.app.http1().stats,
        "late data changed the HTTP outcome"
    );
    assert_eq!(late.statuses, plain.statuses);
    assert_eq!(l.streams[1].stats.bytes, p.streams[1].stats.bytes);
    assert_eq!(l.held_bytes(), 0);
}

/// After a FIN a RST is an abort of a closing connection: it ends it wherever it points.
#[test]
fn rst_after_fin_ends_the_connection_unchecked() {
    let mut w = Wire::new();
    w.handshake();
    w.exchange();
    w.fin(false);
    let rst = w.send(true, RST_ACK, w.c.wrapping_add(0x8000_0000), w.s, b"");
    w.data(true, REQ);
    w.ack(false);
    let rec = w.finish();
    let c = only(&rec);
    assert_eq!(c.ignored_resets, 0);
    assert_eq!(c.app.http1().stats.requests, 1);
    assert!(matches!(c.first_close, Some((1, CloseKind::Fin, _))));
    assert_eq!(rec.events, [("opened", 1), ("closed", rst)]);
    assert_eq!(ConnRecord::build(c, 1000.0).time_wait, None);
}

/// A refused connection: the RST answers the SYN, and the client has acknowledged nothing
/// that would bound it.
#[test]
fn rst_to_a_syn_is_accepted() {
    let mut w = Wire::new();
    w.send(true, SYN, w.c, 0, b"");
    let rst = w.send(false, RST_ACK, 0, w.c.wrapping_add(1), b"");
    let rec = w.finish();
    let c = only(&rec);
    assert!(matches!(c.first_close, Some((1, CloseKind::Rst, _))));
    assert_eq!(rec.events, [("opened", 1), ("closed", rst)]);
    assert_eq!(c.ignored_resets, 0);
}

/// Port reuse after a RST: a SYN with a new ISN starts the next generation while the RST
/// is still pending; the old connection ends as reset.
#[test]
fn new_syn_after_a_pending_rst_starts_a_new_generation() {
    let mut w = Wire::new();
    w.handshake();
    w.exchange();
    w.send(true, RST_ACK, w.c, w.s, b"");
    w.c = 7_000;
    w.s = 9_000;
    let second = w.frame + 1;
    w.handshake();
    w.exchange();
    w.exchange();
    w.fin(true);
    w.fin(false);
    w.ack(true);
    let rec = w.finish();
    assert_eq!(rec.done.len(), 2);
    let (old, new) = (&rec.done[0], &rec.done[1]);
    assert_eq!(old.id, 1);
    assert_eq!(old.app.http1().stats.requests, 1);
    assert!(matches!(old.first_close, Some((0, CloseKind::Rst, _))));
    assert_eq!(new.id, second);
    assert_eq!(new.app.http1().stats.requests, 2);
    assert!(matches!(new.first_close, Some((0, CloseKind::Fin, _))));
    assert_eq!(old.ignored_resets + new.ignored_resets, 0);
}

/// Nothing waits for evidence beyond the linger time: a pending RST's connection leaves the
/// table then, holding nothing, as reset.
#[test]
fn pending_rst_leaves_with_the_linger_time() {
    let mut w = Wire::new();
    w.handshake();
    w.exchange();
    w.send(false, RST_ACK, w.s, w.c, b"");
    w.data(true, REQ); // held while the RST is pending
    w.now += LINGER;
    // Any later packet moves the clock: another connection's SYN.
    w.client.port += 1;
    w.send(true, SYN, 1, 0, b"");
    assert_eq!(w.table.open_connections(), 1, "the reset connection left");
    let c = &w.rec.done[0];
    assert_eq!(c.held_bytes(), 0);
    assert_eq!(
        c.app.http1().stats.requests,
        1,
        "the held request was dropped"
    );
    assert_eq!(ConnRecord::build(c, 1000.0).close_reason.name(), "reset");
}

/// A revived connection must not be finished by the linger entry its RST left behind.
#[test]
fn revived_connection_outlives_the_rst_linger_time() {
    let mut w = Wire::new();
    w.handshake();
    w.send(true, RST_ACK, w.c, w.s, b"");
    w.exchange();
    w.now += 2 * LINGER;
    w.exchange();
    w.fin(true);
    w.fin(false);
    w.ack(true);
    let rec = w.finish();
    let c = only(&rec);
    assert_eq!(c.app.http1().stats.requests, 2);
    assert_eq!(c.ignored_resets, 1);
    assert!(matches!(c.first_close, Some((0, CloseKind::Fin, _))));
}
