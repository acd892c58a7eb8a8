//! TCP: connection tracking (handshake, close, roles), per-direction reassembly, and the
//! flow table that maps 4-tuples to connections.

pub mod connection;
pub mod reassembly;
pub mod reset;
pub mod seq;
pub mod table;

pub use connection::{CloseKind, Connection};
pub use table::{FlowEvents, FlowKey, FlowTable, Limits};
