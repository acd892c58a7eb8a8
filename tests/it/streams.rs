//! Real streams cut, reordered, duplicated and partly lost (proptest): the HTTP requests found
//! must be those of the intact capture (minus what was lost, and never one that was not sent).

use std::collections::BTreeMap;

use connscope::capture::Source;
use connscope::decode::{self, Endpoint, Segment};
use connscope::flow::{Connection, FlowEvents, FlowTable, Limits};
use connscope::proto::{self, Conversation};
use connscope::time::Timestamp;
use proptest::prelude::*;

use crate::schema::capture;

#[derive(Clone, Debug)]
struct Owned {
    ts: Timestamp,
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    payload: Vec<u8>,
}

impl Owned {
    fn segment(&self) -> Segment<'_> {
        Segment {
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            payload: &self.payload,
            payload_missing: 0,
            tcp_header: &[],
            bad_ip_checksum: false,
        }
    }
}

fn load(name: &str) -> Vec<Owned> {
    let mut src = Source::open(&capture(name)).unwrap();
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        if let Ok((s, _)) = decode::decode(&f) {
            out.push(Owned {
                ts: f.ts,
                src: s.src,
                dst: s.dst,
                seq: s.seq,
                ack: s.ack,
                flags: s.flags,
                window: s.window,
                payload: s.payload.to_vec(),
            });
        }
    }
    out
}

/// Requests seen, per client port: (index order) method and target.
#[derive(Default)]
struct Seen(BTreeMap<u16, Vec<(String, String, Option<u16>)>>);

impl FlowEvents<Conversation> for Seen {
    fn app_output(&mut self, conn: &mut Connection<Conversation>, _frame: u64) {
        let port = conn.ends[conn.client_side()].port;
        let seen = self.0.entry(port).or_default();
        conn.app
            .take_exchanges(|ex| seen.push((ex.method, ex.target, ex.status)));
    }
    fn finished(&mut self, _conn: Connection<Conversation>, _frame: u64) {}
}

fn analyze(segs: &[Owned]) -> BTreeMap<u16, Vec<(String, String, Option<u16>)>> {
    let mut table: FlowTable<Conversation> =
        FlowTable::new(Limits::default(), proto::Config { detail: true });
    let mut seen = Seen::default();
    for (i, s) in segs.iter().enumerate() {
        table.segment(i as u64 + 1, s.ts, &s.segment(), &mut seen);
    }
    table.finish_all(&mut seen);
    for v in seen.0.values_mut() {
        v.sort(); // exchanges of one connection may complete out of index order only if lost
    }
    seen.0
}

/// Splits every payload at the given fractions, keeping sequence numbers right.
fn split(segs: &[Owned], cuts: &[u16]) -> Vec<Owned> {
    let mut out = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let n = s.payload.len();
        let cut = usize::from(cuts[i % cuts.len()]);
        if n < 2 || cut == 0 {
            out.push(s.clone());
            continue;
        }
        let step = (n / (cut % 8 + 2)).max(1);
        let mut at = 0;
        while at < n {
            let end = (at + step).min(n);
            let mut p = s.clone();
            p.seq = s.seq.wrapping_add(at as u32);
            p.payload = s.payload[at..end].to_vec();
            if end < n {
                p.flags &= !0x01; // only the last piece carries the FIN
            }
            out.push(p);
            at = end;
        }
    }
    out
}

/// Shuffles packets within windows of up to four consecutive packets of one direction (a
/// burst from one sender arriving out of order; across directions a capture point sees cause
/// before effect, a request before its response), and repeats some (retransmissions).
fn shuffle(mut segs: Vec<Owned>, windows: &[(u8, u16)], dups: &[u16]) -> Vec<Owned> {
    let n = segs.len();
    let mut at = 0;
    for &(size, perm) in windows.iter().cycle() {
        if at >= n {
            break;
        }
        let w = usize::from(size % 4 + 1).min(n - at);
        // Never move a SYN: packets before a connection's SYN mean something else.
        let dir = segs[at].src;
        let run = segs[at..at + w].iter().take_while(|s| s.src == dir).count();
        if segs[at..at + run].iter().all(|s| s.flags & 0x02 == 0) {
            let window = &mut segs[at..at + run];
            let mut p = usize::from(perm);
            for k in (1..run).rev() {
                window.swap(k, p % (k + 1));
                p /= k + 1;
            }
        }
        at += w;
    }
    for &d in dups {
        let i = usize::from(d) % segs.len();
        let copy = segs[i].clone();
        let to = (i + 3).min(segs.len());
        segs.insert(to, copy);
    }
    segs
}

const CAPTURES: [&str; 3] = ["pipelining.pcap", "chunked.pcap", "keepalive.pcap"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn resegmented_reordered_duplicated_streams_give_the_same_requests(
        which in 0usize..3,
        cuts in proptest::collection::vec(0u16..12, 1..50),
        windows in proptest::collection::vec((any::<u8>(), any::<u16>()), 1..60),
        dups in proptest::collection::vec(any::<u16>(), 0..30),
    ) {
        let segs = load(CAPTURES[which]);
        let intact = analyze(&segs);
        prop_assert!(intact.values().map(Vec::len).sum::<usize>() > 0);
        let mutated = shuffle(split(&segs, &cuts), &windows, &dups);
        prop_assert_eq!(analyze(&mutated), intact);
    }

    #[test]
    fn lost_segments_lose_requests_but_never_invent_them(
        which in 0usize..3,
        cuts in proptest::collection::vec(0u16..12, 1..50),
        drops in proptest::collection::vec(any::<u16>(), 1..6),
    ) {
        let segs = load(CAPTURES[which]);
        let intact = analyze(&segs);
        let mut pieces = split(&segs, &cuts);
        let n = pieces.len();
        let mut lost = 0usize;
        for d in drops {
            let i = usize::from(d) % n;
            // Lose payload only (keep SYN/FIN/RST so connection boundaries stay known).
            if !pieces[i].payload.is_empty() && pieces[i].flags & 0x07 == 0 {
                pieces[i].payload.clear();
                pieces[i].flags |= 0x80; // mark as lost; removed below
                lost += 1;
            }
        }
        pieces.retain(|p| p.flags & 0x80 == 0);
        let damaged = analyze(&pieces);
        let mut missing = 0usize;
        for (port, reqs) in &damaged {
            let full = intact.get(port).expect("no connection invented");
            // Every request found was sent, in order: a subsequence of the intact list.
            let mut it = full.iter();
            for r in reqs {
                prop_assert!(it.any(|x| x.0 == r.0 && x.1 == r.1), "invented request {:?} on {}", r, port);
            }
            missing += full.len().saturating_sub(reqs.len());
        }
        for (port, full) in &intact {
            if !damaged.contains_key(port) {
                missing += full.len();
            }
        }
        // A lost piece can take the requests (or responses) it carried and, because the
        // decoder resynchronises at the next line start, the one right after it. Pipelined
        // captures put up to five requests in one segment.
        prop_assert!(missing <= lost * 6 + lost, "missing {} after losing {} pieces", missing, lost);
    }
}
