//! The default human report: a summary, then one block per server, fitting 80 columns.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::analysis::summary::{Ttfb, TtfbSplit, RPC_BUCKETS};
use crate::analysis::{Report, ServerOut, Summary};

/// Servers shown in full; the rest are summed on one line.
const MAX_SERVERS: usize = 20;

pub struct Style {
    pub color: bool,
}

impl Style {
    fn head(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn pairs(map: &BTreeMap<&'static str, u64>) -> String {
    let mut v: Vec<(&&str, &u64)> = map.iter().filter(|(_, &n)| n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = v
        .iter()
        .map(|(k, n)| format!("{k} {}", count(**n)))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// Wraps `text` after `label` so no line passes 80 columns.
fn wrapped(out: &mut String, label: &str, text: &str) {
    let indent = label.chars().count();
    let mut line = label.to_string();
    let mut col = indent;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 && col + 1 + word.len() > 80 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
            col = indent;
        } else if i > 0 {
            line.push(' ');
            col += 1;
        }
        line.push_str(word);
        col += word.chars().count();
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Milliseconds with enough digits to tell loopback latencies apart.
fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn ttfb_cell(t: &Option<Ttfb>) -> String {
    match t {
        Some(t) => format!("{}/{}", ms(t.p50), ms(t.p95)),
        None => "-".into(),
    }
}

fn ttfb_line(t: &TtfbSplit) -> String {
    format!(
        "new {} | reused {} ms (p50/p95)",
        ttfb_cell(&t.new),
        ttfb_cell(&t.reused)
    )
}

fn summary(out: &mut String, s: &Summary, style: &Style) {
    let _ = writeln!(out, "{}", style.head("connscope analyze"));
    let files = if s.files.len() == 1 {
        s.files[0].clone()
    } else {
        format!("{} files", s.files.len())
    };
    wrapped(
        out,
        "  input         ",
        &format!(
            "{files}: {} packets, {}, {:.3} s",
            count(s.packets),
            bytes(s.bytes),
            s.duration
        ),
    );
    let _ = writeln!(
        out,
        "  connections   {} ({} handshakes, {} picked up mid-stream, peak {} open)",
        count(s.connections),
        count(s.handshakes),
        count(s.midstream),
        count(s.peak_open_connections)
    );
    let _ = writeln!(
        out,
        "  requests      {} on {} connections ({} responses, {} unanswered)",
        count(s.requests),
        count(s.http_connections),
        count(s.responses),
        count(s.unanswered)
    );
    let _ = writeln!(
        out,
        "  reuse ratio   {:.3}  ({:.1}% of requests rode an already-used connection)",
        s.reuse_ratio,
        s.reuse_ratio * 100.0
    );
    if let Some(r) = &s.requests_per_connection {
        let _ = writeln!(
            out,
            "  reqs/conn     mean {:.2}, median {}, p95 {}, max {}",
            r.mean, r.median, r.p95, r.max
        );
    }
    let _ = writeln!(
        out,
        "  closed by     client {}, server {}, still open {}",
        count(s.closed_by.client),
        count(s.closed_by.server),
        count(s.closed_by.open)
    );
    wrapped(out, "  close reasons ", &pairs(&s.close_reasons));
    let peak = match s.time_wait_peak.first() {
        Some(p) if p.peak > 0 => format!("; peak {} at once on {}", count(p.peak), p.host),
        _ => String::new(),
    };
    wrapped(
        out,
        "  TIME_WAIT     ",
        &format!(
            "client {}, server {} (held {} s){peak}",
            count(s.time_wait.client),
            count(s.time_wait.server),
            s.time_wait_seconds
        ),
    );
    wrapped(out, "  protocols     ", &pairs(&s.protocols));
    let t = &s.tcp;
    if t.retransmitted_bytes + t.gap_bytes + t.out_of_order + t.keepalive_probes > 0 {
        wrapped(
            out,
            "  tcp           ",
            &format!(
                "{} retransmitted, {} out of order, {} lost to capture, \
                 {} keep-alive probes, {} zero-window probes",
                bytes(t.retransmitted_bytes),
                count(t.out_of_order),
                bytes(t.gap_bytes),
                count(t.keepalive_probes),
                count(t.zero_window_probes)
            ),
        );
    }
    let c = &s.checksums;
    if c.bad_tcp + c.bad_ip > 0 {
        wrapped(
            out,
            "  checksums     ",
            &format!(
                "{} of {} verified TCP segments and {} IPv4 headers wrong ({} sent by clients, \
                 {} by servers); used anyway: checksum offload makes the capturing host's own \
                 packets look like this",
                count(c.bad_tcp),
                count(c.verified),
                count(c.bad_ip),
                count(t.bad_checksums_client),
                count(t.bad_checksums_server)
            ),
        );
    }
    if t.ignored_resets > 0 {
        wrapped(
            out,
            "  resets        ",
            &format!(
                "{} RSTs ignored by the peers (outside the receiver's window, or traffic went \
                 on after them; see tcp.ignored_resets)",
                count(t.ignored_resets)
            ),
        );
    }
    if !s.http_errors.is_empty() {
        wrapped(out, "  http errors   ", &pairs(&s.http_errors));
    }
    let k = &s.skipped;
    if k.not_tcp + k.fragments + k.truncated + k.malformed + s.stray_segments > 0 {
        wrapped(
            out,
            "  skipped       ",
            &format!(
                "{} not TCP, {} IP fragments, {} truncated, {} malformed, \
                 {} stray segments",
                count(k.not_tcp),
                count(k.fragments),
                count(k.truncated),
                count(k.malformed),
                count(s.stray_segments)
            ),
        );
    }
    let t = &s.tunnelled;
    if t.segments > 0 {
        let kinds: BTreeMap<&'static str, u64> = t.kinds().into_iter().collect();
        wrapped(
            out,
            "  tunnelled     ",
            &format!(
                "{} TCP segments came out of encapsulations ({})",
                count(t.segments),
                pairs(&kinds)
            ),
        );
    }
    if s.slow_headers > 0 {
        wrapped(
            out,
            "  slow headers  ",
            &format!(
                "{} connections sent a request head slowly (slowloris shape; see slow_headers_ms)",
                count(s.slow_headers)
            ),
        );
    }
    let l = &s.limits;
    if l.evicted + l.held_overflows > 0 {
        wrapped(
            out,
            "  LIMITS HIT    ",
            &format!(
                "{} connections evicted ({} half-open), {} times out-of-order data \
                 given up: figures are partial (--max-connections, --max-held-total)",
                count(l.evicted),
                count(l.evicted_half_open),
                count(l.held_overflows)
            ),
        );
    }
    for d in &s.damage {
        wrapped(out, "  DAMAGED       ", d);
    }
}

fn server(out: &mut String, s: &ServerOut) {
    let _ = writeln!(
        out,
        "{:<27} {:>8} {:>9} {:>6}  {:>6} {:>6} {:>6}",
        truncate(&s.server, 27),
        count(s.connections),
        count(s.requests),
        format!("{:.3}", s.reuse_ratio),
        count(s.closed_by.client),
        count(s.closed_by.server),
        count(s.closed_by.open)
    );
    if !s.hosts.is_empty() {
        wrapped(out, "    hosts      ", &s.hosts.join(" "));
    }
    // In bucket order (the JSON object's keys sort as text: "11-100" before "3-5").
    let hist: Vec<String> = RPC_BUCKETS
        .iter()
        .filter_map(|(label, _, _)| {
            let n = *s.requests_per_connection.get(label)?;
            (n > 0).then(|| format!("{label}:{}", count(n)))
        })
        .collect();
    wrapped(out, "    reqs/conn  ", &hist.join(" "));
    wrapped(out, "    closes     ", &pairs(&s.close_reasons));
    if s.ttfb_ms.new.is_some() || s.ttfb_ms.reused.is_some() {
        wrapped(out, "    TTFB       ", &ttfb_line(&s.ttfb_ms));
    }
    if let Some(k) = &s.keep_alive {
        let t = k.timeout.map_or("-".into(), |v| format!("{v} s"));
        let m = k.max.map_or("-".into(), |v| v.to_string());
        wrapped(
            out,
            "    keep-alive ",
            &format!("timeout {t}, max {m} (advertised)"),
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

pub fn render(report: &Report, style: &Style) -> String {
    let mut out = String::new();
    summary(&mut out, &report.summary, style);
    if report.servers.is_empty() {
        return out;
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        style.head(&format!(
            "{:<27} {:>8} {:>9} {:>6}  {:>20}",
            "server", "conns", "requests", "reuse", "closed by cli/srv/open"
        ))
    );
    for s in report.servers.iter().take(MAX_SERVERS) {
        server(&mut out, s);
    }
    if report.servers.len() > MAX_SERVERS {
        let rest = &report.servers[MAX_SERVERS..];
        let conns: u64 = rest.iter().map(|s| s.connections).sum();
        let reqs: u64 = rest.iter().map(|s| s.requests).sum();
        let _ = writeln!(
            out,
            "... {} more servers: {} connections, {} requests (see --format json)",
            rest.len(),
            count(conns),
            count(reqs)
        );
    }
    chains(&mut out, report, style);
    costs(&mut out, report, style);
    findings(&mut out, report, style);
    out
}

/// Handshakes that reuse would have avoided, what they cost, and the settings the traffic
/// asks for: the five servers with the most.
fn costs(out: &mut String, report: &Report, style: &Style) {
    let c = &report.costs;
    if c.handshakes_avoidable == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.head(&format!(
            "costs: {} avoidable handshakes, {:.3} ms of round trips",
            count(c.handshakes_avoidable),
            c.avoidable_cost_ms
        ))
    );
    for s in c
        .servers
        .iter()
        .filter(|s| s.handshakes_avoidable > 0)
        .take(5)
    {
        let mut line = format!(
            "{} of {} handshakes avoidable",
            count(s.handshakes_avoidable),
            count(s.handshakes)
        );
        if let (Some(rtt), Some(ms)) = (s.handshake_rtt_ms, s.avoidable_cost_ms) {
            let _ = write!(line, " ({ms:.3} ms at {rtt:.3} ms RTT)");
        }
        if let (Some(n), Some(r)) = (s.ttfb_new_ms, s.ttfb_reused_ms) {
            let _ = write!(line, "; TTFB new {n:.2} vs reused {r:.2} ms");
        }
        if let Some(t) = s.recommended_idle_timeout_s {
            let _ = write!(line, "; keep idle connections {t:.0} s");
        }
        let _ = write!(
            line,
            "; allow {} requests per connection",
            count(s.recommended_requests_per_connection)
        );
        wrap(out, &format!("  {}: ", s.server), &line);
    }
}

/// Proxy hops seen: requests per connection on each side.
fn chains(out: &mut String, report: &Report, style: &Style) {
    if report.chains.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.head("proxy hops (requests per connection)")
    );
    for c in &report.chains {
        let _ = writeln!(out, "  {} -> {}", c.via, c.server);
        let _ = writeln!(
            out,
            "    {} requests matched; per connection {:.2} downstream, {:.2} upstream",
            count(c.matched_requests),
            c.downstream_requests_per_connection,
            c.upstream_requests_per_connection
        );
    }
}

/// Findings, most severe first: what, the evidence, the fix; wrapped at 80 columns.
fn findings(out: &mut String, report: &Report, style: &Style) {
    if report.findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", style.head("findings"));
    for f in &report.findings {
        let mut title = format!("[{}] {} {}", f.severity.name(), f.kind, f.server);
        if let Some(via) = &f.via {
            let _ = write!(title, " via {via}");
        }
        if let Some(host) = &f.host {
            let _ = write!(title, " (host {host})");
        }
        let _ = writeln!(out, "{}", style.head(&title));
        let evidence: Vec<String> = f.evidence.iter().map(|(k, v)| format!("{k}={v}")).collect();
        wrap(out, "  ", &evidence.join(" "));
        wrap(out, "  fix: ", &f.fix);
    }
}

/// Writes `text` after `first`, wrapped at 80 columns with continuation lines indented.
fn wrap(out: &mut String, first: &str, text: &str) {
    const WIDTH: usize = 80;
    let mut line = String::from(first);
    let indent = " ".repeat(first.len().min(8));
    for word in text.split_whitespace() {
        if line.len() + word.len() + 1 > WIDTH && line.trim().len() > first.trim().len() {
            let _ = writeln!(out, "{}", line.trim_end());
            line = indent.clone();
        }
        if !line.ends_with(' ') && !line.is_empty() && line != indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_wrapping() {
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
        let mut s = String::new();
        wrapped(&mut s, "  label  ", &"word ".repeat(40));
        assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");
        assert!(s.lines().count() > 1);
    }
}
