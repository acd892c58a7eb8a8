//! The seam between TCP and what it carries. Flow reassembles each direction and hands the
//! bytes, in order and exactly once, to one [`StreamApp`] per connection, with holes as gaps
//! and the FINs where they fall in the stream; it also says when the connection starts to
//! close, reopens (a RST the peers ignored) and ends. Flow knows nothing else of the
//! application: no HTTP, TLS or HTTP/2 type appears in this module or its callers' signatures.

use crate::time::Timestamp;

/// An application-layer decoder for one connection. Sides are the flow's indices 0 and 1.
pub trait StreamApp {
    /// What every new connection's decoder is made from.
    type Config: Copy;

    /// A decoder for a new connection; `client` is the SYN's sender when the handshake was
    /// seen.
    fn new(client: Option<usize>, cfg: Self::Config) -> Self;
    /// In-order bytes of `side`'s stream, captured at `ts`.
    fn data(&mut self, side: usize, bytes: &[u8], ts: Timestamp);
    /// `len` bytes of `side`'s stream were lost.
    fn gap(&mut self, side: usize, len: u64, ts: Timestamp);
    /// `side`'s FIN, in stream order.
    fn fin(&mut self, side: usize, ts: Timestamp);
    /// The connection's first FIN or RST, in capture order.
    fn closing(&mut self, ts: Timestamp);
    /// The close seen so far was a RST the peers ignored: the next FIN or RST is the close.
    fn reopen(&mut self);
    /// The connection leaves the flow table (its last packet at `ts`).
    fn finish(&mut self, ts: Timestamp);
    /// Both directions ended: free what is no longer needed while the connection lingers.
    fn shrink(&mut self);
    /// The side the application saw acting as the client, for a connection whose handshake
    /// was not seen.
    fn client_hint(&self) -> Option<usize>;
    /// Events are waiting to be taken (see `FlowEvents::app_output`).
    fn has_output(&self) -> bool;
}
