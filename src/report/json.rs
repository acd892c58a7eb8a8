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

/// A `Write` that hands buffers of whole lines to a writer thread, so several workers can
/// stream lines to one output. A failed write there (a closed pipe) surfaces here as an error on the next
/// send.
pub struct ChannelWriter {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    pub fn new(tx: std::sync::mpsc::SyncSender<Vec<u8>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(full)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        // Only whole lines leave: other workers' chunks go between ours.
        if self.buf.len() >= CHUNK && self.buf.last() == Some(&b'\n') {
            self.send()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Writes what the channel brings to `out` until every sender is gone or a write fails.
pub fn drain_to<W: Write>(rx: std::sync::mpsc::Receiver<Vec<u8>>, mut out: W) -> io::Result<()> {
    for chunk in rx {
        out.write_all(&chunk)?;
    }
    out.flush()
}

impl<W: Write> JsonLines<W> {
    /// Sends what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}
