//! Input layout shared by the `reassembly` and `http` targets, chosen so that real streams
//! make good seeds:
//!
//! ```text
//! [ops_len: u8][ops: ops_len bytes][client_len: u16 LE][client stream][server stream]
//! ```
//!
//! `ops` is decoded with `arbitrary` into the target's list of operations (segments, or
//! data/gap/fin calls); when it holds none, the target plays the two streams in order, as a
//! plain exchange would carry them. A seed is therefore `[0, len_lo, len_hi]` followed by a
//! reassembled request stream and its response stream (see `make_seeds.py`), and the fuzzer
//! mutates both the operations and the bytes.

use arbitrary::{Arbitrary, Unstructured};

pub struct Input<'a> {
    pub ops: &'a [u8],
    /// Client stream (index 0) and server stream (index 1).
    pub streams: [&'a [u8]; 2],
}

impl<'a> Input<'a> {
    pub fn split(data: &'a [u8]) -> Input<'a> {
        let (ops_len, rest) = match data.split_first() {
            Some((&n, rest)) => (usize::from(n).min(rest.len()), rest),
            None => (0, data),
        };
        let (ops, rest) = rest.split_at(ops_len);
        let (client_len, rest) = match rest {
            [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
            _ => (rest.len(), rest),
        };
        let (client, server) = rest.split_at(client_len.min(rest.len()));
        Input {
            ops,
            streams: [client, server],
        }
    }

    /// Decodes `ops` as parameters followed by as many operations as it holds.
    pub fn ops<P: Arbitrary<'a> + Default, O: Arbitrary<'a>>(&self) -> (P, Vec<O>) {
        let mut u = Unstructured::new(self.ops);
        let params = if u.is_empty() {
            P::default()
        } else {
            P::arbitrary(&mut u).unwrap_or_default()
        };
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < 4096 {
            match O::arbitrary(&mut u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        (params, ops)
    }
}
