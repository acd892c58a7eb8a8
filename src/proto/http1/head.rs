//! HTTP/1.x message heads: finding where a head ends, parsing it with httparse, and reading
//! the header fields that decide framing and persistence (RFC 9112 sections 6 and 9).

use std::mem::MaybeUninit;

use super::HttpError;

/// Most header fields accepted in one head; more is reported as an error.
pub const MAX_HEADERS: usize = 128;

/// Returns the length of the head (through the empty line) if `buf[from..]` completes it.
/// `from` lets a caller resume a search over a growing buffer; it is moved back far enough to
/// catch an end-of-head split across calls. Bare LF line endings are accepted as httparse does.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from.saturating_sub(2);
    while let Some(i) = memchr::memchr(b'\n', &buf[at..]) {
        let p = at + i;
        match buf.get(p + 1) {
            Some(b'\n') => return Some(p + 2),
            Some(b'\r') if buf.get(p + 2) == Some(&b'\n') => return Some(p + 3),
            _ => at = p + 1,
        }
    }
    None
}

/// What a head says about framing and persistence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub conn_close: bool,
    pub conn_keep_alive: bool,
    pub conn_upgrade: bool,
    pub content_length: Option<u64>,
    /// Transfer-Encoding present; `chunked_last` when chunked is its final coding.
    pub transfer_encoding: bool,
    pub chunked_last: bool,
    pub keep_alive_timeout: Option<u32>,
    pub keep_alive_max: Option<u32>,
    /// The server software the `Server` header names, when connscope knows it.
    pub server: Option<crate::proto::Software>,
    /// Errors seen while reading the fields; framing still follows RFC 9112's precedence.
    pub errors: Vec<HttpError>,
}

/// A parsed request head, borrowing the head bytes.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub host: Option<&'a [u8]>,
    pub expect_continue: bool,
    pub fields: Fields,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub fields: Fields,
}

fn map_err(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        _ => HttpError::MalformedHead,
    }
}

pub fn parse_request(head: &[u8]) -> Result<Request<'_>, HttpError> {
    // Uninitialised slots: filling 128 empty headers on every parse cost as much as
    // parsing (callgrind, bench capture).
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    // RFC 9112 section 3: recipients may accept runs of whitespace between the elements.
    let config = {
        let mut c = httparse::ParserConfig::default();
        c.allow_multiple_spaces_in_request_line_delimiters(true);
        c
    };
    match config.parse_request_with_uninit_headers(&mut req, head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::MalformedHead),
        Err(e) => return Err(map_err(e)),
    }
    let mut fields = Fields {
        minor: req.version.unwrap_or(1),
        ..Fields::default()
    };
    let mut host = None;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            host.get_or_insert(h.value);
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue |= h.value.eq_ignore_ascii_case(b"100-continue");
        } else {
            read_field(&mut fields, h.name, h.value);
        }
    }
    Ok(Request {
        method: req.method.unwrap_or(""),
        target: req.path.unwrap_or(""),
        host,
        expect_continue,
        fields,
    })
}

