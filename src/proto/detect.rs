//! What a connection carries, judged from the client's first bytes: the HTTP/2 preface, a TLS
//! record, or the start of an HTTP/1.x request line. Decoders are chosen from this verdict;
//! a new protocol adds its recogniser here.

/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The verdict on a client's first bytes (at most [`CLIENT_START_BYTES`] of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientStart {
    /// A prefix of the HTTP/2 preface or of a TLS record header: more bytes will tell.
    Partial,
    H2,
    Tls,
    /// The beginning of an HTTP/1.x request line (a method and a space).
    Request,
    /// Could still begin a request line: more bytes will tell.
    Undecided,
    /// Not a request line at its start (HTTP/1.x may still follow a prefix, such as a PROXY
    /// protocol line).
    Other,
}

/// Client bytes buffered to reach a verdict.
pub const CLIENT_START_BYTES: usize = 32;

pub fn client_start(b: &[u8]) -> ClientStart {
    if b.is_empty() {
        return ClientStart::Undecided;
    }
    let n = b.len().min(H2_PREFACE.len());
    if b[..n] == H2_PREFACE[..n] {
        return if n == H2_PREFACE.len() {
            ClientStart::H2
        } else {
            ClientStart::Partial
        };
    }
    // A TLS handshake record: content type 22, protocol version 3.x.
    if b[0] == 0x16 && b.get(1).is_none_or(|&v| v == 3) {
        return if b.len() < 2 {
            ClientStart::Partial
        } else {
            ClientStart::Tls
        };
    }
    match looks_like_request_start(b) {
        None => ClientStart::Undecided,
        Some(true) => ClientStart::Request,
        Some(false) => ClientStart::Other,
    }
}

/// Whether `b` starts like a request line (a token of uppercase letters, `-` or `_`, then a
/// space). `None` when there are not enough bytes to tell.
pub fn looks_like_request_start(b: &[u8]) -> Option<bool> {
    for (n, &c) in b.iter().take(24).enumerate() {
        if c == b' ' {
            return Some(n > 0);
        }
        if !c.is_ascii_uppercase() && c != b'-' && c != b'_' {
            return Some(false);
        }
    }
    if b.len() >= 24 {
        Some(false)
    } else {
        None // not enough bytes to tell
    }
}

/// Whether a server's bytes could begin an HTTP/1.x status line.
pub fn could_be_status_line(b: &[u8]) -> bool {
    let n = b.len().min(5);
    b[..n] == b"HTTP/"[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(client_start(b"GET / HTTP/1.1"), ClientStart::Request);
        assert_eq!(client_start(b"M-SEARCH * HTTP/1.1"), ClientStart::Request);
        assert_eq!(client_start(b"GE"), ClientStart::Undecided);
        assert_eq!(client_start(b"PRI * HTTP/2"), ClientStart::Partial);
        assert_eq!(client_start(H2_PREFACE), ClientStart::H2);
        assert_eq!(client_start(b"\x16"), ClientStart::Partial);
        assert_eq!(client_start(b"\x16\x03\x01\x02\x00"), ClientStart::Tls);
        assert_eq!(client_start(b"\x16\x02"), ClientStart::Other);
        assert_eq!(client_start(b" GET"), ClientStart::Other);
        assert_eq!(client_start(b"PROXY TCP4 1.2.3.4"), ClientStart::Request);
        assert_eq!(client_start(b"SSH-2.0-OpenSSH"), ClientStart::Other);
        assert!(could_be_status_line(b"HTT"));
        assert!(could_be_status_line(b"HTTP/1.1 200 OK"));
        assert!(!could_be_status_line(b"SSH-2.0"));
    }

    #[test]
    fn server_software_from_its_header() {
        use crate::proto::Software;
        assert_eq!(
            Software::from_header(b"nginx/1.22.1"),
            Some(Software::Nginx)
        );
        assert_eq!(
            Software::from_header(b" Apache/2.4.62 (Debian)"),
            Some(Software::Apache)
        );
        assert_eq!(Software::from_header(b"HAProxy"), Some(Software::Haproxy));
        assert_eq!(Software::from_header(b"SimpleHTTP/0.6 Python/3.11"), None);
        assert_eq!(Software::from_header(b"ngin"), None);
    }

    #[test]
    fn request_start() {
        assert_eq!(looks_like_request_start(b"GET / HTTP/1.1"), Some(true));
        assert_eq!(looks_like_request_start(b"GE"), None);
        assert_eq!(looks_like_request_start(b"\x16\x03\x01"), Some(false));
        assert_eq!(looks_like_request_start(b" GET"), Some(false));
        assert_eq!(looks_like_request_start(&[b'A'; 24]), Some(false));
    }
}
