//! `--format jsonl` (one object per line, each with a `type`) and `--format json` (one
//! document `{summary, servers, connections}`).

use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::{ConnRecord, Output, Report, RequestRecord};

/// Writes `value` as one JSON line with `"type": kind` first.
fn line<W: Write, T: Serialize>(
    w: &mut W,
    buf: &mut Vec<u8>,
    kind: &str,
    value: &T,
) -> io::Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, value).map_err(io::Error::other)?;
    write!(w, "{{\"type\":\"{kind}\"")?;
    if buf.len() > 2 {
        w.write_all(b",")?;
    }
    w.write_all(&buf[1..])?;
    w.write_all(b"\n")
}

/// Streams `request` and `connection` lines as they are produced.
pub struct JsonLines<W: Write> {
    w: W,
    buf: Vec<u8>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(w: W) -> Self {
        JsonLines { w, buf: Vec::new() }
    }

    /// The closing `server` lines and the `summary` line.
    pub fn finish(&mut self, report: &Report) -> io::Result<()> {
        for s in &report.servers {
            line(&mut self.w, &mut self.buf, "server", s)?;
        }
        line(&mut self.w, &mut self.buf, "summary", &report.summary)?;
        self.w.flush()
    }
}

impl<W: Write> Output for JsonLines<W> {
    fn connection(&mut self, rec: &ConnRecord) -> io::Result<()> {
        line(&mut self.w, &mut self.buf, "connection", rec)
    }
    fn request(&mut self, rec: &RequestRecord) -> io::Result<()> {
        line(&mut self.w, &mut self.buf, "request", rec)
    }
}

pub fn document<W: Write>(mut w: W, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut w, report).map_err(io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}

impl<W: Write> JsonLines<W> {
    /// Sends what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}
