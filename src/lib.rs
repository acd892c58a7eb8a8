//! connscope: passive analysis of HTTP connection reuse from packet captures.
//!
//! Data runs one way: `capture` (frames and idle ticks) -> `decode` (TCP segments) -> `flow`
//! (connections, reassembled streams) -> `proto` (application decoders chosen by content) ->
//! `analysis` (records, aggregates, ordered replay) -> `report`. `engine` runs it on threads:
//! a reading thread, sharded workers and one aggregator. Each stage knows only the ones before
//! it, and nothing below `capture` reads the wall clock: time (`time`) is the capture's. See
//! ARCHITECTURE.md.

pub mod analysis;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod engine;
pub mod flow;
pub mod proto;
pub mod report;
pub mod time;
