//! An HTTP session fed arbitrary interleavings of data, gap and FIN calls on both sides. See
//! `connscope_fuzz::Input` for the layout: data calls take the next bytes of the side's
//! stream, so seeds of real request/response streams exercise real HTTP.

#![no_main]

use arbitrary::Arbitrary;
use connscope::time::Timestamp;
use connscope::proto::http1::Session;
use connscope_fuzz::Input;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Default)]
struct Params {
    /// 0: the client is unknown (picked up mid-stream); 1: side 0; 2: side 1.
    client: u8,
    detail: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Data { server: bool, len: u16 },
    Gap { server: bool, len: u32 },
    Fin { server: bool },
    Closing,
    Wait { ms: u16 },
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data);
    let (p, mut ops): (Params, Vec<Op>) = input.ops();
    let client = match p.client % 3 {
        0 => None,
        1 => Some(0),
        _ => Some(1),
    };
    // Which stream each side reads: the client's side reads the client stream.
    let stream_of = |side: usize| match client {
        Some(1) => input.streams[1 - side],
        _ => input.streams[side],
    };
    if ops.is_empty() {
        let [c, s] = input.streams.map(<[u8]>::len);
        let side = |server: bool| if client == Some(1) { !server } else { server };
        for off in (0..c).step_by(700) {
            ops.push(Op::Data {
                server: side(false),
                len: (c - off).min(700) as u16,
            });
        }
        for off in (0..s).step_by(1400) {
            ops.push(Op::Data {
                server: side(true),
                len: (s - off).min(1400) as u16,
            });
        }
        ops.push(Op::Fin { server: side(true) });
        ops.push(Op::Closing);
        ops.push(Op::Fin {
            server: side(false),
        });
    }
    let mut session = Session::new(client, p.detail);
    let mut ts = Timestamp::from_nanos(1_700_000_000_000_000_000);
    let mut at = [0usize; 2];
    for op in &ops {
        ts = Timestamp::from_nanos(ts.0 + 1_000);
        match *op {
            Op::Data { server, len } => {
                let side = usize::from(server);
                let stream = stream_of(side);
                let start = at[side].min(stream.len());
                let end = start.saturating_add(usize::from(len)).min(stream.len());
                at[side] = end;
                session.data(side, &stream[start..end], ts);
            }
            Op::Gap { server, len } => session.gap(usize::from(server), u64::from(len), ts),
            Op::Fin { server } => session.fin(usize::from(server), ts),
            Op::Closing => session.closing(ts),
            Op::Wait { ms } => ts = Timestamp::from_nanos(ts.0 + i64::from(ms) * 1_000_000),
        }
        // The flow table drains completed exchanges after every segment; do the same.
        session.out.clear();
    }
    session.finish(ts);
    assert!(session.stats.unanswered as u64 <= session.stats.requests);
});
