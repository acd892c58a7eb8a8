//! `--format jsonl` (one object per line, each with a `type`) and `--format json` (one
//! document `{summary, servers, connections}`).

use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::{ConnRecord, Output, Report, RequestRecord, Summary};

/// One interval of a live capture: rates, the reuse ratio of the interval's requests, and
/// what is open and in TIME_WAIT at its end.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct IntervalOut {
    pub seconds: f64,
    pub new_connections_per_s: f64,
    pub requests_per_s: f64,
    pub reuse_ratio: f64,
    pub open_connections: u64,
    pub time_wait_client: u64,
    pub time_wait_server: u64,
}

/// libpcap's counters for a live capture.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CaptureOut {
    pub received: u64,
    pub dropped_kernel: u64,
    pub dropped_interface: u64,
}

#[derive(Serialize)]
struct LiveSummary<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    interval: &'a IntervalOut,
    capture: &'a CaptureOut,
}

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

    /// The closing `server`, `chain` and `finding` lines and the `summary` line.
    pub fn finish(&mut self, report: &Report) -> io::Result<()> {
        self.servers(report)?;
        line(&mut self.w, &mut self.buf, "summary", &report.summary)?;
        self.w.flush()
    }
}

impl<W: Write> JsonLines<W> {
    /// A live capture's `summary` line: the running totals under `analyze`'s names, the
    /// interval's figures under `interval`, libpcap's counters under `capture`.
    pub fn live_summary(
        &mut self,
        summary: &Summary,
        interval: &IntervalOut,
        capture: &CaptureOut,
    ) -> io::Result<()> {
        let s = LiveSummary {
            summary,
            interval,
            capture,
        };
        line(&mut self.w, &mut self.buf, "summary", &s)?;
        self.w.flush()
    }

    /// The `server` lines of a report, then its `chain` and `finding` lines.
    pub fn servers(&mut self, report: &Report) -> io::Result<()> {
        for s in &report.servers {
            line(&mut self.w, &mut self.buf, "server", s)?;
        }
        for c in &report.chains {
            line(&mut self.w, &mut self.buf, "chain", c)?;
        }
        for f in &report.findings {
            line(&mut self.w, &mut self.buf, "finding", f)?;
        }
        Ok(())
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
