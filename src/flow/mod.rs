//! TCP: connection tracking (handshake, close, roles), per-direction reassembly, and the
//! flow table that maps 4-tuples to connections. What the streams carry is decoded behind the
//! [`app::StreamApp`] trait: flow knows TCP only.

pub mod app;
pub mod connection;
pub mod reassembly;
pub mod reset;
pub mod seq;
pub mod table;

pub use app::StreamApp;
pub use connection::{CloseKind, Connection};
pub use table::{FlowEvents, FlowKey, FlowTable, Limits};
