//! HTTP/1.x over reassembled TCP streams: message heads (httparse), body framing as RFC 9112
//! section 6, pairing of responses with requests in order (pipelining), and persistence.
//!
//! The decoder sees each direction's byte stream exactly once, in order, as the flow layer
//! delivers it, with holes reported as gaps. It keeps only a head being assembled (bounded by
//! [`MAX_HEAD`]) and the queue of requests awaiting responses; bodies are skipped by length.
//! After a gap or a framing error it resynchronises at the next start line instead of giving up
//! on the connection. A connection whose first bytes are not HTTP/1.x (the HTTP/2 preface, a TLS
//! record: see [`super::detect`]) is handed back to [`super::Conversation`], which labels it.

pub mod body;
pub mod head;
pub mod scan;
mod session;

pub use session::{CloseContext, Exchange, IdleStats, LastExchange, Session, SessionStats, Switch};

pub use super::Protocol;

/// Largest message head accepted (request or status line plus header fields).
pub const MAX_HEAD: usize = 64 * 1024;

/// What the decoder found wrong. Counted per connection, never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpError {
    MalformedHead,
    TooManyHeaders,
    HeadTooLarge,
    BadContentLength,
    ConflictingContentLength,
    DuplicateContentLength,
    /// Both Transfer-Encoding and Content-Length: a request smuggling shape.
    TeAndCl,
    /// A request whose Transfer-Encoding does not end in chunked.
    BadTransferEncoding,
    ChunkSizeOverflow,
    BadChunk,
    /// A capture gap where framing could not be followed (resynchronised after it).
    LostFraming,
    ResponseWithoutRequest,
    /// The connection ended inside a message body or head.
    Unfinished,
}

impl HttpError {
    pub const ALL: [HttpError; 13] = [
        HttpError::MalformedHead,
        HttpError::TooManyHeaders,
        HttpError::HeadTooLarge,
        HttpError::BadContentLength,
        HttpError::ConflictingContentLength,
        HttpError::DuplicateContentLength,
        HttpError::TeAndCl,
        HttpError::BadTransferEncoding,
        HttpError::ChunkSizeOverflow,
        HttpError::BadChunk,
        HttpError::LostFraming,
        HttpError::ResponseWithoutRequest,
        HttpError::Unfinished,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HttpError::MalformedHead => "malformed_head",
            HttpError::TooManyHeaders => "too_many_headers",
            HttpError::HeadTooLarge => "head_too_large",
            HttpError::BadContentLength => "bad_content_length",
            HttpError::ConflictingContentLength => "conflicting_content_length",
            HttpError::DuplicateContentLength => "duplicate_content_length",
            HttpError::TeAndCl => "te_and_cl",
            HttpError::BadTransferEncoding => "bad_transfer_encoding",
            HttpError::ChunkSizeOverflow => "chunk_size_overflow",
            HttpError::BadChunk => "bad_chunk",
            HttpError::LostFraming => "lost_framing",
            HttpError::ResponseWithoutRequest => "response_without_request",
            HttpError::Unfinished => "unfinished_message",
        }
    }
}

/// Error counts by kind, in a fixed array (no allocation per connection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts([u32; 13]);

impl ErrorCounts {
    pub fn add(&mut self, e: HttpError) {
        let i = HttpError::ALL.iter().position(|&x| x == e).unwrap_or(0);
        self.0[i] = self.0[i].saturating_add(1);
    }
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&n| u64::from(n)).sum()
    }
    pub fn iter(&self) -> impl Iterator<Item = (HttpError, u32)> + '_ {
        HttpError::ALL
            .iter()
            .zip(self.0.iter())
            .filter(|(_, &n)| n > 0)
            .map(|(&e, &n)| (e, n))
    }
    pub fn merge(&mut self, other: &ErrorCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }
}
