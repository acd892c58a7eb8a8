//! Finding the next message start in a stream whose framing was lost: after a capture gap,
//! a parse error, or in a connection picked up mid-stream. A candidate must be a whole,
//! well-formed start line at the beginning of a line.

use crate::proto::detect;

/// Which start lines to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Request,
    Response,
    Either,
}

/// What kind of start line was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Request,
    Response,
}

/// Longest start line considered; a longer partial line is dropped while resynchronising.
pub const MAX_LINE: usize = 8 * 1024;

/// Checks whether `line` (one whole line, without or with its line ending) is a start line.
pub fn start_line(line: &[u8], want: Want) -> Option<Start> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if want != Want::Request && is_status_line(line) {
        return Some(Start::Response);
    }
    if want != Want::Response && is_request_line(line) {
        return Some(Start::Request);
    }
    None
}

fn is_version(v: &[u8]) -> bool {
    matches!(v, b"HTTP/1.1" | b"HTTP/1.0")
}

fn is_status_line(line: &[u8]) -> bool {
    line.len() >= 12
        && is_version(&line[..8])
        && line[8] == b' '
        && line[9..12].iter().all(u8::is_ascii_digit)
        && line.get(12).is_none_or(|&b| b == b' ')
}

fn is_request_line(line: &[u8]) -> bool {
    let Some(sp) = memchr::memchr(b' ', line) else {
        return false;
    };
    let method = &line[..sp];
    if method.is_empty()
        || method.len() > 24
        || !method
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        return false;
    }
    let rest = &line[sp + 1..];
    if rest.len() < 10 {
        return false;
    }
    let (target, version) = rest.split_at(rest.len() - 9);
    version[0] == b' '
        && is_version(&version[1..])
        && !target.is_empty()
        && target.iter().all(|&b| b > b' ' && b != 0x7f)
}

/// Result of scanning a chunk of stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A start line begins at this offset.
    At(usize, Start),
    /// Nothing yet; the line starting at this offset is unfinished and may be one.
    Partial(usize),
    Nothing,
}

/// Scans `buf` for a start line. `line_start`: offset 0 is at the start of a line.
pub fn find_start(buf: &[u8], line_start: bool, want: Want) -> Found {
    let mut q = if line_start {
        Some(0)
    } else {
        memchr::memchr(b'\n', buf).map(|i| i + 1)
    };
    while let Some(at) = q {
        if at >= buf.len() {
            return Found::Nothing;
        }
        match memchr::memchr(b'\n', &buf[at..]) {
            Some(len) => {
                if let Some(kind) = start_line(&buf[at..at + len + 1], want) {
                    return Found::At(at, kind);
                }
                q = Some(at + len + 1);
            }
            None => {
                return if could_start(&buf[at..], want) && buf.len() - at <= MAX_LINE {
                    Found::Partial(at)
                } else {
                    Found::Nothing
                };
            }
        }
    }
    Found::Nothing
}

/// Whether bytes at the start of a line (or an unfinished line) could still become the
/// start line wanted.
pub fn could_start(b: &[u8], want: Want) -> bool {
    let request = || detect::looks_like_request_start(b) != Some(false);
    match want {
        Want::Request => request(),
        Want::Response => detect::could_be_status_line(b),
        Want::Either => request() || detect::could_be_status_line(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_start_lines() {
        assert_eq!(
            start_line(b"GET /a?b=c HTTP/1.1\r\n", Want::Either),
            Some(Start::Request)
        );
        assert_eq!(
            start_line(b"HTTP/1.0 204 No Content\r\n", Want::Either),
            Some(Start::Response)
        );
        assert_eq!(
            start_line(b"HTTP/1.1 200\n", Want::Response),
            Some(Start::Response)
        );
        assert_eq!(start_line(b"HTTP/1.1 200 OK\r\n", Want::Request), None);
        assert_eq!(start_line(b"GET / HTTP/2.0\r\n", Want::Either), None);
        assert_eq!(start_line(b"get / HTTP/1.1\r\n", Want::Either), None);
        assert_eq!(start_line(b"GET /a b HTTP/1.1\r\n", Want::Either), None);
        assert_eq!(start_line(b"HTTP/1.1 2000 OK\r\n", Want::Either), None);
    }

    #[test]
    fn scans_to_next_message() {
        let s = b"dy bytes\r\nmore body\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            find_start(s, false, Want::Response),
            Found::At(20, Start::Response)
        );
        assert_eq!(find_start(s, false, Want::Request), Found::Nothing);
        assert_eq!(
            find_start(b"GET / HTTP/1.1\r\n", true, Want::Either),
            Found::At(0, Start::Request)
        );
        assert_eq!(
            find_start(b"GET / HTTP/1.1\r\n", false, Want::Either),
            Found::Nothing
        );
        assert_eq!(
            find_start(b"junk\nGET /lo", false, Want::Request),
            Found::Partial(5)
        );
        assert_eq!(
            find_start(b"junk\nget /lo", false, Want::Request),
            Found::Nothing
        );
    }
}
