//! connscope: passive analysis of HTTP connection reuse from packet captures.
//!
//! The pipeline runs one way: `capture` (frames) -> `decode` (TCP segments) -> `flow`
//! (connections, reassembled streams) -> `http` (messages) -> `analysis` (records and
//! aggregates) -> `report`. Each stage knows only the one before it, and nothing below
//! `capture` reads the wall clock: time is the capture's.

pub mod analysis;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod flow;
pub mod http;
pub mod pipeline;
pub mod report;
pub mod time;
