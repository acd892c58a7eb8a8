//! TCP: connection tracking (handshake, close, roles), per-direction reassembly, and the
//! flow table that maps 4-tuples to connections.

pub mod reassembly;
pub mod seq;