pub fn parse_response(head: &[u8]) -> Result<Response, HttpError> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let config = {
        let mut c = httparse::ParserConfig::default();
        c.allow_multiple_spaces_in_response_status_delimiters(true)
            .allow_obsolete_multiline_headers_in_responses(true);
        c
    };
    match config.parse_response_with_uninit_headers(&mut resp, head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::MalformedHead),
        Err(e) => return Err(map_err(e)),
    }
    let mut fields = Fields {
        minor: resp.version.unwrap_or(1),
        ..Fields::default()
    };
    for h in resp.headers.iter() {
        read_field(&mut fields, h.name, h.value);
    }
    Ok(Response {
        status: resp.code.unwrap_or(0),
        fields,
    })
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn read_field(f: &mut Fields, name: &str, value: &[u8]) {
    if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("proxy-connection") {
        for t in tokens(value) {
            if t.eq_ignore_ascii_case(b"close") {
                f.conn_close = true;
            } else if t.eq_ignore_ascii_case(b"keep-alive") {
                f.conn_keep_alive = true;
            } else if t.eq_ignore_ascii_case(b"upgrade") {
                f.conn_upgrade = true;
            }
        }
    } else if name.eq_ignore_ascii_case("content-length") {
        // A list of identical values is tolerated (RFC 9110 8.6); anything else is an error.
        for t in tokens(value) {
            let parsed = std::str::from_utf8(t)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok());
            match (parsed, f.content_length) {
                (None, _) => f.errors.push(HttpError::BadContentLength),
                (Some(v), Some(old)) if v != old => {
                    f.errors.push(HttpError::ConflictingContentLength)
                }
                (Some(_), Some(_)) => f.errors.push(HttpError::DuplicateContentLength),
                (Some(v), None) => f.content_length = Some(v),
            }
        }
    } else if name.eq_ignore_ascii_case("transfer-encoding") {
        f.transfer_encoding = true;
        // The last coding decides; several header lines concatenate in order.
        if let Some(last) = tokens(value).filter(|t| !t.is_empty()).last() {
            f.chunked_last = last.eq_ignore_ascii_case(b"chunked");
        }
    } else if name.eq_ignore_ascii_case("server") {
        f.server = crate::proto::Software::from_header(value);
    } else if name.eq_ignore_ascii_case("keep-alive") {
        for t in tokens(value) {
            let mut kv = t.splitn(2, |&b| b == b'=');
            let (k, v) = (trim(kv.next().unwrap_or(b"")), kv.next().map(trim));
            let num = v
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim_matches('"').parse::<u32>().ok());
            if k.eq_ignore_ascii_case(b"timeout") {
                f.keep_alive_timeout = num;
            } else if k.eq_ignore_ascii_case(b"max") {
                f.keep_alive_max = num;
            }
        }
    }
}

/// A copy of a head with obs-fold line continuations (CRLF or LF followed by SP or HTAB)
/// replaced by spaces, if it has any (RFC 9112 section 5.2).
pub fn unfold(head: &[u8]) -> Option<Vec<u8>> {
    let folded = head
        .windows(2)
        .enumerate()
        .any(|(i, w)| w[0] == b'\n' && matches!(w[1], b' ' | b'\t') && i + 2 < head.len());
    if !folded {
        return None;
    }
    let mut out = Vec::with_capacity(head.len());
    let mut i = 0;
    while i < head.len() {
        let b = head[i];
        let eol = match (b, head.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\n', _) => 1,
            _ => 0,
        };
        if eol > 0 && matches!(head.get(i + eol), Some(b' ' | b'\t')) {
            out.push(b' ');
            i += eol;
            continue;
        }
        out.push(b);
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_across_calls() {
        let b = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
        assert_eq!(find_head_end(b, 0), Some(27));
        for from in 0..27 {
            assert_eq!(find_head_end(&b[..27], from), Some(27), "from {from}");
        }
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r", 0), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\nx", 0), Some(16));
    }

    #[test]
    fn request_fields() {
        let r = parse_request(
            b"POST /x?y HTTP/1.0\r\nHost: example.org\r\nConnection: Keep-Alive, TE\r\n\
              Content-Length: 12\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.method, r.target), ("POST", "/x?y"));
        assert_eq!(r.host, Some(&b"example.org"[..]));
        assert!(r.expect_continue);
        assert_eq!(r.fields.minor, 0);
        assert!(r.fields.conn_keep_alive && !r.fields.conn_close);
        assert_eq!(r.fields.content_length, Some(12));
        assert!(r.fields.errors.is_empty());
    }

    #[test]
    fn response_fields_and_keep_alive_params() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\n\
              Transfer-Encoding: gzip, chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.fields.keep_alive_timeout, Some(5));
        assert_eq!(r.fields.keep_alive_max, Some(100));
        assert!(r.fields.transfer_encoding && r.fields.chunked_last);
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert!(!r.unwrap().fields.chunked_last);
    }

    #[test]
    fn content_length_smuggling_shapes() {
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
                .unwrap();
        assert_eq!(r.fields.errors, vec![HttpError::ConflictingContentLength]);
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").unwrap();
        assert_eq!(r.fields.content_length, Some(5));
        assert_eq!(r.fields.errors, vec![HttpError::DuplicateContentLength]);
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").unwrap();
        assert_eq!(r.fields.errors, vec![HttpError::BadContentLength]);
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")
                .unwrap();
        assert_eq!(r.fields.errors, vec![HttpError::BadContentLength]);
    }
}
