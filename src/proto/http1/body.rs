//! Message body framing (RFC 9112 sections 6 and 7): bodies are skipped by length, never
//! copied. Chunked framing is a byte-level state machine, so a chunk-size line or a trailer
//! split across segments needs no buffer, and hostile sizes cannot make it allocate.

use super::HttpError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// `Content-Length` bytes still to skip.
    Length(u64),
    Chunked(Chunk),
    /// Delimited by the end of the connection.
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Reading the hex size; `digits` seen so far.
    Size {
        value: u64,
        digits: u8,
    },
    /// Skipping chunk extensions up to the end of the size line.
    Ext {
        value: u64,
    },
    /// Saw CR after the size, expecting LF.
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines until an empty line.
    Trailer {
        line_start: bool,
    },
    TrailerLf,
}

pub enum Step {
    /// All input was consumed and the body goes on.
    More,
    /// The body ended after this many bytes of the input.
    Done(usize),
}

impl Body {
    pub fn chunked() -> Body {
        Body::Chunked(Chunk::Size {
            value: 0,
            digits: 0,
        })
    }

    pub fn feed(&mut self, input: &[u8]) -> Result<Step, HttpError> {
        match self {
            Body::Length(n) => {
                if (input.len() as u64) < *n {
                    *n -= input.len() as u64;
                    Ok(Step::More)
                } else {
                    let used = *n as usize;
                    *n = 0;
                    Ok(Step::Done(used))
                }
            }
            Body::UntilClose => Ok(Step::More),
            Body::Chunked(c) => feed_chunked(c, input),
        }
    }

    /// Absorbs a hole in the stream. Errors when the hole may hide framing (a chunk-size line
    /// or the start of the next message), so the caller must resynchronise.
    pub fn gap(&mut self, len: u64) -> Result<Step, HttpError> {
        match self {
            Body::Length(n) if len < *n => {
                *n -= len;
                Ok(Step::More)
            }
            Body::Length(n) if len == *n => {
                *n = 0;
                Ok(Step::Done(0))
            }
            Body::UntilClose => Ok(Step::More),
            Body::Chunked(Chunk::Data(n)) if len < *n => {
                *n -= len;
                Ok(Step::More)
            }
            _ => Err(HttpError::LostFraming),
        }
    }
}

fn feed_chunked(c: &mut Chunk, input: &[u8]) -> Result<Step, HttpError> {
    let mut i = 0;
    while i < input.len() {
        if let Chunk::Data(n) = *c {
            let take = (input.len() - i).min(usize::try_from(n).unwrap_or(usize::MAX));
            i += take;
            let left = n - take as u64;
            *c = if left == 0 {
                Chunk::DataCr
            } else {
                Chunk::Data(left)
            };
            continue;
        }
        let b = input[i];
        i += 1;
        *c = match *c {
            Chunk::Size { value, digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                    if value > (u64::MAX >> 4) {
                        return Err(HttpError::ChunkSizeOverflow);
                    }
                    Chunk::Size {
                        value: value << 4 | d,
                        digits: digits.saturating_add(1),
                    }
                }
                _ if digits == 0 => return Err(HttpError::BadChunk),
                b';' | b' ' | b'\t' => Chunk::Ext { value },
                b'\r' => Chunk::SizeLf { value },
                b'\n' => size_line_done(value),
                _ => return Err(HttpError::BadChunk),
            },
            Chunk::Ext { value } => match b {
                b'\n' => size_line_done(value),
                _ => Chunk::Ext { value },
            },
            Chunk::SizeLf { value } => match b {
                b'\n' => size_line_done(value),
                _ => return Err(HttpError::BadChunk),
            },
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                b'\n' => Chunk::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return Err(HttpError::BadChunk),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return Err(HttpError::BadChunk),
            },
            Chunk::Trailer { line_start } => match b {
                b'\r' if line_start => Chunk::TrailerLf,
                b'\n' if line_start => return Ok(Step::Done(i)),
                b'\n' => Chunk::Trailer { line_start: true },
                _ => Chunk::Trailer { line_start: false },
            },
            Chunk::TrailerLf => match b {
                b'\n' => return Ok(Step::Done(i)),
                _ => return Err(HttpError::BadChunk),
            },
            Chunk::Data(_) => unreachable!("handled above"),
        };
    }
    Ok(Step::More)
}

fn size_line_done(value: u64) -> Chunk {
    if value == 0 {
        Chunk::Trailer { line_start: true }
    } else {
        Chunk::Data(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the bytes used when the body ended.
    fn run(mut body: Body, input: &[u8], step: usize) -> Result<Option<usize>, HttpError> {
        let mut used = 0;
        for piece in input.chunks(step) {
            match body.feed(piece)? {
                Step::More => used += piece.len(),
                Step::Done(n) => return Ok(Some(used + n)),
            }
        }
        Ok(None)
    }

    const CHUNKED: &[u8] =
        b"4;ext=\"a b\"\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT";

    #[test]
    fn chunked_any_split() {
        for step in 1..CHUNKED.len() {
            assert_eq!(
                run(Body::chunked(), CHUNKED, step).unwrap(),
                Some(CHUNKED.len() - 4),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_without_trailers_and_bare_lf() {
        let b = b"3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(run(Body::chunked(), b, 100).unwrap(), Some(b.len()));
        let b = b"3\nabc\n0\n\n";
        assert_eq!(run(Body::chunked(), b, 1).unwrap(), Some(b.len()));
    }

    #[test]
    fn chunked_errors() {
        assert_eq!(
            run(Body::chunked(), b"fffffffffffffffff\r\n", 100),
            Err(HttpError::ChunkSizeOverflow)
        );
        assert_eq!(
            run(Body::chunked(), b"zz\r\n", 100),
            Err(HttpError::BadChunk)
        );
        assert_eq!(
            run(Body::chunked(), b"2\r\nabX", 100),
            Err(HttpError::BadChunk)
        );
    }

    #[test]
    fn length_and_gaps() {
        assert_eq!(run(Body::Length(5), b"helloNEXT", 2).unwrap(), Some(5));
        assert_eq!(run(Body::Length(0), b"x", 1).unwrap(), Some(0));
        let mut b = Body::Length(10);
        assert!(matches!(b.gap(4), Ok(Step::More)));
        assert!(matches!(b.feed(b"123456x"), Ok(Step::Done(6))));
        let mut b = Body::Length(3);
        assert_eq!(b.gap(4).err(), Some(HttpError::LostFraming));
        let mut b = Body::chunked();
        assert!(matches!(b.feed(b"a\r\n"), Ok(Step::More)));
        assert!(matches!(b.gap(5), Ok(Step::More)));
        assert!(matches!(b.feed(b"12345\r\n0\r\n\r\n"), Ok(Step::Done(12))));
        assert_eq!(Body::chunked().gap(1).err(), Some(HttpError::LostFraming));
    }
}
